"""The one answer path: `AnswerChain.stream` runs rewrite -> retrieve -> context -> generate ->
verify and times them; `invoke`, `Assistant.ask` and the LangChain runnable are that stream
consumed or adapted. Real index (stub embedder), scripted model: no weights, about a second."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler

from qa.answer import STEPS, Query, Timer, final
from qa.cite import ABSTAIN_TOKEN
from qa.confidence import Signals
from qa.llm.base import Message, ReplyFormat
from qa.llm.mock import MockLLM
from qa.settings import Settings
from qa.types import Answer, AnswerSentence, Citation, Draft, Retrieved, TextDelta
from tests.qa.test_answer_steps import chain_with

QUESTION = "Where did Putin arrive on Thursday?"
SUPPORTED = "Putin arrived in Kyrgyzstan on Thursday. [S1]"
HISTORY = (("user", "Where did Putin travel on Thursday?"), ("assistant", "To Kyrgyzstan."))
FOLLOW_UP = "Why did he go there?"
STANDALONE = "Why did Putin go to Kyrgyzstan?"


def untimed(answer: Answer) -> Answer:
    return dataclasses.replace(answer, timings={})


class Clock:
    """A clock that moves only when told: each step's seconds are then exact."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TestTimer:
    def test_steps_add_up_and_a_nested_step_counts_only_for_itself(self):
        clock = Clock()
        timer = Timer(clock=clock)
        with timer.step("retrieve"):
            clock.now += 2
        with timer.step("verify"):
            clock.now += 1
            check = timer.timed("check", lambda: setattr(clock, "now", clock.now + 5) or 0.9)
            assert check() == 0.9
            clock.now += 0.5
        assert timer.timings() == {"retrieve": 2, "check": 5, "verify": 1.5, "total": 8.5}

    def test_first_token_is_the_time_in_steps_before_it_not_in_total(self):
        clock = Clock()
        timer = Timer({"rewrite": 0.25}, clock=clock)
        with timer.step("context"):
            clock.now += 1
        clock.now += 100  # a consumer holding the stream between steps: not counted
        with timer.step("generate"):
            clock.now += 3
            timer.mark("first_token")
            clock.now += 4
        assert timer.timings() == {
            "rewrite": 0.25, "context": 1, "first_token": 4.25, "generate": 7, "total": 8.25,
        }  # fmt: skip
        assert list(timer.timings()) == [k for k in (*STEPS, "total") if k in timer.timings()]

    def test_the_trace_sees_each_step_with_its_input_and_output_or_error(self):
        seen: list[tuple[str, Any, Any, Any]] = []

        def trace(name, given):
            return lambda output, error: seen.append((name, given, output, error))

        timer = Timer(trace=trace)
        assert timer.run("rewrite", str.upper, "q") == "Q"
        with pytest.raises(ValueError), timer.step("verify", "in"):
            raise ValueError("bad")
        assert seen[0] == ("rewrite", "q", "Q", None)
        assert seen[1][:3] == ("verify", "in", None) and isinstance(seen[1][3], ValueError)
        assert "verify" in timer.timings()  # a failed step is timed too


