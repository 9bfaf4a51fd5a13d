"""One question's outcome, as an eval run writes it to results.jsonl and everything else reads it.

It sits in its own module, below both `eval.run` (which writes rows) and `eval.report` (which
renders and compares them), so neither has to import the other to know what a row is;
calibration, rescoring and replays read the same rows.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class EvalRow(BaseModel):
    """One question's outcome, as written to results.jsonl."""

    id: str
    question: str
    answerable: bool
    references: list[str]
    answer: str = ""
    raw_reply: str = ""  # what the model wrote, before verification
    second_reply: str = ""  # what it wrote on the second, focused reading (none: "")
    reading: int = 1  # which reading the answer is from
    abstained: bool = False
    citations: list[dict[str, Any]] = []
    retrieved: list[dict[str, Any]] = []
    gold: list[dict[str, Any]] = []
    scores: dict[str, float | None] = {}
    timings: dict[str, float] = {}
    tokens: dict[str, int] = {}
    confidence: float | None = None  # citeqa's own P(right), None on abstention
    signals: dict[str, float] = {}
    # Why it abstained (`Answer.declined`: "model", "unsupported", "kind", ...); None if answered
    declined: str | None = None
    why_declined: str | None = None  # the same in words, said of the question
    error: str | None = None

    @property
    def right(self) -> bool | None:
        """Whether a given answer is right (for calibration): an answerable question whose
        reference the answer contains, or covers (token recall >= 0.5, fair to paraphrase);
        any answer to an unanswerable question is wrong. None when it abstained."""
        if self.abstained or self.error:
            return None
        if not self.answerable:
            return False
        return bool(
            (self.scores.get("answer_contains") or 0) >= 1
            or (self.scores.get("answer_recall") or 0) >= 0.5
        )
