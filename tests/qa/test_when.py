"""Time words as date windows, and the window as a soft preference in retrieval."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from index.types import Chunk
from qa.retrieve import _lead_first
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


def _chunk(article_id: str, index: int) -> Chunk:
    return Chunk(id=f"{article_id}:{index}", article_id=article_id, index=index, start=index * 100,
                 end=index * 100 + 90, text="x")  # fmt: skip


class TestLeadFirst:
    """The top story's lead chunk first, for a question about the last few days."""

    def _ranked(self, *ids: str) -> tuple[list[tuple[str, dict]], dict[str, Chunk]]:
        pool = {i: _chunk(*i.split(":")[:1], int(i.split(":")[1])) for i in ids}
        return [(i, {"score": 1.0}) for i in ids], pool

    def test_the_top_articles_lead_moves_to_the_top(self):
        ranked, pool = self._ranked("a:2", "b:0", "a:0", "a:1")
        assert [i for i, _ in _lead_first(ranked, pool)] == ["a:0", "a:2", "b:0", "a:1"]

    def test_another_articles_lead_does_not_move(self):
        ranked, pool = self._ranked("a:2", "b:0", "a:1")
        assert [i for i, _ in _lead_first(ranked, pool)] == ["a:2", "b:0", "a:1"]

    def test_a_lead_already_first_and_an_empty_list_are_left(self):
        ranked, pool = self._ranked("a:0", "a:1")
        assert [i for i, _ in _lead_first(ranked, pool)] == ["a:0", "a:1"]
        assert _lead_first([], {}) == []

    @pytest.mark.parametrize(
        ("words", "short"),
        [("this week", True), ("last week", True), ("yesterday", True), ("on Monday", True),
         ("last month", False), ("this month", False), ("in January", False), ("this year", False)],
    )  # fmt: skip
    def test_the_default_covers_the_last_few_days(self, words, short):
        from qa.settings import Settings

        w = time_window(f"Which mayor resigned {words}?", AS_OF)
        assert w is not None
        assert ((w.end - w.start) / 86400 <= Settings().recent_lead_days) is short

    def test_only_short_periods_and_only_when_on(self, make_assistant):
        """Real index: a story whose later paragraph repeats the question's words outranks its
        own lead, until the question names this week."""
        lead = (
            "Latin pop star Marisol Reyes will play sixteen shows at the Silver Crest Casino in "
            "Reno starting in November, the casino said on Tuesday. "
        )
        later = (
            "The residency announcement this week made her the latest singer to announce a "
            "residency, a singer residency trend that singers announced all week. "
        )
        text = lead + "Tickets go on sale Friday. " * 8 + later + "More shows may follow. " * 8
        published = datetime(2024, 5, 14, 12, tzinfo=UTC).timestamp()
        story = Article(id="reyes", title="Reno casino books show", text=text,
                        published_at=published)  # fmt: skip
        q = "Which singer announced a residency this week?"
        starts = {}
        for days in (11.0, 0.0):
            a = make_assistant(backend="extractive", chunk_tokens=40, recent_lead_days=days)
            a.add([story])
            week = a.ask(q, as_of=date(2024, 5, 16), k=3)
            year = a.ask("Which singer announced a residency this year?",
                         as_of=date(2024, 5, 16), k=3)  # fmt: skip
            starts[days] = (week.sources[0].start, year.sources[0].start)
        assert starts[0.0][0] > 0  # without the rule a later chunk ranks first ...
        assert starts[11.0][0] == 0  # ... with it the lead does, for "this week"
        assert starts[11.0][1] == starts[0.0][1] > 0  # "this year" is not a short period
