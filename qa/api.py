"""citeqa's HTTP API (`citeqa api`): answers, articles, health, and an OpenAI-compatible chat.

A thin layer over one shared `Assistant`: every answer is `Assistant.ask`/`stream`, every
ingest `Assistant.add`; nothing here retrieves, prompts or verifies. What lives here is the
HTTP side: request models (qa/api_models.py), JSON errors, API keys, body and concurrency
limits, server-sent events, and the OpenAI formatting of a verified `Answer`.

Streaming honesty: text streamed before verification may lose sentences when the answer is
checked. The final answer never silently differs from what the stream showed: /v1/answers sends
a `retracted` event first, and the chat stream appends a visible correction (see `chat_tail`).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict
from itertools import chain
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPBearer
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from index.load import LoadProblem, parse_jsonl
from qa.api_models import (
    MODEL_ID,
    AnswerOptions,
    AnswerOut,
    AnswerRequest,
    ArticleList,
    ArticleOut,
    ArticlesIn,
    ArticleSummary,
    ChatCompletion,
    ChatRequest,
    ErrorOut,
    FiltersIn,
    Health,
    IngestOut,
    ModelCard,
    ModelList,
    Ready,
    Removed,
)
from qa.cite import ABSTAIN_TOKEN, ID_MARKER, MARKER_IDS, QUOTE_MARKER
from qa.errors import (
    BackendError,
    CitationError,
    CiteqaError,
    ConfigError,
    InputError,
    ModelError,
    NotFoundError,
    StoreError,
)
from qa.types import Answer, Article, Draft, IngestItem, IngestReport, Retrieved, TextDelta

log = logging.getLogger("citeqa.api")

KEYS_ENV = "CITEQA_API_KEYS"
JSON_LIMIT = 1 << 20  # 1 MiB: a question, its history, or a batch of article texts
UPLOAD_LIMIT = 16 << 20  # 16 MiB of multipart files per request
MAX_UPLOAD_FILES = 200
DEFAULT_MAX_IN_FLIGHT = 4  # requests per API key at once (2 cores answer ~2 at a time)
RETRY_AFTER_SECONDS = 1
# Reachable without a key: probes and the API description (which holds no data).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/openapi.json"})
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

# --- errors ---------------------------------------------------------------------------------

# (error class, status, type), first match wins: subclasses before their bases.
_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (NotFoundError, 404, "not_found"),
    (InputError, 400, "invalid_request"),  # also NoMatchError: a filter that leaves nothing
    (ConfigError, 503, "unavailable"),  # e.g. backend "openai" on a server without one
    (BackendError, 503, "unavailable"),
    (StoreError, 503, "unavailable"),
    (ModelError, 503, "unavailable"),
)
_STATUS_TYPES = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "busy",
    503: "unavailable",
}


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}


def error_response(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(kind, message), status_code=status, headers=headers)


def classify(exc: BaseException) -> tuple[int, str, str]:
    """(status, type, message) for an exception. Our own errors carry a message written for
    the user; anything else is a bug, reported without its details (they are in the log)."""
    for cls, status, kind in _ERRORS:
        if isinstance(exc, cls):
            return status, kind, str(exc)
    if isinstance(exc, CitationError):  # a quote drifted from its article: a bug, never input
        return 500, "internal", f"citeqa could not verify a citation ({exc}); please report it."
    return (
        500,
        "internal",
        f"Internal error ({type(exc).__name__}) while handling the request; the server log has "
        "the details.",
    )


def validation_message(errors: Sequence[Any]) -> str:
    """pydantic's errors as one readable line: `filters.after: Input should be …`."""
    parts: list[str] = []
    for err in errors:
        loc = [str(x) for x in err.get("loc", ()) if x != "body"]
        kind, msg = err.get("type", ""), str(err.get("msg", "invalid"))
        if kind == "json_invalid":
            detail = (err.get("ctx") or {}).get("error", "")
            parts.append(f"The request body is not valid JSON ({detail or msg}).")
        elif not loc and kind in ("missing", "model_attributes_type", "dict_type"):
            parts.append(
                "The request needs a JSON object as its body, sent with "
                "Content-Type: application/json."
            )
        elif kind == "extra_forbidden":
            parts.append(f"{'.'.join(loc)}: unknown field (see /docs for the fields)")
        else:
            parts.append(f"{'.'.join(loc) or 'body'}: {msg}")
    return "; ".join(parts) or "The request is invalid."


def _add_error_handlers(app: FastAPI) -> None:
    async def on_citeqa(request: Request, exc: Exception) -> JSONResponse:
        status, kind, message = classify(exc)
        if status >= 500 and status != 503:
            log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return error_response(status, kind, message)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        # 400, not FastAPI's 422: one status for every kind of bad input.
        assert isinstance(exc, RequestValidationError)
        return error_response(400, "invalid_request", validation_message(exc.errors()))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        kind = _STATUS_TYPES.get(exc.status_code, "error")
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"No such endpoint: {request.method} {request.url.path}. See /docs."
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}. See /docs."
        return error_response(exc.status_code, kind, message, headers=exc.headers)

    async def on_other(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        status, kind, message = classify(exc)
        return error_response(status, kind, message)

    app.add_exception_handler(CiteqaError, on_citeqa)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_other)


