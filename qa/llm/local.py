"""The default backend: a packaged GGUF model run by llama-cpp-python on the CPU.

Decoding is constrained by a GBNF grammar built per question from the ids actually shown, so
even a 1.5B model can only emit sentences that end in valid citation ids (or abstain). The
instruction prefix is fixed, so llama.cpp reuses its KV cache for it between questions.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from qa.errors import BackendError, ModelError
from qa.llm.base import LLM, Message, ReplyFormat


def reply_grammar(fmt: ReplyFormat) -> str:
    """GBNF: the abstain token, or 1..max sentences of free text each ending in 1-3 cite ids."""
    cite = " | ".join(f'"[{r}]"' for r in fmt.refs) or '"[S1]"'
    more = f"{{0,{max(0, fmt.max_sentences - 1)}}}"
    return "\n".join(
        [
            f'root ::= "{fmt.abstain_token}" | sentence (" " sentence){more}',
            'sentence ::= [A-Z0-9"\'(] [^\\[\\]\\n]{4,400} " "? cites "."?',
            "cites ::= cite cite{0,2}",
            f"cite ::= {cite}",
        ]
    )


class LocalLLM(LLM):
    name = "local"

    def __init__(
        self,
        model_path: Path,
        *,
        model_name: str,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as e:
            raise ModelError(
                "llama-cpp-python is not installed (or was built for another CPU). Install it "
                'with CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install llama-cpp-python==0.3.36, '
                f"or use --backend extractive. ({e})"
            ) from None
        self.model = model_name
        self.temperature = temperature
        self._lock = threading.Lock()  # one llama context; calls must not interleave
        try:
            self._llm = Llama(
                model_path=str(model_path),
                n_ctx=n_ctx,
                n_threads=n_threads or os.cpu_count() or 2,
                seed=seed,
                verbose=False,
            )
        except Exception as e:
            raise ModelError(f"Could not load the model {model_path}: {e}") from None

    def _stream(
        self, messages: Sequence[Message], *, fmt: ReplyFormat | None, max_tokens: int
    ) -> Iterator[str]:
        from llama_cpp import LlamaGrammar

        grammar = LlamaGrammar.from_string(reply_grammar(fmt), verbose=False) if fmt else None
        with self._lock:
            try:
                chunks = self._llm.create_chat_completion(
                    messages=list(messages),  # type: ignore[arg-type]
                    stream=True,
                    grammar=grammar,
                    max_tokens=max_tokens,
                    temperature=self.temperature,
                    top_k=1 if self.temperature == 0 else 40,
                )
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")  # type: ignore[index]
                    if piece:
                        yield piece
            except ValueError as e:  # e.g. prompt longer than the context window
                raise BackendError(f"The local model could not answer: {e}") from None

    def close(self) -> None:
        self._llm.close()
