"""End to end with real components: Chroma on disk, the packaged embedder and local LLMs."""

import copy

import pytest

from eval.replay import replayed
from eval.rows import EvalRow
from index.load import load_paths
from qa.errors import InputError, NotFoundError
from qa.types import Answer, Article, Draft, Retrieved, TextDelta
from tests.conftest import SAMPLE

# The passage on why Pashinyan stayed away: criticism of Moscow, Nagorno-Karabakh, the ICC.
_ARTICLE = next(iter(load_paths([SAMPLE])))
PASHINYAN_START = _ARTICLE.text.index("Armenian leader Nikol Pashinyan will skip")
PASHINYAN_END = _ARTICLE.text.index("Putin is planning to meet with the leader")
BOILERPLATE = ["Other Topics of Interest", "IOC Admits", "To suggest a correction", "Ctrl + Enter"]


def _assert_quotes_exact(assistant, answer: Answer) -> None:
    for c in answer.citations:
        assert assistant.get_article(c.article_id).text[c.start : c.end] == c.quote


class TestIndexing:
    def test_reingest_is_a_noop_and_boilerplate_is_out(self, make_assistant, sample_dir):
        a = make_assistant(backend="extractive")
        first = a.add([sample_dir])
        assert first.count("added") == 1
        n = a.store.count_chunks()
        second = a.add([sample_dir])
        assert second.count("unchanged") == 1 and a.store.count_chunks() == n
        texts = [c.text for c in a.store.all_chunks()]
        for line in BOILERPLATE:
            assert not any(line in t for t in texts)

    def test_changed_article_replaces_its_chunks(self, make_assistant):
        a = make_assistant(backend="extractive")
        a.add([Article(id="x", title="X", text="The mayor opened the bridge on Monday.")])
        report = a.add([Article(id="x", title="X", text="The mayor closed the bridge on Friday.")])
        assert report.count("replaced") == 1
        assert [c.text for c in a.store.all_chunks()] == ["The mayor closed the bridge on Friday."]
        assert len(a.articles()) == 1
        a.remove("x")
        assert a.articles() == [] and a.store.count_chunks() == 0
        with pytest.raises(NotFoundError):
            a.remove("x")

    def test_bad_questions(self, make_assistant):
        a = make_assistant(backend="extractive")
        for q in ["", "   ", "?!...", "x" * 100_000]:
            with pytest.raises(InputError):
                a.ask(q)

    def test_langchain_retriever_and_filters(self, make_assistant, sample_dir):
        from index.store import Filters

        a = make_assistant(backend="extractive")
        a.add([sample_dir])
        a.add([Article(id="n", title="N", text="Pashinyan visited Paris.", source="Other")])
        docs = a.as_retriever(k=3).invoke("Why did Pashinyan skip the summit?")
        assert len(docs) == 3 and all(d.metadata["article_id"] for d in docs)
        only = a.as_retriever(k=3, filters=Filters(sources=("Other",))).invoke("Pashinyan")
        assert [d.metadata["article_id"] for d in only] == ["n"]


