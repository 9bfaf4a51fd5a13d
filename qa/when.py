"""Time words in a question ("this week", "yesterday", "in March") as a date window.

News questions are anchored in time: "Which singer announced a residency this week?" is about
the story of the week the question is asked, not a look-alike from another month. The window
is computed from the question's date (`as_of`, default today) and used as a soft preference by
retrieval (in-window articles rank first), never as a filter: a wrong guess costs rank, not
the answer. Deliberately small and English-only; a question without time words gets no window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        1,
    )
    for m in names
}
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

_MONTH_RE = re.compile(
    r"\b(?:in|during|since|last|this|early|late|mid-?)\s+(?:early\s+|late\s+)?("
    + "|".join(sorted((m for m in _MONTHS if len(m) > 3 or m == "may"), key=len, reverse=True))
    + r")\b(?:\s+(\d{4}))?",
    re.IGNORECASE,
)
_WEEKDAY_RE = re.compile(r"\b(?:on|last|this)\s+(" + "|".join(_WEEKDAYS) + r")\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Window:
    """Seconds since the epoch, UTC, `start <= published_at < end`; `why` names the words."""

    start: float
    end: float
    why: str

    def contains(self, ts: float | None) -> bool:
        return ts is not None and self.start <= ts < self.end


def _ts(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


def _span(first: date, last: date, why: str) -> Window:
    """Whole days `first`..`last` inclusive, with one day of slack on either side: a story
    filed late on Sunday in New York is Monday in UTC."""
    return Window(_ts(first - timedelta(days=1)), _ts(last + timedelta(days=2)), why)


def time_window(question: str, as_of: date | None = None) -> Window | None:
    """The period the question's time words point at, relative to `as_of`; None if none."""
    today = as_of or datetime.now(UTC).date()
    q = question.lower()
    if re.search(r"\b(today|tonight|this morning|this afternoon|this evening)\b", q):
        return _span(today, today, "today")
    if re.search(r"\byesterday\b", q):
        day = today - timedelta(days=1)
        return _span(day, day, "yesterday")
    if re.search(r"\b(this|the past|the last) week\b|\bthis weekend\b", q):
        return _span(today - timedelta(days=6), today, "this week")
    if re.search(r"\blast week\b", q):
        return _span(today - timedelta(days=13), today - timedelta(days=6), "last week")
    if re.search(r"\b(this|the past) month\b", q):
        return _span(today - timedelta(days=30), today, "this month")
    if re.search(r"\blast month\b", q):
        first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
        return _span(first, today.replace(day=1) - timedelta(days=1), "last month")
    m = _WEEKDAY_RE.search(q)
    if m:
        back = (today.weekday() - _WEEKDAYS.index(m.group(1).lower())) % 7
        day = today - timedelta(days=back or 7 if m.group(0).startswith("last") else back)
        return _span(day, day, m.group(0))
    m = _MONTH_RE.search(question)
    if m:
        month = _MONTHS[m.group(1).lower()]
        year = int(m.group(2)) if m.group(2) else today.year - (month > today.month)
        first = date(year, month, 1)
        nxt = date(year + (month == 12), month % 12 + 1, 1)
        return _span(first, nxt - timedelta(days=1), m.group(0))
    if re.search(r"\bthis year\b", q):
        return _span(date(today.year, 1, 1), today, "this year")
    if re.search(r"\blast year\b", q):
        return _span(date(today.year - 1, 1, 1), date(today.year - 1, 12, 31), "last year")
    return None
