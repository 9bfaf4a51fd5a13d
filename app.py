"""The citeqa chat page (gradio). Layout and event wiring only: logic lives in qa/ and index/.

Run `citeqa serve` or `python app.py`. Binds 127.0.0.1 by default; `share` is never turned on.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # gradio otherwise phones home
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import gradio as gr  # noqa: E402

from index.fetch import check_url, is_url  # noqa: E402
from qa.asked import reworded  # noqa: E402
from qa.assistant import Assistant, check_question  # noqa: E402
from qa.errors import (  # noqa: E402
    BackendError,
    CiteqaError,
    InputError,
    ModelError,
    NotFoundError,
)
from qa.llm import registry  # noqa: E402
from qa.render import (  # noqa: E402
    answer_html,
    article_html,
    citations_list_html,
    draft_html,
    for_people,
    ingest_report_html,
    live_text,
    no_match_html,
    sources_details_html,
)
from qa.settings import Settings  # noqa: E402
from qa.types import (  # noqa: E402
    Answer,
    Article,
    Draft,
    IngestReport,
    Retrieved,
    Source,
    TextDelta,
)

log = logging.getLogger("citeqa.app")
# An article another tab (or process) removed while this one still lists it.
GONE = "That article is no longer in the index (it was removed meanwhile). Pick another."
SAMPLE_DIR = Path(__file__).resolve().parent / "examples" / "articles"
# The date filter fields, named so in their labels and in what a bad date's notice says.
AFTER_LABEL = "Published on/after"
BEFORE_LABEL = "Published on/before"

CSS = """
.hidden-control { display: none !important; }
.cite-chip { position: relative; display: inline-block; min-width: 1.7em; padding: .1em .5em;
  margin: 0 .15em; border-radius: .9em; border: 1px solid #2f6db5; background: #e8f0fb;
  color: #1d4f8c; font-size: .85em; font-weight: 600; line-height: 1.5; cursor: pointer;
  vertical-align: .1em; }