class TestOnePath:
    def test_stream_yields_sources_then_pieces_then_the_timed_answer(self, stub_assistant):
        events = list(chain_with(stub_assistant, MockLLM([SUPPORTED])).stream(Query(QUESTION, 5)))
        retrieved, *deltas, answer = events
        assert isinstance(retrieved, Retrieved) and retrieved.standalone_question == QUESTION
        assert all(isinstance(d, TextDelta) for d in deltas) and len(deltas) > 1
        assert isinstance(answer, Answer) and not answer.abstained
        assert retrieved.sources == answer.sources
        assert "".join(d.text for d in deltas) == answer.raw_reply == SUPPORTED
        timed = ["rewrite", "retrieve", "context", "first_token", "generate", "verify", "total"]
        assert list(answer.timings) == timed
        steps = sum(v for k, v in answer.timings.items() if k not in ("first_token", "total"))
        assert answer.timings["total"] == pytest.approx(steps)
        assert answer.timings["first_token"] <= answer.timings["total"]

    def test_ask_invoke_runnable_and_stream_give_one_answer(self, stub_assistant):
        stub_assistant.llm().enqueue(*[SUPPORTED] * 4)
        asked = stub_assistant.ask(QUESTION)
        chain = stub_assistant.chain()
        query = stub_assistant.query(QUESTION)
        invoked = chain.invoke(query)
        run = chain.runnable().invoke(query)
        streamed = list(chain.runnable().stream(query))
        assert isinstance(streamed[0], Retrieved) and isinstance(streamed[-1], Answer)
        assert untimed(asked) == untimed(invoked) == untimed(run) == untimed(streamed[-1])
        assert asked.raw_reply == SUPPORTED and not asked.abstained

    def test_the_runnable_reports_each_step_as_a_child_run(self, stub_assistant):
        class Runs(BaseCallbackHandler):
            def __init__(self) -> None:
                self.started: list[tuple[str, Any]] = []
                self.ended: list[Any] = []

            def on_chain_start(self, serialized, inputs, *, run_id, parent_run_id=None, **kw):
                self.started.append((kw.get("name"), parent_run_id))

            def on_chain_end(self, outputs, *, run_id, **kw):
                self.ended.append(outputs)

        runs = Runs()
        chain = chain_with(stub_assistant, MockLLM([SUPPORTED]))
        answer = chain.runnable().invoke(Query(QUESTION, 5), config={"callbacks": [runs]})
        (top, parent), *steps = runs.started
        assert top == "citeqa_answer[mock]" and parent is None
        assert [name for name, _ in steps] == ["rewrite", "retrieve", "context", "generate",
                                               "verify"]  # fmt: skip
        assert len({p for _, p in steps}) == 1 and steps[0][1] is not None  # one parent
        assert runs.ended[3] == {"output": SUPPORTED}  # generate's output: the reply
        assert runs.ended[-1] is answer  # the run's own output

    def test_a_follow_up_is_rewritten_by_the_model_then_searched(self, stub_assistant):
        llm = MockLLM([STANDALONE, SUPPORTED])
        events = list(chain_with(stub_assistant, llm).stream(Query(FOLLOW_UP, 5, history=HISTORY)))
        assert events[0].standalone_question == STANDALONE
        assert events[-1].question == FOLLOW_UP
        assert events[-1].standalone_question == STANDALONE
        assert [c.kind for c in llm.calls] == ["stream", "stream"]  # rewrite, then the answer
        assert STANDALONE in llm.calls[1].messages[-1]["content"]

    def test_extractive_has_no_first_token_and_a_gated_question_no_generation(self, stub_assistant):
        picker = stub_assistant.llm("extractive")
        extractive = chain_with(stub_assistant, picker).invoke(Query(QUESTION, 5))
        assert extractive.backend == "extractive" and "generate" in extractive.timings
        assert "first_token" not in extractive.timings  # no model: no first token

        llm = MockLLM()  # an empty script: a call would fail the test
        events = list(
            chain_with(stub_assistant, llm, relevance_floor=1.01).stream(Query(QUESTION, 5))
        )
        assert [type(e) for e in events] == [Retrieved, Answer]  # no piece of a reply
        assert events[-1].raw_reply == ABSTAIN_TOKEN and llm.calls == []
        assert not {"generate", "first_token"} & events[-1].timings.keys()

    def test_the_self_check_is_timed_apart_from_verify(self, stub_assistant):
        llm = MockLLM([SUPPORTED], judge=0.9)
        answer = chain_with(stub_assistant, llm, self_check=True).invoke(Query(QUESTION, 5))
        assert [c.kind for c in llm.calls] == ["stream", "judge"]
        assert answer.signals["self_check"] == 0.9
        assert list(answer.timings)[-3:] == ["check", "verify", "total"]

    def test_closing_the_stream_mid_reply_stops_generation(self, stub_assistant):
        class Watched(MockLLM):
            stopped = False

            def _stream(
                self, messages: Sequence[Message], *, fmt: ReplyFormat | None, max_tokens: int
            ) -> Iterator[str]:
                try:
                    yield from super()._stream(messages, fmt=fmt, max_tokens=max_tokens)
                finally:
                    self.stopped = True

        llm = Watched([SUPPORTED])
        events = chain_with(stub_assistant, llm).stream(Query(QUESTION, 5))
        assert isinstance(next(events), Retrieved)
        assert isinstance(next(events), TextDelta) and not llm.stopped
        events.close()  # the page's Stop
        assert llm.stopped

    def test_final_is_the_last_event_and_a_stream_without_an_answer_is_an_error(self):
        answer = Answer("q", "a", (), False)
        assert final(iter([Retrieved((), "q"), TextDelta("a"), answer])) is answer
        with pytest.raises(RuntimeError, match="not an Answer"):
            final(iter([Retrieved((), "q")]))


SECOND = "Vladimir Putin arrived in Kyrgyzstan Thursday. [S1]"
UNSUPPORTED = "The summit was cancelled because of snow in Moscow. [S1]"


def refs_in(call) -> list[str]:
    """The sentence ids a call's prompt shows, in order."""
    return re.findall(r"\[(S\d+)\]", call.messages[-1]["content"])


