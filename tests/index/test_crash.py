"""Crash safety of ingest, with real `citeqa ingest` processes on a real Chroma store.

An ingest killed at any point (SIGKILL: no cleanup runs) and then re-run must end in exactly
the index an uninterrupted ingest builds; two ingests into one data directory must serialise
on the ingest lock and together build the index of their union, without duplicates.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from index.ingest import sweep_if_idle
from index.lock import IngestLock
from index.store import ChromaStore
from qa.errors import StoreError
from qa.types import Article, Chunk, Span
from tests.conftest import ROOT, _assistant

CLAPNQ = ROOT / "eval" / "sets" / "clapnq" / "articles.jsonl"
CORPUS_SIZE = 150
KILLS = 10
SEED = 6
CITEQA = str(Path(sys.executable).with_name("citeqa"))  # as a user runs it


@dataclass(frozen=True)
class Reference:
    corpus: Path
    data_dir: Path
    seconds: float  # start to exit of the uninterrupted ingest
    first_commit: float  # start to the first article record on disk


def _write_corpus(folder: Path, records: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, rec in enumerate(records):
        # Title line, blank line, text: the loader takes the first line as the title.
        (folder / f"{i:03d}-{rec['id']}.txt").write_text(
            f"{rec['title']}\n\n{rec['text']}\n", encoding="utf-8"
        )


def _corpus_records() -> list[dict]:
    lines = CLAPNQ.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    assert len(records) >= CORPUS_SIZE
    return records[:CORPUS_SIZE]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("CITEQA_DATA_DIR", None)
    env["PYTHONPATH"] = str(ROOT)
    return env


def _ingest(paths: list[Path], data_dir: Path, log: Path, **env: str) -> subprocess.Popen:
    with open(log, "w") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [CITEQA, "ingest", "--json", "--data-dir", str(data_dir), *map(str, paths)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**_env(), **env},
            cwd=ROOT,
        )


def _committed(data_dir: Path) -> int | None:
    """Article records on disk, read-only, straight from Chroma's SQLite file; None when it
    cannot be read right now (being written, or a killed writer's journal awaits rollback).

    Only used to spread the kills over the ingest (a progress probe), never to judge results.
    """
    db = data_dir / "chroma" / "chroma.sqlite3"
    if not db.exists():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            row = con.execute(
                "SELECT count(*) FROM embeddings e JOIN segments s ON e.segment_id = s.id "
                "JOIN collections c ON s.collection = c.id "
                "WHERE c.name = 'citeqa_articles' AND s.scope = 'METADATA'"
            ).fetchone()
        return int(row[0])
    except sqlite3.Error:
        return None


def _finish(proc: subprocess.Popen, log: Path, timeout: float = 600) -> dict:
    """Wait for a successful `ingest --json`; its report (stderr shares the log)."""
    proc.wait(timeout=timeout)
    text = log.read_text(encoding="utf-8")
    assert proc.returncode == 0, f"citeqa ingest exited {proc.returncode}:\n{text[-3000:]}"
    return json.loads(next(ln for ln in reversed(text.splitlines()) if ln.startswith("{")))


def _snapshot(data_dir: Path) -> dict:
    """Everything an ingest decides: articles, chunks, offsets, texts (not where files lay)."""
    store = ChromaStore(data_dir)
    articles = {
        a["id"]: (a["title"], a["text_hash"], a["n_chunks"], a["chars"])
        for a in store.list_articles()
    }
    chunks = store.all_chunks()
    by_id = {c.id: c for c in chunks}
    assert len(by_id) == len(chunks), "duplicate chunk ids"
    positions = {(c.article_id, c.index) for c in chunks}
    assert len(positions) == len(chunks), "two chunks at the same place of one article"
    per_article: dict[str, int] = {}
    for c in chunks:
        per_article[c.article_id] = per_article.get(c.article_id, 0) + 1
    assert per_article == {a: meta[2] for a, meta in articles.items()}, (
        "chunk counts differ from the article records' n_chunks"
    )
    return {
        "articles": articles,
        "chunks": {
            c.id: (c.article_id, c.index, c.start, c.end, c.text, c.sentences, c.title)
            for c in chunks
        },
    }


def _assert_same_index(got_dir: Path, ref: Reference, cache_dir: Path) -> None:
    want, got = _snapshot(ref.data_dir), _snapshot(got_dir)
    assert len(want["articles"]) == CORPUS_SIZE
    assert sorted(got["articles"]) == sorted(want["articles"])
    assert got["articles"] == want["articles"]
    assert sorted(got["chunks"]) == sorted(want["chunks"])
    assert got["chunks"] == want["chunks"]
    # Vectors: every chunk's vector is stored and is the one of its text.
    want_vecs, got_vecs = _vectors(ref.data_dir), _vectors(got_dir)
    assert set(got_vecs) == set(want_vecs)
    for cid, vec in want_vecs.items():
        assert np.allclose(got_vecs[cid], vec, atol=1e-4), cid
    # The vector index answers with each chunk for its own vector.
    store = ChromaStore(got_dir)
    for cid in sorted(want_vecs)[:: max(1, len(want_vecs) // 25)]:
        (top, sim), *_ = store.dense_search(want_vecs[cid], 1)
        assert top.id == cid and sim > 0.999, (cid, top.id, sim)
    # The keyword index a fresh process builds agrees with the vector store.
    assistant = _assistant(got_dir, cache_dir)
    try:
        assert set(assistant.retriever.keyword_ids()) == {c.id for c in store.all_chunks()}
    finally:
        assistant.close()


def _vectors(data_dir: Path) -> dict[str, np.ndarray]:
    got = ChromaStore(data_dir)._chunks.get(include=["embeddings"])
    pairs = zip(got["ids"], got["embeddings"], strict=True)
    return {i: np.asarray(v, dtype=np.float32) for i, v in pairs}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Reference:
    """The corpus, and its uninterrupted ingest (timed, to spread the kills over)."""
    root = tmp_path_factory.mktemp("crash")
    corpus = root / "corpus"
    _write_corpus(corpus, _corpus_records())
    data_dir, log = root / "A", root / "A.log"
    started = time.monotonic()
    proc = _ingest([corpus], data_dir, log)
    first_commit = None
    while proc.poll() is None:
        if first_commit is None and (_committed(data_dir) or 0) > 0:
            first_commit = time.monotonic() - started
        time.sleep(0.05)
    seconds = time.monotonic() - started
    summary = _finish(proc, log)["summary"]
    assert summary.startswith(f"{CORPUS_SIZE} added, 0 replaced, 0 unchanged, 0 rejected"), summary
    return Reference(corpus, data_dir, seconds, first_commit or seconds)


@pytest.mark.slow
def test_sigkill_anywhere_then_rerun_builds_the_same_index(reference, tmp_path, cache_dir):
    """Ten SIGKILLs at seeded points (start-up, embedding, mid-write), then one full run."""
    rng = random.Random(SEED)
    data_dir = tmp_path / "B"
    write_phase = max(reference.seconds - reference.first_commit, 1.0)
    kills: list[dict] = []
    for n in range(KILLS):
        log = tmp_path / f"kill{n}.log"
        started = time.monotonic()
        proc = _ingest([reference.corpus], data_dir, log)
        seen: list[int] = []  # article records on disk, as this run went on
        if n % 3 == 0:
            # Before this run writes anything: start-up, Chroma open, sweep, first embedding.
            deadline = started + rng.uniform(0.2, 1.0) * reference.first_commit
        else:
            # Mid-write: once this run has committed an article, a little later.
            while proc.poll() is None and (len(seen) < 2 or seen[-1] <= seen[0]):
                if (count := _committed(data_dir)) is not None:
                    seen.append(count)
                time.sleep(0.02)
            deadline = time.monotonic() + rng.uniform(0.0, write_phase / 12)
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)  # a no-op if it exits in between (stop 37's CI)
        proc.wait(timeout=60)
        killed = proc.returncode == -signal.SIGKILL
        kills.append(
            {
                "at": round(time.monotonic() - started, 2),
                "killed": killed,
                "wrote": bool(seen) and seen[-1] > seen[0],
                "seen": (seen[0], seen[-1]) if seen else None,
            }
        )
        if not killed:  # it finished first, before or just as the signal went: it must have
            _finish(proc, log)  # finished well
    ref = f"{reference.seconds:.1f} s, first commit at {reference.first_commit:.1f} s"
    print(f"\nreference ingest {ref}")
    for k in kills:
        print(f"kill: {k}")
    mid_write = [k for k in kills if k["killed"] and k["wrote"] and k["seen"][1] < CORPUS_SIZE]
    assert len(mid_write) >= 3, f"too few kills landed mid-ingest to mean anything: {kills}"

    final = tmp_path / "final.log"
    summary = _finish(_ingest([reference.corpus], data_dir, final), final)["summary"]
    assert ", 0 replaced," in summary and ", 0 rejected" in summary, summary
    _assert_same_index(data_dir, reference, cache_dir)


@pytest.mark.slow
def test_two_concurrent_ingests_serialise_and_build_the_union(reference, tmp_path, cache_dir):
    """Overlapping halves ingested at once into one data dir: the index of the whole corpus."""
    files = sorted(reference.corpus.iterdir())
    third = len(files) // 3
    halves = {"X": files[: 2 * third], "Y": files[third:]}  # a third of the corpus in both
    for name, part in halves.items():
        (tmp_path / name).mkdir()
        for f in part:
            (tmp_path / name / f.name).write_bytes(f.read_bytes())
    data_dir = tmp_path / "shared"
    # Hold the lock while both start, so that both are ready to write at the same moment and
    # both must wait: each has to show why it is waiting.
    gate = IngestLock(data_dir, timeout=0)
    assert gate.try_acquire()
    procs = {n: _ingest([tmp_path / n], data_dir, tmp_path / f"{n}.log") for n in halves}
    waiting = f"Another citeqa process is ingesting into {data_dir} (pid {os.getpid()}); waiting"
    deadline = time.monotonic() + 300
    try:
        while not all(waiting in (tmp_path / f"{n}.log").read_text() for n in procs):
            assert all(p.poll() is None for p in procs.values()), "an ingest exited early"
            assert time.monotonic() < deadline, "an ingest never reached the lock"
            time.sleep(0.1)
    finally:
        gate.release()
    reports = {}
    for n, p in procs.items():
        items = _finish(p, tmp_path / f"{n}.log")["items"]
        reports[n] = {i["article_id"]: i["status"] for i in items}
        assert len(reports[n]) == len(halves[n])
    # The shared third was added by whichever ran first and found unchanged by the other.
    shared = set(reports["X"]) & set(reports["Y"])
    assert len(shared) == third
    for aid in shared:
        assert sorted([reports["X"][aid], reports["Y"][aid]]) == ["added", "unchanged"], aid
    _assert_same_index(data_dir, reference, cache_dir)


def test_busy_lock_times_out_with_a_clear_error(tmp_path, monkeypatch):
    holder = IngestLock(tmp_path, timeout=0)
    assert holder.try_acquire()
    heard: list[str] = []
    waiter = IngestLock(tmp_path, timeout=0.5, notify=heard.append)
    with pytest.raises(StoreError, match=r"is busy: .*pid \d+.*Try again when it finishes"):
        waiter.acquire()
    assert heard and f"(pid {os.getpid()})" in heard[0] and str(tmp_path) in heard[0]
    holder.release()
    with waiter:  # free again: taken at once
        assert waiter.held
    assert not waiter.held


@pytest.mark.models  # runs real `citeqa` processes: the end-to-end tier
def test_cli_ingest_waits_then_gives_up_on_a_busy_index(tmp_path):
    holder = IngestLock(tmp_path / "idx", timeout=0)
    assert holder.try_acquire()
    try:
        proc = _ingest(
            [ROOT / "examples" / "articles"],
            tmp_path / "idx",
            tmp_path / "out.log",
            CITEQA_INGEST_LOCK_TIMEOUT="1",
        )
        proc.wait(timeout=300)
    finally:
        holder.release()
    out = (tmp_path / "out.log").read_text()
    assert proc.returncode == 2, out
    assert f"Another citeqa process is ingesting into {tmp_path / 'idx'} (pid {os.getpid()})" in out
    assert "Error: The index in" in out and "Try again when it finishes" in out


def test_open_does_not_sweep_a_live_writers_chunks(tmp_path):
    """A half-written article of a process holding the lock is not a crash's leftover."""
    store = ChromaStore(tmp_path)
    article = Article(id="a", title="A", text="One sentence. Two sentence.")
    chunk = Chunk(
        id="a-0",
        article_id="a",
        index=0,
        start=0,
        end=len(article.text),
        text=article.text,
        sentences=(Span(0, len(article.text)),),
        title="A",
    )
    store.write_article(article, [chunk], np.ones((1, 8), dtype=np.float32))
    store._articles.delete(ids=["a"])  # the writer is between its chunks and its record
    writer = IngestLock(tmp_path, timeout=0)
    assert writer.try_acquire()
    assert sweep_if_idle(store, tmp_path) == 0
    assert store.count_chunks() == 1
    writer.release()  # the writer died: now they are leftovers
    assert sweep_if_idle(store, tmp_path) == 1
    assert store.count_chunks() == 0
