"""Any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp server) via langchain-openai.

`timeout` is one answer's budget for waiting on the server, across all attempts and the pauses
between them, so a server that accepts connections and never replies fails after `timeout`
seconds, not after timeout x attempts. Callers that show progress (the CLI) wrap the call in
`wait_notices(...)` to hear "still waiting ..." every NOTICE_EVERY seconds meanwhile.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from qa.errors import BackendError, ConfigError
from qa.llm.base import LLM, Message, ReplyFormat

NOTICE_EVERY = 10.0  # seconds between "still waiting" notices

# Who hears the notices: set per context (the CLI's), so a server's request threads, which
# never set it, stay silent. (callback, interval) or None.
_notices: contextvars.ContextVar[tuple[Callable[[str], None], float] | None] = (
    contextvars.ContextVar("citeqa_llm_wait_notices", default=None)
)


@contextlib.contextmanager
def wait_notices(say: Callable[[str], None], every: float = NOTICE_EVERY) -> Iterator[None]:
    """While inside, an answer waiting on the server calls `say("still waiting ...")` every
    `every` seconds (from a helper thread: `say` must be thread-safe, e.g. one print)."""
    token = _notices.set((say, every))
    try:
        yield
    finally:
        _notices.reset(token)


def _pauses(retries: int, budget: float) -> list[float]:
    """The backoff before each retry (0.5 s, 1 s, 2 s ... at most 8 s), shrunk so that all of
    them take at most half the budget: the rest is for the attempts themselves."""
    pauses = [min(8.0, 0.5 * 2**i) for i in range(retries)]
    total = sum(pauses)
    if total > budget / 2:
        pauses = [p * budget / 2 / total for p in pauses]
    return pauses


class _Waiting:
    """Calls the context's notice callback every interval until stopped (the first piece of
    the reply arrived, or the answer failed)."""

    def __init__(self, url: str) -> None:
        self._stop = threading.Event()
        hook = _notices.get()
        if hook is None:
            return
        say, every = hook
        started = time.monotonic()

        def run() -> None:
            while not self._stop.wait(every):
                waited = time.monotonic() - started
                say(f"still waiting for the LLM server at {url} ({waited:.0f} s)")

        threading.Thread(target=run, name="citeqa-llm-wait", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()


class OpenAILLM(LLM):
    name = "openai"

    def __init__(
        self,
        *,
        base_url: str | None,
        model: str | None,
        api_key: str | None,
        timeout: float = 60.0,
        retries: int = 2,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> None:
        if not base_url and not api_key:
            raise ConfigError(
                "The openai backend needs a server: set CITEQA_OPENAI_BASE_URL "
                "(e.g. http://127.0.0.1:8080/v1) and, for hosted APIs, CITEQA_OPENAI_API_KEY."
            )
        from langchain_openai import ChatOpenAI

        self.model = model or "default"
        self.base_url = base_url
        self.retries = retries
        self.timeout = timeout
        self._chat = ChatOpenAI(
            model=self.model,
            base_url=base_url,
            api_key=api_key or "not-needed",  # local servers ignore it; the client wants one
            timeout=timeout,  # each attempt passes its share of the budget instead
            max_retries=0,  # we retry ourselves, with backoff and a clear final message
            temperature=temperature,
            seed=seed,
        )

    def _stream(
        self, messages: Sequence[Message], *, fmt: ReplyFormat | None, max_tokens: int
    ) -> Iterator[str]:
        attempts = self.retries + 1
        pauses = _pauses(self.retries, self.timeout)
        deadline = time.monotonic() + self.timeout
        waiting = _Waiting(self.url)
        last: Exception | None = None
        tried = 0
        try:
            for attempt in range(attempts):
                # This attempt's share of what is left after the pauses still to come: a
                # fast failure (connection refused) leaves more for the next attempts.
                left = deadline - time.monotonic() - sum(pauses[attempt:])
                share = left / (attempts - attempt)
                if attempt and share <= 0.01:  # the budget is spent; the first always runs
                    break
                tried += 1
                chat = self._chat.bind(max_tokens=max_tokens, timeout=share)
                started = False
                try:
                    for chunk in chat.stream([(m["role"], m["content"]) for m in messages]):
                        text = chunk.content if isinstance(chunk.content, str) else ""
                        if text:
                            if not started:
                                started = True
                                waiting.stop()
                            yield text
                    if started:
                        return
                    # A cited answer or the abstain token is never empty: an empty reply is a
                    # malformed one (e.g. chunks without `choices`), not a silent abstention.
                    raise _Malformed("the reply had no text")
                except Exception as e:  # network, HTTP status, malformed payload
                    if started:  # half an answer was streamed; retrying would duplicate it
                        raise BackendError(f"The LLM server failed mid-answer: {e}") from None
                    last = e
                    if attempt < self.retries:
                        time.sleep(max(0.0, min(pauses[attempt], deadline - time.monotonic())))
        finally:
            waiting.stop()
        raise BackendError(
            f"The LLM server at {self.url} {self._what(last)} after {tried} "
            f"attempt{'s' if tried != 1 else ''} ({type(last).__name__}: {last}). "
            f"{self._fix(last)}"
        )

    @property
    def url(self) -> str:
        return self.base_url or "api.openai.com"

    def _what(self, e: Exception | None) -> str:
        """Which of the three ways a server fails, from the exception langchain/openai raise."""
        name = type(e).__name__
        if "Timeout" in name:  # the whole budget, which is what the user set
            return f"did not answer within {self.timeout:g} s"
        if "Connection" in name:
            return "did not answer"  # nothing listening, or a wrong host/port
        return "did not give a usable reply"

    def _fix(self, e: Exception | None) -> str:
        name = type(e).__name__
        if "Timeout" in name:
            return (
                "Raise CITEQA_REQUEST_TIMEOUT if the server is just slow, or use --backend local."
            )
        if "Connection" in name:
            return (
                "Check that it is running and CITEQA_OPENAI_BASE_URL is right, "
                "or use --backend local."
            )
        return (
            "Check that it is an OpenAI-compatible chat completions endpoint and "
            "CITEQA_OPENAI_MODEL names a model it serves, or use --backend local."
        )


class _Malformed(Exception):
    """The server answered, but not with a chat completion we can use."""


@contextlib.contextmanager
def stderr_wait_notices() -> Iterator[None]:
    """While a command runs, a slow OpenAI-compatible server is reported on stderr every few
    seconds, so a hang looks like one. The command line asks for this (citeqa ask, citeqa
    eval); the API stays silent."""

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    with wait_notices(say, every=NOTICE_EVERY):
        yield
