"""HTML for the chat page: answers with citation chips, and articles with highlighted spans.

Article text, titles and URLs are untrusted: everything from an article goes through
`html.escape`, and only http(s) URLs become links.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from qa.types import Answer, Article, Citation

_LIVE_MARKER = re.compile(r"\s*\[S\d*\]?|\s*\[$")


def live_text(partial_reply: str) -> str:
    """A reply being streamed, with the [S#] ids hidden (chips are added when it is verified)."""
    head = partial_reply.strip()
    # While the reply could still become NOT_IN_SOURCES ("N", "NOT", "NOT_IN…"), show nothing:
    # "NOT" flashed as the answer before an abstention.
    if head.startswith("NOT_IN") or (head and "NOT_IN_SOURCES".startswith(head)):
        return "…"
    return html.escape(_LIVE_MARKER.sub("", partial_reply))


def answer_html(answer: Answer, turn: int) -> str:
    """Sentences with numbered chips; chip n of turn t has class `cq-t-n` for the page JS (the
    chat sanitizer strips data-* attributes but keeps classes)."""
    e = html.escape
    if answer.abstained:
        near = "".join(
            f"<li>{e(s.title)} <span class=muted>({e(s.article_id)})</span></li>"
            for s in _unique_sources(answer)[:3]
        )
        closest = f"<div class=closest>Closest sources:<ul>{near}</ul></div>" if near else ""
        return f"<div class=abstain>{e(answer.text)}</div>{closest}"
    numbers = {(c.article_id, c.start, c.end): n for n, c in enumerate(answer.citations, 1)}
    parts = []
    for s in answer.sentences:
        if not s.supported:
            continue
        chips = "".join(
            f'<button class="cite-chip cq-{turn}-{numbers[(c.article_id, c.start, c.end)]}"'
            f' title="{e(c.quote[:200])}">{numbers[(c.article_id, c.start, c.end)]}</button>'
            for c in s.citations
        )
        parts.append(f"{e(s.text)} {chips}")
    return "<div class=answer>" + " ".join(parts) + "</div>"


def _unique_sources(answer: Answer) -> list[Any]:
    seen, out = set(), []
    for s in answer.sources:
        if s.article_id not in seen:
            seen.add(s.article_id)
            out.append(s)
    return out


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
    """The whole article, the focused span in a strong highlight, other cited spans lighter."""
    e = html.escape
    marks: list[tuple[int, int, str]] = []
    for c in others or []:
        if c.article_id == article.id and (
            focus is None or (c.start, c.end) != (focus.start, focus.end)
        ):
            marks.append((c.start, c.end, "cited"))
    if focus is not None and focus.article_id == article.id:
        marks.append((focus.start, focus.end, "focus"))
    marks.sort()
    out, pos = [], 0
    for start, end, kind in marks:
        if start < pos:  # overlapping spans: show the earlier one only
            continue
        out.append(e(article.text[pos:start]))
        mark_id = ' id="citeqa-focus"' if kind == "focus" else ""
        out.append(f'<mark class="{kind}"{mark_id}>{e(article.text[start:end])}</mark>')
        pos = end
    out.append(e(article.text[pos:]))
    body = "".join(out).replace("\n\n", "</p><p>").replace("\n", "<br>")
    meta = []
    if article.source:
        meta.append(e(article.source))
    if article.published_at is not None:
        meta.append(datetime.fromtimestamp(article.published_at, UTC).strftime("%Y-%m-%d"))
    url = _safe_url(article.url)
    if url:
        meta.append(f'<a href="{e(url)}" target="_blank" rel="noopener noreferrer">{e(url)}</a>')
    elif article.url:
        meta.append(e(article.url))
    return (
        f"<article class=citeqa-article><h2>{e(article.title)}</h2>"
        f"<div class=meta>{' · '.join(meta)} <span class=muted>{e(article.id)}</span></div>"
        f"<p>{body}</p></article>"
    )
