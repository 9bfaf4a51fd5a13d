"""Issue 17, the page side, in Debian's Chromium against a real `citeqa serve`: answer cards
and the source viewer.

The server answers with the extractive backend: its answers come from the embedder's scores
alone, so which sentences a question cites is the same on every run, and no LLM is loaded.
"""

from __future__ import annotations

import json

import pytest

from tests.ui.conftest import (
    ANSWER_TIMEOUT,
    SHOTS,
    _ask,
    _open,
    citeqa_server,
    ingest_with_cli,
    needs_chromium,
)

pytestmark = [pytest.mark.slow, needs_chromium]

BRIDGE = {
    "id": "norrvik-bridge",
    "title": "Harbour Bridge Reopens",
    "source": "Norrvik Post",
    "published_at": "2024-03-11",
    "url": "https://example.com/norrvik-bridge",
    "text": "The city of Norrvik reopened its harbour bridge on Monday after a two-year repair "
    "that cost 48 million euros. Mayor Elin Strand said the bridge would carry trams again from "
    "June.\n\nThe repair replaced the bridge's steel deck and its two lifting spans. Engineers "
    "found corrosion in the deck in 2021, when the bridge was closed to traffic.\n\nThe bridge "
    "carried about 30,000 vehicles a day before it closed. The city says the tram line over the "
    "bridge will run every eight minutes.\n\nStrand said the repair cost 48 million euros, four "
    "million more than planned, because steel prices rose in 2022.\n\nLocal shops near the "
    "bridge said trade fell by a third while it was closed.",
}
FERRY = {
    "id": "norrvik-ferry",
    "title": "Ferry Line Ends Service",
    "source": "Citeqa Wire",
    "published_at": "2024-03-12",
    "text": "NORRVIK, March 12, 2024 (Citeqa Wire) - The temporary ferry that replaced the "
    "Norrvik harbour bridge during its repair made its last crossing on Tuesday. The ferry "
    "carried 1.2 million passengers in two years, the operator said.\n\nThe operator said its "
    "two boats would move to a route on the east coast.",
}
_ISLAND = [
    ("the island school", "added a second classroom for its eleven pupils"),
    ("the fishing cooperative", "bought a refrigerated van for the morning catch"),
    ("the weather station", "recorded its windiest night since records began"),
    ("the chapel choir", "sang at the mainland festival for the first time"),
    ("the bird survey", "counted more puffins than in any year before"),
    ("the post boat", "moved its crossing from Tuesdays to Wednesdays"),
    ("the knitting circle", "sold shawls to visitors from three countries"),
    ("the council", "voted to repaint the harbour office in blue"),
    ("the library van", "brought two hundred new books in the spring"),
    ("the football team", "lost every away match but won all its home games"),
    ("the bakery", "started selling rye bread on Saturdays"),
    ("the sheep farmers", "sheared their flocks a week later than usual"),
]
# A long article whose one cited sentence is its last: opening it must scroll the viewer.
ISLAND = {
    "id": "skarv-island",
    "title": "Forty Years on Skarv Island",
    "source": "Skarv Gazette",
    "published_at": "2024-02-02",
    "text": "\n\n".join(
        [
            f"In {1990 + i}, {who} on Skarv Island {what}. Islanders still talk about it at the "
            "harbour cafe, where the photographs of that year hang by the door."
            for i, (who, what) in enumerate(_ISLAND * 2)
        ]
        + [
            "The lighthouse keeper, Ansgar Holm, retired in 2023 after forty-one years of "
            "keeping the Skarv Island light."
        ]
    ),
}
# Cites both Norrvik articles (two cards); cites two sentences of the bridge story (two
# highlights); cites the island story's last sentence.
BOTH = "What happened to the Norrvik bridge and the ferry?"
TWO_SPANS = "What did Strand say the repair cost and when would trams run?"
DEEP = "How long was Ansgar Holm the Skarv Island lighthouse keeper?"
# No article names Tallinn: declined, and the page says which check declined it.
UNANSWERED = "When did the Tallinn bridge reopen?"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """A server on an index of BRIDGE, FERRY and ISLAND (ingested with the CLI), answering with
    the extractive backend."""
    data = tmp_path_factory.mktemp("answer-page")
    index = ingest_with_cli(data, (BRIDGE, FERRY, ISLAND), "norrvik.jsonl")
    with citeqa_server(index, env={"CITEQA_BACKEND": "extractive"}) as url:
        yield url


def _last_answer(page):
    return page.locator("#chat .bot, #chat [data-testid='bot']").last


def _people_text(answer) -> str:
    """What a reader sees of an answer: its text without the collapsed details block."""
    return answer.evaluate(
        """el => { const c = el.cloneNode(true);
                   c.querySelectorAll('details').forEach(d => d.remove());
                   return c.textContent; }"""
    )