class TestSecondReading:
    """With `second_reading`, an answer's cited sentences and their shown neighbours are read
    again, alone; the second answer is given where it passes verification, else the first."""

    def stream(self, assistant, llm: MockLLM, **settings: Any) -> list[Any]:
        settings.setdefault("second_reading", "always")
        chain = chain_with(assistant, llm, **settings)
        return list(chain.stream(Query(QUESTION, 5)))

    def test_the_second_prompt_shows_only_the_cited_sentences_and_their_neighbours(
        self, stub_assistant
    ):
        llm = MockLLM([SUPPORTED, SECOND])
        events = self.stream(stub_assistant, llm, also_cite=0)  # S1 is the one cited
        first, second = llm.calls
        shown = refs_in(first)
        assert len(shown) > 2 and refs_in(second) == ["S1", "S2"]  # S1 and its next sentence
        assert second.fmt is not None and list(second.fmt.refs) == ["S1", "S2"]
        assert second.messages[0] == first.messages[0]  # same instructions (cached prefix)
        assert [type(e) for e in events[:1]] == [Retrieved]
        draft, answer = events[-2:]
        assert isinstance(draft, Draft) and isinstance(answer, Answer)
        assert draft.answer.raw_reply == SUPPORTED and draft.answer.reading == 1
        assert all(isinstance(e, TextDelta) for e in events[1:-2])  # the first reply only
        assert "".join(e.text for e in events[1:-2]) == SUPPORTED

    def test_sentences_cited_by_also_cite_are_read_again_too(self, stub_assistant):
        llm = MockLLM([SUPPORTED, SECOND])
        draft = next(e for e in self.stream(stub_assistant, llm) if isinstance(e, Draft))
        chain = chain_with(stub_assistant, MockLLM())
        shown = chain.prepare(Query(QUESTION, 5)).context.sentences
        cited = {c.ref for c in draft.answer.citations}
        assert len(cited) > 1  # S1 and what also_cite added
        near = {
            shown[j].ref
            for i, s in enumerate(shown) if s.ref in cited
            for j in (i - 1, i, i + 1)
            if 0 <= j < len(shown) and shown[j].article_id == s.article_id
        }  # fmt: skip
        assert cited <= set(refs_in(llm.calls[1])) == near
        assert len(near) < len(shown)

    def test_a_sentence_the_checks_dropped_still_points_at_evidence(self, stub_assistant):
        chain = chain_with(stub_assistant, MockLLM(), also_cite=0)
        prompt = chain.prepare(Query(QUESTION, 5))
        last = prompt.context.refs[-1]
        answer = chain.verify(prompt, f"{SUPPORTED} Heavy snow closed every airport. [{last}]")
        assert [s.supported for s in answer.sentences] == [True, False]
        focused = chain.focused(prompt, answer)
        assert focused is not None
        refs = [s.ref for s in focused.context.sentences]
        assert refs[:2] == ["S1", "S2"] and last in refs

    def test_a_verified_second_answer_is_given_with_both_replies(self, stub_assistant):
        answer = self.stream(stub_assistant, MockLLM([SUPPORTED, SECOND]), also_cite=0)[-1]
        assert (answer.reading, answer.raw_reply, answer.second_reply) == (2, SUPPORTED, SECOND)
        assert answer.text == "Vladimir Putin arrived in Kyrgyzstan Thursday."
        assert answer.citations[0].quote.startswith(answer.text[:-1])
        assert answer.tokens["second_prompt"] < answer.tokens["prompt"]
        assert answer.to_dict()["reading"] == 2

    def test_a_second_reading_that_declines_or_fails_keeps_the_first_answer(self, stub_assistant):
        for second in (ABSTAIN_TOKEN, UNSUPPORTED):
            events = self.stream(stub_assistant, MockLLM([SUPPORTED, second]))
            draft, answer = events[-2:]
            assert answer.reading == 1 and answer.second_reply == second
            assert untimed(answer) == dataclasses.replace(
                untimed(draft.answer), second_reply=second, tokens=answer.tokens
            )
            assert not answer.abstained and answer.text == draft.answer.text

    def test_the_draft_time_is_a_moment_and_the_second_reading_a_step(self, stub_assistant):
        answer = self.stream(stub_assistant, MockLLM([SUPPORTED, SECOND]))[-1]
        t = answer.timings
        assert list(t)[-3:] == ["first_answer", "second_reading", "total"]
        steps = sum(v for k, v in t.items() if k not in ("first_token", "first_answer", "total"))
        assert t["total"] == pytest.approx(steps)
        assert t["first_token"] <= t["first_answer"] <= t["total"]

    def test_no_second_reading_after_an_abstention_or_without_a_model(self, stub_assistant):
        llm = MockLLM([ABSTAIN_TOKEN])  # a second call would fail: nothing is scripted
        events = self.stream(stub_assistant, llm)
        assert len(llm.calls) == 1 and not any(isinstance(e, Draft) for e in events)
        assert events[-1].abstained and events[-1].second_reply == ""

        class Picker(MockLLM):  # a backend without a model, as extractive: nothing to re-read
            is_model = False

        picker = Picker([SUPPORTED])
        events = self.stream(stub_assistant, picker)
        assert not events[-1].abstained and len(picker.calls) == 1
        assert not any(isinstance(e, Draft) for e in events) and events[-1].reading == 1

    def test_a_reply_withheld_only_for_its_kind_is_read_again(self, stub_assistant):
        # "When …" answered without a time: the kind gate withholds it, but the reply points
        # at the sentence that holds the time, so that sentence is read again.
        question = "When did Putin arrive in Kyrgyzstan?"
        llm = MockLLM(["Putin arrived in Kyrgyzstan. [S1]", SUPPORTED])
        chain = chain_with(stub_assistant, llm, second_reading="always", also_cite=0)
        events = list(chain.stream(Query(question, 5)))
        draft, answer = events[-2:]
        assert isinstance(draft, Draft) and draft.answer.abstained
        assert chain.withheld_by(Signals(**draft.answer.signals)) == ("kind",)
        assert refs_in(llm.calls[1]) == ["S1", "S2"]
        assert not answer.abstained and answer.reading == 2
        assert answer.text == "Putin arrived in Kyrgyzstan on Thursday."

    def test_an_unsupported_reply_of_the_wrong_kind_is_not_read_again(self, stub_assistant):
        # Nothing of it is in what it cites: it points at no evidence, whatever its kind.
        question = "When did Putin arrive in Kyrgyzstan?"
        llm = MockLLM(["The weather in Bishkek was mild and sunny. [S1]"])  # one call only
        chain = chain_with(stub_assistant, llm, second_reading="always", also_cite=0)
        answer = list(chain.stream(Query(question, 5)))[-1]
        assert answer.abstained and len(llm.calls) == 1
        assert answer.sentences and not answer.sentences[0].supported

    def test_a_reply_withheld_for_a_missing_name_is_not_read_again(self, stub_assistant):
        # The question names a place no shown article holds: the anchors gate withholds the
        # reply whatever its kind, and a second reading of it is not asked for.
        question = "When did Putin arrive in Tashkent?"
        llm = MockLLM(["Putin arrived in Kyrgyzstan. [S1]"])  # a second call would fail
        chain = chain_with(stub_assistant, llm, second_reading="always", also_cite=0)
        answer = list(chain.stream(Query(question, 5)))[-1]
        assert answer.abstained and len(llm.calls) == 1
        assert "anchors" in chain.withheld_by(Signals(**answer.signals))

    def test_no_second_reading_when_the_focus_is_the_whole_context(self, stub_assistant):
        chain = chain_with(stub_assistant, MockLLM(), second_reading="always", also_cite=0)
        prompt = chain.prepare(Query(QUESTION, 5))
        cited = chain.verify(prompt, SUPPORTED)
        focused = chain.focused(prompt, cited)
        assert focused is not None and focused.found is prompt.found
        assert [s.ref for s in focused.context.sentences] == ["S1", "S2"]
        assert focused.context.tokens < prompt.context.tokens
        # An answer citing every shown sentence leaves nothing out to focus on.
        every = tuple(
            Citation(s.article_id, s.title, s.start, s.end, s.text, s.ref)
            for s in prompt.context.sentences
        )
        whole = dataclasses.replace(cited, sentences=(AnswerSentence(cited.text, every),))
        assert chain.focused(prompt, whole) is None

    def test_ask_and_stream_give_the_second_readings_answer(self, stub_assistant):
        stub_assistant.settings = stub_assistant.settings.model_copy(
            update={"second_reading": "always"}
        )
        stub_assistant.llm().enqueue(SUPPORTED, SECOND, SUPPORTED, SECOND)
        asked = stub_assistant.ask(QUESTION)
        streamed = list(stub_assistant.stream(QUESTION))
        assert asked.reading == 2 and untimed(asked) == untimed(streamed[-1])
        assert isinstance(streamed[-2], Draft)

    def test_by_default_only_an_answer_from_one_long_article_is_read_again(self, stub_assistant):
        # The stub index holds the sample article alone: every chunk retrieved is its.
        assert Settings().second_reading == "long"
        events = self.stream(stub_assistant, MockLLM([SUPPORTED, SECOND]), second_reading="long")
        assert isinstance(events[-2], Draft) and events[-1].reading == 2
        llm = MockLLM([SUPPORTED])  # a second call would fail: nothing more is scripted
        many = 10**6  # no article is that long: the chunks are several stories'
        events = self.stream(stub_assistant, llm, second_reading="long", long_article_chunks=many)
        assert len(llm.calls) == 1 and events[-1].reading == 1 and not events[-1].second_reply
        off = MockLLM([SUPPORTED])
        events = self.stream(stub_assistant, off, second_reading="off")
        assert len(off.calls) == 1 and not any(isinstance(e, Draft) for e in events)
