"""The claim check on hand-made cases: what an answer says must be in what it cites, and the
question's names, places and numbers must be in the cited articles (not a look-alike story's).

Pure logic (no models): `AnswerChain.verify` is driven with a hand-made context and reply.
"""

from __future__ import annotations

import numpy as np
import pytest

from index.clean import clean_text
from qa.answer import AnswerChain, Found, Prompt, Query
from qa.confidence import (
    about_question,
    anchors,
    answer_kind,
    asked_kind,
    counted_noun,
    coverage,
    measure,
)
from qa.context import Context, NumberedSentence
from qa.extractive import extractive_llm
from qa.retrieve import Retrieval
from qa.settings import Settings
from qa.types import Article, Chunk, RetrievedChunk

TEXAS = Article(
    id="texas",
    title="Drought reveals dinosaur tracks in Texas riverbed",
    text=(
        "Dinosaur tracks were found in the dry bed of the Paluxy River in Texas.\n\n"
        "The tracks are about 113 million years old, park staff said."
    ),
)
SPAIN = Article(
    id="spain",
    title="Drought reveals ancient stone circle in Spain",
    text=(
        "A stone circle dating back 7,000 years emerged from a reservoir in Spain.\n\n"
        "Archaeologists call it the Spanish Stonehenge."
    ),
)
ARTICLES = {a.id: a for a in (TEXAS, SPAIN)}


def _context(*arts: Article) -> Context:
    sents, n = [], 0
    for a in arts:
        for para in a.text.split("\n\n"):
            n += 1
            start = a.text.index(para)
            sents.append(
                NumberedSentence(f"S{n}", a.id, a.title, start, start + len(para), para, 0.6)
            )
    return Context(tuple(sents), 60)


def _finish(question: str, reply: str, *arts: Article, **settings):
    cfg = Settings(backend="extractive", **settings)
    chain = AnswerChain(
        cfg,
        retriever=None,  # type: ignore[arg-type]  # verify() does not retrieve
        get_articles=lambda ids: {i: ARTICLES[i] for i in ids if i in ARTICLES},
        count_tokens=lambda s: len(s.split()),
        llm=extractive_llm(cfg),
    )
    chunk = Chunk(id="c", article_id=arts[0].id, index=0, start=0, end=1, text="x")
    retrieval = Retrieval(question, np.zeros(3), (RetrievedChunk(chunk, 1.0, 1, 1, 0.7),))
    found = Found(Query(question, k=5), question, None, retrieval)
    return chain.verify(Prompt(found, _context(*arts), ()), reply)


class TestAnchors:
    def test_names_and_numbers_not_question_words(self):
        assert anchors("What was found in a Texas riverbed?") == {"texas"}
        assert anchors("Why did Pashinyan skip the summit in 2023?") == {"pashin", "2023"}
        assert anchors("Which singer will play Las Vegas this year?") == {"las", "vegas"}
        assert anchors("What happened in March?") == set()  # months are left to the window
        assert anchors("what was found in a riverbed?") == set()

    @pytest.mark.parametrize(
        ("question", "text", "found"),
        [
            ("What was found in the Spanish tomb?", "A tomb near Seville, Spain, held it.", 1.0),
            ("What did the Dutch minister say?", "The Netherlands minister said no.", 1.0),
            ("Who won in France?", "The French team won.", 1.0),
            ("What was found in a Texas riverbed?", "A story set in Spain.", 0.0),
            ("What did the Spanish court rule?", "A French court ruled.", 0.0),
        ],
    )
    def test_a_nationality_finds_its_country(self, question, text, found):
        assert coverage(anchors(question), [text]) == found

    @pytest.mark.parametrize(
        ("question", "text", "found"),
        [
            ("What are NTSB investigators examining?",
             "The National Transportation Safety Board team examined a wheel bearing.", 1.0),
            ("What did the FDA approve?", "The Food and Drug Administration approved it.", 1.0),
            ("What did the FDA approve?", "The European Medicines Agency approved it.", 0.0),
            ("What did the NTSB find?", "The National Guard and Safety Board met.", 0.0),
        ],
    )  # fmt: skip
    def test_an_acronym_finds_the_name_it_abbreviates(self, question, text, found):
        assert coverage(anchors(question), [text]) == found

    @pytest.mark.parametrize(
        ("text", "found"),
        [
            ("ST. PAUL, Minnesota, July 18 — Health officials reported 40 cases.", 1.0),
            ("Officials in New Mexico reported 40 cases.", 1.0),
            ("Officials in Ontario reported 40 cases.", 0.0),
            ("Officials in Mexico reported 40 cases.", 0.0),
        ],
    )
    def test_us_is_found_in_a_story_from_any_us_state(self, text, found):
        question = "Which US state's health officials reported an outbreak this week?"
        assert coverage(anchors(question), [text]) == found


