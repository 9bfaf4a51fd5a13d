"""Bad input → a clear error, nothing lost (issue 6).

One table of cases (`CASES`). Each case goes through the Python API (`Assistant`, `load_set`)
and through the CLI (`qa.cli.main` in-process, which is what the `citeqa` script runs), and a
representative handful also through real `citeqa` subprocesses (`TestRealCli`), so no case pays
the ~5 s interpreter start. Every case checks the message (file, line, problem, fix), the exit
code (2: user error, 1: some input rejected, the good parts kept, 0: accepted) and what happened
to the index: unchanged, or updated by exactly the good parts.

The messages seen are written to test-artifacts/bad-input.md (the table for the issue).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from citeqa_cli import main
from index.load import MAX_ARTICLE_CHARS
from qa.assistant import Assistant
from qa.cli import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE
from qa.errors import BackendError, CiteqaError, InputError, StoreError
from tests.conftest import ROOT, SAMPLE, free_port

SAMPLE_ID = "putin-kyrgyzstan-visit"
QUESTION = "Why did Pashinyan skip the summit?"
CITEQA = str(Path(sys.executable).with_name("citeqa"))
TABLE = ROOT / "test-artifacts" / "bad-input.md"


@dataclass(frozen=True)
class Case:
    """One bad input. `build(tmp)` makes it and returns what the surfaces are given: paths
    (ingest), a question (ask), a set folder (eval), a data dir (store) or a server (llm)."""

    name: str
    kind: str  # ingest | ask | filter | nodir | cli (CLI only) | eval | store | llm
    build: Callable[[Path], Any]
    # Each inner tuple must appear together on one line of the message (e.g. file and problem).
    expect: tuple[tuple[str, ...], ...]
    exit_code: int
    added: tuple[str, ...] = ()  # article ids the case adds (the good parts kept)
    check: Callable[[Assistant, Any], None] | None = None  # extra checks on the result
    max_seconds: float | None = None  # the API call must finish within this


# --- inputs -------------------------------------------------------------------------------


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def _jsonl(path: Path, *records: dict | str) -> list[Path]:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    return [_write(path, "\n".join(lines) + "\n")]


GOOD = {"id": "good-1", "title": "Harbour reopens", "text": "The harbour reopened on Monday."}
BRIDGE = (
    "Riverton bridge approved\r\n\r\nThe Riverton council approved a new bridge on Tuesday.\r\n"
    "The bridge will cost 40 million dollars, the mayor said.\r\n\r\n"
    "Construction starts in May and ends in 2026.\r\n"
)
UTF16 = "Zürich café news\n\nThe café in Zürich reopened — «finally», said Åsa Øberg.\n"


def _nested(tmp: Path) -> list[Path]:
    root = tmp / "tree"
    _write(root / "a" / "b" / "deep.txt", "The deep story happened. It was deep.")
    _write(root / "top.md", "# Top story\n\nThe top story happened on Friday.")
    _write(root / ".hidden.txt", "A hidden file that must not be ingested.")
    _write(root / ".git" / "x.txt", "Inside a hidden folder.")
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)  # a loop back to the top
    (root / "a" / "self.txt").symlink_to(root / "a" / "self.txt")  # a file that links to itself
    return [root]


def _broken_link(tmp: Path) -> list[Path]:
    _write(tmp / "f" / "ok.txt", "An ok story. It is short.")
    (tmp / "f" / "gone.txt").symlink_to(tmp / "f" / "deleted.txt")
    return [tmp / "f"]


def _disappearing(tmp: Path) -> Iterator[Path]:
    """The paths are listed, then one file is deleted while the first is being ingested:
    `Assistant.add` consumes its iterable lazily, so the deletion happens between the two."""
    listed = [
        _write(tmp / "in" / "first.txt", "The first story is here. It stays."),
        _write(tmp / "in" / "second.txt", "The second story will vanish."),
    ]
    for p in listed:
        yield p
        listed[1].unlink(missing_ok=True)  # runs when the indexer asks for the next path


def _html_scripts(tmp: Path) -> list[Path]:
    html = "<html><head><script>var a = 1;</script><style>p{color:red}</style></head></html>"
    return [_write(tmp / "scripts.html", html)]


def _html_empty_body(tmp: Path) -> list[Path]:
    html = "<html><head><title>Only a title</title></head><body><div></div></body></html>"
    return [_write(tmp / "nobody.html", html)]


def _check_utf16(a: Assistant, _: Any) -> None:
    art = a.get_article("cafe")
    assert art.title == "Zürich café news"
    assert art.text == "The café in Zürich reopened — «finally», said Åsa Øberg."


def _check_crlf(a: Assistant, paths: Any) -> None:
    art = a.get_article("bridge")
    assert "\r" not in art.text
    ans = a.ask("How much will the Riverton bridge cost?", backend="extractive")
    assert not ans.abstained and ans.citations, ans.text
    original = Path(paths[0]).read_bytes().decode().replace("\r\n", "\n")
    for c in ans.citations:
        assert art.text[c.start : c.end] == c.quote and c.quote in original
    assert any("40 million dollars" in c.quote for c in ans.citations)


def _check_nested(a: Assistant, _: Any) -> None:
    ids = {r["id"] for r in a.articles()}
    assert not any("hidden" in i or i.startswith(".") for i in ids)


def _page(body: str) -> str:
    return (
        f"<html><head><title>Local news</title></head><body><article>{body}</article></body></html>"
    )


def _two_index_pages(tmp: Path) -> list[Path]:
    """Two sites' front pages: both named index.html, so both files give the id 'index'."""
    a = _write(
        tmp / "siteA" / "index.html",
        _page(
            "<h1>Harbour reopens</h1><p>The harbour in Riverton reopened on Monday after a week of "
            "repairs to the sea wall, the port authority said.</p>"
        ),
    )
    b = _write(
        tmp / "siteB" / "index.html",
        _page(
            "<h1>Library closes</h1><p>The central library in Oakdale closed on Friday for a "
            "six-month renovation of its reading rooms, the council said.</p>"
        ),
    )
    return [a, b]


