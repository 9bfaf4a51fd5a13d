"""Figures are rewritten in the form their cited quotes use, and nothing else changes."""

from __future__ import annotations

import pytest

from qa.wording import in_source_form


class TestInSourceForm:
    @pytest.mark.parametrize(
        ("sentence", "quote", "expected"),
        [
            (
                "Harlow teachers accepted a 7% raise over two years.",
                "Teachers accepted a raise of 7 percent over two years.",
                "Harlow teachers accepted a 7 percent raise over two years.",
            ),
            ("Prices rose 2.5 percent.", "Prices rose 2.5% in May.", "Prices rose 2.5%."),
            ("It rose 5%.", "It rose 5 per cent.", "It rose 5 per cent."),
            ("The strike lasted 9 days.", "It lasted nine days.", "The strike lasted nine days."),
            ("7 years of exclusivity.", "It gives seven years.", "Seven years of exclusivity."),
            # an amount gets back the currency sign its quotes give it
            (
                "45 million of the contribution is set aside for the cleanup.",
                "Of the city's $135 million, $45 million is set aside for the cleanup.",
                "$45 million of the contribution is set aside for the cleanup.",
            ),
            ("Drivers want 27 an hour.", "Drivers want $27 an hour.", "Drivers want $27 an hour."),
            ("It cost 1,200.", "It cost €1,200 in 2019.", "It cost €1,200."),
        ],
    )
    def test_figure_takes_the_quotes_form(self, sentence, quote, expected):
        assert in_source_form(sentence, [quote]) == expected

    @pytest.mark.parametrize(
        ("sentence", "quote"),
        [
            ("9 trucks came.", "nine firefighters and 9 trucks"),  # the quote also has digits
            ("It rose 4% in 2021.", "It rose 5 percent in 2021."),  # another figure: untouched
            ("In 2021, 30 people came.", "thirty people came in 2021"),  # only one to twenty
            ("It cost $5 and 5.5 kg.", "It cost five dollars"),  # money and decimals stay
            ("Team 9 won.", "No number here."),
            # the quotes also write the figure without a sign: which one is meant is unknown
            ("27 workers asked for it.", "27 workers asked for $27 an hour."),
            ("It cost 45 million.", "It cost $45 billion."),  # another scale: untouched
            ("It cost $45 million.", "It cost $45 million."),  # already in its currency
            ("It rose 4.5%.", "It rose $4.5."),  # a percentage is no amount of money
        ],
    )
    def test_other_text_is_left_alone(self, sentence, quote):
        assert in_source_form(sentence, [quote]) == sentence

    def test_no_quotes_no_change(self):
        assert in_source_form("It rose 7%.", []) == "It rose 7%."
