"""What the retriever keeps in memory: per-chunk metadata, vectors and keyword statistics.

Chroma stays the source of truth (several processes, or a Chroma server, share it). This index
is derived from it, saved in the data directory so a large corpus is not re-read at every
start, and brought up to date by comparing article text hashes with Chroma's: only added or
changed articles are fetched. Keeping metadata as arrays makes filters a vectorised mask
(Chroma's own `where` took 139/345 ms p50/p95 at 100k chunks), and keeping vectors lets a
filtered query search exactly the rows it may return.
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from index.keywords import KeywordIndex
from index.store import ChromaStore, Filters
from index.types import Chunk

FORMAT = 2  # 2: float32 vectors
EXACT_ROWS = 20_000  # up to this many allowed rows, exact numpy search beats Chroma's HNSW


@dataclass(frozen=True, slots=True)
class Hit:
    chunk_id: str
    score: float


class SearchIndex:
    """Rows = chunks. Removed rows are flagged dead and compacted away later."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.articles: dict[str, str] = {}  # article id -> text hash, as last synced
        self.ids: list[str] = []
        self.row: dict[str, int] = {}
        self.article_of = np.zeros(0, dtype=object)
        self.sources: list[str] = []
        self.source_code = np.zeros(0, dtype=np.int32)  # -1: no source
        self.published = np.zeros(0, dtype=np.float64)  # nan: no date
        self.vectors = np.zeros((0, 0), dtype=np.float32)
        self.live = np.zeros(0, dtype=bool)
        self.keywords = KeywordIndex()
        self.generation: str | None = None  # Chroma's change marker when last synced
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return int(self.live.sum())

    # --- keeping up with Chroma -----------------------------------------------------------

    def sync(self, store: ChromaStore, *, force: bool = False) -> bool:
        """Fetch what changed in Chroma since the last sync; True if anything did."""
        with self._lock:
            generation = store.generation()  # read before the data (see ChromaStore._bump)
            if not force and generation is not None and generation == self.generation:
                return False
            theirs = store.article_hashes()
            gone = [a for a, h in self.articles.items() if theirs.get(a) != h]
            new = sorted(a for a, h in theirs.items() if self.articles.get(a) != h)
            self._drop(set(gone))
            if new:
                chunks, vectors = store.chunks_with_vectors({a: theirs[a] for a in new})
                self._append(chunks, vectors)
                self.articles |= {a: theirs[a] for a in new}
            changed = bool(gone or new)
            if changed:
                self._compact()
            if changed or generation != self.generation:
                self.generation = generation
                self.save()
            return changed

    def _drop(self, article_ids: set[str]) -> None:
        if not article_ids:
            return
        dead = np.fromiter((a in article_ids for a in self.article_of), bool, len(self.ids))
        self.live &= ~dead
        for a in article_ids:
            self.articles.pop(a, None)

    def _append(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        if not chunks:
            return
        start = len(self.ids)
        for i, c in enumerate(chunks):
            old = self.row.get(c.id)
            if old is not None:  # a leftover row of an interrupted sync
                self.live[old] = False
            self.row[c.id] = start + i
        self.ids += [c.id for c in chunks]
        self.article_of = np.concatenate([self.article_of, [c.article_id for c in chunks]])
        codes = {s: i for i, s in enumerate(self.sources)}
        for c in chunks:
            if c.source is not None and c.source not in codes:
                codes[c.source] = len(self.sources)
                self.sources.append(c.source)
        self.source_code = np.concatenate(
            [self.source_code, [codes.get(c.source, -1) if c.source else -1 for c in chunks]]
        ).astype(np.int32)
        dates = [math.nan if c.published_at is None else c.published_at for c in chunks]
        self.published = np.concatenate([self.published, dates])
        vecs = vectors.astype(np.float32, copy=False)
        self.vectors = vecs if not len(self.vectors) else np.concatenate([self.vectors, vecs])
        self.live = np.concatenate([self.live, np.ones(len(chunks), dtype=bool)])
        self.keywords.append([f"{c.title}\n{c.text}" for c in chunks])

    def _compact(self) -> None:
        if self.live.all():
            return
        keep = np.flatnonzero(self.live)
        self.ids = [self.ids[i] for i in keep]
        self.row = {c: i for i, c in enumerate(self.ids)}
        self.article_of = self.article_of[keep]
        self.source_code = self.source_code[keep]
        self.published = self.published[keep]
        self.vectors = self.vectors[keep]
        self.live = self.live[keep]
        self.keywords.keep_rows(keep)

    # --- searching ------------------------------------------------------------------------

    def allowed(self, filters: Filters | None) -> np.ndarray:
        """The live rows `filters` let through, by the filters' own rules (`Filters.admits`
        of every chunk): `wants_source` of each distinct source, `in_window` of the date
        column at once (undated rows are nan)."""
        mask = self.live.copy()
        if not filters:
            return mask
        if filters.sources:
            codes = [i for i, s in enumerate(self.sources) if filters.wants_source(s)]
            mask &= np.isin(self.source_code, codes)
        mask &= filters.in_window(self.published)
        return mask

    def describe(self) -> tuple[list[str], float | None, float | None]:
        """The sources and the publication date range of the indexed chunks, to tell a user
        whose filter matches nothing what there is."""
        live_codes = set(self.source_code[self.live].tolist()) - {-1}
        sources = sorted((self.sources[c] for c in live_codes), key=str.casefold)
        dates = self.published[self.live]
        dates = dates[~np.isnan(dates)]
        if not len(dates):
            return sources, None, None
        return sources, float(dates.min()), float(dates.max())

    def keyword(self, query: str, n: int, allowed: np.ndarray) -> list[Hit]:
        scores = self.keywords.scores(query, allowed)
        return self._top(scores, n, scores > 0)

    def exact(self, vector: np.ndarray, n: int, allowed: np.ndarray) -> list[Hit]:
        if not allowed.any():  # also an empty index, whose matrix has no columns yet
            return []
        vector = vector.astype(np.float32, copy=False)
        if allowed.all():  # no copy of the matrix for the common unfiltered case
            return self._top(self.vectors @ vector, n, allowed)
        rows = np.flatnonzero(allowed)
        full = np.full(len(self.ids), -np.inf, dtype=np.float32)
        full[rows] = self.vectors[rows] @ vector
        return self._top(full, n, allowed)

    def dense(
        self, store: ChromaStore, vector: np.ndarray, n: int, allowed: np.ndarray
    ) -> list[Hit]:
        """Exact search over small allowed sets; Chroma's HNSW, over-fetched and masked, over
        large ones (falling back to exact if the mask leaves too few)."""
        n_allowed = int(allowed.sum())
        if n_allowed <= EXACT_ROWS:
            return self.exact(vector, n, allowed)
        share = n_allowed / max(1, len(self))
        want = min(len(self), n if share >= 0.999 else math.ceil(2 * n / share))
        hits = [
            Hit(i, s)
            for i, s in store.nearest(vector, want)
            if i in self.row and allowed[self.row[i]]
        ]
        return hits[:n] if len(hits) >= n else self.exact(vector, n, allowed)

    def _top(self, scores: np.ndarray, n: int, ok: np.ndarray) -> list[Hit]:
        n = min(n, int(ok.sum()))
        if n <= 0:
            return []
        scores = np.where(ok, scores, -np.inf)
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [Hit(self.ids[i], float(scores[i])) for i in top]

    # --- saving ---------------------------------------------------------------------------

    def save(self) -> None:
        """One file, replaced atomically: a crash leaves the old index, which sync repairs."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tf = self.keywords.tf.tocsr()
        meta = {
            "format": FORMAT,
            "generation": self.generation,
            "articles": self.articles,
            "sources": self.sources,
        }
        with open(tmp, "wb") as f:
            np.savez(
                f,
                meta=np.array(json.dumps(meta)),
                vocab=np.array(json.dumps(self.keywords.vocab)),
                ids=np.array(self.ids, dtype=str),
                article_of=np.array(list(self.article_of), dtype=str),
                source_code=self.source_code,
                published=self.published,
                vectors=self.vectors,
                tf_data=tf.data,
                tf_indices=tf.indices,
                tf_indptr=tf.indptr,
                tf_shape=np.array(tf.shape),
            )
        os.replace(tmp, self.path)

    @classmethod
    def load(cls, path: Path) -> SearchIndex:
        """The saved index, or an empty one if there is none (or it is unreadable: it is only a
        cache of Chroma and is rebuilt by the next sync)."""
        index = cls(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("format") != FORMAT:
                    return index
                index.generation = meta["generation"]
                index.articles = meta["articles"]
                index.sources = meta["sources"]
                index.ids = z["ids"].tolist()
                index.article_of = z["article_of"].astype(object)
                index.source_code = z["source_code"]
                index.published = z["published"]
                index.vectors = z["vectors"]
                tf = sparse.csr_matrix(
                    (z["tf_data"], z["tf_indices"], z["tf_indptr"]), shape=tuple(z["tf_shape"])
                )
                index.keywords = KeywordIndex(vocab=json.loads(str(z["vocab"])), tf=tf)
        except Exception:  # noqa: BLE001 - any damage means "rebuild from Chroma"
            return cls(path)
        index.row = {c: i for i, c in enumerate(index.ids)}
        index.live = np.ones(len(index.ids), dtype=bool)
        return index
