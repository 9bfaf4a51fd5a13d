"""What the model sees: the best retrieved sentences, numbered [S1], [S2], … within a token budget.

Each number stands for a known `[start, end)` span of an article, so a reply that cites `[S4]`
maps to an exact quote by construction, and the model never has to copy text. On a CPU the
prompt dominates latency, so only the sentences most similar to the question go in, counted
with tiktoken; they are then shown in article order so the model reads coherent text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qa.types import RetrievedChunk

# Citation-like markers inside article text would let an article forge a citation id.
_FAKE_MARKER = re.compile(r"\[\s*S\s*\d+\s*\]", re.IGNORECASE)


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

    def render(self) -> str:
        """Sources grouped by article, each sentence on its own line after its id."""
        lines: list[str] = []
        current = None
        for s in self.sentences:
            if s.article_id != current:
                if lines:
                    lines.append("")
                lines.append(f"Article: {_one_line(s.title)}")
                current = s.article_id
            lines.append(f"[{s.ref}] {_one_line(_FAKE_MARKER.sub('', s.text))}")
        return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def build_context(
    retrieved: Sequence[RetrievedChunk],
    *,
    question_vector: np.ndarray | None,
    embed: Callable[[list[str]], np.ndarray] | None,
    count_tokens: Callable[[str], int],
    budget_tokens: int,
) -> Context:
    """Pick sentences from the retrieved chunks by similarity to the question, within budget."""
    candidates: list[tuple[int, str, str, int, int, str]] = []  # rank, article, title, s, e, text
    seen: set[tuple[str, int, int]] = set()
    for rank, rc in enumerate(retrieved):
        c = rc.chunk
        for span in c.sentences:
            key = (c.article_id, span.start, span.end)
            if key in seen:
                continue
            seen.add(key)
            text = c.text[span.start - c.start : span.end - c.start]
            candidates.append((rank, c.article_id, c.title, span.start, span.end, text))
    if not candidates:
        return Context((), 0)

    # Relevance: similarity to the question, nudged by the chunk's fused rank.
    if question_vector is not None and embed is not None:
        vectors = embed([t for *_, t in candidates])
        sims = vectors @ question_vector
    else:
        sims = np.zeros(len(candidates), dtype=np.float32)
    scores = [float(sims[i]) - 0.02 * cand[0] for i, cand in enumerate(candidates)]
    order = sorted(range(len(candidates)), key=lambda i: -scores[i])

    chosen: list[int] = []
    used = 0
    for i in order:
        cost = count_tokens(candidates[i][5]) + 4  # "[Sn] " and the newline
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
