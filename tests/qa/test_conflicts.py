"""The conflicting-reports detector on hand-made pairs, and in a real answer (real embedder,
real Chroma, the extractive backend)."""

from __future__ import annotations

from qa.cite import make_citation
from qa.conflicts import conflict_sentence, counted, find_conflicts
from qa.types import Article


def _art(aid: str, source: str, *sentences: str, title: str = "Tornado hits Hollis") -> Article:
    return Article(id=aid, title=title, text=" ".join(sentences), source=source)


def _detect(a: Article, b: Article, quote_a: str, quote_b: str):
    ca = make_citation(a, a.text.index(quote_a), a.text.index(quote_a) + len(quote_a))
    sb = b.text.index(quote_b)
    shown = [(b.id, sb, sb + len(quote_b), quote_b)]
    return find_conflicts([ca], shown, {a.id: a, b.id: b})


WIRE = "The tornado killed 17 people in Hollis, Kansas, on Tuesday, officials said."
PAPER = "The tornado killed at least 23 people in Hollis, Kansas, on Tuesday."


class TestCounted:
    def test_figures_and_what_they_count(self):
        assert counted(WIRE) == {"people": ("17", "people")}
        assert counted("It destroyed 1,200 homes and 3 schools.")["home"] == ("1200", "homes")
        assert counted("Since 2019 the town has grown.") == {}  # a year is no count
        assert counted("It lasted 9 days.") == {}  # durations are not what reports dispute
        assert counted("About 17 million people live there.") == {
            "people": ("17 million", "people")
        }
        # a sum with no noun after it: not matched to whatever word comes next
        assert counted("It posted a net loss of $140 million, compared with a profit.") == {}


class TestFindConflicts:
    def test_two_outlets_with_different_tolls_conflict(self):
        a = _art("wire", "Citeqa Wire", WIRE)
        b = _art("paper", "Prairie Ledger", "Rescuers worked through the night.", PAPER)
        (cf,) = _detect(a, b, WIRE, PAPER)
        assert cf.figures == ("17", "23") and cf.thing == "people"
        assert b.text[cf.second.start : cf.second.end] == cf.second.quote == PAPER
        assert conflict_sentence(cf, {"wire": a, "paper": b}) == (
            "Reports differ: Citeqa Wire gives 17 people, Prairie Ledger 23."
        )

    def test_a_look_alike_story_elsewhere_is_no_conflict(self):
        a = _art("wire", "Citeqa Wire", WIRE)
        other = "The tornado killed 23 people in Calder Springs, Texas, on Tuesday."
        b = _art("texas", "Mesa Daily Star", other, title="Tornado hits Calder Springs")
        assert _detect(a, b, WIRE, other) == []

    def test_same_figure_other_thing_or_same_article_is_no_conflict(self):
        a = _art("wire", "Citeqa Wire", WIRE)
        same = "The tornado killed 17 people in Hollis, Kansas, on Tuesday."
        assert _detect(a, _art("p", "Prairie Ledger", same), WIRE, same) == []
        homes = "The tornado destroyed 23 homes in Hollis, Kansas, on Tuesday."
        assert _detect(a, _art("p", "Prairie Ledger", homes), WIRE, homes) == []
        both = _art("both", "Citeqa Wire", WIRE, PAPER)
        c = make_citation(both, 0, len(WIRE))
        shown = [("both", len(WIRE) + 1, len(both.text), PAPER)]
        assert find_conflicts([c], shown, {"both": both}) == []  # one outlet correcting itself


class TestInAnAnswer:
    def test_the_answer_says_reports_differ_and_cites_both(self, make_assistant):
        a = make_assistant(backend="extractive")
        a.add(
            [
                _art("wire", "Citeqa Wire", WIRE, "Hollis is a town of about 2,400 people."),
                _art("paper", "Prairie Ledger", PAPER, "Crews searched the rubble all night.",
                     title="Hollis counts its dead"),
                _art("texas", "Mesa Daily Star",
                     "A hailstorm damaged 300 roofs in Calder Springs, Texas, on Monday.",
                     title="Hail in Calder Springs"),
            ]
        )  # fmt: skip
        answer = a.ask("How many people did the tornado kill in Hollis?")
        assert not answer.abstained
        assert "Reports differ:" in answer.text
        ids = {c.article_id for c in answer.citations}
        assert {"wire", "paper"} <= ids and "texas" not in ids
        for c in answer.citations:
            art = a.get_article(c.article_id)
            assert art.text[c.start : c.end] == c.quote

    def test_a_name_told_two_ways_is_said_in_the_answer(self, make_assistant):
        a = make_assistant(backend="extractive")
        other = "Police identified the gunman as Daniel Reese, a 24-year-old from Hollis."
        a.add(
            [
                _art("wire", "Citeqa Wire", SUSPECT, "Two people were hurt at the Hollis mall.",
                     title="Hollis mall shooting"),
                _art("paper", "Prairie Ledger", other, "The mall in Hollis reopened on Friday.",
                     title="Gunman named after Hollis mall shooting"),
            ]
        )  # fmt: skip
        answer = a.ask("Who did police identify as the gunman in the Hollis mall shooting?")
        assert not answer.abstained
        assert "Reports differ:" in answer.text and "Daniel Re" in answer.text
        assert {c.article_id for c in answer.citations} == {"wire", "paper"}
        for c in answer.citations:
            assert a.get_article(c.article_id).text[c.start : c.end] == c.quote


