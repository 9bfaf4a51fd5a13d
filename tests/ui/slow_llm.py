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


def _handler(llm: SlowLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            llm.requests += 1
            first = llm.requests == 1
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
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
def slow_llm(**kwargs: float) -> Iterator[SlowLLM]:
    """A running SlowLLM on a free loopback port; `url` is its /v1 base."""
    llm = SlowLLM(**kwargs)  # type: ignore[arg-type]
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(llm))
    server.daemon_threads = True
    llm.url = f"http://127.0.0.1:{port}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield llm
    finally:
        llm.start.set()
        server.shutdown()
        server.server_close()


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
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            llm.requests += 1
            n = llm.requests
            llm.asked[min(n, len(llm.asked) - 1)].set()
            if n == llm.hold:
                llm.release.wait(timeout=300)
            reply = llm.replies[n - 1] if n <= len(llm.replies) else "NOT_IN_SOURCES"
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(_chunk(reply) + _chunk("", "stop") + b"data: [DONE]\n\n")

    return Handler


@contextmanager
def scripted_llm(replies: list[str], *, hold: int) -> Iterator[ScriptedLLM]:
    """A running ScriptedLLM on a free loopback port; `url` is its /v1 base."""
    llm = ScriptedLLM(replies, hold)
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _scripted_handler(llm))
    server.daemon_threads = True
    llm.url = f"http://127.0.0.1:{port}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield llm
    finally:
        llm.release.set()
        server.shutdown()
        server.server_close()
