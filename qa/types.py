"""Core values shared by index/, qa/ and eval/.

They are frozen so an offset, once computed against an article's cleaned text, cannot drift
away from the text it points into.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal


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


@dataclass(frozen=True, slots=True)
class RetrievedChunk:
    chunk: Chunk
    score: float  # fused reciprocal-rank score: larger is better
    dense_rank: int | None = None
    bm25_rank: int | None = None
    dense_similarity: float | None = None
    # Other outlets' copies of this article's story, folded into it: their ids, and their
    # outlets' names (or titles)
    copies: tuple[str, ...] = ()
    also_published_by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Citation:
    """An exact quote: `quote == article.text[start:end]`, checked when it is made."""

    article_id: str
    title: str
    start: int
    end: int
    quote: str
    ref: str = ""  # the id the model saw, e.g. "S4"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AnswerSentence:
    text: str
    citations: tuple[Citation, ...] = ()
    supported: bool = True
    support: float = 1.0  # share of the sentence's key words found in what it cites (0–1)


@dataclass(frozen=True, slots=True)
class Source:
    """A retrieved passage shown next to an answer (and as the closest sources on abstention)."""

    article_id: str
    title: str
    chunk_id: str
    start: int
    end: int
    score: float
    text: str
    also_published_by: tuple[str, ...] = ()  # outlets whose copies of the story were folded

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "also_published_by": list(self.also_published_by)}


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    text: str
    sentences: tuple[AnswerSentence, ...]
    abstained: bool
    sources: tuple[Source, ...] = ()
    standalone_question: str = ""
    backend: str = ""
    model: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    raw_reply: str = ""
    confidence: float | None = None  # P(the answer is right), calibrated; None on abstention
    signals: dict[str, float] = field(default_factory=dict)  # what the confidence is made of

    @property
    def citations(self) -> tuple[Citation, ...]:
        """All distinct citations of the sentences shown (the supported ones), in the order
        they first appear. A dropped sentence's citations are kept on it, for inspection, but
        are not the answer's: they were listed and scored as if they were."""
        seen: dict[tuple[str, int, int], Citation] = {}
        for sentence in self.sentences:
            if not sentence.supported:
                continue
            for c in sentence.citations:
                seen.setdefault((c.article_id, c.start, c.end), c)
        return tuple(seen.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "standalone_question": self.standalone_question or self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "sentences": [
                {
                    "text": s.text,
                    "supported": s.supported,
                    "support": round(s.support, 4),
                    "citations": [c.to_dict() for c in s.citations],
                }
                for s in self.sentences
            ],
            "sources": [s.to_dict() for s in self.sources],
            "backend": self.backend,
            "model": self.model,
            "timings": dict(self.timings),
            "tokens": dict(self.tokens),
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "signals": dict(self.signals),
        }

    def to_markdown(self) -> str:
        """The answer with numbered citation marks and a list of the quotes they point at."""
        numbers = {(c.article_id, c.start, c.end): i for i, c in enumerate(self.citations, 1)}
        if self.abstained:
            lines = [self.text]
            if self.sources:
                lines += ["", "Closest sources:"]
                lines += [f"- {s.title} ({s.article_id})" for s in self.sources[:3]]
            return "\n".join(lines)
        parts = []
        for s in self.sentences:
            if not s.supported:
                continue
            marks = "".join(f"[{numbers[(c.article_id, c.start, c.end)]}]" for c in s.citations)
            parts.append(f"{s.text} {marks}".strip())
        lines = [" ".join(parts), ""]
        also = {s.article_id: s.also_published_by for s in self.sources if s.also_published_by}
        for c, n in ((c, numbers[(c.article_id, c.start, c.end)]) for c in self.citations):
            line = f'[{n}] {c.title} ({c.article_id}, chars {c.start}-{c.end}): "{c.quote}"'
            if c.article_id in also:
                line += f" (also published by {', '.join(also[c.article_id])})"
            lines.append(line)
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Retrieved:
    """The passages retrieval found, sent before generation starts (see `Assistant.stream`):
    the page shows them while the model is still reading, ~3 s before the first word."""

    sources: tuple[Source, ...]
    standalone_question: str  # what was searched for (a follow-up, rewritten)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of answer text as the model writes it (see `Assistant.stream`)."""

    text: str


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