class TestClaimCheck:
    def test_entity_from_another_story_is_refused(self):
        # Spain's stone circle offered as the answer to a question about Texas.
        reply = "A stone circle dating back 7,000 years was found [S3]."
        q = "What was found in a Texas riverbed during the drought?"
        loose = _finish(q, reply, TEXAS, SPAIN, min_anchor_coverage=0.0)
        assert not loose.abstained and loose.signals["anchor_coverage"] == 0.0
        strict = _finish(q, reply, TEXAS, SPAIN, min_anchor_coverage=1.0)
        assert strict.abstained and strict.citations == ()

    def test_the_right_story_passes(self):
        reply = "Dinosaur tracks were found in the dry bed of the Paluxy River [S1]."
        q = "What was found in a Texas riverbed during the drought?"
        ans = _finish(q, reply, TEXAS, SPAIN, min_anchor_coverage=1.0)
        assert not ans.abstained and ans.signals["anchor_coverage"] == 1.0
        assert [c.article_id for c in ans.citations] == ["texas"]

    def test_place_mismatch(self):
        reply = "Archaeologists call it the Spanish Stonehenge [S4]."
        ans = _finish(
            "What do Texas archaeologists call it?", reply, SPAIN, min_anchor_coverage=1.0
        )
        assert ans.abstained

    def test_date_or_number_in_the_question_must_be_in_the_cited_article(self):
        reply = "The tracks are about 113 million years old [S2]."
        q = "How old were the tracks found in Texas in 2019?"
        ans = _finish(q, reply, TEXAS, min_anchor_coverage=1.0)
        assert ans.abstained and ans.signals["anchor_coverage"] == 0.5

    def test_number_not_in_the_quote_is_unsupported(self):
        ans = _finish(
            "How old are the tracks?", "The tracks are 200 million years old [S2].", TEXAS
        )
        assert ans.abstained and ans.sentences[0].support == 0.0

    def test_headline_names_count_for_the_article(self):
        # "Paluxy" is only in the text, "riverbed" only in the headline: both are the article's.
        s = measure(
            "Which Texas riverbed showed dinosaur tracks?",
            _finish("Which Texas riverbed?", "The Paluxy River [S1].", TEXAS).sentences,
            ARTICLES,
            sentence_scores={},
            retrieval_similarity=0.5,
        )
        assert s.anchor_coverage == 1.0 and s.question_coverage > 0.5

    def test_paraphrase_is_accepted(self):
        art = Article(
            id="texas", title="T", text="The vaccine is approved for children under five."
        )
        ARTICLES_LOCAL = {"texas": art}
        chain_ctx = Context(
            (NumberedSentence("S1", "texas", "T", 0, len(art.text), art.text, 0.7),), 12
        )
        from qa.cite import parse_reply, verify

        out = verify(
            parse_reply("It is approved for children younger than 5 [S1]."),
            chain_ctx,
            ARTICLES_LOCAL,
            min_support=0.5,
            max_sentences=4,
        )
        assert out[0].supported and out[0].support == pytest.approx(0.75)


HOARD = Article(
    id="hoard",
    title="Drought exposes Roman coin hoard in Spain",
    text=(
        "A hoard of about 3,500 Roman bronze coins was found in a dried-out reservoir in Spain."
        "\n\nThe bridge cost $126 million and took three years to build."
    ),
)
TRACKS = Article(
    id="tracks",
    title="Dinosaur footprints emerge from Texas river",
    text=(
        "About 140 dinosaur footprints were exposed in the Corrales River in Texas.\n\n"
        "Park staff counted the tracks over nine days, and more than 20 volunteers helped."
    ),
)


def _kind(question: str, reply: str, *arts: Article, **settings):
    ARTICLES.update({a.id: a for a in arts})
    try:
        return _finish(question, reply, *arts, **settings)
    finally:
        for a in arts:
            ARTICLES.pop(a.id, None)