class TestAnswerCards:
    def test_cards_name_title_outlet_date_and_quote(self, loaded, browser):
        context, page, dialogs, errors = _open(browser, loaded)
        _ask(page, BOTH, 1)
        answer = _last_answer(page)
        cards = answer.locator(".source-card")
        assert cards.count() == 2
        bridge, ferry = cards.nth(0), cards.nth(1)
        assert bridge.locator(".card-title").inner_text() == "Harbour Bridge Reopens"
        assert bridge.locator(".card-meta").inner_text() == "Norrvik Post · March 11, 2024"
        assert ferry.locator(".card-meta").inner_text() == "Citeqa Wire · March 12, 2024"
        quote = bridge.locator("q").first.inner_text()
        assert quote in BRIDGE["text"] and "48 million euros" in quote
        # The extractive backend's answers carry a calibrated confidence: said as a percentage.
        assert answer.locator(".confidence").inner_text().startswith("Confidence: ")
        assert "%" in answer.locator(".confidence").inner_text()
        page.screenshot(path=str(SHOTS / "answer-cards-1280.png"), full_page=True)
        assert not dialogs and not errors
        context.close()

    def test_a_declined_answer_says_why(self, loaded, browser):
        context, page, _, errors = _open(browser, loaded)
        _ask(page, UNANSWERED, 1)
        answer = _last_answer(page)
        assert answer.locator(".abstain").count() == 1, answer.inner_text()
        why = answer.locator(".why").inner_text()
        assert why == 'Why: The articles the draft cited do not mention "Tallinn".'
        assert not errors
        context.close()

    def test_card_chips_are_44px_and_open_the_quoted_span(self, loaded, browser):
        context, page, _, errors = _open(browser, loaded, width=390, height=844)
        _ask(page, BOTH, 1)
        chips = _last_answer(page).locator(".source-card .cite-chip")
        assert chips.count() == 2
        for i in range(2):
            box = chips.nth(i).bounding_box()
            assert box["width"] >= 44 and box["height"] >= 44, box
        ferry_quote = _last_answer(page).locator(".source-card").nth(1).locator("q").inner_text()
        chips.nth(1).click()
        focus = page.locator("#article-view mark.focus")
        focus.wait_for(timeout=30_000)
        assert focus.inner_text() == ferry_quote
        assert not errors
        context.close()

    def test_no_ids_or_offsets_for_people_but_in_details(self, loaded, browser):
        context, page, _, errors = _open(browser, loaded)
        _ask(page, BOTH, 1)
        answer = _last_answer(page)
        shown = _people_text(answer)
        for technical in ("norrvik-bridge", "norrvik-ferry", "chars ", '"start"'):
            assert technical not in shown, technical
        # The detached quote list (with ids and offsets) is no longer on the page.
        assert not page.locator("#citations").is_visible()
        # The Sources panel names passages by title; ids and offsets are in its details too.
        page.click("button[role=tab]:has-text('Sources')")
        sources = page.locator("#sources")
        assert "Harbour Bridge Reopens" in sources.inner_text()
        assert "norrvik-bridge" not in _people_text(sources)
        # The details block, opened, holds each quote's article id and character offsets.
        answer.locator("details.answer-details summary").click()
        details = json.loads(answer.locator("details.answer-details pre").inner_text())
        first = details["citations"][0]
        article = {a["id"]: a for a in (BRIDGE, FERRY)}[first["article_id"]]
        assert article["text"][first["start"] : first["end"]] == first["quote"]
        assert 0 < details["confidence"] <= 1
        assert [s["support"] for s in details["sentences"]] and not errors
        context.close()


# True once the smooth scroll has settled with `#citeqa-focus` wholly inside the viewer, below
# its header, and the header's title inside the viewer too (not scrolled off).
SETTLED = """() => {
  const box = document.querySelector('#article-view .citeqa-article');
  const mark = document.getElementById('citeqa-focus');
  if (!box || !mark) return false;
  const b = box.getBoundingClientRect(), m = mark.getBoundingClientRect();
  const head = (box.querySelector('.article-head') || box.querySelector('h2'))
    .getBoundingClientRect();
  const title = box.querySelector('h2').getBoundingClientRect();
  const inView = (r) => r.top >= 0 && r.bottom <= window.innerHeight;
  return title.top >= b.top - 1 && m.top >= head.bottom - 1 && m.bottom <= b.bottom + 1
    && inView(m) && inView(title);
}"""


