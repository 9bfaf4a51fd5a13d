"""Questions typed like search queries, tidied and with their names written as the articles do."""

import pytest

from qa.asked import is_lower_query, reworded, tidy, truecase
from qa.confidence import anchors

KYRGYZ = (
    "Vladimir Putin arrived in Kyrgyzstan on Thursday. He is due to meet his Kyrgyz counterpart "
    "Sadyr Japarov. Putin last visited Kyrgyzstan a year ago, and Japarov said he was welcome."
)
SOAP = (
    "Chad DiMera is a fictional character from Days of Our Lives, an American soap opera. "
    "The actor joined Days of Our Lives in 2006. In recent days the show was renewed."
)
CITY = (
    "The New York Times reported it first. Officials in New York said the city would appeal. "
    "The mayor said new rules would follow, and the Academy Awards were moved."
)


class TestTidy:
    @pytest.mark.parametrize(
        ("typed", "tidied"),
        [
            ("who is the president of kyrgyzstan", "Who is the president of kyrgyzstan?"),
            ("  why did pashinyan skip the summit  ", "Why did pashinyan skip the summit?"),
            ("Who is the president?", "Who is the president?"),  # as typed
            ("putin kyrgyzstan visit", "Putin kyrgyzstan visit"),  # no question word
            ("how many ots are there in the nfl!", "How many ots are there in the nfl!"),
            ("did putin go?", "Did putin go?"),
            ("", ""),
        ],
    )
    def test_capital_and_question_mark(self, typed, tidied):
        assert tidy(typed) == tidied
        assert not reworded(typed, tidied)  # the page shows no "Searched for"

    def test_a_rewritten_follow_up_is_reworded(self):
        assert reworded("why did he go?", "Why did Putin go to Kyrgyzstan?")
        assert not reworded("who is japarov", "Who is Japarov?")


class TestTruecase:
    def test_lower_query_gets_the_articles_names(self):
        asked = truecase("Who is the president of kyrgyzstan?", [KYRGYZ])
        assert asked == "Who is the president of Kyrgyzstan?"
        assert anchors(asked) == anchors("Who is the president of Kyrgyzstan?")

    def test_a_long_name_is_one_name_in_the_articles_spelling(self):
        asked = truecase("Who has played chad dimera on days of our lives?", [SOAP])
        assert asked == "Who has played Chad DiMera on Days of Our Lives?"

    def test_common_words_and_parts_of_longer_names_stay(self):
        # "new" is lower-case in "new rules" and part of "New York" elsewhere; "awards" is seen
        # only inside "Academy Awards"; "days" alone is lower-case ("in recent days").
        asked = truecase("What new awards were given in recent days?", [CITY, SOAP])
        assert asked == "What new awards were given in recent days?"

    def test_a_question_with_its_own_capitals_is_left_alone(self):
        assert not is_lower_query("Who did Russia send to the summit?")
        asked = truecase("Who did Russia send to the kyrgyzstan summit?", [KYRGYZ])
        assert asked == "Who did Russia send to the kyrgyzstan summit?"

    def test_a_sentence_start_alone_is_no_evidence(self):
        # "Officials" opens no sentence here, "The" opens one: neither is a name.
        assert truecase("What did officials say?", [CITY]) == "What did officials say?"

    def test_the_articles_spelling_joiners_and_acronyms_included(self):
        text = "Delegates met in Rio de Janeiro in June, and the NFL sent two. Both left Rio."
        asked = truecase("What happened in rio de janeiro with the nfl?", [text])
        assert asked == "What happened in Rio de Janeiro with the NFL?"

    def test_names_in_a_list_are_names(self):
        text = "In 2022 Putin visited Uzbekistan, Kazakhstan, Tajikistan and Kyrgyzstan."
        assert truecase("Did putin visit kazakhstan?", [text]) == "Did Putin visit Kazakhstan?"

    def test_possessive_keeps_its_s(self):
        asked = truecase("Why did japarov's guest come?", [KYRGYZ])
        assert asked == "Why did Japarov's guest come?"
