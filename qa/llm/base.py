"""One interface for every LLM backend: stream text for a list of chat messages.

A backend implements `_stream`; the rest (token accounting, collecting a full reply) is shared.
The answer step calls `reply`, which a model answers by streaming and a backend without a model
(`qa.extractive.ExtractiveLLM`) answers from the numbered sentences themselves.
`ReplyFormat` says what a valid reply looks like so backends that can constrain decoding
(llama.cpp grammars) keep even a small model parseable; others just follow the prompt.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qa.context import Context

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}


@dataclass(frozen=True, slots=True)
class ReplyFormat:
    """A cited answer: `min_sentences` to `max_sentences` sentences, each ending with ids
    from `refs`, or the abstain token alone."""

    refs: tuple[str, ...]
    max_sentences: int
    abstain_token: str
    min_sentences: int = 1


class LLM(ABC):
    """A chat model. Subclasses implement `_stream`; callers use `stream` or `complete`."""

    name: str = "llm"
    model: str = ""
    # False for a backend that answers without a language model (extractive): it is not asked
    # to rewrite a follow-up or to judge an answer, and it has no first token and no tokens.
    is_model: bool = True

    @abstractmethod
    def _stream(
        self, messages: Sequence[Message], *, fmt: ReplyFormat | None, max_tokens: int
    ) -> Iterator[str]:
        """Yield the reply in pieces as it is generated."""

    def stream(
        self, messages: Sequence[Message], *, fmt: ReplyFormat | None = None, max_tokens: int = 256
    ) -> Iterator[str]:
        yield from self._stream(messages, fmt=fmt, max_tokens=max_tokens)

    def complete(
        self, messages: Sequence[Message], *, fmt: ReplyFormat | None = None, max_tokens: int = 256
    ) -> str:
        return "".join(self.stream(messages, fmt=fmt, max_tokens=max_tokens))

    def reply(
        self,
        messages: Sequence[Message],
        context: Context,
        *,
        fmt: ReplyFormat | None = None,
        max_tokens: int = 256,
    ) -> Iterator[str]:
        """The answer step's reply, in pieces: `messages` show the numbered sentences of
        `context`. A model streams its answer to the messages; a backend that picks from the
        context itself reads `context` instead."""
        yield from self.stream(messages, fmt=fmt, max_tokens=max_tokens)

    def judge(
        self, messages: Sequence[Message], *, yes: str = "Yes", no: str = "No"
    ) -> float | None:
        """P(the reply starts with `yes` rather than `no`), from the model's next-token
        scores; None for backends that do not expose them (they then skip the check)."""
        return None

    def warm(self, prompts: Sequence[Sequence[Message]]) -> None:  # noqa: B027 - optional hook
        """Prepare for prompts that start like these (a local model evaluates the prefix they
        share once, so the first question does not pay for the fixed instructions)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release model memory or connections."""
