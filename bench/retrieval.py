"""Retrieval latency at 1k, 10k and 100k chunks: dense, BM25 and fused, with and without filters.

To save hours of embedding, chunks are made of 3 random sentences of the shipped sets' text and
get the normalised mean of those sentences' real embeddings as their vector (precomputed, not
embedded per chunk), and are written to Chroma in bulk. Queries are the real questions of the
shipped sets. Chroma's own `where` filter is timed on the same store for comparison.

    python -m bench.retrieval --sizes 1000 10000 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.corpus import SOURCES, paragraphs
from bench.ingest import machine
from index.embed import Embedder
from index.search import SearchIndex
from index.store import MAX_BATCH, ChromaStore, Filters, chunk_meta
from qa.retrieve import HybridRetriever
from qa.types import Chunk, Span

ROOT = Path(__file__).resolve().parent.parent
CHUNKS_PER_ARTICLE = 10
DAY = 86_400.0
START = dt.datetime(2023, 1, 1, tzinfo=dt.UTC).timestamp()


def _sentences() -> list[str]:
    paras, _ = paragraphs()
    out = [s for p in paras for s in re.split(r"(?<=[.!?])\s+", p) if len(s) > 40]
    return sorted(set(out))


def _questions() -> list[str]:
    qs: list[str] = []
    for name in ("sample", "clapnq"):
        lines = (ROOT / "eval" / "sets" / name / "questions.jsonl").read_text().splitlines()
        qs += [json.loads(line)["question"] for line in lines if line.strip()]
    return qs


def build(store: ChromaStore, n_chunks: int, sentences: list[str], vecs: np.ndarray) -> None:
    """Bulk-write n_chunks chunks (10 per article), then the article records."""
    rng = random.Random(n_chunks)
    ids, metas, docs, vectors = [], [], [], []
    articles = []
    for a in range(n_chunks // CHUNKS_PER_ARTICLE):
        source = SOURCES[rng.randrange(len(SOURCES))]
        date = START + DAY * rng.randrange(730)
        text, chunks = "", []
        for j in range(CHUNKS_PER_ARTICLE):
            picks = rng.sample(range(len(sentences)), 3)
            body = " ".join(sentences[p] for p in picks)
            start = len(text)
            text += body + "\n\n"
            c = Chunk(
                id=f"b{a}:{j}",
                article_id=f"b{a}",
                index=j,
                start=start,
                end=start + len(body),
                text=body,
                sentences=(Span(start, start + len(body)),),
                title=f"Article {a}",
                source=source,
                published_at=date,
            )
            v = vecs[picks].mean(axis=0)
            chunks.append(c)
            vectors.append(v / np.linalg.norm(v))
        ids += [c.id for c in chunks]
        docs += [c.text for c in chunks]
        metas += [chunk_meta(c, f"h{a}") for c in chunks]
        articles.append((f"b{a}", text, source, date))
    for i in range(0, len(ids), MAX_BATCH):
        store._chunks.upsert(
            ids=ids[i : i + MAX_BATCH],
            embeddings=np.asarray(vectors[i : i + MAX_BATCH]),
            documents=docs[i : i + MAX_BATCH],
            metadatas=metas[i : i + MAX_BATCH],
        )
    for i in range(0, len(articles), MAX_BATCH):
        batch = articles[i : i + MAX_BATCH]
        store._articles.upsert(
            ids=[a for a, *_ in batch],
            embeddings=[[1.0]] * len(batch),
            documents=[t for _, t, *_ in batch],
            metadatas=[
                {
                    "title": a,
                    "text_hash": f"h{a[1:]}",
                    "n_chunks": 10,
                    "source": s,
                    "published_at": d,
                }
                for a, _, s, d in batch
            ],
        )
    store._bump()


def timed(fn: Callable[[], object], repeat: int = 1) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def each(items, fn: Callable[[object], object]) -> list[float]:
    """Milliseconds of fn(item) for each item."""
    return [timed(lambda i=i: fn(i))[0] for i in items]


def pct(xs: list[float]) -> str:
    return f"{np.percentile(xs, 50):.1f} / {np.percentile(xs, 95):.1f}"


def run_size(n: int, sentences, vecs, queries, qvecs, embedder) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = ChromaStore(Path(tmp))
        t = time.perf_counter()
        build(store, n, sentences, vecs)
        print(f"  built {n:,} chunks in {time.perf_counter() - t:.0f} s", flush=True)
        path = Path(tmp) / "search.npz"
        cold = timed(lambda: SearchIndex.load(path).sync(store))
        warm = timed(lambda: SearchIndex.load(path).sync(store), 3)
        rows.append(("open: sync from Chroma (first start), ms", f"{cold[0]:.0f}"))
        rows.append(
            ("open: load saved index + change check, ms (median of 3)", f"{np.median(warm):.0f}")
        )
        retriever = HybridRetriever(store, embedder, index_path=path)
        retriever.keyword_ids()  # sync
        index = retriever.index
        filters = {
            "none": None,
            "source (1 of 8)": Filters(sources=(SOURCES[0],)),
            "date range (1 year of 2)": Filters(
                published_after=START, published_before=START + 365 * DAY
            ),
            "source + 3 months": Filters(
                sources=(SOURCES[1],), published_after=START, published_before=START + 91 * DAY
            ),
        }
        for name, f in filters.items():
            allowed = index.allowed(f)
            share = allowed.sum() / len(index)
            for q, v in zip(queries, qvecs, strict=True):  # warm-up pass
                index.dense(store, v, 30, allowed)
                index.keyword(q, 30, allowed)
            dense = each(qvecs, lambda v: index.dense(store, v, 30, allowed))  # noqa: B023
            kw = each(queries, lambda q: index.keyword(q, 30, allowed))  # noqa: B023
            fused = each(queries, lambda q: retriever.retrieve(q, k=5, filters=f))  # noqa: B023
            label = f"filter {name} ({share:.0%} of chunks)"
            rows.append((f"dense p50/p95 ms, {label}", pct(dense)))
            rows.append((f"BM25 p50/p95 ms, {label}", pct(kw)))
            rows.append((f"retrieve() p50/p95 ms (incl. query embedding), {label}", pct(fused)))
            if f is not None:
                where = f.to_where()
                chroma = each(qvecs, lambda v: store.dense_search(v, 30, where))  # noqa: B023
                rows.append((f"Chroma's own where filter p50/p95 ms, {label}", pct(chroma)))
        emb = each(queries, embedder.embed_query)
        rows.append(("query embedding alone p50/p95 ms", pct(emb)))
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = p.parse_args(argv)

    embedder = Embedder()
    sentences = _sentences()
    t = time.perf_counter()
    vecs = embedder.embed(sentences)
    print(f"embedded {len(sentences)} pool sentences in {time.perf_counter() - t:.0f} s")
    queries = random.Random(0).sample(_questions(), args.queries)
    qvecs = embedder.embed(queries)
    out = [
        "\n## Retrieval latency\n",
        f"`python -m bench.retrieval --sizes {' '.join(map(str, args.sizes))} "
        f"--queries {args.queries}`, {dt.date.today()}, {machine()}. "
        f"{len(sentences)} real sentences embedded once; each chunk is 3 of them with the mean "
        "vector (precomputed vectors, bulk-written to Chroma). Queries: real questions of the "
        "shipped sets; 30 candidates per retriever, k=5.\n",
    ]
    for n in args.sizes:
        print(f"{n:,} chunks", flush=True)
        rows = run_size(n, sentences, vecs, queries, qvecs, embedder)
        out += [f"\n### {n:,} chunks\n", "| measure | value |", "|---|---|"]
        out += [f"| {k} | {v} |" for k, v in rows]
        for k, v in rows:
            print(f"  {k}: {v}", flush=True)
    # Measured, not assumed: other jobs on the machine show up in the load average.
    out.append(f"\n1-minute load average at the end: {os.getloadavg()[0]:.1f}.")
    with args.results.open("a", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