def _two_feeds(tmp: Path) -> list[Path]:
    """Two feeds that both number their items from 1."""
    a = _jsonl(tmp / "feedA.jsonl", {"id": 1, "text": "The ferry to Kell Island resumed today."})
    b = _jsonl(tmp / "feedB.jsonl", {"id": 1, "text": "The mine at Brask cut 200 jobs today."})
    return a + b


def _check_both_kept(*ids: str) -> Callable[[Assistant, Any], None]:
    def check(a: Assistant, _: Any) -> None:
        texts = {i: a.get_article(i).text for i in ids}
        assert len(set(texts.values())) == len(ids), texts  # distinct stories, none replaced

    return check


def _accented_names(tmp: Path) -> list[Path]:
    return [
        _write(tmp / "café.txt", "The café on Rue Neuve reopened on Monday."),
        _write(tmp / "cafè.txt", "The cafè in Turin closed for good on Sunday."),
    ]


def _check_unicode_title(a: Assistant, _: Any) -> None:
    assert a.get_article("été-東京").title == "Été 東京"


def _link_out(tmp: Path) -> list[Path]:
    secret = _write(tmp / "outside" / "passwd", "root:x:0:0:root:/root:/bin/bash\n")
    _write(tmp / "news" / "ok.txt", "An ok story. It is short.")
    (tmp / "news" / "notes.txt").symlink_to(secret)
    return [tmp / "news"]


def _check_no_secret(a: Assistant, _: Any) -> None:
    assert all("root:x" not in a.get_article(r["id"]).text for r in a.articles())


def _html_nav_only(tmp: Path) -> list[Path]:
    html = (
        "<html><body><nav><ul><li><a href='/'>Home</a></li></ul></nav>"
        "<script>track();</script></body></html>"
    )
    return [_write(tmp / "page.html", html)]


def _conf(tmp: Path, data: bytes | str) -> str:
    return str(_write(tmp / "citeqa.toml", data))


def _dash_file(tmp: Path) -> list[str]:
    """`citeqa ingest --data-dir D -- -x.txt --data-dir elsewhere`: after `--` all are paths."""
    f = _write(tmp / "-x.txt", "A story in a file whose name starts with a dash.")
    return ["ingest", "--data-dir", "{data}", "--", str(f), "--data-dir", str(tmp / "elsewhere")]


def _follow(tmp: Path) -> list[str]:
    return ["ingest", str(_link_out(tmp)[0]), "--follow-links", "--data-dir", "{data}"]


def _question_set(tmp: Path, questions: list[dict | str]) -> Path:
    root = tmp / "set"
    _jsonl(root / "articles.jsonl", {"id": "a1", "text": "The mayor opened the new library."})
    _jsonl(root / "questions.jsonl", *questions)
    return root


def _bad_quote_set(tmp: Path) -> Path:
    ok = {"id": "q1", "question": "Who opened the library?", "answer": "The mayor",
          "evidence": [{"article_id": "a1", "quote": "The mayor opened"}],
          "answerable": True}  # fmt: skip
    bad = {**ok, "id": "q2", "evidence": [{"article_id": "a1", "quote": "The queen opened"}]}
    return _question_set(tmp, [ok, bad])


def _broken_set(tmp: Path) -> Path:
    unknown = {"id": "q1", "question": "Who?", "answer": "x", "answerable": True,
               "evidence": [{"article_id": "nope", "quote": "x"}]}  # fmt: skip
    return _question_set(tmp, [unknown, '{"id": "q2", "question": ', {"id": "q3"}])


def _latin1_set(tmp: Path) -> Path:
    root = _question_set(tmp, [])
    q = {"id": "q1", "question": "Who?", "answerable": False}
    _write(root / "questions.jsonl", json.dumps(q).encode() + b'\n{"question": "Caf\xe9?"}\n')
    return root


def _garbage_sqlite(d: Path) -> Path:
    (d / "chroma" / "chroma.sqlite3").write_bytes(b"\x13garbage\xff" * 6000)
    return d