class TestNotConflicts:
    def test_dates_names_and_one_outlets_update_are_not_conflicts(self):
        first = "WESTFIELD, Minnesota, Jan. 10 (Prairie Ledger) - Teachers closed 31 schools."
        later = "WESTFIELD, Minnesota, Jan. 19 (Prairie Ledger) - Teachers ended the strike."
        assert counted(first) == {"school": ("31", "schools")}  # not "10 prairie"
        a = _art("wire", "Citeqa Wire", WIRE)
        a2 = _art("wire2", "Citeqa Wire", PAPER)  # the same outlet, a later toll
        assert _detect(a, a2, WIRE, PAPER) == []
        assert counted(later) == {}


SUSPECT = "Police identified the gunman as Daniel Reyes, a 24-year-old from Hollis."
STRUCK = "The tornado struck Hollis, Kansas, on Tuesday evening, officials said."


class TestNamesAndDates:
    """One name or one date told two ways by two outlets about the same story."""

    def test_a_name_reported_two_ways_conflicts(self):
        a = _art("wire", "Citeqa Wire", SUSPECT)
        other = "Police identified the gunman as Daniel Reese, a 24-year-old from Hollis."
        b = _art("paper", "Prairie Ledger", "Crews searched all night.", other)
        (cf,) = _detect(a, b, SUSPECT, other)
        assert cf.kind == "name" and cf.figures == ("Daniel Reyes", "Daniel Reese")
        assert b.text[cf.second.start : cf.second.end] == other
        assert conflict_sentence(cf, {"wire": a, "paper": b}) == (
            "Reports differ: Citeqa Wire says Daniel Reyes, Prairie Ledger Daniel Reese."
        )

    def test_a_weekday_or_a_day_of_the_month_reported_two_ways_conflicts(self):
        a = _art("wire", "Citeqa Wire", STRUCK)
        other = "The tornado struck Hollis, Kansas, on Monday evening, police said."
        (cf,) = _detect(a, _art("paper", "Prairie Ledger", other), STRUCK, other)
        assert cf.kind == "date" and cf.figures == ("Tuesday", "Monday")
        june = "The tornado struck Hollis, Kansas, on June 3, officials said."
        june4 = "The tornado struck Hollis, Kansas, on June 4, officials said."
        (cf,) = _detect(
            _art("wire", "Citeqa Wire", june), _art("p", "Prairie Ledger", june4), june, june4
        )
        assert cf.kind == "date" and cf.figures == ("June 3", "June 4")

    def test_identical_facts_and_reworded_sentences_are_not_conflicts(self):
        a = _art("wire", "Citeqa Wire", SUSPECT)
        same = "Police identified the gunman as Daniel Reyes, a 24-year-old from Hollis."
        assert _detect(a, _art("p", "Prairie Ledger", same), SUSPECT, same) == []
        reworded = "Officers identified the gunman as Daniel Reyes, a man from Hollis."
        assert _detect(a, _art("p", "Prairie Ledger", reworded), SUSPECT, reworded) == []

    def test_two_people_in_one_article_are_not_a_disagreement(self):
        a = _art("wire", "Citeqa Wire", SUSPECT)
        other = "Police identified the gunman as Daniel Reese, a 24-year-old from Hollis."
        both = _art("p", "Prairie Ledger", other, "His cousin Daniel Reyes was also held.")
        assert _detect(a, both, SUSPECT, other) == []

    def test_a_look_alike_story_elsewhere_is_not_a_disagreement(self):
        a = _art("wire", "Citeqa Wire", SUSPECT)
        other = "Police identified the gunman as Mark Ortiz, a 24-year-old from Calder Springs."
        b = _art("tx", "Mesa Daily Star", other, title="Shooting in Calder Springs")
        assert _detect(a, b, SUSPECT, other) == []

    def test_when_another_fact_differs_too_nothing_is_said(self):
        a = _art("wire", "Citeqa Wire", STRUCK)
        other = "The tornado struck Hollis, Kansas, on Monday evening, Mayor Ann Cole said."
        assert _detect(a, _art("p", "Prairie Ledger", other), STRUCK, other) == []

    def test_a_sentence_opening_with_another_word_is_not_a_name(self):
        a = _art("wire", "Citeqa Wire", "Rescuers said the tornado struck Hollis on Tuesday.")
        other = "Witnesses said the tornado struck Hollis on Tuesday."
        b = _art("p", "Prairie Ledger", other)
        assert _detect(a, b, a.text, other) == []
