"""The values the index is made of: articles, their chunks and spans, and what an ingest did.

They live in the bottom layer because index/ builds and stores them and must not import qa/
(the layer above it); `qa.types` re-exports them, so `from qa.types import Article` keeps
working. They are frozen so an offset, once computed against an article's cleaned text, cannot
drift away from the text it points into.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal


def content_hash(text: str, length: int = 16) -> str:
    """Stable id for a piece of text: the same text always gets the same id."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open `[start, end)` character range in an article's cleaned text."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Article:
    """One cleaned article. Every offset the product reports refers to `text`."""

    id: str
    title: str
    text: str
    url: str | None = None
    source: str | None = None
    published_at: float | None = None  # seconds since the epoch, UTC
    origin: str | None = None  # the file (and line) it was loaded from, as the user named it
    # The loaded file's resolved path: re-ingesting the same file updates its article, while
    # another file whose name gives the same id is kept beside it (see index/ingest.py).
    origin_path: str | None = None
    # What loading decided that the file did not say (a field read under another name, a
    # day/month order chosen): shown in the ingest report, not stored.
    notes: tuple[str, ...] = ()
    # The sentences (spans of `sentence_spans(text)`) that look written to steer a model
    # (`index.injection.looks_like_injection`), flagged once at ingest and stored with the
    # record; None when not known (an article not yet ingested, or an index written before
    # flags were stored: `index.injection.flagged_spans` then finds them on the fly).
    injection: tuple[Span, ...] | None = None

    @property
    def text_hash(self) -> str:
        return content_hash(self.text)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A run of whole sentences of one article, the unit that is embedded and searched."""

    id: str
    article_id: str
    index: int
    start: int
    end: int
    text: str
    sentences: tuple[Span, ...] = ()  # absolute spans of the sentences inside the chunk
    title: str = ""
    source: str | None = None
    published_at: float | None = None


IngestStatus = Literal["added", "unchanged", "replaced", "rejected"]


@dataclass(frozen=True, slots=True)
class IngestItem:
    origin: str
    status: IngestStatus
    article_id: str | None = None
    title: str | None = None
    chunks: int = 0
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class IngestReport:
    items: tuple[IngestItem, ...]
    seconds: float = 0.0

    def count(self, status: IngestStatus) -> int:
        return sum(1 for i in self.items if i.status == status)

    @property
    def rejected(self) -> tuple[IngestItem, ...]:
        return tuple(i for i in self.items if i.status == "rejected")

    def summary(self) -> str:
        return (
            f"{self.count('added')} added, {self.count('replaced')} replaced, "
            f"{self.count('unchanged')} unchanged, {self.count('rejected')} rejected "
            f"in {self.seconds:.1f}s"
        )
