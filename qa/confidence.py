"""How much an answer can be trusted: signals measured on the answer and its evidence, combined
into a confidence (0–1) that is calibrated on the dev sets.

The signals are deterministic and cheap (no second model call): whether the question's names and
numbers occur in the articles the answer cites (a look-alike story lacks them: "What was found
in a Texas riverbed?" answered from a story set in Spain), how much of the question the cited
sentences cover, how much of each sentence its quotes support, and how close the retrieved
evidence is to the question. `eval/calibrate.py` fits the weights from eval runs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from qa.cite import content_words, support
from qa.types import AnswerSentence, Article
from qa.when import Window

# Capitalised words that are not names when they appear mid-question.
_NOT_NAMES = frozenset(
    """i a an the what which who whom whose when where why how did does do is are was were will
    would could should can may might has have had mr mrs ms dr""".split()
)
_MONTHS_DAYS = frozenset(
    """january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday""".split()
)
_QUESTION_WORDS = frozenset(
    """what which who whom whose when where why how many much did does do is are was were will
    would could should can name tell""".split()
)


def anchors(question: str) -> set[str]:
    """The question's names and numbers, as `content_words` stems: capitalised words after the
    first (proper nouns: places, people, organisations) and digits. Month and day names are
    left to the time window (an article's date is metadata, often not in its text)."""
    words = re.findall(r"[^\W_]+", question)
    out: set[str] = set()
    for i, w in enumerate(words):
        low = w.lower()
        if w.isdigit() or (i > 0 and w[:1].isupper() and low not in _NOT_NAMES):
            if low not in _MONTHS_DAYS:
                out |= content_words(w)
    return out


def question_terms(question: str) -> set[str]:
    """The question's content words without question words."""
    return {w for w in content_words(question) if w not in _QUESTION_WORDS}


@dataclass(frozen=True, slots=True)
class Signals:
    """Measured on one answer; all in [0, 1]."""

    anchor_coverage: float  # question names/numbers found in the cited articles (1: none asked)
    question_coverage: float  # question content words found in the cited sentences and titles
    support: float  # the least support of the answer's kept sentences
    evidence_similarity: float  # mean question similarity of the cited sentences
    retrieval_similarity: float  # the best dense similarity of any retrieved chunk
    # 1 unless the question's time words ("this week") name a window and every cited article
    # with a date lies outside it: a months-old look-alike is not this week's story.
    time_match: float = 1.0
    # The question's names and numbers found in the cited sentences and their headlines (not
    # anywhere in the article: a Reno story that mentions Las Vegas once is no Las Vegas story).
    anchor_evidence: float = 1.0
    # The answer's own names and numbers found in the sentences it cites.
    answer_grounding: float = 1.0
    # The local model's P("Yes") that the cited sentences state the answer to the question
    # (`self_check`); None where the backend cannot score it (then 0.5 in the confidence).
    self_check: float | None = None

    def value(self, name: str) -> float:
        v = getattr(self, name)
        return 0.5 if v is None else float(v)

    def as_dict(self) -> dict[str, float]:
        return {k: round(self.value(k), 4) for k in self.__slots__ if getattr(self, k) is not None}


# A nationality and its country name the same place: "the Spanish tomb" is found in a story
# that only says "Spain". Where the two share their first six letters (Russian/Russia,
# German/Germany) the stems already match; these are the common ones that do not.
_DEMONYMS = """spanish spain french france british britain english england chinese china
japanese japan italian italy dutch netherlands swiss switzerland greek greece turkish turkey
polish poland swedish sweden danish denmark norwegian norway finnish finland irish ireland
scottish scotland welsh wales iranian iran iraqi iraq egyptian egypt mexican mexico canadian
canada indian india korean korea thai thailand filipino philippines kenyan kenya saudi arabia
syrian syria lebanese lebanon cuban cuba peruvian peru chilean chile belgian belgium czech
czechia uzbek uzbekistan sudanese sudan libyan libya yemeni yemen qatari qatar ghanaian ghana
congolese congo haitian haiti""".split()


def _aliases() -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for demonym, country in zip(_DEMONYMS[::2], _DEMONYMS[1::2], strict=True):
        a, b = min(content_words(demonym)), min(content_words(country))
        out.setdefault(a, set()).add(b)
        out.setdefault(b, set()).add(a)
    return {k: frozenset(v) for k, v in out.items()}


_ALIASES = _aliases()


def coverage(terms: set[str], texts: Iterable[str]) -> float:
    if not terms:
        return 1.0
    found: set[str] = set()
    for t in texts:
        found |= content_words(t)
    found |= {alias for w in list(found) for alias in _ALIASES.get(w, ())}
    return len(terms & found) / len(terms)


def measure(
    question: str,
    sentences: Sequence[AnswerSentence],
    articles: Mapping[str, Article],
    *,
    sentence_scores: Mapping[tuple[str, int], float],
    retrieval_similarity: float,
    window: Window | None = None,
) -> Signals:
    """Signals of the answer's kept sentences against what they cite."""
    kept = [s for s in sentences if s.supported]
    cited = [c for s in kept for c in s.citations]
    cited_articles = [
        articles[a] for a in dict.fromkeys(c.article_id for c in cited) if a in articles
    ]
    scores = [sentence_scores.get((c.article_id, c.start), 0.0) for c in cited]
    return Signals(
        anchor_coverage=coverage(
            anchors(question), [f"{a.title}\n{a.text}" for a in cited_articles]
        ),
        question_coverage=coverage(
            question_terms(question), [c.quote for c in cited] + [a.title for a in cited_articles]
        ),
        support=min((support(s.text, [c.quote for c in s.citations]) for s in kept), default=0.0),
        evidence_similarity=max(0.0, sum(scores) / len(scores)) if scores else 0.0,
        retrieval_similarity=max(0.0, retrieval_similarity),
        time_match=time_match(window, cited_articles),
        anchor_evidence=coverage(
            anchors(question), [c.quote for c in cited] + [a.title for a in cited_articles]
        ),
        answer_grounding=answer_grounding(kept),
    )


def answer_grounding(kept: Sequence[AnswerSentence]) -> float:
    """Share of the answer's names and numbers (as in `anchors`) that its own citations hold."""
    names: set[str] = set()
    found: set[str] = set()
    for s in kept:
        own = anchors(s.text) | {w for w in content_words(s.text) if w.isdigit()}
        names |= own
        found |= own & set().union(*(content_words(c.quote) for c in s.citations))
    return len(found) / len(names) if names else 1.0


def time_match(window: Window | None, cited: Sequence[Article]) -> float:
    """0 when the question names a time window and no cited article was published in it
    (articles without a date give no evidence either way)."""
    dated = [a.published_at for a in cited if a.published_at is not None]
    if window is None or not dated:
        return 1.0
    return 1.0 if any(window.contains(t) for t in dated) else 0.0


# Logistic weights over the signals, fitted by `python -m eval.calibrate runs/s13-news-open
# runs/s13-sample-open runs/s13-clapnq-open` (the dev-set runs replayed with the gates off, so the
# gated-away answers are in the fit) on 232 answered questions (159 right): expected calibration
# error 0.062 in-sample; held out (fitted on the other two sets) 0.156 on news, 0.112 on sample,
# 0.303 on CLAP NQ (eval/RESULTS.md). Refitted when figures started being written in their
# quotes' form (qa/wording.py), which made more answers right at the same signals. The
# self-check is not among them: it is off by default (~2.7 s an answer for no gain in the gates'
# trade-off).
WEIGHTS: dict[str, float] = {
    "anchor_coverage": 2.462,
    "question_coverage": 0.555,
    "support": 0.725,
    "evidence_similarity": 1.473,
    "retrieval_similarity": -0.289,
    "time_match": 1.703,
    "anchor_evidence": 0.019,
    "answer_grounding": 0.191,
}
BIAS = -4.949


def confidence(
    signals: Signals, weights: Mapping[str, float] = WEIGHTS, bias: float = BIAS
) -> float:
    """P(the answer is right) from the signals, by the fitted logistic model."""
    z = bias + sum(w * signals.value(k) for k, w in weights.items())
    return 1.0 / (1.0 + math.exp(-z))


def check_messages(question: str, sentences: Sequence[AnswerSentence]) -> list[dict[str, str]]:
    """The self-check prompt (prompts/check.yaml): the answer's kept sentences, and what they
    cite rendered as the answer prompt renders its sources (`Context.render`: grouped under
    their headlines, cleaned, injection-looking headlines withheld)."""
    from qa.context import Context, NumberedSentence, sanitize
    from qa.prompts import prompt_messages

    kept = [s for s in sentences if s.supported]
    cited = {(c.article_id, c.start): c for s in kept for c in s.citations}
    shown = tuple(
        NumberedSentence(f"S{n}", c.article_id, c.title, c.start, c.end, c.quote, 0.0)
        for n, c in enumerate(cited.values(), 1)
    )
    answer = " ".join(sanitize(s.text) for s in kept)
    return prompt_messages(
        "check", context=Context(shown, 0).render(), question=question, answer=answer
    )
