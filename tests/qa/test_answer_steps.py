"""The answer chain's steps, rewrite -> retrieve -> context -> generate -> verify, with the
model's reply scripted.

The index is real (Chroma on disk, the search index, the context builder) but embedded with the
stub embedder, and `MockLLM` writes the reply: what is tested is what the steps do with a reply
(citations made exact, abstention, ids never shown dropped), so no model is needed and the
module runs in about a second.
"""

from __future__ import annotations

import dataclasses

import pytest

from qa.answer import AnswerChain, Query
from qa.cite import ABSTAIN_TEXT, ABSTAIN_TOKEN
from qa.llm.mock import MockLLM
from qa.types import Answer, Retrieved, TextDelta

QUESTION = "Where did Putin arrive on Thursday?"
# S1 of the context QUESTION gets: the article's first sentence.
FIRST = (
    "Vladimir Putin arrived in Kyrgyzstan Thursday, visiting abroad for the first time since "
    "the International Criminal Court issued an arrest warrant for him in March."
)
SUPPORTED = "Putin arrived in Kyrgyzstan on Thursday. [S1]"


def chain_with(assistant, llm: MockLLM, **settings) -> AnswerChain:
    """The assistant's own chain parts (retriever, article store, token counter) with `llm`."""
    return AnswerChain(
        assistant.settings.model_copy(update=settings),
        assistant.retriever,
        assistant.store.get_articles,
        assistant.count_tokens,
        llm,
    )


def query_for(question: str = QUESTION) -> Query:
    return Query(question, k=5)


def answer(chain: AnswerChain, query: Query | None = None) -> Answer:
    """The steps one by one (`stream` runs them so, timed)."""
    prompt = chain.prepare(query or query_for())
    return chain.verify(prompt, "".join(chain.generate(prompt)))


def without_timings(answer: Answer) -> Answer:
    return dataclasses.replace(answer, timings={})


