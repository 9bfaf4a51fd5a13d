"""Conflicting reports: two outlets give different figures for the same thing.

Early reports of a disaster disagree (17 dead in one wire story, 23 in another paper's). An
answer that cites one of them silently picks a side; this module finds, for each figure an
answer cites, a sentence of *another* shown article that counts the same thing with another
figure, about the same story, so the answer can say "Reports differ".

"The same story" is the costly judgement: look-alike stories (storms in two states, two
towns' strikes) give different figures for the same noun and are no conflict. Two sentences
are taken to report one event only when each one's names (places, people, organisations) are
all in the other's article, and they share most of their other words; and one outlet's two
stories (a toll updated the next day) are an update, not reports that differ.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qa.cite import content_words, make_citation, singular
from qa.confidence import anchors
from qa.types import Article, Citation

_TOKEN = re.compile(r"[\w'’.,$%-]+")
_NUMBER = re.compile(r"^\$?\d[\d,]*(?:\.\d+)?%?$")
# Nouns too vague to say two figures count the same thing ("17 of the", "23 years ago").
_MONTHS = frozenset(
    "jan feb mar apr may jun jul aug sep sept oct nov dec january february march april june "
    "july august september october november december".split()
)
_VAGUE = frozenset(
    "percent year years month months week weeks day days hour hours minute minutes time times "
    "mile miles foot feet meter meters inch inches".split()
)


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two quotes from different articles that give `figures` for one `thing`."""

    thing: str  # the counted noun, as the first quote writes it
    first: Citation
    second: Citation
    figures: tuple[str, str]


def counted(text: str) -> dict[str, tuple[str, str]]:
    """{singular noun stem: (figure, the noun as written)} for each figure followed within two
    words by a common noun: "killed at least 17 people" -> {"people": ("17", "people")}. Years
    and days of a date ("Jan. 10 (Prairie Ledger)") are not counts."""
    words = _TOKEN.findall(text.replace("-", " "))
    out: dict[str, tuple[str, str]] = {}
    for i, w in enumerate(words):
        figure = w.strip(".,")
        if not _NUMBER.match(figure) or re.fullmatch(r"(?:1[89]|20)\d\d", figure):
            continue  # a year is a date, not a count
        if i and words[i - 1].strip(".,").lower() in _MONTHS:
            continue  # the day of a date
        for nxt in words[i + 1 : i + 3]:
            if not nxt[:1].islower():
                continue  # a name or a bracket, not what is counted
            noun = nxt.strip(".,").lower()
            stems = content_words(noun)
            if not stems or noun in _VAGUE or _NUMBER.match(noun):
                continue
            out.setdefault(singular(next(iter(stems))), (figure.replace(",", ""), noun))
    return out


def _same_story(a: str, a_article: Article, b: str, b_article: Article) -> bool:
    """Each sentence's names are in the other's article, and most other words are shared."""
    whole_a = content_words(f"{a_article.title}\n{a_article.text}")
    whole_b = content_words(f"{b_article.title}\n{b_article.text}")
    names_a = {w for w in anchors(a) if not w.isdigit()}
    names_b = {w for w in anchors(b) if not w.isdigit()}
    if not names_a <= whole_b or not names_b <= whole_a:
        return False
    words_a = {w for w in content_words(a) if not w.isdigit()}
    words_b = {w for w in content_words(b) if not w.isdigit()}
    smaller = min(len(words_a), len(words_b))
    return smaller > 0 and len(words_a & words_b) >= 0.5 * smaller


def find_conflicts(
    cited: Sequence[Citation],
    shown: Sequence[tuple[str, int, int, str]],
    articles: Mapping[str, Article],
) -> list[Conflict]:
    """For each cited quote's counted figures, a shown sentence (article id, start, end, text)
    of another article that counts the same thing with another figure, about the same story.
    At most one conflict per cited quote and thing."""
    out: list[Conflict] = []
    seen: set[tuple[str, str]] = set()
    for c in cited:
        mine = counted(c.quote)
        if not mine or c.article_id not in articles:
            continue
        mine_source = articles[c.article_id].source
        for aid, start, end, text in shown:
            if aid == c.article_id or aid not in articles:
                continue
            if mine_source and mine_source == articles[aid].source:
                continue  # one outlet's later story updates its figure; no report differs
            theirs = counted(text)
            for thing, (figure, written) in mine.items():
                other = theirs.get(thing)
                if other is None or other[0] == figure or (c.quote, thing) in seen:
                    continue
                if not _same_story(c.quote, articles[c.article_id], text, articles[aid]):
                    continue
                seen.add((c.quote, thing))
                second = make_citation(articles[aid], start, end)
                out.append(Conflict(written, c, second, (figure, other[0])))
    return out


def conflict_sentence(conflict: Conflict, articles: Mapping[str, Article]) -> str:
    """ "Reports differ: Citeqa Wire gives 17 people, Mesa Daily Star 23." """

    def outlet(c: Citation) -> str:
        a = articles.get(c.article_id)
        return (a.source if a and a.source else None) or f"“{c.title}”"

    one, two = conflict.figures
    return (
        f"Reports differ: {outlet(conflict.first)} gives {one} {conflict.thing}, "
        f"{outlet(conflict.second)} {two}."
    )
