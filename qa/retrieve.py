"""Hybrid retrieval: dense (Chroma) + BM25, fused by reciprocal rank, with metadata filters.

Also exposed as a LangChain `BaseRetriever`, so LangChain users can use citeqa's index in
their own chains.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from index.bm25 import BM25Index
from index.embed import Embedder
from index.store import ChromaStore, Filters
from qa.types import Chunk, RetrievedChunk


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
    def __init__(
        self, store: ChromaStore, embedder: Embedder, *, candidates: int = 30, rrf_k: int = 60
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.candidates = candidates
        self.rrf_k = rrf_k
        self._bm25: BM25Index | None = None
        self._bm25_count = -1
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """Chunks changed: rebuild the keyword index on next use."""
        with self._lock:
            self._bm25 = None

    def _keyword_index(self) -> BM25Index:
        # Another process (or a Chroma server client) may have changed the chunks.
        count = self.store.count_chunks()
        with self._lock:
            if self._bm25 is None or count != self._bm25_count:
                self._bm25 = BM25Index(self.store.all_chunks())
                self._bm25_count = count
            return self._bm25

    def keyword_ids(self) -> list[str]:
        """Chunk ids the keyword index holds (it must agree with the vector store)."""
        return [c.id for c in self._keyword_index().chunks]

    def retrieve(self, query: str, *, k: int, filters: Filters | None = None) -> Retrieval:
        vector = self.embedder.embed_query(query)
        where = filters.to_where() if filters else None
        dense = self.store.dense_search(vector, self.candidates, where)
        keyword = self._keyword_index().search(
            query, self.candidates, filters.matches if filters else None
        )
        fused: dict[str, dict[str, Any]] = {}
        for rank, (chunk, sim) in enumerate(dense, 1):
            e = fused.setdefault(chunk.id, {"chunk": chunk, "score": 0.0})
            e["score"] += 1.0 / (self.rrf_k + rank)
            e["dense_rank"], e["sim"] = rank, sim
        for rank, (chunk, _) in enumerate(keyword, 1):
            e = fused.setdefault(chunk.id, {"chunk": chunk, "score": 0.0})
            e["score"] += 1.0 / (self.rrf_k + rank)
            e["bm25_rank"] = rank
        best = sorted(fused.values(), key=lambda e: -e["score"])[:k]
        return Retrieval(
            query,
            vector,
            tuple(
                RetrievedChunk(
                    chunk=e["chunk"],
                    score=e["score"],
                    dense_rank=e.get("dense_rank"),
                    bm25_rank=e.get("bm25_rank"),
                    dense_similarity=e.get("sim"),
                )
                for e in best
            ),
        )


def to_document(rc: RetrievedChunk) -> Document:
    c: Chunk = rc.chunk
    return Document(
        page_content=c.text,
        id=c.id,
        metadata={
            "article_id": c.article_id,
            "title": c.title,
            "start": c.start,
            "end": c.end,
            "source": c.source,
            "published_at": c.published_at,
            "score": rc.score,
        },
    )


class CiteqaRetriever(BaseRetriever):
    """LangChain retriever over a citeqa index: `Assistant.open(...).as_retriever(k=5)`."""

    hybrid: Any  # HybridRetriever; Any keeps pydantic from inspecting it
    k: int = 5
    filters: Any = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        result = self.hybrid.retrieve(query, k=self.k, filters=self.filters)
        return [to_document(rc) for rc in result.chunks]
