"""Deterministic metrics, as pure functions of spans and strings (no LLM judge).

Spans are `(article_id, start, end)` triples in cleaned article text. A gold span counts as
retrieved when a retrieved chunk covers it entirely; a citation matches a gold span when they
overlap by at least half of the shorter of the two (so a whole-sentence citation of a
sub-sentence gold quote counts, and a 1,000-char chunk that merely touches it does not).
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Sequence

Span3 = tuple[str, int, int]

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(s: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation) | {"“", "”", "‘", "’"})
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match(prediction: str, references: Sequence[str]) -> float:
    p = normalize_answer(prediction)
    return float(any(p == normalize_answer(r) for r in references)) if references else 0.0


def token_f1(prediction: str, references: Sequence[str]) -> float:
    best = 0.0
    p_tokens = normalize_answer(prediction).split()
    for ref in references:
        r_tokens = normalize_answer(ref).split()
        common = Counter(p_tokens) & Counter(r_tokens)
        same = sum(common.values())
        if not p_tokens or not r_tokens or same == 0:
            continue
        precision, recall = same / len(p_tokens), same / len(r_tokens)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains(prediction: str, references: Sequence[str]) -> float:
    p = normalize_answer(prediction)
    return float(any(normalize_answer(r) and normalize_answer(r) in p for r in references))


_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve".split()
    )
}


# News style abbreviates months ("Aug. 9"); an answer may write them out ("August 9").
_MONTHS = {
    "jan": "january", "feb": "february", "mar": "march", "apr": "april", "jun": "june",
    "jul": "july", "aug": "august", "sep": "september", "sept": "september", "oct": "october",
    "nov": "november", "dec": "december",
}  # fmt: skip


def _stem(token: str) -> str:
    """Number words as digits, month abbreviations written out, then a crude plural/tense
    strip, so "five cities" and "5 city" agree; deterministic and language-agnostic enough for
    short references."""
    token = _NUMBER_WORDS.get(token, token)
    token = _MONTHS.get(token, token)
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    for suffix in ("es", "s", "ed", "ing"):
        if len(token) > len(suffix) + 2 and token.endswith(suffix):
            return token[: -len(suffix)]
    return token


def _words(text: str) -> list[str]:
    """Stemmed word tokens; punctuation separates words ("4,100-seat" is 4, 100, seat: SQuAD
    normalisation would glue it into "4100seat" and miss the reference "4,100")."""
    words = re.findall(r"[^\W_]+", text.lower())
    return [_stem(w) for w in words if w not in ("a", "an", "the")]


def token_recall(prediction: str, references: Sequence[str]) -> float:
    """The best share of a reference's (stemmed) tokens found in the prediction.

    Fair to paraphrase where `contains` is not: the reference "children under 5" against the
    answer "children younger than 5" scores 2/3 instead of 0, "five cities" matches "5 cities".
    Reported beside `contains`, never instead of it."""
    p_tokens = set(_words(prediction))
    best = 0.0
    for ref in references:
        r_tokens = _words(ref)
        if r_tokens and p_tokens:
            best = max(best, sum(t in p_tokens for t in r_tokens) / len(r_tokens))
    return best


def covers(chunk: Span3, gold: Span3) -> bool:
    return chunk[0] == gold[0] and chunk[1] <= gold[1] and gold[2] <= chunk[2]


def overlap(a: Span3, b: Span3) -> int:
    if a[0] != b[0]:
        return 0
    return max(0, min(a[2], b[2]) - max(a[1], b[1]))


def matches(citation: Span3, gold: Span3) -> bool:
    shorter = min(citation[2] - citation[1], gold[2] - gold[1])
    return shorter > 0 and overlap(citation, gold) >= 0.5 * shorter


def retrieval_scores(retrieved: Sequence[Span3], gold: Sequence[Span3], k: int) -> dict[str, float]:
    """hit@1, hit@k, recall@k and reciprocal rank of the first chunk covering any gold span."""
    top = list(retrieved[:k])
    covered = [any(covers(c, g) for c in top) for g in gold]
    first = next((rank for rank, c in enumerate(top, 1) if any(covers(c, g) for g in gold)), None)
    return {
        "hit_at_1": float(bool(top) and any(covers(top[0], g) for g in gold)),
        "hit_at_k": float(any(covered)),
        "recall_at_k": sum(covered) / len(gold) if gold else 0.0,
        "mrr": 1.0 / first if first else 0.0,
    }


def citation_scores(citations: Sequence[Span3], gold: Sequence[Span3]) -> dict[str, float | None]:
    """Precision (share of citations matching some gold span; None without citations), recall
    (share of gold spans matched by some citation) and hit (any citation matches)."""
    good = [any(matches(c, g) for g in gold) for c in citations]
    found = [any(matches(c, g) for c in citations) for g in gold]
    return {
        "citation_precision": sum(good) / len(good) if good else None,
        "citation_recall": sum(found) / len(found) if found else 0.0,
        "citation_hit": float(any(good)),
    }


def abstention_scores(abstained: Sequence[bool], answerable: Sequence[bool]) -> dict[str, float]:
    """Abstention as the positive class: F1 of abstaining exactly on the unanswerables."""
    unans = [a for a, ok in zip(abstained, answerable, strict=True) if not ok]
    ans = [a for a, ok in zip(abstained, answerable, strict=True) if ok]
    tp = sum(unans)
    fp = sum(ans)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / len(unans) if unans else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "abstain_correct": recall,
        "abstain_wrong": fp / len(ans) if ans else 0.0,
        "abstention_precision": precision,
        "abstention_recall": recall,
        "abstention_f1": f1,
    }


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; 0.0 for no values (never NaN)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def mean(values: Sequence[float | None]) -> float:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else 0.0


def calibration(
    pairs: Sequence[tuple[float | None, bool | None]], bins: int = 10
) -> dict[str, float | int | list[list[float]]]:
    """Expected calibration error of a confidence against rightness, over the answers that
    have both (abstentions have neither), with the reliability table behind it: one row a
    bin, [low, high, mean confidence, share right, count]."""
    kept = [(c, float(r)) for c, r in pairs if c is not None and r is not None]
    table: list[list[float]] = []
    ece = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(c, r) for c, r in kept if lo <= c < hi or (b == bins - 1 and c == 1.0)]
        if not inside:
            continue
        conf = sum(c for c, _ in inside) / len(inside)
        acc = sum(r for _, r in inside) / len(inside)
        ece += len(inside) / len(kept) * abs(conf - acc)
        table.append([lo, hi, round(conf, 4), round(acc, 4), len(inside)])
    return {
        "confidence_ece": round(ece, 4),
        "confidence_n": len(kept),
        "answered_right": round(sum(r for _, r in kept) / len(kept), 4) if kept else 0.0,
        "reliability": table,
    }
