"""The lazily checked grammar must decode exactly what the full grammar does, on either engine."""

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
REPLY_OF_TWO_OR_THREE = re.compile(r"([A-Z0-9\"'(][^\[\]\n]{4,400} ?(\[S[123]\]){1,3}\.? ?){2,3}")


@pytest.fixture(scope="module")
def llm(cache_dir):
    # The 0.5B model: the same tokenizer and template as the default, 2-3x faster.
    model = LocalLLM(resolve_model("qwen2.5-coder-0.5b", cache_dir), model_name="0.5b")
    yield model
    model.close()


@pytest.fixture(scope="module")
def upstream(cache_dir):
    """The same model on llama-cpp-python (installed with the test extras)."""
    pytest.importorskip("llama_cpp")
    model = LocalLLM(
        resolve_model("qwen2.5-coder-0.5b", cache_dir), model_name="0.5b", engine="llama-cpp"
    )
    yield model
    model.close()


def _messages(question: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"{SOURCES}\nQuestion: {question}"},
    ]


def _full_grammar_reply(llm: LocalLLM, messages, max_tokens: int) -> str:
    """The reference: the grammar applied to the whole vocabulary at every step."""
    import numpy as np

    from qa.llm.greedy import eval_prompt

    engine = llm.engine
    eval_prompt(engine, llm.prompt_tokens(messages), reuse=0)
    rules = engine.grammar(reply_grammar(FMT))
    out = b""
    try:
        for _ in range(max_tokens):
            token = int(np.argmax(rules.masked(engine.logits())))
            if engine.is_eog(token):
                break
            rules.accept(token)
            out += engine.piece(token)
            engine.eval([token])
    finally:
        rules.close()
    return out.decode()


class TestGreedyGrammar:
    @pytest.mark.parametrize("question", QUESTIONS)
    def test_same_reply_as_the_full_grammar_at_every_step(self, llm, question):
        ours = llm.complete(_messages(question), fmt=FMT, max_tokens=80)
        assert ours == _full_grammar_reply(llm, _messages(question), 80)
        assert REPLY.fullmatch(ours.strip()), ours

    @pytest.mark.parametrize("question", QUESTIONS)
    def test_same_reply_as_llama_cpp(self, llm, upstream, question):
        """ik_llama.cpp is only faster: the same prompt tokens and the same greedy replies as
        upstream llama.cpp on these questions (llama-cpp-python comes with the test extras)."""
        messages = _messages(question)
        assert llm.prompt_tokens(messages) == upstream.prompt_tokens(messages)
        ours = llm.complete(messages, fmt=FMT, max_tokens=80)
        assert ours == upstream.complete(messages, fmt=FMT, max_tokens=80)

    def test_sampling_keeps_the_grammar_and_the_seed_decides(self, cache_dir):
        hot = LocalLLM(
            resolve_model("qwen2.5-coder-0.5b", cache_dir), model_name="0.5b", temperature=1.5
        )
        try:
            replies = [hot.complete(_messages(q), fmt=FMT, max_tokens=60) for q in QUESTIONS]
            again = [hot.complete(_messages(q), fmt=FMT, max_tokens=60) for q in QUESTIONS]
        finally:
            hot.close()
        assert replies == again  # one seed, one reply
        for reply in replies:
            assert REPLY.fullmatch(reply.strip()), reply

    @pytest.mark.parametrize("question", QUESTIONS)
    def test_held_to_two_sentences_a_reply_goes_on(self, llm, question):
        """With `min_sentences` 2 the grammar allows no end before a second sentence's ids:
        where the model stops after one sentence, it now writes two or three."""
        messages = [
            {"role": "system", "content": SYSTEM.split(" If they")[0]},  # no abstain offered
            {"role": "user", "content": f"{SOURCES}\nQuestion: {question}"},
        ]
        two = ReplyFormat(
            refs=FMT.refs, max_sentences=3, abstain_token=FMT.abstain_token, min_sentences=2
        )
        one = llm.complete(messages, fmt=FMT, max_tokens=160).strip()
        assert len(re.findall(r"(?:\[S[123]\])+", one)) == 1, one
        reply = llm.complete(messages, fmt=two, max_tokens=160).strip()
        assert reply.startswith(one)  # greedy: the same first sentence
        assert 2 <= len(re.findall(r"(?:\[S[123]\])+", reply)) <= 3, reply
        assert REPLY_OF_TWO_OR_THREE.fullmatch(reply), reply

    def test_free_text_without_a_format(self, llm):
        reply = llm.complete([{"role": "user", "content": "Say hello in French."}], max_tokens=12)
        assert reply.strip()
        assert "NOT_IN_SOURCES" not in reply

    def test_prompt_that_does_not_fit_is_a_backend_error(self, llm):
        from qa.errors import BackendError

        long = [{"role": "user", "content": "word " * 3000}]
        with pytest.raises(BackendError, match="context window"):
            llm.complete(long, max_tokens=10)


