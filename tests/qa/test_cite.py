import pytest

from qa.cite import (
    ABSTAIN_TOKEN,
    also_stating,
    content_words,
    locate_quote,
    make_citation,
    money_figures,
    parse_reply,
    recite_within,
    support,
    verify,
)
from qa.context import Context, NumberedSentence
from qa.errors import CitationError
from qa.types import Article

TEXT = (
    "Putin arrived in Kyrgyzstan on Thursday.\n\n"
    "The Rome Statute has been ratified by 123 countries.\n\n"
    "Pashinyan has criticised Moscow for not intervening."
)
ART = Article(id="a", title="T", text=TEXT)


def _ctx() -> Context:
    sents = []
    for n, s in enumerate(TEXT.split("\n\n"), 1):
        start = TEXT.index(s)
        sents.append(NumberedSentence(f"S{n}", "a", "T", start, start + len(s), s, 1.0))
    return Context(tuple(sents), 30)


def _verified(
    reply: str,
    ctx: Context | None = None,
    arts: dict[str, Article] | None = None,
    question: str = "",
):
    """The reply verified as the tests' chain would: min support 0.5, at most 3 sentences."""
    ctx = _ctx() if ctx is None else ctx
    arts = {"a": ART} if arts is None else arts
    return verify(parse_reply(reply), ctx, arts, min_support=0.5,
                  max_sentences=3, question=question)  # fmt: skip


class TestParseReply:
    def test_ids_after_each_sentence(self):
        r = parse_reply("Putin arrived Thursday [S1]. He met leaders [S1][S3]. Extra words")
        assert [s.text for s in r.sentences] == [
            "Putin arrived Thursday.",
            "He met leaders.",
            "Extra words",
        ]
        assert [s.refs for s in r.sentences] == [("S1",), ("S1", "S3"), ()]

    def test_variant_markers(self):
        r = parse_reply("One. [S1, S2] Two (S3).")
        assert [s.refs for s in r.sentences] == [("S1", "S2"), ("S3",)]

    def test_abstain(self):
        assert parse_reply(ABSTAIN_TOKEN).abstained
        assert parse_reply("  ").abstained
        assert not parse_reply("Yes [S1].").abstained

    @pytest.mark.parametrize(
        "tail", ["Not_in_SOURCES [S3]", "Not_in_sources. [S4]", "NOT_IN_SOURCES"]
    )
    def test_abstain_token_after_an_answer_is_no_sentence(self, tail):
        """Held to two sentences, the model says it has no more this way: the answer stands."""
        r = parse_reply(f"Putin arrived Thursday. [S1] {tail}")
        assert not r.abstained
        assert [(s.text, s.refs) for s in r.sentences] == [("Putin arrived Thursday.", ("S1",))]

    def test_abstain_token_in_other_case_alone_is_an_abstention(self):
        assert parse_reply("Not_in_sources [S2]").abstained

    def test_free_quotes(self):
        r = parse_reply('It was ratified widely ["ratified by 123 countries"].')
        assert r.sentences[0].quotes == ("ratified by 123 countries",)


class TestLocateQuote:
    def test_exact_and_normalised(self):
        text = "He said “no way”,\n  and  left."
        assert locate_quote(text, "and  left.") == (text.index("and"), len(text))
        start, end = locate_quote(text, 'said "no way", and left')
        assert text[start:end] == "said “no way”,\n  and  left"

    def test_missing(self):
        assert locate_quote(TEXT, "Putin ate plov in Bishkek") is None
        assert locate_quote(TEXT, "   ") is None

    def test_unicode_offsets(self):
        text = "Ça va — “très” bien. Next."
        start, end = locate_quote(text, '"très" bien.')
        assert text[start:end] == "“très” bien."


