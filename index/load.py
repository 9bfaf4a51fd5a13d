"""Files, folders and .jsonl records in; cleaned `Article`s (or precise problems) out.

A bad file or line never stops the others: it comes out as a `LoadProblem` that names the file,
the line and what to do, and the caller reports it next to what did load.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.clean import clean_text, is_headline
from index.dateline import read_dateline
from qa.types import Article, content_hash

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSONL_SUFFIXES = {".jsonl"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES

# Ten times the longest news features; a bigger "article" is a book, a dump or a mistake, and
# splitting and embedding it would take minutes while filling the index with one source.
MAX_ARTICLE_CHARS = 1_000_000
# A .txt/.md/.html file larger than this cannot hold an article within the limit (UTF-8 is at
# most 4 bytes a character; HTML markup is allowed as much again): rejected without reading it.
MAX_FILE_BYTES = 8 * MAX_ARTICLE_CHARS


@dataclass(frozen=True, slots=True)
class LoadProblem:
    origin: str
    reason: str


Loaded = Article | LoadProblem


def load_paths(
    paths: Iterable[str | os.PathLike[str]], *, follow_links: bool = False
) -> Iterator[Loaded]:
    """Load every supported file under `paths` (files or folders), in a stable order.

    Inside a folder, a symbolic link to a file outside that folder is skipped (and reported)
    unless `follow_links`: a link to /etc/passwd named notes.txt must not end up quoted in
    answers. A file named directly is always read; the user chose it."""
    for p in paths:
        path = Path(p).expanduser()
        if not path.exists():
            yield LoadProblem(str(path), "no such file or directory; check the path")
        elif path.is_dir():
            yield from _load_dir(path, follow_links=follow_links)
        else:
            yield from load_file(path)


def walk_files(root: Path) -> Iterator[Path]:
    """The supported files under a folder, in a stable order (hidden ones left out)."""
    # followlinks=False: a symlink loop cannot trap the walk.
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED:
                yield Path(dirpath) / name


def count_items(paths: Iterable[str | os.PathLike[str]]) -> int:
    """How many articles `load_paths` will yield at most (files, plus JSONL lines), for a
    progress bar with a total and an ETA. Cheap next to ingesting: one pass over the names and
    a byte count of newlines in each JSONL file."""
    total = 0
    for p in paths:
        path = Path(p).expanduser()
        files = walk_files(path) if path.is_dir() else [path]
        for f in files:
            if f.suffix.lower() in JSONL_SUFFIXES:
                try:
                    with f.open("rb") as fh:
                        total += sum(
                            chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b"")
                        )
                except OSError:
                    total += 1
            else:
                total += 1
    return total


def _link_outside(path: Path, root: Path) -> str | None:
    """The target of `path` when it is a symbolic link (itself or through a linked folder)
    that leads out of `root`; None otherwise."""
    try:
        target = path.resolve()
        inside = target.is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a loop: reported as unreadable by load_file
        return None
    return None if inside else str(target)


def _load_dir(root: Path, *, follow_links: bool = False) -> Iterator[Loaded]:
    found = False
    for path in walk_files(root):
        found = True
        outside = None if follow_links else _link_outside(path, root)
        if outside is not None:
            yield LoadProblem(
                str(path),
                f"skipped: a symbolic link to {outside}, outside the folder being ingested; "
                "pass --follow-links to include it",
            )
            continue
        yield from load_file(path, id_root=root)
    if not found:
        yield LoadProblem(
            str(root),
            f"no supported files in this folder (looked for {', '.join(sorted(SUPPORTED))})",
        )


def load_file(path: Path, *, id_root: Path | None = None) -> Iterator[Loaded]:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        yield LoadProblem(
            str(path),
            f"unsupported file type '{suffix or '(none)'}'; use one of "
            + ", ".join(sorted(SUPPORTED)),
        )
        return
    problem = _unreadable(path, suffix)
    if problem:
        yield LoadProblem(str(path), problem)
        return
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        yield LoadProblem(str(path), _GONE)
        return
    except OSError as e:
        yield LoadProblem(str(path), f"cannot read file: {e.strerror or e}")
        return
    if not data.strip():
        what = "empty (0 bytes)" if not data else "empty (only whitespace)"
        yield LoadProblem(str(path), f"the file is {what}; there is no article text to index")
        return
    text, problem = decode(data)
    if problem:
        yield LoadProblem(str(path), problem)
        return
    origin_path = _resolved(path)
    if suffix in JSONL_SUFFIXES:
        for item in parse_jsonl(text, origin=str(path)):
            yield replace(item, origin_path=origin_path) if isinstance(item, Article) else item
        return
    article_id = _file_id(path, id_root)
    if suffix in HTML_SUFFIXES:
        loaded = _from_html(text, origin=str(path), article_id=article_id)
    else:
        loaded = _from_text(
            text, origin=str(path), article_id=article_id, markdown=suffix != ".txt"
        )
    yield replace(loaded, origin_path=origin_path) if isinstance(loaded, Article) else loaded


def _resolved(path: Path) -> str:
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):
        return str(path.absolute())


_GONE = (
    "the file disappeared before it could be read (deleted or moved during the ingest?); "
    "ingest it again once it is back"
)


def _unreadable(path: Path, suffix: str) -> str | None:
    """Why `path` cannot be loaded, judged from the file system alone (no reading)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        if path.is_symlink():
            return f"a broken symbolic link (its target {os.readlink(path)} does not exist)"
        return _GONE
    except OSError as e:  # e.g. a symlink loop
        return f"cannot read file: {e.strerror or e}"
    if suffix not in JSONL_SUFFIXES and size > MAX_FILE_BYTES:
        return (
            f"the file is {size / 1e6:,.1f} MB, too big for one article (at most "
            f"{MAX_ARTICLE_CHARS:,} characters); split it into one file per article"
        )
    return None


