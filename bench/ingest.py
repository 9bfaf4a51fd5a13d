"""Ingest benchmark: citeqa's Indexer vs the plain LangChain pipeline on the same corpus.

Each pipeline runs in its own child process (fresh temporary Chroma on disk), so its peak RSS is
its own (`os.wait4` gives the child's rusage). Pipelines alternate order every repeat and the
figures are medians over repeats; the citeqa/LangChain ratio is taken within each repeat, so
load from other processes on a shared machine mostly cancels out.

    python -m bench.ingest --n 1000 --repeats 3                       # default citeqa vs LangChain
    python -m bench.ingest --n 1000 --pipelines citeqa:torch,citeqa:onnx-int8,langchain --quality

`--quality` also measures retrieval hit@5 / recall@5 on eval/sets/sample and eval/sets/clapnq
for every citeqa variant (hybrid retrieval as `ask` uses it, and dense-only, which shows the
embedding's own change).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.corpus import write_corpus

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
# The LLM is never called while ingesting; an OpenAI backend pointed at a closed loopback port
# lets the baseline be built without loading the local model.
_NO_LLM = {"backend": "openai", "openai_base_url": "http://127.0.0.1:9/v1"}


# --- children ---------------------------------------------------------------------------------


def _child_citeqa(corpus: Path, data_dir: Path, backend: str, batch: int) -> dict[str, Any]:
    """The path `Assistant.add` takes: load → Indexer (chunk, embed, write) into Chroma."""
    from index.embed import Embedder
    from index.ingest import Indexer
    from index.load import load_paths
    from index.store import ChromaStore
    from qa.settings import Settings

    settings = Settings.load(data_dir=data_dir, embed_backend=backend, embed_batch_size=batch)
    t0 = time.perf_counter()
    store = ChromaStore(settings.data_dir, name=settings.collection)
    embedder = Embedder(
        batch_size=settings.embed_batch_size,
        backend=settings.embed_backend,
        cache_dir=settings.cache_dir,
    )
    indexer = Indexer(
        store,
        embedder,
        chunk_tokens=settings.chunk_tokens,
        overlap_sentences=settings.chunk_overlap_sentences,
    )
    t1 = time.perf_counter()
    report = indexer.add(load_paths([corpus]))
    t2 = time.perf_counter()
    again = indexer.add(load_paths([corpus]))
    t3 = time.perf_counter()
    return {
        "load_s": t1 - t0,
        "ingest_s": t2 - t1,
        "reingest_s": t3 - t2,
        "articles": report.count("added"),
        "unchanged_on_reingest": again.count("unchanged"),
        "chunks": store.count_chunks(),
    }


def _child_langchain(corpus: Path, data_dir: Path) -> dict[str, Any]:
    """eval/baseline.py's pipeline (splitter → HuggingFaceEmbeddings → langchain-chroma); the
    embedding model's load time is measured apart so `ingest_s` is split + embed + write."""
    import langchain_huggingface

    from eval.baseline import LangChainBaseline
    from index.load import load_paths
    from qa.settings import Settings
    from qa.types import Article

    loading = {"s": 0.0}
    original = langchain_huggingface.HuggingFaceEmbeddings

    class TimedEmbeddings(original):  # type: ignore[misc, valid-type]
        def __init__(self, **kw: Any) -> None:
            t = time.perf_counter()
            super().__init__(**kw)
            loading["s"] += time.perf_counter() - t

    langchain_huggingface.HuggingFaceEmbeddings = TimedEmbeddings  # type: ignore[misc]
    settings = Settings.load(data_dir=data_dir, **_NO_LLM)
    t0 = time.perf_counter()
    articles = [a for a in load_paths([corpus]) if isinstance(a, Article)]
    base = LangChainBaseline(settings, data_dir / "lc", articles)
    total = time.perf_counter() - t0
    return {
        "load_s": loading["s"],
        "ingest_s": total - loading["s"],
        "articles": len(articles),
        "chunks": base.retriever.vectorstore._collection.count(),
    }


