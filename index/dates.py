"""Publication dates as people and feeds write them, read into UTC epoch seconds.

Real exports refused here before: CNN's `2022/06/28`, RSS's RFC 2822 `Tue, 28 Jun 2022 10:00:00
GMT`, `June 28, 2022`. python-dateutil reads them (it is already in the dependency tree, through
trafilatura's htmldate); what it would guess is not left to it: a date needs a year, and a
day/month order that could go either way (`03/04/2022`) follows `date_order` and is reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

DateOrder = Literal["MDY", "DMY"]

_HINT = (
    "write it as ISO 8601 (2022-06-28), June 28, 2022, or RFC 2822 (Tue, 28 Jun 2022 10:00:00 GMT)"
)
_EPOCH = re.compile(r"^\s*-?\d{9,11}(?:\.\d+)?\s*$")  # 1973..5138 in seconds
_YEAR = re.compile(r"(?<!\d)(?:1[89]|2\d)\d\d(?!\d)")
_NUMERIC = re.compile(r"(?<!\d)(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})(?!\d)")
# Zone abbreviations feeds use; dateutil knows only UTC/GMT and would drop the others silently.
_ZONES = {
    name: timezone(timedelta(hours=h))
    for name, h in {
        "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8,
        "PDT": -7, "BST": 1, "CET": 1, "CEST": 2, "IST": 5.5, "JST": 9, "AEST": 10,
    }.items()
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReadDate:
    epoch: float  # seconds since the epoch, UTC
    note: str | None = None  # what was decided that the value did not say (for the report)


def read_date(value: Any, *, order: DateOrder = "MDY") -> ReadDate | str:
    """The date `value` names, or a message saying why it is not one.

    Numbers are epoch seconds; strings may be ISO 8601 (with or without time and zone), RFC
    2822, `2022/06/28`, `28 June 2022`, `June 28, 2022`, `28.06.2022` or epoch digits. A date
    without a zone is UTC."""
    if isinstance(value, bool):
        return f"{value!r} is not a date; {_HINT}"
    if isinstance(value, int | float):
        return ReadDate(float(value))
    if not isinstance(value, str):
        return f"expected a date string or number, got {type(value).__name__}"
    text = value.strip()
    if _EPOCH.match(text):
        return ReadDate(float(text))
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return _read_loose(text, order)
    return ReadDate(_utc(dt).timestamp())


def _read_loose(text: str, order: DateOrder) -> ReadDate | str:
    from dateutil import parser

    numeric = _NUMERIC.search(text)
    if not _YEAR.search(text) and not numeric:
        return f"{text!r} is not a date (no year in it); {_HINT}"
    try:
        dt = parser.parse(
            text, dayfirst=order == "DMY", default=datetime(2000, 1, 1), tzinfos=_ZONES
        )
    except (ValueError, OverflowError) as e:
        return f"{text!r} is not a date ({e}); {_HINT}"
    note = None
    if numeric:
        a, b = int(numeric.group(1)), int(numeric.group(2))
        if a != b and a <= 12 and b <= 12:
            note = (
                f"date {numeric.group(0)!r} could be day or month first: read as "
                f"{dt:%Y-%m-%d} (date_order {order}; set CITEQA_DATE_ORDER=DMY or MDY)"
            )
    return ReadDate(_utc(dt).timestamp(), note)


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
