"""Hybrid retrieval: dense (Chroma) + BM25, fused by reciprocal rank, with metadata filters.

Also exposed as a LangChain `BaseRetriever`, so LangChain users can use citeqa's index in
their own chains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from index.copies import similarity
from index.embed import Embedder
from index.search import Hit, SearchIndex
from index.store import ChromaStore, Filters
from qa.errors import NoMatchError
from qa.types import Chunk, RetrievedChunk, Span
from qa.when import Window


@dataclass(frozen=True, slots=True)
class Retrieval:
    query: str
    query_vector: np.ndarray
    chunks: tuple[RetrievedChunk, ...]

    @property
    def best_similarity(self) -> float:
        sims = [c.dense_similarity for c in self.chunks if c.dense_similarity is not None]
        return max(sims, default=0.0)


class HybridRetriever:
    """Dense and keyword candidates from the search index, fused by reciprocal rank.

    The search index is checked against Chroma's change marker before every question, so articles
    added by another process (or through a shared Chroma server) are seen without a restart.
    """

    def __init__(
        self,
        store: ChromaStore,
        embedder: Embedder,
        *,
        index_path: Path | None = None,
        candidates: int = 30,
        rrf_k: int = 60,
        sentence_fusion: bool = True,
        copy_threshold: float = 0.6,
        recent_lead_days: float = 11.0,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.sentence_fusion = sentence_fusion
        self.copy_threshold = copy_threshold
        self.recent_lead_days = recent_lead_days
        self.index = SearchIndex.load(index_path) if index_path else SearchIndex(None)
        self._fresh = True  # a saved index is as fresh as the change marker it was saved with
        self._keyword_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citeqa-bm25")

    def close(self) -> None:
        """Stop the keyword worker thread (a later question starts a new one)."""
        self._keyword_pool.shutdown(wait=False)
        self._keyword_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citeqa-bm25")

    def invalidate(self) -> None:
        """This process changed the chunks: sync before the next question."""
        self._fresh = False

    def _synced(self) -> SearchIndex:
        self.index.sync(self.store, force=not self._fresh)
        self._fresh = True
        return self.index

    def keyword_ids(self) -> list[str]:
        """Chunk ids the search index holds (it must agree with the vector store)."""
        index = self._synced()
        return [index.ids[i] for i in np.flatnonzero(index.live)]

    def retrieve(
        self,
        query: str,
        *,
        k: int,
        filters: Filters | None = None,
        prefer: Window | None = None,
    ) -> Retrieval:
        """The `k` best chunks for `query`. `prefer` (from the question's time words) ranks
        chunks published inside it first: they are searched a second time, restricted to the
        window, and those hits count again in the fusion. Outside chunks still compete."""
        index = self._synced()
        allowed = index.allowed(filters)
        if filters and len(index) and not allowed.any():
            raise NoMatchError(explain_no_match(index, filters))
        # The keyword search needs no vector: it runs while the query is embedded (both release
        # the GIL), which takes ~3 ms off a 100k-chunk query on two cores.
        keyword_job = self._keyword_pool.submit(index.keyword, query, self.candidates, allowed)
        vector = self.embedder.embed_query(query)
        dense = index.dense(self.store, vector, self.candidates, allowed)
        keyword = keyword_job.result()
        fused: dict[str, dict[str, Any]] = {}

        def fuse(hits: list[Hit], rank_key: str | None = None) -> None:
            """Reciprocal-rank fusion: each list adds 1/(rrf_k + rank) to its hits' scores."""
            for rank, hit in enumerate(hits, 1):
                e = fused.setdefault(hit.chunk_id, {"score": 0.0})
                e["score"] += 1.0 / (self.rrf_k + rank)
                if rank_key:
                    e[rank_key] = rank

        fuse(dense, "dense_rank")
        fuse(keyword, "bm25_rank")
        if prefer is not None:
            window = allowed & (index.published >= prefer.start) & (index.published < prefer.end)
            if window.any() and not np.array_equal(window, allowed):
                near = index.exact(vector, self.candidates, window)
                fuse(near)
                fuse(index.keyword(query, self.candidates, window))
                dense = [*dense, *near]
        # One read of the candidates, after the last fusion that adds ids: the best-sentence
        # ranking, the copy folding and the result share it (it was read three times).
        pool = {c.id: c for c in self.store.get_chunks(list(fused))}
        if self.sentence_fusion:
            fuse(self._by_best_sentence(list(pool.values()), vector))
        for hit in reversed(dense):  # a chunk's similarity: its first (main-search) dense hit
            fused[hit.chunk_id]["sim"] = hit.score
        # Chunks removed by another process since the sync are not in the pool.
        ranked = sorted(
            ((i, e) for i, e in fused.items() if i in pool), key=lambda kv: -kv[1]["score"]
        )
        copies: dict[str, tuple[str, ...]] = {}
        names: dict[str, tuple[str, ...]] = {}
        if self.copy_threshold <= 1.0:
            ranked, copies, names = self._fold_copies(ranked, pool)
        if prefer is not None and prefer.end - prefer.start <= self.recent_lead_days * 86400:
            ranked = _lead_first(ranked[:k], pool) + ranked[k:]
        return Retrieval(
            query,
            vector,
            tuple(
                RetrievedChunk(
                    chunk=pool[i],
                    score=e["score"],
                    dense_rank=e.get("dense_rank"),
                    bm25_rank=e.get("bm25_rank"),
                    dense_similarity=e.get("sim"),
                    copies=copies.get(pool[i].article_id, ()),
                    also_published_by=names.get(pool[i].article_id, ()),
                )
                for i, e in ranked[:k]
            ),
        )

    def _fold_copies(
        self, ranked: list[tuple[str, dict[str, Any]]], pool: Mapping[str, Chunk]
    ) -> tuple[
        list[tuple[str, dict[str, Any]]], dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]
    ]:
        """The candidates with other outlets' copies of a story left out, the copies (ids) each
        kept article stands for, and their outlets (or titles): the best-ranked copy stands for
        its story. Copies would show the model one sentence twice and push other stories out
        of k."""
        articles = list(dict.fromkeys(pool[i].article_id for i, _ in ranked))
        metas = self.store.article_metas(articles)

        def meta(a: str) -> Mapping[str, Any]:
            return metas.get(a) or {}

        def outlet(a: str) -> str:
            return meta(a).get("source") or meta(a).get("title") or a

        def sig(a: str) -> str:
            return meta(a).get("minhash") or ""

        kept: list[str] = []
        folded: dict[str, str] = {}  # copy -> the article standing for it
        for a in articles:
            rep = next((r for r in kept if similarity(sig(a), sig(r)) >= self.copy_threshold), None)
            if rep is None:
                kept.append(a)
            else:
                folded[a] = rep
        if not folded:
            return ranked, {}, {}
        copies: dict[str, list[str]] = {}
        for copy, rep in folded.items():
            copies.setdefault(rep, []).append(copy)
        kept_ranked = [(i, e) for i, e in ranked if pool[i].article_id not in folded]
        names = {rep: tuple(dict.fromkeys(outlet(c) for c in ids)) for rep, ids in copies.items()}
        return kept_ranked, {rep: tuple(ids) for rep, ids in copies.items()}, names

    def _by_best_sentence(self, chunks: Sequence[Chunk], vector: np.ndarray) -> list[Hit]:
        """The candidates ranked by their best sentence's similarity to the question.

        A chunk's vector averages all its sentences, so the one sentence that answers can be
        outvoted by a look-alike story's chunk that shares the topic throughout; ranked by its
        best sentence, the chunk that states the answer comes up. Uses the sentence vectors
        stored at ingest (chunks of an index made before them are left out of this list)."""
        stored = self.store.sentence_vectors(
            [(c.article_id, s) for c in chunks for s in c.sentences]
        )
        best: list[Hit] = []
        for c in chunks:
            sims = [
                float(stored[(c.article_id, s.start)] @ vector)
                for s in c.sentences
                if (c.article_id, s.start) in stored
            ]
            if sims:
                best.append(Hit(c.id, max(sims)))
        return sorted(best, key=lambda h: -h.score)

    def sentence_vectors(
        self, keys: Sequence[tuple[str, Span]], *, window: bool = False
    ) -> dict[tuple[str, int], np.ndarray]:
        """The vectors stored at ingest for these sentences, keyed (article id, start): alone,
        or with `window` read after the sentence before it."""
        return self.store.sentence_vectors(keys, window=window)

    def leads(self, article_ids: list[str]) -> dict[str, Chunk]:
        """Each article's first chunk: in news the headline and lead carry the who and what,
        and retrieval often returns another chunk of the right article."""
        return {c.article_id: c for c in self.store.first_chunks(article_ids)}