class TestAnswerSteps:
    def test_context_numbers_sentences_and_fills_the_prompt(self, stub_assistant):
        prompt = chain_with(stub_assistant, MockLLM()).prepare(query_for())
        assert prompt.context.sentences
        first = prompt.context.sentences[0]
        assert (first.ref, first.text) == ("S1", FIRST)
        assert [m["role"] for m in prompt.messages] == ["system", "user"]
        user = prompt.messages[1]["content"]
        assert f"[S1] {FIRST}" in user and user.endswith(f"Question: {QUESTION}")
        assert [QUESTION] in stub_assistant.embedder.calls  # the question was embedded
        assert prompt.standalone == QUESTION
        assert prompt.window is not None and prompt.window.why == "on thursday"  # a time word

    def test_a_search_box_question_is_asked_tidied_with_its_names(self, stub_assistant):
        typed = "where did putin arrive on thursday"
        prompt = chain_with(stub_assistant, MockLLM()).prepare(query_for(typed))
        assert prompt.standalone == "Where did Putin arrive on Thursday?"
        assert prompt.messages[1]["content"].endswith(f"Question: {prompt.standalone}")
        # the answer keeps the question as typed; the one answered is its standalone question
        ans = chain_with(stub_assistant, MockLLM([SUPPORTED])).invoke(query_for(typed))
        assert (ans.question, ans.standalone_question) == (typed, prompt.standalone)

    def test_supported_reply_becomes_an_answer_with_exact_quotes(self, stub_assistant):
        llm = MockLLM([SUPPORTED])
        chain = chain_with(stub_assistant, llm)
        prompt = chain.prepare(query_for())
        answer = chain.verify(prompt, "".join(chain.generate(prompt)))

        assert not answer.abstained
        assert answer.text == "Putin arrived in Kyrgyzstan on Thursday."
        assert answer.raw_reply == SUPPORTED and answer.backend == "mock"
        assert answer.citations[0].ref == "S1" and answer.citations[0].quote == FIRST
        for c in answer.citations:  # every quote is the article's text at its offsets
            article = stub_assistant.get_article(c.article_id)
            assert article.text[c.start : c.end] == c.quote
        # The model was asked once, with the prompt context built and a grammar over the ids shown.
        (call,) = llm.calls
        assert call.messages == prompt.messages
        assert call.fmt is not None and list(call.fmt.refs) == prompt.context.refs
        assert call.fmt.abstain_token == ABSTAIN_TOKEN
        assert call.max_tokens == stub_assistant.settings.max_answer_tokens

    def test_the_grammar_holds_the_reply_to_the_settings_sentence_counts(self, stub_assistant):
        llm = MockLLM([f"{SUPPORTED} Not_in_sources. [S2]"])
        chain = chain_with(stub_assistant, llm, min_answer_sentences=2, max_answer_sentences=3)
        answered = answer(chain)
        assert (llm.last.fmt.min_sentences, llm.last.fmt.max_sentences) == (2, 3)
        # the abstain token written as a second sentence says "no more": the answer stands
        assert answered.text == "Putin arrived in Kyrgyzstan on Thursday."
        assert [s.text for s in answered.sentences] == [answered.text]

    def test_no_grammar_means_no_reply_format(self, stub_assistant):
        llm = MockLLM([SUPPORTED])
        chain = chain_with(stub_assistant, llm, grammar=False)
        answer(chain)
        assert llm.last.fmt is None

    def test_abstain_token_abstains(self, stub_assistant):
        abstained = answer(chain_with(stub_assistant, MockLLM([ABSTAIN_TOKEN])))
        assert abstained.abstained and abstained.text == ABSTAIN_TEXT
        assert abstained.citations == () and abstained.confidence is None
        assert abstained.sources  # the closest passages are still shown

    def test_sentence_citing_an_id_never_shown_is_dropped(self, stub_assistant):
        reply = f"{SUPPORTED} Putin then flew to Paris to meet Macron. [S99]"
        answered = answer(chain_with(stub_assistant, MockLLM([reply])))
        assert not answered.abstained
        assert answered.text == "Putin arrived in Kyrgyzstan on Thursday."
        dropped = [s for s in answered.sentences if not s.supported]
        assert [s.text for s in dropped] == ["Putin then flew to Paris to meet Macron."]
        assert dropped[0].citations == ()
        assert all(c.ref != "S99" for c in answered.citations)

    def test_reply_citing_only_unshown_ids_abstains(self, stub_assistant):
        answered = answer(
            chain_with(stub_assistant, MockLLM(["Putin arrived in Kyrgyzstan. [S99]"]))
        )
        assert answered.abstained and answered.citations == ()

    def test_nothing_relevant_abstains_without_asking_the_model(self, stub_assistant):
        llm = MockLLM()  # an empty script: a call would fail the test
        chain = chain_with(stub_assistant, llm, relevance_floor=1.01)
        assert chain.gated(chain.prepare(query_for()))
        answered = chain.invoke(query_for())
        assert answered.abstained and answered.raw_reply == ABSTAIN_TOKEN
        assert llm.calls == []
        assert "generate" not in answered.timings

    def test_invoke_and_stream_give_the_same_answer(self, stub_assistant):
        invoked = chain_with(stub_assistant, MockLLM([SUPPORTED])).invoke(query_for())
        events = list(chain_with(stub_assistant, MockLLM([SUPPORTED])).stream(query_for()))

        assert isinstance(events[0], Retrieved) and isinstance(events[-1], Answer)
        assert events[0].sources == invoked.sources
        deltas = [e.text for e in events[1:-1] if isinstance(e, TextDelta)]
        assert len(deltas) == len(events) - 2 > 1  # streamed in pieces
        assert "".join(deltas) == SUPPORTED
        assert without_timings(events[-1]) == without_timings(invoked)

    @pytest.mark.parametrize("reply", [SUPPORTED, ABSTAIN_TOKEN])
    def test_assistant_ask_and_stream_give_the_same_answer(self, stub_assistant, reply):
        # The mock backend chosen by name (settings backend="mock"), as a user picks one.
        stub_assistant.llm().enqueue(reply, reply)
        asked = stub_assistant.ask(QUESTION)
        streamed = list(stub_assistant.stream(QUESTION))[-1]
        assert isinstance(streamed, Answer)
        assert without_timings(streamed) == without_timings(asked)
        assert asked.backend == "mock" and asked.raw_reply == reply