class TestSourceViewer:
    def test_header_stays_and_only_the_viewer_scrolls(self, loaded, browser):
        context, page, _, errors = _open(browser, loaded)
        _ask(page, DEEP, 1)
        page_y = page.evaluate("window.scrollY")
        _last_answer(page).locator(".card-chip").first.click()
        page.wait_for_function(SETTLED, timeout=30_000)
        view = page.locator("#article-view")
        assert view.locator("mark.focus").inner_text() == ISLAND["text"].split("\n\n")[-1]
        assert view.locator(".citeqa-article").evaluate("b => b.scrollTop") > 0
        assert page.evaluate("window.scrollY") == page_y  # the page did not move
        head = view.locator(".article-head")
        assert head.locator("h2").inner_text() == "Forty Years on Skarv Island"
        assert head.locator(".meta").inner_text() == "Skarv Gazette · February 2, 2024"
        assert "skarv-island" not in head.inner_text()
        page.screenshot(path=str(SHOTS / "viewer-deep-1280.png"))
        assert not errors
        context.close()

    def test_on_a_phone_the_viewer_comes_into_view_with_its_header(self, loaded, browser):
        context, page, _, errors = _open(browser, loaded, width=390, height=844)
        _ask(page, DEEP, 1)
        _last_answer(page).locator(".card-chip").first.click()
        page.wait_for_function(SETTLED, timeout=30_000)
        page.screenshot(path=str(SHOTS / "viewer-deep-390.png"))
        assert not errors
        context.close()

    def test_highlight_n_of_m_steps_between_the_cited_spans(self, loaded, browser):
        context, page, _, errors = _open(browser, loaded)
        _ask(page, TWO_SPANS, 1)
        card = _last_answer(page).locator(".source-card")
        assert card.count() == 1  # both quotes are from the bridge story
        quotes = card.locator("q").all_inner_texts()
        assert len(quotes) == 2
        # Open the second quote: it is the second highlight of the two, in the text's order.
        order = sorted(quotes, key=BRIDGE["text"].index)
        card.locator(".card-chip").nth(1).click()
        view = page.locator("#article-view")
        nav = view.locator(".hl-nav")
        nav.wait_for(timeout=30_000)
        n = order.index(quotes[1]) + 1
        assert nav.locator(".hl-pos").inner_text() == f"Highlight {n} of 2"
        assert view.locator("mark.focus").inner_text() == quotes[1]
        # Step to the other one and back; the highlighted text is the quote each time.
        other = "hl-prev" if n == 2 else "hl-next"
        back = "hl-next" if n == 2 else "hl-prev"
        assert nav.locator(f".{back}").is_disabled()
        nav.locator(f".{other}").click()
        assert nav.locator(".hl-pos").inner_text() == f"Highlight {3 - n} of 2"
        assert view.locator("mark.focus").inner_text() == quotes[0]
        assert view.locator("mark.focus").count() == 1 and view.locator("mark.cited").count() == 1
        assert nav.locator(f".{other}").is_disabled()
        page.screenshot(path=str(SHOTS / "viewer-n-of-m-1280.png"))
        nav.locator(f".{back}").click()
        assert view.locator("mark.focus").inner_text() == quotes[1]
        assert not errors
        context.close()


def _ask_filtered(page, question: str, n_replies: int) -> None:
    """Ask, and wait until the n-th reply is final: cards, an abstention, a no-match note or an
    error.
    (Counted by data-testid alone: `.bot` is a second element for the same message.)"""
    page.fill("#question textarea", question)
    page.click("#ask")
    page.wait_for_function(
        """n => { const bots = document.querySelectorAll('#chat [data-testid="bot"]');
                  if (bots.length < n) return false;
                  const last = bots[bots.length - 1];
                  return !!last.querySelector('.cite-chip, .abstain, .no-match, .answer-error');
                }""",
        arg=n_replies,
        timeout=ANSWER_TIMEOUT,
    )


HELD = (
    "Sources in the index: Citeqa Wire (1), Norrvik Post (1), Skarv Gazette (1). "
    "Published February 2, 2024 to March 12, 2024."
)


class TestFiltersMatchingNothing:
    def test_a_source_no_article_has_is_named_with_what_there_is(self, loaded, browser):
        context, page, _, errors = _open(browser, loaded)
        page.click("button[role=tab]:has-text('Settings')")
        page.get_by_label("Only these sources (comma-separated)").fill("Harbour Times")
        _ask_filtered(page, BOTH, 1)
        said = _last_answer(page).locator(".no-match")
        assert said.count() == 1, _last_answer(page).inner_text()
        text = said.inner_text()
        assert 'No article matches the filters (source "Harbour Times")' in text
        assert HELD in text
        # The Sources panel says the same (it is not left empty), and the question is back in
        # the box to ask again once the filter is changed.
        page.click("button[role=tab]:has-text('Sources')")
        assert HELD in page.locator("#sources").inner_text()
        assert page.input_value("#question textarea") == BOTH
        assert not errors
        context.close()

    def test_a_date_range_with_no_articles_then_cleared_answers(self, loaded, browser):
        context, page, _, errors = _open(browser, loaded)
        page.click("button[role=tab]:has-text('Settings')")
        page.locator("#after textarea").fill("2030-01-01")
        _ask_filtered(page, BOTH, 1)
        text = _last_answer(page).locator(".no-match").inner_text()
        assert "No article matches the filters (published on or after 2030-01-01)" in text
        assert HELD in text
        page.screenshot(path=str(SHOTS / "filter-no-match-1280.png"), full_page=True)
        page.locator("#after textarea").fill("")
        _ask_filtered(page, BOTH, 2)
        assert _last_answer(page).locator(".source-card").count() == 2
        assert not errors
        context.close()
