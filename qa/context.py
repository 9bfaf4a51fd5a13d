"""What the model sees: the best retrieved sentences, numbered [S1], [S2], … within a token budget.

Each number stands for a known `[start, end)` span of an article, so a reply that cites `[S4]`
maps to an exact quote by construction, and the model never has to copy text. On a CPU the
prompt dominates latency, so only the sentences most similar to the question go in, counted
with tiktoken; they are then shown in article order so the model reads coherent text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

# Article text is untrusted; the detector and the cleaning live in the bottom layer so ingest
# can flag sentences once (index/injection.py). Re-exported: `from qa.context import
# looks_like_injection, sanitize` keeps working.
from index.injection import looks_like_injection, sanitize
from qa.types import Chunk, RetrievedChunk, Span

__all__ = [
    "Context",
    "NumberedSentence",
    "build_context",
    "looks_like_injection",
    "sanitize",
    "sentence_cost",
]

_WORD = re.compile(r"\w")


@dataclass(frozen=True, slots=True)
class NumberedSentence:
    ref: str  # "S1"
    article_id: str
    title: str
    start: int
    end: int
    text: str  # exactly article.text[start:end]
    score: float


@dataclass(frozen=True, slots=True)
class Context:
    sentences: tuple[NumberedSentence, ...]
    tokens: int

    def by_ref(self) -> dict[str, NumberedSentence]:
        return {s.ref: s for s in self.sentences}

    @property
    def refs(self) -> list[str]:
        return [s.ref for s in self.sentences]

    def render(self, layout: Literal["lines", "paragraphs"] = "lines") -> str:
        """Sources grouped by article under their headlines. "lines": each sentence on its own
        line after its id. "paragraphs": sentences that follow one another in the article
        share a line, and a new line starts where text was left out, so the model can tell a
        passage it reads on from a sentence taken from elsewhere in the story."""
        lines: list[str] = []
        current = None
        end = -1
        for s in self.sentences:
            text = f"[{s.ref}] {sanitize(s.text)}"
            if s.article_id != current:
                if lines:
                    lines.append("")
                title = "(headline withheld)" if looks_like_injection(s.title) else s.title
                lines.append(f"Article: {sanitize(title)}")
                current = s.article_id
                lines.append(text)
            elif layout == "paragraphs" and 0 <= s.start - end <= _ADJACENT:
                lines[-1] += " " + text
            else:
                lines.append(text)
            end = s.end
        return "\n".join(lines)


def sentence_cost(text: str, count_tokens: Callable[[str], int]) -> int:
    """The budget tokens a numbered sentence takes: its text, "[Sn] " and the newline."""
    return count_tokens(text) + 4


# Characters between two sentences that still read as one passage: the space after a full
# stop, or the blank line of a paragraph break.
_ADJACENT = 3


def _with_leads(
    retrieved: Sequence[RetrievedChunk], leads: Mapping[str, Chunk], n: int
) -> list[tuple[int, Chunk, tuple[Span, ...]]]:
    """(rank, chunk, sentences to consider): each retrieved chunk whole, and after the first
    chunk of each article, that article's lead (its first `n` sentences) if not retrieved."""
    out: list[tuple[int, Chunk, tuple[Span, ...]]] = []
    done: set[str] = set()
    for rank, rc in enumerate(retrieved):
        c = rc.chunk
        out.append((rank, c, c.sentences))
        lead = leads.get(c.article_id)
        if lead is not None and c.article_id not in done and lead.id != c.id:
            out.append((rank, lead, lead.sentences[:n]))
        done.add(c.article_id)
    return out


def _vectors(
    candidates: Sequence[tuple[int, str, str, int, int, str]],
    embed: Callable[[list[str]], np.ndarray],
    stored: Callable[[list[tuple[str, Span]]], Mapping[tuple[str, int], np.ndarray]] | None,
) -> np.ndarray:
    """One vector per candidate: the stored one, else embedded now."""
    have = stored([(c[1], Span(c[3], c[4])) for c in candidates]) if stored else {}
    missing = [i for i, c in enumerate(candidates) if (c[1], c[3]) not in have]
    fresh = embed([candidates[i][5] for i in missing]) if missing else None
    rows: list[np.ndarray] = []
    at = {i: n for n, i in enumerate(missing)}
    for i, c in enumerate(candidates):
        rows.append(fresh[at[i]] if fresh is not None and i in at else have[(c[1], c[3])])
    return np.stack(rows)


