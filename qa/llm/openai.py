"""Any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp server) via langchain-openai."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from qa.errors import BackendError, ConfigError
from qa.llm.base import LLM, Message, ReplyFormat


class OpenAILLM(LLM):
    name = "openai"

    def __init__(
        self,
        *,
        base_url: str | None,
        model: str | None,
        api_key: str | None,
        timeout: float = 120.0,
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
            timeout=timeout,
            max_retries=0,  # we retry ourselves, with backoff and a clear final message
            temperature=temperature,
            seed=seed,
        )

    def _stream(
        self, messages: Sequence[Message], *, fmt: ReplyFormat | None, max_tokens: int
    ) -> Iterator[str]:
        chat = self._chat.bind(max_tokens=max_tokens)
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            started = False
            try:
                for chunk in chat.stream([(m["role"], m["content"]) for m in messages]):
                    text = chunk.content if isinstance(chunk.content, str) else ""
                    if text:
                        started = True
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
                    time.sleep(min(8.0, 0.5 * 2**attempt))
        raise BackendError(
            f"The LLM server at {self.base_url or 'api.openai.com'} {self._what(last)} after "
            f"{self.retries + 1} attempts ({type(last).__name__}: {last}). {self._fix(last)}"
        )

    def _what(self, e: Exception | None) -> str:
        """Which of the three ways a server fails, from the exception langchain/openai raise."""
        name = type(e).__name__
        if "Timeout" in name:
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
