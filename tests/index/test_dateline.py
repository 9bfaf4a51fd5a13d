"""Datelines read as source and date (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from index.dateline import read_dateline


def _day(y: int, m: int, d: int) -> float:
    return datetime(y, m, d, tzinfo=UTC).timestamp()


class TestReadDateline:
    @pytest.mark.parametrize(
        ("text", "place", "source", "published"),
        [
            ("TOKYO, June 3, 2024 (Citeqa Wire) - Markets fell.", "TOKYO", "Citeqa Wire",
             _day(2024, 6, 3)),
            ("RENO, Nevada, May 14 (Prairie Ledger) — Latin pop star Marisol Reyes will play.",
             "RENO", "Prairie Ledger", None),
            ("WASHINGTON (AP) — The Senate voted on Tuesday.", "WASHINGTON", "AP", None),
            ("LONDON, March 5 (Reuters) - Shares rose.", "LONDON", "Reuters", None),
            ("NEW YORK, Jan. 5, 2024 /PRNewswire/ -- Acme Corp. said.", "NEW YORK", "PRNewswire",
             _day(2024, 1, 5)),
            ("SAN CAYETANO, Texas, May 13, 2024 (Mesa Daily Star) — Flash flooding swept.",
             "SAN CAYETANO", "Mesa Daily Star", _day(2024, 5, 13)),
            ("KESSLER FALLS, Wisconsin, Sept. 27, 2023 — Mayor Carla Jennings cut the ribbon.",
             "KESSLER FALLS", None, _day(2023, 9, 27)),
        ],
    )  # fmt: skip
    def test_source_and_date_from_the_dateline(self, text, place, source, published):
        d = read_dateline(text)
        assert d is not None
        assert (d.place, d.source, d.published_at) == (place, source, published)

    @pytest.mark.parametrize(
        "text",
        [
            "PARIS — The museum reopened.",  # a place only: nothing to fill
            "Vladimir Putin arrived in Kyrgyzstan Thursday.",  # no dateline
            "The council met (briefly) - then left.",
            "NASA said on Monday - in a statement - that the launch slipped.",
            "TOKYO, Feb. 30, 2024 - Not a day.",  # an impossible date, and no source
        ],
    )
    def test_no_dateline(self, text):
        assert read_dateline(text) is None
