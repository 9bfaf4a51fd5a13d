"""Answer speed per backend on a question set, the LangChain baseline in the same run, and the
local backend's decoding speed with and without the grammar on the same engine and prompt.

    python -m bench.answer --sample 20
    python -m bench.answer --set eval/sets/news --sample 20 --runs local baseline

Every backend answers the same evenly spread questions through the eval harness (so quality
figures come with the timings); `openai` is llama-cpp-python's own OpenAI-compatible server
started here on loopback with the same GGUF.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from bench.ingest import machine
from eval.run import run_eval, spread
from eval.sets import load_set
from qa.llm import registry
from qa.llm.native import loaded
from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SET = ROOT / "eval" / "sets" / "sample"
KEYS = (
    "first_token_p50_s",
    # The first reading's checked answer (shown as a draft), which is the whole answer where
    # no second reading follows (`second_reading`).
    "first_answer_p50_s",
    "latency_p50_s",
    "second_reading_used",
    "latency_p95_s",
    "prompt_tokens_mean",
    "completion_tokens_mean",
    "hit_at_1",
    "answer_f1",
    "answer_contains",
    "citation_precision",
    "citation_recall",
    "citation_validity",
    "abstain_correct",
    "abstain_wrong",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def openai_server(model: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/v1"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host"]
    cmd += ["127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--model_alias", "local-gguf"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/models", timeout=2)
            return proc, url
        except OSError:
            time.sleep(1)
    proc.kill()
    raise RuntimeError("llama_cpp.server did not start")


def _after_first(pieces: Iterable[str]) -> tuple[list[str], float]:
    """The pieces a reply streamed, and the seconds from its first piece to its end."""
    out: list[str] = []
    first = None
    for piece in pieces:
        if first is None:
            first = time.perf_counter()
        out.append(piece)
    return out, time.perf_counter() - first if first is not None else 0.0


def decode_speed(chain: Any, prompt: Any, runs: int) -> dict[str, float]:
    """Generated tokens/s after the first token, grammar-checked vs free greedy decoding on the
    same engine and the same prompt built by the real pipeline."""
    llm = chain.llm

    def rate(pieces: Iterable[str]) -> float:
        out, seconds = _after_first(pieces)
        return (len(out) - 1) / seconds if len(out) > 1 and seconds else 0.0

    ours, theirs = [], []
    for _ in range(runs):
        fmt = chain.reply_format(prompt)
        ours.append(rate(llm.stream(prompt.messages, fmt=fmt, max_tokens=120)))
        # The same call without a reply format: decoding with no grammar at all.
        theirs.append(rate(llm.stream(prompt.messages, fmt=None, max_tokens=120)))
    return {
        "ours_tok_s": float(np.median(ours)),
        "raw_tok_s": float(np.median(theirs)),
        "prompt_tokens": len(llm.prompt_tokens(prompt.messages)),
    }


def draft_speed(
    assistant: Any, chain: Any, questions: list[Any], sizes: tuple[int, ...]
) -> dict[int, dict[str, float]]:
    """Decoding after the first token with each `draft_tokens` size, interleaved question by
    question on the same answer prompts (those of `questions` that reach the model):
    generated tokens/s over all replies, and how many replies equal the first size's
    (batched evaluation can tip a near tie)."""
    llm = chain.llm
    prompts = [chain.prepare(assistant.query(q.question, as_of=q.question_date)) for q in questions]
    prompts = [p for p in prompts if not chain.gated(p)]
    seconds = {s: 0.0 for s in sizes}
    tokens = {s: 0 for s in sizes}
    replies: dict[int, list[str]] = {s: [] for s in sizes}
    for prompt in prompts:
        for size in sizes:
            llm.draft_tokens = size
            out, took = _after_first(chain.generate(prompt))
            if not out:
                continue
            seconds[size] += took
            reply = "".join(out)
            n_tok = len(llm.engine.tokenize(reply, add_bos=False, special=False))
            tokens[size] += max(n_tok - 1, 0)
            replies[size].append(reply)
    return {
        s: {
            "tok_s": tokens[s] / seconds[s] if seconds[s] else 0.0,
            "equal": sum(x == y for x, y in zip(replies[s], replies[sizes[0]], strict=True)),
            "replies": len(replies[s]),
        }
        for s in sizes
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--set", type=Path, default=SAMPLE_SET, help="question set (default: sample)")
    p.add_argument("--sample", type=int, default=20, help="questions, spread evenly over the set")
    backends = registry.names()
    p.add_argument(
        "--runs",
        nargs="+",
        choices=[*backends, "baseline"],
        default=[*backends, "baseline"],
        help=f"backends ({', '.join(backends)}) and/or baseline (LangChain, local model)",
    )
    p.add_argument("--decode-runs", type=int, default=3)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-answer")
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = p.parse_args(argv)

    eval_set = load_set(args.set)
    questions = spread(list(eval_set.questions), args.sample)
    unanswerable = sum(not q.answerable for q in questions)
    base = Settings.load()
    summaries: dict[str, dict[str, Any]] = {}
    server = None
    try:
        for run in args.runs:
            settings = base
            if run == "openai":
                from qa.llm.models import resolve_model

                server, url = openai_server(resolve_model(base.model, base.cache_dir))
                settings = base.model_copy(
                    update={"openai_base_url": url, "openai_model": "local-gguf"}
                )
            backend = "local" if run == "baseline" else run
            settings = settings.model_copy(update={"backend": backend})
            out = args.out / run
            shutil.rmtree(out, ignore_errors=True)  # fresh timings, never resumed
            print(f"== {run}", flush=True)
            report = run_eval(
                args.set,
                settings,
                out=out,
                sample=args.sample,
                pipeline="langchain-baseline" if run == "baseline" else "citeqa",
            )
            summaries[run] = report.summary
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
                server = None
    finally:
        if server is not None:
            server.kill()

    from qa.answer import warm
    from qa.assistant import Assistant

    # One index and one model for both decoding measurements.
    with Assistant(base.model_copy(update={"data_dir": args.out / "decode-index"})) as a:
        a.add(list(eval_set.articles), progress=False)
        chain = a.chain("local")
        warm(chain.llm)  # the instruction prefix cached, as `citeqa ask` does
        first = next(q for q in questions if q.answerable)
        speed = decode_speed(
            chain, chain.prepare(a.query(first.question, as_of=first.question_date)),
            args.decode_runs,
        )  # fmt: skip
        drafts = draft_speed(a, chain, questions, tuple(dict.fromkeys((0, base.draft_tokens or 3))))
    set_arg = "" if args.set.resolve() == SAMPLE_SET else f" --set {args.set}"
    lines = [
        "\n## Answering\n",
        f"`python -m bench.answer{set_arg} --sample {args.sample} --runs {' '.join(args.runs)}`, "
        f"{dt.date.today()}, {machine()}, model {base.model}. The same {len(questions)} "
        f"questions of the {eval_set.name} set (spread evenly, {unanswerable} of them "
        f"unanswerable, of {len(eval_set.questions)}) for every run; run folders in "
        f"`{args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}`. "
        f"ik_llama.cpp library: `{loaded() or 'none loaded'}`.\n",
        "| measure | " + " | ".join(summaries) + " |",
        "|---|" + "---|" * len(summaries),
    ]
    for key in KEYS:
        vals = [summaries[r].get(key) for r in summaries]
        lines.append(f"| {key} | " + " | ".join("—" if v is None else f"{v}" for v in vals) + " |")
    if "local" in summaries and "baseline" in summaries:
        ratio = summaries["local"]["latency_p50_s"] / summaries["baseline"]["latency_p50_s"]
        lines.append(f"\nciteqa/baseline answer latency p50 (same run): {ratio:.2f}x")
    lines.append(
        f"\nDecoding after the first token, same prompt ({speed['prompt_tokens']} tokens), "
        f"median of {args.decode_runs}: citeqa local backend (grammar-checked) "
        f"{speed['ours_tok_s']:.1f} tok/s, free greedy decoding (no grammar) "
        f"{speed['raw_tok_s']:.1f} tok/s: {speed['ours_tok_s'] / speed['raw_tok_s']:.2f}x."
    )
    lines.append(
        "\nDecoding after the first token by `draft_tokens` (guesses from the prompt checked in "
        f"one batch), the same {len(questions)} {eval_set.name} questions' prompts, sizes "
        "interleaved question by question:\n"
    )
    lines.append("| draft_tokens | tok/s after the first token | replies equal to draft 0 |")
    lines.append("|---|---|---|")
    for size, d in drafts.items():
        lines.append(f"| {size} | {d['tok_s']:.1f} | {d['equal']}/{d['replies']} |")
    text = "\n".join(lines) + "\n"
    print(text)
    with args.results.open("a", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
