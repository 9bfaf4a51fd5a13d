"""The `extractive` backend: no LLM, the best-matching source sentences are the answer.

Fast and grounded by construction; it abstains when no sentence is similar enough to the
question. It writes its reply in the same `text [S#]` form a model would, so its answers go
through the same parsing and verification. `ExtractiveLLM` is that reply behind the backends'
interface (`qa.llm.base.LLM`), registered as `extractive` like the models.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from qa.cite import ABSTAIN_TOKEN
from qa.context import Context
from qa.llm.base import LLM, Message, ReplyFormat

_NEAR_BEST = 0.08  # also take sentences almost as good as the best one


def extractive_reply(context: Context, *, min_score: float, max_sentences: int) -> str:
    ranked = sorted(context.sentences, key=lambda s: -s.score)
    if not ranked or ranked[0].score < min_score:
        return ABSTAIN_TOKEN
    floor = max(min_score, ranked[0].score - _NEAR_BEST)
    chosen = [s for s in ranked[: min(2, max_sentences)] if s.score >= floor]
    chosen.sort(key=lambda s: (s.article_id, s.start))
    return " ".join(f"{' '.join(s.text.split())} [{s.ref}]" for s in chosen)


class ExtractiveLLM(LLM):
    """The `extractive` backend: its reply is `extractive_reply` of the context shown, in one
    piece. It is no model (`is_model` False): the answer chain does not ask it to rewrite a
    follow-up (the follow-up is searched after the question before it, as written) or to judge
    an answer, and counts no tokens for it."""

    name = "extractive"
    model = "extractive"
    is_model = False

    def __init__(self, *, min_score: float, max_sentences: int) -> None:
        self.min_score = min_score
        self.max_sentences = max_sentences

    def reply(
        self,
        messages: Sequence[Message],
        context: Context,
        *,
        fmt: ReplyFormat | None = None,
        max_tokens: int = 256,
    ) -> Iterator[str]:
        yield extractive_reply(context, min_score=self.min_score, max_sentences=self.max_sentences)

    def _stream(
        self, messages: Sequence[Message], *, fmt: ReplyFormat | None, max_tokens: int
    ) -> Iterator[str]:
        raise TypeError(
            "The extractive backend is no model: it cannot reply to chat messages, only pick "
            "the sentences of a context (ExtractiveLLM.reply)."
        )


def extractive_llm(settings: Any) -> ExtractiveLLM:
    """The `extractive` backend's factory, from a `qa.settings.Settings`: its least similarity
    to answer at all (`extractive_min_score`) and most sentences (`max_answer_sentences`)."""
    return ExtractiveLLM(
        min_score=settings.extractive_min_score, max_sentences=settings.max_answer_sentences
    )
