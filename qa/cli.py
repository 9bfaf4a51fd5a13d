"""`citeqa` command line: ingest, ask, articles, remove, models, api; the commands of the layers
above (eval, serve) are handed in by the entry module, `citeqa_cli.py`, as registrars.

User mistakes end with a one-line message and exit code 2, never a traceback; exit code 1 means
the command ran but something in it failed (e.g. a rejected file).

Building the parser imports nothing heavy (`citeqa --help` should be instant): every command
imports what it needs (chromadb, torch, llama.cpp, gradio, matplotlib) when it runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from qa.errors import CiteqaError, ConfigError, InputError
from qa.filters import parse_filters
from qa.llm import registry  # names and descriptions only: no model library loads

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2


def _common(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("index")
    g.add_argument("--data-dir", help="index directory (env CITEQA_DATA_DIR)")
    g.add_argument("--chroma-url", help="use a Chroma server, e.g. http://127.0.0.1:8000")
    g.add_argument("--config", help="TOML config file (env CITEQA_CONFIG)")


def _answer_opts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=registry.names(),
        help="what writes the answer (default: setting backend, env CITEQA_BACKEND, else "
        "local): " + "; ".join(f"{name}: {about}" for name, about in registry.describe()),
    )
    parser.add_argument("--model", help="packaged model name (see `citeqa models`)")
    parser.add_argument("--k", type=int, help="number of chunks to retrieve")


# A sub-command registrar: given the sub-parsers and the shared option groups (index options,
# answer options), it adds its command. qa/ cannot import eval/ or app.py, so their commands
# come in this way from the entry module above them.
Registrar = Callable[[Any, Callable[[argparse.ArgumentParser], None],
                      Callable[[argparse.ArgumentParser], None]], None]  # fmt: skip


def build_parser(extra: Sequence[Registrar] = ()) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="citeqa",
        description="Answers about news articles with exact, verified quotes.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("ingest", help="add articles (files, folders, URLs, feeds) to the index")
    s.add_argument(
        "paths",
        nargs="+",
        help=".txt .md .html .jsonl .json(.gz) .rss .atom .xml files, folders, or http(s) URLs "
        "of pages or feeds",
    )
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.add_argument(
        "--replace",
        action="store_true",
        help="update an article whose id another source's file already holds (default: keep "
        "both, the newcomer under an id qualified by its folder or feed name)",
    )
    s.add_argument(
        "--follow-links",
        action="store_true",
        help="inside folders, also read symbolic links to files outside the folder",
    )
    s.add_argument(
        "--fetch",
        action="store_true",
        help="for a feed URL, fetch each item's page and index its main text (default: the "
        "item's own summary or content)",
    )
    _common(s)
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("ask", help="ask a question")
    s.add_argument("question")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.add_argument("--source", action="append", default=[], help="only this source (repeatable)")
    s.add_argument(
        "--after",
        help="only articles published on/after this date or time (ISO 8601, UTC unless given; "
        "a date alone counts from its start)",
    )
    s.add_argument(
        "--before",
        help="only articles published on/before this date or time (ISO 8601, UTC unless "
        "given; a date alone includes the whole day)",
    )
    s.add_argument(
        "--as-of",
        help="the day the question is asked (YYYY-MM-DD, default today): time words in it "
        "such as 'this week' or 'in March' prefer articles published then",
    )
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

    s = sub.add_parser(
        "engine",
        help="which ik_llama.cpp library the local model runs on; --build compiles one for "
        "this CPU (AVX-512: ~1.16x the prompt speed, ~6 min)",
    )
    s.add_argument("--build", action="store_true", help="compile ik_llama.cpp for this CPU")
    s.add_argument("--jobs", type=int, help="parallel compile jobs (default: the CPU count)")
    s.add_argument("--force", action="store_true", help="with --build: build again if built")
    s.add_argument(
        "--if-supported",
        action="store_true",
        help="with --build: on a CPU the build is not for, say so and succeed (for scripts)",
    )
    s.add_argument("--config", help="TOML config file (env CITEQA_CONFIG)")
    s.set_defaults(func=cmd_engine)

    register_api(sub, _common, _answer_opts)
    for register in extra:
        register(sub, _common, _answer_opts)
    return p


def register_serve(  # type: ignore[no-untyped-def]
    sub, common, answer_opts, *, run: Callable[[argparse.Namespace], int]
) -> None:
    """`citeqa serve`'s options, with `run` as its command. Declared here, not in app.py,
    because importing app.py imports gradio (seconds), which `citeqa --help` must not pay
    for: the entry module passes a `run` that imports the page only when it starts."""
    p = sub.add_parser("serve", help="start the chat page (http://127.0.0.1:7860)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument(
        "--auth",
        default=os.environ.get("CITEQA_AUTH"),
        help="USER:PASSWORD to protect the page (or env CITEQA_AUTH, which, unlike the "
        "command line, other local users cannot read with ps)",
    )
    answer_opts(p)
    common(p)
    p.set_defaults(func=run)


def register_api(sub, common, answer_opts) -> None:  # type: ignore[no-untyped-def]
    """`citeqa api`. Declared here for the same reason as serve: fastapi and uvicorn load only
    when the command runs (cmd_api), never for `citeqa --help`."""
    p = sub.add_parser(
        "api", help="start the HTTP API, OpenAI-compatible (http://127.0.0.1:8000/v1)"
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; anything but loopback needs API keys in env "
        "CITEQA_API_KEYS (comma separated; clients send Authorization: Bearer KEY)",
    )
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--max-in-flight",
        type=int,
        default=4,
        help="requests one API key may have in flight at once; more get 429 (default 4)",
    )
    answer_opts(p)
    common(p)
    p.set_defaults(func=cmd_api)


def cmd_api(args: argparse.Namespace) -> int:
    try:
        import uvicorn  # noqa: F401 - used by api.run; missing, it is said here, before models load

        from qa import api
        from qa.settings import settings_from
    except ModuleNotFoundError as e:
        if e.name not in ("fastapi", "starlette", "uvicorn", "multipart", "python_multipart"):
            raise
        raise ConfigError(
            f"`citeqa api` needs fastapi, uvicorn and python-multipart ({e.name} is missing); "
            "install them with `pip install 'citeqa[ui]'`."
        ) from None
    return api.run(
        settings_from(args), host=args.host, port=args.port, max_in_flight=args.max_in_flight
    )


def open_assistant(  # type: ignore[no-untyped-def]
    args: argparse.Namespace, *, create: bool = True, embeds: bool = True
):
    """The assistant for the command's flags. Read commands pass `create=False`: a mistyped
    --data-dir is then an error naming it, not a new empty index that "doesn't say".
    `embeds=False` (list, remove) leaves the embedding model unloaded until it is needed."""
    from qa.assistant import Assistant
    from qa.settings import settings_from

    return Assistant(settings_from(args), create=create, load_embedder=embeds)


# Options of `ingest`: after `--` argparse takes every argument as a path, so one of these
# there is almost surely a misplaced option (said on stderr, the path is still tried).
_INGEST_OPTIONS = ("--data-dir", "--chroma-url", "--config", "--json")


def cmd_ingest(args: argparse.Namespace) -> int:
    from index.ingest import IngestInterrupted

    assistant = open_assistant(args)
    try:
        report = assistant.add(
            args.paths,
            progress=sys.stderr.isatty(),
            replace=args.replace,
            follow_links=args.follow_links,
            fetch_links=args.fetch,
        )
    except IngestInterrupted as stop:
        _print_report(stop.report)
        print(
            "Interrupted: the articles above are committed; run the same command again to add "
            "the rest (committed ones are skipped).",
            file=sys.stderr,
        )
        return 130
    settings = assistant.settings
    data_dir = Path(settings.data_dir).expanduser().resolve()
    # Which index was written, always: with `--`, a misplaced --data-dir is just a path and
    # the articles went to CITEQA_DATA_DIR or the default.
    where = str(data_dir)
    if settings.chroma_url:
        where = f"{settings.chroma_url} (collection {settings.collection!r})"
    if args.json:
        items = [dataclasses.asdict(i) for i in report.items]
        out: dict[str, Any] = {"items": items, "summary": report.summary()}
        out["data_dir"] = str(data_dir)
        if settings.chroma_url:
            out["chroma_url"] = settings.chroma_url
        print(json.dumps(out, ensure_ascii=False))
    else:
        _print_report(report)
        print(f"Index: {where}")
    for path in args.paths:
        if path.split("=", 1)[0] in _INGEST_OPTIONS and not os.path.lexists(path):
            print(
                f"Note: {path!r} came after `--`, so it was read as a path, not an option; "
                "put options before `--`.",
                file=sys.stderr,
            )
    return EXIT_PARTIAL if report.rejected else EXIT_OK


def _print_report(report: Any) -> None:
    for item in report.items:
        line = f"{item.status:<9} {item.origin}"
        if item.article_id:
            line += f"  →  {item.article_id} ({item.chunks} chunks)"
        if item.reason:
            line += f"  —  {item.reason}"
        print(line)
    print(report.summary())


def _as_of(value: str | None):  # type: ignore[no-untyped-def]
    from datetime import date

    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(
            f"Bad --as-of {value!r}: give the day the question is asked as YYYY-MM-DD."
        ) from None


def cmd_ask(args: argparse.Namespace) -> int:
    from qa.assistant import check_question
    from qa.llm.openai import stderr_wait_notices

    # The typed input first: an empty question or a bad date is the user's first mistake to
    # hear about, whatever the state of the index.
    check_question(args.question)
    filters = parse_filters(args.source, args.after, args.before)
    as_of = _as_of(args.as_of)
    assistant = open_assistant(args, create=False)
    with stderr_wait_notices():
        answer = assistant.ask(args.question, filters=filters or None, as_of=as_of)
    if args.json:
        # The model's replies before the checks: a withheld draft to read beside its reason.
        d = {**answer.to_dict(), "raw_reply": answer.raw_reply, "second_reply": answer.second_reply}
        print(
            json.dumps(
                {
                    k: d[k]
                    for k in (
                        "answer",
                        "abstained",
                        "declined",
                        "why_declined",
                        "citations",
                        "sentences",
                        "sources",
                        "timings",
                        "tokens",
                        "backend",
                        "model",
                        "question",
                        "standalone_question",
                        "confidence",
                        "signals",
                        "reading",
                        "raw_reply",
                        "second_reply",
                    )
                },
                ensure_ascii=False,
            )
        )
    else:
        print(answer.to_markdown())
        if answer.confidence is not None:
            print(f"\nConfidence: {answer.confidence:.2f}")
        t = answer.timings
        # Where the answer was read twice, the second reading is most of the rest of the total.
        again = f"second reading {t['second_reading']:.2f}s, " if "second_reading" in t else ""
        print(
            f"\n({answer.backend}/{answer.model}: retrieve {t.get('retrieve', 0):.2f}s, "
            f"generate {t.get('generate', 0):.2f}s, {again}total {t.get('total', 0):.2f}s)",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_articles(args: argparse.Namespace) -> int:
    rows = open_assistant(args, create=False, embeds=False).articles()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return EXIT_OK
    if not rows:
        print("The index is empty. Add articles with `citeqa ingest PATH`.")
    for r in rows:
        print(f"{r['id']}\t{r.get('title', '')}\t{r.get('n_chunks', 0)} chunks")
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    open_assistant(args, create=False, embeds=False).remove(args.article_id)
    print(f"Removed {args.article_id}.")
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    from qa.llm.models import MODELS

    for m in MODELS.values():
        print(f"{m.name:<20} {m.size / 1e6:>7.0f} MB  {m.about}")
    return EXIT_OK


def cmd_engine(args: argparse.Namespace) -> int:
    from qa.llm import native
    from qa.settings import settings_from

    settings = settings_from(args)
    if args.build:
        lacks = native.missing_flags(native.cpu_flags())
        if lacks and args.if_supported:
            print(f"Nothing to build: this CPU lacks {', '.join(lacks)}; the wheel's AVX2 "
                  "library is what it runs best.")  # fmt: skip
            return EXIT_OK
        if native.status(settings.cache_dir).library is not None and not args.force:
            print("Already built for this CPU (--force builds it again).")
        else:
            native.build(settings.cache_dir, jobs=args.jobs)
    if settings.engine != "ik":
        print(f"library: llama-cpp-python's own (the setting engine is {settings.engine!r})")
        return EXIT_OK
    st = native.status(settings.cache_dir)
    used = st.library if settings.native_library == "auto" else None
    print(f"library: {used or 'the ik-llama-cpp-python wheel (AVX2)'}")
    if settings.native_library == "wheel":
        print("why: the setting native_library is 'wheel'")
    else:
        print(f"why: {st.reason}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None, *, extra: Sequence[Registrar] = ()) -> int:
    """Run one command; `extra` adds the commands of the layers above (see `citeqa_cli`)."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    args = build_parser(extra).parse_args(argv)
    try:
        return int(args.func(args))
    except CiteqaError as e:
        print(f"Error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # `python -m qa.cli` has this layer's commands only; `python -m citeqa_cli` has them all.
    sys.exit(main())