def build_context(
    retrieved: Sequence[RetrievedChunk],
    *,
    question_vector: np.ndarray | None,
    embed: Callable[[list[str]], np.ndarray] | None,
    count_tokens: Callable[[str], int],
    budget_tokens: int,
    leads: Mapping[str, Chunk] | None = None,
    lead_sentences: int = 2,
    stored: Callable[[list[tuple[str, Span]]], Mapping[tuple[str, int], np.ndarray]] | None = None,
    windows: Callable[[list[tuple[str, Span]]], Mapping[tuple[str, int], np.ndarray]] | None = None,
    window_weight: float = 0.0,
) -> Context:
    """Pick sentences from the retrieved chunks by similarity to the question, within budget.
    `leads` (article id -> its first chunk) adds each retrieved article's lead sentences to
    the candidates: news puts the who and what there (inverted pyramid). `stored` gives the
    sentence vectors computed at ingest, keyed (article id, start); `embed` computes the rest
    (all of them for an index made before sentences were stored). `windows` gives the
    vectors of the sentences read after the sentence before them: sentences are chosen by
    (1 - `window_weight`) x the similarity alone + `window_weight` x that in the window, so
    "The 71-year-old built his fortune …" is found by a question that names him. A sentence's
    `score` stays its similarity alone (less its rank's nudge): the extractive backend's
    threshold and the confidence's evidence similarity were set on that scale."""
    candidates: list[tuple[int, str, str, int, int, str]] = []  # rank, article, title, s, e, text
    seen: set[tuple[str, int, int]] = set()
    for rank, c, spans in _with_leads(retrieved, leads or {}, lead_sentences):
        for span in spans:
            key = (c.article_id, span.start, span.end)
            if key in seen:
                continue
            seen.add(key)
            text = c.text[span.start - c.start : span.end - c.start]
            if looks_like_injection(text) or not _WORD.search(sanitize(text)):
                continue  # written for the model, or no words left once cleaned: never shown
            candidates.append((rank, c.article_id, c.title, span.start, span.end, text))
    if not candidates:
        return Context((), 0)

    # Relevance: similarity to the question, nudged by the chunk's fused rank.
    if question_vector is not None and embed is not None:
        sims = _vectors(candidates, embed, stored) @ question_vector
    else:
        sims = np.zeros(len(candidates), dtype=np.float32)
    alone = [float(x) for x in sims]
    mixed = alone
    if windows is not None and window_weight and question_vector is not None:
        have = windows([(c[1], Span(c[3], c[4])) for c in candidates])
        in_window = [
            float(have[(c[1], c[3])] @ question_vector) if (c[1], c[3]) in have else alone[i]
            for i, c in enumerate(candidates)
        ]
        mixed = [
            (1.0 - window_weight) * alone[i] + window_weight * in_window[i]
            for i in range(len(candidates))
        ]

    def nudged(values: list[float]) -> list[float]:
        return [v - 0.02 * c[0] for v, c in zip(values, candidates, strict=True)]

    scores, rank_by = nudged(alone), nudged(mixed)
    order = sorted(range(len(candidates)), key=lambda i: -rank_by[i])

    chosen: list[int] = []
    used = 0
    for i in order:
        cost = sentence_cost(candidates[i][5], count_tokens)
        if used + cost > budget_tokens:
            continue
        chosen.append(i)
        used += cost

    # Article order of first appearance in the ranking, then position in the article.
    article_rank: dict[str, int] = {}
    for i in order:
        article_rank.setdefault(candidates[i][1], len(article_rank))
    chosen.sort(key=lambda i: (article_rank[candidates[i][1]], candidates[i][3]))
    sentences = tuple(
        NumberedSentence(
            ref=f"S{n}",
            article_id=candidates[i][1],
            title=candidates[i][2],
            start=candidates[i][3],
            end=candidates[i][4],
            text=candidates[i][5],
            score=scores[i],
        )
        for n, i in enumerate(chosen, 1)
    )
    return Context(sentences, used)