# --- keys, limits ---------------------------------------------------------------------------


def api_keys(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """The accepted keys, from CITEQA_API_KEYS (comma separated; blanks ignored). Read from the
    environment, never the command line, which other local users can see in `ps`."""
    raw = (os.environ if environ is None else environ).get(KEYS_ENV, "")
    return tuple(dict.fromkeys(k.strip() for k in raw.split(",") if k.strip()))


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, keys: Sequence[str]) -> None:
    """Without keys the API is open to whoever can connect, so it may only listen on this
    machine; refuse before any model loads."""
    if not keys and not is_loopback(host):
        raise ConfigError(
            f"No API keys are set, so the API may only listen on this machine, and --host "
            f"{host} is not a loopback address. Set {KEYS_ENV}=KEY1,KEY2 (clients send "
            "'Authorization: Bearer KEY') or use --host 127.0.0.1."
        )


class BodyTooLarge(StarletteHTTPException):
    """Raised while reading a body past its limit; an HTTPException so that FastAPI's body
    parsing re-raises it as it is (any other error there becomes a generic 400)."""

    def __init__(self, limit: int, what: str) -> None:
        super().__init__(413, f"The request body is over the {limit >> 20} MiB limit for {what}.")


def _route_path(scope: Scope) -> str:
    """The path inside this app, also when it is mounted (e.g. under /api of the chat page)."""
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root) :] or "/" if root and path.startswith(root) else path