class TestAnswerKind:
    @pytest.mark.parametrize(
        ("question", "kind"),
        [
            ("How many shows will she play?", "number"),
            ("What was Norstar Micro's fourth-quarter revenue?", "number"),
            ("How long is the Cordell Bridge?", "measure"),
            ("When was the BRICS summit?", "time"),
            ("In what year did the mine close?", "time"),
            ("Who will fill in for Lena Frost?", "name"),
            ("Which engineering firm designed the bridge?", "name"),
            ("What is the name of Kazakhstan's leader?", "name"),
            ("Why did Pashinyan skip the summit?", None),
            ("What was found in the riverbed?", None),
            ("How fast was the freight train traveling?", "speed"),
            ("In which Kyrgyz city was the summit held?", "name"),
            ("At what speed was the train going?", "speed"),
            ("Which tournament will Ines Moravec play first?", "name"),  # a named event
            ("Which painkillers should patients avoid?", None),  # drugs are not capitalised
            # an adjective that is also a kind noun ("state inspectors") asks for no name
            ("What damage did state inspectors find on the tank?", None),
        ],
    )
    def test_what_the_question_asks_for(self, question, kind):
        assert asked_kind(question) == kind

    @pytest.mark.parametrize(
        ("question", "answer", "quotes", "ok"),
        [
            ("How long is the bridge?", "It is a six-lane cable-stayed span.", [], 0.0),
            ("How long is the bridge?", "It is 1.2 miles long.", [], 1.0),
            ("How long did the strike last?", "It lasted nine days.", [], 1.0),
            ("When did the strike begin?", "It began on Jan. 18.", [], 1.0),
            ("How long will the advisory last?", "It will last until at least Friday.", [], 1.0),
            ("How far did the Nikkei index fall?", "It closed down 1.8 percent.", [], 1.0),
            ("How long has he driven for Lakeline?", "He has driven for it since 2001.", [], 1.0),
            (  # a date the answer mentions is no span of time
                "How long did Putin stay in Kyrgyzstan?",
                "He came for the first time since the court issued a warrant in March.",
                [],
                0.0,
            ),
            ("When did the strike begin?", "Teachers walked out over pay.", [], 0.0),
            (  # a time still to come dates no past event
                "When did the FDA approve the spray?",
                "The FDA approved the spray later this year.",
                [],
                0.0,
            ),
            ("When did it announce the closure?", "On Monday; it closes next month.", [], 1.0),
            ("When will the FDA decide?", "The FDA will decide later this year.", [], 1.0),
            ("What was the company's revenue?", "It reported a smaller loss.", [], 0.0),
            ("How many countries backed Russia?", "None of them did.", [], 1.0),
            (
                "Which engineering firm designed the Hawthorne Bridge?",
                "The Hawthorne Bridge was designed by engineers.",
                ["Engineers designed the Hawthorne Bridge."],
                0.0,
            ),
            (  # a name its quotes do not hold is the model's own
                "What was the name of the woman buried there?",
                "She was named Ines Carvajal.",
                ["The diadem was found on the woman's skull."],
                0.0,
            ),
            (  # the count of another thing in the same sentence
                "How many firefighters were assigned to the fire?",
                "4,000 firefighters were assigned.",
                [
                    "About 4,000 residents remained under evacuation orders, and more than 1,100 "
                    "firefighters were assigned to the blaze."
                ],
                0.0,
            ),
            (
                "How many firefighters were assigned to the fire?",
                "More than 1,100 firefighters were assigned.",
                [
                    "About 4,000 residents remained under evacuation orders, and more than 1,100 "
                    "firefighters were assigned to the blaze."
                ],
                1.0,
            ),
            (  # a word news uses for the asked one, and a hyphenated count
                "How many new planes does the airline expect?",
                "It expects 19 planes.",
                ["It now expects to receive 19 aircraft this year."],
                1.0,
            ),
            (
                "How many shows will she play?",
                "She will play 16 shows.",
                ["She will play a 16-show residency."],
                1.0,
            ),
            (  # the counted noun is "rescues", not its modifier "water"
                "How many water rescues did crews carry out?",
                "About 300 homes had water inside.",
                ["Mayor Daniel Ybarra said about 300 homes had water inside."],
                0.0,
            ),
            (  # an amount of money asked, a duration given
                "How much extra did the soft riverbed add to the bridge's cost?",
                "The soft riverbed added nearly 9 months to the cost.",
                ["The soft riverbed added about $11 million and nearly nine months."],
                0.0,
            ),
            (
                "How much extra did the soft riverbed add to the bridge's cost?",
                "It added about 11 million.",
                ["The soft riverbed added about $11 million and nearly nine months."],
                1.0,
            ),
            (  # a share of a pay packet is a raise
                "What raise did the teachers win?",
                "A 6.5 percent raise.",
                ["Teachers won a 6.5 percent raise over two years."],
                1.0,
            ),
            (  # an age counts no years of anything
                "How many years of market exclusivity does Noravex have?",
                "Noravex has 12 years of market exclusivity.",
                ["Pellham, a 12-year-old company with about 900 employees, makes Noravex."],
                0.0,
            ),
            (
                "How many years of market exclusivity does Noravex have?",
                "Noravex has 12 years of market exclusivity.",
                ["Noravex gets 12 years of market exclusivity in Europe."],
                1.0,
            ),
            (  # a bare figure is not judged
                "What was Norstar's revenue?",
                "Revenue was 8.1 billion.",
                ["Norstar reported revenue of 8.1 billion."],
                1.0,
            ),
            (  # the question's kind of company is not what the quote says it is
                "Which software company announced job cuts this week?",
                "Greystone Goods announced job cuts this week.",
                ["Greystone Goods, the home-goods chain, said it would cut 2,300 jobs."],
                0.0,
            ),
            (
                "Which software company announced job cuts this week?",
                "Corvant Systems announced job cuts this week.",
                ["Corvant Systems, a software maker, said it would cut about 640 jobs."],
                1.0,
            ),
            (  # a name in the qualifier is the anchor checks' business, not this one's
                "Which US state reported a measles outbreak?",
                "Minnesota reported it.",
                ["ST. PAUL, Minnesota — Health officials reported 40 cases."],
                1.0,
            ),
            (  # the country the question names is not the city it asks for
                "In which Kyrgyz city was the CIS summit held?",
                "Kyrgyzstan",
                [
                    "Putin arrived in Kyrgyzstan for a summit of the Commonwealth of "
                    "Independent States."
                ],
                0.0,
            ),
            (  # the clock time of the crash is not the train's speed
                "How fast was the freight train traveling when it derailed?",
                "The freight train was traveling at approximately 10:40 p.m.",
                ["The train derailed at about 10:40 p.m. on Monday."],
                0.0,
            ),
            (
                "How fast was the commuter train going?",
                "It was going 41 mph.",
                ["The train was traveling at 41 mph, investigators said."],
                1.0,
            ),
            (
                "How fast has the outbreak grown?",
                "Cases have risen 12 percent a week.",
                ["Cases have risen about 12 percent a week since June."],
                1.0,
            ),
            (
                "How much did the Willow Crossing cost to build?",
                "The bridge was built with 18 months of work.",
                ["The bridge was built with 18 months of work."],
                0.0,
            ),
            (  # "none of the countries" counts countries, not citizens
                "How many Central Asian citizens are working in Russia?",
                "None of the Central Asian countries supported Russia in a UN vote.",
                ["None of the Central Asian countries supported Russia in a UN vote."],
                0.0,
            ),
            (
                "How many students were hurt in the fire?",
                "None of the students were hurt.",
                ["None of the students were hurt, the principal said."],
                1.0,
            ),
        ],
    )
    def test_the_answer_gives_the_kind_asked(self, question, answer, quotes, ok):
        assert answer_kind(question, answer, quotes) == ok

    def test_the_kind_of_firm_may_be_written_elsewhere_in_its_article(self):
        q = "Which engineering firm designed the Hawthorne Bridge?"
        quotes = ["The Hawthorne Bridge was designed by Calder & Finch."]
        article = "Calder & Finch, an engineering firm based in Boise, also designed two dams."
        assert answer_kind(q, "Calder & Finch designed it.", quotes, [article]) == 1.0
        # Nothing the answer cites says Calder & Finch is an engineering firm.
        other = "Calder & Finch, a Boise law firm, handled the land purchase."
        assert answer_kind(q, "Calder & Finch designed it.", quotes, [other]) == 0.0
        assert answer_kind(q, "Calder & Finch designed it.", quotes) == 0.0

    @pytest.mark.parametrize(
        ("question", "answer", "article", "ok"),
        [
            (  # the story is on the interim chief; the question asks for the permanent one
                "Who did the school board hire as its permanent superintendent?",
                "Ana Ruiz.",
                "The board named Ana Ruiz interim superintendent on Monday.",
                0.0,
            ),
            (
                "Who did the school board hire as its interim superintendent?",
                "Ana Ruiz.",
                "The board named Ana Ruiz interim superintendent on Monday.",
                1.0,
            ),
            (  # another quarter's revenue; hyphen or not, it is the same quarter
                "What was BrightMart's second-quarter revenue?",
                "$8.1 billion.",
                "BrightMart reported first-quarter revenue of $8.1 billion.",
                0.0,
            ),
            (
                "What was BrightMart's second quarter revenue?",
                "$8.4 billion.",
                "BrightMart's second-quarter revenue was $8.4 billion.",
                1.0,
            ),
            (  # a word the question uses plainly is not a contrast
                "Which body will make the final decision on the spray?",
                "The European Commission.",
                "The European Commission will decide on the spray next year.",
                1.0,
            ),
        ],
    )
    def test_the_question_s_contrast_word_is_in_an_article_cited(
        self, question, answer, article, ok
    ):
        assert answer_kind(question, answer, [article], [article]) == ok

    @pytest.mark.parametrize(
        ("question", "answer", "about"),
        [
            (  # a sentence about something else
                "Who will fill in for Lena Frost at the Crown Opal while she recovers?",
                "Pinnacle Entertainment Group will refund fans who cannot attend the new dates.",
                False,
            ),
            (
                "Who will fill in for Lena Frost at the Crown Opal while she recovers?",
                "Dana Reyes will fill in for Frost during her recovery.",
                True,
            ),
            ("What rating did forecasters give the Hollis tornado?", "EF-3", True),  # short
            ("How fast has the outbreak grown?", "Cases have risen 12 percent a week.", True),
            (  # a phrase answering "at which"
                "At which meet will Okonjo open her season?",
                "At the Palmero Relays on April 13, on the track at Palmero State University.",
                True,
            ),
        ],
    )
    def test_an_answer_restates_something_of_the_question(self, question, answer, about):
        assert about_question(question, answer) is about

    def test_a_quote_stating_the_opposite_is_no_answer(self):
        # The article writes "first-quarter" elsewhere; the quote the answer cites gives
        # another quarter's figure.
        q = "What was BrightMart's first-quarter revenue?"
        article = "BrightMart will report first-quarter results in May. It had a strong winter."
        quote = "BrightMart said fourth-quarter revenue rose 6 percent to $8.4 billion."
        assert answer_kind(q, "$8.4 billion.", [quote], [article, quote]) == 0.0
        both = "First-quarter revenue of $8.1 billion beat the fourth-quarter figure."
        assert answer_kind(q, "$8.1 billion.", [both], [article, both]) == 1.0

    @pytest.mark.parametrize(
        ("question", "noun"),
        [
            ("How many water rescues did crews carry out?", "rescues"),
            ("How many people get their water from the reservoir?", "people"),
            ("How many US adults have the condition?", "adults"),
            ("How many seats does the venue have?", "seats"),
            ("How many of Westfield's days are lost?", "days"),  # a possessive is skipped
            ("What was found?", None),
        ],
    )
    def test_the_noun_a_count_is_of(self, question, noun):
        assert counted_noun(question) == noun

    def test_a_count_of_another_thing_is_withheld(self):
        # The hoard's coins offered as the count of footprints: same drought, other story.
        q = "How many dinosaur footprints were found in the reservoir in Spain?"
        reply = "About 3,500 dinosaur footprints were found [S1]."
        loose = _kind(q, reply, HOARD, kind_gate=False)
        assert not loose.abstained and loose.signals["answer_kind"] == 0.0
        assert _kind(q, reply, HOARD).abstained

    def test_the_right_count_passes(self):
        q = "How many dinosaur footprints were exposed in the Texas river?"
        ans = _kind(q, "About 140 dinosaur footprints were exposed [S1].", TRACKS)
        assert not ans.abstained and ans.signals["answer_kind"] == 1.0