def decode(data: bytes) -> tuple[str, str | None]:
    """Bytes to text, honouring BOMs; returns (text, problem)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), None
        except UnicodeDecodeError:
            return "", "starts with a UTF-16 byte-order mark but is not valid UTF-16"
    if b"\x00" in data[:8192]:
        return "", "looks like a binary file (contains NUL bytes), not text"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        return "", (f"not valid UTF-8 (byte {e.start}, line {line}); re-save the file as UTF-8")


def slug(text: str) -> str:
    """Lower-case letters, digits, `_` and `.` of any script, other runs as one hyphen:
    `Été 東京 😀` -> `été-東京`.

    Unicode letters are kept (stripping them made `café` and `cafè` one id, and `été 東京`
    the id `t`); NFC first, so one name typed two ways gives one slug."""
    folded = unicodedata.normalize("NFC", text).lower()
    return re.sub(r"[^\w.-]+", "-", folded).strip("-")  # ASCII names keep their old ids


def _file_id(path: Path, root: Path | None) -> str:
    """A readable, stable id from the file's name (relative to the folder ingested). Another
    file whose name gives the same id does not replace it: the indexer qualifies the newcomer's
    id with its folder (see `index.ingest.candidate_ids`)."""
    try:
        rel = path.relative_to(root) if root else Path(path.name)
    except ValueError:
        rel = Path(path.name)
    return slug(str(rel.with_suffix(""))) or content_hash(str(path))


def _title_from_id(article_id: str) -> str:
    words = re.sub(r"[-_.]+", " ", article_id).strip()
    return words[:1].upper() + words[1:] if words else article_id


def _finish(
    raw_text: str,
    *,
    origin: str,
    article_id: str | None,
    title: str | None,
    url: str | None = None,
    source: str | None = None,
    published_at: float | None = None,
) -> Loaded:
    if len(raw_text) > 4 * MAX_ARTICLE_CHARS:  # far over the limit: skip the cleaning work
        return _too_long(origin, len(raw_text))
    cleaned = clean_text(raw_text).text
    if not cleaned.strip():
        return LoadProblem(origin, "no article text (the file is empty or only boilerplate)")
    if len(cleaned) > MAX_ARTICLE_CHARS:
        return _too_long(origin, len(cleaned))
    aid = article_id or content_hash(cleaned)
    if source is None or published_at is None:
        # Wire copy names its outlet and often its date in the dateline; the file's own
        # fields win, the dateline fills what it left out.
        dateline = read_dateline(cleaned)
        if dateline is not None:
            source = source if source is not None else dateline.source
            published_at = published_at if published_at is not None else dateline.published_at
    return Article(
        id=aid,
        title=(title or "").strip() or _title_from_id(aid),
        text=cleaned,
        url=url,
        source=source,
        published_at=published_at,
        origin=origin,
    )


def _too_long(origin: str, chars: int) -> LoadProblem:
    return LoadProblem(
        origin,
        f"the article is {chars:,} characters long; the limit is {MAX_ARTICLE_CHARS:,} "
        "(split it into separate articles)",
    )


def _from_text(text: str, *, origin: str, article_id: str, markdown: bool) -> Loaded:
    lines = text.lstrip("\ufeff").splitlines()
    title = None
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None:
        head = lines[first].strip()
        following = lines[first + 1].strip() if first + 1 < len(lines) else ""
        if markdown and head.startswith("# "):
            title = head[2:].strip()
            lines = lines[first + 1 :]
        elif is_headline(head) and not following and len(lines) > first + 2:
            title = head
            lines = lines[first + 1 :]
    return _finish("\n".join(lines), origin=origin, article_id=article_id, title=title)


def _from_html(html: str, *, origin: str, article_id: str) -> Loaded:
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(
            html, with_metadata=True, include_comments=False, include_tables=False
        )
    except Exception as e:  # trafilatura raises a zoo of parser errors on broken markup
        return LoadProblem(origin, f"could not parse HTML: {e}")
    meta: dict[str, Any] = {}
    if doc is not None:
        meta = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    if not _has_prose(meta.get("text")):
        return LoadProblem(
            origin,
            "no article text found in the page (only navigation, scripts or markup?); "
            "save the article's own page, or its text as .txt",
        )
    published = None
    if meta.get("date"):
        published = _parse_date(meta["date"])
    return _finish(
        meta.get("text") or "",
        origin=origin,
        article_id=article_id,
        title=meta.get("title"),
        url=meta.get("url"),
        source=meta.get("sitename"),
        published_at=published if isinstance(published, float) else None,
    )


_SENTENCE = re.compile(r"(?:\w+\W+){3,}\w+\W*[.!?…»\"”’)]")


def _has_prose(text: str | None) -> bool:
    """Whether extracted page text reads like an article, not a menu: some sentence of four
    or more words, or at least twelve words. A page of navigation links came out as "Home"."""
    if not text:
        return False
    return bool(_SENTENCE.search(text)) or len(text.split()) >= 12


def parse_jsonl(text: str, *, origin: str) -> Iterator[Loaded]:
    """One article per line: `text` required; `id`, `title`, `url`, `source`, `published_at`."""
    seen: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{origin}:{n}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            yield LoadProblem(where, f"not valid JSON: {e.msg}, column {e.colno}")
            continue
        item = article_from_record(rec, origin=where)
        if isinstance(item, Article):
            prev = seen.get(item.id)
            if prev is not None and prev != item.text_hash:
                yield LoadProblem(
                    where,
                    f"duplicate id '{item.id}' with different text (first seen earlier in this "
                    "file); give each article its own id",
                )
                continue
            seen[item.id] = item.text_hash
        yield item


def article_from_record(rec: Any, *, origin: str) -> Loaded:
    if not isinstance(rec, dict):
        return LoadProblem(origin, f"expected a JSON object, got {type(rec).__name__}")
    text = rec.get("text")
    if not isinstance(text, str):
        what = "missing" if text is None else f"a {type(text).__name__}, not a string"
        return LoadProblem(origin, f"field 'text' is {what}; every record needs its article text")
    for key in ("title", "url", "source"):
        if rec.get(key) is not None and not isinstance(rec[key], str):
            return LoadProblem(
                origin, f"field '{key}' must be a string, got {type(rec[key]).__name__}"
            )
    rid = rec.get("id")
    if rid is not None and not isinstance(rid, str | int) or isinstance(rid, bool):
        return LoadProblem(origin, "field 'id' must be a string or an integer")
    published = None
    if rec.get("published_at") is not None:
        published = _parse_date(rec["published_at"])
        if isinstance(published, str):
            return LoadProblem(origin, f"field 'published_at': {published}")
    return _finish(
        text,
        origin=origin,
        article_id=str(rid) if rid is not None and str(rid).strip() else None,
        title=rec.get("title"),
        url=rec.get("url"),
        source=rec.get("source"),
        published_at=published,
    )


def _parse_date(value: Any) -> float | str:
    """Epoch seconds, or a message saying why the value is not a date."""
    if isinstance(value, bool):
        return f"{value!r} is not a date; use ISO 8601 like 2023-10-12 or epoch seconds"
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return f"{value!r} is not a date; use ISO 8601 like 2023-10-12 or epoch seconds"
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    return f"expected a date string or number, got {type(value).__name__}"


def parse_date(value: Any) -> float:
    """Public form of the date parser for filters: raises ValueError with the reason."""
    result = _parse_date(value)
    if isinstance(result, str):
        raise ValueError(result)
    return result
