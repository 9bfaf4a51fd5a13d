"""A news dateline read as metadata: "TOKYO, June 3, 2024 (Citeqa Wire) - …" gives the source
and the date a plain-text article otherwise lacks.

Wire copy opens with one: the place in capitals, often the date, the outlet in parentheses (or
between slashes for press-release wires), then a dash. Without it, a `.txt` article has no source
or date, so any date or source filter excluded it and the time window ("this week") could not
place it. The dateline stays in the text (it is part of what citations quote); only the fields
it names are filled, and only where the file gave none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_MONTH = (
    r"(?:Jan(?:uary|\.)?|Feb(?:ruary|\.)?|Mar(?:ch|\.)?|Apr(?:il|\.)?|May|June?|July?|"
    r"Aug(?:ust|\.)?|Sept?(?:ember|\.)?|Oct(?:ober|\.)?|Nov(?:ember|\.)?|Dec(?:ember|\.)?)"
)
_DATELINE = re.compile(
    rf"""^\s*
    (?P<place>[A-Z][A-Z.'’-]*(?:\s+[A-Z][A-Z.'’-]*){{0,3}})          # TOKYO, NEW YORK
    (?:,\s*(?!{_MONTH}\b)[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){{0,2}})?  # , Nevada / , Calif.
    (?:,\s*(?P<month>{_MONTH})\s+(?P<day>\d{{1,2}})(?:,\s*(?P<year>\d{{4}}))?)?
    \s*(?:\((?P<paren>[^()\n]{{1,40}})\)|/(?P<slash>[^/\n]{{1,40}})/)?
    \s*(?:-{{1,2}}|—|–)\s""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Dateline:
    place: str
    source: str | None
    published_at: float | None  # the dateline's date at 00:00 UTC, when it gives a year


def read_dateline(text: str) -> Dateline | None:
    """The dateline opening `text`, if it names a source or a date (a bare "PARIS —" is a
    place only, and gives nothing to fill)."""
    m = _DATELINE.match(text[:300])
    if not m:
        return None
    source = (m["paren"] or m["slash"] or "").strip() or None
    published = None
    if m["month"] and m["year"]:
        try:
            published = datetime(
                int(m["year"]), _MONTHS[m["month"][:3].lower()], int(m["day"]), tzinfo=UTC
            ).timestamp()
        except ValueError:
            published = None  # "Feb. 30": not a date
    if source is None and published is None:
        return None
    return Dateline(place=m["place"].strip(), source=source, published_at=published)
