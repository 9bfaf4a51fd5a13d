"""Files, folders and .jsonl records in; cleaned `Article`s (or precise problems) out.

A bad file or line never stops the others: it comes out as a `LoadProblem` that names the file,
the line and what to do, and the caller reports it next to what did load.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from index.clean import clean_text, is_headline
from index.dateline import read_dateline
from index.dates import DateOrder, ReadDate, read_date
from index.feeds import FEED_SUFFIXES, FeedItem, read_feed
from index.fetch import Fetched, FetchError, fetch, is_url
from index.types import Article, content_hash

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSONL_SUFFIXES = {".jsonl"}
JSON_SUFFIXES = {".json"}  # an array of article records (or one record)
GZIP_SUFFIXES = {".jsonl.gz", ".json.gz"}
SUPPORTED = (
    TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES | JSON_SUFFIXES | GZIP_SUFFIXES | FEED_SUFFIXES
)
# Files of many articles rather than one (their articles' ids are qualified by the file's name)
RECORD_SUFFIXES = JSONL_SUFFIXES | JSON_SUFFIXES | FEED_SUFFIXES
# A compressed export may expand to this much at most: a few million articles, not a bomb.
MAX_GUNZIP_BYTES = 2 << 30

# Field names other tools export, read as ours when ours is absent (the report says so).
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "text": ("content", "body", "article"),
    "title": ("headline",),
    "published_at": ("date", "pubDate", "published", "publish_date"),
    "url": ("link",),
}

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
    paths: Iterable[str | os.PathLike[str]],
    *,
    follow_links: bool = False,
    date_order: DateOrder = "MDY",
    fetch_links: bool = False,
) -> Iterator[Loaded]:
    """Load every supported file under `paths` (files or folders), in a stable order.

    Inside a folder, a symbolic link to a file outside that folder is skipped (and reported)
    unless `follow_links`: a link to /etc/passwd named notes.txt must not end up quoted in
    answers. A file named directly is always read; the user chose it."""
    for p in paths:
        if isinstance(p, str) and is_url(p):
            yield from load_url(p, fetch_links=fetch_links)
            continue
        path = Path(p).expanduser()
        if not path.exists():
            yield LoadProblem(str(path), "no such file or directory; check the path")
        elif path.is_dir():
            yield from _load_dir(path, follow_links=follow_links, date_order=date_order)
        else:
            yield from load_file(path, date_order=date_order)


def file_kind(path: Path) -> str:
    """The suffix that says how a file is read: `.txt`, `.jsonl`, `.jsonl.gz`, …"""
    name = path.name.lower()
    for double in GZIP_SUFFIXES:
        if name.endswith(double):
            return double
    return path.suffix.lower()


def walk_files(root: Path) -> Iterator[Path]:
    """The supported files under a folder, in a stable order (hidden ones left out)."""
    # followlinks=False: a symlink loop cannot trap the walk.
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and file_kind(Path(name)) in SUPPORTED:
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
            if file_kind(f) in JSONL_SUFFIXES:
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


def _load_dir(
    root: Path, *, follow_links: bool = False, date_order: DateOrder = "MDY"
) -> Iterator[Loaded]:
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
        yield from load_file(path, id_root=root, date_order=date_order)
    if not found:
        yield LoadProblem(
            str(root),
            f"no supported files in this folder (looked for {', '.join(sorted(SUPPORTED))})",
        )


def load_file(
    path: Path, *, id_root: Path | None = None, date_order: DateOrder = "MDY"
) -> Iterator[Loaded]:
    suffix = file_kind(path)
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
    if suffix in GZIP_SUFFIXES:
        data, problem = _gunzip(data)
        if problem:
            yield LoadProblem(str(path), problem)
            return
        suffix = suffix.removesuffix(".gz")
    if not data.strip():
        what = "empty (0 bytes)" if not data else "empty (only whitespace)"
        yield LoadProblem(str(path), f"the file is {what}; there is no article text to index")
        return
    text, problem = decode(data)
    if problem:
        yield LoadProblem(str(path), problem)
        return
    origin_path = _resolved(path)
    if suffix in FEED_SUFFIXES:
        for item in feed_articles(data, origin=str(path)):
            yield replace(item, origin_path=origin_path) if isinstance(item, Article) else item
        return
    if suffix in RECORD_SUFFIXES:
        parse = parse_jsonl if suffix in JSONL_SUFFIXES else parse_json
        for item in parse(text, origin=str(path), date_order=date_order):
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


def feed_articles(data: bytes, *, origin: str, fetch_links: bool = False) -> Iterator[Loaded]:
    """A feed's items as articles, from the items' own texts, or with `fetch_links` (`--fetch`)
    from the main text of each item's page."""
    items = read_feed(data)
    if isinstance(items, str):
        yield LoadProblem(origin, items)
        return
    for n, item in enumerate(items, 1):
        where = f"{origin}#{n}"
        if fetch_links and item.link:
            yield _fetched_item(item, where)
        else:
            yield item_article(item, item.text, origin=where)