class TestVerify:
    def test_valid_citations_are_exact(self):
        out = verify(
            parse_reply("Pashinyan criticised Moscow for not intervening [S3]."),
            _ctx(),
            {"a": ART},
            min_support=0.5,
            max_sentences=3,
        )
        assert out[0].supported
        c = out[0].citations[0]
        assert (
            TEXT[c.start : c.end]
            == c.quote
            == "Pashinyan has criticised Moscow for not intervening."
        )

    def test_unknown_id_rejected(self):
        out = _verified("Something [S9].")
        assert not out[0].supported and out[0].citations == ()

    def test_unsupported_claim_dropped(self):
        reply = "Sadyr Japarov is the Kyrgyz president [S2]. 124 countries ratified it [S2]."
        out = _verified(reply)
        assert [s.supported for s in out] == [False, False]

    def test_free_quote_mapped_to_raw_offsets(self):
        out = verify(
            parse_reply('Ratified by 123 countries ["ratified by 123   countries"].'),
            _ctx(),
            {"a": ART},
            min_support=0.5,
            max_sentences=3,
        )
        c = out[0].citations[0]
        assert TEXT[c.start : c.end] == c.quote == "ratified by 123 countries"

    def test_of_two_quotes_stating_the_same_the_first_cited_stays(self):
        text = "Teachers in Westfield went on strike.\n\nWestfield teachers ended their strike."
        art = Article(id="w", title="T", text=text)
        parts = text.split("\n\n")
        ctx = Context(
            tuple(
                NumberedSentence(f"S{n}", "w", "T", text.index(p), text.index(p) + len(p), p, 1.0)
                for n, p in enumerate(parts, 1)
            ),
            20,
        )
        for refs, kept in (("[S1][S2]", "S1"), ("[S2][S1]", "S2")):
            out = _verified(f"Westfield teachers {refs}.", ctx, {"w": art})
            assert out[0].supported and [c.ref for c in out[0].citations] == [kept]

    def test_mismatch_raises(self):
        with pytest.raises(CitationError):
            make_citation(ART, 0, len(TEXT) + 5)


class TestSupport:
    def test_numbers_must_match(self):
        assert support("ratified by 124 countries", [TEXT]) == 0.0
        assert support("ratified by 123 countries", [TEXT]) == 1.0

    def test_number_words_count_as_digits(self):
        assert (
            support("Putin visited 5 countries", ["Putin visited all five regional countries"])
            == 1.0
        )

    def test_judged_on_what_it_adds_to_the_question(self):
        q = "What hourly pay are Brenton's striking drivers asking for?"
        given = frozenset(content_words(q))
        quote = ["They earn an average of $22 an hour and are seeking $27, the union said."]
        answer = "The hourly pay Brenton's striking drivers are asking for is $27."
        assert support(answer, quote) < 0.5  # the restated question counts against it
        assert support(answer, quote, given) == 1.0
        # What it adds must still be in the quote: the question's words are not evidence.
        assert support("Brenton's striking drivers want better healthcare.", quote, given) == 0.0
        assert support("Brenton's striking drivers are asking for $30.", quote, given) == 0.0

    def test_forms_of_a_word(self):
        given = frozenset(content_words("How long did the strike last?"))
        quote = ["The nine-day strike ended on Friday."]
        assert support("The strike lasted nine days.", quote, given) == 1.0

    def test_a_sentence_that_only_restates_the_question_is_judged_whole(self):
        q = "Why did the drivers strike?"
        given = frozenset(content_words(q))
        assert support("The drivers did strike.", ["Parents drove kids."], given) == 0.0


class TestRepair:
    def test_neighbouring_sentence_is_added_when_the_cited_one_lacks_the_claim(self):
        reply = "The Rome Statute was ratified by 123 countries [S1]."
        out = _verified(reply)
        assert out[0].supported
        # S2 (which states it) is added; S1, the model's own pick, states none of the claim's
        # words and is pruned, so the answer cites only what supports it.
        assert [c.ref for c in out[0].citations] == ["S2"]
        for c in out[0].citations:
            assert TEXT[c.start : c.end] == c.quote

    def test_invented_claim_is_not_repaired(self):
        reply = "Putin ate plov with Japarov in Bishkek [S1]."
        out = _verified(reply)
        assert not out[0].supported

    def test_a_quote_that_only_names_the_answer_is_not_added(self):
        # The question's frame is in S2, "Kyrgyzstan" only in S1, which says nothing about
        # ratifying: no single quote states the answer, so it is not supported.
        q = "Which country ratified the Rome Statute last?"
        reply = "Kyrgyzstan ratified the Rome Statute last [S2]."
        out = _verified(reply, question=q)
        assert not out[0].supported
        # Without the question the whole sentence is judged, and S1 + S2 cover its words.
        loose = _verified(reply)
        assert loose[0].supported


OFFER = (
    "Piedmont Aqua opened a water site on Main Street.\n\n"
    "It also said every customer would see a $25 credit on their next bill.\n\n"
    "Kyrgyzstan sent a $25 credit to every customer.\n\n"
    "Residents were frustrated."
)


