"""The values an answer is made of, and (re-exported) the index's own values.

Article, Chunk, Span, content_hash and the ingest report are defined in `index.types`, the
bottom layer, which must not import qa/; they are re-exported here so callers keep one place to
import every core value from. All are frozen so an offset, once computed against an article's
cleaned text, cannot drift away from the text it points into.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from index.types import Article, Chunk, IngestItem, IngestReport, IngestStatus, Span, content_hash

__all__ = [
    "DECLINED_BECAUSE",
    "Answer",
    "AnswerSentence",
    "Article",
    "Chunk",
    "Citation",
    "Draft",
    "IngestItem",
    "IngestReport",
    "IngestStatus",
    "Retrieved",
    "RetrievedChunk",
    "Source",
    "Span",
    "TextDelta",
    "content_hash",
]


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


# Why an answer was declined (`Answer.declined`), as the CLI, the page and the APIs say it.
# citeqa withholds a drafted answer its checks reject, so "The articles don't say." can mean
# the articles lack it or that what the model drafted did not hold up: the reader is told which.
DECLINED_BECAUSE: dict[str, str] = {
    "nothing_close": "Nothing in the index is close enough to the question to ask the model.",
    "model": "The model found no source sentence that answers the question.",
    "unsupported": "The model's draft said things the sentences it cited do not state.",
    "anchors": "The articles the draft cited do not name everything the question asks about.",
    "time": "The articles the draft cited are from another time than the question asks about.",
    "kind": "The draft gave another kind of thing than the question asks for.",
    "confidence": "The draft's confidence is below the min_confidence setting.",
}


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
    raw_reply: str = ""  # what the model wrote on the first reading (the whole context)
    # What it wrote on the second, focused reading ("" when there was none; see
    # `AnswerChain.reread`), and which reading the answer given is from.
    second_reply: str = ""
    reading: int = 1
    confidence: float | None = None  # P(the answer is right), calibrated; None on abstention
    signals: dict[str, float] = field(default_factory=dict)  # what the confidence is made of
    declined: str | None = None  # why it abstained: a key of DECLINED_BECAUSE; None if answered
    # `declined` said of this question ("… do not mention "Tallinn"."; `qa.declined`)
    declined_detail: str = ""

    @property
    def why_declined(self) -> str | None:
        """Why the answer was declined, in words (None when it was answered)."""
        if not self.declined:
            return None
        return self.declined_detail or DECLINED_BECAUSE.get(self.declined)

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

    @property
    def articles_found(self) -> tuple[Source, ...]:
        """The retrieved passages, one per article (its best-ranked), in rank order: three
        chunks of one story are one source to the reader (the closest sources on abstention,
        in the CLI, the page and the HTTP API)."""
        best: dict[str, Source] = {}
        for s in self.sources:
            best.setdefault(s.article_id, s)
        return tuple(best.values())

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
            "reading": self.reading,
            "declined": self.declined,
            "why_declined": self.why_declined,
        }

    def to_markdown(self) -> str:
        """The answer with numbered citation marks and a list of the quotes they point at."""
        numbers = {(c.article_id, c.start, c.end): i for i, c in enumerate(self.citations, 1)}
        if self.abstained:
            lines = [self.text]
            if self.why_declined:
                lines += ["", f"Why: {self.why_declined}"]
            if self.articles_found:
                lines += ["", "Closest sources:"]
                lines += [f"- {s.title} ({s.article_id})" for s in self.articles_found[:3]]
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
class Draft:
    """The first reading's verified answer, sent while the model reads the sentences it cites
    a second time (see `AnswerChain.stream`): it is checked and can be shown, but the `Answer`
    that follows replaces it."""

    answer: Answer


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of answer text as the model writes it (see `Assistant.stream`)."""

    text: str
