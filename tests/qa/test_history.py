"""The follow-up rewrite (qa/history.py) with a scripted model: which questions reach the model,
the prompt it gets, what of its reply is kept, and that the answer is then searched and
written for the rewritten question (through an Assistant with the stub embedder)."""

from __future__ import annotations

import pytest

from qa.extractive import ExtractiveLLM
from qa.history import normalise_history, rewrite_question
from qa.llm.mock import MockLLM
from qa.prompts import prompt_messages

TRANSCRIPT = [
    ("user", "Where did Putin travel on Thursday?"),
    ("assistant", "Putin arrived in Kyrgyzstan on Thursday."),
]
FOLLOW_UP = "Why did he go there?"
STANDALONE = "Why did Putin go to Kyrgyzstan?"


class TestFollowUpRewrite:
    def test_empty_history_skips_the_model(self):
        llm = MockLLM()  # an empty script: a call would fail the test
        assert rewrite_question(FOLLOW_UP, [], llm) == FOLLOW_UP
        assert llm.calls == []

    def test_history_without_a_user_turn_skips_the_model(self):
        llm = MockLLM()
        assert rewrite_question(FOLLOW_UP, [("assistant", "Hello.")], llm) == FOLLOW_UP
        assert llm.calls == []

    def test_question_that_stands_alone_skips_the_model(self):
        llm = MockLLM()
        question = "What did the ICC rule about Putin?"
        assert rewrite_question(question, TRANSCRIPT, llm) == question
        assert llm.calls == []

    def test_prompt_holds_the_conversation_and_the_question(self):
        llm = MockLLM([STANDALONE])
        rewrite_question(FOLLOW_UP, TRANSCRIPT, llm)
        (call,) = llm.calls
        history = (
            "User: Where did Putin travel on Thursday?\n"
            "Assistant: Putin arrived in Kyrgyzstan on Thursday."
        )
        assert list(call.messages) == prompt_messages(
            "rewrite", history=history, question=FOLLOW_UP
        )
        system, user = call.messages
        assert system["role"] == "system" and system["content"].startswith("Rewrite")
        assert user["content"].endswith(f"Last question: {FOLLOW_UP}\n\nStandalone question:")
        assert call.fmt is None and call.max_tokens == 60  # free text, one short line

    def test_long_turns_are_shortened_in_the_prompt(self):
        llm = MockLLM([STANDALONE])
        long = "word " * 100  # 500 characters
        rewrite_question(FOLLOW_UP, [("user", "Who is he?"), ("assistant", long)], llm)
        user = llm.last.messages[1]["content"]
        assert f"\nAssistant: {'word ' * 60}…\n" in user  # the first 300 characters, then "…"

    @pytest.mark.parametrize(
        ("reply", "expected"),
        [
            (STANDALONE, STANDALONE),
            (f'"{STANDALONE}"\nIt refers to Putin.', STANDALONE),  # first line, unquoted
            (f"  {STANDALONE}  ", STANDALONE),
        ],
    )
    def test_the_rewritten_question_is_the_first_line_of_the_reply(self, reply, expected):
        assert rewrite_question(FOLLOW_UP, TRANSCRIPT, MockLLM([reply])) == expected

    @pytest.mark.parametrize("reply", ["", "\n\n", '""', "x" * 300])
    def test_empty_or_runaway_reply_falls_back_to_the_last_question_joined(self, reply):
        fallback = f"{TRANSCRIPT[0][1]} {FOLLOW_UP}"
        assert rewrite_question(FOLLOW_UP, TRANSCRIPT, MockLLM([reply])) == fallback

    def test_without_a_model_the_last_question_is_joined(self):
        # The extractive backend has no model to rewrite with.
        llm = ExtractiveLLM(min_score=0.45, max_sentences=4)
        assert rewrite_question(FOLLOW_UP, TRANSCRIPT, llm) == f"{TRANSCRIPT[0][1]} {FOLLOW_UP}"

    def test_history_forms_are_normalised_and_kept_short(self):
        messages = [
            {"role": "user", "content": " Q1 "},
            {"role": "assistant", "content": "A1"},
            {"role": "system", "content": "ignored"},
            {"role": "user", "content": "   "},
        ]
        assert normalise_history(messages) == [("user", "Q1"), ("assistant", "A1")]
        pairs = [(f"Q{i}", f"A{i}") for i in range(5)]
        assert normalise_history(pairs)[0] == ("user", "Q2")  # the last six turns
        assert len(normalise_history(pairs)) == 6
        assert normalise_history(None) == []

    def test_the_rewritten_question_is_searched_and_answered(self, stub_assistant):
        llm = stub_assistant.llm()  # the mock backend, by name
        llm.enqueue(STANDALONE, "NOT_IN_SOURCES")
        history = [{"role": r, "content": t} for r, t in TRANSCRIPT]
        answer = stub_assistant.ask(FOLLOW_UP, history=history)

        assert answer.question == FOLLOW_UP and answer.standalone_question == STANDALONE
        rewrite, generate = llm.calls
        assert f"Last question: {FOLLOW_UP}" in rewrite.messages[1]["content"]
        assert generate.messages[1]["content"].endswith(f"Question: {STANDALONE}")
        assert [STANDALONE] in stub_assistant.embedder.calls  # retrieval searched it
        assert [FOLLOW_UP] not in stub_assistant.embedder.calls
        assert "rewrite" in answer.timings

    def test_no_history_asks_the_model_once(self, stub_assistant):
        llm = stub_assistant.llm()
        llm.enqueue("NOT_IN_SOURCES")
        answer = stub_assistant.ask(FOLLOW_UP)
        assert answer.standalone_question == FOLLOW_UP
        assert [c.kind for c in llm.calls] == ["stream"]  # the answer only, no rewrite
