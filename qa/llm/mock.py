"""`MockLLM`: a scripted chat model for tests, as simonw/llm's `MockModel`.

The answer path's checks (citation parsing, support, abstention, the history rewrite) are about
what happens to a reply, not about how a model writes it: with replies given in advance they
are tested in milliseconds, with no weights loaded and no nondeterminism. The mock also records
what it was asked (messages, the ReplyFormat, max_tokens), so a test can check the prompt.

It is registered as the hidden backend `mock`: `Settings(backend="mock")` works (the factory
gives an empty script; add replies with `enqueue`), but no user-facing list offers it.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from qa.llm.base import LLM, Message, ReplyFormat

Script = Callable[[Sequence[Message]], str]  # messages -> the whole reply
Judge = Callable[[Sequence[Message]], float | None]

_PIECE = re.compile(r"(?<=\s)(?=\S)")  # before each word that follows whitespace


@dataclass(frozen=True, slots=True)
class Call:
    """One request the mock received: `kind` is "stream" (complete streams too) or "judge"."""

    kind: str
    messages: tuple[Message, ...]
    fmt: ReplyFormat | None = None
    max_tokens: int = 0


class MockLLM(LLM):
    """Replies from a script, streamed a word at a time.

    `replies` is a list used in order, one per call (running out is an AssertionError naming
    the call, so a test that asks more than it scripted fails loudly), a single reply, or a
    function of the messages. `judge` is the value `judge` returns (or a function of the
    messages); None, like backends without next-token scores. At most `max_tokens` pieces are
    streamed, one piece standing for a token, as a real model stops there."""

    name = "mock"

    def __init__(
        self,
        replies: Iterable[str] | Script = (),
        *,
        judge: float | Judge | None = None,
        model: str = "mock",
    ) -> None:
        self.model = model
        if isinstance(replies, str):  # one reply, not a list of its characters
            replies = (replies,)
        self._script: Script | None = replies if callable(replies) else None
        self._queue: deque[str] = deque() if callable(replies) else deque(replies)
        self._judge = judge
        self.calls: list[Call] = []
        self.warmed: list[tuple[Message, ...]] = []
        self.closed = False

    def enqueue(self, *replies: str) -> None:
        """Add replies to the end of the script (for a mock made by name, e.g. through
        `Assistant.llm("mock")`)."""
        if self._script is not None:
            raise TypeError("This MockLLM replies with a function; it has no queue to add to.")
        self._queue.extend(replies)

    @property
    def last(self) -> Call:
        """The most recent call (an AssertionError if there was none)."""
        assert self.calls, "MockLLM was never called"
        return self.calls[-1]

    def _stream(
        self, messages: Sequence[Message], *, fmt: ReplyFormat | None, max_tokens: int
    ) -> Iterator[str]:
        self.calls.append(Call("stream", _copy(messages), fmt, max_tokens))
        if self._script is not None:
            reply = self._script(messages)
        else:
            n = sum(c.kind == "stream" for c in self.calls)
            assert self._queue, f"MockLLM has no reply left for call {n}; script more replies"
            reply = self._queue.popleft()
        yield from pieces(reply)[:max_tokens]

    def judge(
        self, messages: Sequence[Message], *, yes: str = "Yes", no: str = "No"
    ) -> float | None:
        self.calls.append(Call("judge", _copy(messages)))
        return self._judge(messages) if callable(self._judge) else self._judge

    def warm(self, prompts: Sequence[Sequence[Message]]) -> None:
        self.warmed += [_copy(p) for p in prompts]

    def close(self) -> None:
        self.closed = True


def pieces(reply: str) -> list[str]:
    """`reply` cut before each word that follows a space ("a b" -> ["a ", "b"]): the pieces
    join back to exactly `reply`, as a model's streamed tokens do."""
    return [p for p in _PIECE.split(reply) if p]


def mock_llm(settings: Any) -> MockLLM:
    """The `mock` backend's factory: an empty script (settings are not read)."""
    return MockLLM()


def _copy(messages: Sequence[Message]) -> tuple[Message, ...]:
    """The messages as they were at the call, safe from later changes by the caller."""
    return tuple(dict(m) for m in messages)
