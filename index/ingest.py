"""Articles in, chunks and vectors out: skip unchanged articles, replace changed ones.

Embedding dominates ingest time, so chunks of several articles are embedded in one batch;
each article is then written on its own, its record last, so a crash never leaves half an
article that looks complete. Groups are small so that a killed ingest loses little embedding
work: re-running it skips every article already committed.

Writers hold the data directory's `IngestLock` (index/lock.py); the orphan sweep runs only under
it, because another process's half-written article looks exactly like a crash's leftover.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from index.embed import Embedder
from index.load import LoadProblem
from index.lock import IngestLock
from index.split import chunk_article
from index.store import ChromaStore
from qa.errors import StoreError
from qa.types import Article, Chunk, IngestItem, IngestReport

_EMBED_GROUP = 64  # chunks embedded per call across articles (two batches of the embedder)


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

    def chunk(self, article: Article) -> list[Chunk]:
        return chunk_article(
            article,
            self.embedder.count_tokens,
            target_tokens=self.chunk_tokens,
            max_tokens=self.embedder.max_tokens,
            overlap_sentences=self.overlap_sentences,
        )

    def add(
        self, items: Iterable[Article | LoadProblem], *, progress: bool = False
    ) -> IngestReport:
        started = time.perf_counter()
        report: list[IngestItem] = []
        pending: list[tuple[Article, list[Chunk], str]] = []
        seen_in_run: dict[str, str] = {}
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
            bar = tqdm(items, desc="Ingesting", unit="article", disable=not progress, leave=False)
            for item in bar:
                if isinstance(item, LoadProblem):
                    report.append(
                        IngestItem(origin=item.origin, status="rejected", reason=item.reason)
                    )
                    continue
                if seen_in_run.get(item.id, item.text_hash) != item.text_hash:
                    report.append(
                        IngestItem(
                            origin=item.origin or item.id,
                            status="rejected",
                            article_id=item.id,
                            reason=(
                                f"id '{item.id}' was already ingested in this run with other text"
                            ),
                        )
                    )
                    continue
                seen_in_run[item.id] = item.text_hash
                meta = self.store.article_meta(item.id)
                if meta is not None and meta.get("text_hash") == item.text_hash:
                    report.append(
                        IngestItem(
                            origin=item.origin or item.id,
                            status="unchanged",
                            article_id=item.id,
                            title=item.title,
                            chunks=int(meta.get("n_chunks", 0)),
                        )
                    )
                    continue
                chunks = self.chunk(item)
                pending.append((item, chunks, "replaced" if meta is not None else "added"))
                if sum(len(c) for _, c, _ in pending) >= _EMBED_GROUP:
                    flush()
            flush()
        finally:
            # Also on an error or Ctrl-C while reading: the group already embedding is still
            # written (nothing embedded is lost), then the error goes on.
            try:
                settle()
            finally:
                worker.shutdown(wait=True)
        return IngestReport(tuple(report), seconds=time.perf_counter() - started)

    def _embed_and_write(
        self, group: list[tuple[Article, list[Chunk], str]], progress: bool
    ) -> list[IngestItem]:
        texts = [c.text for _, chunks, _ in group for c in chunks]
        vectors = self.embedder.embed(texts, progress=progress and len(texts) > 256)
        offset, writes = 0, []
        for article, chunks, _ in group:
            writes.append((article, chunks, vectors[offset : offset + len(chunks)]))
            offset += len(chunks)
        self.store.write_articles(writes)
        return [
            IngestItem(
                origin=article.origin or article.id,
                status=status,  # type: ignore[arg-type]
                article_id=article.id,
                title=article.title,
                chunks=len(chunks),
            )
            for article, chunks, status in group
        ]
