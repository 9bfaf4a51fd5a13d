"""Time words as date windows, and the window as a soft preference in retrieval."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from qa.types import Article
from qa.when import time_window


def _day(ts: float) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


AS_OF = date(2024, 3, 6)  # a Wednesday


class TestTimeWindow:
    @pytest.mark.parametrize(
        ("question", "first", "last"),
        [
            ("Which mayor resigned this week?", date(2024, 2, 29), date(2024, 3, 6)),
            ("Who won yesterday?", date(2024, 3, 5), date(2024, 3, 5)),
            ("What happened today?", date(2024, 3, 6), date(2024, 3, 6)),
            ("Who quit last week?", date(2024, 2, 22), date(2024, 2, 29)),
            ("What closed last month?", date(2024, 2, 1), date(2024, 2, 29)),
            ("What opened in January?", date(2024, 1, 1), date(2024, 1, 31)),
            ("What opened in December?", date(2023, 12, 1), date(2023, 12, 31)),  # last year's
            ("What opened in March 2022?", date(2022, 3, 1), date(2022, 3, 31)),
            ("Who spoke on Monday?", date(2024, 3, 4), date(2024, 3, 4)),
        ],
    )
    def test_windows(self, question, first, last):
        w = time_window(question, AS_OF)
        assert w is not None
        # One day of slack either side (time zones): the window covers first-1 .. last+1.
        assert _day(w.start) == date.fromordinal(first.toordinal() - 1)
        assert _day(w.end) == date.fromordinal(last.toordinal() + 2)

    def test_no_time_words(self):
        assert time_window("Why did Pashinyan skip the summit?", AS_OF) is None
        assert time_window("What may happen next?", AS_OF) is None  # "may" is not the month


class TestPreferredWindow:
    def test_in_window_article_ranks_first_and_the_other_still_competes(self, make_assistant):
        a = make_assistant(backend="extractive")
        march = datetime(2024, 3, 4, 12, tzinfo=UTC).timestamp()
        april = datetime(2024, 4, 1, 12, tzinfo=UTC).timestamp()
        a.add(
            [
                Article(
                    id="riverton",
                    title="Riverton mayor resigns",
                    text="The mayor of Riverton resigned on Monday to care for her husband.",
                    published_at=march,
                ),
                Article(
                    id="fairhaven",
                    title="Fairhaven mayor resigns",
                    text="The mayor of Fairhaven resigned on Monday after a budget dispute.",
                    published_at=april,
                ),
            ]
        )
        q = "Which mayor resigned this week?"
        for as_of, first in ((date(2024, 3, 6), "riverton"), (date(2024, 4, 3), "fairhaven")):
            ans = a.ask(q, as_of=as_of, k=2)
            ids = [s.article_id for s in ans.sources]
            assert ids[0] == first and len(ids) == 2, (as_of, ids)