.cite-chip::after { content: ""; position: absolute; inset: -10px -6px; } /* a finger's reach */
.cite-chip:hover, .cite-chip:focus-visible { background: #2f6db5; color: #fff; }
.confidence { margin: .5em 0 0; font-size: .9em; }
.partly { text-decoration: underline dotted #b07a00; text-underline-offset: 3px; }
.source-cards { display: grid; gap: .5em; margin-top: .6em; }
.source-card { border: 1px solid #d5dce8; border-radius: 10px; padding: .5em .75em;
  background: #f8fafd; color: #222; }
.card-title { font-weight: 600; } .card-meta { color: #5b6472; font-size: .85em; }
.card-quote { display: flex; gap: .6em; align-items: center; margin-top: .45em; }
.card-quote q { font-size: .95em; }
.cite-chip.card-chip { flex: none; min-width: 44px; min-height: 44px; margin: 0;
  border-radius: 22px; font-size: 1rem; vertical-align: middle; }
.cite-chip.card-chip::after { content: none; }
.answer-details, .source-details { margin-top: .5em; font-size: .85em; color: #555; }
.answer-details pre, .source-details pre { white-space: pre-wrap; word-break: break-word;
  max-height: 16em; overflow: auto; font-size: .85em; }
.abstain { font-style: italic; color: #7a4b00; }
.why { color: #555; font-size: .9em; margin-top: .2em; }
.closest ul { margin: .3em 0 0 1.2em; } .muted { color: #777; font-size: .9em; }
.citeqa-article { position: relative; max-height: 70vh; overflow-y: auto; padding: 0 1em .5em;
  line-height: 1.6; font-size: 15px; overscroll-behavior: contain; }
.article-head { position: sticky; top: 0; z-index: 2; padding: .6em 0 .5em;
  background: var(--body-background-fill, #fff); border-bottom: 1px solid #e3e6ec; }
.article-head h2 { margin: 0 0 .15em; font-size: 1.25em; line-height: 1.3; }
.article-head .meta { color: #5b6472; font-size: .9em; }
.hl-nav { display: flex; align-items: center; gap: .5em; margin-top: .4em; font-size: .9em; }
.hl-nav button { width: 44px; height: 36px; padding: 0; border: 1px solid #c9d3e3;
  border-radius: 8px; background: #f4f7fc; color: #1d4f8c; font-size: 1.5em; line-height: 1;
  cursor: pointer; }
.hl-nav button:disabled { opacity: .4; cursor: default; }
.article-body { padding-top: .5em; }
.citeqa-article mark.focus { background: #ffd54a; color: #111; padding: 0 .1em;
  border-radius: 3px; box-shadow: 0 0 0 2px #f0b400; }
.citeqa-article mark.cited { background: #fff3c4; color: #111; }
ol.citations { padding-left: 1.2em; } ol.citations li { margin: .4em 0; }
ol.citations q { background: #fffbe6; } .searched { color: #555; font-size: .9em; }
.no-match p { margin: .2em 0; }
.stage { color: #555; font-style: italic; margin: 0; } .stopped { color: #555; }
.answer.draft { color: #555; }
#first-run { border: 1px solid #cfd8ea; border-radius: 12px; padding: 1em 1.2em;
  background: #f5f8fe; }
.first-run-text h2 { margin: 0 0 .4em; font-size: 1.3em; }
.first-run-text p { margin: 0; line-height: 1.5; color: #333; }
.notice { color: #8a1c1c; margin: .2em 0; } .answer-error { color: #8a1c1c; }
.done { color: #1f5f3a; margin: .2em 0; }
.report-rows { list-style: none; margin: .2em 0; padding: 0; display: grid; gap: .4em; }
.report-row { min-width: 0; border: 1px solid #dde3ec; border-left: 4px solid #9aa5b1;
  border-radius: 8px; padding: .45em .7em; background: #fbfcfe; }
.report-row.added, .report-row.replaced { border-left-color: #2e8b57; }
.report-row.rejected { border-left-color: #b3261e; }
.report-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: .2em .6em; }
.report-file { font-weight: 600; overflow-wrap: anywhere; min-width: 0; }
.report-status { font-size: .85em; padding: 0 .55em; border-radius: 1em; background: #eef2f7; }
.report-row.rejected .report-status { background: #fbe9e7; color: #8a1c1c; }
.report-meta { color: #5b6472; font-size: .85em; overflow-wrap: anywhere; }
.report-reason { margin-top: .2em; font-size: .9em; line-height: 1.45; white-space: normal;
  overflow-wrap: anywhere; }
.library-panel { border: 1px solid #cfd8ea; border-radius: 10px; padding: .6em .8em;
  background: #f5f8fe; }
.confirm-text { margin: 0; line-height: 1.5; } .panel-title { margin: 0; font-size: 1.05em; }
#remove-yes, #remove-article { color: #a3221b; border-color: #e6b8b3; }
#library-actions button { white-space: nowrap; padding-left: .4em; padding-right: .4em; }
/* On a phone (the viewer under the chat), a citation opens the viewer as a bottom sheet over
   the answer; see window.citeqaSheet in JS. Its "Back to answer" shows only then. */
.sheet-back { display: none; }
body.cq-sheet { overflow: hidden; }
body.cq-sheet::after { content: ""; position: fixed; inset: 0; z-index: 999;
  background: rgba(20, 28, 40, .45); }
body.cq-sheet #article-view { position: fixed !important; left: 0; right: 0; bottom: 0;
  top: auto; z-index: 1000; height: 88vh; height: 88dvh; margin: 0; padding: 0;
  border-radius: 16px 16px 0 0; box-shadow: 0 -8px 28px rgba(0, 0, 0, .28); overflow: hidden;
  background: var(--body-background-fill, #fff); }
body.cq-sheet #article-view .citeqa-article { height: 88vh; height: 88dvh; max-height: none;
  box-sizing: border-box; }
body.cq-sheet .article-head { padding-top: .5em; }
body.cq-sheet .sheet-back { display: inline-flex !important; align-items: center; min-height: 44px;
  padding: 0 1em; margin-bottom: .35em; border: 1px solid #c9d3e3; border-radius: 22px;
  background: #f4f7fc; color: #1d4f8c; font-size: .95em; font-weight: 600; cursor: pointer; }
"""

JS = """
() => {
  // Scroll the article viewer (not the page) so `mark` sits in the middle of what shows below
  // the sticky header. The page itself moves only when the viewer is off screen (a phone,
  // where it sits under the chat), and then just far enough to show the viewer's top.
  window.citeqaReveal = (mark) => {
    const box = mark && mark.closest('.citeqa-article');
    if (!box) return;
    const head = box.querySelector('.article-head');
    const headH = head ? head.offsetHeight : 0;
    const top = mark.getBoundingClientRect().top - box.getBoundingClientRect().top
      + box.scrollTop;
    const room = box.clientHeight - headH;
    box.scrollTo({ top: top - headH - Math.max(0, (room - mark.offsetHeight) / 2),
                   behavior: 'smooth' });
    const r = box.getBoundingClientRect();
    if (r.top < 0 || r.top > window.innerHeight - 160) {
      window.scrollBy({ top: r.top - 8, behavior: 'smooth' });
    }
  };
  // "Highlight n of m ‹ ›": move the focus to the previous or next highlighted span.
  const step = (button, by) => {
    const box = button.closest('.citeqa-article');
    const marks = [...box.querySelectorAll('mark.cited, mark.focus')];
    const at = marks.findIndex((m) => m.classList.contains('focus'));
    const to = Math.min(marks.length - 1, Math.max(0, at + by));
    if (to === at) return;
    if (at >= 0) { marks[at].classList.replace('focus', 'cited'); marks[at].removeAttribute('id'); }
    marks[to].classList.replace('cited', 'focus');
    marks[to].id = 'citeqa-focus';
    box.querySelector('.hl-n').textContent = String(to + 1);
    box.querySelector('.hl-prev').disabled = to === 0;
    box.querySelector('.hl-next').disabled = to === marks.length - 1;
    window.citeqaReveal(marks[to]);
  };
  // The bottom sheet. Where the viewer sits under the chat (a phone), a citation opens it as
  // a sheet over the answer; "Back to answer" (or Escape, or a tap above the sheet) closes it
  // and puts the page back where the reader was. Side by side (a desktop), nothing changes.
  const sheet = { y: 0, chip: null, pending: false };
  const stacked = () => {
    const side = document.getElementById('side'), chat = document.getElementById('chat');
    return !!side && !!chat
      && side.getBoundingClientRect().top >= chat.getBoundingClientRect().bottom - 1;
  };
  const view = () => document.getElementById('article-view');
  window.citeqaSheet = () => {
    if (!sheet.pending || !stacked() || !view()) return;
    sheet.pending = false;
    // Keep the page's height while the viewer leaves the flow: the answer behind the sheet
    // stays where it was (the browser would otherwise pull a shortened page up).
    document.body.style.minHeight = document.documentElement.scrollHeight + 'px';
    document.body.classList.add('cq-sheet');
    const v = view();
    v.setAttribute('role', 'dialog');
    v.setAttribute('aria-modal', 'true');
    v.setAttribute('aria-label', 'Source');
    const back = v.querySelector('.sheet-back');
    if (back) back.focus({ preventScroll: true });
  };
  const closeSheet = () => {
    if (!document.body.classList.contains('cq-sheet')) return;
    document.body.classList.remove('cq-sheet');
    document.body.style.minHeight = '';
    const v = view();
    ['role', 'aria-modal', 'aria-label'].forEach((a) => v && v.removeAttribute(a));
    window.scrollTo({ top: sheet.y, behavior: 'instant' });
    if (sheet.chip && sheet.chip.isConnected) sheet.chip.focus({ preventScroll: true });
  };
  // The chat's scrolling (gradio's autoscroll is off: it scrolls to the end of every reply).
  // A new question and a reply being written are followed to the bottom; a finished reply
  // taller than the box is shown from its question down, so the reader starts at its first
  // sentence rather than at its last card.
  const follow = { asked: 0, done: 0 };
  const scrollChat = () => {
    const chat = document.getElementById('chat');
    const box = chat && chat.querySelector('.bubble-wrap');
    if (!box) return;
    const users = chat.querySelectorAll('[data-testid="user"]');
    const bots = chat.querySelectorAll('[data-testid="bot"]');
    if (users.length < follow.asked) Object.assign(follow, { asked: 0, done: 0 });  // cleared
    const last = bots[bots.length - 1];
    const finished = !!last && bots.length >= users.length
      && !!last.querySelector('.answer, .abstain, .no-match, .answer-error, .stopped');
    const nearEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 100;
    if (users.length > follow.asked || (!finished && nearEnd)) {
      follow.asked = users.length;
      box.scrollTop = box.scrollHeight;
    }
    if (!finished || follow.done === bots.length) return;
    follow.done = bots.length;
    const question = users[users.length - 1];
    const label = chat.querySelector('[data-testid="block-label"]');
    const top = box.scrollTop + question.getBoundingClientRect().top
      - box.getBoundingClientRect().top - (label ? label.offsetHeight + 8 : 8);
    box.scrollTop = box.scrollHeight - top > box.clientHeight ? top : box.scrollHeight;
  };
  new MutationObserver(scrollChat).observe(document.body, { childList: true, subtree: true });
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') closeSheet(); });
  window.addEventListener('resize', () => { if (!stacked()) closeSheet(); });
  document.addEventListener('click', (ev) => {
    if (document.body.classList.contains('cq-sheet')) {
      if (ev.target.closest('.sheet-back') || !ev.target.closest('#article-view')) {
        ev.preventDefault();
        closeSheet();
        return;
      }
    }
    const nav = ev.target.closest('.hl-prev, .hl-next');
    if (nav) { step(nav, nav.classList.contains('hl-next') ? 1 : -1); return; }
    const chip = ev.target.closest('.cite-chip');
    if (!chip) return;
    ev.preventDefault();
    Object.assign(sheet, { y: window.scrollY, chip, pending: true });
    const box = document.querySelector('#cite-target textarea, #cite-target input');
    const tag = [...chip.classList].find((c) => c.startsWith('cq-'));
    if (!tag) return;
    box.value = tag.slice(3).replace('-', ':');
    box.dispatchEvent(new Event('input', { bubbles: true }));
    setTimeout(() => document.querySelector('#cite-open').click(), 60);
  });
}
"""

SCROLL_JS = """
() => { setTimeout(() => { window.citeqaSheet();
  window.citeqaReveal(document.getElementById('citeqa-focus')); }, 150); }
"""


FIRST_RUN = (
    "<div class=first-run-text><h2>Ask questions about news articles, get answers you can "
    "check</h2><p>citeqa answers from the articles you add, and only from them. Every sentence "
    "of an answer comes with the exact quote it rests on: click its number to see the quote "
    "highlighted in the article. When the articles don't say, citeqa says so.</p></div>"
)
# "Add your articles": the Library tab is selected; on a phone it sits under the chat.
LIBRARY_JS = """
() => { setTimeout(() => { const up = document.querySelector('#upload');
  if (up && up.getBoundingClientRect().top > window.innerHeight)
    up.scrollIntoView({ block: 'start', behavior: 'smooth' }); }, 150); }
"""

STOPPED = (
    "<div class=stopped role=status>Stopped: no answer was written. Ask again when you're "
    "ready.</div>"
)
# The Stop and Ask buttons: Stop takes Ask's place while an answer is under way.
ANSWERING = (gr.update(visible=True, interactive=True, value="Stop"), gr.update(visible=False))
IDLE = (gr.update(visible=False), gr.update(visible=True))

RETRIEVED_PLACEHOLDER = "<p class=muted>Retrieved passages appear here.</p>"
CHOOSE_FILES = (
    "Choose one or more .txt, .md, .html, .jsonl, .json or feed (.rss .atom .xml) files first, "
    "then Add to index."
)
SEARCHING = "<p class=muted>Searching the articles…</p>"


def notice_html(text: str) -> str:
    """A notice in place (under the question box, in the Library, in the viewer); advice for
    whoever runs the server (environment variables, flags, commands) is left out."""
    import html

    return f"<p class=notice role=alert>{html.escape(for_people(text))}</p>"


def error_html(text: str, instead: str = "") -> str:
    """A failed answer, in the reply's place; advice meant for whoever runs the server gives
    way to `instead`, what the reader can do."""
    import html

    said = html.escape(for_people(text, instead=instead))
    return f"<div class=answer-error role=alert>No answer: {said}</div>"


def _what_to_do(e: CiteqaError) -> str:
    """What a reader of the page can do about an answer that failed with `e`."""
    if isinstance(e, BackendError | ModelError):
        return "Try again, or choose another backend in Settings."
    return "Whoever runs this server will find the details in its log."


class ChatPage:
    """Handlers bound to one shared Assistant; per-browser state lives in gr.State."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        # Sessions whose Stop was pressed: their answer under way stops at its next step.
        self._stopping: set[str] = set()

    # --- asking ---------------------------------------------------------------------------

    def respond(
        self,
        message: str,
        chat: list[dict[str, Any]],
        answers: list[Answer],
        backend: str,
        k: float,
        sources: str,
        after: str,
        before: str,
        request: gr.Request = None,  # type: ignore[assignment] - gradio passes it
    ) -> Iterator[tuple[Any, ...]]:
        """Outputs: chat, answers, quote list, sources panel, question box, notice, Stop, Ask.

        The question and a stage line ("Searching 3 articles…") appear at once and the previous
        answer's panels are cleared; the sources follow as soon as retrieval is done, with
        "Writing the answer…" until the first words. Input mistakes (an empty question, a bad
        date) are shown under the box, which keeps the text to fix; a failure while answering
        replaces the placeholder. Stop takes Ask's place while an answer is under way. Nothing
        covers the page."""
        from qa.filters import parse_filters

        chat = list(chat or [])
        answers = list(answers or [])
        skip = gr.skip
        try:
            check_question(message)
            filters = parse_filters(
                [s.strip() for s in (sources or "").split(",") if s.strip()],
                (after or "").strip() or None,
                (before or "").strip() or None,
                names=(AFTER_LABEL, BEFORE_LABEL),
            )
        except InputError as e:
            yield chat, answers, skip(), skip(), skip(), notice_html(str(e)), skip(), skip()
            return
        session = _session(request)
        self._stopping.discard(session)  # a Stop pressed before this question is not for it
        chat += [{"role": "user", "content": message}, _stage("Searching the articles…")]
        yield chat, answers, "", SEARCHING, "", "", *ANSWERING
        # Counted from records read only when the index changed (not every record, every
        # question).
        searched = self.assistant.article_count(filters or None)
        if filters and not searched:
            # Nothing to search: say so, and what there is, rather than "The articles don't
            # say." (the model is not asked; the question goes back to the box). Only here are
            # the records read, to list what there is.
            held = self.assistant.articles()
            said = no_match_html(filters_text(sources, after, before), held)
            chat[-1] = {"role": "assistant", "content": said}
            yield chat, answers, "", said, message, "", *IDLE
            return
        if searched:
            chat[-1] = _stage(f"Searching {_count(searched, 'article')}…")
            # Stop and Ask are sent again with each stage: the page throttles a generator's
            # quick updates and may apply only the latest (gradio PR 7084), and a stage that
            # skipped the buttons then left Stop hidden (once in a full CI run, 2026-12-07).
            yield chat, answers, skip(), skip(), skip(), skip(), *ANSWERING
        stream: Iterator[Retrieved | TextDelta | Draft | Answer] | None = None
        # The Sources panel once the answer ends unanswered (stopped, failed): what retrieval
        # found stays, as it was for this question; before retrieval, the placeholder (not
        # "Searching…", and not a blank panel).
        panel: Any = RETRIEVED_PLACEHOLDER
        try:
            history = session_history(answers)
            stream = self.assistant.stream(
                message, history=history, filters=filters or None, k=int(k), backend=backend
            )
            partial = ""
            for event in stream:
                if session in self._stopping:
                    # Stop: the stream is closed below (which ends generation); nothing of the
                    # unfinished reply is kept, and follow-ups are not rewritten with it.
                    self._stopping.discard(session)
                    chat[-1] = {"role": "assistant", "content": STOPPED}
                    yield chat, answers, "", panel, message, skip(), *IDLE
                    return
                if isinstance(event, Retrieved):
                    # What retrieval found, shown while the model is still reading the prompt.
                    sources_html = self._sources_html(
                        event.sources, message, event.standalone_question
                    )
                    # Sent again (not a no-change update) if the answer then fails, so an API
                    # client reads the passages too, as the page shows them.
                    panel = sources_html
                    found = len({s.article_id for s in event.sources})
                    writing = f"Writing the answer from {_count(found, 'article')}…"
                    chat[-1] = _stage(writing if found else "Writing the answer…")
                    yield chat, answers, skip(), sources_html, skip(), skip(), *ANSWERING
                elif isinstance(event, TextDelta):
                    partial += event.text
                    live = live_text(partial)
                    if live and live != "…":  # else the stage line stays
                        chat[-1] = {"role": "assistant", "content": live}
                        yield chat, answers, skip(), skip(), skip(), skip(), skip(), skip()
                elif isinstance(event, Draft):
                    # Checked already, shown as the draft it is until the second reading ends.
                    chat[-1] = {"role": "assistant", "content": draft_html(event.answer)}
                    yield chat, answers, skip(), skip(), skip(), skip(), skip(), skip()
                else:
                    answers.append(event)
                    turn = len(answers) - 1
                    cards = answer_html(event, turn, self._cited_articles(event))
                    chat[-1] = {"role": "assistant", "content": cards}
                    yield (
                        chat, answers, citations_list_html(event, turn), self._sources(event),
                        skip(), skip(), *IDLE,
                    )  # fmt: skip
        except CiteqaError as e:
            log.warning("answering failed: %s", e)  # all of it, for whoever runs the server
            chat[-1] = {"role": "assistant", "content": error_html(str(e), _what_to_do(e))}
            yield chat, answers, "", panel, message, skip(), *IDLE
        except Exception as e:  # never a traceback in the page
            log.exception("answering failed")
            text = f"Something went wrong while answering: {type(e).__name__}: {e}"
            chat[-1] = {"role": "assistant", "content": error_html(text)}
            yield chat, answers, "", panel, message, skip(), *IDLE
        finally:
            # Stopped, failed or closed by gradio: closing the stream closes the model's, which
            # ends generation and frees the model for the next question.
            if stream is not None:
                stream.close()  # type: ignore[attr-defined]

    def stop(self, request: gr.Request = None) -> Any:  # type: ignore[assignment]
        """Stop: this session's answer under way stops at its next step (the model's next
        word; a model still reading the prompt finishes reading it first) and says "Stopped".
        A flag the answer reads rather than gradio's `cancels`: a question asked right after a
        cancel could be cancelled too, and then never answered."""
        self._stopping.add(_session(request))
        return gr.update(interactive=False, value="Stopping…")

    @staticmethod
    def clear() -> tuple[list[Answer], str, str, str]:
        """The trash icon: the answers kept for follow-ups go too, and their panels."""
        return [], "", RETRIEVED_PLACEHOLDER, ""

    def _cited_articles(self, answer: Answer) -> dict[str, Article]:
        """The cited articles by id, for the cards' outlet and date. One that cannot be read
        (removed meanwhile) is left out: its card shows the title the citation carries."""
        found: dict[str, Article] = {}
        for article_id in dict.fromkeys(c.article_id for c in answer.citations):
            try:
                found[article_id] = self.assistant.get_article(article_id)
            except CiteqaError:
                log.warning("cited article %r is gone", article_id)
        return found

    def _sources(self, answer: Answer) -> str:
        return self._sources_html(answer.sources, answer.question, answer.standalone_question)

    @staticmethod
    def _sources_html(sources: tuple[Source, ...], question: str, standalone: str | None) -> str:
        """The retrieved passages, after the standalone question when a follow-up was rewritten
        (so the reader sees what was actually searched for)."""
        import html

        searched = ""
        if standalone and reworded(question, standalone):
            searched = f"<p class=searched>Searched for: <q>{html.escape(standalone)}</q></p>"

        def also(s: Source) -> str:
            names = html.escape(", ".join(s.also_published_by))
            return f" <span class=also>also published by {names}</span>" if names else ""

        rows = "".join(
            f"<li><b>{html.escape(s.title)}</b>{also(s)}<br>{html.escape(s.text[:240])}…</li>"
            for s in sources
        )
        return f"{searched}<ol>{rows}</ol>{sources_details_html(sources)}"

    def open_citation(self, target: str, answers: list[Answer]) -> tuple[str, Any]:
        try:
            turn, n = (int(x) for x in target.split(":"))
            answer = answers[turn]
            citation = answer.citations[n - 1]
        except (ValueError, IndexError):  # said in the viewer: nothing covers the page
            log.warning("bad citation target %r (%d answers)", target, len(answers or []))
            said = "That citation is no longer available; ask again."
            return notice_html(said), gr.Tabs(selected="article")
        try:
            article = self.assistant.get_article(citation.article_id)
        except NotFoundError:
            return notice_html(GONE), gr.Tabs(selected="article")
        except CiteqaError as e:
            return notice_html(str(e)), gr.Tabs(selected="article")
        return article_html(article, citation, list(answer.citations)), gr.Tabs(selected="article")

    # --- library --------------------------------------------------------------------------

    def upload(
        self,
        files: list[Any] | None,
        progress: Any = gr.Progress(track_tqdm=True),  # noqa: B008 - gradio injects it
    ) -> tuple[list[list[Any]], Any, Any, Any]:
        """Outputs: report, library, article picker, the first-run panel (hidden once anything
        is indexed)."""
        skip = gr.skip()
        if not files:  # a row of the report, like a bad file: no overlay covers the Library
            return [["", "rejected", "", 0, CHOOSE_FILES]], skip, skip, skip
        paths = [Path(f if isinstance(f, str) else f.name) for f in files]
        try:
            # tqdm, mirrored in the page; rejected files are rows of the report, with why
            report = self.assistant.add(paths, progress=True)
        except CiteqaError as e:  # the index busy or unwritable: said in the report too
            log.warning("upload failed: %s", e)
            return [["", "rejected", "", 0, str(e)]], skip, skip, skip
        table = self.article_table()
        return report_rows(report), table, self.article_choices(), gr.update(visible=not table)

    def fetch_url(
        self,
        url: str,
        fetch_links: bool,
        progress: Any = gr.Progress(track_tqdm=True),  # noqa: B008 - gradio injects it
    ) -> tuple[list[list[Any]], Any, Any, Any]:
        """The Library's web address (only offered with `allow_fetch`): a page, or a feed whose
        items (with `fetch_links`, their pages) become articles. A bad address is a row of the
        report, like a bad file, so nothing covers the page."""
        url = (url or "").strip()
        problem = "type a web address (https://…) first" if not url else check_url(url)
        if problem or not self.assistant.settings.allow_fetch:
            reason = problem or "fetching web addresses is off on this server"
            return [[url, "rejected", "", 0, reason]], gr.skip(), gr.skip(), gr.skip()
        report = self.assistant.add([url], progress=True, fetch_links=fetch_links)
        table = self.article_table()
        return report_rows(report), table, self.article_choices(), gr.update(visible=not table)

    def add_sample(self) -> tuple[Any, Any, Any]:
        self.assistant.add([SAMPLE_DIR])
        return self.article_table(), self.article_choices(), gr.update(visible=False)

    def on_load(self) -> tuple[Any, Any, Any]:
        """Each new page view: fresh library, and the first-run panel only while the index is
        empty."""
        table = self.article_table()
        return gr.update(visible=not table), table, self.article_choices()

    def article_table(self) -> list[list[Any]]:
        return [
            [a["id"], a.get("title", ""), a.get("n_chunks", 0)] for a in self.assistant.articles()
        ]

    def article_choices(self, selected: str | None = None) -> Any:
        return gr.update(choices=[a["id"] for a in self.assistant.articles()], value=selected)

    def _picked(self, article_id: str | None, action: str) -> Article | str:
        """The picked article, or the Library notice saying what to do instead."""
        if not article_id:
            return notice_html(f"Pick an article in the list first, then {action}.")
        try:
            return self.assistant.get_article(article_id)
        except NotFoundError:
            return notice_html(GONE)

    def ask_remove(self, article_id: str | None) -> tuple[Any, str, str | None, str, Any]:
        """Remove, first step: ask in the page (not a browser dialog) whether to remove the
        picked article, by its title. Outputs: the confirm panel, its question, the article
        waiting for the answer, the Library notice, the editor (closed)."""
        picked = self._picked(article_id, "Remove")
        if isinstance(picked, str):
            return gr.update(visible=False), "", None, picked, gr.update(visible=False)
        question = remove_question_html(picked)
        return gr.update(visible=True), question, picked.id, "", gr.update(visible=False)

    @staticmethod
    def cancel_remove() -> tuple[Any, None]:
        """Cancel: the question goes, the article stays."""
        return gr.update(visible=False), None

    def remove(self, article_id: str | None) -> tuple[Any, Any, Any, None, str, Any]:
        """Remove, confirmed: `article_id` is the article the question named (picking another
        meanwhile closes the question). Outputs: library, picker, the confirm panel (closed),
        the article waiting (none), the Library notice, the first-run panel (back when the
        index is empty again)."""
        closed = gr.update(visible=False)
        if not article_id:
            notice = notice_html("Pick an article in the list first, then Remove.")
            return gr.skip(), gr.skip(), closed, None, notice, gr.skip()
        title = article_id
        try:
            title = self.assistant.get_article(article_id).title
            self.assistant.remove(article_id)
        except NotFoundError:
            notice = notice_html(GONE)
        except CiteqaError as e:
            notice = notice_html(f"Could not remove it: {e}")
        else:
            notice = done_html(f"Removed “{title}”.")
        table = self.article_table()
        return table, self.article_choices(), closed, None, notice, gr.update(visible=not table)

    def open_editor(self, article_id: str | None) -> tuple[Any, ...]:
        """Edit details: the editor, filled with the picked article's title, source and date.
        Outputs: editor, title, source, date, its error line, the article being edited, the
        Library notice, the confirm panel (closed)."""
        picked = self._picked(article_id, "Edit details")
        closed = gr.update(visible=False)
        if isinstance(picked, str):
            return closed, gr.skip(), gr.skip(), gr.skip(), "", None, picked, closed
        day = iso_day(picked.published_at)
        return (
            gr.update(visible=True), picked.title, picked.source or "", day, "", picked.id, "",
            closed,
        )  # fmt: skip

    def save_details(
        self, article_id: str | None, title: str, source: str, published: str
    ) -> tuple[Any, ...]:
        """Save: the new details go into the index (see `Assistant.edit_article`). A mistake
        (an empty title, a date not written YYYY-MM-DD) is said under the fields, which keep
        what was typed. Outputs: editor, its error line, library, picker, Library notice."""
        if not article_id:
            return gr.update(visible=False), "", gr.skip(), gr.skip(), notice_html(GONE)
        try:
            saved = self.assistant.edit_article(
                article_id, title=title, source=source, published=published
            )
        except InputError as e:
            return gr.skip(), notice_html(str(e)), gr.skip(), gr.skip(), ""
        except NotFoundError:
            table = self.article_table()
            return gr.update(visible=False), "", table, self.article_choices(), notice_html(GONE)
        except CiteqaError as e:
            return gr.skip(), notice_html(f"Could not save: {e}"), gr.skip(), gr.skip(), ""
        said = done_html(f"Saved the details of “{saved.title}”.")
        table = self.article_table()
        return gr.update(visible=False), "", table, self.article_choices(saved.id), said

    @staticmethod
    def close_library_panels() -> tuple[Any, Any, None, None, str]:
        """Another article picked, or the editor's Cancel: the open question or editor goes
        (each was about the article picked before). Outputs: confirm panel, editor, the
        article waiting for removal, the one being edited, the editor's error line."""
        return gr.update(visible=False), gr.update(visible=False), None, None, ""

    @staticmethod
    def report_view(rows: list[list[Any]] | None) -> str:
        """The report table (kept for API clients, hidden in the page) as rows that wrap."""
        return ingest_report_html(rows or [])

    def show_article(self, article_id: str | None) -> tuple[str, Any]:
        if not article_id:  # keep the panel, say what to do
            return "<p class=muted>Pick an article in the list first, then View.</p>", gr.skip()
        try:
            return article_html(self.assistant.get_article(article_id)), gr.Tabs(selected="article")
        except NotFoundError:  # said in the panel, without the command line's advice
            return notice_html(GONE), gr.Tabs(selected="article")
        except CiteqaError as e:
            return notice_html(str(e)), gr.Tabs(selected="article")

    def view(self, article_id: str | None) -> tuple[Any, Any, str]:
        """The Library's View. Nothing picked: said in the Library, where the reader is (the
        Article tab, out of sight, keeps what it shows). Outputs: article, tabs, notice."""
        if not article_id:
            said = notice_html("Pick an article in the list first, then View.")
            return gr.skip(), gr.skip(), said
        shown, tab = self.show_article(article_id)
        return shown, tab, ""


def done_html(text: str) -> str:
    import html

    return f"<p class=done role=status>{html.escape(text)}</p>"


def remove_question_html(article: Article) -> str:
    """The confirm step's question: which article, and what removing it means."""
    import html

    return (
        f"<p class=confirm-text role=alert>Remove <b>“{html.escape(article.title)}”</b> "
        "from the index? Answers will no longer cite it; to have it back, add its file "
        "again.</p>"
    )


def iso_day(published_at: float | None) -> str:
    """A stored date as the editor shows it: YYYY-MM-DD (UTC), or empty for none."""
    from datetime import UTC, datetime

    if published_at is None:
        return ""
    return datetime.fromtimestamp(published_at, UTC).date().isoformat()


def _stage(text: str) -> dict[str, str]:
    """The reply's placeholder while it is being made: what is happening now."""
    import html

    return {"role": "assistant", "content": f"<p class=stage role=status>{html.escape(text)}</p>"}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _session(request: gr.Request | None) -> str:
    """The browser session a handler serves (one tab), for Stop to find its answer."""
    return str(getattr(request, "session_hash", None) or "")


def filters_text(sources: str, after: str, before: str) -> str:
    """The filters as the reader typed them: 'source "X" or "Y", published on or after D'."""
    names = [s.strip() for s in (sources or "").split(",") if s.strip()]
    parts = []
    if names:
        parts.append("source " + " or ".join(f'"{n}"' for n in names))
    if (after or "").strip():
        parts.append(f"published on or after {after.strip()}")
    if (before or "").strip():
        parts.append(f"published on or before {before.strip()}")
    return "the filters (" + ", ".join(parts) + ")"


def report_rows(report: IngestReport) -> list[list[Any]]:
    """The ingest report as the page's table: a file by its name, a web address (or a feed's
    item, `URL#n`) as it is."""
    return [
        [
            i.origin if is_url(i.origin) else Path(i.origin.split(":")[0]).name,
            i.status,
            i.article_id or "",
            i.chunks,
            i.reason or "",
        ]
        for i in report.items
    ]


def backends_offered(settings: Settings) -> list[str]:
    """The registry's backends (qa/llm/registry.py: built-ins, then plugins), leaving out
    openai unless a server is configured: picking it otherwise only errs."""
    return [
        name
        for name in registry.names()
        if name != "openai" or settings.openai_base_url or settings.backend == "openai"
    ]


def session_history(answers: list[Answer]) -> list[dict[str, str]]:
    """This browser session's conversation, from its own answers (server-side gr.State).

    Built from the Answers, not from the Chatbot value the browser sends back: that value is
    client-controlled, holds HTML, and gradio 6 delivers its messages as lists of parts.
    """
    history: list[dict[str, str]] = []
    for a in answers:
        history += [
            {"role": "user", "content": a.question},
            {"role": "assistant", "content": a.text},
        ]
    return history


def build_app(assistant: Assistant) -> gr.Blocks:
    page = ChatPage(assistant)
    # Uploads are only needed until ingested: drop cached files older than an hour, hourly.
    with gr.Blocks(title="citeqa", delete_cache=(3600, 3600)) as demo:
        answers = gr.State([])
        gr.Markdown(
            "## citeqa\nAnswers from your news articles, every sentence backed by an exact quote."
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                # Shown by on_load while the index is empty; hidden once anything is indexed.
                with gr.Column(visible=False, elem_id="first-run") as first_run:
                    gr.HTML(FIRST_RUN)
                    with gr.Row():
                        sample_btn = gr.Button(
                            "Try the sample article", variant="primary", elem_id="load-sample"
                        )
                        add_btn = gr.Button("Add your articles", elem_id="add-articles")
                # autoscroll off: the page's JS scrolls it (a finished reply from its start).
                chat = gr.Chatbot(
                    label="Conversation", height=480, elem_id="chat", autoscroll=False
                )
                with gr.Row():
                    question = gr.Textbox(
                        placeholder="Ask about the articles, e.g. Why did Pashinyan skip it?",
                        show_label=False, scale=5, elem_id="question", autofocus=True,
                    )  # fmt: skip
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                    stop = gr.Button("Stop", variant="stop", scale=1, visible=False, elem_id="stop")
                notice = gr.HTML(elem_id="notice")
                # The quotes with ids and offsets, for API clients (tests/ui/test_concurrency.py
                # reads them): the page shows the cards in each answer instead.
                citations = gr.HTML(elem_id="citations", elem_classes="hidden-control")
            with gr.Column(scale=2, min_width=320, elem_id="side"):
                with gr.Tabs(selected="sources") as tabs:
                    with gr.Tab("Sources", id="sources"):
                        sources = gr.HTML(RETRIEVED_PLACEHOLDER, elem_id="sources")
                    with gr.Tab("Article", id="article"):
                        article = gr.HTML(
                            "<p class=muted>Click a citation to open its article.</p>",
                            elem_id="article-view",
                        )
                    with gr.Tab("Library", id="library"):
                        files = gr.File(
                            label="Upload articles (.txt .md .html .jsonl .json .jsonl.gz, "
                            "RSS/Atom .rss .atom .xml)",
                            file_count="multiple",
                            file_types=[
                                ".txt",
                                ".md",
                                ".html",
                                ".htm",
                                ".jsonl",
                                ".json",
                                ".gz",
                                ".rss",
                                ".atom",
                                ".xml",
                            ],
                            elem_id="upload",
                        )
                        ingest = gr.Button("Add to index", elem_id="ingest")
                        fetch_row = None
                        if assistant.settings.allow_fetch:  # the operator's choice
                            with gr.Row() as fetch_row:
                                url = gr.Textbox(
                                    label="Or a web address: an article's page, or an RSS/Atom "
                                    "feed",
                                    placeholder="https://…",
                                    elem_id="fetch-url",
                                    scale=4,
                                )
                                fetch_links = gr.Checkbox(
                                    label="Fetch items' pages", elem_id="fetch-links", scale=1
                                )
                                fetch_btn = gr.Button("Fetch", elem_id="fetch", scale=1)
                        # The report as a table for API clients (the upload endpoint's
                        # output); the page shows it as rows that wrap (`report_view`).
                        ingest_table = gr.Dataframe(
                            headers=["file", "result", "article id", "chunks", "reason"],
                            interactive=False, elem_id="ingest-table",
                            elem_classes="hidden-control", type="array",
                        )  # fmt: skip
                        ingest_report = gr.HTML(elem_id="ingest-report")
                        library = gr.Dataframe(
                            headers=["id", "title", "chunks"], value=page.article_table(),
                            interactive=False, elem_id="library",
                        )  # fmt: skip
                        pick = gr.Dropdown(
                            choices=[row[0] for row in page.article_table()],
                            label="Article",
                            elem_id="library-pick",
                        )
                        with gr.Row(elem_id="library-actions"):  # one row, also on a phone
                            view_btn = gr.Button("View", elem_id="view-article", min_width=0)
                            edit_btn = gr.Button(
                                "Edit details", elem_id="edit-article", min_width=0
                            )
                            remove_btn = gr.Button(
                                "Remove", variant="stop", elem_id="remove-article", min_width=0
                            )
                        library_notice = gr.HTML(elem_id="library-notice")
                        # Remove asks first, here in the page (a browser dialog would block
                        # the page and cannot be styled or read like the rest of it).
                        removing = gr.State(None)  # the article the question names
                        with gr.Column(
                            visible=False, elem_id="remove-confirm", elem_classes="library-panel"
                        ) as confirm_box:
                            confirm_text = gr.HTML()
                            with gr.Row():
                                remove_cancel = gr.Button("Cancel", elem_id="remove-cancel")
                                remove_yes = gr.Button(
                                    "Yes, remove it", variant="stop", elem_id="remove-yes"
                                )
                        editing = gr.State(None)  # the article the editor was opened for
                        with gr.Column(
                            visible=False, elem_id="edit-details", elem_classes="library-panel"
                        ) as editor:
                            gr.HTML("<h3 class=panel-title>Edit details</h3>")
                            edit_title = gr.Textbox(label="Title", elem_id="edit-title")
                            edit_source = gr.Textbox(
                                label="Source (the outlet that published it)",
                                elem_id="edit-source",
                            )
                            edit_date = gr.Textbox(
                                label="Published on (YYYY-MM-DD)",
                                placeholder="e.g. 2024-03-14; empty if it has no date",
                                elem_id="edit-date",
                            )
                            edit_error = gr.HTML(elem_id="edit-error")
                            with gr.Row():
                                edit_cancel = gr.Button("Cancel", elem_id="edit-cancel")
                                edit_save = gr.Button(
                                    "Save changes", variant="primary", elem_id="edit-save"
                                )
                    with gr.Tab("Settings", id="settings"):
                        backend = gr.Radio(
                            backends_offered(assistant.settings),
                            label="Backend",
                            value=assistant.settings.backend,
                        )
                        k = gr.Slider(
                            1, 10, value=assistant.settings.k, step=1, label="Sources to retrieve"
                        )
                        source_filter = gr.Textbox(
                            label="Only these sources (comma-separated)", elem_id="source-filter"
                        )
                        after = gr.Textbox(label=f"{AFTER_LABEL} (YYYY-MM-DD)", elem_id="after")
                        before = gr.Textbox(label=f"{BEFORE_LABEL} (YYYY-MM-DD)", elem_id="before")
        cite_target = gr.Textbox(elem_id="cite-target", elem_classes="hidden-control")
        cite_open = gr.Button("open", elem_id="cite-open", elem_classes="hidden-control")

        ask_inputs = [question, chat, answers, backend, k, source_filter, after, before]
        ask_outputs = [chat, answers, citations, sources, question, notice, stop, send]
        # No overlay timers on the panels: the placeholder and the stage text say what happens.
        send.click(page.respond, ask_inputs, ask_outputs, show_progress="hidden")
        question.submit(page.respond, ask_inputs, ask_outputs, show_progress="hidden")
        # Stop runs at once, outside the queue's limit that the answer itself may be filling.
        stop.click(page.stop, None, stop, concurrency_limit=None, api_visibility="private")
        chat.clear(page.clear, None, [answers, citations, sources, notice])
        cite_open.click(page.open_citation, [cite_target, answers], [article, tabs]).then(
            None, js=SCROLL_JS
        )
        shown = {"fn": page.report_view, "inputs": ingest_table, "outputs": ingest_report,
                 "api_visibility": "private"}  # fmt: skip
        ingest.click(page.upload, [files], [ingest_table, library, pick, first_run]).then(**shown)
        if fetch_row is not None:
            fetch_btn.click(
                page.fetch_url, [url, fetch_links], [ingest_table, library, pick, first_run]
            ).then(**shown)
        sample_btn.click(page.add_sample, None, [library, pick, first_run])
        add_btn.click(
            lambda: gr.Tabs(selected="library"), None, tabs, api_visibility="private"
        ).then(None, js=LIBRARY_JS)
        # The Library's panel events run one at a time, in the order they came: run side by
        # side, a pick's "close the panels" could finish after the Remove click that followed
        # it and close the confirmation it had just opened (a browser test caught it, stop 37).
        in_order = {"concurrency_id": "library", "concurrency_limit": 1}
        private = {"api_visibility": "private", "show_progress": "hidden", **in_order}
        remove_btn.click(
            page.ask_remove, [pick], [confirm_box, confirm_text, removing, library_notice, editor],
            **private,
        )  # fmt: skip
        remove_cancel.click(page.cancel_remove, None, [confirm_box, removing], **private)
        remove_yes.click(
            page.remove, [removing],
            [library, pick, confirm_box, removing, library_notice, first_run], **in_order,
        )  # fmt: skip
        edit_btn.click(
            page.open_editor, [pick],
            [editor, edit_title, edit_source, edit_date, edit_error, editing, library_notice,
             confirm_box],
            **private,
        )  # fmt: skip
        edit_save.click(
            page.save_details, [editing, edit_title, edit_source, edit_date],
            [editor, edit_error, library, pick, library_notice], **in_order,
        )  # fmt: skip
        closing = [confirm_box, editor, removing, editing, edit_error]
        edit_cancel.click(page.close_library_panels, None, closing, **private)
        pick.input(page.close_library_panels, None, closing, **private)
        view_btn.click(page.view, [pick], [article, tabs, library_notice], api_name="show_article")
        demo.load(page.on_load, None, [first_run, library, pick], **in_order)
    demo.queue(default_concurrency_limit=2)
    return demo


def upload_dir(settings: Settings) -> Path:
    """Where gradio keeps uploaded files: inside the data directory (private to this index),
    not the machine-wide /tmp/gradio. An explicit GRADIO_TEMP_DIR still wins."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or settings.data_dir / "uploads")


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise InputError(
            "--auth (or CITEQA_AUTH) wants USER:PASSWORD, both non-empty, e.g. --auth ana:s3cret."
        )
    return user, password


def serve(settings: Settings, *, host: str, port: int, auth: str | None) -> None:
    creds = parse_auth(auth)
    uploads = upload_dir(settings)
    uploads.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(uploads)  # read when the Blocks are built
    assistant = Assistant(settings)
    demo = build_app(assistant)
    from qa.api import announce, page_api, page_routes  # the HTTP API under /api

    api = page_api(assistant, host=host, page_auth=creds is not None)
    demo.launch(
        server_name=host,
        server_port=port,
        auth=creds,
        share=False,
        css=CSS,
        js=JS,
        theme=gr.themes.Soft(),
        footer_links=[],
        show_error=False,
        # The API is one of the server's routes before it listens, never mounted later.
        app_kwargs=page_routes(api) if api is not None else None,
        prevent_thread_lock=True,  # to say where the API is after the page's own lines
    )
    if api is not None:
        announce(host=host, port=port)
    demo.block_thread()


def cmd_serve(args: argparse.Namespace) -> int:
    """`citeqa serve` once its options are parsed (declared by `qa.cli.register_serve`)."""
    from qa.settings import settings_from

    serve(settings_from(args), host=args.host, port=args.port, auth=args.auth)
    return 0


def register(sub, common, answer_opts) -> None:  # type: ignore[no-untyped-def]
    """`serve` as a sub-command whose run is this module's `cmd_serve` (for `python app.py`)."""
    from qa.cli import register_serve

    register_serve(sub, common, answer_opts, run=cmd_serve)


def main(argv: list[str] | None = None) -> int:
    """`python app.py [serve options]`: the same options and errors as `citeqa serve`."""
    from qa.cli import main as cli_main

    return cli_main(["serve", *(argv or [])], extra=(register,))


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