def _numbered(art: Article) -> list[NumberedSentence]:
    """The article's paragraphs (one sentence each) numbered S1, S2, … as the context shows them."""
    out = []
    for n, s in enumerate(art.text.split("\n\n"), 1):
        start = art.text.index(s)
        out.append(NumberedSentence(f"S{n}", art.id, art.title, start, start + len(s), s, 1.0))
    return out


def _offer_ctx() -> tuple[Context, dict[str, Article]]:
    art = Article(id="p", title="Boil water", text=OFFER)
    return Context(tuple(_numbered(art)), 40), {"p": art}


class TestRepairReadsBack:
    Q = "What compensation did Piedmont Aqua offer its customers?"

    def test_a_quote_pointing_back_may_bear_on_any_word_of_the_question(self):
        # The model cited a sentence that states none of the claim. S2 states it but names
        # its subject only as "It" (Piedmont Aqua, named in S1); it is on the customers the
        # question asks about, so the repair may add it.
        ctx, arts = _offer_ctx()
        reply = "Piedmont Aqua offered a $25 credit on their next bill [S4]."
        out = _verified(reply, ctx, arts, self.Q)
        assert out[0].supported
        assert [c.ref for c in out[0].citations] == ["S2"]

    def test_a_quote_that_names_its_own_subject_is_judged_alone(self):
        # S3 holds the figure but is about another subject, and does not point back.
        ctx, arts = _offer_ctx()
        only = Context(tuple(s for s in ctx.sentences if s.ref in ("S3", "S4")), 20)
        reply = "Piedmont Aqua offered a $25 credit [S4]."
        out = _verified(reply, only, arts, self.Q)
        assert not out[0].supported

    def test_a_quote_pointing_back_must_still_hold_a_word_of_the_question(self):
        # "Its ruling ... does not include Kyrgyzstan" points back, but at nothing asked.
        text = (
            "Putin is wanted over the deportation of Ukrainian children.\n\n"
            "Its ruling requires members of the ICC, which does not include Kyrgyzstan, "
            "to arrest him."
        )
        art = Article(id="k", title="Putin", text=text)
        sents = _numbered(art)
        q = "Which country proposed the UN resolution on Ukraine?"
        reply = "Kyrgyzstan proposed the UN resolution on Ukraine [S1]."
        out = verify(parse_reply(reply), Context(tuple(sents), 30), {"k": art}, min_support=0.5,
                     max_sentences=3, question=q)  # fmt: skip
        assert not out[0].supported

    def test_a_quote_pointing_back_bears_on_the_names_of_the_sentence_before(self):
        # "It lies in …" names the Dead Sea in the sentence before; the model cited three
        # other sentences on the Dead Sea. The repair may add it, not a sentence pointing back
        # after one that names something else.
        text = (
            "The Dead Sea is a salt lake 430 metres below sea level.\n\n"
            "The Dead Sea is 50 kilometres long.\n\n"
            "It lies in the Jordan Rift Valley, and its main tributary is the Jordan River.\n\n"
            "The Sea of Galilee is a freshwater lake.\n\n"
            "It lies in the Jordan Rift Valley too, fed by the upper Jordan River."
        )
        art = Article(id="d", title="Dead Sea", text=text)
        sents = _numbered(art)
        q = "Where is the Dead Sea located in the world?"
        reply = "The Dead Sea is located in the Jordan Rift Valley, fed by the Jordan River. [S1]"
        out = _verified(reply, Context(tuple(sents), 60), {"d": art}, q)
        assert out[0].supported
        assert "S3" in [c.ref for c in out[0].citations]
        assert "S5" not in [c.ref for c in out[0].citations]
        without = Context(tuple(s for s in sents if s.ref != "S3"), 60)
        assert not _verified(reply, without, {"d": art}, q)[0].supported


RESTATED = (
    "Seasonality is a pattern that recurs every calendar year.\n\n"
    "The weather was mild on Tuesday.\n\n"
    "A seasonal pattern recurs every year, and it is called seasonality.\n\n"
    "Forecasters use averages of past seasons."
)


def _restated_ctx() -> tuple[Context, dict[str, Article]]:
    art = Article(id="w", title="Seasonality", text=RESTATED)
    sents = _numbered(art)
    other = Article(id="x", title="Other", text="Seasonality recurs every calendar year.")
    sents.append(NumberedSentence("S5", "x", "Other", 0, len(other.text), other.text, 1.0))
    return Context(tuple(sents), 60), {"w": art, "x": other}


