"""Articles in, chunks and vectors out: skip unchanged articles, replace changed ones.

Embedding dominates ingest time, so chunks of several articles are embedded in one batch;
each article is then written on its own, its record last, so a crash never leaves half an
article that looks complete. Groups are small so that a killed ingest loses little embedding
work: re-running it skips every article already committed.

Writers hold the data directory's `IngestLock` (index/lock.py); the orphan sweep runs only under
it, because another process's half-written article looks exactly like a crash's leftover.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from index.embed import Embedder
from index.errors import StoreError
from index.injection import flag_sentences
from index.load import GZIP_SUFFIXES, RECORD_SUFFIXES, LoadProblem, file_kind, slug
from index.lock import IngestLock
from index.split import chunk_article, sentence_spans
from index.store import INJECTION_KEY, SENTENCE_VECTORS_VERSION, ChromaStore, SentenceVectors
from index.types import Article, Chunk, IngestItem, IngestReport, Span

_EMBED_GROUP = 64  # chunks embedded per call across articles (two batches of the embedder)
# What an index's vectors are computed from; part of eval index names so an old index is not
# reused. 2: the headline before every chunk's text (1: the text alone); 3: and every sentence
# embedded alone and stored; 5: and every sentence read after the one before it, stored too
# (`sentence_vector_texts`; 4, never released, stored the two mixed).
EMBED_TEXT_VERSION = 5


def embed_text(chunk: Chunk) -> str:
    """The text a chunk is embedded as: its article's headline, then the chunk.

    In news the headline names the who and what that later paragraphs only refer to ("he",
    "the company"), so without it a chunk deep in the right article loses to a look-alike
    story's chunk that repeats the topic words. BM25 already indexes title + text."""
    return f"{chunk.title}\n{chunk.text}" if chunk.title else chunk.text


def sweep_if_idle(store: ChromaStore, data_dir: Path) -> int:
    """Delete leftovers of an interrupted ingest unless some process is writing right now.

    The writer's in-flight chunks are not leftovers (and it sweeps itself, under the lock,
    before it writes). A read-only data directory cannot be swept: it is left as it is.
    """
    lock = IngestLock(data_dir, timeout=0)
    try:
        if not lock.try_acquire():
            return 0
    except StoreError:
        return 0
    try:
        return store.sweep_orphans()
    finally:
        lock.release()


