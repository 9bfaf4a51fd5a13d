"""Issue 17, the page side: the first-run panel of an empty index, in Debian's Chromium against a
real `citeqa serve` (each test its own empty index: the panel goes once anything is indexed)."""

from __future__ import annotations

import pytest

from tests.ui.conftest import SHOTS, _open, _upload, citeqa_server, needs_chromium

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.fixture()
def empty_server(tmp_path):
    with citeqa_server(tmp_path / "index") as url:
        yield url


def _reopened_shows_no_panel(browser, url, title: str) -> bool:
    """A new page view of the same server: once the page has read the library again (it lists
    `title`, which the server's startup value did not), the panel is not shown."""
    context, page, _, _ = _open(browser, url)
    page.click("button[role=tab]:has-text('Library')")
    page.locator("#library").get_by_text(title).filter(visible=True).first.wait_for(timeout=30_000)
    hidden = not page.locator("#first-run").is_visible()
    context.close()
    return hidden


class TestFirstRun:
    def test_says_what_citeqa_does_and_tries_the_sample(self, empty_server, browser):
        context, page, dialogs, errors = _open(browser, empty_server)
        panel = page.locator("#first-run")
        panel.wait_for(timeout=30_000)
        assert "exact quote" in panel.inner_text() and "articles you add" in panel.inner_text()
        try_it = panel.get_by_role("button", name="Try the sample article")
        add = panel.get_by_role("button", name="Add your articles")
        assert "primary" in try_it.get_attribute("class")  # the main action
        assert "primary" not in add.get_attribute("class")
        a, b = try_it.bounding_box(), add.bounding_box()
        assert abs(a["y"] - b["y"]) < 4 and b["x"] > a["x"]  # side by side, sample first
        page.screenshot(path=str(SHOTS / "first-run-1280.png"), full_page=True)
        try_it.click()
        panel.wait_for(state="hidden", timeout=120_000)
        page.click("button[role=tab]:has-text('Library')")
        assert "Putin kyrgyzstan visit" in page.locator("#library").inner_text()
        assert _reopened_shows_no_panel(browser, empty_server, "Putin kyrgyzstan visit")
        assert not dialogs and not errors
        context.close()

    def test_add_your_articles_opens_the_library_and_an_upload_ends_it(
        self, empty_server, browser, tmp_path
    ):
        context, page, dialogs, errors = _open(browser, empty_server, width=390, height=844)
        panel = page.locator("#first-run")
        panel.wait_for(timeout=30_000)
        page.screenshot(path=str(SHOTS / "first-run-390.png"), full_page=True)
        panel.get_by_role("button", name="Add your articles").click()
        page.locator("#upload").wait_for(timeout=30_000)  # the Library tab is open
        article = tmp_path / "harbour-bridge.txt"
        article.write_text(
            "Harbour Bridge Reopens\n\nThe city of Norrvik reopened its harbour bridge on "
            "Monday after a two-year repair.\n",
            encoding="utf-8",
        )
        _upload(page, article, "added")
        panel.wait_for(state="hidden", timeout=30_000)
        assert _reopened_shows_no_panel(browser, empty_server, "Harbour Bridge Reopens")
        assert not dialogs and not errors
        context.close()