def _child_main(spec: str, corpus: Path, out: Path, batch: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        if spec == "langchain":
            result = _child_langchain(corpus, Path(tmp))
        else:
            result = _child_citeqa(corpus, Path(tmp), spec.split(":", 1)[1], batch)
    out.write_text(json.dumps(result), encoding="utf-8")


# --- parent -----------------------------------------------------------------------------------


def run_child(spec: str, corpus: Path, batch: int) -> dict[str, Any]:
    """One pipeline in a fresh process; adds its peak RSS (MiB) and wall time."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = Path(f.name)
    cmd = [sys.executable, "-m", "bench.ingest", "--child", spec, "--corpus", str(corpus)]
    cmd += ["--out-json", str(out), "--batch", str(batch)]
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env["ANONYMIZED_TELEMETRY"] = "False"
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{spec} failed (exit {proc.returncode}); run {shlex.join(cmd)}")
    result = json.loads(out.read_text(encoding="utf-8"))
    out.unlink()
    result["rss_mib"] = usage.ru_maxrss / 1024  # Linux reports KiB
    result["wall_s"] = wall
    result["articles_per_s"] = result["articles"] / result["ingest_s"]
    result["chunks_per_s"] = result["chunks"] / result["ingest_s"]
    return result


def warm_exports(specs: list[str]) -> None:
    """Export ONNX variants once before timing, so no run pays for the export. In a child: a
    child's peak RSS counts its parent's RSS at fork, so this process must stay small."""
    backends = [s.split(":", 1)[1] for s in specs if s.startswith("citeqa:onnx")]
    if backends:
        code = (
            "import sys; from index.embed import export_onnx, packaged_model_path;"
            "from qa.settings import Settings;"
            "[export_onnx(packaged_model_path(), Settings.load().cache_dir, quantize=b)"
            " for b in sys.argv[1:]]"
        )
        subprocess.run([sys.executable, "-c", code, *backends], cwd=ROOT, check=True)


def retrieval_quality(backend: str, sets: list[Path], k: int = 5) -> dict[str, dict[str, float]]:
    """hit@k and recall@k over the answerable questions of each set, hybrid and dense-only."""
    from eval.metrics import retrieval_scores
    from eval.sets import load_set
    from index.embed import Embedder
    from index.ingest import Indexer
    from index.store import ChromaStore
    from qa.retrieve import HybridRetriever
    from qa.settings import Settings

    s = Settings.load()
    embedder = Embedder(backend=backend, cache_dir=s.cache_dir)  # type: ignore[arg-type]
    out: dict[str, dict[str, float]] = {}
    for path in sets:
        es = load_set(path)
        with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
            store = ChromaStore(Path(tmp))
            Indexer(
                store,
                embedder,
                chunk_tokens=s.chunk_tokens,
                overlap_sentences=s.chunk_overlap_sentences,
            ).add(es.articles)
            hybrid = HybridRetriever(store, embedder, candidates=s.candidates, rrf_k=s.rrf_k)
            rows: dict[str, list[dict[str, float]]] = {"hybrid": [], "dense": []}
            for q in es.questions:
                gold = [(g.article_id, g.start, g.end) for g in es.gold.get(q.id, ())]
                if not q.answerable or not gold:
                    continue
                got = [rc.chunk for rc in hybrid.retrieve(q.question, k=k).chunks]
                dense = [c for c, _ in store.dense_search(embedder.embed_query(q.question), k)]
                for name, chunks in (("hybrid", got), ("dense", dense)):
                    spans = [(c.article_id, c.start, c.end) for c in chunks]
                    rows[name].append(retrieval_scores(spans, gold, k))
            for name, rs in rows.items():
                out[f"{es.name}/{name}"] = {
                    "questions": len(rs),
                    f"hit@{k}": statistics.fmean(r["hit_at_k"] for r in rs),
                    f"recall@{k}": statistics.fmean(r["recall_at_k"] for r in rs),
                }
    return out


def embed_ab(corpus: Path, backends: list[str], *, chunks: int, rounds: int) -> str:
    """Embedding alone, backends interleaved in one process on the same chunk texts: on a
    shared machine, load drifts within minutes, and interleaving keeps each round comparable."""
    from index.embed import Embedder
    from index.load import load_paths
    from index.split import chunk_article
    from qa.settings import Settings
    from qa.types import Article

    s = Settings.load()
    models = {b: Embedder(backend=b, cache_dir=s.cache_dir) for b in backends}  # type: ignore[arg-type]
    first = models[backends[0]]
    texts: list[str] = []
    for art in load_paths([corpus]):
        if isinstance(art, Article) and len(texts) < chunks:
            texts += [
                c.text
                for c in chunk_article(
                    art,
                    first.count_tokens,
                    target_tokens=s.chunk_tokens,
                    max_tokens=first.max_tokens,
                    overlap_sentences=s.chunk_overlap_sentences,
                )
            ]
    texts = texts[:chunks]
    speed: dict[str, list[float]] = {b: [] for b in backends}
    for r in range(rounds):
        for b in backends[r % len(backends) :] + backends[: r % len(backends)]:
            t = time.perf_counter()
            models[b].embed(texts)
            speed[b].append(len(texts) / (time.perf_counter() - t))
        print(f"round {r + 1}: " + json.dumps({b: v[-1] for b, v in speed.items()}), flush=True)
    lines = ["| backend | chunks/s (median) | × " + backends[0] + " (median of rounds) |"]
    lines.append("|---|---|---|")
    for b in backends:
        ratio = statistics.median(x / y for x, y in zip(speed[b], speed[backends[0]], strict=True))
        lines.append(f"| {b} | {statistics.median(speed[b]):.1f} | {ratio:.2f} |")
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    ram = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        ram = f", {kib / 1024**2:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{ram}"


def versions() -> str:
    names = [
        "torch",
        "sentence-transformers",
        "transformers",
        "onnxruntime",
        "onnx",
        "chromadb",
        "langchain-core",
        "langchain-text-splitters",
        "langchain-huggingface",
        "langchain-chroma",
    ]
    found = []
    for n in names:
        try:
            found.append(f"{n} {metadata.version(n)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(found) + f", Python {platform.python_version()}"


_FIELDS = [
    ("articles_per_s", "articles/s", "{:.1f}"),
    ("chunks_per_s", "chunks/s", "{:.1f}"),
    ("chunks", "chunks", "{:.0f}"),
    ("ingest_s", "ingest s", "{:.1f}"),
    ("load_s", "model load s", "{:.1f}"),
    ("reingest_s", "re-ingest s", "{:.2f}"),
    ("rss_mib", "peak RSS MiB", "{:.0f}"),
]


def _head(title: str, argv: list[str] | None, reading: str) -> list[str]:
    """A RESULTS.md section's title and its command, date, machine load and library lines."""
    cmd = "python -m bench.ingest " + shlex.join(argv if argv is not None else sys.argv[1:])
    return [
        f"\n## {title}\n",
        f"- command: `{cmd}`",
        f"- date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        f"- machine: {machine()}; 1-minute load average {os.getloadavg()[0]:.1f} at the end "
        f"(other jobs on the machine included), {reading}",
        f"- libraries: {versions()}",
    ]


def table(runs: dict[str, list[dict[str, Any]]], ratios: dict[str, list[float]]) -> str:
    head = "| pipeline | " + " | ".join(label for _, label, _ in _FIELDS) + " | × LangChain |"
    lines = [head, "|" + "---|" * (len(_FIELDS) + 2)]
    for spec, rs in runs.items():
        cells = []
        for key, _, fmt in _FIELDS:
            vals = [r[key] for r in rs if key in r]
            cells.append(fmt.format(statistics.median(vals)) if vals else "–")
        ratio = ratios.get(spec)
        cells.append(f"{statistics.median(ratio):.2f}" if ratio else "–")
        lines.append(f"| {spec} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from index.embed import BACKENDS

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1000, help="articles in the generated corpus")
    p.add_argument("--corpus", type=Path, help="an existing .jsonl corpus instead")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--batch", type=int, default=32, help="citeqa embed batch size (torch; ONNX: 1 text/run)"
    )
    p.add_argument(
        "--pipelines",
        default="citeqa:default,langchain",
        help=f"comma list of langchain and citeqa:BACKEND ({', '.join(BACKENDS)}, default)",
    )
    p.add_argument("--quality", action="store_true", help="also hit@5 on the eval sets")
    p.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    p.add_argument("--note", default="", help="a line added to the RESULTS.md section")
    p.add_argument(
        "--from-log",
        type=Path,
        help="summarise the 'repeat N SPEC: {...}' lines an earlier (interrupted) run printed",
    )
    p.add_argument(
        "--embed-ab",
        metavar="BACKENDS",
        help="instead: embedding alone, e.g. torch,onnx,onnx-int8 interleaved for --repeats "
        "rounds on --ab-chunks chunk texts of the corpus",
    )
    p.add_argument("--ab-chunks", type=int, default=64)
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--out-json", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args(argv)

    if a.child:
        _child_main(a.child, a.corpus, a.out_json, a.batch)
        return

    if a.embed_ab:
        tmp_ab = tempfile.TemporaryDirectory(prefix="bench-corpus-")
        corpus = a.corpus or write_corpus(a.n, Path(tmp_ab.name))
        ab = embed_ab(corpus, a.embed_ab.split(","), chunks=a.ab_chunks, rounds=a.repeats)
        print(ab)
        section = _head(
            f"Embedding alone: {a.embed_ab} ({a.ab_chunks} citeqa chunks)",
            argv,
            "backends interleaved round by round",
        ) + [
            f"- {a.repeats} rounds; torch batch 32, ONNX one text per run (as in ingest)",
            "",
            ab,
            "",
        ]
        if not a.no_results:
            with RESULTS.open("a", encoding="utf-8") as f:  # append only
                f.write("\n".join(section) + "\n")
        tmp_ab.cleanup()
        return

    from qa.settings import Settings

    default = Settings.model_fields["embed_backend"].default
    specs = [s.replace("citeqa:default", f"citeqa:{default}") for s in a.pipelines.split(",")]
    tmp = tempfile.TemporaryDirectory(prefix="bench-corpus-")
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in specs}
    if a.from_log:
        for line in a.from_log.read_text(encoding="utf-8").splitlines():
            m = re.match(r"repeat (\d+) (\S+): (\{.*\})$", line)
            if m and m[2] in runs:
                runs[m[2]].append(json.loads(m[3]))
        done = min(len(rs) for rs in runs.values())
        runs = {spec: rs[:done] for spec, rs in runs.items()}  # complete repeats only
        a.repeats = done
    else:
        if a.corpus is None:
            a.corpus = write_corpus(a.n, Path(tmp.name))
        warm_exports(specs)
        for r in range(a.repeats):
            for spec in specs if r % 2 == 0 else specs[::-1]:
                res = run_child(spec, a.corpus, a.batch)
                runs[spec].append(res)
                print(f"repeat {r + 1} {spec}: {json.dumps(res)}", flush=True)
    ratios: dict[str, list[float]] = {}
    if "langchain" in specs:
        for r, lc in enumerate(runs["langchain"]):
            for spec in specs:
                if spec != "langchain":
                    ratios.setdefault(spec, []).append(
                        runs[spec][r]["chunks_per_s"] / lc["chunks_per_s"]
                    )
    result = table(runs, ratios)
    print(result)

    quality = ""
    if a.quality:
        sets = [ROOT / "eval" / "sets" / "sample", ROOT / "eval" / "sets" / "clapnq"]
        qrows = ["| variant | set/retrieval | questions | hit@5 | recall@5 |", "|" + "---|" * 5]
        for spec in specs:
            if spec.startswith("citeqa:"):
                backend = spec.split(":", 1)[1]
                for name, m in retrieval_quality(backend, sets).items():
                    qrows.append(
                        f"| {backend} | {name} | {m['questions']} | {m['hit@5']:.3f} "
                        f"| {m['recall@5']:.3f} |"
                    )
        quality = "\n".join(qrows)
        print(quality)

    n_articles = runs[specs[0]][0]["articles"]
    section = _head(
        f"Ingest: {', '.join(specs)} ({n_articles} articles)",
        argv,
        "so compare within a run: ratios are per repeat",
    ) + [
        f"- corpus: `python -m bench.corpus --n {a.n}` (seed 0)"
        if not a.corpus or a.corpus.parent == Path(tmp.name)
        else f"- corpus: {a.corpus}",
        f"- medians of {a.repeats} repeats; citeqa embed batch {a.batch} (torch; ONNX: one text "
        "per run); ingest s excludes model load; re-ingest = the same corpus again (all unchanged)",
    ]
    if a.note:
        section.append(f"- {a.note}")
    section += ["", result, ""]
    if quality:
        section += ["Retrieval on the eval sets (answerable questions):", "", quality, ""]
    if not a.no_results:
        with RESULTS.open("a", encoding="utf-8") as f:  # append only: shared with other benches
            f.write("\n".join(section) + "\n")
        print(f"appended to {RESULTS}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