class Guard:
    """API keys, then the per-key concurrency limit, then the body size limit; plain ASGI, so
    a request counts as in flight until its last byte is sent (a stream, too), and a request
    refused here never has its body read."""

    def __init__(self, app: ASGIApp, *, keys: Sequence[str], max_in_flight: int) -> None:
        self.app = app
        self.keys = tuple(keys)
        self.max_in_flight = max_in_flight
        # Per key (its index; the key itself is not kept twice). Only the event loop's thread
        # touches this dict, so it needs no lock.
        self.in_flight: dict[int, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _route_path(scope) in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        who = self._key_index(headers.get("authorization", ""))
        if who is None:
            await self._refuse(scope, receive, send, headers)
            return
        if self.in_flight.get(who, 0) >= self.max_in_flight:
            await error_response(
                429,
                "busy",
                f"Too many requests at once for this API key (the limit is "
                f"{self.max_in_flight} in flight); retry after {RETRY_AFTER_SECONDS} s.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )(scope, receive, send)
            return
        multipart = headers.get("content-type", "").startswith("multipart/form-data")
        limit, what = (UPLOAD_LIMIT, "uploads") if multipart else (JSON_LIMIT, "JSON")
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await error_response(413, "too_large", BodyTooLarge(limit, what).detail)(
                scope, receive, send
            )
            return
        self.in_flight[who] = self.in_flight.get(who, 0) + 1
        try:
            await self.app(scope, _limited(receive, limit, what), send)
        finally:
            self.in_flight[who] -= 1

    def _key_index(self, authorization: str) -> int | None:
        if not self.keys:
            return 0  # no keys: loopback only, one shared allowance
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        given = token.strip().encode()
        found = None
        for i, key in enumerate(self.keys):  # compare with every key: no timing hint
            if hmac.compare_digest(given, key.encode()):
                found = i
        return found

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, headers: dict) -> None:
        # The key given is never echoed, logged or hinted at (not even its length).
        message = (
            "This API key is not accepted."
            if headers.get("authorization")
            else "An API key is required."
        )
        await error_response(
            401,
            "unauthorized",
            f"{message} Send 'Authorization: Bearer KEY' with one of the keys the server "
            f"was started with ({KEYS_ENV}).",
            headers={"WWW-Authenticate": "Bearer"},
        )(scope, receive, send)


def _limited(receive: Receive, limit: int, what: str) -> Receive:
    """`receive` that fails once the body passes `limit` (a chunked body has no length)."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit, what)
        return message

    return wrapped


# --- streamed text ---------------------------------------------------------------------------

_CITE_PART = rf"(?:{ID_MARKER.pattern}|{QUOTE_MARKER.pattern})"
_CITE_RUN = re.compile(rf"\s*{_CITE_PART}(?:\s*{_CITE_PART})*", re.IGNORECASE | re.DOTALL)
# The start of an id or quote mark cut off at the end of a reply (max_tokens), dropped.
_PARTIAL_MARKER = re.compile(
    r"\s*[\[(]\s*(?:S\d*(?:\s*[,;]\s*S?\d*)*|quote:?\s*|[\"“][^\])]*)?$", re.IGNORECASE
)
_MD_INLINE = re.compile(r"([\\`*_\[\]<>|~&])")
_MD_LINE_START = re.compile(r"^(\s*)([#>+=-])")


def md_inline(text: str) -> str:
    """Text (from an article or a model: untrusted) that Markdown shows as it is: no links,
    images, HTML or emphasis can be smuggled into a front end through a quote."""
    return _MD_INLINE.sub(r"\\\1", " ".join(text.split()))


def md_text(text: str) -> str:
    """`md_inline`, and a start that cannot open a heading, quote or list."""
    return _MD_LINE_START.sub(r"\1\\\2", md_inline(text), count=1)


class LiveText:
    """The model's reply as it streams, turned into what a reader may see so far.

    The reply's internal ids (`[S4]`, `(S4)`, `["a quote"]`) are removed, or, `numbered`, shown
    as `[1]`, `[2]` in order of first appearance (the numbering the verified answer's source
    list uses when every sentence survives). Anything that may still turn into an id (an
    unclosed bracket, trailing spaces) or into the abstain token is held back, so what is sent
    is never taken back. Numbered text is Markdown-escaped with whitespace collapsed, the same
    way `chat_parts` writes the verified answer, so the two can be compared."""

    def __init__(self, *, numbered: bool) -> None:
        self.numbered = numbered
        self.raw = ""
        self.shown = ""

    def feed(self, piece: str) -> str:
        """The new text to send for `piece` (may be empty)."""
        self.raw += piece
        return self._advance(self._render(self._stable(self.raw), final=False))

    def finish(self) -> str:
        """What was held back, once the reply is complete."""
        return self._advance(self._render(self.raw, final=True))

    def _advance(self, text: str) -> str:
        if not text.startswith(self.shown):  # by construction it does; never rewrite
            return ""
        delta, self.shown = text[len(self.shown) :], text
        return delta

    @staticmethod
    def _stable(raw: str) -> str:
        opened = max(raw.rfind("["), raw.rfind("("))
        if opened >= 0 and not re.search(r"[\])]", raw[opened:]):
            raw = raw[:opened]
        return raw.rstrip()

    def _render(self, text: str, *, final: bool) -> str:
        head = text.lstrip().upper()
        if head.startswith("NOT_IN") or (not final and ABSTAIN_TOKEN.startswith(head)):
            return ""  # an abstention (or its beginning): nothing to show
        text = text.replace(ABSTAIN_TOKEN, "")
        if final:
            text = _PARTIAL_MARKER.sub("", text)
        numbers: dict[str, int] = {}
        out: list[str] = []
        pos = 0
        for m in _CITE_RUN.finditer(text):
            out.append(self._text(text[pos : m.start()]))
            if self.numbered:  # the run's leading space was eaten: one space, then the marks
                keys = dict.fromkeys(_marker_keys(m.group(0)))  # once each, as verify does
                out.append(" " + "".join(f"[{numbers.setdefault(k, len(numbers) + 1)}]"
                                         for k in keys))  # fmt: skip
            pos = m.end()
        out.append(self._text(text[pos:]))
        shown = "".join(out).lstrip()
        return _MD_LINE_START.sub(r"\1\\\2", shown, count=1) if self.numbered else shown

    def _text(self, piece: str) -> str:
        """A piece between marks: as it is, or (numbered) whitespace runs collapsed to one
        space (kept at its ends, so the space after a mark survives) and Markdown-escaped."""
        if not self.numbered:
            return piece
        return _MD_INLINE.sub(r"\\\1", re.sub(r"\s+", " ", piece))


def _marker_keys(run: str) -> list[str]:
    keys: list[str] = []
    for m in re.finditer(_CITE_PART, run, re.IGNORECASE | re.DOTALL):
        quote = QUOTE_MARKER.fullmatch(m.group(0))
        if quote:
            keys.append("quote:" + quote.group(1))
        else:
            keys += [f"S{int(n)}" for n in MARKER_IDS.findall(m.group(0))]
    return keys


def _norm(text: str) -> str:
    return " ".join(text.split())


def sse(event: str, data: Any) -> str:
    """One server-sent event; JSON without newlines, so one `data:` line."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def retraction(answer: Answer, streamed: str, *, draft: bool = False) -> dict[str, Any] | None:
    """What the stream showed that the verified answer does not say, or None.

    Abstained: everything shown goes (`all`); otherwise the sentences verification dropped.
    `draft`: `answer` is the first reading's, and a second reading follows (a reply withheld
    for its kind is read again), so an abstention is not yet the answer."""
    if not streamed.strip():
        return None
    dropped = [s.text for s in answer.sentences if not s.supported]
    if answer.abstained:
        then = (
            "the sentences it cites are read again, and the answer follows."
            if draft
            else "the answer is an abstention."
        )
        return {
            "all": True,
            "sentences": dropped or [streamed.strip()],
            "message": f"The streamed text is not supported by the articles; {then}",
        }
    if dropped:
        return {
            "all": False,
            "sentences": dropped,
            "message": "These sentences were streamed but are not supported by the quotes "
            "they cite; they are not part of the answer.",
        }
    return None


def answer_events(events: Iterable[Retrieved | TextDelta | Draft | Answer]) -> Iterator[str]:
    """/v1/answers as server-sent events: `sources` {sources} (what retrieval found, before the
    model starts), `delta` {text}…, `retracted` (when something streamed is not in the
    verified answer of the reply streamed), `draft` (that answer, as Answer.to_dict(), when
    the model reads what it cited a second time: the second reply is not streamed), then
    `answer` (Answer.to_dict())."""
    live = LiveText(numbered=False)
    checked = False  # the streamed reply's verified answer was sent (as the draft)

    def streamed_checked(answer: Answer, *, draft: bool = False) -> Iterator[str]:
        rest = live.finish()
        if rest:
            yield sse("delta", {"text": rest})
        dropped = retraction(answer, live.shown, draft=draft)
        if dropped:
            yield sse("retracted", dropped)

    for event in events:
        if isinstance(event, Retrieved):
            yield sse("sources", {"sources": [s.to_dict() for s in event.sources]})
        elif isinstance(event, TextDelta):
            text = live.feed(event.text)
            if text:
                yield sse("delta", {"text": text})
        elif isinstance(event, Draft):
            yield from streamed_checked(event.answer, draft=True)
            checked = True
            yield sse("draft", event.answer.to_dict())
        else:
            if not checked:
                yield from streamed_checked(event)
            yield sse("answer", event.to_dict())


# --- the OpenAI shape --------------------------------------------------------------------------

SOURCES_HEADING = "**Sources**"
CLOSEST_HEADING = "**Closest sources**"


def chat_parts(
    answer: Answer, urls: dict[str, str | None]
) -> tuple[str, str, list[dict[str, Any]]]:
    """(body with [n] marks, Markdown source list, structured citations) of a verified answer.

    Numbers follow `answer.citations` (as in `Answer.to_markdown`); each source line is
    `[n] Title — "quote"`, the title linked when the article has an http(s) URL."""
    if answer.abstained:
        found = answer.articles_found
        closest = "\n\n".join(f"- {md_inline(s.title)} ({md_inline(s.article_id)})" for s in found)
        parts = [f"*Why: {md_inline(answer.why_declined)}*"] if answer.why_declined else []
        parts += [f"{CLOSEST_HEADING}\n\n{closest}"] if found else []
        return md_text(answer.text), "\n\n".join(parts), []
    numbers = {(c.article_id, c.start, c.end): n for n, c in enumerate(answer.citations, 1)}
    sentences = []
    for s in answer.sentences:
        if s.supported:
            marks = "".join(f"[{numbers[(c.article_id, c.start, c.end)]}]" for c in s.citations)
            sentences.append(f"{md_inline(s.text)} {marks}")
    body = _MD_LINE_START.sub(r"\1\\\2", " ".join(sentences), count=1)
    lines, citations = [], []
    for n, c in enumerate(answer.citations, 1):
        url = urls.get(c.article_id)
        title = md_inline(c.title)
        if url and re.match(r"https?://[^\s<>]+$", url):
            title = f"[{title}](<{url}>)"
        lines.append(f'[{n}] {title} — "{md_inline(c.quote)}"')
        citations.append(
            {"index": n, "article_id": c.article_id, "title": c.title, "url": url,
             "start": c.start, "end": c.end, "quote": c.quote}
        )  # fmt: skip
    return body, SOURCES_HEADING + "\n\n" + "\n\n".join(lines), citations


def chat_content(body: str, sources: str) -> str:
    return f"{body}\n\n{sources}" if sources else body


def chat_tail(answer: Answer, shown: str, body: str, sources: str) -> str:
    """The last content of a streamed chat reply, after `shown` (what was streamed).

    When the stream showed exactly the verified answer, only the source list follows. Else a
    correction: what is retracted (unsupported sentences, or everything on abstention) and
    then the verified answer, so the reply never ends with an unchecked claim standing."""
    if _norm(shown) == _norm(body):
        return f"\n\n{sources}" if sources else ""
    if not shown.strip():
        return chat_content(body, sources)
    dropped = [s.text for s in answer.sentences if not s.supported]
    if answer.abstained:
        note = "*Retracted: the text above is not supported by the articles.*"
    elif dropped:
        quoted = "; ".join(f'"{md_inline(t)}"' for t in dropped)
        note = f"*Retracted, not supported by the quotes they cite: {quoted}. The checked answer:*"
    else:
        note = "*The checked answer, with its citations:*"
    return f"\n\n---\n\n{note}\n\n{chat_content(body, sources)}"


_OUR_MARKS = re.compile(r"\s*\[\d+\]")


def history_text(content: str) -> str:
    """An earlier assistant turn as history: our source list and [n] marks removed, so a
    follow-up is rewritten from the answer's words only."""
    for heading in (SOURCES_HEADING, CLOSEST_HEADING, "\n---\n"):
        content = content.split(heading, 1)[0]
    return _OUR_MARKS.sub("", content).strip()


def message_text(content: str | list[dict[str, Any]] | None) -> str:
    if isinstance(content, str):
        return content
    parts = [p.get("text", "") for p in content or () if p.get("type") in ("text", "input_text")]
    return "\n".join(p for p in parts if isinstance(p, str))


def split_messages(request: ChatRequest) -> tuple[str, list[dict[str, str]]]:
    """(question, history): the last message must be the user's; system messages are left out
    (citeqa's prompt is fixed; a front end's persona prompt cannot change how it cites)."""
    turns = [
        (m.role, message_text(m.content))
        for m in request.messages
        if m.role in ("user", "assistant")
    ]
    if not turns or turns[-1][0] != "user":
        last = request.messages[-1].role
        raise InputError(
            f"The last message must be the question, with role 'user' (it has role {last!r})."
        )
    history = [
        {"role": role, "content": history_text(text) if role == "assistant" else text}
        for role, text in turns[:-1]
    ]
    return turns[-1][1], history


# --- the app -----------------------------------------------------------------------------------


def to_filters(filters: FiltersIn | None):  # type: ignore[no-untyped-def]
    """The CLI's parser (one set of date rules and messages), its flag names swapped for the
    API's field names."""
    if filters is None:
        return None
    from qa.filters import parse_filters

    sources = [s.strip() for s in filters.sources if s.strip()]
    parsed = parse_filters(
        sources, filters.after, filters.before, names=("filters.after", "filters.before")
    )
    return parsed or None


def _ask_kwargs(options: AnswerOptions) -> dict[str, Any]:
    return {
        "filters": to_filters(options.filters),
        "k": options.k,
        "backend": options.backend,
        "as_of": options.as_of,
    }


def _started(
    events: Iterator[Retrieved | TextDelta | Draft | Answer],
) -> Iterator[Retrieved | TextDelta | Draft | Answer]:
    """Run the stream up to the model's first event now, so a bad question, a filter that
    matches nothing or a backend that is down is an HTTP status, not an event after a 200."""
    head: list[Retrieved | TextDelta | Draft | Answer] = []
    for event in events:
        head.append(event)
        if not isinstance(event, Retrieved):
            break
    return chain(head, events)


def _streamed(
    lines: Iterator[str], source: Iterator[Any], error: Callable[[dict[str, Any]], str]
) -> Iterator[str]:
    """`lines`, then an error event if the answer fails mid-stream (the status was sent);
    `source`, the Assistant's stream, is closed at the end, also when the client left."""
    try:
        yield from lines
    except Exception as e:  # reported in the stream: the 200 has already gone out
        status, kind, message = classify(e)
        if status >= 500 and status != 503:
            log.exception("streaming an answer failed")
        yield error(error_body(kind, message))
    finally:
        close = getattr(source, "close", None)
        if close:
            close()


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Bad input (the message says which field)"},
    401: {"model": ErrorOut, "description": "Missing or wrong API key"},
    413: {"model": ErrorOut, "description": "Body over 1 MiB (JSON) or 16 MiB (uploads)"},
    429: {"model": ErrorOut, "description": "Too many requests in flight for this key"},
    503: {"model": ErrorOut, "description": "Backend, store or model unavailable"},
}


