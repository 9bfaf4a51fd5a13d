"""Stand-in OpenAI-compatible LLM servers for the page's browser tests.

SlowLLM: its first answer waits until the test lets it start, then streams words slowly until
told or until its client goes away; later answers are an immediate abstention. It records what
it sent and whether the client hung up mid-answer, so a test can see that Stop really ended
generation. ScriptedLLM: set replies in order, one of them held until the test releases it
(the page's draft is then on screen while the second reading "runs")."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.conftest import free_port


class SlowLLM:
    """State shared with the handler: `start` lets the first answer begin; `hung_up` is set
    when its client closes the connection before the answer is complete."""

    def __init__(self, words: int = 2000, every: float = 0.2) -> None:
        self.words = words
        self.every = every
        self.start = threading.Event()
        self.asked = threading.Event()  # the first request has arrived
        self.hung_up = threading.Event()
        self.sent = 0
        self.requests = 0
        self.url = ""


def _chunk(text: str, finish: str | None = None) -> bytes:
    delta = {"role": "assistant", "content": text} if text else {}
    body = {
        "id": "slow-1", "object": "chat.completion.chunk", "created": 0, "model": "slow",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }  # fmt: skip
    return f"data: {json.dumps(body)}\n\n".encode()


class _Streaming(BaseHTTPRequestHandler):
    """A quiet handler that takes a chat request and opens an event stream for its reply."""

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _take_request(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def _open_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()


def _handler(llm: SlowLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(_Streaming):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            self._take_request()
            llm.requests += 1
            first = llm.requests == 1
            self._open_stream()
            if not first:
                self.wfile.write(
                    _chunk("NOT_IN_SOURCES") + _chunk("", "stop") + b"data: [DONE]\n\n"
                )
                return
            llm.asked.set()
            llm.start.wait(timeout=300)
            try:
                for _ in range(llm.words):
                    self.wfile.write(_chunk("Norrvik "))
                    llm.sent += 1
                    time.sleep(llm.every)
                self.wfile.write(_chunk("", "stop") + b"data: [DONE]\n\n")
            except (BrokenPipeError, ConnectionResetError):
                llm.hung_up.set()

    return Handler


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler], unblock: threading.Event) -> Iterator[str]:
    """`handler` served on a free loopback port; yields its /v1 base. On the way out `unblock`
    is set first, so a request the test still holds ends and the server can shut down."""
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        unblock.set()
        server.shutdown()
        server.server_close()


@contextmanager
def slow_llm(**kwargs: float) -> Iterator[SlowLLM]:
    """A running SlowLLM on a free loopback port; `url` is its /v1 base."""
    llm = SlowLLM(**kwargs)  # type: ignore[arg-type]
    with _serving(_handler(llm), llm.start) as llm.url:
        yield llm


class ScriptedLLM:
    """Replies given in order, one per request, each streamed in one piece; request `hold`
    (1-based) waits until the test sets `release`. `asked[n]` is set when request n arrives."""

    def __init__(self, replies: list[str], hold: int) -> None:
        self.replies = replies
        self.hold = hold
        self.release = threading.Event()
        self.asked = [threading.Event() for _ in range(len(replies) + 2)]
        self.requests = 0
        self.url = ""


def _scripted_handler(llm: ScriptedLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(_Streaming):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            self._take_request()
            llm.requests += 1
            n = llm.requests
            llm.asked[min(n, len(llm.asked) - 1)].set()
            if n == llm.hold:
                llm.release.wait(timeout=300)
            reply = llm.replies[n - 1] if n <= len(llm.replies) else "NOT_IN_SOURCES"
            self._open_stream()
            self.wfile.write(_chunk(reply) + _chunk("", "stop") + b"data: [DONE]\n\n")

    return Handler


@contextmanager
def scripted_llm(replies: list[str], *, hold: int) -> Iterator[ScriptedLLM]:
    """A running ScriptedLLM on a free loopback port; `url` is its /v1 base."""
    llm = ScriptedLLM(replies, hold)
    with _serving(_scripted_handler(llm), llm.release) as llm.url:
        yield llm
