"""What the page says of an error or a report reason (qa.render.for_people): advice meant for
whoever runs the server is left out, clause by clause; the rest is kept word for word."""

from __future__ import annotations

import pytest

from qa.render import OPERATOR_ONLY, for_people, ingest_report_html

INSTEAD = "Try again, or choose another backend in Settings."


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        (
            "The LLM server at http://127.0.0.1:9/v1 did not answer after 1 attempt "
            "(APIConnectionError: Connection error.). Check that it is running and "
            "CITEQA_OPENAI_BASE_URL is right, or use --backend local.",
            "The LLM server at http://127.0.0.1:9/v1 did not answer after 1 attempt "
            f"(APIConnectionError: Connection error.). {INSTEAD}",
        ),
        (
            "The index in /d is busy: another citeqa process (pid 4) has been ingesting into it "
            "for over 60 s. Try again when it finishes, or wait longer with "
            "CITEQA_INGEST_LOCK_TIMEOUT.",
            "The index in /d is busy: another citeqa process (pid 4) has been ingesting into it "
            f"for over 60 s. Try again when it finishes. {INSTEAD}",
        ),
        (
            "could be day or month first: read as 2024-03-04 (date_order MDY; set "
            "CITEQA_DATE_ORDER=DMY or MDY)",
            f"could be day or month first: read as 2024-03-04 (date_order MDY) {INSTEAD}",
        ),
        ("No article with id 'x'. See `citeqa articles`.", f"No article with id 'x'. {INSTEAD}"),
        (
            "Unknown model 'q'. Choose one of: a, b, or set CITEQA_MODEL_PATH to a GGUF file.",
            f"Unknown model 'q'. Choose one of: a, b. {INSTEAD}",
        ),
        ("Set CITEQA_OPENAI_BASE_URL (e.g. http://h/v1).", INSTEAD),
    ],
)
def test_advice_for_the_operator_is_left_out(said, shown):
    assert for_people(said, instead=INSTEAD) == shown


def test_text_without_such_advice_is_kept_as_it_is():
    plain = "Published on/before '14/03/2024' is not a date; use ISO 8601 (e.g. 2023-10-12)."
    assert for_people(plain, instead=INSTEAD) == plain
    assert for_people("a path /srv/x--y and a -- dash") == "a path /srv/x--y and a -- dash"


def test_nothing_left_says_so():
    assert for_people("Set CITEQA_OPENAI_BASE_URL.") == OPERATOR_ONLY


def test_report_reasons_in_the_library():
    reason = ("an id taken by another source's text: stored as 'a-b' and both are kept; to "
              "update 'a' with this text instead, re-run with --replace")  # fmt: skip
    shown = ingest_report_html([["a.txt", "added", "a-b", 1, reason]])
    assert "both are kept" in shown and "--replace" not in shown and "re-run" not in shown
