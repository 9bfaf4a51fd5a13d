"""The `extractive` backend: no LLM, the best-matching source sentences are the answer.

Fast and grounded by construction; it abstains when no sentence is similar enough to the
question. It writes its reply in the same `text [S#]` form a model would, so its answers go
through the same parsing and verification.
"""

from __future__ import annotations

from qa.cite import ABSTAIN_TOKEN
from qa.context import Context

_NEAR_BEST = 0.08  # also take sentences almost as good as the best one


def extractive_reply(context: Context, *, min_score: float, max_sentences: int) -> str:
    ranked = sorted(context.sentences, key=lambda s: -s.score)
    if not ranked or ranked[0].score < min_score:
        return ABSTAIN_TOKEN
    floor = max(min_score, ranked[0].score - _NEAR_BEST)
    chosen = [s for s in ranked[: min(2, max_sentences)] if s.score >= floor]
    chosen.sort(key=lambda s: (s.article_id, s.start))
    return " ".join(f"{' '.join(s.text.split())} [{s.ref}]" for s in chosen)