class TestAlsoCite:
    Q = "What is seasonality?"
    REPLY = "Seasonality is a pattern that recurs every year [S1]."

    def _verified(self):
        ctx, arts = _restated_ctx()
        (sentence,) = verify(parse_reply(self.REPLY), ctx, arts, min_support=0.5,
                             max_sentences=3, question=self.Q)  # fmt: skip
        return sentence, ctx, arts

    def test_every_sentence_of_the_cited_article_that_states_it_is_cited(self):
        s, ctx, arts = self._verified()
        assert s.supported and [c.ref for c in s.citations] == ["S1"]
        more = also_stating(s.text, s.citations, ctx, arts, min_support=0.5, question=self.Q,
                            most=2)  # fmt: skip
        # S3 restates the claim; S2 (weather) and S4 (averages) do not; S5 is another article.
        assert [c.ref for c in more] == ["S3"]
        for c in more:
            assert arts[c.article_id].text[c.start : c.end] == c.quote

    def test_bounded(self):
        s, ctx, arts = self._verified()
        assert also_stating(s.text, s.citations, ctx, arts, min_support=0.5, question=self.Q,
                            most=0) == []  # fmt: skip

    def test_a_claim_no_other_sentence_states_gets_nothing(self):
        s, ctx, arts = self._verified()
        fire = "Seasonality was invented in Paris in 1850."
        assert also_stating(fire, s.citations, ctx, arts, min_support=0.5, question=self.Q,
                            most=2) == []  # fmt: skip


class TestInventedQuotes:
    def test_quoted_words_must_be_in_the_source(self):
        src = [
            'Moscow has likened the prospect to an act of war, casting the warrant as "illegal".'
        ]
        assert support('Moscow called the warrant "illegal".', src) > 0.5
        assert support("Moscow called the warrant “illegal”.", src) > 0.5
        assert support('Moscow called the warrant "a disgrace".', src) == 0.0

    def test_a_quotation_may_end_where_the_answer_ends(self):
        # The article goes on after the remark ('…will start," he added.'); the answer closes
        # it with a period. The words are the article's.
        src = ['"If I come, a political show will start," he added.']
        assert support('Putin said "If I come, a political show will start."', src) > 0.5
        assert support('Putin said "If I come, a circus will start."', src) == 0.0

    def test_a_quotation_is_cited_where_it_is_written(self):
        # The model cites the sentence that introduces the remark, not the one holding it.
        text = (
            "Putin said this month, commenting on his absence from Johannesburg.\n\n"
            '"If I come, a political show will start," he added.\n\n'
            "Moscow rejects the allegations."
        )
        art = Article(id="q", title="Putin", text=text)
        reply = (
            "Putin said, commenting on his absence from Johannesburg, "
            '"If I come, a political show will start." [S1]'
        )
        q = "How did Putin explain his absence from the summit?"
        out = _verified(reply, Context(tuple(_numbered(art)), 30), {"q": art}, q)
        assert out[0].supported
        assert [c.ref for c in out[0].citations] == ["S1", "S2"]
        assert all(art.text[c.start : c.end] == c.quote for c in out[0].citations)

    def test_the_questions_own_words_in_quotation_marks_name_what_was_asked(self):
        # A CLAP NQ answer put the asked phrase in quotation marks; the source writes "the
        # term itself". Those words are the question's, not a remark put in the source's mouth.
        src = [
            "The origin of the term itself has been largely attributed to American author "
            "Stephen Crane, who added the phrase in 1896 to his short novel."
        ]
        q = frozenset(content_words("where did the expression getting cold feet come from"))
        answer = (
            'The origin of the term "getting cold feet" has been attributed to Stephen Crane, '
            "who added the phrase in 1896."
        )
        assert support(answer, src, q) > 0.5
        assert support(answer.replace("getting cold feet", "losing your nerve"), src, q) == 0.0


class TestMoneyFigures:
    def test_a_figure_given_as_money_must_be_money_in_its_quotes(self):
        acres = ["The Ridgeback Fire has burned 12,400 acres and destroyed about 60 homes."]
        assert support("The damage from the fire cost $12,400.", acres) == 0.0
        dollars = ["The fire caused $12,400 in damage to the park."]
        assert support("The damage from the fire cost $12,400.", dollars) > 0.5
        assert support("It cost 3 million dollars.", ["It cost $3 million."]) > 0.5

    def test_money_figures(self):
        assert money_figures("$1,200 and 3 million dollars, but 12,400 acres") == {"1200", "3"}


