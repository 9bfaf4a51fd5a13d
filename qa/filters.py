"""Source and date filters as users type them: on the command line, the page and the HTTP API.

One parser for all three, so `--after 2023-10-12` and the page's date field mean the same day.
Imports nothing heavy (the store is imported when filters are built): `citeqa --help` uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from qa.errors import InputError

if TYPE_CHECKING:
    from index.store import Filters

_DATE_FORMS = (
    "use ISO 8601: a date like 2023-10-12 (the whole day) or a date and time like "
    "2023-10-12T14:30 (UTC unless it ends with an offset such as +02:00)"
)


def _filter_time(flag: str, value: str, *, end_of_day: bool) -> float:
    """Epoch seconds for --after/--before. A date alone is the whole day in UTC: --after from
    its first microsecond, --before up to and including its last one."""
    from datetime import UTC, date, datetime, time

    text = value.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is not None:
        return datetime.combine(day, time.max if end_of_day else time.min, UTC).timestamp()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"Bad date filter: {flag} {value!r} is not a date; {_DATE_FORMS}."
        ) from None
    if moment.tzinfo is None:  # as at ingest (index/load.py): a time without offset is UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_filters(
    sources: Sequence[str],
    after: str | None,
    before: str | None,
    *,
    names: tuple[str, str] = ("--after", "--before"),
) -> Filters:
    """The filters the user typed (--source, --after, --before, or the page's and the API's
    fields of the same meaning), checked: a bad or reversed date says how to write it, naming
    the two dates as the user's side calls them (`names`: the page's field labels, the API's
    JSON fields), so a person at the page is not told about command-line flags."""
    from index.store import Filters

    after_name, before_name = names
    start = _filter_time(after_name, after, end_of_day=False) if after else None
    end = _filter_time(before_name, before, end_of_day=True) if before else None
    if start is not None and end is not None and start > end:
        raise InputError(
            f"Bad date filter: {after_name} {after!r} is later than {before_name} {before!r}, "
            "so no article could match; swap the two dates."
        )
    return Filters(sources=tuple(sources), published_after=start, published_before=end)
