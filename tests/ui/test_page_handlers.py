"""The Library's new steps and the stage line's count, on the page's handlers with a stand-in
Assistant (no model, no browser): Remove asks first, the details editor, the report's rows,
and a question that does not read every article record."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from index.store import Filters
from qa.assistant import check_details
from qa.errors import NotFoundError
from qa.types import Answer, Article, Retrieved, Source

HIDDEN = {"__type__": "update", "visible": False}
SHOWN = {"__type__": "update", "visible": True}
SKIP = {"__type__": "update"}


class Shelf:
    """A stand-in Assistant over a dict of articles, recording what the page calls."""

    def __init__(self, *articles: Article) -> None:
        self.held = {a.id: a for a in articles}
        self.calls: list[str] = []

    def articles(self) -> list[dict[str, Any]]:
        self.calls.append("articles")
        return [
            {"id": a.id, "title": a.title, "source": a.source, "published_at": a.published_at,
             "n_chunks": 1}
            for a in self.held.values()
        ]  # fmt: skip

    def article_count(self, filters: Filters | None = None) -> int:
        self.calls.append("article_count")
        return sum(
            1 for a in self.held.values() if not filters or filters.admits(a.source, a.published_at)
        )

    def get_article(self, article_id: str) -> Article:
        if article_id not in self.held:
            raise NotFoundError(f"No article with id {article_id!r}. See `citeqa articles`.")
        return self.held[article_id]

    def remove(self, article_id: str) -> None:
        self.calls.append(f"remove {article_id}")
        if self.held.pop(article_id, None) is None:
            raise NotFoundError(f"No article with id {article_id!r}. See `citeqa articles`.")

    def edit_article(self, article_id: str, *, title: str, source: str | None, published: Any):
        title, source, day = check_details(title, source, published)  # the Assistant's check
        old = self.get_article(article_id)
        stamp = None if day is None else float(date(day.year, day.month, day.day).toordinal())
        self.held[article_id] = Article(old.id, title, old.text, source=source, published_at=stamp)
        self.calls.append(f"edit {article_id}")
        return self.held[article_id]

    def stream(self, question: str, **_: Any) -> Iterator[Retrieved | Answer]:
        source = Source(article_id="bridge", title="Bridge", chunk_id="c", start=0, end=9,
                        score=1.0, text="A bridge.")  # fmt: skip
        yield Retrieved((source,), question)
        yield Answer(question=question, text="NOT_IN_SOURCES", sentences=(), abstained=True)


BRIDGE = Article("bridge", "Harbour Bridge Reopens", "A bridge.", source="Norrvik Post",
                 published_at=1710115200.0)  # fmt: skip
FERRY = Article("ferry", "Ferry Ends", "A ferry.", source="Citeqa Wire")


def _page(shelf: Shelf):
    from app import ChatPage

    return ChatPage(shelf)  # type: ignore[arg-type]


class TestStageCount:
    def test_a_question_counts_without_reading_the_records(self):
        shelf = Shelf(BRIDGE, FERRY)
        steps = _page(shelf).respond("Where?", [], [], "local", 5, "", "", "")
        next(steps)  # (the chat list is reused between steps: read each as it comes)
        assert "Searching 2 articles…" in next(steps)[0][-1]["content"]
        assert list(steps)  # the answer follows
        assert "articles" not in shelf.calls and shelf.calls.count("article_count") == 1

    def test_filters_count_what_they_admit(self):
        shelf = Shelf(BRIDGE, FERRY)
        steps = _page(shelf).respond("Where?", [], [], "local", 5, "citeqa wire", "", "")
        next(steps)
        assert "Searching 1 article…" in next(steps)[0][-1]["content"]

    def test_only_a_filter_matching_nothing_reads_them_to_say_what_there_is(self):
        shelf = Shelf(BRIDGE, FERRY)
        steps = list(_page(shelf).respond("Where?", [], [], "local", 5, "Harbour Times", "", ""))
        said = steps[-1][0][-1]["content"]
        assert "No article matches" in said and "Citeqa Wire (1), Norrvik Post (1)" in said
        assert shelf.calls.count("articles") == 1


class TestRemoveAsksFirst:
    def test_remove_then_cancel_keeps_then_confirm_removes(self):
        shelf = Shelf(BRIDGE, FERRY)
        page = _page(shelf)
        panel, question, waiting, notice, editor = page.ask_remove("bridge")
        assert panel == SHOWN and waiting == "bridge" and notice == "" and editor == HIDDEN
        assert "Harbour Bridge Reopens" in question and "bridge" in shelf.held
        assert page.cancel_remove() == (HIDDEN, None)
        assert "bridge" in shelf.held and not any(c.startswith("remove") for c in shelf.calls)
        table, picker, panel, waiting, notice, first_run = page.remove("bridge")
        assert "bridge" not in shelf.held and [r[0] for r in table] == ["ferry"]
        assert picker["choices"] == ["ferry"] and picker["value"] is None
        assert panel == HIDDEN and waiting is None and first_run == HIDDEN
        assert "Removed “Harbour Bridge Reopens”" in notice

    def test_nothing_picked_is_said_in_the_library(self):
        page = _page(Shelf(BRIDGE))
        panel, _, waiting, notice, _ = page.ask_remove(None)
        assert panel == HIDDEN and waiting is None
        assert "Pick an article in the list first, then Remove." in notice

    def test_removed_meanwhile_says_so_without_commands(self):
        shelf = Shelf(BRIDGE, FERRY)
        page = _page(shelf)
        page.ask_remove("bridge")
        del shelf.held["bridge"]  # another tab removed it
        table, _, panel, _, notice, _ = page.remove("bridge")
        assert "no longer in the index" in notice and "citeqa" not in notice
        assert [r[0] for r in table] == ["ferry"] and panel == HIDDEN

    def test_the_last_article_removed_brings_the_first_run_panel_back(self):
        page = _page(Shelf(FERRY))
        *_, first_run = page.remove("ferry")
        assert first_run == SHOWN


class TestDetailsEditor:
    def test_opens_with_the_current_values(self):
        opened = _page(Shelf(BRIDGE)).open_editor("bridge")
        editor, title, source, day, error, editing, notice, confirm = opened
        assert editor == SHOWN and confirm == HIDDEN and error == "" and notice == ""
        assert (title, source, day, editing) == (
            "Harbour Bridge Reopens", "Norrvik Post", "2024-03-11", "bridge",
        )  # fmt: skip
        undated = _page(Shelf(FERRY)).open_editor("ferry")
        assert undated[3] == "" and undated[2] == "Citeqa Wire"

    def test_a_bad_date_is_said_under_the_fields_and_nothing_is_saved(self):
        shelf = Shelf(BRIDGE)
        editor, error, table, picker, notice = _page(shelf).save_details(
            "bridge", "New title", "Harbour Times", "14/03/2024"
        )
        assert editor == SKIP and table == SKIP and picker == SKIP  # the fields keep the text
        assert "role=alert" in error and "YYYY-MM-DD" in error and "2024-03-14" in error
        assert shelf.held["bridge"] == BRIDGE and notice == ""

    def test_saved_closes_the_editor_and_keeps_the_article_picked(self):
        shelf = Shelf(BRIDGE, FERRY)
        editor, error, table, picker, notice = _page(shelf).save_details(
            "bridge", "Bridge Opens Again", "Harbour Times", "2024-03-15"
        )
        assert editor == HIDDEN and error == ""
        assert shelf.held["bridge"].title == "Bridge Opens Again"
        assert ["bridge", "Bridge Opens Again", 1] in table
        assert picker["value"] == "bridge"
        assert "Saved the details of “Bridge Opens Again”" in notice

    def test_nothing_picked_or_removed_meanwhile(self):
        page = _page(Shelf(BRIDGE))
        assert "then Edit details" in page.open_editor(None)[6]
        editor, _, _, _, notice = page.save_details("gone", "T", "", "")
        assert editor == HIDDEN and "no longer in the index" in notice

    def test_picking_another_article_closes_both_panels(self):
        assert _page(Shelf()).close_library_panels() == (HIDDEN, HIDDEN, None, None, "")


class TestReportRows:
    def test_each_row_keeps_its_whole_reason_escaped(self):
        reason = "field 'published_at': '<b>someday</b>' is not a date " + "x" * 300
        rows = [["wire.jsonl", "rejected", "", 0, reason], ["a.txt", "added", "a", 3, ""]]
        shown = _page(Shelf()).report_view(rows)
        assert shown.count("<li") == 2 and "report-row rejected" in shown
        assert "&lt;b&gt;someday&lt;/b&gt;" in shown and "x" * 300 in shown
        assert "id a · 3 chunks" in shown
        assert _page(Shelf()).report_view([]) == ""

    @pytest.mark.parametrize("empty", [None, []])
    def test_no_report_yet(self, empty):
        assert _page(Shelf()).report_view(empty) == ""


def test_view_of_an_article_removed_meanwhile_says_so_in_the_panel():
    shown, tab = _page(Shelf(FERRY)).show_article("bridge")
    assert "no longer in the index" in shown and "citeqa" not in shown
    assert tab.selected == "article"
