"""Figures in an answer written the way its cited quotes write them.

The model restyles numbers: a source's "7 percent" comes out as "7%", "nine days" as "9 days"
(news style spells out one to nine and writes "percent"). The figure is right, but the answer
no longer reads like the evidence it cites, and a reader searching the article for "7%" finds
nothing. So once a sentence is verified, a figure whose quote writes it differently is
rewritten in the quote's form; nothing else in the sentence changes. On the news dev set 5 of
127 answerable questions had a right figure in another form (`eval/RESULTS.md`). The model
also drops a currency sign ("45 million" for the quote's "$45 million"): the amount is put
back in its currency when every place the quotes write that figure writes it as money.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_SPELLED = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
).split()
_PERCENT = re.compile(r"(?<![\w.,])(\d+(?:\.\d+)?)(\s*%|\s+percent\b|\s+per cent\b)", re.I)
_INTEGER = re.compile(r"(?<![\w.,%$€£-])(\d{1,2})(?![\w.,%]|\s*(?:%|percent|per cent)\b)", re.I)


def _percent_form(number: str, quotes: Sequence[str]) -> str | None:
    """How the quotes write `number` percent ("7 percent", "7%"), if they do."""
    for q in quotes:
        for m in _PERCENT.finditer(q):
            if m.group(1) == number:
                return m.group(0)
    return None


def _has_digits(number: str, quotes: Sequence[str]) -> bool:
    pattern = re.compile(rf"(?<![\w.]){re.escape(number)}(?![\w])")
    return any(pattern.search(q) for q in quotes)


# An amount without its sign: "45 million", "27", "1,200" (not "$45", not "45%", not "4.5.1").
_BARE_AMOUNT = re.compile(
    r"(?<![\w.,$€£¥-])(\d[\d,]*(?:\.\d+)?)(\s+(?:million|billion|trillion)\b)?(?![\w%]|[.,]\d)",
    re.I,
)


def _money_form(number: str, scale: str, quotes: Sequence[str]) -> str | None:
    """The currency sign the quotes always write before `number` (and its scale word), if
    they write it at least once and never without a sign."""
    figure = re.escape(number) + (r"\s+" + re.escape(scale.strip()) if scale else "")
    pattern = re.compile(rf"([$€£¥]?)(?<![\w.,]){figure}(?![\w%]|[.,]\d)", re.I)
    signs = {m.group(1) for q in quotes for m in pattern.finditer(q)}
    if len(signs) == 1 and "" not in signs:
        return signs.pop()
    return None


def _has_word(word: str, quotes: Sequence[str]) -> bool:
    pattern = re.compile(rf"\b{word}\b", re.I)
    return any(pattern.search(q) for q in quotes)


def in_source_form(sentence: str, quotes: Sequence[str]) -> str:
    """`sentence` with its percentages and small whole numbers in the form its quotes use."""
    if not quotes:
        return sentence

    def percent(m: re.Match[str]) -> str:
        form = _percent_form(m.group(1), quotes)
        return form if form is not None else m.group(0)

    text = _PERCENT.sub(percent, sentence)

    def integer(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if n >= len(_SPELLED) or _has_digits(m.group(1), quotes):
            return m.group(0)
        word = _SPELLED[n]
        if not _has_word(word, quotes):
            return m.group(0)
        at_start = not text[: m.start()].strip()
        return word.capitalize() if at_start else word

    text = _INTEGER.sub(integer, text)

    def money(m: re.Match[str]) -> str:
        sign = _money_form(m.group(1), m.group(2) or "", quotes)
        return sign + m.group(0) if sign else m.group(0)

    return _BARE_AMOUNT.sub(money, text)
