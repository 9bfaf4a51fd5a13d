"""A question as typed into a search box, written the way the model and the checks read best.

People type "who is the president of kyrgyzstan": no capital, no question mark, names in lower
case. The 1.5B model reads such a question worse ("The president of Kyrgyzstan is Vladimir
Putin", where "Who is the president of Kyrgyzstan?" gets "Sadyr Japarov"), and the checks on an
answer find the question's names by their capitals (`qa.confidence.anchors`), so an answer from
a look-alike story passed every name check. So the question is tidied (a capital first letter, a
question mark) and, when it was typed all in lower case, the words the retrieved articles write
as names are capitalised ("kyrgyzstan" -> "Kyrgyzstan", "days of our lives" -> "Days of Our
Lives"). A question that capitalises its own names is left as typed: it says which they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from qa.cite import STOPWORDS

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)
_INTERROGATIVE = frozenset(
    """who whom whose what which when where why how is are was were do does did will would can
    could should has have had may might shall""".split()
)
# A phrase is a name when at least this share of its mid-sentence occurrences in the articles
# capitalise every content word (not all: a quote may hold a lower-case slip).
_NAME_SHARE = 0.8
_MAX_WORDS = 8  # the longest name looked for ("the restaurant at the end of the universe")
_BEFORE = re.compile(r"([^\W_]+)[ \t]+$")  # the word right before, spaces only between
_AFTER = re.compile(r"[ \t]+([^\W_]+)")  # the word right after
_SENTENCE_END = re.compile(r"(?:^|[.!?:;\"“”'‘’()\[\]\n]|--|—)\s*$")


def tidy(question: str) -> str:
    """The question with a capital first letter, and a question mark when it opens with a
    question word and ends without punctuation."""
    q = question.strip()
    if not q:
        return q
    q = q[0].upper() + q[1:]
    first = _WORD.match(q)
    if first and first.group(0).lower() in _INTERROGATIVE and q[-1].isalnum():
        q += "?"
    return q


def reworded(question: str, asked: str) -> bool:
    """Whether `asked` says something else than `question` (a follow-up made standalone), not
    only the same words tidied: other capitals or a final question mark."""

    def words(text: str) -> list[str]:
        return _WORD.findall(text.casefold())

    return words(question) != words(asked)


def is_lower_query(question: str) -> bool:
    """Whether nothing after the first word is capitalised: typed as a search query, so its
    capitals say nothing about its names."""
    words = _WORD.findall(question)
    return len(words) > 1 and not any(w[:1].isupper() for w in words[1:])


def truecase(question: str, texts: Iterable[str]) -> str:
    """`question` with the words `texts` write as names written as they write them, when it is
    a lower-case query (`is_lower_query`); otherwise as given. Longer phrases are tried first,
    so "days of our lives" is one name ("Days of Our Lives") though "days" alone is not; a
    phrase starts and ends with a content word, and takes the articles' spelling ("nfl" ->
    "NFL", "rio de janeiro" -> "Rio de Janeiro"). A name must stand alone in the texts at least
    once ("Whitfield said"): a word seen only inside longer names ("new" in "New York",
    "awards" in "Academy Awards") is none."""
    if not is_lower_query(question):
        return question
    texts = list(texts)
    spans = []
    for m in _WORD.finditer(question):
        base = _POSSESSIVE.sub("", m.group(0))
        spans.append((m.start(), m.start() + len(base), base))
    words = [w for _, _, w in spans]
    content = [w.lower() not in STOPWORDS and not w.isdigit() for w in words]
    named = [False] * len(words)
    forms: list[tuple[int, int, str]] = []
    for n in range(min(_MAX_WORDS, len(words)), 0, -1):
        for i in range(len(words) - n + 1):
            j = i + n - 1
            if not (content[i] and content[j]) or any(named[i : j + 1]):
                continue
            form = _name_form(words[i : j + 1], texts)
            if form is not None:
                named[i : j + 1] = [True] * n
                forms.append((spans[i][0], spans[j][1], form))
    out, at = [], 0
    for start, end, form in sorted(forms):
        out += [question[at:start], form]
        at = end
    return "".join([*out, question[at:]])


def _name_form(phrase: list[str], texts: Iterable[str]) -> str | None:
    """How `texts` write the phrase as a name, or None when they do not write it as one. The
    phrase's words are matched in order with only spaces between (a possessive 's allowed).
    An occurrence is capitalised when its content words start upper-case (short joiners such
    as "de" inside it aside); a sentence's first word says nothing, so it is left out, and an
    occurrence with nothing else to go by is not counted. A name: capitalised in at least
    `_NAME_SHARE` of the counted occurrences (and in one at least), and at least once whole,
    mid-sentence or opening one ("Japarov told reporters"): no capitalised content word right
    before or after it with only spaces between ("Sadyr Japarov" is a longer name; in
    "Uzbekistan, Kazakhstan, Tajikistan" each is whole). Its form is the commonest whole one."""
    pattern = re.compile(
        r"(?<![\w'’])" + r"\s+".join(re.escape(w) + r"(?:['’]s)?" for w in phrase) + r"(?![\w'’])",
        re.IGNORECASE,
    )
    capitalised = total = 0
    wholes: dict[str, int] = {}
    for text in texts:
        for m in pattern.finditer(text):
            mid = not _SENTENCE_END.search(text[max(0, m.start() - 4) : m.start()])
            said = _WORD.findall(m.group(0))
            telling = [
                w
                for k, w in enumerate(said)
                if (mid or k > 0)
                and w.lower() not in STOPWORDS
                and not (0 < k < len(said) - 1 and len(w) <= 3)
            ]
            if not all(w[:1].isupper() for w in telling):
                total += 1
                continue
            if telling:
                total += 1
                capitalised += 1
            before = _BEFORE.search(text[max(0, m.start() - 40) : m.start()]) if mid else None
            after = _AFTER.match(text[m.end() : m.end() + 40])
            if not (_name_word(before) or _name_word(after)):
                form = _POSSESSIVE.sub("", " ".join(m.group(0).split()))
                wholes[form] = wholes.get(form, 0) + 1
    if not (wholes and total) or capitalised < _NAME_SHARE * total:
        return None
    return max(wholes, key=lambda f: (wholes[f], f))


def _name_word(found: re.Match[str] | None) -> bool:
    """Whether the word found next to a match, with only spaces between (a comma or a dash
    ends a name: "Uzbekistan, Kazakhstan"), is a capitalised content word."""
    word = found.group(1) if found else ""
    return word[:1].isupper() and word.lower() not in STOPWORDS
