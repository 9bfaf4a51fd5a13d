"""The `extractive` backend is a backend like the models (`qa.llm.base.LLM`), registered by name:
`ExtractiveLLM` replies with `extractive_reply` of the context shown, abstains below its least
score, and is marked as no model (no rewrite, no judge, no tokens). No weights, milliseconds."""

from __future__ import annotations

import pytest

from qa.answer import AnswerChain, Query
from qa.cite import ABSTAIN_TOKEN
from qa.context import Context, NumberedSentence
from qa.extractive import ExtractiveLLM, extractive_llm, extractive_reply
from qa.history import rewrite_question
from qa.llm import make_llm, registry
from qa.llm.base import LLM
from qa.settings import Settings


def _context(*scores: float) -> Context:
    sentences = tuple(
        NumberedSentence(f"S{n}", f"a{n}", f"Title {n}", 0, 20, f"Sentence  number {n}.", score)
        for n, score in enumerate(scores, start=1)
    )
    return Context(sentences, 10 * len(scores))


def _reply(llm: LLM, context: Context) -> list[str]:
    return list(llm.reply([{"role": "user", "content": "ignored"}], context, max_tokens=5))


class TestRegistered:
    def test_registered_under_its_name_and_offered(self):
        assert "extractive" in registry.names()
        assert registry.get("extractive").factory == "qa.extractive:extractive_llm"

    def test_chosen_by_name_with_the_settings(self):
        settings = Settings.load(
            backend="extractive", extractive_min_score=0.3, max_answer_sentences=1
        )
        llm = make_llm(settings.backend, settings)
        assert isinstance(llm, ExtractiveLLM) and isinstance(llm, LLM)
        assert (llm.name, llm.model, llm.is_model) == ("extractive", "extractive", False)
        assert (llm.min_score, llm.max_sentences) == (0.3, 1)

    def test_the_assistant_gives_it_by_name(self, make_assistant):
        a = make_assistant(backend="extractive")
        assert isinstance(a.llm(), ExtractiveLLM)
        assert a.chain().backend == "extractive" and a.chain().model == "extractive"


class TestReply:
    @pytest.mark.parametrize("scores", [(0.9, 0.85, 0.5), (0.6, 0.58), (0.9,), (0.7, 0.2, 0.69)])
    @pytest.mark.parametrize("most", [1, 4])
    def test_the_same_reply_as_extractive_reply_in_one_piece(self, scores, most):
        context = _context(*scores)
        llm = ExtractiveLLM(min_score=0.45, max_sentences=most)
        expected = extractive_reply(context, min_score=0.45, max_sentences=most)
        assert _reply(llm, context) == [expected]
        assert expected != ABSTAIN_TOKEN

    def test_abstains_below_the_least_score(self):
        llm = extractive_llm(Settings.load(backend="extractive", extractive_min_score=0.5))
        assert _reply(llm, _context(0.49, 0.3)) == [ABSTAIN_TOKEN]
        assert _reply(llm, _context()) == [ABSTAIN_TOKEN]
        assert _reply(llm, _context(0.5)) != [ABSTAIN_TOKEN]

    def test_it_is_no_chat_model(self):
        with pytest.raises(TypeError, match="no model"):
            ExtractiveLLM(min_score=0.45, max_sentences=4).complete([])
        assert ExtractiveLLM(min_score=0.45, max_sentences=4).judge([]) is None


class TestNoModelSteps:
    def test_a_follow_up_is_joined_to_the_question_before_it_not_rewritten(self):
        llm = ExtractiveLLM(min_score=0.45, max_sentences=4)
        transcript = [("user", "Where did Putin travel?"), ("assistant", "To Kyrgyzstan.")]
        assert rewrite_question("Why did he go?", transcript, llm) == (
            "Where did Putin travel? Why did he go?"
        )

    def test_the_chain_counts_no_tokens_and_times_no_first_token(self, stub_assistant):
        # The stub embedder's scores are low: a least score of 0 lets the picker answer.
        settings = stub_assistant.settings.model_copy(
            update={"self_check": True, "extractive_min_score": 0.0}
        )
        llm = extractive_llm(settings)
        chain = AnswerChain(
            settings,
            stub_assistant.retriever,
            stub_assistant.store.get_articles,
            stub_assistant.count_tokens,
            llm,
        )
        answer = chain.invoke(Query("Where did Putin arrive on Thursday?", 5))
        assert (answer.backend, answer.model) == ("extractive", "extractive")
        assert answer.tokens["prompt"] == answer.tokens["completion"] == 0
        assert not {"first_token", "check"} & answer.timings.keys()
        assert not answer.abstained and answer.signals.get("self_check") is None
