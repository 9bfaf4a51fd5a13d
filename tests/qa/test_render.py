from qa.render import REREADING, answer_html, article_html, draft_html, live_text
from qa.types import Answer, AnswerSentence, Article, Citation, Source

EVIL = Article(
    id="e<1>",
    title="<script>alert(1)</script>",
    text="Safe start. <img src=x onerror=alert(2)> middle.\n\nEnd <b>bold</b>.",
    url="javascript:alert(3)",
)


class TestRender:
    def test_article_is_escaped_and_js_urls_are_not_links(self):
        page = article_html(EVIL)
        assert "<script>" not in page and "<img" not in page and "<b>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert 'href="javascript' not in page

    def test_focus_and_other_spans_highlighted(self):
        text = EVIL.text
        s1 = text.index("Safe start.")
        s2 = text.index("End")
        focus = Citation(EVIL.id, EVIL.title, s1, s1 + len("Safe start."), "Safe start.")
        other = Citation(EVIL.id, EVIL.title, s2, len(text), text[s2:])
        page = article_html(EVIL, focus, [focus, other])
        assert '<mark class="focus" id="citeqa-focus">Safe start.</mark>' in page
        assert '<mark class="cited">End &lt;b&gt;bold&lt;/b&gt;.</mark>' in page

    def test_answer_chips_and_abstention(self):
        c = Citation("a", "T", 0, 5, "Hello")
        ans = Answer("q", "Hi.", (AnswerSentence("Hi <there>.", (c,)),), abstained=False)
        html = answer_html(ans, turn=3)
        assert "cite-chip cq-3-1" in html and "Hi &lt;there&gt;." in html
        gone = Answer("q", "The articles don't say.", (), abstained=True)
        assert "abstain" in answer_html(gone, 0)

    def test_markdown_lists_each_closest_article_once(self):
        def chunk(article: str, n: int) -> Source:
            return Source(article, article.upper(), f"{article}{n}", 0, 10, 1.0, "text")

        sources = (chunk("a", 1), chunk("a", 2), chunk("b", 1), chunk("a", 3), chunk("c", 1))
        gone = Answer("q", "The articles don't say.", (), abstained=True, sources=sources)
        closest = gone.to_markdown().split("Closest sources:\n")[1].splitlines()
        assert closest == ["- A (a)", "- B (b)", "- C (c)"]

    def test_live_text_hides_ids(self):
        assert live_text("Putin arrived [S1]. He met [S") == "Putin arrived. He met"
        assert live_text("NOT_IN_SO") == "…"
        for prefix in ("N", "NO", "NOT", "NOT_"):  # "NOT" flashed before an abstention
            assert live_text(prefix) == "…"
        assert live_text("Nobody") == "Nobody"
        assert live_text("Not_in_SOURCES") == "…"  # the parser's abstention in any case
        assert live_text("Notably, he left [S1]") == "Notably, he left"


class TestDraftHtml:
    def test_a_checked_draft_is_shown_greyed_with_the_stage(self):
        said = (
            AnswerSentence("Putin went to <Kyrgyzstan>."),
            AnswerSentence("Dropped.", (), False),
        )
        shown = draft_html(Answer("Where?", "Putin went to <Kyrgyzstan>.", said, False))
        assert shown.startswith('<div class="answer draft">Putin went to &lt;Kyrgyzstan&gt;.</div>')
        assert "Dropped." not in shown and REREADING in shown

    def test_a_withheld_reply_read_again_shows_the_stage_only(self):
        said = (AnswerSentence("Moscow sent its foreign minister.", (), False),)
        shown = draft_html(Answer("Who?", "The articles don't say.", said, True))
        assert shown == f"<p class=stage role=status>{REREADING}</p>"