class TestFigurePlaced:
    Q = "How much did Greystone set aside for severance pay?"

    def test_a_figure_stated_of_another_thing_is_withheld(self):
        quotes = [
            "Greystone said it was in talks with lenders to extend a $300 million credit line."
        ]
        assert answer_kind(self.Q, "Greystone set aside $300 million.", quotes) == 0.0

    def test_a_figure_stated_of_the_thing_asked_passes(self):
        quotes = ["Greystone said it had set aside $40 million for severance and benefits."]
        assert answer_kind(self.Q, "It set aside $40 million.", quotes) == 1.0

    def test_a_figure_no_quote_writes_is_left_to_the_support_check(self):
        quotes = ["Greystone said severance would be paid over two years."]
        assert answer_kind(self.Q, "It set aside $40 million.", quotes) == 1.0


class TestAnswerSource:
    def test_the_figure_must_come_from_the_asked_story(self):
        # The question's "Texas" is in the tracks story, the coin count in the Spanish one:
        # together the two cited articles cover the question, the one with the figure does not.
        q = "How many Roman coins were found in the Texas riverbed?"
        reply = "About 3,500 Roman bronze coins were found in the Corrales River in Texas [S1][S3]."
        loose = _kind(q, reply, HOARD, TRACKS, min_anchor_coverage=0.0)
        assert not loose.abstained
        assert loose.signals["anchor_coverage"] == 1.0
        assert loose.signals["answer_source"] == 0.5
        assert _kind(q, reply, HOARD, TRACKS).abstained

    def test_a_year_is_left_to_the_time_gate(self):
        q = "How many footprints were exposed in Texas in 2024?"
        ans = _kind(q, "About 140 dinosaur footprints were exposed [S1].", TRACKS)
        assert ans.signals["answer_source"] == 1.0


