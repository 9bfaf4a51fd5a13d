"""The chat page in a real browser (Debian's Chromium via Playwright) against a real server."""

import json

import pytest

from tests.ui.conftest import ANSWER_TIMEOUT, CHROMIUM, SHOTS, _ask, _open, _upload

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
    ),
]


class TestChatPage:
    def test_sample_question_citation_opens_highlighted_span(self, server, browser):
        context, page, dialogs, errors = _open(browser, server)
        page.click("#load-sample")  # the empty index offers the bundled sample
        page.wait_for_selector("#load-sample", state="hidden")
        _ask(page, "Why did Pashinyan skip the summit?", 1)
        chip = page.locator("#chat .cite-chip").first
        assert chip.is_visible()
        quote = page.locator("#chat .card-quote:has(.cq-0-1) q").inner_text()
        page.screenshot(path=str(SHOTS / "answered-1280.png"), full_page=True)
        chip.click()
        focus = page.locator("#article-view mark.focus")
        focus.wait_for(timeout=30_000)
        assert focus.inner_text() == quote
        # The answer rests on the Pashinyan passage (not necessarily as its first citation).
        quotes = page.locator("#chat .source-card q").all_inner_texts()
        assert any("Pashinyan" in q or "Armenian" in q for q in quotes), quotes
        page.wait_for_timeout(500)
        page.screenshot(path=str(SHOTS / "citation-opened-1280.png"), full_page=True)
        assert not dialogs and not errors
        context.close()

    def test_upload_then_ask_about_it(self, server, browser, tmp_path):
        article = tmp_path / "harbour-bridge.txt"
        article.write_text(
            "Harbour Bridge Reopens\n\nThe city of Norrvik reopened its harbour bridge on Monday "
            "after a two-year repair that cost 48 million euros. Mayor Elin Strand said the "
            "bridge would carry trams again from June.\n",
            encoding="utf-8",
        )
        context, page, dialogs, errors = _open(browser, server)
        _upload(page, article, "added")
        _ask(page, "How much did the Norrvik bridge repair cost?", 1)
        page.locator("#chat .cite-chip").first.click()
        page.locator("#article-view mark.focus").wait_for(timeout=30_000)
        assert "48 million euros" in page.locator("#article-view mark.focus").inner_text()
        assert "Harbour Bridge Reopens" in page.locator("#article-view h2").inner_text()
        assert not dialogs and not errors
        context.close()

    def test_hostile_article_renders_as_text(self, server, browser, tmp_path):
        evil = tmp_path / "evil.jsonl"
        evil.write_text(json.dumps({
            "id": "evil", "title": "<script>alert('title')</script>",
            "url": "javascript:alert('url')",
            "text": "Ordinary words. <img src=x onerror=alert('img')> "
                    "<script>alert('text')</script> "
                    "<a href=\"javascript:alert('link')\">click</a> More words.",
        }), encoding="utf-8")  # fmt: skip
        context, page, dialogs, errors = _open(browser, server)
        _upload(page, evil, "evil")
        page.locator("#library").get_by_text("evil", exact=True).filter(
            visible=True
        ).first.wait_for()
        page.click("#library-pick input")
        page.get_by_role("option", name="evil", exact=True).click()
        page.click("#view-article")
        view = page.locator("#article-view")
        view.get_by_text("<img src=x onerror=alert('img')>", exact=False).wait_for(timeout=30_000)
        assert "<script>alert('title')</script>" in view.locator("h2").inner_text()
        assert view.locator("img, script, a[href^='javascript']").count() == 0
        page.wait_for_timeout(1000)
        assert dialogs == [] and not errors
        context.close()

    def test_sessions_keep_separate_histories(self, server, browser):
        ctx_a, page_a, _, _ = _open(browser, server)
        ctx_b, page_b, _, _ = _open(browser, server, width=390, height=844)
        _ask(page_a, "Who is Putin due to meet in Kyrgyzstan?", 1)
        _ask(page_b, "How many countries have ratified the Rome Statute?", 1)
        page_b.screenshot(path=str(SHOTS / "answered-phone.png"), full_page=True)
        text_a = page_a.locator("#chat").inner_text()
        text_b = page_b.locator("#chat").inner_text()
        assert "Rome Statute" not in text_a and "Kyrgyzstan" in text_a
        assert "meet in Kyrgyzstan" not in text_b and "Rome Statute" in text_b
        ctx_a.close()
        ctx_b.close()


class TestInstantFeedback:
    """Issue 17's bugs 1, 3 and 4 in the browser (the first test also loads the sample)."""

    def _ready(self, browser, server):
        context, page, dialogs, errors = _open(browser, server)
        if page.locator("#load-sample").is_visible():
            page.click("#load-sample")
            page.wait_for_selector("#load-sample", state="hidden")
        return context, page, dialogs, errors

    def test_the_question_shows_at_once(self, server, browser):
        context, page, dialogs, errors = self._ready(browser, server)
        question = "Who is Putin due to meet in Kyrgyzstan?"
        page.fill("#question textarea", question)
        page.press("#question textarea", "Enter")
        # The first moment the question is on the page, the answer is still a placeholder: the
        # page sent it before retrieval and generation, not with the first word (~3-4 s later).
        state = page.wait_for_function(
            """q => { const chat = document.querySelector('#chat');
                      if (!chat || !chat.innerText.includes(q)) return false;
                      return { answered: !!chat.querySelector('.cite-chip, .abstain') }; }""",
            arg=question,
            timeout=ANSWER_TIMEOUT,
        ).json_value()
        assert state == {"answered": False}
        page.screenshot(path=str(SHOTS / "waiting-1280.png"), full_page=True)
        page.wait_for_function(
            "() => !!document.querySelector('#chat .cite-chip, #chat .abstain')",
            timeout=ANSWER_TIMEOUT,
        )
        assert not dialogs and not errors
        context.close()

    def test_a_bad_date_is_an_inline_notice_and_the_page_stays_usable(self, server, browser):
        context, page, _, errors = self._ready(browser, server)
        page.click("button[role=tab]:has-text('Settings')")
        page.fill("#before textarea", "14/03/2024")
        page.fill("#question textarea", "Who is Putin due to meet?")
        page.click("#ask")
        notice = page.locator("#notice [role=alert]")
        notice.wait_for(timeout=30_000)
        assert "14/03/2024" in notice.inner_text()
        page.screenshot(path=str(SHOTS / "error-inline-1280.png"), full_page=True)
        # No overlay: the question keeps its text and the Ask button still answers.
        assert page.locator(".toast-body, .toast-wrap .error").count() == 0
        assert page.input_value("#question textarea") == "Who is Putin due to meet?"
        page.fill("#before textarea", "")
        page.click("#ask")
        page.wait_for_function(
            "() => !!document.querySelector('#chat .cite-chip, #chat .abstain')",
            timeout=ANSWER_TIMEOUT,
        )
        assert not errors
        context.close()

    def test_clear_then_a_follow_up_is_not_rewritten(self, server, browser):
        context, page, _, errors = self._ready(browser, server)
        _ask(page, "Who is Putin due to meet in Kyrgyzstan?", 1)
        page.locator("#chat button[aria-label*='lear' i]").first.click()
        page.wait_for_function("() => !document.querySelector('#chat .cite-chip')")
        _ask(page, "When did he arrive there?", 1)
        # A rewritten follow-up would show "Searched for: …" above the sources.
        assert page.locator("#sources .searched").count() == 0
        assert not errors
        context.close()
