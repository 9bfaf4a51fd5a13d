"""Issue 17's source viewer on a phone, in Debian's Chromium against a real `citeqa serve`: at
390×844 a citation opens the viewer as a bottom sheet over the answer, and "Back to answer"
returns to the answer where the reader was; at desktop width the viewer is as it was.

The server answers with the extractive backend (no LLM; the same citations on every run)."""

from __future__ import annotations

import pytest

from tests.ui.conftest import SHOTS, _ask, _open, citeqa_server, ingest_with_cli, needs_chromium
from tests.ui.test_answer_page import BRIDGE, DEEP, FERRY, ISLAND

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """A server on an index of three articles, one of them long (its cited sentence is last)."""
    data = tmp_path_factory.mktemp("sheet")
    index = ingest_with_cli(data, (BRIDGE, FERRY, ISLAND), "norrvik.jsonl")
    with citeqa_server(index, env={"CITEQA_BACKEND": "extractive"}) as url:
        yield url


# The sheet has settled: the focused quote is shown inside it, below its sticky header, and
# nothing covers it there (the sheet is on top of the page).
SHEET_SETTLED = """() => {
  if (!document.body.classList.contains('cq-sheet')) return false;
  const view = document.getElementById('article-view');
  const box = view.querySelector('.citeqa-article');
  const mark = document.getElementById('citeqa-focus');
  if (!box || !mark) return false;
  const b = box.getBoundingClientRect(), m = mark.getBoundingClientRect();
  const head = box.querySelector('.article-head').getBoundingClientRect();
  const hit = document.elementFromPoint(m.left + 4, m.top + m.height / 2);
  return m.top >= head.bottom - 1 && m.bottom <= Math.min(b.bottom, window.innerHeight) + 1
    && !!hit && view.contains(hit);
}"""


def _chip(page):
    return page.locator("#chat [data-testid='bot']").last.locator(".card-chip").first


def _in_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    return box is not None and 0 <= box["y"] and box["y"] + box["height"] <= size["height"]


class TestBottomSheet:
    def test_on_a_phone_the_viewer_is_a_sheet_and_back_returns_to_the_answer(self, loaded, browser):
        context, page, dialogs, errors = _open(browser, loaded, width=390, height=844)
        _ask(page, DEEP, 1)
        chip = _chip(page)
        # The reader has scrolled the page a little, with the answer's chip in view.
        page.evaluate("window.scrollTo(0, 120)")
        assert _in_viewport(page, chip)
        y0 = page.evaluate("window.scrollY")
        assert y0 > 0
        chip.click()
        page.wait_for_function(SHEET_SETTLED, timeout=30_000)
        view = page.locator("#article-view")
        assert view.evaluate("v => getComputedStyle(v).position") == "fixed"
        sheet = view.bounding_box()
        # Over the answer, from the bottom edge up, most of the screen, full width.
        assert abs(sheet["y"] + sheet["height"] - 844) <= 1 and sheet["x"] == 0
        assert sheet["width"] == 390 and 0 < sheet["y"] <= 844 * 0.25
        assert view.get_attribute("role") == "dialog"
        assert view.locator("mark.focus").inner_text() == ISLAND["text"].split("\n\n")[-1]
        back = view.get_by_role("button", name="Back to answer")
        assert back.is_visible()
        b = back.bounding_box()
        assert b["height"] >= 44 and b["y"] >= sheet["y"]
        # The answer behind is covered (a tap there lands on the backdrop, not the chat),
        # and the page has not moved.
        covered = page.evaluate(
            "() => { const e = document.elementFromPoint(195, 40);"
            " return !!e && !e.closest('#chat') && !e.closest('#article-view'); }"
        )
        assert covered
        assert page.evaluate("window.scrollY") == y0
        page.screenshot(path=str(SHOTS / "sheet-390.png"))
        back.click()
        page.wait_for_function("() => !document.body.classList.contains('cq-sheet')")
        assert view.evaluate("v => getComputedStyle(v).position") != "fixed"
        assert page.evaluate("window.scrollY") == y0  # where the reader was
        assert _in_viewport(page, chip)
        assert chip.evaluate("c => c === document.activeElement")  # focus back on the chip
        assert not back.is_visible()
        page.screenshot(path=str(SHOTS / "sheet-back-390.png"))
        # Escape closes it too.
        chip.click()
        page.wait_for_function(SHEET_SETTLED, timeout=30_000)
        page.keyboard.press("Escape")
        page.wait_for_function("() => !document.body.classList.contains('cq-sheet')")
        assert page.evaluate("window.scrollY") == y0
        assert not dialogs and not errors
        context.close()

    def test_at_desktop_width_the_viewer_is_unchanged(self, loaded, browser):
        context, page, _, errors = _open(browser, loaded)
        _ask(page, DEEP, 1)
        y0 = page.evaluate("window.scrollY")
        _chip(page).click()
        view = page.locator("#article-view")
        view.locator("mark.focus").wait_for(timeout=30_000)
        page.wait_for_timeout(600)  # past the moment the sheet would open
        assert not page.evaluate("document.body.classList.contains('cq-sheet')")
        assert view.evaluate("v => getComputedStyle(v).position") != "fixed"
        assert view.get_attribute("role") is None
        assert not view.get_by_role("button", name="Back to answer").is_visible()
        # Beside the chat, as before: the chat is still there to read and click.
        chat, side = page.locator("#chat").bounding_box(), view.bounding_box()
        assert side["x"] >= chat["x"] + chat["width"]
        assert page.evaluate("window.scrollY") == y0
        page.screenshot(path=str(SHOTS / "viewer-desktop-1280.png"))
        assert not errors
        context.close()