def create_app(
    assistant: Any,
    *,
    keys: Sequence[str] = (),
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
) -> FastAPI:
    """The API over one shared `Assistant` (anything with its methods, for tests)."""
    started_at = int(time.time())
    app = FastAPI(
        title="citeqa",
        version="0.1.0",
        description=(
            "Answers about news articles in which every sentence cites an exact quote. "
            f"Send `Authorization: Bearer KEY` when the server has {KEYS_ENV}. Errors are "
            '`{"error": {"type", "message"}}`.'
        ),
        responses=_ERROR_RESPONSES,
    )
    _add_error_handlers(app)
    app.add_middleware(Guard, keys=keys, max_in_flight=max_in_flight)
    # Documents the header (the Authorize button in /docs); Guard checks it.
    bearer = HTTPBearer(auto_error=False, description=f"One of the keys in {KEYS_ENV}.")
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(bearer)])
    ready: dict[str, bool] = {}

    @app.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        response_model=Ready,
        tags=["health"],
        responses={503: {"model": ErrorOut, "description": "Not ready"}},
    )
    def readyz() -> Any:
        """The embedding model answers and the index can be read."""
        try:
            if not ready.get("embedder"):
                assistant.embedder.embed_query("ready?")  # once: it stays loaded
                ready["embedder"] = True
            chunks = assistant.store.count_chunks()
        except Exception as e:
            log.warning("not ready: %s", e)
            kind_msg = str(e) if isinstance(e, CiteqaError) else type(e).__name__
            return error_response(503, "unavailable", f"Not ready: {kind_msg}")
        return {
            "status": "ready",
            "chunks": chunks,
            "embedding_model": assistant.embedder.variant,
            "backend": assistant.settings.backend,
        }

    # --- answers ---------------------------------------------------------------------------

    @v1.post(
        "/answers",
        response_model=AnswerOut,
        tags=["answers"],
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    def answers(body: AnswerRequest, request: Request) -> Any:
        """Answer a question with cited quotes; `stream` for server-sent events."""
        history = [m.model_dump() for m in body.history]
        kwargs = _ask_kwargs(body)
        if body.stream or "text/event-stream" in request.headers.get("accept", ""):
            source = assistant.stream(body.question, history=history, **kwargs)
            events = _started(source)
            lines = _streamed(answer_events(events), source, lambda e: sse("error", e))
            return StreamingResponse(lines, media_type="text/event-stream", headers=SSE_HEADERS)
        return assistant.ask(body.question, history=history, **kwargs).to_dict()

    # --- articles --------------------------------------------------------------------------

    upload_schema = {
        "type": "object",
        "properties": {
            "files": {
                "type": "array",
                "items": {"type": "string", "format": "binary"},
                "description": ".txt .md .html .jsonl files",
            },
            "replace": {"type": "boolean", "default": False},
        },
        "required": ["files"],
    }

    @v1.post(
        "/articles",
        response_model=IngestOut,
        tags=["articles"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ArticlesIn"}},
                    "multipart/form-data": {"schema": upload_schema},
                },
            }
        },
    )
    async def add_articles(request: Request) -> Any:
        """Add articles: JSON `{articles: [...]}` or files (multipart field `files`). Returns
        the per-article report; a rejected article says why, and the others are kept."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/json":
            try:
                payload = ArticlesIn.model_validate_json(await request.body())
            except ValidationError as e:
                raise RequestValidationError(e.errors()) from None
            report = await run_in_threadpool(_add_records, assistant, payload)
        elif kind == "multipart/form-data":
            report = await _add_uploads(assistant, request)
        else:
            return error_response(
                415,
                "unsupported_media_type",
                "Send articles as JSON (Content-Type: application/json, "
                '{"articles": [{"text": …}]}) or as files (multipart/form-data, field '
                f"'files'); got {kind or 'no Content-Type'}.",
            )
        return {
            "items": [asdict(i) for i in report.items],
            "counts": {s: report.count(s) for s in ("added", "replaced", "unchanged", "rejected")},
            "summary": report.summary(),
            "seconds": round(report.seconds, 3),
        }

    @v1.get("/articles", response_model=ArticleList, tags=["articles"])
    def list_articles() -> dict[str, Any]:
        """The articles in the index."""
        rows = [ArticleSummary.model_validate(r).model_dump() for r in assistant.articles()]
        return {"count": len(rows), "articles": rows}

    @v1.get(
        "/articles/{article_id:path}",
        response_model=ArticleOut,
        tags=["articles"],
        responses={404: {"model": ErrorOut, "description": "No such article"}},
    )
    def get_article(article_id: str) -> dict[str, Any]:
        """One article: its cleaned text (every citation offset refers to it) and metadata."""
        a = _api_not_found(assistant.get_article, article_id)
        meta = assistant.store.article_meta(a.id) or {}  # one record, not the whole list
        return {
            "id": a.id, "title": a.title, "text": a.text, "url": a.url, "source": a.source,
            "published_at": a.published_at, "origin": a.origin,
            "n_chunks": meta.get("n_chunks", 0),
        }  # fmt: skip

    @v1.delete(
        "/articles/{article_id:path}",
        response_model=Removed,
        tags=["articles"],
        responses={404: {"model": ErrorOut, "description": "No such article"}},
    )
    def remove_article(article_id: str) -> dict[str, Any]:
        """Remove an article and its chunks."""
        _api_not_found(assistant.remove, article_id)
        return {"id": article_id, "removed": True}

    # --- OpenAI-compatible -----------------------------------------------------------------

    card = {"id": MODEL_ID, "object": "model", "created": started_at, "owned_by": "citeqa"}

    @v1.get("/models", response_model=ModelList, tags=["openai"])
    def models() -> dict[str, Any]:
        """The one model, `citeqa`."""
        return {"object": "list", "data": [card]}

    @v1.get("/models/{model_id}", response_model=ModelCard, tags=["openai"])
    def model(model_id: str) -> dict[str, Any]:
        if model_id != MODEL_ID:
            raise NotFoundError(f"No model {model_id!r}; this server has one, {MODEL_ID!r}.")
        return card

    @v1.post(
        "/chat/completions",
        response_model=ChatCompletion,
        tags=["openai"],
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    def chat_completions(body: ChatRequest) -> Any:
        """OpenAI's chat completions: the reply's content is the answer with [n] marks and a
        source list; `message.citations` holds the quotes with their offsets. Streamed, the
        citations come on the last chunk's `delta.citations`."""
        if body.model != MODEL_ID:
            raise InputError(f"Unknown model {body.model!r}; this server has one, {MODEL_ID!r}.")
        question, history = split_messages(body)
        kwargs = _ask_kwargs(body)
        reply_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if body.stream:
            usage = bool(body.stream_options and body.stream_options.include_usage)
            source = assistant.stream(question, history=history, **kwargs)
            lines = chat_chunks(_started(source), assistant, reply_id, created, include_usage=usage)
            return StreamingResponse(
                _streamed(lines, source, lambda e: f"data: {json.dumps(e)}\n\n"),
                media_type="text/event-stream",
                headers=SSE_HEADERS,
            )
        answer = assistant.ask(question, history=history, **kwargs)
        body_md, sources, citations = chat_parts(answer, _urls(assistant, answer))
        message = {
            "role": "assistant",
            "content": chat_content(body_md, sources),
            "citations": citations,
        }
        return {
            "id": reply_id,
            "object": "chat.completion",
            "created": created,
            "model": MODEL_ID,
            "choices": [
                {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
            ],
            "usage": _usage(answer),
            "citeqa": _meta(answer),
        }

    app.include_router(v1)
    _document_article_body(app)
    return app


def _document_article_body(app: FastAPI) -> None:
    """POST /v1/articles reads JSON or multipart itself (FastAPI binds one body type per
    route), so its JSON schema is added to the OpenAPI components by hand."""

    generate = app.openapi  # FastAPI's own (it caches in app.openapi_schema)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            model_schema = ArticlesIn.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(model_schema.pop("$defs", {}))
            components["ArticlesIn"] = model_schema
            # Validation errors are answered 400 (see on_validation), never 422.
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _api_not_found(call: Callable[[str], Any], article_id: str) -> Any:
    """`call(article_id)`, with an unknown id's hint pointing at the API, not the CLI."""
    try:
        return call(article_id)
    except NotFoundError as e:
        raise NotFoundError(
            str(e).replace("See `citeqa articles`.", "GET /v1/articles lists them.")
        ) from None


def _usage(answer: Answer) -> dict[str, int]:
    prompt, completion = answer.tokens.get("prompt", 0), answer.tokens.get("completion", 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _meta(answer: Answer) -> dict[str, Any]:
    return {
        "abstained": answer.abstained,
        "declined": answer.declined,
        "confidence": None if answer.confidence is None else round(answer.confidence, 4),
        "standalone_question": answer.standalone_question or answer.question,
        "backend": answer.backend,
        "model": answer.model,
    }


def _urls(assistant: Any, answer: Answer) -> dict[str, str | None]:
    urls: dict[str, str | None] = {}
    for c in answer.citations:
        if c.article_id not in urls:
            try:
                urls[c.article_id] = assistant.get_article(c.article_id).url
            except NotFoundError:  # removed since it was cited
                urls[c.article_id] = None
    return urls


def chat_chunks(
    events: Iterable[Retrieved | TextDelta | Draft | Answer],
    assistant: Any,
    reply_id: str,
    created: int,
    *,
    include_usage: bool = False,
) -> Iterator[str]:
    """OpenAI `chat.completion.chunk` lines: the role, the text as it is written (with [n]
    marks), the source list (or a correction, see `chat_tail`) as the last content, then a
    final chunk whose `delta.citations` holds the structured citations, then [DONE]."""

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        data = {
            "id": reply_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL_ID,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            **extra,
        }
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    live = LiveText(numbered=True)
    yield chunk({"role": "assistant", "content": ""})
    answer: Answer | None = None
    for event in events:
        if isinstance(event, TextDelta):
            text = live.feed(event.text)
            if text:
                yield chunk({"content": text})
        elif isinstance(event, Answer):
            answer = event
    assert answer is not None, "Assistant.stream ends with the Answer"
    rest = live.finish()
    if rest:
        yield chunk({"content": rest})
    body, sources, citations = chat_parts(answer, _urls(assistant, answer))
    tail = chat_tail(answer, live.shown, body, sources)
    if tail:
        yield chunk({"content": tail})
    yield chunk({"citations": citations}, "stop", citeqa=_meta(answer))
    if include_usage:
        data = {"id": reply_id, "object": "chat.completion.chunk", "created": created,
                "model": MODEL_ID, "choices": [], "usage": _usage(answer)}  # fmt: skip
        yield f"data: {json.dumps(data)}\n\n"
    yield "data: [DONE]\n\n"


# --- ingest ------------------------------------------------------------------------------------


def _record_number(item: IngestItem) -> int:
    tail = item.origin.rpartition(":")[2]
    return int(tail) if tail.isdigit() else 0


def _add_records(assistant: Any, payload: ArticlesIn) -> IngestReport:
    """JSON articles go through the JSONL loader (one set of field rules and messages), as
    records `api:1`, `api:2`, …: one source, so posting an id again updates that article."""
    lines = "\n".join(json.dumps(a.model_dump(exclude_none=True)) for a in payload.articles)
    loaded = list(parse_jsonl(lines, origin="api", date_order=assistant.settings.date_order))
    articles = [x for x in loaded if isinstance(x, Article)]
    rejected = [
        IngestItem(origin=x.origin, status="rejected", reason=x.reason)
        for x in loaded
        if isinstance(x, LoadProblem)
    ]
    report = assistant.add(articles, replace=payload.replace) if articles else IngestReport(())
    items = sorted([*rejected, *report.items], key=_record_number)
    return IngestReport(tuple(items), seconds=report.seconds)


def _safe_name(name: str | None, n: int) -> str:
    """A client's file name as a plain name inside our upload folder (never a path out of it)."""
    base = (name or "").replace("\\", "/").replace("\x00", "").rsplit("/", 1)[-1].strip()
    return base[-200:] if base not in ("", ".", "..") else f"upload-{n}"


async def _add_uploads(assistant: Any, request: Request) -> IngestReport:
    """Save the files under DATA_DIR/uploads/api-*/ (inside the index's folder, like the chat
    page's uploads), ingest them by path as `citeqa ingest` would, then delete them."""
    form = await request.form(max_files=MAX_UPLOAD_FILES, max_fields=20)
    try:
        files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
        if not files:
            raise InputError(
                "No files in the upload: send them as multipart field 'files' "
                "(curl -F files=@article.txt)."
            )
        replace = str(form.get("replace") or request.query_params.get("replace") or "")
        root = Path(assistant.settings.data_dir) / "uploads"
        root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="api-", dir=root))
        try:
            shown: dict[str, str] = {}  # saved path -> the name the client sent
            for n, upload in enumerate(files):
                name = _safe_name(upload.filename, n)
                dest = folder / name if name not in shown.values() else folder / str(n) / name
                dest.parent.mkdir(exist_ok=True)
                await run_in_threadpool(_save, upload, dest)
                shown[str(dest)] = name
            report = await run_in_threadpool(
                assistant.add, list(shown), replace=replace.lower() in ("1", "true", "yes", "on")
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        await form.close()
    return IngestReport(tuple(_as_uploaded(i, shown) for i in report.items), report.seconds)


def _save(upload: UploadFile, dest: Path) -> None:
    with dest.open("wb") as out:
        shutil.copyfileobj(upload.file, out)


def _as_uploaded(item: IngestItem, shown: dict[str, str]) -> IngestItem:
    """The report line with the client's file names, not our temporary paths."""
    origin, reason = item.origin, item.reason
    for path, name in shown.items():
        origin = origin.replace(path, name)
        reason = reason.replace(path, name) if reason else reason
    return IngestItem(origin, item.status, item.article_id, item.title, item.chunks, reason)


# --- running -----------------------------------------------------------------------------------


def _check_port(host: str, port: int) -> None:
    """A taken port as one clear line before the models load (uvicorn would say it after)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError as e:
            raise ConfigError(
                f"Cannot listen on {host}:{port} ({e.strerror or e}); pick another --port."
            ) from None


def auth_notice(keys: Sequence[str], host: str, port: int, prefix: str = "") -> str:
    where = f"http://{host}:{port}{prefix}/v1 (docs: http://{host}:{port}{prefix}/docs)"
    if keys:
        return (
            f"citeqa API on {where}; {len(keys)} API key(s) from {KEYS_ENV} required as "
            "'Authorization: Bearer KEY'."
        )
    return (
        f"citeqa API on {where}; no {KEYS_ENV} set, so no key is asked for and only this "
        "machine can connect (loopback)."
    )


def run(
    settings: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
) -> int:
    """`citeqa api`: check the bind, load the Assistant once, serve until Ctrl-C."""
    import uvicorn

    from qa.assistant import Assistant

    if max_in_flight < 1:
        raise InputError(f"--max-in-flight {max_in_flight}: must be 1 or more.")
    keys = api_keys()
    check_bind(host, keys)
    _check_port(host, port)
    assistant = Assistant(settings)
    try:
        app = create_app(assistant, keys=keys, max_in_flight=max_in_flight)
        print(auth_notice(keys, host, port), file=sys.stderr, flush=True)
        uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)
    finally:
        assistant.close()
    return 0


def page_api(assistant: Any, *, host: str, page_auth: bool, path: str = "/api") -> Any | None:
    """The API app to serve under `path` of the chat page's server (`citeqa serve`), on the
    page's Assistant; None when it would be weaker than the page: without API keys it is open
    to whoever reaches it, so then only on loopback, and never beside a password-protected
    page. Built before the page starts, and served from its first request (`page_routes`)."""
    keys = api_keys()
    if not keys and (page_auth or not is_loopback(host)):
        why = "the page has a password" if page_auth else f"{host} is not a loopback address"
        print(
            f"Note: the HTTP API is not served under {path}: no {KEYS_ENV} set and {why}. "
            f"Set {KEYS_ENV}=KEY1,KEY2 to serve it (clients send 'Authorization: Bearer KEY').",
            file=sys.stderr,
            flush=True,
        )
        return None
    return create_app(assistant, keys=keys)


def page_routes(app: Any, path: str = "/api") -> dict[str, Any]:
    """The page server's app arguments that serve `app` (from `page_api`) under `path` from
    its first request: mounted once the page was up, a client that saw the page answer could
    still get 404 from /api (CI, after the API was already built before the page)."""
    from starlette.routing import Mount

    return {"routes": [Mount(path, app=app)]}


def announce(*, host: str, port: int, path: str = "/api") -> None:
    """Say where the page's server serves the API and who may use it."""
    print(auth_notice(api_keys(), host, port, prefix=path), file=sys.stderr, flush=True)
