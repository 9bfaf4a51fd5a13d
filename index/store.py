"""Chroma, embedded on disk or as a server, holding chunks (with vectors) and whole articles.

Articles live in Chroma too (a second collection) so that several UI/API processes sharing one
Chroma server see the same texts that offsets refer to. An article's record is written last and
acts as the commit marker of its ingest: chunks without a matching record are leftovers of an
interrupted ingest and are swept on open.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from index.copies import signature
from index.errors import NoIndexError, StoreError
from index.types import Article, Chunk, Span

MAX_BATCH = 1000  # Chroma rejects more than ~5,400 records a call
# Free space a write batch needs on top of its own size: SQLite's journal and Chroma's
# compaction copy segments, and a write that hits a full disk fails half-way through Chroma.
MIN_FREE_BYTES = 32 * 2**20
LEGACY_VECTORS = "all-MiniLM-L6-v2/float"  # indexes from before the family was recorded
# An article record's injection flags (`Article.injection`), as JSON spans; absent in records
# written before they were stored. Internal, like the copy signature: not listed to users.
INJECTION_KEY = "injection"
_INTERNAL = frozenset({"minhash", INJECTION_KEY})


@dataclass(frozen=True, slots=True)
class Filters:
    """Metadata filters: any of `sources`; `published_after` <= published_at <= `..._before`.

    The one statement of what they let through: `wants_source` (the source rule) and
    `in_window` (the date rule). The page's article count and tests ask `admits`/`matches` of
    one record, the search index (`SearchIndex.allowed`) asks the same two of every chunk at
    once, and `to_where` writes them for Chroma; tests/index/test_filter_semantics.py checks all
    three agree on a table of cases."""

    sources: tuple[str, ...] = ()
    published_after: float | None = None
    published_before: float | None = None

    def __bool__(self) -> bool:
        return (
            bool(self.sources)
            or self.published_after is not None
            or (self.published_before is not None)
        )

    def wants_source(self, source: str | None) -> bool:
        """Sources match case-insensitively: `--source afp` finds AFP's articles."""
        if not self.sources:
            return True
        return source is not None and source.casefold() in {s.casefold() for s in self.sources}

    def matches(self, chunk: Chunk) -> bool:
        return self.admits(chunk.source, chunk.published_at)

    def in_window(self, published_at: float | np.ndarray) -> bool | np.ndarray:
        """Whether a date (epoch seconds; nan: none) is within the bounds, both inclusive. An
        undated article passes only when there is no bound (nan compares False). Written once
        for a float and for a numpy array alike, so the search index masks its whole date
        column with this very expression: 0.17 ms for 100k chunks, where asking `admits` of
        each took 31 ms."""
        ok: bool | np.ndarray = True
        if self.published_after is not None:
            ok = ok & (published_at >= self.published_after)
        if self.published_before is not None:
            ok = ok & (published_at <= self.published_before)
        return ok

    def admits(self, source: str | None, published_at: float | None) -> bool:
        """Whether an article with this source and date passes (what `matches` asks of a
        chunk; the page asks it of article records before searching)."""
        if not self.wants_source(source):
            return False
        return bool(self.in_window(math.nan if published_at is None else published_at))

    def to_where(self, known_sources: Iterable[str] | None = None) -> dict[str, Any] | None:
        """Chroma's `where` for these filters. Chroma compares sources exactly, so given the
        sources the index holds (`known_sources`), the clause lists those that `wants_source`
        takes (`afp` finds `AFP`), and it selects what `admits` does; without them, the names
        as typed (exact case). An undated chunk has no `published_at` key, which a date
        clause never matches: the date rule of `in_window`."""
        clauses: list[dict[str, Any]] = []
        if self.sources:
            names = [s for s in known_sources or () if self.wants_source(s)]
            clauses.append({"source": {"$in": names or list(self.sources)}})
        if self.published_after is not None:
            clauses.append({"published_at": {"$gte": self.published_after}})
        if self.published_before is not None:
            clauses.append({"published_at": {"$lte": self.published_before}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def index_exists(data_dir: Path) -> bool:
    """Whether `data_dir` holds an embedded citeqa index (Chroma's database file)."""
    return (data_dir / "chroma" / "chroma.sqlite3").is_file()


def no_index_error(data_dir: Path) -> NoIndexError:
    """The message for a read command on a folder without an index: a mistyped --data-dir
    would otherwise look like an empty index and answer "The articles don't say." (exit 0)."""
    import difflib

    hint = ""
    parent = data_dir.parent
    try:
        siblings = [p.name for p in parent.iterdir() if p.is_dir() and index_exists(p)]
    except OSError:
        siblings = []
    close = difflib.get_close_matches(data_dir.name, siblings, n=1, cutoff=0.6)
    if close:
        hint = f" (did you mean {parent / close[0]}?)"
    return NoIndexError(
        f"No citeqa index at {data_dir}{hint}. Ingest articles first with "
        f"`citeqa ingest PATH --data-dir {data_dir}`."
    )


@contextmanager
def _opening(data_dir: Path) -> Iterator[None]:
    """One process at a time opens (and so maybe creates) the store: two first ingests started
    together raced in Chroma's schema creation ("table collections already exists", "database
    is locked", a half-made client; seen in CI). An advisory lock on a file beside the store,
    held only while the client is made; a read-only folder opens without it."""
    try:
        fh = open(data_dir / ".open.lock", "a")  # noqa: SIM115 - closed below
    except OSError:
        yield
        return
    try:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
    finally:
        fh.close()  # releases the lock


def _client(data_dir: Path, chroma_url: str | None) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if chroma_url:
        u = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
        if not u.hostname:
            raise StoreError(f"Invalid Chroma URL {chroma_url!r}; use http://host:port")
        try:
            client = chromadb.HttpClient(
                host=u.hostname,
                port=u.port or (443 if u.scheme == "https" else 8000),
                ssl=u.scheme == "https",
                settings=chroma_settings,
            )
            client.heartbeat()
        except Exception as e:
            raise StoreError(
                f"Cannot reach the Chroma server at {chroma_url} ({type(e).__name__}: {e}). "
                "Start it with `chroma run --path DIR --host HOST --port PORT`, or drop "
                "--chroma-url / CITEQA_CHROMA_URL to use the embedded store."
            ) from None
        return client
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with _opening(data_dir):
            return chromadb.PersistentClient(
                path=str(data_dir / "chroma"), settings=chroma_settings
            )
    except Exception as e:
        fix = (
            "It is read-only: make it writable or pass another --data-dir."
            if "readonly" in str(e) or not os.access(data_dir, os.W_OK)
            else "If it is corrupted, move it away and ingest again."
        )
        raise StoreError(
            f"Cannot open the index in {data_dir / 'chroma'} ({type(e).__name__}: {e}). {fix}"
        ) from None


class ChromaStore:
    """Chunks and articles in two Chroma collections. We always pass our own embeddings."""

    def __init__(
        self,
        data_dir: Path,
        *,
        chroma_url: str | None = None,
        name: str = "citeqa",
        vectors: str | None = None,
        create: bool = True,
    ):
        """`vectors` names the embedding family the caller will search with; an index whose
        chunks were embedded by another family is refused (its similarities would be wrong).
        With `create=False` (read commands) a missing index is a `NoIndexError`, and nothing is
        written to disk."""
        self.location = chroma_url or str(data_dir / "chroma")
        self.remote = chroma_url is not None
        self.data_dir = data_dir
        if not create and not self.remote and not index_exists(data_dir):
            raise no_index_error(data_dir)
        self._client = _client(data_dir, chroma_url)
        if not create and self.remote:
            try:
                self._client.get_collection(f"{name}_articles")
            except Exception:
                raise NoIndexError(
                    f"The Chroma server at {chroma_url} has no citeqa index named {name!r}. "
                    f"Ingest articles first with `citeqa ingest PATH --chroma-url {chroma_url}`."
                ) from None
        try:
            self._chunks = self._client.get_or_create_collection(
                f"{name}_chunks",
                embedding_function=None,
                metadata={"hnsw:space": "cosine"},
            )
            self._articles = self._client.get_or_create_collection(
                f"{name}_articles", embedding_function=None
            )
            # Every sentence's vector, computed at ingest: the context picks sentences by
            # similarity to the question, and embedding ~40 of them per question took 0.6 s
            # of the ~3.9 s to the first token (bench/RESULTS.md).
            self._sentences = self._client.get_or_create_collection(
                f"{name}_sentences", embedding_function=None, metadata={"hnsw:space": "cosine"}
            )
            self._state = self._client.get_or_create_collection(
                f"{name}_state", embedding_function=None
            )
            if self.generation() is None:
                self._bump()
            built_with = self._state_value("vectors")
        except Exception as e:
            raise StoreError(f"Cannot open collections in {self.location}: {e}") from None
        if vectors is None:
            return
        if built_with is None:  # new index, or one from before this was recorded (float)
            built_with = vectors if self.count_chunks() == 0 else LEGACY_VECTORS
            self._set_state("vectors", built_with)
        if built_with != vectors:
            raise StoreError(
                f"The index in {self.location} was built with {built_with} embeddings, but "
                f"embed_backend gives {vectors}. Set CITEQA_EMBED_BACKEND to match the index "
                "(onnx-int8 for int8, onnx or torch for float), or use a new --data-dir."
            )

    # --- articles -------------------------------------------------------------------------

    def article_meta(self, article_id: str) -> dict[str, Any] | None:
        got = self._articles.get(ids=[article_id], include=["metadatas"])
        return got["metadatas"][0] if got["ids"] else None

    def article_metas(self, article_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The records of those of `article_ids` that exist, in one call."""
        if not article_ids:
            return {}
        got = self._articles.get(ids=list(article_ids), include=["metadatas"])
        return dict(zip(got["ids"], got["metadatas"], strict=True))

    def get_article(self, article_id: str) -> Article | None:
        got = self._articles.get(ids=[article_id], include=["metadatas", "documents"])
        if not got["ids"]:
            return None
        return _article(got["ids"][0], got["documents"][0], got["metadatas"][0])

    def get_articles(self, ids: Sequence[str]) -> dict[str, Article]:
        if not ids:
            return {}
        got = self._articles.get(ids=list(ids), include=["metadatas", "documents"])
        return {
            i: _article(i, d, m)
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        }

    def list_articles(self) -> list[dict[str, Any]]:
        out = []
        for ids, metas, _ in self._scan(self._articles, documents=False):
            out += [
                {"id": i, **{k: v for k, v in m.items() if k not in _INTERNAL}}
                for i, m in zip(ids, metas, strict=True)
            ]
        return sorted(out, key=lambda a: (a.get("title") or "", a["id"]))

    def write_article(
        self,
        article: Article,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        sentences: SentenceVectors | None = None,
    ) -> None:
        """Replace one article and its chunks (see `write_articles`)."""
        self.write_articles(
            [(article, chunks, vectors)], {article.id: sentences} if sentences else None
        )

    def write_articles(
        self,
        items: Sequence[tuple[Article, Sequence[Chunk], np.ndarray]],
        sentences: Mapping[str, SentenceVectors] | None = None,
    ) -> None:
        """Replace several articles and their chunks (and, from `sentences`, their sentence
        vectors) in a handful of Chroma calls (one call per article made writes ~20% of ingest
        time). Every article's record is written after all chunks and sentences, in one
        upsert: a crash at any point leaves each article either complete or without a
        record, and record-less chunks and sentences are swept as leftovers."""
        if not items:
            return
        sentences = sentences or {}
        need = (
            MIN_FREE_BYTES
            + sum(4 * (len(a.text.encode()) + v.nbytes + 2048 * len(cs)) for a, cs, v in items)
            + sum(8 * (sv.vectors.nbytes + 256 * len(sv.spans)) for sv in sentences.values())
        )
        self.check_space(need)
        with self._disk_errors():
            self._write(items, sentences)

    @contextmanager
    def _disk_errors(self) -> Iterator[None]:
        """A write that fails because the disk filled up (Chroma's sqlite says so in many
        ways) is a `StoreError` saying how much room is needed; other errors pass as they are."""
        try:
            yield
        except StoreError:
            raise
        except Exception as e:
            if _disk_full(e) or self._free() < MIN_FREE_BYTES:
                raise self._full(MIN_FREE_BYTES) from None
            raise

    def _write(
        self,
        items: Sequence[tuple[Article, Sequence[Chunk], np.ndarray]],
        sentences: Mapping[str, SentenceVectors],
    ) -> None:
        ids = [a.id for a, _, _ in items]
        self._articles.delete(ids=ids)
        self._chunks.delete(where={"article_id": {"$in": ids}})
        self._sentences.delete(where={"article_id": {"$in": ids}})
        chunks = [c for _, cs, _ in items for c in cs]
        vectors = np.concatenate([v for _, cs, v in items if len(cs)] or [np.zeros((0, 1))])
        hashes = [a.text_hash for a, cs, _ in items for _ in cs]
        for i in range(0, len(chunks), MAX_BATCH):
            batch = chunks[i : i + MAX_BATCH]
            self._chunks.upsert(
                ids=[c.id for c in batch],
                embeddings=vectors[i : i + MAX_BATCH],
                documents=[c.text for c in batch],
                metadatas=[chunk_meta(c, h) for c, h in zip(batch, hashes[i:], strict=False)],
            )
        rows = [
            (sentence_id(a.id, span), v, {"article_id": a.id, "text_hash": a.text_hash})
            for a, _, _ in items
            if a.id in sentences
            for span, v in zip(sentences[a.id].spans, sentences[a.id].vectors, strict=True)
        ]
        rows += [
            (window_id(a.id, span), v, {"article_id": a.id, "text_hash": a.text_hash})
            for a, _, _ in items
            if a.id in sentences and sentences[a.id].windows is not None
            for span, v in zip(sentences[a.id].spans, sentences[a.id].windows, strict=True)
        ]
        for i in range(0, len(rows), MAX_BATCH):
            batch_rows = rows[i : i + MAX_BATCH]
            self._sentences.upsert(
                ids=[r[0] for r in batch_rows],
                embeddings=np.stack([r[1] for r in batch_rows]),
                metadatas=[r[2] for r in batch_rows],
            )
        for i in range(0, len(items), MAX_BATCH):
            batch_items = items[i : i + MAX_BATCH]
            self._articles.upsert(
                ids=[a.id for a, _, _ in batch_items],
                embeddings=[[1.0]] * len(batch_items),
                documents=[a.text for a, _, _ in batch_items],
                metadatas=[
                    _article_meta(a, len(cs), sentences=a.id in sentences)
                    for a, cs, _ in batch_items
                ],
            )
        self._bump()

    def _free(self) -> int:
        """Bytes free on the disk holding the index (a server's disk is not ours to see)."""
        if self.remote:
            return 2**62
        try:
            return shutil.disk_usage(self.data_dir).free
        except OSError:
            return 2**62

    def check_space(self, need: int) -> None:
        """Refuse a write the disk cannot hold, before any of it is made: a full disk part-way
        through Chroma's write gave raw compaction tracebacks."""
        if self._free() < need:
            raise self._full(need)

    def _full(self, need: int) -> StoreError:
        return StoreError(
            f"The disk holding {self.data_dir} is full: {self._free() / 1e6:,.1f} MB free, "
            f"about {need / 1e6:,.0f} MB needed for this write. Free some space and re-run: "
            "every article committed so far is kept, and a re-run adds only what is missing."
        )

    def article_chunks(self, article_id: str) -> list[Chunk]:
        """The chunks of the article's current text, in order (a crashed writer's leftovers of
        another text version are left out)."""
        meta = self.article_meta(article_id)
        if meta is None:
            return []
        got = self._chunks.get(where=_current(article_id, meta), include=["metadatas", "documents"])
        chunks = [
            _chunk(i, d, m)
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        ]
        return sorted(chunks, key=lambda c: c.index)

    def edit_details(
        self,
        article_id: str,
        *,
        title: str,
        source: str | None,
        published_at: float | None,
        vectors: Mapping[str, np.ndarray] | None = None,
    ) -> bool:
        """Set an article's title, source and date (None: it has none) after it was ingested;
        False if there is no such article. The text, and so every offset, stays as it is.

        Written where each value is read: on every chunk (the search index filters chunks by
        source and date, and a passage shows its chunk's title) and in the article record (the
        answer's source cards, the library). `vectors` (chunk id -> vector) replaces those
        chunks' embeddings: a chunk is embedded with its article's title (see
        `index.ingest.embed_text`), so a new title calls for new vectors; the caller makes them.

        The record is written last, as in `write_articles`, with a new `details_rev` stamp: the
        search index notices a changed article by `sync_key`, and an edit keeps the text hash.
        A crash part-way leaves chunks and record disagreeing until the edit is made again."""
        meta = self.article_meta(article_id)
        if meta is None:
            return False
        chunk_ids = self._chunks.get(where=_current(article_id, meta), include=[])["ids"]
        vectors = vectors or {}
        if vectors and set(vectors) != set(chunk_ids):
            raise ValueError(
                f"New vectors for {article_id!r} must be one for each of its {len(chunk_ids)} "
                "chunks, or none (when the title is unchanged)."
            )
        self.check_space(
            MIN_FREE_BYTES + sum(4 * v.nbytes for v in vectors.values()) + 2048 * len(chunk_ids)
        )
        details: dict[str, Any] = {"title": title, "source": source, "published_at": None}
        if published_at is not None:
            details["published_at"] = float(published_at)
        with self._disk_errors():
            # Chroma's update merges metadata into what is there; a None value deletes the key.
            for i in range(0, len(chunk_ids), MAX_BATCH):
                batch = chunk_ids[i : i + MAX_BATCH]
                self._chunks.update(
                    ids=batch,
                    metadatas=[dict(details) for _ in batch],
                    embeddings=np.stack([vectors[c] for c in batch]) if vectors else None,
                )
            self._articles.update(
                ids=[article_id], metadatas=[{**details, "details_rev": uuid.uuid4().hex}]
            )
        self._bump()
        return True

    def set_injection_flags(self, flags: Mapping[str, Sequence[Span]]) -> None:
        """Store injection flags (article id -> its flagged sentences) in records written
        before they were stored, without rewriting anything else: re-ingesting an unchanged
        article from an older index fills them in (a sentence split, no embedding). Not a
        change readers must notice (the text is the same), so the generation stays."""
        ids = list(self.article_metas(list(flags)))
        for i in range(0, len(ids), MAX_BATCH):
            batch = ids[i : i + MAX_BATCH]
            self._articles.update(
                ids=batch, metadatas=[{INJECTION_KEY: spans_json(flags[a])} for a in batch]
            )

    def delete_article(self, article_id: str) -> bool:
        existed = bool(self._articles.get(ids=[article_id])["ids"])
        self._articles.delete(ids=[article_id])
        self._chunks.delete(where={"article_id": article_id})
        self._sentences.delete(where={"article_id": article_id})
        self._bump()
        return existed

    def generation(self) -> str | None:
        """Changes whenever an article is written or removed, by any process: readers compare
        it to notice changes that keep the counts (a swap of one article for another)."""
        return self._state_value("generation")

    def _bump(self) -> None:
        """Called after a write, so a reader that sees the new value also sees the write."""
        self._set_state("generation", uuid.uuid4().hex)

    def _state_value(self, key: str) -> str | None:
        got = self._state.get(ids=[key], include=["metadatas"])
        return str(got["metadatas"][0]["value"]) if got["ids"] else None

    def _set_state(self, key: str, value: str) -> None:
        self._state.upsert(ids=[key], embeddings=[[1.0]], metadatas=[{"value": value}])

    # --- chunks ---------------------------------------------------------------------------

    def count_chunks(self) -> int:
        return int(self._chunks.count())

    def all_chunks(self) -> list[Chunk]:
        out: list[Chunk] = []
        for ids, metas, docs in self._scan(self._chunks, documents=True):
            out += [_chunk(i, d, m) for i, d, m in zip(ids, docs, metas, strict=True)]
        return out

    def dense_search(
        self, vector: np.ndarray, n: int, where: dict[str, Any] | None = None
    ) -> list[tuple[Chunk, float]]:
        if n <= 0 or self.count_chunks() == 0:
            return []
        res = self._chunks.query(
            query_embeddings=[vector],
            n_results=n,
            where=where,
            include=["metadatas", "documents", "distances"],
        )
        return [
            (_chunk(i, d, m), 1.0 - float(dist))
            for i, d, m, dist in zip(
                res["ids"][0],
                res["documents"][0],
                res["metadatas"][0],
                res["distances"][0],
                strict=True,
            )
        ]

    def article_hashes(self) -> dict[str, str]:
        """Each article's version as the search index compares it (id -> `sync_key`): its text
        hash, with the stamp of its last details edit if it has one."""
        out: dict[str, str] = {}
        for ids, metas, _ in self._scan(self._articles, documents=False):
            out |= {i: sync_key(m) for i, m in zip(ids, metas, strict=True)}
        return out

    def chunks_with_vectors(self, hashes: dict[str, str]) -> tuple[list[Chunk], np.ndarray]:
        """The chunks of these articles (id -> `sync_key`, as `article_hashes` gives) with their
        stored embeddings, for the search index. Chunks of another text version are a crashed
        writer's leftovers: skipped."""
        article_ids = sorted(hashes)
        chunks: list[Chunk] = []
        vectors: list[np.ndarray] = []
        for i in range(0, len(article_ids), 100):
            where = {"article_id": {"$in": list(article_ids[i : i + 100])}}
            offset = 0
            while True:
                got = self._chunks.get(
                    where=where,
                    include=["metadatas", "documents", "embeddings"],
                    limit=MAX_BATCH,
                    offset=offset,
                )
                if not got["ids"]:
                    break
                rows = [
                    r
                    for r, m in enumerate(got["metadatas"])
                    if text_hash_of(hashes.get(m["article_id"])) == m.get("text_hash")
                ]
                chunks += [
                    _chunk(got["ids"][r], got["documents"][r], got["metadatas"][r]) for r in rows
                ]
                vectors.append(np.asarray(got["embeddings"], dtype=np.float32)[rows])
                offset += len(got["ids"])
        if not vectors:
            return [], np.zeros((0, 0), dtype=np.float32)
        return chunks, np.concatenate(vectors)

    def get_chunks(self, ids: Sequence[str]) -> list[Chunk]:
        """Chunks by id, in the order asked; ids that no longer exist are left out."""
        if not ids:
            return []
        got = self._chunks.get(ids=list(ids), include=["metadatas", "documents"])
        by_id = {
            c: _chunk(c, d, m)
            for c, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        }
        return [by_id[i] for i in ids if i in by_id]

    def first_chunks(self, article_ids: Sequence[str]) -> list[Chunk]:
        """Chunk 0 of each of these articles (those that exist), in one call."""
        if not article_ids:
            return []
        got = self._chunks.get(
            where={"$and": [{"article_id": {"$in": list(article_ids)}}, {"index": 0}]},
            include=["metadatas", "documents"],
        )
        return [
            _chunk(c, d, m)
            for c, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        ]

    def sentence_vectors(
        self, keys: Sequence[tuple[str, Span]], *, window: bool = False
    ) -> dict[tuple[str, int], np.ndarray]:
        """Stored vectors of these (article id, sentence span)s, keyed (article id, start):
        each sentence alone, or with `window` read after the sentence before it. Those not
        stored (an index made before sentences, or their windows, were embedded at ingest)
        are left out for the caller to embed or do without."""
        if not keys:
            return {}
        name = window_id if window else sentence_id
        got = self._sentences.get(
            ids=list(dict.fromkeys(name(a, s) for a, s in keys)), include=["embeddings"]
        )
        by_id = dict(zip(got["ids"], got["embeddings"], strict=True))
        out: dict[tuple[str, int], np.ndarray] = {}
        for a, s in keys:
            v = by_id.get(name(a, s))
            if v is not None:
                out[(a, s.start)] = np.asarray(v, dtype=np.float32)
        return out

    def nearest(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """Approximate nearest chunk ids by cosine similarity (Chroma's HNSW), ids only. The
        caller keeps `n` within the number of chunks (counting them costs a query each time)."""
        if n <= 0:
            return []
        res = self._chunks.query(query_embeddings=[vector], n_results=n, include=["distances"])
        return [
            (i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)
        ]

    def sweep_orphans(self) -> int:
        """Delete chunks whose article record is missing or is of another text version.

        Not on a Chroma server: a writer on another machine (which our file lock cannot see)
        may be mid-article. Leftovers there are only wasted space: retrieval reads chunks
        through their article's current text hash (see `chunks_with_vectors`)."""
        if self.remote:
            return 0
        hashes = {a["id"]: a.get("text_hash") for a in self.list_articles()}
        orphans: list[str] = []
        for ids, metas, _ in self._scan(self._chunks, documents=False):
            orphans += [
                i
                for i, m in zip(ids, metas, strict=True)
                if m.get("article_id") not in hashes
                or hashes[m["article_id"]] != m.get("text_hash")
            ]
        for i in range(0, len(orphans), MAX_BATCH):
            self._chunks.delete(ids=orphans[i : i + MAX_BATCH])
        stale: list[str] = []
        for ids, metas, _ in self._scan(self._sentences, documents=False):
            stale += [
                i
                for i, m in zip(ids, metas, strict=True)
                if hashes.get(m.get("article_id")) != m.get("text_hash")
            ]
        for i in range(0, len(stale), MAX_BATCH):
            self._sentences.delete(ids=stale[i : i + MAX_BATCH])
        return len(orphans)

    @staticmethod
    def _scan(collection: Any, *, documents: bool) -> Iterator[tuple[list, list, list]]:
        include = ["metadatas", "documents"] if documents else ["metadatas"]
        offset = 0
        while True:
            got = collection.get(include=include, limit=MAX_BATCH, offset=offset)
            if not got["ids"]:
                return
            yield got["ids"], got["metadatas"], got.get("documents") or [None] * len(got["ids"])
            offset += len(got["ids"])


@dataclass(frozen=True, slots=True)
class SentenceVectors:
    """One article's sentences (absolute spans) and their vectors, row for row: each sentence
    embedded alone, and (`windows`) read after the sentence before it (the first: alone)."""

    spans: tuple[Span, ...]
    vectors: np.ndarray
    windows: np.ndarray | None = None


# What is stored of each sentence: 1, its vector alone; 2, and its vector read after the
# sentence before it (a second record, `window_id`).
SENTENCE_VECTORS_VERSION = 2


def sentence_id(article_id: str, span: Span) -> str:
    return f"{article_id}#{span.start}-{span.end}"


def window_id(article_id: str, span: Span) -> str:
    """The record of the sentence read after the one before it."""
    return f"{sentence_id(article_id, span)}~w"


def spans_json(spans: Sequence[Span]) -> str:
    """Spans as Chroma metadata (a JSON string: metadata values are scalars)."""
    return json.dumps([[s.start, s.end] for s in spans])


def _spans(text: str) -> tuple[Span, ...]:
    return tuple(Span(s, e) for s, e in json.loads(text))


def _current(article_id: str, meta: Mapping[str, Any]) -> dict[str, Any]:
    """Chroma's `where` for the chunks of the article's current text (not a crashed writer's
    leftovers of another version)."""
    return {"$and": [{"article_id": article_id}, {"text_hash": meta.get("text_hash")}]}


def sync_key(meta: Mapping[str, Any]) -> str:
    """An article record's version for the search index: its text hash, then `+` and the stamp
    of its last details edit (`ChromaStore.edit_details`). An edit keeps the text, so the hash
    alone would not show it, and the index would filter by the old source and date; records
    never edited keep the bare hash, so indexes saved before edits existed stay in sync."""
    text_hash = str(meta.get("text_hash"))
    rev = meta.get("details_rev")
    return f"{text_hash}+{rev}" if rev else text_hash


def text_hash_of(key: str | None) -> str | None:
    """The text hash in a `sync_key` (what the article's chunks carry)."""
    return key.partition("+")[0] if key is not None else None


def _disk_full(e: BaseException) -> bool:
    """Whether a Chroma/SQLite/OS error means the disk is full (their messages differ)."""
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return True
    text = str(e).lower()
    return any(
        k in text
        for k in ("disk is full", "no space left", "database or disk is full", "compaction")
    )


def _article_meta(article: Article, n_chunks: int, *, sentences: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "title": article.title,
        "text_hash": article.text_hash,
        "n_chunks": n_chunks,
        "chars": len(article.text),
        "minhash": signature(article.text),  # wire copies fold at question time
    }
    if sentences:
        # Its sentence vectors are stored, of this version (ingest re-writes one without, or
        # with an older version's).
        meta["sentences"] = SENTENCE_VECTORS_VERSION
    if article.injection is not None:
        meta[INJECTION_KEY] = spans_json(article.injection)
    for key in ("url", "source", "published_at", "origin", "origin_path"):
        value = getattr(article, key)
        if value is not None:
            meta[key] = value
    return meta


def chunk_meta(c: Chunk, text_hash: str) -> dict[str, Any]:
    """A chunk's Chroma metadata, as `ChromaStore` writes it and reads it back. Public because
    the retrieval benchmark writes its synthetic chunks to the store in bulk in this format."""
    meta: dict[str, Any] = {
        "article_id": c.article_id,
        "index": c.index,
        "start": c.start,
        "end": c.end,
        "title": c.title,
        "text_hash": text_hash,
        "sentences": spans_json(c.sentences),
    }
    if c.source is not None:
        meta["source"] = c.source
    if c.published_at is not None:
        meta["published_at"] = float(c.published_at)
    return meta


def _chunk(chunk_id: str, text: str | None, m: dict[str, Any]) -> Chunk:
    return Chunk(
        id=chunk_id,
        article_id=m["article_id"],
        index=int(m["index"]),
        start=int(m["start"]),
        end=int(m["end"]),
        text=text or "",
        sentences=_spans(m.get("sentences", "[]")),
        title=m.get("title", ""),
        source=m.get("source"),
        published_at=m.get("published_at"),
    )


def _article(article_id: str, text: str, m: dict[str, Any]) -> Article:
    return Article(
        id=article_id,
        title=m.get("title", article_id),
        text=text,
        url=m.get("url"),
        source=m.get("source"),
        published_at=m.get("published_at"),
        origin=m.get("origin"),
        origin_path=m.get("origin_path"),
        injection=_spans(m[INJECTION_KEY]) if INJECTION_KEY in m else None,
    )
