"""Conflicting reports: two outlets give different figures, names or dates for the same thing.

Early reports of a disaster disagree (17 dead in one wire story, 23 in another paper's; the
gunman named Daniel Reyes by one, Daniel Reese by another; the storm hitting on Tuesday or on
Monday). An answer that cites one of them silently picks a side; this module finds, for each
figure an answer cites, a sentence of *another* shown article that counts the same thing with
another figure, and for each cited sentence, one of another article that says the same thing
with another name or date in one place, about the same story, so the answer can say "Reports
differ".

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
from difflib import SequenceMatcher
from typing import Literal

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
    "mile miles foot feet meter meters inch inches cent cents".split()
)
_MAGNITUDES = frozenset("hundred thousand million billion trillion".split())


_WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
# Capitalised words that are no name when a sentence opens with them after a clause.
_NOT_NAMES = frozenset(
    "the a an he she it they we i his her its their this that these those but and or".split()
)
_WORD = re.compile(r"[^\W_]+(?:['’.-][^\W_]+)*|[^\w\s]")


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two quotes from different articles that give `figures` (two counts, names or dates)
    for one thing: for a count, `thing` is the counted noun as the first quote writes it."""

    thing: str
    first: Citation
    second: Citation
    figures: tuple[str, str]
    kind: Literal["count", "name", "date"] = "count"


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
        j = i + 1
        if j < len(words) and words[j].lower().strip(".,;:") in _MAGNITUDES:
            figure = f"{figure} {words[j].lower().strip('.,;:')}"  # "$140 million"
            j += 1
        if words[j - 1][-1:] in ",.;:":
            continue  # "$140 million, compared with": a sum, no noun says what it counts
        for nxt in words[j : j + 2]:
            if not nxt[:1].islower():
                break  # a name or a bracket, not what is counted
            noun = nxt.strip(".,").lower()
            stems = content_words(noun)
            if not stems:
                continue  # "17 of the": look one word further
            if noun not in _VAGUE and not _NUMBER.match(noun):
                out.setdefault(singular(next(iter(stems))), (figure.replace(",", ""), noun))
            break  # the first content word is what is counted, or nothing is
    return out


