"""`citeqa` command line: ingest, ask, articles, remove (eval and serve plug in here too).

User mistakes end with a one-line message and exit code 2, never a traceback; exit code 1 means
the command ran but something in it failed (e.g. a rejected file).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from qa.errors import CiteqaError

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2


def _common(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("index")
    g.add_argument("--data-dir", help="index directory (env CITEQA_DATA_DIR)")
    g.add_argument("--chroma-url", help="use a Chroma server, e.g. http://127.0.0.1:8000")
    g.add_argument("--config", help="TOML config file (env CITEQA_CONFIG)")


def _answer_opts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=["local", "openai", "extractive"])
    parser.add_argument("--model", help="packaged model name (see `citeqa models`)")
    parser.add_argument("--k", type=int, help="number of chunks to retrieve")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="citeqa",
        description="Answers about news articles with exact, verified quotes.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("ingest", help="add articles (files or folders) to the index")
    s.add_argument("paths", nargs="+", help=".txt .md .html .jsonl files or folders")
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    _common(s)
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("ask", help="ask a question")
    s.add_argument("question")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.add_argument("--source", action="append", default=[], help="only this source (repeatable)")
    s.add_argument("--after", help="only articles published on/after this date (ISO 8601)")
    s.add_argument("--before", help="only articles published on/before this date (ISO 8601)")
    _answer_opts(s)
    _common(s)
    s.set_defaults(func=cmd_ask)

    s = sub.add_parser("articles", help="list the articles in the index")
    s.add_argument("--json", action="store_true")
    _common(s)
    s.set_defaults(func=cmd_articles)

    s = sub.add_parser("remove", help="remove an article and its chunks")
    s.add_argument("article_id")
    _common(s)
    s.set_defaults(func=cmd_remove)

    s = sub.add_parser("models", help="list the packaged local models")
    s.set_defaults(func=cmd_models)

    for register in _plugins():
        register(sub, _common, _answer_opts)
    return p


def _plugins() -> list[Callable[..., None]]:
    """Sub-commands that live with their feature (eval/, app.py), registered when present."""
    import importlib

    out = []
    for module in ("eval.cli", "app"):
        try:
            out.append(importlib.import_module(module).register)
        except ModuleNotFoundError as e:  # the feature's optional deps are not installed
            if e.name not in (module, "gradio", "matplotlib"):
                raise
    return out


def settings_from(args: argparse.Namespace, **extra: Any):  # type: ignore[no-untyped-def]
    from qa.settings import Settings

    return Settings.load(
        getattr(args, "config", None),
        data_dir=getattr(args, "data_dir", None),
        chroma_url=getattr(args, "chroma_url", None),
        backend=getattr(args, "backend", None),
        model=getattr(args, "model", None),
        k=getattr(args, "k", None),
        **extra,
    )


def open_assistant(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from qa.assistant import Assistant

    return Assistant(settings_from(args))


def cmd_ingest(args: argparse.Namespace) -> int:
    assistant = open_assistant(args)
    report = assistant.add(args.paths, progress=sys.stderr.isatty())
    if args.json:
        items = [dataclasses.asdict(i) for i in report.items]
        print(json.dumps({"items": items, "summary": report.summary()}, ensure_ascii=False))
    else:
        for item in report.items:
            line = f"{item.status:<9} {item.origin}"
            if item.article_id:
                line += f"  →  {item.article_id} ({item.chunks} chunks)"
            if item.reason:
                line += f"  —  {item.reason}"
            print(line)
        print(report.summary())
    return EXIT_PARTIAL if report.rejected else EXIT_OK


def parse_filters(sources: Sequence[str], after: str | None, before: str | None):  # type: ignore[no-untyped-def]
    from index.load import parse_date
    from index.store import Filters
    from qa.errors import InputError

    try:
        return Filters(
            sources=tuple(sources),
            published_after=parse_date(after) if after else None,
            published_before=parse_date(before) if before else None,
        )
    except ValueError as e:
        raise InputError(f"Bad date filter: {e}") from None


def cmd_ask(args: argparse.Namespace) -> int:
    filters = parse_filters(args.source, args.after, args.before)
    assistant = open_assistant(args)
    answer = assistant.ask(args.question, filters=filters or None)
    if args.json:
        d = answer.to_dict()
        print(
            json.dumps(
                {
                    k: d[k]
                    for k in (
                        "answer",
                        "abstained",
                        "citations",
                        "sentences",
                        "sources",
                        "timings",
                        "tokens",
                        "backend",
                        "model",
                        "question",
                        "standalone_question",
                    )
                },
                ensure_ascii=False,
            )
        )
    else:
        print(answer.to_markdown())
        t = answer.timings
        print(
            f"\n({answer.backend}/{answer.model}: retrieve {t.get('retrieve', 0):.2f}s, "
            f"generate {t.get('generate', 0):.2f}s, total {t.get('total', 0):.2f}s)",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_articles(args: argparse.Namespace) -> int:
    rows = open_assistant(args).articles()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return EXIT_OK
    if not rows:
        print("The index is empty. Add articles with `citeqa ingest PATH`.")
    for r in rows:
        print(f"{r['id']}\t{r.get('title', '')}\t{r.get('n_chunks', 0)} chunks")
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    open_assistant(args).remove(args.article_id)
    print(f"Removed {args.article_id}.")
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    from qa.llm.models import MODELS

    for m in MODELS.values():
        print(f"{m.name:<20} {m.size / 1e6:>7.0f} MB  {m.about}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CiteqaError as e:
        print(f"Error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
