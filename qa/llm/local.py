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
from typing import Any

from qa.errors import BackendError, ModelError
from qa.llm.base import LLM, Message, ReplyFormat
from qa.llm.greedy import common_prefix, eval_prompt, greedy_stream, last_logits


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
        self._reuse = 0  # cached prompt tokens a call may keep: the prefix `warm` evaluated
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
        self._chat = _chat_formatter(self._llm)

    def _stream(
        self, messages: Sequence[Message], *, fmt: ReplyFormat | None, max_tokens: int
    ) -> Iterator[str]:
        if self.temperature == 0 and self._chat is not None:
            yield from self._greedy(messages, fmt=fmt, max_tokens=max_tokens)
            return
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
                    top_k=40,
                )
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")  # type: ignore[index]
                    if piece:
                        yield piece
            except ValueError as e:  # e.g. prompt longer than the context window
                raise BackendError(f"The local model could not answer: {e}") from None

    def prompt_tokens(self, messages: Sequence[Message]) -> list[int]:
        """The chat template applied and tokenised, exactly as the model will read it."""
        assert self._chat is not None
        rendered = self._chat(messages=list(messages))  # type: ignore[arg-type]
        return self._llm.tokenize(
            rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )

    def _greedy(
        self, messages: Sequence[Message], *, fmt: ReplyFormat | None, max_tokens: int
    ) -> Iterator[str]:
        prompt = self.prompt_tokens(messages)
        with self._lock:
            try:
                yield from greedy_stream(
                    self._llm,
                    prompt,
                    max_tokens=max_tokens,
                    grammar=reply_grammar(fmt) if fmt else None,
                    reuse=self._reuse,
                )
            except ValueError as e:  # e.g. prompt longer than the context window
                raise BackendError(f"The local model could not answer: {e}") from None

    def judge(self, messages: Sequence[Message], *, yes: str = "Yes", no: str = "No") -> float:
        """One prompt evaluation, no decoding: the softmax of the first tokens of `yes` and
        `no` at the reply's first position. The cached instruction prefix is reused as for
        answers, so a check costs only its own ~100 new tokens."""
        import numpy as np

        prompt = self.prompt_tokens(messages)
        first = [self._llm.tokenize(w.encode(), add_bos=False, special=False)[0] for w in (yes, no)]
        with self._lock:
            try:
                eval_prompt(self._llm, prompt, reuse=self._reuse)
                pair = last_logits(self._llm)[first].astype(np.float64)
            except ValueError as e:
                raise BackendError(f"The local model could not check the answer: {e}") from None
        pair -= pair.max()
        odds = np.exp(pair)
        return float(odds[0] / odds.sum())

    def warm(self, prompts: Sequence[Sequence[Message]]) -> None:
        if self._chat is None or len(prompts) < 2:
            return
        tokens = [self.prompt_tokens(p) for p in prompts]
        n = min(common_prefix(tokens[0], t) for t in tokens[1:])
        with self._lock:
            self._reuse = n
            if common_prefix(self._llm.input_ids[: self._llm.n_tokens], tokens[0]) >= n:
                return
            self._llm.reset()
            self._llm.eval(tokens[0][:n])

    def close(self) -> None:
        self._llm.close()


def _chat_formatter(llm: Any) -> Any:
    """The GGUF's own chat template (as llama-cpp-python uses it), or None if it has none."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    model = llm._model
    eos, bos = model.token_eos(), model.token_bos()
    return Jinja2ChatFormatter(
        template=template,
        eos_token=model.token_get_text(eos) if eos != -1 else "",
        bos_token=model.token_get_text(bos) if bos != -1 else "",
        stop_token_ids=[eos],
    )