def _lead_first(
    ranked: list[tuple[str, dict[str, Any]]], pool: Mapping[str, Chunk]
) -> list[tuple[str, dict[str, Any]]]:
    """`ranked` with the top article's lead chunk (its first) moved to the top, if it is in
    `ranked`. A question about the last few days ("Which singer announced a residency this
    week?") asks what happened, and a news story says that in its lead (inverted pyramid);
    the chunk ranked first is often a later one of the right story that shares the topic
    words (on the news dev set 9 of 27 hit@1 misses, and every one asked "this week")."""
    if not ranked:
        return ranked
    top = pool[ranked[0][0]].article_id
    at = next(
        (n for n, (i, _) in enumerate(ranked) if pool[i].article_id == top and pool[i].index == 0),
        None,
    )
    if at is None or at == 0:  # the lead was not retrieved, or it is first already
        return ranked
    return [ranked[at], *ranked[:at], *ranked[at + 1 :]]


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def explain_no_match(index: SearchIndex, filters: Filters) -> str:
    """Why nothing can be answered from: what the filter asked for, and what there is. A bare
    "The articles don't say." would read as an answer when it is a filter that excludes all."""
    sources, first, last = index.describe()
    asked: list[str] = []
    if filters.sources:
        asked.append("source " + " or ".join(repr(s) for s in filters.sources))
    if filters.published_after is not None:
        asked.append(f"published on/after {_day(filters.published_after)}")
    if filters.published_before is not None:
        asked.append(f"published on/before {_day(filters.published_before)}")
    have = [f"sources: {', '.join(sources)}" if sources else "no article has a source"]
    if first is None or last is None:
        have.append("no article has a publication date")
    else:
        have.append(f"dates {_day(first)} to {_day(last)}")
    return (
        f"No article matches {' and '.join(asked)} ({'; '.join(have)}). Change or drop the filter."
    )
