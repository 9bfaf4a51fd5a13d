"""Keyword search over the same chunks as the vector store (bm25s), rebuilt when chunks change.

Dense retrieval misses rare names and numbers ("Lvova-Belova", "123 countries"); BM25 catches
them. Scores for all chunks come back as one array, so metadata filters are a cheap mask.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from qa.types import Chunk


class BM25Index:
    def __init__(self, chunks: Sequence[Chunk]) -> None:
        import bm25s

        self.chunks = list(chunks)
        self._tokenizer = bm25s.tokenization.Tokenizer(stopwords="en", stemmer=None)
        self._bm25 = bm25s.BM25()
        if self.chunks:
            corpus = self._tokenizer.tokenize(
                [f"{c.title}\n{c.text}" for c in self.chunks], return_as="ids", show_progress=False
            )
            self._bm25.index(corpus, show_progress=False)

    def __len__(self) -> int:
        return len(self.chunks)

    def search(
        self, query: str, n: int, keep: Callable[[Chunk], bool] | None = None
    ) -> list[tuple[Chunk, float]]:
        if not self.chunks or n <= 0:
            return []
        ids = self._tokenizer.tokenize(
            [query], update_vocab=False, return_as="ids", show_progress=False
        )[0]
        ids = [i for i in ids if i is not None]
        if not ids:
            return []
        scores = np.asarray(self._bm25.get_scores(ids), dtype=np.float32)
        if keep is not None:
            mask = np.fromiter((keep(c) for c in self.chunks), dtype=bool, count=len(self.chunks))
            scores = np.where(mask, scores, 0.0)
        n = min(n, int((scores > 0).sum()))
        if n == 0:
            return []
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.chunks[i], float(scores[i])) for i in top]
