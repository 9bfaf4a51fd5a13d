"""Issue 17's Library, in Debian's Chromium against a real `citeqa serve`: Remove asks first (in
the page, not a browser dialog), report rows wrap their reasons on a phone, and an article's
title, source and date can be edited after upload (answers and filters then use them).

The server answers with the extractive backend (no LLM; the same citations on every run)."""

from __future__ import annotations

import json

import pytest

from index.load import LoadProblem, load_paths
from tests.ui.conftest import (
    SHOTS,
    _open,
    citeqa_server,
    ingest_with_cli,
    needs_chromium,
    wait_report,
    wait_text,
)
from tests.ui.test_answer_page import _ask_filtered

pytestmark = [pytest.mark.slow, needs_chromium]

TAMSBY = {
    "id": "tamsby-library",
    "title": "Library reopens in Tamsby",
    "source": "Tamsby Wire",
    "published_at": "2022-07-01",
    "text": "The Tamsby public library reopened on Monday after a two-year renovation that added "
    "a children's wing. The mayor said the library would open on Sundays from September.",
}
GLACIER = {
    "id": "sorvik-glacier",
    "title": "Glacier retreat measured",
    "source": "Wire Digest",
    "published_at": "2022-06-28",
    "text": "Researchers measured a 40-metre retreat of the Sorvik glacier in one summer, the "
    "fastest since records began.",
}
HARBOUR = {
    "id": "port-arlo",
    "title": "Dockworkers end strike in Port Arlo",
    "source": "Arlo Herald",
    "published_at": "2024-06-07",
    "text": "Dockworkers in Port Arlo ended a nine-day strike on Friday after the port "
    "authority agreed to a 6 percent raise.",
}
REOPENED = "When did the Tamsby library reopen after its renovation?"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """A server on an index of three articles (ingested with the CLI), extractive answers."""
    data = tmp_path_factory.mktemp("library")
    index = ingest_with_cli(data, (TAMSBY, GLACIER, HARBOUR), "digest.jsonl")
    with citeqa_server(index, env={"CITEQA_BACKEND": "extractive"}) as url:
        yield url


def _tab(page, name: str) -> None:
    """Open a tab; on a phone the later tabs sit in gradio's "More tabs" menu."""
    tab = page.locator(f"button[role=tab]:has-text('{name}')")
    if tab.count() and tab.is_visible():
        tab.click()
    else:
        page.get_by_role("button", name="More tabs").click()
        page.locator(f".overflow-dropdown button:has-text('{name}')").click()


def _pick(page, article_id: str) -> None:
    page.locator("#library-pick input").click()
    page.get_by_role("option", name=article_id, exact=True).click()


def _field(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def _library(page) -> str:
    return page.locator("#library").inner_text()


def _library_shows(page, text: str) -> None:
    """Wait until the Library table shows `text`. A new page view first shows the table as the
    app built it at start, until its load event has read the index again: reading at once, a
    CI run (stop 37) caught the old title with gradio's "0.2s" timer still on the table."""
    wait_text(page, "#library", text)


class TestRemoveAsksFirst:
    def test_remove_then_cancel_keeps_it_then_confirm_removes_it(self, loaded, browser):
        context, page, dialogs, errors = _open(browser, loaded)
        _tab(page, "Library")
        _pick(page, "sorvik-glacier")
        page.click("#remove-article")
        confirm = page.locator("#remove-confirm")
        confirm.wait_for(state="visible", timeout=30_000)
        assert "Remove “Glacier retreat measured” from the index?" in confirm.inner_text()
        page.screenshot(path=str(SHOTS / "remove-confirm-1280.png"), full_page=True)
        page.click("#remove-cancel")
        confirm.wait_for(state="hidden", timeout=30_000)
        page.wait_for_timeout(500)
        assert "Glacier retreat measured" in _library(page)
        # The article is still there for the page: reopened, the library lists it.
        again, view, _, _ = _open(browser, loaded)
        _tab(view, "Library")
        _library_shows(view, "Glacier retreat measured")
        again.close()
        page.click("#remove-article")
        confirm.wait_for(state="visible", timeout=30_000)
        page.click("#remove-yes")
        page.locator("#library-notice").get_by_text("Removed “Glacier retreat measured”.").wait_for(
            timeout=30_000
        )
        assert confirm.is_hidden()
        assert "Glacier retreat measured" not in _library(page)
        page.locator("#library-pick input").click()
        options = page.get_by_role("option").all_inner_texts()
        assert "sorvik-glacier" not in options and "tamsby-library" in options
        assert not dialogs and not errors  # no browser alert was used
        context.close()

    def test_on_a_phone_the_question_names_the_article_and_cancel_keeps_it(self, loaded, browser):
        context, page, dialogs, errors = _open(browser, loaded, width=390, height=844)
        _tab(page, "Library")
        _pick(page, "port-arlo")
        page.click("#remove-article")
        confirm = page.locator("#remove-confirm")
        confirm.wait_for(state="visible", timeout=30_000)
        assert "Dockworkers end strike in Port Arlo" in confirm.inner_text()
        for button in ("#remove-cancel", "#remove-yes"):  # both within the phone's width
            box = page.locator(button).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] >= 40
        confirm.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "remove-confirm-390.png"))
        page.click("#remove-cancel")
        confirm.wait_for(state="hidden", timeout=30_000)
        assert "port-arlo" in _library(page)
        assert not dialogs and not errors
        context.close()

    def test_nothing_picked_is_said_in_place(self, loaded, browser):
        context, page, dialogs, errors = _open(browser, loaded)
        _tab(page, "Library")
        page.click("#remove-article")
        notice = page.locator("#library-notice")
        notice.get_by_text("Pick an article in the list first, then Remove.").wait_for(
            timeout=30_000
        )
        assert page.locator("#remove-confirm").is_hidden()
        assert not dialogs and not errors
        context.close()