class TestExtractive:
    def test_sample_question(self, make_assistant, sample_dir):
        a = make_assistant(backend="extractive")
        a.add([sample_dir])
        ans = a.ask("Why did Pashinyan skip the summit?")
        assert not ans.abstained and ans.citations
        _assert_quotes_exact(a, ans)

    def test_close_stops_the_keyword_worker_and_the_assistant_still_answers(
        self, make_assistant, sample_dir
    ):
        import time

        a = make_assistant(backend="extractive")
        a.add([sample_dir])
        before = a.ask("Why did Pashinyan skip the summit?")
        workers = set(a.retriever._keyword_pool._threads)  # this assistant's BM25 thread
        assert workers and all(t.is_alive() for t in workers)
        a.close()
        deadline = time.monotonic() + 10
        while any(t.is_alive() for t in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(t.is_alive() for t in workers)
        again = a.ask("Why did Pashinyan skip the summit?")
        assert again.text == before.text and again.citations == before.citations


@pytest.mark.slow
class TestLocalModel:
    """The default packaged model, on the sample article."""

    def test_pashinyan_answer_cites_the_right_passage(self, sample_assistant):
        ans = sample_assistant.ask("Why did Pashinyan skip the summit?")
        assert not ans.abstained, ans.raw_reply
        assert any(PASHINYAN_START <= c.start and c.end <= PASHINYAN_END for c in ans.citations), (
            ans.to_markdown()
        )
        _assert_quotes_exact(sample_assistant, ans)
        assert all(s.citations for s in ans.sentences if s.supported)

    def test_unanswerable_abstains(self, sample_assistant):
        ans = sample_assistant.ask("What did Putin eat in Bishkek?")
        assert ans.abstained, ans.raw_reply
        assert ans.text == "The articles don't say."
        assert ans.sources  # the closest sources are still listed

    def test_stream_yields_text_then_the_same_checks(self, sample_assistant):
        events = list(sample_assistant.stream("How many countries have ratified the Rome Statute?"))
        deltas = [e for e in events if isinstance(e, TextDelta)]
        final = events[-1]
        assert isinstance(final, Answer) and deltas
        # The retrieved passages come first, before the model writes anything, and are the
        # answer's sources.
        assert isinstance(events[0], Retrieved) and events[0].sources == final.sources
        assert "".join(d.text for d in deltas) == final.raw_reply
        assert "123" in final.text
        _assert_quotes_exact(sample_assistant, final)

    def test_a_second_reading_is_a_verified_draft_then_the_answer(self, sample_assistant):
        """By default an answer drawn from one long article (the sample's) is read a second
        time: the first verified answer comes as a Draft, the second prompt is the cited
        sentences and their neighbours only, and what is given replays to itself from the
        logged replies."""
        question = "Why did Pashinyan skip the summit?"
        chain = sample_assistant.chain()
        query = sample_assistant.query(question)
        assert chain.settings.second_reading == "long"
        assert chain.rereads(chain.prepare(query))  # the sample article is long
        events = list(sample_assistant.stream(question))
        drafts = [e for e in events if isinstance(e, Draft)]
        final = events[-1]
        assert len(drafts) == 1 and events[-2] is drafts[0] and isinstance(final, Answer)
        draft = drafts[0].answer
        assert not draft.abstained and not final.abstained, final.raw_reply
        deltas = "".join(e.text for e in events if isinstance(e, TextDelta))
        assert deltas == draft.raw_reply == final.raw_reply  # only the first reply streams
        assert final.second_reply and final.reading in (1, 2)
        assert 0 < final.tokens["second_prompt"] < final.tokens["prompt"]
        _assert_quotes_exact(sample_assistant, draft)
        _assert_quotes_exact(sample_assistant, final)
        assert final.timings["first_answer"] < final.timings["total"]
        # Deterministic: reading once gives the draft, and the logged replies give the answer.
        once = copy.copy(chain)
        once.settings = chain.settings.model_copy(update={"second_reading": "off"})
        assert once.invoke(query).text == draft.text
        row = EvalRow(id="q", question=question, answerable=True, references=[],
                      raw_reply=final.raw_reply, second_reply=final.second_reply,
                      tokens=dict(final.tokens))  # fmt: skip
        replay, exact = replayed(chain, chain.prepare(query), row, chain.llm.judge)
        assert exact and replay.text == final.text and replay.citations == final.citations

    def test_follow_up_is_rewritten(self, sample_assistant):
        history = [
            {"role": "user", "content": "Who is Nikol Pashinyan?"},
            {"role": "assistant", "content": "He is the Armenian leader."},
        ]
        ans = sample_assistant.ask("Why did he skip the summit?", history=history)
        assert "Pashinyan" in ans.standalone_question
        assert not ans.abstained, ans.raw_reply
        _assert_quotes_exact(sample_assistant, ans)
