"""`check_details`: an article's title, source and date as a person types them in the Library's
editor, checked before anything is written (no model, no index)."""

from __future__ import annotations

from datetime import date

import pytest

from qa.assistant import check_details
from qa.errors import InputError


@pytest.mark.parametrize(
    ("title", "source", "published", "expected"),
    [
        ("Bridge Reopens", "Norrvik Post", "2024-03-11", ("Bridge Reopens", "Norrvik Post",
                                                         date(2024, 3, 11))),
        ("  Bridge\n Reopens ", "  ", "", ("Bridge Reopens", None, None)),
        ("T", None, None, ("T", None, None)),
        ("T", "AFP", date(2020, 1, 2), ("T", "AFP", date(2020, 1, 2))),
        ("T", " Le  Monde ", " 2024-02-29 ", ("T", "Le Monde", date(2024, 2, 29))),
    ],
)  # fmt: skip
def test_accepted_and_tidied(title, source, published, expected):
    assert check_details(title, source, published) == expected


@pytest.mark.parametrize(
    ("published", "says"),
    [
        # Read without guessing: the message rewrites the reader's own date.
        ("14/03/2024", "write it as 2024-03-14,"),
        ("March 3, 2024", "write it as 2024-03-03,"),
        ("20240311", "write it as 2024-03-11,"),
        # Day and month could swap: both readings, the reader picks.
        ("03/04/2024", "write it as 2024-03-04 or 2024-04-03, whichever is meant"),
        # Not a date at all: an example that cannot be misread.
        ("next Tuesday", "like 2024-03-14 (for 14 March 2024)"),
        ("2024-13-01", "does not exist"),
    ],
)
def test_a_date_in_another_form_says_how_to_write_it(published, says):
    with pytest.raises(InputError) as e:
        check_details("T", None, published)
    text = str(e.value)
    assert "YYYY-MM-DD" in text and says in text
    # Said for a person at the page: no settings, environment variables or commands.
    for technical in ("CITEQA_", "--", "citeqa ", "date_order"):
        assert technical not in text


@pytest.mark.parametrize(
    ("title", "source", "says"),
    [("", None, "title is empty"), ("   ", None, "title is empty"), (None, None, "title is empty"),
     ("x" * 301, None, "limit is 300"), ("T", "y" * 121, "limit is 120"),
     ("T", 5, "source must be text")],
)  # fmt: skip
def test_title_and_source_are_checked(title, source, says):
    with pytest.raises(InputError, match=says):
        check_details(title, source, None)
