"""The context builder's sentence vectors: those stored at ingest are used, the rest embedded.

Pure logic with a counting fake embedder: what matters is which texts reach `embed` and that
the chosen sentences are the same either way (the real embedder is in tests/index)."""

from __future__ import annotations

import re

import numpy as np

from index.split import chunk_article, sentence_spans
from qa.context import Context, NumberedSentence, build_context
from qa.types import Article, RetrievedChunk, Span

ARTICLE = Article(
    id="a",
    title="Council votes on the bridge",
    text=(
        "The council voted 5-2 to build the bridge. The bridge will cost $12 million. "
        "Work starts in May. The mayor praised the vote. Residents asked for a bike lane."
    ),
)


class _Embedder:
    """A deterministic vector per text (a hash seed), counting the texts it is asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.asked += texts
        rows = [np.random.default_rng(abs(hash(t)) % 2**32).normal(size=8) for t in texts]
        return np.array([r / np.linalg.norm(r) for r in rows], dtype=np.float32)


def _build(embed: _Embedder, stored=None):
    chunks = chunk_article(
        ARTICLE, lambda ts: [len(t.split()) for t in ts], target_tokens=12, max_tokens=40
    )
    return build_context(
        [RetrievedChunk(c, 1.0) for c in chunks],
        question_vector=embed(["How much will the bridge cost?"])[0],
        embed=embed,
        stored=stored,
        count_tokens=lambda t: len(t.split()),
        budget_tokens=20,
    )


class TestStoredSentenceVectors:
    def test_stored_vectors_are_used_and_only_the_rest_embedded(self):
        plain = _build(_Embedder())
        texts = {
            (ARTICLE.id, s.start): ARTICLE.text[s.start : s.end]
            for s in sentence_spans(ARTICLE.text)
        }
        vectors = _Embedder()
        table = dict(zip(texts, vectors(list(texts.values())), strict=True))
        some = dict(list(table.items())[:2])
        asked: list[list[tuple[str, Span]]] = []  # one lookup per question

        def stored(keys):
            asked.append(keys)
            return {(a, s.start): some[(a, s.start)] for a, s in keys if (a, s.start) in some}

        embed = _Embedder()
        mixed = _build(embed, stored)
        assert len(asked) == 1 and {(a, s.start) for a, s in asked[0]} == set(texts)
        # The question, then only the sentences without a stored vector.
        assert embed.asked[0] == "How much will the bridge cost?"
        assert set(embed.asked[1:]) == set(texts.values()) - {texts[k] for k in some}
        assert [s.start for s in mixed.sentences] == [s.start for s in plain.sentences]

    def test_with_every_vector_stored_nothing_is_embedded_but_the_question(self):
        embed = _Embedder()
        table = {}

        def stored(keys):
            out = {}
            for a, s in keys:
                text = ARTICLE.text[s.start : s.end]
                out[(a, s.start)] = table.setdefault(text, _Embedder()([text])[0])
            return out

        ctx = _build(embed, stored)
        assert embed.asked == ["How much will the bridge cost?"]
        assert ctx.sentences and ctx.tokens <= 20


class TestWindows:
    """Sentences are chosen by their mix with the window vectors; their scores stay alone."""

    @staticmethod
    def _two(window_weight: float):
        text = "Ostrander owns the team. The 71-year-old made his money in trucking."
        art = Article(id="o", title="Owner", text=text)
        spans = sentence_spans(text)
        q = np.array([1.0, 0.0], dtype=np.float32)
        alone = {("o", spans[0].start): np.array([0.6, 0.8]), ("o", spans[1].start): [0.3, 0.95]}
        window = {("o", spans[1].start): np.array([0.99, 0.14])}  # the first has none stored

        def lookup(table):
            return lambda keys: {
                (a, s.start): np.asarray(table[(a, s.start)], dtype=np.float32)
                for a, s in keys
                if (a, s.start) in table
            }

        chunk = chunk_article(
            art, lambda ts: [len(t.split()) for t in ts], target_tokens=40, max_tokens=80
        )[0]
        return build_context(
            [RetrievedChunk(chunk, 1.0)],
            question_vector=q,
            embed=_Embedder(),  # never asked: every sentence's vector is stored
            stored=lookup(alone),
            windows=lookup(window),
            window_weight=window_weight,
            count_tokens=lambda t: 6,  # one sentence fits
            budget_tokens=10,
        )

    def test_the_window_lifts_a_sentence_that_names_its_subject_only_by_pointing_back(self):
        ctx = self._two(0.5)
        assert [s.text for s in ctx.sentences] == ["The 71-year-old made his money in trucking."]
        assert abs(ctx.sentences[0].score - 0.3) < 1e-6  # its similarity alone
        assert [s.text for s in self._two(0.0).sentences] == ["Ostrander owns the team."]


class TestSentenceChannel:
    """The retriever's third ranking: candidates by their best sentence (fake store)."""

    def test_chunks_rank_by_their_best_sentence(self):
        from qa.retrieve import HybridRetriever
        from qa.types import Chunk

        q = np.array([1.0, 0.0], dtype=np.float32)
        near, far = np.array([0.9, 0.1]), np.array([0.5, 0.5])
        a = Chunk("a", "art-a", 0, 0, 20, "x" * 20, (Span(0, 10), Span(10, 20)))
        b = Chunk("b", "art-b", 0, 0, 20, "y" * 20, (Span(0, 10), Span(10, 20)))
        old = Chunk("c", "art-c", 0, 0, 10, "z" * 10, (Span(0, 10),))  # no stored vectors
        vectors = {("art-a", 0): far, ("art-a", 10): far, ("art-b", 0): far, ("art-b", 10): near}

        class Store:
            def sentence_vectors(self, keys):
                return {
                    (x, s.start): vectors[(x, s.start)] for x, s in keys if (x, s.start) in vectors
                }

        r = HybridRetriever.__new__(HybridRetriever)
        r.store = Store()  # type: ignore[assignment]
        hits = r._by_best_sentence([a, b, old], q)
        assert [h.chunk_id for h in hits] == ["b", "a"]
        assert hits[0].score == float(near @ q)