class IngestInterrupted(KeyboardInterrupt):
    """Ctrl-C during an ingest, after the group in flight was committed; `report` says what
    is in the index (a re-run adds only the rest). Still a KeyboardInterrupt for callers that
    only know that."""

    def __init__(self, report: IngestReport) -> None:
        super().__init__(report.summary())
        self.report = report


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Ignore Ctrl-C in this block (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Indexer:
    def __init__(
        self,
        store: ChromaStore,
        embedder: Embedder,
        *,
        chunk_tokens: int,
        overlap_sentences: int,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.chunk_tokens = chunk_tokens
        self.overlap_sentences = overlap_sentences

    def chunk(self, article: Article, spans: Sequence[Span] | None = None) -> list[Chunk]:
        return chunk_article(
            article,
            self.embedder.count_tokens,
            target_tokens=self.chunk_tokens,
            max_tokens=self.embedder.max_tokens,
            overlap_sentences=self.overlap_sentences,
            spans=spans,
        )

    @staticmethod
    def flagged(article: Article) -> tuple[Article, list[Span]]:
        """The article with its injection flags (`Article.injection`), and its sentences.

        Flagged here, once, from the split chunking uses anyway (the detector adds 1.3 ms an
        article of the news eval set to ingest). The answer path used to split the whole
        article again and run the detector on every sentence for every free quote it checked
        (qa/cite.py): 9 ms p50 for a news-set article, 23-45 ms for the 3,800-character sample
        article (two runs on 2 busy cores); reading the stored flags takes 2-4 microseconds."""
        spans = sentence_spans(article.text)
        return dataclasses.replace(article, injection=flag_sentences(article.text, spans)), spans

    def add(
        self,
        items: Iterable[Article | LoadProblem],
        *,
        progress: bool = False,
        replace: bool = False,
        total: int | None = None,
    ) -> IngestReport:
        """Index `items`; `total` (if known) gives the progress bar its ETA. An article whose
        id is taken by another source's different text is added beside it under a qualified
        id, never over it, unless `replace` (see `_place`)."""
        started = time.perf_counter()
        report: list[IngestItem] = []
        pending: list[tuple[Article, list[Chunk], str, str | None]] = []
        # ids taken in this run (their records may not be written yet): id -> (text hash,
        # origin as shown)
        claimed: dict[str, tuple[str, str]] = {}
        # unchanged articles whose records (from an older citeqa) lack injection flags
        unflagged: dict[str, tuple[Span, ...]] = {}
        # One group is embedded and written by a worker while this thread reads and splits
        # the next (pysbd holds the GIL; ONNX Runtime and Chroma release it). At most one group
        # is in flight, and groups are written in order, so crash safety is as before.
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citeqa-embed")
        in_flight: Future[list[IngestItem]] | None = None

        def settle() -> None:
            nonlocal in_flight
            if in_flight is not None:
                done, in_flight = in_flight, None
                report.extend(done.result())

        def flush() -> None:
            nonlocal in_flight
            if not pending:
                return
            group = list(pending)
            pending.clear()
            settle()
            in_flight = worker.submit(self._embed_and_write, group, progress)

        try:
            bar = tqdm(
                items,
                desc="Ingesting",
                unit="article",
                total=total,
                disable=not progress,
                leave=False,
            )
            for item in bar:
                if isinstance(item, LoadProblem):
                    report.append(
                        IngestItem(origin=item.origin, status="rejected", reason=item.reason)
                    )
                    continue
                placed = self._place(item, claimed, unflagged, replace=replace)
                if isinstance(placed, IngestItem):
                    report.append(placed)
                    continue
                item, meta, note = placed
                claimed[item.id] = (item.text_hash, item.origin or item.id)
                item, spans = self.flagged(item)
                chunks = self.chunk(item, spans)
                status = "replaced" if meta is not None else "added"
                pending.append((item, chunks, status, note))
                if sum(len(p[1]) for p in pending) >= _EMBED_GROUP:
                    flush()
            flush()
            settle()  # written after the last group, so no two threads write at once
            self.store.set_injection_flags(unflagged)
        except KeyboardInterrupt:
            # The group already embedding is still written (nothing embedded is lost); more
            # Ctrl-Cs meanwhile are held back, because leaving while ONNX Runtime's thread runs
            # aborted the process ("terminate called without an active exception").
            with _sigint_held():
                try:
                    settle()
                finally:
                    worker.shutdown(wait=True)
            raise IngestInterrupted(
                IngestReport(tuple(report), seconds=time.perf_counter() - started)
            ) from None
        finally:
            # Also on an error while reading: the group in flight is written, then it goes on.
            try:
                settle()
            finally:
                worker.shutdown(wait=True)
        return IngestReport(tuple(report), seconds=time.perf_counter() - started)

    def edit_details(
        self, article_id: str, *, title: str, source: str | None, published_at: float | None
    ) -> bool:
        """Give an ingested article a new title, source and date (see
        `ChromaStore.edit_details`); False if there is no such article.

        A new title re-embeds the article's chunks: each is embedded as headline + text
        (`embed_text`), and keeping the old headline's vectors would keep retrieval finding it
        by the old title. That is one embedding per chunk (a news article has a handful: well
        under a second). Sentence vectors are of the sentence alone and stay. A new source or
        date alone embeds nothing. Re-ingesting the same file afterwards finds its text
        unchanged and keeps the edit; a changed text replaces the article, edit and all."""
        record = self.store.article_meta(article_id)
        if record is None:
            return False
        vectors = None
        if title != record.get("title"):
            chunks = self.store.article_chunks(article_id)
            texts = [embed_text(dataclasses.replace(c, title=title)) for c in chunks]
            vectors = dict(zip([c.id for c in chunks], self.embedder.embed(texts), strict=True))
        return self.store.edit_details(
            article_id, title=title, source=source, published_at=published_at, vectors=vectors
        )

    def _place(
        self,
        item: Article,
        claimed: dict[str, tuple[str, str]],
        unflagged: dict[str, tuple[Span, ...]],
        *,
        replace: bool,
    ) -> tuple[Article, dict[str, Any] | None, str | None] | IngestItem:
        """Where `item` goes: (the article under its final id, the stored record it updates or
        None, a note for the report), or the report line when there is nothing to write.

        Ids come from file names or feed ids, which collide across folders and feeds
        (`siteA/index.html`, `siteB/index.html`; two feeds numbering items from 1). The old rule,
        "same id replaces", silently lost the first story. Now an id is updated only by the
        same source (the same file re-ingested, or an `Article` given again through the API) or
        with `replace`; otherwise the newcomer takes the first free id of `candidate_ids`, which
        qualifies it with its folder or feed name, and the report names both sources."""
        key = item.origin_path
        candidates = candidate_ids(item)
        metas = self.store.article_metas(candidates)
        # A candidate this very source already holds is its article (also when the id it
        # first lost to has since been removed): update that one, never add a second copy.
        held = next(
            (
                c
                for c in candidates
                if key is not None and (metas.get(c) or {}).get("origin_path") == key
            ),
            None,
        )
        taken_by: tuple[str, str] | None = None  # (id, origin) of the first collision
        for n, cand in enumerate(candidates):
            if held is not None and cand != held:
                continue
            run = claimed.get(cand)
            if run is not None:
                if run[0] == item.text_hash:
                    return IngestItem(
                        origin=item.origin or item.id,
                        status="unchanged",
                        article_id=cand,
                        title=item.title,
                        reason=f"the same text as {run[1]}, earlier in this run",
                    )
                taken_by = taken_by or (cand, run[1])
                continue
            meta = metas.get(cand)
            article = item if cand == item.id else dataclasses.replace(item, id=cand)
            if meta is None:
                return article, None, _collision_note(item, taken_by, cand)
            if (
                meta.get("text_hash") == item.text_hash
                and meta.get("sentences") != SENTENCE_VECTORS_VERSION
            ):
                # Written before sentence vectors were stored, or stored of an older kind:
                # write it again to store them (the context then embeds nothing at question
                # time, and every article's sentences are ranked alike).
                return article, meta, "stored its sentence vectors (indexed by an older citeqa)"
            if meta.get("text_hash") == item.text_hash and "minhash" not in meta:
                # Written before copy signatures: write it again so its copies fold.
                return article, meta, "stored its copy signature (indexed by an older citeqa)"
            if meta.get("text_hash") == item.text_hash:
                note = None
                if INJECTION_KEY not in meta:
                    # Written before injection flags were stored: flag its sentences now and
                    # store them in its record (`add` does, after the last write). No embedding.
                    unflagged[cand] = flag_sentences(item.text, sentence_spans(item.text))
                    note = "stored its injection flags (indexed by an older citeqa)"
                return IngestItem(
                    origin=item.origin or item.id,
                    status="unchanged",
                    article_id=cand,
                    title=item.title,
                    chunks=int(meta.get("n_chunks", 0)),
                    reason=note,
                )
            if cand == held or (replace and n == 0) or _same_source(meta, item, key):
                return article, meta, None
            taken_by = taken_by or (cand, str(meta.get("origin") or cand))
        raise AssertionError("the last candidate id holds a content hash: it cannot be taken")

    def _embed_and_write(
        self, group: list[tuple[Article, list[Chunk], str, str | None]], progress: bool
    ) -> list[IngestItem]:
        texts = [embed_text(c) for _, chunks, _, _ in group for c in chunks]
        spans = {a.id: article_sentences(chunks) for a, chunks, _, _ in group}
        parts = [sentence_vector_texts(a.text, spans[a.id]) for a, _, _, _ in group]
        sentence_texts = [t for alone, windows in parts for t in (*alone, *windows)]
        big = progress and len(texts) + len(sentence_texts) > 256
        vectors = self.embedder.embed(texts, progress=big)
        read = self.embedder.embed(sentence_texts, progress=big, grouped=True)
        offset, writes = 0, []
        for article, chunks, _, _ in group:
            writes.append((article, chunks, vectors[offset : offset + len(chunks)]))
            offset += len(chunks)
        at, sentences = 0, {}
        for (article, _, _, _), (alone, windows) in zip(group, parts, strict=True):
            n, m = len(alone), len(windows)
            own = read[at : at + n]
            # The first sentence has no sentence before it: its window is itself.
            sentences[article.id] = SentenceVectors(
                spans[article.id], own, np.concatenate([own[:1], read[at + n : at + n + m]])
            )
            at += n + m
        self.store.write_articles(writes, sentences)
        return [
            IngestItem(
                origin=article.origin or article.id,
                status=status,  # type: ignore[arg-type]
                article_id=article.id,
                title=article.title,
                chunks=len(chunks),
                reason="; ".join(n for n in (note, *article.notes) if n) or None,
            )
            for article, chunks, status, note in group
        ]


def sentence_vector_texts(text: str, spans: Sequence[Span]) -> tuple[list[str], list[str]]:
    """What each sentence is embedded as: alone, and read after the sentence before it (the
    first sentence has no window: its own text stands for both, so it is embedded once)."""
    alone = [text[s.start : s.end] for s in spans]
    return alone, [f"{alone[i - 1]} {alone[i]}" for i in range(1, len(alone))]


def article_sentences(chunks: Sequence[Chunk]) -> tuple[Span, ...]:
    """The article's sentences, once each (neighbouring chunks share one), in order."""
    return tuple(sorted({s for c in chunks for s in c.sentences}, key=lambda s: s.start))


def candidate_ids(article: Article) -> list[str]:
    """The ids `article` may take, in order: its own, then qualified by its folder (for a file)
    or its feed file's name (for a JSONL record) and the folder above, then its own with a
    content hash. Stable: the same file gets the same id on every re-ingest."""
    out = [article.id]
    if article.origin_path:
        p = Path(article.origin_path)
        kind = file_kind(p)
        records = kind in RECORD_SUFFIXES or kind in GZIP_SUFFIXES
        names = [p.name[: -len(kind)], p.parent.name] if records else []
        names += [p.parent.name, p.parent.parent.name] if not names else [p.parent.parent.name]
        prefix = ""
        for name in names:
            part = slug(name)
            if part:
                prefix = f"{part}-{prefix}"
                out.append(f"{prefix}{article.id}")
    out.append(f"{article.id}-{article.text_hash[:8]}")
    return list(dict.fromkeys(out))


def _same_source(meta: dict[str, Any], item: Article, key: str | None) -> bool:
    """Whether the stored record came from where `item` comes from, so `item` updates it."""
    if meta.get("origin_path") is not None or key is not None:
        return meta.get("origin_path") == key
    # Both without a file: an Article given through the API under an id its caller chose, or
    # an index from before origin_path was kept (then compare the file named, without ":line").
    return _file_part(meta.get("origin")) == _file_part(item.origin)


def _file_part(origin: str | None) -> str | None:
    if origin is None:
        return None
    head, sep, tail = origin.rpartition(":")
    return head if sep and tail.isdigit() else origin


def _collision_note(item: Article, taken_by: tuple[str, str] | None, final: str) -> str | None:
    if taken_by is None:
        return None
    taken_id, other = taken_by
    return (
        f"id '{taken_id}' is taken by {other} (other text), so this was added as '{final}' "
        f"and both are kept; to update '{taken_id}' with this text instead, re-run with --replace"
    )