CASES: list[Case] = [
    # --- files ---------------------------------------------------------------------------
    Case("missing path", "ingest", lambda t: [t / "nope.txt"],
         (("nope.txt", "no such file or directory"),), EXIT_PARTIAL),
    Case("empty file", "ingest", lambda t: [_write(t / "empty.txt", b"")],
         (("empty.txt", "empty (0 bytes)"),), EXIT_PARTIAL),
    Case("whitespace-only file", "ingest", lambda t: [_write(t / "blank.txt", " \n\t\r\n  ")],
         (("blank.txt", "empty (only whitespace)"),), EXIT_PARTIAL),
    Case("binary file named .txt", "ingest",
         lambda t: [_write(t / "photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(256))],
         (("photo.txt", "binary file"),), EXIT_PARTIAL),
    Case("invalid UTF-8", "ingest",
         lambda t: [_write(t / "latin1.txt", b"Line one is fine.\nCaf\xe9 on line two.")],
         (("latin1.txt", "not valid UTF-8", "line 2", "re-save the file as UTF-8"),), EXIT_PARTIAL),
    Case("UTF-16 with BOM (accepted)", "ingest",
         lambda t: [_write(t / "cafe.txt", UTF16.encode("utf-16"))],
         (("1 added",),), EXIT_OK, added=("cafe",), check=_check_utf16),
    Case("Windows line endings (accepted)", "ingest", lambda t: [_write(t / "bridge.txt", BRIDGE)],
         (("1 added",),), EXIT_OK, added=("bridge",), check=_check_crlf),
    Case("50 MB article", "ingest", lambda t: [_write(t / "huge.txt", b"word " * 10_000_000)],
         (("huge.txt", "50.0 MB", f"{MAX_ARTICLE_CHARS:,} characters", "split it"),),
         EXIT_PARTIAL, max_seconds=10),
    Case("one-line 5 MB article, no sentence breaks", "ingest",
         lambda t: [_write(t / "oneline.txt", b"blah " * 1_000_000)],
         (("oneline.txt", "5,000,000 characters", f"limit is {MAX_ARTICLE_CHARS:,}"),),
         EXIT_PARTIAL, max_seconds=10),
    Case("HTML with only scripts/styles", "ingest", _html_scripts,
         (("scripts.html", "no article text"),), EXIT_PARTIAL),
    Case("HTML with no body text", "ingest", _html_empty_body,
         (("nobody.html", "no article text"),), EXIT_PARTIAL),
    Case("unsupported file type", "ingest", lambda t: [_write(t / "report.pdf", b"%PDF-1.4")],
         (("report.pdf", "unsupported file type '.pdf'", ".txt"),), EXIT_PARTIAL),
    # --- JSONL records: the bad line is named, the good lines are kept -------------------
    Case("JSONL malformed line", "ingest",
         lambda t: _jsonl(t / "m.jsonl", GOOD, '{"id": "x", "text": "unclosed'),
         (("m.jsonl:2", "not valid JSON"),), EXIT_PARTIAL, added=("good-1",)),
    Case("JSONL missing text", "ingest",
         lambda t: _jsonl(t / "t.jsonl", GOOD, {"id": "no-text", "title": "T"}),
         (("t.jsonl:2", "field 'text' is missing"),), EXIT_PARTIAL, added=("good-1",)),
    Case("JSONL non-string title", "ingest",
         lambda t: _jsonl(t / "ti.jsonl", {"id": "n", "title": 42, "text": "Text."}, GOOD),
         (("ti.jsonl:1", "field 'title' must be a string, got int"),), EXIT_PARTIAL,
         added=("good-1",)),
    Case("JSONL duplicate id, different text", "ingest",
         lambda t: _jsonl(t / "d.jsonl", GOOD, {**GOOD, "text": "The harbour closed again."}),
         (("d.jsonl:2", "duplicate id 'good-1' with different text"),), EXIT_PARTIAL,
         added=("good-1",)),
    Case("JSONL wrong published_at", "ingest",
         lambda t: _jsonl(t / "p.jsonl", {"id": "p", "text": "A.", "published_at": "last Tuesday"},
                          GOOD),
         (("p.jsonl:1", "published_at", "'last Tuesday' is not a date", "ISO 8601"),),
         EXIT_PARTIAL, added=("good-1",)),
    # --- folders -------------------------------------------------------------------------
    Case("nested folders, hidden files, symlink loops", "ingest", _nested,
         (("self.txt", "cannot read file", "symbolic links"),), EXIT_PARTIAL,
         added=("a-b-deep", "top"), check=_check_nested, max_seconds=60),
    Case("broken symlink in a folder", "ingest", _broken_link,
         (("gone.txt", "broken symbolic link", "deleted.txt"),), EXIT_PARTIAL, added=("ok",)),
    Case("file disappears during ingest", "ingest", _disappearing,
         (("second.txt", "no such file or directory"),), EXIT_PARTIAL, added=("first",)),
    # --- ids that collide: both articles are kept, the report says why -------------------
    Case("two index.html in different folders", "ingest", _two_index_pages,
         (("siteB/index.html", "id 'index' is taken by", "siteA/index.html", "both are kept",
           "--replace"),), EXIT_OK, added=("index", "siteb-index"),
         check=_check_both_kept("index", "siteb-index")),
    Case("two feeds numbering items from 1", "ingest", _two_feeds,
         (("feedB.jsonl:1", "id '1' is taken by", "feedA.jsonl:1", "'feedb-1'"),), EXIT_OK,
         added=("1", "feedb-1"), check=_check_both_kept("1", "feedb-1")),
    Case("names that differ only by an accent", "ingest", _accented_names,
         (("2 added",),), EXIT_OK, added=("café", "cafè"), check=_check_both_kept("café", "cafè")),
    Case("non-Latin name with emoji", "ingest",
         lambda t: [_write(t / "été 東京 😀.txt", "The Tokyo summer festival opened on Friday.")],
         (("1 added",),), EXIT_OK, added=("été-東京",), check=_check_unicode_title),
    Case("symlink to a file outside the folder", "ingest", _link_out,
         (("notes.txt", "skipped", "outside the folder", "--follow-links"),), EXIT_PARTIAL,
         added=("ok",), check=_check_no_secret),
    Case("HTML page with only navigation", "ingest", _html_nav_only,
         (("page.html", "no article text found in the page"),), EXIT_PARTIAL),
    # --- questions (extractive backend) --------------------------------------------------
    Case("empty question", "ask", lambda t: "   ", (("question is empty",),), EXIT_USAGE),
    Case("invisible-only question", "ask", lambda t: "\u200b\u200b\u2060",
         (("question is empty",),), EXIT_USAGE),
    Case("100k-character question", "ask", lambda t: "Why " * 24_999 + "now?",
         (("100,000 characters", "limit is 2,000", "shorter"),), EXIT_USAGE),
    Case("punctuation-only question", "ask", lambda t: "?!... ---",
         (("no words",),), EXIT_USAGE),
    Case("question in another language", "ask", lambda t: "Почему Пашинян пропустил саммит?",
         (("English-first", "Try asking in English"),), EXIT_OK),
    Case("question with control characters", "ask",
         lambda t: "Why did\x07 Pashinyan\x1b[31m skip\x00 the summit?\x08", (), EXIT_OK),
    # --- filters that leave nothing say so ----------------------------------------------
    Case("source filter that matches nothing", "filter",
         lambda t: {"sources": ["Reuters"]},
         (("No article matches source 'Reuters'", "no article has a source", "drop the filter"),),
         EXIT_USAGE),
    Case("date filter that matches nothing", "filter",
         lambda t: {"after": "2030-01-01"},
         (("No article matches published on/after 2030-01-01",
           "no article has a publication date"),), EXIT_USAGE),
    # --- question sets -------------------------------------------------------------------
    Case("question set: evidence quote not in article", "eval", _bad_quote_set,
         (("questions.jsonl:2", "field 'evidence.0.quote'", "not an exact substring", "'a1'"),),
         EXIT_USAGE),
    Case("question set: unknown article, bad JSON, missing fields", "eval", _broken_set,
         (("questions.jsonl:1", "evidence.0.article_id", "no article 'nope'"),
          ("questions.jsonl:2", "not valid JSON"),
          ("questions.jsonl:3", "field 'question'", "Field required"),
          ("questions.jsonl:3", "field 'answerable'", "Field required")), EXIT_USAGE),
    Case("question set: questions file not UTF-8", "eval", _latin1_set,
         (("questions.jsonl", "not valid UTF-8", "line 2", "re-save the file as UTF-8"),),
         EXIT_USAGE),
    # --- command-line arguments and config files (CLI only) -----------------------------
    Case("config file is a directory", "cli", lambda t: ["articles", "--config", str(t)],
         (("Config file", "is a directory", "pass a TOML file"),), EXIT_USAGE),
    Case("config file not UTF-8", "cli",
         lambda t: ["articles", "--config", _conf(t, b'k = 5\nmodel = "caf\xe9"\n')],
         (("is not UTF-8", "line 2"),), EXIT_USAGE),
    Case("config file not TOML", "cli",
         lambda t: ["articles", "--config", _conf(t, "k = = 5\n")],
         (("is not valid TOML",),), EXIT_USAGE),
    Case("config file with a misspelt key", "cli",
         lambda t: ["articles", "--config", _conf(t, "backnd = 'local'\n")],
         (("backnd", "did you mean", "backend"),), EXIT_USAGE),
    Case("config file with k = 0", "cli",
         lambda t: ["articles", "--config", _conf(t, "k = 0\n")],
         (("k = 0", "config file", "1 to 50"),), EXIT_USAGE),
    Case("--k 0", "cli", lambda t: ["ask", QUESTION, "--k", "0"],
         (("--k 0", "1 to 50"),), EXIT_USAGE),
    Case("--k 100000", "cli", lambda t: ["ask", QUESTION, "--k", "100000"],
         (("--k 100000", "1 to 50"),), EXIT_USAGE),
    Case("reversed date range", "cli",
         lambda t: ["ask", QUESTION, "--after", "2024-05-01", "--before", "2024-04-01"],
         (("--after '2024-05-01' is later than --before '2024-04-01'", "swap"),), EXIT_USAGE),
    Case("date filter not ISO 8601", "cli", lambda t: ["ask", QUESTION, "--after", "14/03/2024"],
         (("--after '14/03/2024' is not a date", "ISO 8601"),), EXIT_USAGE),
    Case("--as-of not a date", "cli", lambda t: ["ask", QUESTION, "--as-of", "tomorrow"],
         (("--as-of 'tomorrow'", "YYYY-MM-DD"),), EXIT_USAGE),
    Case("remove an unknown article", "cli", lambda t: ["remove", "no-such-story"],
         (("No article with id 'no-such-story'",),), EXIT_USAGE),
    Case("eval on a folder that is not a set", "cli",
         lambda t: ["eval", str(_write(t / "x" / "notes.txt", "x").parent), "--quiet"],
         (("no questions.jsonl",),), EXIT_USAGE),
    Case("API on a public address without keys", "cli", lambda t: ["api", "--host", "0.0.0.0"],
         (("No API keys are set", "CITEQA_API_KEYS", "--host 127.0.0.1"),), EXIT_USAGE),
    Case("options after -- are paths", "cli", _dash_file,
         (("came after `--`", "read as a path"), ("Index:",)), EXIT_PARTIAL, added=("x",)),
    Case("--follow-links reads the link out of the folder", "cli", _follow,
         (("2 added",),), EXIT_OK, added=("notes", "ok")),
    # --- the data directory and the Chroma server ----------------------------------------
    Case("corrupted data directory (garbage chroma.sqlite3)", "store", _garbage_sqlite,
         (("Cannot open the index in", "chroma", "file is not a database", "move it away"),),
         EXIT_USAGE),
    Case("Chroma server down", "store", lambda d: f"http://127.0.0.1:{free_port()}",
         (("Cannot reach the Chroma server at http://127.0.0.1:", "chroma run"),), EXIT_USAGE),
    Case("mistyped data directory", "nodir", lambda d: d.parent / "dta",
         (("No citeqa index at", "dta", "did you mean", "data?)",
           "citeqa ingest PATH --data-dir"),), EXIT_USAGE),
    Case("data directory whose parents do not exist", "nodir",
         lambda d: d.parent / "no" / "such" / "dir",
         (("No citeqa index at", "such", "citeqa ingest PATH --data-dir"),), EXIT_USAGE),
    # --- the OpenAI-compatible LLM server ------------------------------------------------
    Case("LLM server down", "llm", lambda t: "down",
         (("did not answer after 2 attempts", "CITEQA_OPENAI_BASE_URL"),), EXIT_USAGE),
    Case("LLM server slow (timeout)", "llm", lambda t: "slow",
         (("did not answer within 1 s after 2 attempts", "CITEQA_REQUEST_TIMEOUT"),),
         EXIT_USAGE),
    Case("LLM server returns garbage", "llm", lambda t: "garbage",
         (("did not give a usable reply after 2 attempts", "OpenAI-compatible"),), EXIT_USAGE),
    Case("LLM server returns chunks without text", "llm", lambda t: "empty",
         (("did not give a usable reply after 2 attempts", "no text"),), EXIT_USAGE),
    # Needs a read-only mount, so it runs in child processes only (TestRealCli).
    Case("read-only data directory", "readonly", lambda t: None,
         (("Cannot open the index in", "chroma", "attempt to write a readonly database",
           "It is read-only: make it writable"),),
         EXIT_USAGE),
]  # fmt: skip


# --- shared state -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_index(tmp_path_factory, cache_dir) -> Path:
    """An index holding the sample article; each case works on its own copy."""
    d = tmp_path_factory.mktemp("base")
    with Assistant.open(d / "data", cache_dir=cache_dir, backend="extractive") as a:
        a.add([SAMPLE])
    return d / "data"


@pytest.fixture()
def data_dir(base_index, tmp_path) -> Path:
    d = tmp_path / "data"
    shutil.copytree(base_index, d)
    return d


@pytest.fixture(autouse=True)
def _settings_env(monkeypatch, cache_dir):
    """The CLI builds its settings from the environment: keep it hermetic and fast."""
    monkeypatch.setenv("CITEQA_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("CITEQA_BACKEND", "extractive")
    for var in ("CITEQA_CONFIG", "CITEQA_CHROMA_URL", "CITEQA_OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)


SEEN: dict[str, dict[str, str]] = {}  # case name -> surface -> message, for the table


@pytest.fixture(scope="module", autouse=True)
def _write_table():
    yield
    if not SEEN:
        return
    rows = ["| case | what the user sees | what happened to the data |", "|---|---|---|"]
    for case in CASES:
        seen = SEEN.get(case.name)
        if seen is None:
            continue
        msg = seen.get("api") or seen.get("cli", "")
        msg = msg.replace("|", "\\|").replace("\n", "<br>")
        rows.append(f"| {case.name} | {msg} | {seen.get('effect', '')} |")
    TABLE.parent.mkdir(exist_ok=True)
    TABLE.write_text("\n".join(rows) + "\n", encoding="utf-8")


def _snapshot(d: Path) -> tuple[list[tuple[str, int]], int]:
    with Assistant.open(d, backend="extractive") as a:
        return [(r["id"], int(r["n_chunks"])) for r in a.articles()], a.store.count_chunks()


def _digest(d: Path) -> dict[str, str]:
    return {
        str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(d.rglob("*"))
        if p.is_file()
    }


def _assert_lines(message: str, case: Case) -> None:
    lines = message.splitlines()
    for parts in case.expect:
        assert any(all(p in line for p in parts) for line in lines), (parts, message)
    assert "Traceback" not in message


def _record(case: Case, surface: str, message: str, effect: str) -> None:
    SEEN.setdefault(case.name, {})[surface] = message.strip()
    SEEN[case.name]["effect"] = effect


# --- the LLM server -----------------------------------------------------------------------


class FakeLLMServer:
    """A tiny real HTTP server on loopback that fails the way broken LLM servers do."""

    def __init__(self, mode: str) -> None:
        self.mode, self.hits = mode, []
        if mode == "down":
            self.url, self._srv = f"http://127.0.0.1:{free_port()}/v1", None
            return
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                server.hits.append(time.monotonic())
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if server.mode == "slow":
                    time.sleep(2.5)  # past the 1 s timeout
                body = {
                    "garbage": b"<html>502 Bad Gateway</html>",
                    "empty": b'data: {"weird": 1}\n\ndata: [DONE]\n\n',
                }.get(server.mode, b"")
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (timeout)
                    pass

        self._srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._srv.daemon_threads = True
        threading.Thread(target=self._srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._srv.server_address[1]}/v1"

    def close(self) -> None:
        if self._srv:
            self._srv.shutdown()
            self._srv.server_close()

    def assert_retried_with_backoff(self) -> None:
        if self.mode == "down":
            return
        assert len(self.hits) == 2, self.hits  # retries=1: two attempts
        assert self.hits[1] - self.hits[0] >= 0.5  # the first backoff is 0.5 s


LLM_SETTINGS = {"request_timeout": 1.0, "retries": 1}


# --- the two surfaces ---------------------------------------------------------------------


def _api(case: Case, tmp: Path, d: Path) -> tuple[str, Any]:
    """Run the case through the Python API; returns (message, the built input)."""
    if case.kind == "ingest":
        built = case.build(tmp)
        with Assistant.open(d, backend="extractive") as a:
            t0 = time.perf_counter()
            report = a.add(built)
            took = time.perf_counter() - t0
            if case.max_seconds:
                assert took < case.max_seconds, f"{case.name}: {took:.1f} s"
            if case.check:
                case.check(a, built)
        lines = [f"{i.status} {i.origin}  —  {i.reason}" for i in report.items if i.reason]
        return "\n".join([*lines, report.summary()]), built
    if case.kind == "ask":
        with Assistant.open(d, backend="extractive") as a:
            try:
                ans = a.ask(case.build(tmp))
            except InputError as e:
                assert case.exit_code != EXIT_OK, f"{case.name}: {e}"
                return str(e), None
        assert case.exit_code == EXIT_OK, f"expected an error, got {ans.text!r}"
        for c in ans.citations:  # answered: every quote still exact
            assert a.get_article(c.article_id).text[c.start : c.end] == c.quote
        return ("abstained: " if ans.abstained else "answered: ") + ans.text, None
    if case.kind == "filter":
        from qa.filters import parse_filters

        spec = case.build(tmp)
        filters = parse_filters(spec.get("sources", []), spec.get("after"), spec.get("before"))
        with Assistant.open(d, backend="extractive") as a, pytest.raises(InputError) as err:
            a.ask(QUESTION, filters=filters)
        return str(err.value), None
    if case.kind == "nodir":
        missing = case.build(d)
        with pytest.raises(StoreError) as err:
            Assistant.open(missing, backend="extractive", create=False)
        assert not missing.exists()  # nothing created
        return str(err.value), missing
    if case.kind == "eval":
        from eval import run_eval
        from qa.settings import Settings

        with pytest.raises(InputError) as err:
            run_eval(case.build(tmp), Settings.load(data_dir=d), out=tmp / "run")
        assert not (tmp / "run").exists()  # nothing ran
        return str(err.value), None
    if case.kind == "store":
        target = case.build(d)
        kw = {"chroma_url": target} if isinstance(target, str) else {}
        with pytest.raises(StoreError) as err:
            Assistant.open(d, backend="extractive", **kw)
        return str(err.value), target
    if case.kind == "llm":
        server = FakeLLMServer(case.build(tmp))
        try:
            with (
                Assistant.open(
                    d, backend="openai", openai_base_url=server.url, **LLM_SETTINGS
                ) as a,
                pytest.raises(BackendError) as err,
            ):
                a.ask(QUESTION)
            server.assert_retried_with_backoff()
        finally:
            server.close()
        return str(err.value), None
    raise AssertionError(case.kind)


def _cli(case: Case, tmp: Path, d: Path, capsys, monkeypatch) -> tuple[str, int]:
    """Run the case through `citeqa` (in-process); returns (stdout+stderr, exit code)."""
    args = ["--data-dir", str(d)]
    server = None
    if case.kind == "ingest":
        built = case.build(tmp)
        argv = ["ingest", *map(str, list(built)), *args]
    elif case.kind == "ask":
        argv = ["ask", case.build(tmp), "--backend", "extractive", *args]
    elif case.kind == "filter":
        spec = case.build(tmp)
        argv = ["ask", QUESTION, "--backend", "extractive", *args]
        argv += [f for s in spec.get("sources", []) for f in ("--source", s)]
        argv += ["--after", spec["after"]] if spec.get("after") else []
        argv += ["--before", spec["before"]] if spec.get("before") else []
    elif case.kind == "cli":
        argv = [str(d) if a == "{data}" else a for a in case.build(tmp)]
        if "--data-dir" not in argv:
            argv += args
    elif case.kind == "nodir":
        missing = case.build(d)
        argv = ["ask", QUESTION, "--backend", "extractive", "--data-dir", str(missing)]
    elif case.kind == "eval":
        argv = ["eval", str(case.build(tmp)), "--out", str(tmp / "run"), "--quiet", *args]
    elif case.kind == "store":
        target = case.build(d)
        argv = ["articles", *args] + (["--chroma-url", target] if isinstance(target, str) else [])
    else:
        server = FakeLLMServer(case.build(tmp))
        monkeypatch.setenv("CITEQA_OPENAI_BASE_URL", server.url)
        for key, value in LLM_SETTINGS.items():
            monkeypatch.setenv(f"CITEQA_{key.upper()}", str(value))
        argv = ["ask", QUESTION, "--backend", "openai", *args]
    capsys.readouterr()
    try:
        code = main(argv)
        if server:
            server.assert_retried_with_backoff()
    finally:
        if server:
            server.close()
    out = capsys.readouterr()
    if case.kind == "nodir":
        assert not case.build(d).exists()  # a read command created nothing
    if code == EXIT_USAGE:  # a user error: one line on stderr, starting with "Error:"
        assert out.err.startswith("Error: "), out.err
    return out.out + out.err, code


def _effect(case: Case, before: tuple, d: Path) -> str:
    """Assert the index is unchanged or gained exactly `case.added`; describe it."""
    after = _snapshot(d)
    if not case.added:
        assert after == before
        return f"unchanged ({len(after[0])} article, {after[1]} chunks)"
    old = dict(before[0])
    new = dict(after[0])
    assert {k: v for k, v in new.items() if k in old} == old  # nothing lost
    gained = {k: v for k, v in new.items() if k not in old}
    assert set(gained) == set(case.added), gained
    assert all(n > 0 for n in gained.values())
    assert after[1] == before[1] + sum(gained.values())
    return "kept: " + ", ".join(f"{k} added ({v} chunks)" for k, v in sorted(gained.items()))


def _names(kinds: str) -> list:
    return [pytest.param(c, id=c.name) for c in CASES if c.kind in kinds.split()]


class TestApi:
    @pytest.mark.parametrize("case", _names("ingest ask filter nodir eval llm"))
    def test_message_and_index(self, case: Case, tmp_path, data_dir):
        before = _snapshot(data_dir)
        message, _ = _api(case, tmp_path, data_dir)
        _assert_lines(message, case)
        _record(case, "api", message, _effect(case, before, data_dir))

    @pytest.mark.parametrize("case", _names("store"))
    def test_store_errors_leave_the_files_alone(self, case: Case, tmp_path, data_dir):
        message, _ = _api(case, tmp_path, data_dir)
        digest = _digest(data_dir)
        _assert_lines(message, case)
        _api(case, tmp_path, data_dir)  # opening again changes nothing either
        assert _digest(data_dir) == digest
        _record(case, "api", message, "files left byte-for-byte as they were")


class TestCli:
    @pytest.mark.parametrize("case", _names("ingest ask filter nodir cli eval llm"))
    def test_message_exit_code_and_index(self, case: Case, tmp_path, data_dir, capsys, monkeypatch):
        before = _snapshot(data_dir)
        message, code = _cli(case, tmp_path, data_dir, capsys, monkeypatch)
        assert code == case.exit_code, message
        _assert_lines(message, case)
        _record(case, "cli", message, _effect(case, before, data_dir))

    @pytest.mark.parametrize("case", _names("store"))
    def test_store_errors(self, case: Case, tmp_path, data_dir, capsys, monkeypatch):
        message, code = _cli(case, tmp_path, data_dir, capsys, monkeypatch)
        digest = _digest(data_dir)
        assert code == case.exit_code, message
        _assert_lines(message, case)
        _cli(case, tmp_path, data_dir, capsys, monkeypatch)
        assert _digest(data_dir) == digest


def test_table_has_enough_cases():
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)


def test_long_sentenceless_text_splits_fast():
    """The limit is one guard; the splitter itself is linear too: 5 MB without a sentence end
    (the case the size limit rejects) splits in well under a second per MB."""
    from index.split import sentence_spans

    text = "blah " * 1_000_000
    t0 = time.perf_counter()
    spans = sentence_spans(text)
    took = time.perf_counter() - t0
    assert took < 5, f"{took:.1f} s"
    assert spans[0].start == 0 and spans[-1].end == len(text.rstrip())
    assert all(text[s.start : s.end].strip() for s in spans)


# --- real processes -----------------------------------------------------------------------


def _run(*args: str, env: dict | None = None, prefix: tuple[str, ...] = ()):
    return subprocess.run(
        [*prefix, CITEQA, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def _cases(*names: str) -> list[Case]:
    by_name = {c.name: c for c in CASES}
    return [by_name[n] for n in names]


class TestRealCli:
    """A representative handful through real `citeqa` processes, as a user types them."""

    def test_one_ingest_over_a_folder_of_bad_files(self, tmp_path, data_dir):
        """Every file-type case in one folder, one process: each file's own message, exit 1,
        and the one good file kept."""
        folder = tmp_path / "inbox"
        cases = _cases(
            "empty file", "whitespace-only file", "binary file named .txt", "invalid UTF-8",
            "one-line 5 MB article, no sentence breaks", "HTML with only scripts/styles",
            "HTML with no body text", "JSONL malformed line",
        )  # fmt: skip
        for case in cases:
            case.build(folder)
        before = _snapshot(data_dir)
        r = _run("ingest", str(folder), "--data-dir", str(data_dir))
        assert r.returncode == EXIT_PARTIAL, r.stdout + r.stderr
        assert "Traceback" not in r.stderr
        for case in cases:
            _assert_lines(r.stdout, case)
        assert "1 added" in r.stdout and f"{len(cases)} rejected" in r.stdout
        _effect(_cases("JSONL malformed line")[0], before, data_dir)

    def test_user_errors(self, tmp_path, data_dir):
        for case in _cases(
            "100k-character question", "question set: evidence quote not in article"
        ):
            if case.kind == "ask":
                r = _run("ask", case.build(tmp_path), "--backend", "extractive",
                         "--data-dir", str(data_dir))  # fmt: skip
            else:
                r = _run("eval", str(case.build(tmp_path)), "--out", str(tmp_path / "run"),
                         "--data-dir", str(data_dir))  # fmt: skip
            assert r.returncode == EXIT_USAGE and r.stderr.startswith("Error: "), r.stderr
            assert "Traceback" not in r.stderr
            _assert_lines(r.stderr, case)

    def test_corrupted_store_and_llm_down(self, tmp_path, data_dir):
        case = _cases("corrupted data directory (garbage chroma.sqlite3)")[0]
        bad = data_dir.parent / "bad"
        shutil.copytree(data_dir, bad)
        case.build(bad)
        r = _run("articles", "--data-dir", str(bad))
        assert r.returncode == EXIT_USAGE and "Traceback" not in r.stderr
        _assert_lines(r.stderr, case)

        case = _cases("LLM server down")[0]
        env = {"CITEQA_OPENAI_BASE_URL": FakeLLMServer("down").url, "CITEQA_RETRIES": "1"}
        r = _run("ask", QUESTION, "--backend", "openai", "--data-dir", str(data_dir), env=env)
        assert r.returncode == EXIT_USAGE and "Traceback" not in r.stderr
        _assert_lines(r.stderr, case)

    def test_read_only_data_dir(self, tmp_path, data_dir):
        """A read-only data directory (a read-only bind mount: we run as root, so chmod would
        not stop us), through both the API (a child Python) and the CLI."""
        if shutil.which("unshare") is None:
            pytest.skip("needs unshare(1)")
        digest = _digest(data_dir)
        api = (
            "import sys\nfrom qa.assistant import Assistant\nfrom qa.errors import StoreError\n"
            f"try:\n    a = Assistant.open({str(data_dir)!r}, backend='extractive')\n"
            f"    a.add([{str(SAMPLE)!r}])\n"
            "except StoreError as e:\n    print('StoreError:', e); sys.exit(3)\n"
        )
        script = (
            f"mount --bind -o ro {data_dir} {data_dir} || exit 99\n"
            f"{CITEQA} ingest {SAMPLE} --data-dir {data_dir}; echo CLI_EXIT=$?\n"
            f'{sys.executable} -c "$API"; echo API_EXIT=$?\n'
        )
        r = subprocess.run(
            ["unshare", "-m", "sh", "-c", script],
            capture_output=True, text=True, timeout=300, env={**os.environ, "API": api},
        )  # fmt: skip
        if r.returncode == 99 or "Operation not permitted" in r.stderr[:300]:
            pytest.skip(f"cannot make a read-only mount here: {r.stderr[:200]}")
        out = r.stdout + r.stderr
        assert "CLI_EXIT=2" in out and "API_EXIT=3" in out, out
        assert "Traceback" not in out
        case = _cases("read-only data directory")[0]
        _assert_lines(out, case)
        assert str(data_dir / "chroma") in out
        assert _digest(data_dir) == digest
        api_line = next(line for line in out.splitlines() if line.startswith("StoreError"))
        _record(case, "api", api_line.removeprefix("StoreError: "), "files left as they were")


def test_errors_are_citeqa_errors():
    for cls in (InputError, StoreError, BackendError):
        assert issubclass(cls, CiteqaError)