def _same_story(
    a: str, a_article: Article, b: str, b_article: Article, *, differing: tuple[str, str] = ("", "")
) -> bool:
    """Each sentence's names are in the other's article, and most other words are shared.
    The `differing` names or dates (one per sentence) are what is compared, so left out."""
    whole_a = content_words(f"{a_article.title}\n{a_article.text}")
    whole_b = content_words(f"{b_article.title}\n{b_article.text}")
    names_a = {w for w in anchors(a) if not w.isdigit()} - content_words(differing[0])
    names_b = {w for w in anchors(b) if not w.isdigit()} - content_words(differing[1])
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
    and one that says the same with another name or date in one place (`slot_differs`).
    At most one conflict per cited quote and thing."""
    out: list[Conflict] = []
    seen: set[tuple[str, str]] = set()
    for c in cited:
        if c.article_id not in articles:
            continue
        mine = counted(c.quote)
        mine_source = articles[c.article_id].source
        for aid, start, end, text in shown:
            if aid == c.article_id or aid not in articles:
                continue
            if mine_source and mine_source == articles[aid].source:
                continue  # one outlet's later story updates its figure; no report differs
            slot = slot_differs(c.quote, articles[c.article_id], text, articles[aid])
            if slot is not None and (c.quote, slot[0]) not in seen:
                seen.add((c.quote, slot[0]))
                second = make_citation(articles[aid], start, end)
                out.append(Conflict("", c, second, (slot[1], slot[2]), slot[0]))
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


def _kind(words: Sequence[str], lo: int, hi: int) -> Literal["name", "date"] | None:
    """What words[lo:hi] is: a date (weekday, month, a month's day), a name (capitalised words,
    not opening the sentence), or neither."""
    span = words[lo:hi]
    low = [w.lower().rstrip(".") for w in span]
    if all(w in _WEEKDAYS or w in _MONTHS for w in low):
        return "date"
    if (
        all(w.isdigit() and len(w) <= 2 for w in low)
        and lo
        and words[lo - 1].lower().rstrip(".") in _MONTHS
    ):
        return "date"  # "June 3" / "June 4": the day after an agreed month
    if lo and all(w[:1].isupper() and w.lower() not in _NOT_NAMES and w.lower() not in _MONTHS
                  and w.lower() not in _WEEKDAYS for w in span):  # fmt: skip
        return "name"
    return None


def _factual(words: Sequence[str], lo: int, hi: int) -> bool:
    """words[lo:hi] hold a name, a date or a number (a capitalised word not opening the
    sentence, a weekday or month, a digit)."""
    for i in range(lo, hi):
        w = words[i]
        low = w.lower().rstrip(".")
        if any(ch.isdigit() for ch in w) or low in _WEEKDAYS or low in _MONTHS:
            return True
        if i and w[:1].isupper() and low not in _NOT_NAMES:
            return True
    return False


def _whole(words: Sequence[str], lo: int, hi: int, kind: str) -> tuple[int, int]:
    """The span widened over the capitalised words around it ("Daniel" of "Daniel Reyes"),
    or for a day over its month: what a reader needs to see which name or date differs."""
    if kind == "date":
        return (lo - 1 if words[lo].isdigit() else lo), hi
    while lo > 1 and words[lo - 1][:1].isupper() and words[lo - 1].lower() not in _NOT_NAMES:
        lo -= 1
    while hi < len(words) and words[hi][:1].isupper():
        hi += 1
    return lo, hi


def slot_differs(
    a: str, a_article: Article, b: str, b_article: Article
) -> tuple[Literal["name", "date"], str, str] | None:
    """(kind, a's, b's) when the two sentences say the same thing with one name or one date
    different: aligned word by word, one stretch is a name or a date on both sides, with at
    least two agreed words (one a content word) right before it and agreed words or the
    sentence's end right after; other stretches may differ in wording ("officials" for
    "police") but hold no name, date or number; the sentences are about the same story; and
    neither article writes the other's name or date at all (an article that has both tells of
    two people or days, not a disagreement)."""
    wa, wb = _WORD.findall(a), _WORD.findall(b)
    sm = SequenceMatcher(None, [w.lower() for w in wa], [w.lower() for w in wb], autojunk=False)
    ops = sm.get_opcodes()
    slots = []
    for n, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag == "equal":
            continue
        kind = _kind(wa, i1, i2) if tag == "replace" else None
        if kind is not None and kind == _kind(wb, j1, j2) and max(i2 - i1, j2 - j1) <= 4:
            slots.append(n)
        elif _factual(wa, i1, i2) or _factual(wb, j1, j2):
            return None  # another fact differs too: not one thing told two ways
    if len(slots) != 1:
        return None
    n = slots[0]
    _, i1, i2, j1, j2 = ops[n]
    before = ops[n - 1] if n else None
    if before is None or before[0] != "equal" or before[2] - before[1] < 2:
        return None
    if not content_words(" ".join(wa[before[1] : before[2]])):
        return None
    if n + 1 < len(ops) and ops[n + 1][0] != "equal":
        return None
    kind = _kind(wa, i1, i2)
    assert kind is not None
    lo_a, hi_a = _whole(wa, i1, i2, kind)
    lo_b, hi_b = _whole(wb, j1, j2, kind)
    mine, theirs = " ".join(wa[lo_a:hi_a]), " ".join(wb[lo_b:hi_b])
    if mine.lower() == theirs.lower():
        return None
    if (
        mine in f"{b_article.title}\n{b_article.text}"
        or theirs in f"{a_article.title}\n{a_article.text}"
    ):
        return None
    if not _same_story(a, a_article, b, b_article, differing=(mine, theirs)):
        return None
    return kind, mine, theirs


def conflict_sentence(conflict: Conflict, articles: Mapping[str, Article]) -> str:
    """ "Reports differ: Citeqa Wire gives 17 people, Mesa Daily Star 23." (a count), or
    "Reports differ: Citeqa Wire says Daniel Reyes, Prairie Ledger Daniel Reese." """

    def outlet(c: Citation) -> str:
        a = articles.get(c.article_id)
        return (a.source if a and a.source else None) or f"“{c.title}”"

    one, two = conflict.figures
    if conflict.kind != "count":
        return (
            f"Reports differ: {outlet(conflict.first)} says {one}, {outlet(conflict.second)} {two}."
        )
    return (
        f"Reports differ: {outlet(conflict.first)} gives {one} {conflict.thing}, "
        f"{outlet(conflict.second)} {two}."
    )
