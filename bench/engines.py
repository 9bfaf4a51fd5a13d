"""The local engines side by side on the answer prompts the real pipeline builds.

    python -m bench.engines --questions 12 --rounds 2

Each configuration (engine x weight repacking x flash attention) runs in its own process, one
after the other and round by round (interleaved, so drift in the machine's speed hits each
alike), on the same prompts: the sample set's questions through retrieval and context building,
answered with the grammar and the cached instruction prefix exactly as `citeqa ask` does.
Prompt tokens/s counts only the tokens evaluated after the cached prefix; decode tokens/s is
after the first token. It also counts how many replies equal the first configuration's.

A configuration may name other weights after "@": `ik+repack@Q4_0` runs the packaged model
requantised to Q4_0 by the `llama-quantize` that ik-llama-cpp-python bundles (made once, in
the cache directory, before the rounds start), to see whether another weight type's CPU
kernels evaluate the prompt faster than the packaged Q4_K_M.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.ingest import machine
from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SET = ROOT / "eval" / "sets" / "sample"
CONFIGS = ("llama-cpp", "llama-cpp+fa", "ik", "ik+repack", "ik+repack+fa")


def _config(value: str) -> str:
    """An engine configuration, optionally "+native" (ik only: the library `citeqa engine
    --build` made for this CPU instead of the wheel's) and "@TYPE" for requantised weights."""
    base, _, weights = value.partition("@")
    base = base.removesuffix("+native")
    if (
        base not in CONFIGS
        or (weights and not weights.replace("_", "").isalnum())
        or ("+native" in value and not base.startswith("ik"))
    ):
        raise argparse.ArgumentTypeError(
            f"{value!r}: use one of {', '.join(CONFIGS)}, optionally followed by +native "
            "(ik only) and @TYPE (a llama-quantize type such as Q4_0 or IQ4_XS)"
        )
    return value


def requantised(settings: Settings, weights: str) -> Path:
    """The packaged model requantised to `weights` (made once with the bundled llama-quantize;
    requantising an already quantised model is what --allow-requantize permits)."""
    import os

    import ik_llama_cpp

    from qa.llm.models import resolve_model

    out = settings.cache_dir / "requantised" / f"{settings.model}-{weights}.gguf"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    pkg = Path(ik_llama_cpp.__file__).parent
    tmp = out.with_suffix(".part")
    env = dict(os.environ, LD_LIBRARY_PATH=str(pkg / "lib"))
    src = resolve_model(settings.model, settings.cache_dir)
    cmd = [str(pkg / "bin" / "llama-quantize"), "--allow-requantize", str(src), str(tmp), weights]
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    tmp.rename(out)
    return out


def build_prompts(settings: Settings, n: int) -> list[dict[str, Any]]:
    """The answer prompts of `n` evenly spread sample questions, as the pipeline builds them."""
    from eval.sets import load_set
    from qa.assistant import Assistant

    questions = load_set(SAMPLE_SET).questions
    step = max(1, len(questions) // n)
    picked = questions[::step][:n]
    out = []
    with Assistant(settings.model_copy(update={"backend": "extractive"})) as a:
        a.add([SAMPLE_SET / "articles"])
        chain = a.chain("extractive")
        for q in picked:
            prompt = chain.prepare(a.query(q.question))
            if not prompt.messages:
                continue
            refs = list(prompt.context.refs)
            messages = list(prompt.messages)
            out.append({"question": q.question, "messages": messages, "refs": refs})
    return out


def child(config: str, prompts_file: Path, settings: Settings) -> None:
    """Answer every prompt with one configuration; print one JSON object."""
    from qa.answer import ABSTAIN_TOKEN, warm
    from qa.llm import native
    from qa.llm.base import ReplyFormat
    from qa.llm.local import LocalLLM
    from qa.llm.models import resolve_model

    engine = "ik" if config.startswith("ik") else "llama-cpp"
    config, _, weights = config.partition("@")
    path = requantised(settings, weights) if weights else None
    library = None
    if config.endswith("+native"):
        status = native.status(settings.cache_dir)
        if status.library is None:
            raise SystemExit(f"{config}: no build for this CPU ({status.reason})")
        library = status.library
        config = config.removesuffix("+native")
    t0 = time.perf_counter()
    llm = LocalLLM(
        path or resolve_model(settings.model, settings.cache_dir),
        model_name=settings.model,
        engine=engine,  # type: ignore[arg-type]
        n_ctx=settings.n_ctx,
        n_threads=settings.n_threads,
        repack="repack" in config,
        flash_attn=config.endswith("+fa"),
        abstain_threshold=settings.abstain_threshold,  # decode as `citeqa ask` does
        library=library,
    )
    warm(llm)
    load_s = time.perf_counter() - t0
    rows = []
    for p in json.loads(prompts_file.read_text()):
        fmt = ReplyFormat(
            refs=tuple(p["refs"]),
            max_sentences=settings.max_answer_sentences,
            abstain_token=ABSTAIN_TOKEN,
        )
        new_tokens = len(llm.prompt_tokens(p["messages"])) - llm._reuse
        pieces: list[str] = []
        start = time.perf_counter()
        first = None
        for piece in llm.stream(p["messages"], fmt=fmt, max_tokens=settings.max_answer_tokens):
            if first is None:
                first = time.perf_counter()
            pieces.append(piece)
        end = time.perf_counter()
        first = first or end
        rows.append(
            {
                "new_prompt_tokens": new_tokens,
                "first_token_s": first - start,
                "answer_s": end - start,
                "prompt_tok_s": new_tokens / (first - start),
                "decode_tok_s": (len(pieces) - 1) / (end - first) if len(pieces) > 1 else None,
                "reply": "".join(pieces),
            }
        )
    llm.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"config": config, "load_s": load_s, "rss_mib": rss, "rows": rows}))