class TestBudget:
    """The context budget widens only when one long article holds most of the retrieved chunks."""

    @staticmethod
    def _chain(**overrides):
        from qa.answer import AnswerChain
        from qa.extractive import extractive_llm
        from qa.settings import Settings

        settings = Settings(**{"context_tokens": 350, "long_context_tokens": 600, **overrides})
        llm = extractive_llm(settings)
        return AnswerChain(settings, None, dict, len, llm)  # type: ignore[arg-type]

    @staticmethod
    def _retrieved(*article_ids: str) -> list[RetrievedChunk]:
        from qa.types import Chunk

        return [
            RetrievedChunk(
                Chunk(id=f"{a}{i}", article_id=a, index=i, start=0, end=1, text="x"), 1.0
            )
            for i, a in enumerate(article_ids)
        ]

    def test_one_long_article_gets_the_wide_budget(self):
        assert self._chain().budget(self._retrieved("a", "a", "a", "a", "b")) == 600

    def test_look_alike_stories_keep_the_narrow_one(self):
        # Three chunks of one short article and two of another: a 280-word story has no more.
        assert self._chain().budget(self._retrieved("a", "a", "a", "b", "b")) == 350
        assert self._chain().budget([]) == 350

    def test_the_wide_budget_is_never_narrower(self):
        chain = self._chain(long_article_chunks=2, context_tokens=700)
        assert chain.budget(self._retrieved("a", "a")) == 700


class TestLayout:
    """The paragraph layout joins sentences that follow one another in the article and starts
    a new line where text was left out; the default keeps one sentence a line."""

    TEXT = "One went. Two came. Three left.\n\nFour stayed. Five is far away."

    def _context(self, picks: list[int]) -> Context:
        spans = [(m.start(), m.end()) for m in re.finditer(r"[A-Z][^.]*\.", self.TEXT)]
        return Context(
            tuple(
                NumberedSentence(f"S{n}", "a", "Head", *spans[i], self.TEXT[slice(*spans[i])], 1.0)
                for n, i in enumerate(picks, 1)
            ),
            0,
        )

    def test_lines_is_one_sentence_a_line(self):
        out = self._context([0, 1, 4]).render()
        assert out.splitlines() == [
            "Article: Head",
            "[S1] One went.",
            "[S2] Two came.",
            "[S3] Five is far away.",
        ]

    def test_paragraphs_join_neighbours_across_a_paragraph_break(self):
        out = self._context([1, 2, 3]).render("paragraphs")
        assert out.splitlines() == [
            "Article: Head",
            "[S1] Two came. [S2] Three left. [S3] Four stayed.",
        ]

    def test_paragraphs_break_where_text_was_left_out(self):
        out = self._context([0, 2, 4]).render("paragraphs")
        assert out.splitlines() == [
            "Article: Head",
            "[S1] One went.",
            "[S2] Three left.",
            "[S3] Five is far away.",
        ]