def item_article(item: FeedItem, text: str, *, origin: str, page: _Page | None = None) -> Loaded:
    """One feed item as an article with `text`; its id comes from the item's guid, so the
    feed ingested again later updates its items and adds the new ones. The feed's title, date
    and source win over the fetched `page`'s metadata (the feed is the publisher's own
    record); the page fills what the feed left out."""
    if not text.strip():
        return LoadProblem(origin, "the feed item carries no text of its own (only a link)")
    prefix = slug(item.source or "feed")[:40] or "feed"
    published_at = item.published_at
    if published_at is None and page is not None:
        published_at = page.published_at
    return _finish(
        text,
        origin=origin,
        article_id=f"{prefix}-{content_hash(item.key, 10)}",
        title=item.title or (page.title if page else None),
        url=item.link,
        source=item.source or (page.source if page else None),
        published_at=published_at,
    )


def load_url(url: str, *, fetch_links: bool = False) -> Iterator[Loaded]:
    """A web page (its main text, by trafilatura) or a feed (its items) from a URL. With
    `fetch_links`, each feed item's own page is fetched and its main text used; otherwise the
    item's content or summary. Every fetch is bounded (`index.fetch`)."""
    try:
        got = fetch(url)
    except FetchError as e:
        yield LoadProblem(url, str(e))
        return
    if not _is_feed(got):
        page = _from_html(_page_text(got), origin=url, article_id=_url_id(got.url))
        yield (
            replace(page, url=page.url or got.url, origin_path=url)
            if isinstance(page, Article)
            else page
        )
        return
    for loaded in feed_articles(got.data, origin=url, fetch_links=fetch_links):
        yield replace(loaded, origin_path=url) if isinstance(loaded, Article) else loaded


def _fetched_item(item: FeedItem, origin: str) -> Loaded:
    """A feed item with its page's main text (cleaned once, by `item_article`)."""
    assert item.link is not None
    try:
        got = fetch(item.link)
    except FetchError as e:
        return LoadProblem(origin, f"{item.link}: {e}")
    page = _extract_html(_page_text(got), origin=origin)
    if isinstance(page, LoadProblem):
        return LoadProblem(origin, f"{item.link}: {page.reason}")
    return item_article(item, page.text, origin=origin, page=page)


def _is_feed(got: Fetched) -> bool:
    kind = got.content_type.split(";")[0].strip().lower()
    if kind in ("application/rss+xml", "application/atom+xml", "application/xml", "text/xml"):
        return True
    head = got.data[:512].lstrip().lower()
    return head.startswith((b"<?xml", b"<rss", b"<feed")) and b"<html" not in head


def _page_text(got: Fetched) -> str:
    """The page's bytes as text, by the charset the server names, else UTF-8 (replacing what
    is not: a page is read for its prose, not stored byte for byte)."""
    m = re.search(r"charset=([\w-]+)", got.content_type, re.IGNORECASE)
    try:
        return got.data.decode(m.group(1) if m else "utf-8", errors="replace")
    except LookupError:
        return got.data.decode("utf-8", errors="replace")


def _url_id(url: str) -> str:
    """A readable id from a URL: host and path, as a slug."""
    parts = urlparse(url)
    return slug(f"{parts.hostname or ''}{parts.path}".rstrip("/"))[:80] or content_hash(url)


def _gunzip(data: bytes) -> tuple[bytes, str | None]:
    """A .gz file's contents, or why they cannot be read; bounded by MAX_GUNZIP_BYTES."""
    out = bytearray()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            while piece := fh.read(1 << 20):
                out += piece
                if len(out) > MAX_GUNZIP_BYTES:
                    return b"", (
                        f"expands to more than {MAX_GUNZIP_BYTES >> 30} GB; split the export "
                        "into smaller files"
                    )
    except (OSError, EOFError) as e:
        return b"", f"not a readable gzip file ({e}); re-compress it or give it uncompressed"
    return bytes(out), None


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
    if suffix not in RECORD_SUFFIXES | GZIP_SUFFIXES and size > MAX_FILE_BYTES:
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


@dataclass(frozen=True, slots=True)
class _Page:
    """What trafilatura found in a page: its main text (not yet cleaned) and metadata."""

    text: str
    title: str | None
    url: str | None
    source: str | None
    published_at: float | None


def _extract_html(html: str, *, origin: str) -> _Page | LoadProblem:
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
        read = read_date(meta["date"])
        published = read.epoch if isinstance(read, ReadDate) else None
    return _Page(
        text=meta.get("text") or "",
        title=meta.get("title"),
        url=meta.get("url"),
        source=meta.get("sitename"),
        published_at=published,
    )


def _from_html(html: str, *, origin: str, article_id: str | None) -> Loaded:
    page = _extract_html(html, origin=origin)
    if isinstance(page, LoadProblem):
        return page
    return _finish(
        page.text,
        origin=origin,
        article_id=article_id,
        title=page.title,
        url=page.url,
        source=page.source,
        published_at=page.published_at,
    )