class TestAbstainThreshold:
    """The abstain decision on its total probability (`abstain_threshold`), on the real model."""

    def test_the_openings_spell_the_abstain_token(self, llm):
        from qa.llm.greedy import abstain_tokens

        ids = abstain_tokens(llm.engine, "NOT_IN_SOURCES")
        assert ids
        spelled = [llm.engine.piece(t).decode() for t in ids]
        assert all("NOT_IN_SOURCES".startswith(p) and len(p) >= 3 for p in spelled), spelled

    def test_the_other_case_openings_spell_it_in_other_letters(self, llm):
        from qa.llm.greedy import abstain_tokens, abstain_tokens_other_case

        ids = abstain_tokens_other_case(llm.engine, "NOT_IN_SOURCES")
        spelled = [llm.engine.piece(t).decode() for t in ids]
        assert "Not" in spelled  # what the model opened "Not_in_sources" with
        assert all("NOT_IN_SOURCES".startswith(p.upper()) and len(p) >= 3 for p in spelled)
        assert not ids & abstain_tokens(llm.engine, "NOT_IN_SOURCES"), spelled

    @pytest.mark.parametrize("question", QUESTIONS)
    def test_threshold_zero_always_abstains_and_one_never_does(self, llm, question):
        try:
            llm.abstain_threshold = 0.0
            low = llm.complete(_messages(question), fmt=FMT, max_tokens=80)
            llm.abstain_threshold = 1.0
            high = llm.complete(_messages(question), fmt=FMT, max_tokens=80)
        finally:
            llm.abstain_threshold = None
        assert low == "NOT_IN_SOURCES"
        assert not high.upper().startswith("NOT_IN") and REPLY.fullmatch(high.strip()), high


class TestWarm:
    def test_warm_caches_the_shared_prefix_and_changes_no_reply(self, llm):
        from qa.answer import answer_messages, warm
        from qa.llm.greedy import common_prefix

        question = answer_messages(SOURCES, QUESTIONS[0])
        llm.engine.reset()
        cold = llm.complete(question, fmt=FMT, max_tokens=60)
        llm.engine.reset()
        warm(llm)
        prompt = llm.prompt_tokens(question)
        cached = common_prefix(llm.engine.tokens, prompt)
        # Everything up to the sources is cached: the whole system prompt and the user label.
        system = common_prefix(llm.prompt_tokens(answer_messages("", "")[:1]), prompt)
        assert system > 100
        assert system < cached < len(prompt)
        assert len(llm.engine.tokens) == cached  # nothing past the shared prefix was evaluated
        assert llm.complete(question, fmt=FMT, max_tokens=60) == cold

    def test_a_reply_does_not_depend_on_the_question_before_it(self, llm, monkeypatch):
        """Only the warmed prefix is reused: a longer match with the previous prompt would
        start the evaluation at another token, and llama.cpp's numbers (so, at times, the
        reply) depend on where a batch starts."""
        from qa.answer import answer_messages, warm

        llm.engine.reset()
        warm(llm)
        prefix = llm._reuse
        assert prefix > 100
        starts: list[int] = []
        real_eval = llm.engine.eval

        def eval_(tokens):  # type: ignore[no-untyped-def]
            if len(tokens) > 1:  # a prompt, not one generated token
                starts.append(len(llm.engine.tokens))
            return real_eval(tokens)

        monkeypatch.setattr(llm.engine, "eval", eval_)
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


class TestDraftTokens:
    """Guessed tokens checked in one batch (`draft_tokens`), on the real engine."""

    def test_eval_many_gives_the_logits_eval_gives(self, llm):
        import numpy as np

        prompt = llm.prompt_tokens(_messages(QUESTIONS[0]))
        tail = prompt[-5:]
        llm.engine.reset()
        llm.engine.eval(prompt[:-5])
        rows = llm.engine.eval_many(tail)
        assert rows.shape == (5, llm.engine.n_vocab)
        assert llm.engine.tokens == prompt
        llm.engine.truncate(len(prompt) - 5)
        llm.engine.eval(tail)
        assert np.array_equal(rows[-1], llm.engine.logits())

    @pytest.mark.parametrize("question", QUESTIONS)
    def test_replies_keep_the_format_and_one_prompt_gives_one_reply(self, llm, question):
        try:
            llm.draft_tokens = 3
            drafted = llm.complete(_messages(question), fmt=FMT, max_tokens=80)
            again = llm.complete(_messages(question), fmt=FMT, max_tokens=80)
        finally:
            llm.draft_tokens = 0
        assert drafted == again
        assert REPLY.fullmatch(drafted.strip()), drafted

    def test_off_where_the_engine_checks_one_token_at_a_time(self, cache_dir):
        pytest.importorskip("llama_cpp")
        model = LocalLLM(
            resolve_model("qwen2.5-coder-0.5b", cache_dir),
            model_name="0.5b",
            engine="llama-cpp",
            draft_tokens=3,
        )
        try:
            assert not model.engine.batched
            assert model.draft_tokens == 0
        finally:
            model.close()
