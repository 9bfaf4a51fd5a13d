"""RSS 2.0 and Atom feeds in: each item an article (title, link, date, the feed as source).

News reaches people as feeds, so a feed file (or, with `index.fetch`, a feed URL) is ingested
as it is. feedparser reads every feed dialect and its broken variants; hand-written XML code
would not. An item's id is derived from its guid (or link), so a feed ingested again later
updates what changed and adds only the new items.
"""

from __future__ import annotations

import calendar
import html
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

FEED_SUFFIXES = {".rss", ".atom", ".xml"}

_BLOCK_END = re.compile(r"(?i)</(?:p|div|h[1-6]|li|blockquote)\s*>|<br\s*/?>")
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True, slots=True)
class FeedItem:
    """What an item says of its article, before the article text is known (see `--fetch`)."""

    key: str  # the item's guid, else its link, title or text: what identifies it over time
    title: str | None
    link: str | None
    published_at: float | None
    source: str | None
    text: str  # the item's own content or summary, as text


def read_feed(data: bytes) -> list[FeedItem] | str:
    """The items of an RSS or Atom document, or why it is not one."""
    import feedparser

    parsed = feedparser.parse(data)
    if not parsed.entries:
        if not parsed.get("version"):
            why = parsed.get("bozo_exception")
            detail = f" ({why})" if why else ""
            return f"not an RSS or Atom feed{detail}; check the file or URL"
        return "the feed has no items"
    feed = parsed.feed
    source = feed.get("title") or urlparse(feed.get("link") or "").hostname or None
    items = []
    for entry in parsed.entries:
        body = _item_text(entry)
        items.append(
            FeedItem(
                key=entry.get("id") or entry.get("link") or entry.get("title") or body,
                title=_plain(entry.get("title") or "") or None,
                link=entry.get("link"),
                published_at=_when(entry),
                source=source,
                text=body,
            )
        )
    return items


def _item_text(entry: Any) -> str:
    """The fullest text the item carries: its content, else its summary."""
    contents = [c.get("value", "") for c in entry.get("content", []) or []]
    best = max(contents, key=len, default="")
    if len(best) < len(entry.get("summary", "") or ""):
        best = entry.get("summary", "")
    return _plain(best)


def _plain(markup: str) -> str:
    """Feed HTML as text: block ends become paragraph breaks, tags go, entities are decoded."""
    text = _TAG.sub("", _BLOCK_END.sub("\n\n", markup))
    paragraphs = (" ".join(p.split()) for p in html.unescape(text).split("\n\n"))
    return "\n\n".join(p for p in paragraphs if p)


def _when(entry: Any) -> float | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return float(calendar.timegm(parsed)) if parsed else None