_SENTENCE = re.compile(r"(?:\w+\W+){3,}\w+\W*[.!?…»\"”’)]")


def _has_prose(text: str | None) -> bool:
    """Whether extracted page text reads like an article, not a menu: some sentence of four
    or more words, or at least twelve words. A page of navigation links came out as "Home"."""
    if not text:
        return False
    return bool(_SENTENCE.search(text)) or len(text.split()) >= 12


def parse_jsonl(text: str, *, origin: str, date_order: DateOrder = "MDY") -> Iterator[Loaded]:
    """One article per line: `text` required; `id`, `title`, `url`, `source`, `published_at`
    (or the other names of `FIELD_ALIASES`)."""

    def records() -> Iterator[tuple[str, Any]]:  # one line at a time: exports can be large
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            where = f"{origin}:{n}"
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as e:
                yield where, LoadProblem(where, f"not valid JSON: {e.msg}, column {e.colno}")

    yield from _from_records(records(), date_order)


def parse_json(text: str, *, origin: str, date_order: DateOrder = "MDY") -> Iterator[Loaded]:
    """A .json file: an array of article records (as in .jsonl), or a single record."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        yield LoadProblem(origin, f"not valid JSON: {e.msg}, line {e.lineno} column {e.colno}")
        return
    if isinstance(data, dict) and not _has_text_field(data):
        # {"articles": [...]}: the one list of records an export wraps them in
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            data = lists[0]
    items = data if isinstance(data, list) else [data]
    yield from _from_records(
        [(f"{origin}[{i}]" if isinstance(data, list) else origin, rec)
         for i, rec in enumerate(items)],
        date_order,
    )  # fmt: skip


def _has_text_field(rec: dict[str, Any]) -> bool:
    return any(k in rec for k in ("text", *FIELD_ALIASES["text"]))


def _from_records(records: Iterable[tuple[str, Any]], date_order: DateOrder) -> Iterator[Loaded]:
    """Articles from (origin, parsed record) pairs; an id seen twice with different text in
    one file is refused, and a field-name mapping is reported once, on its first record."""
    seen: dict[str, str] = {}
    mappings: set[tuple[tuple[str, str], ...]] = set()
    for where, rec in records:
        if isinstance(rec, LoadProblem):
            yield rec
            continue
        item = article_from_record(rec, origin=where, date_order=date_order)
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
            mapping = tuple(field_mapping(rec).items())
            if mapping and mapping not in mappings:  # said on the first record that uses it
                said = "read " + ", ".join(f"'{theirs}' as {ours}" for ours, theirs in mapping)
                item = replace(item, notes=(said, *item.notes))
            mappings.add(mapping)
        yield item


def field_mapping(rec: dict[str, Any]) -> dict[str, str]:
    """Our field -> the record's field it is read from, for fields under another name."""
    out = {}
    for ours, theirs in FIELD_ALIASES.items():
        if rec.get(ours) is None:
            alias = next((a for a in theirs if rec.get(a) is not None), None)
            if alias is not None:
                out[ours] = alias
    return out


def article_from_record(rec: Any, *, origin: str, date_order: DateOrder = "MDY") -> Loaded:
    if not isinstance(rec, dict):
        return LoadProblem(origin, f"expected a JSON object, got {type(rec).__name__}")
    mapping = field_mapping(rec)
    rec = {**rec, **{ours: rec[theirs] for ours, theirs in mapping.items()}}
    notes = []
    text = rec.get("text")
    if not isinstance(text, str):
        names = "'text'" + "".join(f" or '{a}'" for a in FIELD_ALIASES["text"])
        what = (
            f"missing (looked for {names})"
            if text is None
            else f"a {type(text).__name__}, not a string"
        )
        field = mapping.get("text", "text")
        return LoadProblem(
            origin, f"field '{field}' is {what}; every record needs its article text"
        )
    for key in ("title", "url", "source"):
        if rec.get(key) is not None and not isinstance(rec[key], str):
            field = mapping.get(key, key)
            return LoadProblem(
                origin, f"field '{field}' must be a string, got {type(rec[key]).__name__}"
            )
    rid = rec.get("id")
    if rid is not None and not isinstance(rid, str | int) or isinstance(rid, bool):
        return LoadProblem(origin, "field 'id' must be a string or an integer")
    published = None
    if rec.get("published_at") is not None:
        read = read_date(rec["published_at"], order=date_order)
        if isinstance(read, str):
            field = mapping.get("published_at", "published_at")
            return LoadProblem(origin, f"field '{field}': {read}")
        published = read.epoch
        if read.note:
            notes.append(read.note)
    loaded = _finish(
        text,
        origin=origin,
        article_id=str(rid) if rid is not None and str(rid).strip() else None,
        title=rec.get("title"),
        url=rec.get("url"),
        source=rec.get("source"),
        published_at=published,
    )
    return replace(loaded, notes=tuple(notes)) if isinstance(loaded, Article) and notes else loaded


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