class TestCaptionsAreNotEvidence:
    def test_captions_and_credits_never_reach_the_index(self):
        raw = (
            "Dinosaur tracks were found in the Paluxy River in Texas.\n\n"
            "Park staff inspect the tracks on Tuesday. Jane Doe/Harbour Herald/Getty Images\n\n"
            "James Devaney/FilmMagic/Getty Images\n\n"
            "Related: Drought reveals stone circle in Spain\n\n"
            "Sign up for our Morning Brief newsletter.\n\n"
            "The tracks are about 113 million years old."
        )
        text = clean_text(raw).text
        assert text == (
            "Dinosaur tracks were found in the Paluxy River in Texas.\n\n"
            "The tracks are about 113 million years old."
        )


class TestAnchorFocus:
    """The context is drawn from the articles holding all the question's names and numbers."""

    @staticmethod
    def _chain(**settings) -> AnswerChain:
        cfg = Settings(backend="extractive", **settings)
        return AnswerChain(
            cfg,
            retriever=None,  # type: ignore[arg-type]  # focus() does not retrieve
            get_articles=lambda ids: {i: ARTICLES[i] for i in ids if i in ARTICLES},
            count_tokens=lambda s: len(s.split()),
            llm=extractive_llm(cfg),
        )

    @staticmethod
    def _retrieved(*arts: Article) -> list[RetrievedChunk]:
        return [
            RetrievedChunk(
                Chunk(id=f"c{n}", article_id=a.id, index=0, start=0, end=1, text="x"),
                1.0 - n / 10,
                n,
                n,
                0.6,
            )
            for n, a in enumerate(arts)
        ]

    def test_a_look_alike_story_is_left_out(self):
        chunks = self._retrieved(SPAIN, TEXAS, SPAIN)
        kept = self._chain().focus("What was found in a Texas riverbed?", chunks)
        assert [rc.chunk.article_id for rc in kept] == ["texas"]

    def test_all_kept_when_no_article_holds_every_anchor(self):
        chunks = self._retrieved(SPAIN, TEXAS)
        q = "What was found in the Texas reservoir near Seville?"
        assert self._chain().focus(q, chunks) == chunks

    def test_all_kept_when_the_question_names_nothing_or_focus_is_off(self):
        chunks = self._retrieved(SPAIN, TEXAS)
        assert self._chain().focus("What was found in a riverbed?", chunks) == chunks
        off = self._chain(anchor_focus=False)
        assert off.focus("What was found in a Texas riverbed?", chunks) == chunks

    def test_a_year_does_not_decide(self):
        # Neither text says 2024 (a story's year is in its date): Texas still decides.
        chunks = self._retrieved(SPAIN, TEXAS)
        kept = self._chain().focus("What was found in a Texas riverbed in 2024?", chunks)
        assert [rc.chunk.article_id for rc in kept] == ["texas"]


class TestPublishedYear:
    def test_a_year_asked_is_found_in_the_articles_date(self):
        # "first quarter of 2024" asked of a May 2024 story that never writes "2024".
        dated = Article(
            id="q1",
            title="BrightMart profit tops forecasts",
            text="Revenue rose 4 percent to $8.1 billion in the quarter.",
            published_at=1716249600.0,
        )  # 2024-05-21
        undated = Article(id="q1u", title=dated.title, text=dated.text)
        q = "What was BrightMart's revenue in its first quarter of 2024?"
        reply = "BrightMart's revenue was $8.1 billion [S1]."
        assert _kind(q, reply, dated).signals["anchor_coverage"] == 1.0
        assert _kind(q, reply, undated).signals["anchor_coverage"] == 0.5
