"""HTML for the chat page: answers with citation chips, and articles with highlighted spans.

Article text, titles and URLs are untrusted: everything from an article goes through
`html.escape`, and only http(s) URLs become links.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from qa.types import Answer, AnswerSentence, Article, Citation, Source

_LIVE_MARKER = re.compile(r"\s*\[S\d*\]?|\s*\[$")


def live_text(partial_reply: str) -> str:
    """A reply being streamed, with the [S#] ids hidden (chips are added when it is verified)."""
    head = partial_reply.strip().upper()
    # While the reply could still become NOT_IN_SOURCES ("N", "NOT", "NOT_IN…"), show nothing:
    # "NOT" flashed as the answer before an abstention. In any letter case: the model also
    # writes "Not_in_SOURCES", which the reply parser reads as the same abstention.
    if head.startswith("NOT_IN") or (head and "NOT_IN_SOURCES".startswith(head)):
        return "…"
    return html.escape(_LIVE_MARKER.sub("", partial_reply))


# What only whoever runs the server can act on: an environment variable, a command-line flag,
# a command in backticks. Messages are written for the command line (index/, qa/llm/).
_OPERATOR = re.compile(r"CITEQA_[A-Z0-9_]+|(?<![\w/-])--[a-z][a-z0-9-]*|`[^`]+`")
_PAREN = re.compile(r"\s?\(([^()]*)\)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")
_CLAUSE = re.compile(r"(; |, or )")


def for_people(text: str, *, instead: str = "") -> str:
    """`text` (an error or a report reason) for a person using the page: the advice in it meant
    for whoever runs the server (set CITEQA_…, use --backend …, run `citeqa …`) is left out,
    clause by clause, and `instead` is said once in its place. Text with no such advice is
    returned as it is."""
    if not _OPERATOR.search(text):
        return text

    def paren(m: re.Match[str]) -> str:
        kept = [p.strip() for p in m.group(1).split(";") if not _OPERATOR.search(p)]
        return f" ({'; '.join(kept)})" if kept else ""

    text = _PAREN.sub(lambda m: paren(m) if _OPERATOR.search(m.group(1)) else m.group(0), text)
    sentences = []
    for sentence in _SENTENCE.split(text):
        if not _OPERATOR.search(sentence):
            sentences.append(sentence)
            continue
        parts = _CLAUSE.split(sentence)  # clause, separator, clause, …
        kept = [parts[0]] if not _OPERATOR.search(parts[0]) else []
        for sep, clause in zip(parts[1::2], parts[2::2], strict=True):
            if not _OPERATOR.search(clause):
                kept += [sep, clause] if kept else [clause[:1].upper() + clause[1:]]
        if kept:
            said = "".join(kept).rstrip(" ,;")
            end = sentence.rstrip()[-1:]
            sentences.append(said + (end if end in ".!?" and not said.endswith(end) else ""))
    out = " ".join(s for s in sentences if s.strip())
    return f"{out} {instead}".strip() if instead or out else OPERATOR_ONLY


# Said when a message held nothing but advice for whoever runs the server.
OPERATOR_ONLY = "This server is not set up for that; whoever runs it will find why in its log."


def answer_html(answer: Answer, turn: int, articles: Mapping[str, Article] | None = None) -> str:
    """The answer as the reader sees it: sentences with numbered chips, a plain confidence line,
    source cards, and a collapsed details view with the ids and offsets.

    Chip n of turn t has class `cq-t-n` for the page JS (the chat sanitizer strips data-*
    attributes but keeps classes). `articles` (by id) give the cards their outlet and date;
    without them a card shows the title the citation carries. No blank lines: the chat renders
    Markdown, and a blank line would end the HTML block."""
    e = html.escape
    if answer.abstained:
        near = "".join(f"<li>{e(s.title)}</li>" for s in answer.articles_found[:3])
        closest = f"<div class=closest>Closest sources:<ul>{near}</ul></div>" if near else ""
        why = f"<div class=why>Why: {e(answer.why_declined)}</div>" if answer.why_declined else ""
        return f"<div class=abstain>{e(answer.text)}</div>{why}{closest}"
    numbers = citation_numbers(answer)
    parts = []
    for s in answer.sentences:
        if not s.supported:
            continue
        chips = "".join(
            f'<button class="cite-chip cq-{turn}-{numbers[_key(c)]}"'
            f' title="{e(c.quote[:200])}">{numbers[_key(c)]}</button>'
            for c in s.citations
        )
        parts.append(f"{_sentence_html(s)} {chips}")
    return (
        "<div class=answer>" + " ".join(parts) + "</div>"
        + confidence_html(answer.confidence)
        + source_cards_html(answer, turn, articles or {})
        + details_html(answer)
    )  # fmt: skip


def _key(c: Citation) -> tuple[str, int, int]:
    return (c.article_id, c.start, c.end)


def citation_numbers(answer: Answer) -> dict[tuple[str, int, int], int]:
    """Each citation's chip number: its place in `Answer.citations` (first appearance)."""
    return {_key(c): n for n, c in enumerate(answer.citations, 1)}


def _sentence_html(s: AnswerSentence) -> str:
    """A sentence; one whose quotes hold only part of its key words is marked, with the share in
    words (support is measured per sentence, and the reader should know which one is weaker)."""
    text = html.escape(s.text)
    if s.support >= 1.0:
        return text
    share = f"{s.support:.0%}"
    note = f"Partly supported: {share} of this sentence's key words are in its quotes."
    return f'<span class=partly title="{note}">{text}</span>'


def confidence_html(confidence: float | None) -> str:
    """The calibrated chance the answer is right, said as a percentage (None: not measured)."""
    if confidence is None:
        return ""
    return (
        f"<p class=confidence>Confidence: {confidence:.0%} "
        "<span class=muted>(how likely this answer is right)</span></p>"
    )


def human_date(published_at: float | None) -> str:
    """A date as a reader writes it ("June 3, 2024"); the details view keeps the raw value."""
    if published_at is None:
        return ""
    d = datetime.fromtimestamp(published_at, UTC)
    return f"{d:%B} {d.day}, {d.year}"


def source_cards_html(answer: Answer, turn: int, articles: Mapping[str, Article]) -> str:
    """One card per cited article, in the order first cited: title, outlet, date, and each
    quote with its numbered chip (a 44 px touch target that opens the span in the viewer)."""
    e = html.escape
    numbers = citation_numbers(answer)
    also = {s.article_id: s.also_published_by for s in answer.sources if s.also_published_by}
    by_article: dict[str, list[Citation]] = {}
    for c in answer.citations:
        by_article.setdefault(c.article_id, []).append(c)
    cards = []
    for article_id, cites in by_article.items():
        article = articles.get(article_id)
        title = article.title if article else cites[0].title
        meta = [article.source or "", human_date(article.published_at)] if article else []
        meta = [m for m in meta if m]
        if article_id in also:
            meta.append("also published by " + ", ".join(also[article_id]))
        rows = "".join(
            f'<div class=card-quote><button class="cite-chip cq-{turn}-{numbers[_key(c)]} '
            f'card-chip" title="Open quote {numbers[_key(c)]} in the article">'
            f"{numbers[_key(c)]}</button><q>{e(c.quote)}</q></div>"
            for c in cites
        )
        meta_html = f"<div class=card-meta>{e(' · '.join(meta))}</div>" if meta else ""
        cards.append(
            f"<div class=source-card><div class=card-title>{e(title)}</div>{meta_html}{rows}</div>"
        )
    return f"<div class=source-cards>{''.join(cards)}</div>" if cards else ""


def details_html(answer: Answer) -> str:
    """What the cards leave out for people, for whoever checks: article ids, character
    offsets, each sentence's support and the confidence, as JSON in a collapsed block."""
    numbers = citation_numbers(answer)
    data = {
        "confidence": None if answer.confidence is None else round(answer.confidence, 4),
        "citations": [
            {"n": n, "article_id": c.article_id, "start": c.start, "end": c.end, "quote": c.quote}
            for n, c in enumerate(answer.citations, 1)
        ],  # fmt: skip
        "sentences": [
            {
                "text": s.text,
                "support": round(s.support, 4),
                "citations": [numbers[_key(c)] for c in s.citations],
            }
            for s in answer.sentences
            if s.supported
        ],  # fmt: skip
        "backend": answer.backend,
        "model": answer.model,
        "reading": answer.reading,
    }
    return details_block("answer-details", data)


# Shown under a draft while the model reads the sentences it cited a second time.
REREADING = "Checking: reading the cited sentences again…"


def draft_html(draft: Answer) -> str:
    """The first reading's verified answer while the second reading runs: its sentences
    without chips (the citation panel follows the answer given), and what is happening. A
    reply withheld for its kind and read again has no checked sentence: only the stage shows."""
    text = " ".join(html.escape(s.text) for s in draft.sentences if s.supported)
    stage = f"<p class=stage role=status>{REREADING}</p>"
    return f'<div class="answer draft">{text}</div>{stage}' if text else stage


def sources_details_html(sources: Sequence[Source]) -> str:
    """The passages' ids, offsets and scores, collapsed: for checking, not for reading."""
    if not sources:
        return ""
    data = [
        {"article_id": s.article_id, "chunk_id": s.chunk_id, "start": s.start, "end": s.end,
         "score": round(s.score, 4)}
        for s in sources
    ]  # fmt: skip
    return details_block("source-details", data, ensure_ascii=True)


def details_block(css_class: str, data: Any, *, ensure_ascii: bool = False) -> str:
    """`data` as JSON in a collapsed "Details" block (escaped: it holds article text)."""
    body = html.escape(json.dumps(data, ensure_ascii=ensure_ascii, indent=1))
    return f"<details class={css_class}><summary>Details</summary><pre>{body}</pre></details>"


def citations_list_html(answer: Answer, turn: int) -> str:
    e = html.escape
    items = "".join(
        f'<li><button class="cite-chip cq-{turn}-{n}">{n}</button> '
        f"<q>{e(c.quote)}</q> <span class=muted>— {e(c.title)} ({e(c.article_id)},"
        f" chars {c.start}-{c.end})</span></li>"
        for n, c in enumerate(answer.citations, 1)
    )
    return f"<ol class=citations>{items}</ol>" if items else ""


def _safe_url(url: str | None) -> str | None:
    if not url:
        return None
    parsed = urlparse(url.strip())
    return url.strip() if parsed.scheme in ("http", "https") and parsed.netloc else None


def article_html(
    article: Article, focus: Citation | None = None, others: list[Citation] | None = None
) -> str:
    """The whole article, the focused span in a strong highlight, other cited spans lighter,
    under a header that stays in view as the article scrolls (title, outlet, date, link) and,
    when spans are highlighted, "Highlight n of m" with buttons to step between them (the
    page's JS moves the focus; see app.py). The header's "Back to answer" shows only when the
    page opens the viewer as a bottom sheet (on a phone)."""
    e = html.escape
    marks = _marks(article, focus, others or [])
    out, pos = [], 0
    for start, end, kind in marks:
        out.append(e(article.text[pos:start]))
        mark_id = ' id="citeqa-focus"' if kind == "focus" else ""
        out.append(f'<mark class="{kind}"{mark_id}>{e(article.text[start:end])}</mark>')
        pos = end
    out.append(e(article.text[pos:]))
    body = "".join(out).replace("\n\n", "</p><p>").replace("\n", "<br>")
    meta = [e(m) for m in (article.source or "", human_date(article.published_at)) if m]
    url = _safe_url(article.url)
    if url:
        link = urlparse(url).netloc
        meta.append(
            f'<a href="{e(url)}" target="_blank" rel="noopener noreferrer" title="{e(url)}">'
            f"{e(link)} ↗</a>"
        )
    elif article.url:
        meta.append(e(article.url))  # not a web address: shown as text, never a link
    meta_html = f"<div class=meta>{' · '.join(meta)}</div>" if meta else ""
    return (
        f"<article class=citeqa-article><header class=article-head>{SHEET_BACK}"
        f"<h2>{e(article.title)}</h2>"
        f"{meta_html}{highlight_nav_html(marks)}</header>"
        f"<div class=article-body><p>{body}</p></div></article>"
    )


# The bottom sheet's way out (app.py's CSS shows it only while the viewer is a sheet).
SHEET_BACK = (
    '<button class=sheet-back type=button aria-label="Back to answer">‹ Back to answer</button>'
)


def _marks(
    article: Article, focus: Citation | None, others: list[Citation]
) -> list[tuple[int, int, str]]:
    """The spans to highlight, in text order, none overlapping: the focus always, and the other
    cited spans of this article that do not overlap an earlier kept one (or the focus)."""
    kept: list[tuple[int, int, str]] = []
    if focus is not None and focus.article_id == article.id:
        kept.append((focus.start, focus.end, "focus"))
    spans = sorted({(c.start, c.end) for c in others if c.article_id == article.id})
    for start, end in spans:
        if all(end <= s or start >= t for s, t, _ in kept):
            kept.append((start, end, "cited"))
    return sorted(kept)


def highlight_nav_html(marks: list[tuple[int, int, str]]) -> str:
    """The bar "Highlight n of m ‹ ›" over the article's highlighted spans (none: no bar): n is
    the focused span's place in the text; the buttons are disabled at either end."""
    if not marks:
        return ""
    kinds = [kind for _, _, kind in marks]
    n = kinds.index("focus") + 1 if "focus" in kinds else 0
    prev_off = " disabled" if n <= 1 else ""
    next_off = " disabled" if n >= len(marks) else ""
    return (
        f'<div class=hl-nav><button class=hl-prev aria-label="Previous highlight"{prev_off}>‹'
        f"</button><span class=hl-pos>Highlight <span class=hl-n>{n}</span> of "
        f"<span class=hl-m>{len(marks)}</span></span><button class=hl-next "
        f'aria-label="Next highlight"{next_off}>›</button></div>'
    )


def no_match_html(wanted: str, articles: list[dict[str, Any]]) -> str:
    """Filters that exclude every article: say so, and what the index holds to choose from
    (its sources with their article counts, and the range of its dates). `wanted` describes
    the filters as the reader set them; `articles` are the index's article records."""
    e = html.escape
    if not articles:
        held = "The index has no articles yet: add some in the Library."
    else:
        held = f"{inventory_text(articles)} Change or clear the filters in Settings."
    return (
        f"<div class=no-match role=status><p><b>No article matches {e(wanted)}</b>, so nothing "
        f"was searched.</p><p>{e(held)}</p></div>"
    )


def inventory_text(articles: list[dict[str, Any]]) -> str:
    """The index's sources (how many articles each) and date range, in a sentence or two."""
    counts: dict[str, int] = {}
    for a in articles:
        if a.get("source"):
            counts[a["source"]] = counts.get(a["source"], 0) + 1
    no_source = sum(1 for a in articles if not a.get("source"))
    dates = sorted(a["published_at"] for a in articles if a.get("published_at") is not None)
    undated = len(articles) - len(dates)
    names = ", ".join(
        f"{name} ({n})" for name, n in sorted(counts.items(), key=lambda kv: kv[0].casefold())
    )
    parts = [f"Sources in the index: {names}." if names else "No article names its source."]
    if no_source and names:
        parts.append(f"{_articles(no_source)} without a source.")
    if dates:
        first, last = human_date(dates[0]), human_date(dates[-1])
        span = first if first == last else f"{first} to {last}"
        parts.append(f"Published {span}" + (f"; {_articles(undated)} undated." if undated else "."))
    else:
        parts.append("No article has a date.")
    return " ".join(parts)


def _articles(n: int) -> str:
    return f"{n} article" if n == 1 else f"{n} articles"


def ingest_report_html(rows: Sequence[Sequence[Any]]) -> str:
    """The ingest report as the Library shows it: one block per file or item (name and result,
    then its article id and chunk count, then the reason), every part wrapping within the
    block, so a long reason (a collision note, a date the loader could not read) is read
    whole on a phone instead of overflowing the table or being cut. `rows` are the report's
    table rows: [file, result, article id, chunks, reason]."""
    e = html.escape
    items = []
    for file, status, article_id, chunks, reason in rows:
        meta = []
        if article_id:
            meta.append(f"id {article_id}")
        if chunks:
            meta.append(f"{chunks} chunk" + ("" if str(chunks) == "1" else "s"))
        meta_html = f"<div class=report-meta>{e(' · '.join(meta))}</div>" if meta else ""
        reason = for_people(str(reason)) if reason else ""
        why = f"<div class=report-reason>{e(reason)}</div>" if reason else ""
        kind = re.sub(r"[^a-z]", "", str(status).lower())
        items.append(
            f"<li class='report-row {kind}'><div class=report-head><span class=report-file>"
            f"{e(str(file))}</span> <span class=report-status>{e(str(status))}</span></div>"
            f"{meta_html}{why}</li>"
        )
    return f"<ul class=report-rows>{''.join(items)}</ul>" if items else ""
