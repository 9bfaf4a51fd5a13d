"""The lazily checked grammar must decode exactly what llama.cpp's full grammar sampler does."""

from __future__ import annotations

import re

import pytest

from qa.llm.base import ReplyFormat
from qa.llm.local import LocalLLM, reply_grammar
from qa.llm.models import resolve_model

FMT = ReplyFormat(refs=("S1", "S2", "S3"), max_sentences=2, abstain_token="NOT_IN_SOURCES")
SYSTEM = (
    "Answer from the numbered sources only. End every sentence with the id of its source, "
    "like [S2]. If they do not answer, reply NOT_IN_SOURCES."
)
SOURCES = (
    "[S1] Putin visited Kyrgyzstan on Thursday, his first trip abroad since the ICC warrant.\n"
    "[S2] Pashinyan skipped the summit in Bishkek after criticising Moscow.\n"
    "[S3] The summit was held in the Kyrgyz capital.\n"
)
QUESTIONS = ["Why did Pashinyan skip the summit?", "Where was the summit held?", "Who is Lvova?"]
REPLY = re.compile(r"NOT_IN_SOURCES|([A-Z0-9\"'(][^\[\]\n]{4,400} ?(\[S[123]\]){1,3}\.? ?){1,2}")


@pytest.fixture(scope="module")
def llm(cache_dir):
    # The 0.5B model: the same tokenizer and template as the default, 2-3x faster.
    model = LocalLLM(resolve_model("qwen2.5-coder-0.5b", cache_dir), model_name="0.5b")
    yield model
    model.close()


def _messages(question: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"{SOURCES}\nQuestion: {question}"},
    ]


class TestGreedyGrammar:
    @pytest.mark.parametrize("question", QUESTIONS)
    def test_same_reply_as_llama_cpp_full_grammar(self, llm, question):
        from llama_cpp import LlamaGrammar

        ours = llm.complete(_messages(question), fmt=FMT, max_tokens=80)
        theirs = llm._llm.create_chat_completion(
            messages=_messages(question),
            grammar=LlamaGrammar.from_string(reply_grammar(FMT), verbose=False),
            max_tokens=80,
            temperature=0.0,
            top_k=1,
        )["choices"][0]["message"]["content"]
        assert ours == theirs
        assert REPLY.fullmatch(ours.strip()), ours

    def test_free_text_without_a_format(self, llm):
        reply = llm.complete([{"role": "user", "content": "Say hello in French."}], max_tokens=12)
        assert reply.strip()
        assert "NOT_IN_SOURCES" not in reply

    def test_prompt_that_does_not_fit_is_a_backend_error(self, llm):
        from qa.errors import BackendError

        long = [{"role": "user", "content": "word " * 3000}]
        with pytest.raises(BackendError, match="context window"):
            llm.complete(long, max_tokens=10)


class TestWarm:
    def test_warm_caches_the_shared_prefix_and_changes_no_reply(self, llm):
        from qa.answer import answer_messages, warm
        from qa.llm.greedy import common_prefix

        question = answer_messages(SOURCES, QUESTIONS[0])
        llm._llm.reset()
        cold = llm.complete(question, fmt=FMT, max_tokens=60)
        llm._llm.reset()
        warm(llm)
        prompt = llm.prompt_tokens(question)
        cached = common_prefix(llm._llm.input_ids[: llm._llm.n_tokens], prompt)
        # Everything up to the sources is cached: the whole system prompt and the user label.
        system = common_prefix(llm.prompt_tokens(answer_messages("", "")[:1]), prompt)
        assert system > 100
        assert system < cached < len(prompt)
        assert llm._llm.n_tokens == cached  # nothing past the shared prefix was evaluated
        assert llm.complete(question, fmt=FMT, max_tokens=60) == cold

    def test_a_reply_does_not_depend_on_the_question_before_it(self, llm, monkeypatch):
        """Only the warmed prefix is reused: a longer match with the previous prompt would
        start the evaluation at another token, and llama.cpp's numbers (so, at times, the
        reply) depend on where a batch starts."""
        from qa.answer import answer_messages, warm

        llm._llm.reset()
        warm(llm)
        prefix = llm._reuse
        assert prefix > 100
        starts: list[int] = []
        real_eval = llm._llm.eval

        def eval_(tokens):  # type: ignore[no-untyped-def]
            if len(tokens) > 1:  # a prompt, not one generated token
                starts.append(llm._llm.n_tokens)
            return real_eval(tokens)

        monkeypatch.setattr(llm._llm, "eval", eval_)
        first = answer_messages(SOURCES, QUESTIONS[0])
        alone = llm.complete(first, fmt=FMT, max_tokens=60)
        # A prompt that shares all but its last tokens with `first` comes in between...
        llm.complete(answer_messages(SOURCES, QUESTIONS[0] + " Why?"), fmt=FMT, max_tokens=60)
        # ...yet `first` is evaluated from the end of the fixed prefix again, as it was alone.
        assert llm.complete(first, fmt=FMT, max_tokens=60) == alone
        for question in QUESTIONS[1:]:
            llm.complete(answer_messages(SOURCES, question), fmt=FMT, max_tokens=60)
            assert llm.complete(first, fmt=FMT, max_tokens=60) == alone
        assert starts and set(starts) == {prefix}