# Every part of each report row inside the row, the rows inside the report, the report inside
# the screen, and no box scrolling sideways or cutting text: what a reader can read whole.
ROWS_FIT = """() => {
  const report = document.querySelector('#ingest-report');
  const rows = [...report.querySelectorAll('.report-row')];
  if (!rows.length) return 'no rows';
  const w = window.innerWidth;
  const r = report.getBoundingClientRect();
  if (r.left < 0 || r.right > w + 0.5) return 'report wider than the screen';
  for (const row of rows) {
    const b = row.getBoundingClientRect();
    if (b.left < r.left - 0.5 || b.right > r.right + 0.5) return 'row outside the report';
    if (row.scrollWidth > row.clientWidth + 1) return 'row scrolls sideways';
    for (const part of row.querySelectorAll('*')) {
      const p = part.getBoundingClientRect();
      if (p.left < b.left - 0.5 || p.right > b.right + 0.5) return 'text outside its row';
      if (part.scrollWidth > part.clientWidth + 1 && getComputedStyle(part).display !== 'inline')
        return 'cut: ' + part.className;
    }
  }
  return 'ok';
}"""


class TestReportRows:
    def test_a_long_reason_wraps_within_its_row_on_a_phone(self, loaded, browser, tmp_path):
        records = [
            {"id": "undated-story", "title": "Undated", "text": "A story nobody could date.",
             "published_at": "sometime-in-the-spring-of-the-year-when-the-harbour-froze-over"},
            {"id": "ferry-timetable", "title": "Ferry timetable changes",
             "text": "The Tamsby ferry will leave at seven from Monday."},
        ]  # fmt: skip
        upload = tmp_path / "wire-digest-with-a-rather-long-file-name-for-a-phone.jsonl"
        upload.write_text("\n".join(map(json.dumps, records)), encoding="utf-8")
        # What the loader says about the bad record: the reason the row must show whole.
        reason = next(p.reason for p in load_paths([upload]) if isinstance(p, LoadProblem))
        assert len(reason) > 150
        context, page, dialogs, errors = _open(browser, loaded, width=390, height=844)
        _tab(page, "Library")
        page.set_input_files("#upload input[type=file]", [str(upload)])
        page.click("#ingest")
        wait_report(page, "rejected")
        wait_report(page, "added")
        rejected = page.locator("#ingest-report .report-row.rejected")
        assert rejected.count() == 1
        shown = rejected.locator(".report-reason")
        assert shown.inner_text() == reason  # all of it, not cut
        assert page.evaluate(ROWS_FIT) == "ok"
        box, line = shown.bounding_box(), shown.evaluate("e => parseFloat(getComputedStyle(e)"
                                                          ".lineHeight)")  # fmt: skip
        assert box["height"] >= 3 * line  # wrapped onto several lines
        assert upload.name in rejected.inner_text()
        rejected.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "report-rows-390.png"))
        assert not errors and not dialogs
        context.close()