class TestRunOnReplies:
    def test_lead_in_ids_belong_to_the_claim_after_them(self):
        r = parse_reply("According to [S1][S2] Putin arrived in Kyrgyzstan on Thursday.")
        assert [(s.text, s.refs) for s in r.sentences] == [
            ("Putin arrived in Kyrgyzstan on Thursday.", ("S1", "S2"))
        ]

    def test_a_locator_after_the_ids_is_not_part_of_the_claim(self):
        # The model's "(page 4)" would otherwise fail the number check of a true claim.
        r = parse_reply("According to source [S1] (page 4), Putin arrived in Kyrgyzstan. [S1]")
        assert [s.text for s in r.sentences] == ["Putin arrived in Kyrgyzstan."]
        out = verify(r, _ctx(), {"a": ART}, min_support=0.5, max_sentences=3)
        assert [s.supported for s in out] == [True]

    def test_a_parenthesis_that_is_the_claim_is_kept(self):
        r = parse_reply("Putin arrived [S1] (on Thursday).")
        assert [s.text for s in r.sentences][-1] == "(on Thursday)."

    def test_each_sentence_of_a_run_on_body_is_checked_alone(self):
        reply = "Putin arrived in Kyrgyzstan on Thursday. He was paid 5 million dollars. [S1][S3]"
        out = _verified(reply)
        kept = [s for s in out if s.supported]
        assert [s.text for s in kept] == ["Putin arrived in Kyrgyzstan on Thursday."]
        assert [c.ref for c in kept[0].citations] == ["S1"]  # S3 adds nothing: pruned


class TestReciteWithin:
    """An answer cited from another week's look-alike story is cited anew from this week's."""

    OLD = Article(
        id="feb",
        title="BrightMart results",
        text="Grocery chain BrightMart said fourth-quarter revenue rose 6 percent.",
        published_at=1_708_387_200.0,  # 2024-02-20
    )
    NEW = Article(
        id="may",
        title="BrightMart results",
        text=(
            "Grocery chain BrightMart said first-quarter revenue rose 4 percent.\n\n"
            "Vera Sol added dates to her residency."
        ),
        published_at=1_716_163_200.0,  # 2024-05-20
    )
    Q = "Which grocery chain reported quarterly results this week?"

    def _verified(self, reply: str):
        sents = _numbered(self.OLD) + [
            NumberedSentence(f"S{n + 2}", s.article_id, s.title, s.start, s.end, s.text, 1.0)
            for n, s in enumerate(_numbered(self.NEW))
        ]
        ctx = Context(tuple(sents), 40)
        arts = {"feb": self.OLD, "may": self.NEW}
        return _verified(reply, ctx, arts, self.Q), ctx, arts

    def test_a_claim_this_weeks_story_states_is_cited_from_it(self):
        out, ctx, arts = self._verified("BrightMart reported quarterly results this week. [S1]")
        assert [c.article_id for c in out[0].citations] == ["feb"]
        recited = recite_within(out, ctx, arts, lambda a: a.id == "may", min_support=0.5,
                                question=self.Q)  # fmt: skip
        assert recited is not None
        (s,) = recited
        assert s.supported and [c.article_id for c in s.citations] == ["may"]
        assert all(self.NEW.text[c.start : c.end] == c.quote for c in s.citations)

    def test_a_claim_only_the_other_story_states_is_not(self):
        old = Article(id="feb", title="Singers", text="Jonah Pike added dates in Las Vegas.",
                      published_at=1_708_387_200.0)  # fmt: skip
        ctx = Context(tuple(_numbered(old) + [
            NumberedSentence("S2", "may", "BrightMart results", 0, 67, self.NEW.text[:67], 1.0)
        ]), 40)  # fmt: skip
        arts = {"feb": old, "may": self.NEW}
        q = "Which singer added dates to a Las Vegas residency this week?"
        out = _verified("Jonah Pike added dates this week. [S1]", ctx, arts, q)
        assert out[0].supported
        assert recite_within(out, ctx, arts, lambda a: a.id == "may", min_support=0.5,
                             question=q) is None  # fmt: skip
