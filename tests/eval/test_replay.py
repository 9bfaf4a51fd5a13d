"""Replaying a run's logged replies through today's checks (`eval.replay.replayed`): the
second reading's reply is put back where it was written for the same focused prompt, and
only there. Real index (stub embedder), scripted model."""

from __future__ import annotations

import dataclasses

from eval.replay import _read_again, replayed
from eval.rows import EvalRow
from qa.answer import Query
from qa.llm.mock import MockLLM
from qa.types import Answer
from tests.qa.test_answer_steps import QUESTION, SUPPORTED, chain_with

SECOND = "Vladimir Putin arrived in Kyrgyzstan Thursday. [S1]"


def logged(answer: Answer) -> EvalRow:
    """The row an eval run writes for `answer` (what a replay reads of it)."""
    return EvalRow(
        id="q1", question=QUESTION, answerable=True, references=[], raw_reply=answer.raw_reply,
        second_reply=answer.second_reply, reading=answer.reading, tokens=dict(answer.tokens),
    )  # fmt: skip


def untimed(answer: Answer) -> Answer:
    return dataclasses.replace(answer, timings={})


class TestReplayed:
    def run(self, assistant, **settings) -> Answer:
        chain = chain_with(assistant, MockLLM([SUPPORTED, SECOND]), **settings)
        return chain.invoke(Query(QUESTION, 5))

    def test_a_second_reading_replays_to_the_same_answer(self, stub_assistant):
        live = self.run(stub_assistant, second_reading="always")
        assert live.reading == 2
        chain = chain_with(stub_assistant, MockLLM(), second_reading="always")  # never called
        prompt = chain.prepare(Query(QUESTION, 5))
        answer, exact = replayed(chain, prompt, logged(live))
        assert exact and untimed(answer) == untimed(live)

    def test_with_the_second_reading_off_the_first_answer_is_given(self, stub_assistant):
        live = self.run(stub_assistant, second_reading="always")
        once = self.run(stub_assistant, second_reading="off")
        chain = chain_with(stub_assistant, MockLLM(), second_reading="off")
        answer, exact = replayed(chain, chain.prepare(Query(QUESTION, 5)), logged(live))
        assert exact and answer.reading == 1
        assert untimed(answer) == dataclasses.replace(untimed(once), tokens=answer.tokens)

    def test_a_second_reply_for_another_focus_is_not_used(self, stub_assistant):
        live = self.run(stub_assistant, second_reading="always")
        chain = chain_with(stub_assistant, MockLLM(), second_reading="always")
        prompt = chain.prepare(Query(QUESTION, 5))
        other = logged(live)
        other.tokens["second_prompt"] += 7  # written for another focused prompt
        answer, exact = replayed(chain, prompt, other)
        assert not exact and answer.reading == 1 and answer.raw_reply == SUPPORTED
        # A run that read once has no second reply to put back.
        once = logged(self.run(stub_assistant, second_reading="off"))
        answer, exact = replayed(chain, prompt, once)
        assert not exact and answer.reading == 1

    def test_a_replayed_row_replays_again_with_its_second_reading(self, stub_assistant):
        # A replay verifies without a model (as eval.replay's extractive chain): the second
        # reading's logged token counts must still reach the row it writes.
        class NoModel(MockLLM):
            is_model = False

        live = self.run(stub_assistant, second_reading="always")
        chain = chain_with(stub_assistant, NoModel(), second_reading="always")
        prompt = chain.prepare(Query(QUESTION, 5))
        first, exact = replayed(chain, prompt, logged(live))
        assert exact and first.reading == 2
        assert first.tokens["second_prompt"] == live.tokens["second_prompt"] > 0
        again, exact = replayed(chain, prompt, logged(first))
        assert exact and again.reading == 2 and again.text == live.text


class TestReadAgain:
    def test_a_changed_prompt_is_read_again_and_replays_as_live(self, stub_assistant):
        # A run logged before the prompt changed: its reply was written for another prompt.
        stale = logged(TestReplayed().run(stub_assistant, second_reading="always"))
        stale = stale.model_copy(update={"raw_reply": "NOT_IN_SOURCES", "second_reply": ""})
        reader = chain_with(stub_assistant, MockLLM([SUPPORTED]), second_reading="off")
        prompt = reader.prepare(Query(QUESTION, 5))
        fresh = _read_again(reader, prompt, stale)
        assert fresh.raw_reply == SUPPORTED and not fresh.second_reply
        assert fresh.tokens["prompt"] == sum(
            reader.count_tokens(m["content"]) for m in prompt.messages
        )
        assert fresh.timings["generate"] >= fresh.timings["first_token"] >= 0
        answer, exact = replayed(reader, prompt, fresh)
        live = chain_with(stub_assistant, MockLLM([SUPPORTED]), second_reading="off")
        assert exact and answer.text == live.invoke(Query(QUESTION, 5)).text
