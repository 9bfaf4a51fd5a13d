"""Why an answer was declined, in words that say what was missing.

`Answer.declined` names the check ("anchors", "time", "kind", ...); this says it about the
question at hand where it can: "The articles the draft cited do not mention Tallinn." rather
than only that some name was missing. Where nothing more specific is known, the general
sentence of `DECLINED_BECAUSE` stands.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from qa.cite import content_words, unstated
from qa.confidence import about_question, article_text, asked_kind, coverage, named
from qa.context import looks_like_injection
from qa.types import DECLINED_BECAUSE, AnswerSentence, Article
from qa.when import Window

# What each kind of question asks for (`qa.confidence.asked_kind`), as a reader would say it.
_KIND_WORDS = {
    "number": "a figure",
    "speed": "a speed",
    "measure": "a length, distance or duration",
    "time": "a date or time",
    "name": "a name",
}


def unfound_names(question: str, cited: Sequence[Article]) -> list[str]:
    """The question's names and numbers (as it spells them) that no cited article holds, read
    as the anchor check reads them (headline, text and year; acronyms spelled out)."""
    wanted = named(question)
    texts = [article_text(a) for a in cited]
    out: list[str] = []
    for word in re.findall(r"[^\W_][\w'’.-]*", question):
        stems = content_words(word) & wanted
        name = word.strip("'’.-").removesuffix("'s").removesuffix("’s")
        if stems and coverage(stems, texts) < 1.0 and name not in out:
            out.append(name)
    return out


def _days(window: Window) -> str:
    """The window's days as a reader counts them (its one day of slack either side removed)."""
    first = datetime.fromtimestamp(window.start, tz=UTC) + timedelta(days=1)
    last = datetime.fromtimestamp(window.end, tz=UTC) - timedelta(days=2)
    if first.date() == last.date():
        return f"{first:%B} {first.day}, {first.year}"
    return f"{first:%B} {first.day}, {first.year} to {last:%B} {last.day}, {last.year}"


def why_declined(
    declined: str,
    question: str,
    sentences: Sequence[AnswerSentence] = (),
    articles: Mapping[str, Article] | None = None,
    *,
    window: Window | None = None,
) -> str:
    """`declined` said about `question`, from the draft's `sentences` (all withheld by now) and
    the `articles` they cite: what a sentence's quotes do not state, the names the cited
    articles lack, the time asked about, the kind of thing asked for (or that the draft is about
    something else); else the general sentence."""
    if declined == "unsupported":
        given = frozenset(content_words(question))
        for s in sentences:
            if not s.citations or looks_like_injection(s.text):
                continue  # cites nothing it was shown, or dropped for giving orders
            missing = unstated(s.text, [c.quote for c in s.citations], given)
            if missing:
                return f"The sentences the draft cited do not state {_listed(missing[:3])}."
    if declined == "anchors":
        ids = dict.fromkeys(c.article_id for s in sentences for c in s.citations)
        missing = unfound_names(question, [articles[a] for a in ids if a in (articles or {})])
        if missing:
            return f"The articles the draft cited do not mention {_listed(missing)}."
    if declined == "time" and window is not None:
        return (
            f'The articles the draft cited are from outside "{window.why}" '
            f"({_days(window)}), the time the question asks about."
        )
    if declined == "kind":
        draft = " ".join(s.text for s in sentences)
        if draft and not about_question(question, draft):
            return "The draft is about something else than the question asks."
        kind = asked_kind(question)
        if kind in _KIND_WORDS:
            return f"The question asks for {_KIND_WORDS[kind]}; the draft gave none that fits."
    return DECLINED_BECAUSE.get(declined, DECLINED_BECAUSE["unsupported"])


def _listed(words: list[str]) -> str:
    quoted = [f'"{w}"' for w in words]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