def _median(values: list[float | None]) -> float:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else float("nan")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--questions", type=int, default=12)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), type=_config)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-engines")
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    p.add_argument("--note", default="")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--prompts", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    settings = Settings.load()
    if args.child:
        child(args.child, args.prompts, settings)
        return

    args.out.mkdir(parents=True, exist_ok=True)
    prompts_file = args.out / "prompts.json"
    index = settings.model_copy(update={"data_dir": args.out / "index"})
    prompts_file.write_text(json.dumps(build_prompts(index, args.questions)))
    for weights in sorted({c.partition("@")[2] for c in args.configs} - {""}):
        print(f"== requantising to {weights}", flush=True)
        requantised(settings, weights)
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in args.configs}
    for r in range(args.rounds):
        for config in args.configs:
            print(f"== round {r + 1}: {config}", flush=True)
            cmd = [sys.executable, "-m", "bench.engines", "--child", config]
            done = subprocess.run(
                cmd + ["--prompts", str(prompts_file)],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            runs[config].append(json.loads(done.stdout.strip().splitlines()[-1]))

    ref = args.configs[0]
    ref_replies = [row["reply"] for row in runs[ref][0]["rows"]]
    n = len(ref_replies)
    lines = [
        f"\n## Local engines on the answer prompts ({n} sample questions, {args.rounds} rounds)\n",
        f"- command: `python -m bench.engines --questions {args.questions} --rounds "
        f"{args.rounds} --configs {' '.join(args.configs)}`"
        + (f" ({args.note})" if args.note else ""),
        f"- date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        f"- machine: {machine()}",
        f"- model {settings.model}, {settings.n_threads or 'all'} threads, grammar-constrained "
        "greedy decoding with the instruction prefix cached (as `citeqa ask`); each "
        "configuration in its own process, interleaved round by round; medians over every "
        "question of every round",
        "",
        "| configuration | prompt tok/s (after the cached prefix) | decode tok/s | first token "
        f"p50 s | answer p50 s | load s | peak RSS MiB | replies equal to {ref} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    summary: dict[str, float] = {}
    for config in args.configs:
        rows = [row for run in runs[config] for row in run["rows"]]
        same = sum(
            a == b
            for a, b in zip(ref_replies, [x["reply"] for x in runs[config][0]["rows"]], strict=True)
        )
        prompt = _median([x["prompt_tok_s"] for x in rows])
        summary[config] = prompt
        lines.append(
            f"| {config} | {prompt:.1f} | {_median([x['decode_tok_s'] for x in rows]):.1f} | "
            f"{_median([x['first_token_s'] for x in rows]):.2f} | "
            f"{_median([x['answer_s'] for x in rows]):.2f} | "
            f"{_median([r['load_s'] for r in runs[config]]):.1f} | "
            f"{max(r['rss_mib'] for r in runs[config]):.0f} | {same}/{n} |"
        )
    if "llama-cpp" in summary:
        base = summary["llama-cpp"]
        ratios = ", ".join(f"{c} {v / base:.2f}x" for c, v in summary.items() if c != "llama-cpp")
        lines.append(f"\nPrompt tokens/s against llama-cpp (same run): {ratios}.")
    new_tokens = _median([x["new_prompt_tokens"] for x in runs[ref][0]["rows"]])
    lines.append(
        f"New prompt tokens per question after the cached prefix: median {new_tokens:.0f}."
    )
    text = "\n".join(lines) + "\n"
    print(text)
    (args.out / "runs.json").write_text(json.dumps(runs, indent=1))
    with args.results.open("a", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
