"""`citeqa eval SET …`, `citeqa eval compare RUN_A RUN_B`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from qa.errors import ConfigError, InputError

# Imported by qa.cli to build `citeqa --help`: keep the top of this module to the standard
# library and qa.errors; everything heavy is imported inside cmd_eval.

# The `eval` extra (pyproject.toml): without it, a run says what to install.
_EXTRAS = ("matplotlib", "langchain_text_splitters", "langchain_chroma", "langchain_huggingface")


def register(sub, common: Callable, answer_opts: Callable) -> None:  # type: ignore[no-untyped-def]
    p = sub.add_parser(
        "eval",
        help="evaluate a question set (or: eval compare RUN_A RUN_B)",
        description="Run a question set and score it; `citeqa eval compare A B` diffs two runs.",
    )
    p.add_argument("target", nargs="+", metavar="SET", help="a set folder, or: compare A B")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--sample", type=int, help="N questions spread evenly over the set")
    p.add_argument("--out", help="run folder (default runs/SET-PIPELINE-BACKEND-MODEL-kK)")
    p.add_argument(
        "--pipeline", choices=["citeqa", "langchain-baseline"], default="citeqa",
        help="citeqa, or the plain LangChain RAG baseline with the same model",
    )  # fmt: skip
    p.add_argument(
        "--fail-under", nargs="*", default=[], metavar="METRIC=VALUE",
        help="exit 1 if a metric is below VALUE (for latency/abstain_wrong: above)",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    answer_opts(p)
    common(p)
    p.set_defaults(func=cmd_eval)


def _thresholds(specs: list[str]) -> dict[str, float]:
    out = {}
    for spec in specs:
        name, _, value = spec.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"--fail-under wants METRIC=NUMBER, got {spec!r}") from None
    return out


def cmd_eval(args: argparse.Namespace) -> int:
    try:
        return _cmd_eval(args)
    except ModuleNotFoundError as e:
        if e.name not in _EXTRAS:
            raise
        raise ConfigError(
            f"`citeqa eval` needs {e.name}, which is not installed; "
            "install the eval extra with `pip install 'citeqa[eval]'`."
        ) from None


def _cmd_eval(args: argparse.Namespace) -> int:
    from eval.report import LOWER_IS_BETTER, compare, summary_table
    from qa.llm.openai import stderr_wait_notices
    from qa.settings import settings_from

    if args.target[0] == "compare":
        if len(args.target) != 3:
            raise InputError("Usage: citeqa eval compare RUN_A RUN_B")
        a, b = (Path(t) for t in args.target[1:])
        for run in (a, b):
            if not (run / "summary.json").exists():
                raise InputError(f"{run} is not a finished run (no summary.json).")
        print(compare(a, b))
        return 0
    if len(args.target) != 1:
        raise InputError("Give one set folder, e.g. citeqa eval eval/sets/sample")
    thresholds = _thresholds(args.fail_under)
    from eval.run import run_eval

    with stderr_wait_notices():
        report = run_eval(
            args.target[0],
            settings_from(args),
            out=args.out,
            limit=args.limit,
            sample=args.sample,
            pipeline=args.pipeline,
            progress=not args.quiet and sys.stderr.isatty(),
        )
    s = report.summary
    print(summary_table({s["pipeline"]: s}))
    print(f"\nWrote {report.out_dir}/summary.json, results.jsonl, report.md, report.html")
    failed = []
    for name, limit in thresholds.items():
        if name not in s:
            raise InputError(f"--fail-under: unknown metric {name!r}")
        value = s[name]
        bad = value > limit if name in LOWER_IS_BETTER else value < limit
        if bad:
            failed.append(f"{name}={value} (limit {limit})")
    if failed:
        print("FAILED thresholds: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0
