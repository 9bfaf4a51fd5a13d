"""BM25 over a growing, shrinking set of chunks, kept as a sparse term-frequency matrix.

bm25s (which we used first) must re-index the whole corpus after any change: about a minute at
100k chunks on two cores, at every start unless saved, and again after every upload. Here the
index is just term frequencies per chunk; IDF and length normalisation are computed at query
time over the live rows, so adding an article appends rows, removing one clears a flag, and the
whole thing saves and loads as arrays. Scores equal bm25s's default (Lucene) BM25.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from scipy import sparse

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s's default pattern


def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


class KeywordIndex:
    """Term frequencies (rows = chunks, columns = vocabulary) and BM25 scoring over live rows."""

    def __init__(
        self,
        *,
        vocab: dict[str, int] | None = None,
        tf: sparse.csr_matrix | None = None,
        k1: float = 1.5,
        b: float = 0.75,
    ) -> None:
        self.k1, self.b = k1, b
        self.vocab: dict[str, int] = dict(vocab or {})
        self._tf = tf if tf is not None else sparse.csr_matrix((0, 0), dtype=np.float32)
        self._stop = _stopwords()
        self._csc: sparse.csc_matrix | None = None
        self._lengths = np.asarray(self._tf.sum(axis=1)).ravel().astype(np.float32)

    @property
    def tf(self) -> sparse.csr_matrix:
        return self._tf

    def __len__(self) -> int:
        return int(self._tf.shape[0])

    def terms(self, text: str) -> list[str]:
        return [t for t in _TOKEN.findall(text.lower()) if t not in self._stop]

    def append(self, texts: Sequence[str]) -> None:
        """Add one row per text (new words extend the vocabulary)."""
        rows, cols, vals = [], [], []
        for r, text in enumerate(texts):
            counts: dict[int, int] = {}
            for term in self.terms(text):
                col = self.vocab.setdefault(term, len(self.vocab))
                counts[col] = counts.get(col, 0) + 1
            rows += [r] * len(counts)
            cols += list(counts)
            vals += list(counts.values())
        new = sparse.csr_matrix(
            (np.asarray(vals, np.float32), (rows, cols)), shape=(len(texts), len(self.vocab))
        )
        old = self._tf
        old.resize((old.shape[0], len(self.vocab)))
        self._tf = sparse.vstack([old, new], format="csr")
        self._lengths = np.concatenate([self._lengths, np.asarray(new.sum(axis=1)).ravel()])
        self._csc = None

    def keep_rows(self, rows: np.ndarray) -> None:
        """Keep only `rows` (in that order): compaction after removals."""
        self._tf = self._tf[rows]
        self._lengths = self._lengths[rows]
        self._csc = None

    def scores(self, query: str, live: np.ndarray) -> np.ndarray:
        """BM25 score of every row for `query`; rows where `live` is False score 0 and do not
        count towards IDF or the average length."""
        # Repeated query words count again, as in bm25s.
        cols = [self.vocab[t] for t in self.terms(query) if t in self.vocab]
        out = np.zeros(len(self), dtype=np.float32)
        n_live = int(live.sum())
        if not cols or n_live == 0:
            return out
        if self._csc is None:
            self._csc = self._tf.tocsc()
        avg = float(self._lengths[live].mean()) or 1.0
        norm = self.k1 * (1.0 - self.b + self.b * self._lengths / avg)
        for col in cols:
            lo, hi = self._csc.indptr[col], self._csc.indptr[col + 1]
            docs = self._csc.indices[lo:hi]
            docs = docs[live[docs]]
            if docs.size == 0:
                continue
            tf = self._csc.data[lo:hi][live[self._csc.indices[lo:hi]]]
            df = docs.size
            idf = np.log(1.0 + (n_live - df + 0.5) / (df + 0.5))
            out[docs] += idf * tf / (tf + norm[docs])
        return out