class TestEditDetails:
    def test_a_bad_date_is_said_in_place_then_the_edit_is_saved_and_used(self, loaded, browser):
        context, page, dialogs, errors = _open(browser, loaded)
        _tab(page, "Library")
        _pick(page, "tamsby-library")
        page.click("#edit-article")
        editor = page.locator("#edit-details")
        editor.wait_for(state="visible", timeout=30_000)
        title, source, day = (_field(page, f) for f in ("edit-title", "edit-source", "edit-date"))
        assert (title.input_value(), source.input_value(), day.input_value()) == (
            "Library reopens in Tamsby", "Tamsby Wire", "2022-07-01",
        )  # fmt: skip
        title.fill("Tamsby library opens its children's wing")
        source.fill("Tamsby Courier")
        day.fill("04/07/2022")  # day or month first? Not guessed: the form is asked for
        page.click("#edit-save")
        error = page.locator("#edit-error")
        error.get_by_text("YYYY-MM-DD").wait_for(timeout=30_000)
        assert "'04/07/2022' is not in the form YYYY-MM-DD" in error.inner_text()
        assert "2022-04-07 or 2022-07-04, whichever is meant" in error.inner_text()
        assert "leave it empty" in error.inner_text()
        assert editor.is_visible() and day.input_value() == "04/07/2022"  # kept to fix
        assert "Library reopens in Tamsby" in _library(page)  # nothing saved
        page.screenshot(path=str(SHOTS / "edit-details-error-1280.png"), full_page=True)
        day.fill("2022-07-04")
        page.click("#edit-save")
        notice = page.locator("#library-notice")
        notice.get_by_text("Saved the details of").wait_for(timeout=60_000)
        assert editor.is_hidden()
        assert "Tamsby library opens its children's wing" in _library(page)
        # Opened again, the editor shows what was saved, and no error.
        page.click("#edit-article")
        editor.wait_for(state="visible", timeout=30_000)
        page.wait_for_function(
            "() => document.querySelector('#edit-date input, #edit-date textarea').value"
            " === '2022-07-04'",
            timeout=30_000,
        )
        assert (title.input_value(), source.input_value()) == (
            "Tamsby library opens its children's wing", "Tamsby Courier",
        )  # fmt: skip
        assert error.inner_text().strip() == ""
        page.click("#edit-cancel")
        editor.wait_for(state="hidden", timeout=30_000)
        # The answer's card uses the new title, outlet and date; the new source filters.
        _tab(page, "Settings")
        page.get_by_label("Only these sources (comma-separated)").fill("tamsby courier")
        _ask_filtered(page, REOPENED, 1)
        bot = page.locator("#chat [data-testid='bot']").last
        card = bot.locator(".source-card").first
        card.wait_for(timeout=30_000)
        assert (
            card.locator(".card-title").inner_text() == "Tamsby library opens its children's wing"
        )
        assert card.locator(".card-meta").inner_text() == "Tamsby Courier · July 4, 2022"
        # The old source matches nothing now, and the note lists the new one.
        page.get_by_label("Only these sources (comma-separated)").fill("Tamsby Wire")
        _ask_filtered(page, REOPENED, 2)
        said = page.locator("#chat [data-testid='bot']").last.locator(".no-match").inner_text()
        assert 'No article matches the filters (source "Tamsby Wire")' in said
        assert "Tamsby Courier (1)" in said
        assert not dialogs and not errors
        context.close()
        # A new page view reads the edited details from the index.
        context, page, _, _ = _open(browser, loaded)
        _tab(page, "Library")
        _library_shows(page, "Tamsby library opens its children's wing")
        context.close()

    def test_the_editor_on_a_phone(self, loaded, browser):
        context, page, dialogs, errors = _open(browser, loaded, width=390, height=844)
        _tab(page, "Library")
        _pick(page, "port-arlo")
        page.click("#edit-article")
        editor = page.locator("#edit-details")
        editor.wait_for(state="visible", timeout=30_000)
        _field(page, "edit-date").fill("7 June 2024")
        page.click("#edit-save")
        error = page.locator("#edit-error")
        error.get_by_text("write it as 2024-06-07").wait_for(timeout=30_000)  # its own date
        for part in ("#edit-title", "#edit-date", "#edit-save", "#edit-error"):
            box = page.locator(part).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, part
        editor.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "edit-details-390.png"))
        page.click("#edit-cancel")
        editor.wait_for(state="hidden", timeout=30_000)
        assert "Dockworkers end strike in Port Arlo" in _library(page)
        assert not dialogs and not errors
        context.close()
