"""The default backend: a packaged GGUF model run on the CPU by a local engine.

The engine is ik_llama.cpp (`qa.llm.ik`, prebuilt wheel, ~2x the prompt speed) or, where it is
installed, llama-cpp-python (`qa.llm.llamacpp`). Both sit behind `qa.llm.greedy.Engine`, so the
chat template, the grammar, the cached instruction prefix and decoding are one code path.

Decoding is constrained by a GBNF grammar built per question from the ids actually shown, so
even a 1.5B model can only emit sentences that end in valid citation ids (or abstain). The
instruction prefix is fixed, so its KV cache is reused between questions.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from qa.errors import BackendError, ModelError
from qa.llm.base import LLM, Message, ReplyFormat
from qa.llm.chat import ChatTemplate
from qa.llm.greedy import Engine, common_prefix, eval_prompt, greedy_stream

EngineName = Literal["ik", "llama-cpp"]


def reply_grammar(fmt: ReplyFormat) -> str:
    """GBNF: the abstain token, or min..max sentences of free text each ending in 1-3 cite ids."""
    cite = " | ".join(f'"[{r}]"' for r in fmt.refs) or '"[S1]"'
    more = f"{{{max(0, fmt.min_sentences - 1)},{max(0, fmt.max_sentences - 1)}}}"
    return "\n".join(
        [
            f'root ::= "{fmt.abstain_token}" | sentence (" " sentence){more}',
            'sentence ::= [A-Z0-9"\'(] [^\\[\\]\\n]{4,400} " "? cites "."?',
            "cites ::= cite cite{0,2}",
            f"cite ::= {cite}",
        ]
    )


def load_engine(
    engine: EngineName,
    model_path: Path,
    *,
    n_ctx: int,
    n_threads: int,
    flash_attn: bool = False,
    repack: bool = True,
    library: Path | None = None,
) -> Engine:
    try:
        if engine == "ik":
            from qa.llm.ik import IkEngine

            return IkEngine(
                str(model_path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                repack=repack,
                flash_attn=flash_attn,
                library=library,
            )
        if engine == "llama-cpp":
            from qa.llm.llamacpp import LlamaCppEngine

            return LlamaCppEngine(
                str(model_path), n_ctx=n_ctx, n_threads=n_threads, flash_attn=flash_attn
            )
    except ModelError:
        raise
    except Exception as e:
        raise ModelError(f"Could not load the model {model_path}: {e}") from None
    raise ModelError(f"Unknown local engine {engine!r}; use ik or llama-cpp.")


class LocalLLM(LLM):
    name = "local"

    def __init__(
        self,
        model_path: Path,
        *,
        model_name: str,
        engine: EngineName = "ik",
        n_ctx: int = 2048,
        n_threads: int | None = None,
        temperature: float = 0.0,
        seed: int = 0,
        flash_attn: bool = False,
        repack: bool = True,
        abstain_threshold: float | None = None,
        draft_tokens: int = 0,
        library: Path | None = None,
    ) -> None:
        self.model = model_name
        self.abstain_threshold = abstain_threshold
        self.temperature = temperature
        self.seed = seed
        self._lock = threading.Lock()  # one context; calls must not interleave
        self._reuse = 0  # cached prompt tokens a call may keep: the prefix `warm` evaluated
        self.engine = load_engine(
            engine,
            model_path,
            n_ctx=n_ctx,
            n_threads=n_threads or os.cpu_count() or 2,
            flash_attn=flash_attn,
            repack=repack,
            library=library,
        )
        # Guesses pay only where the engine checks them in one batch (ik_llama.cpp).
        self.draft_tokens = draft_tokens if self.engine.batched else 0
        template = self.engine.metadata("tokenizer.chat_template")
        if not template:
            self.engine.close()
            raise ModelError(f"{model_path} has no chat template (tokenizer.chat_template).")
        bos, eos = self.engine.special_tokens()
        self._chat = ChatTemplate(
            template,
            bos_token=self.engine.token_text(bos) if bos != -1 else "",
            eos_token=self.engine.token_text(eos) if eos != -1 else "",
        )

    def prompt_tokens(self, messages: Sequence[Message]) -> list[int]:
        """The chat template applied and tokenised, exactly as the model will read it."""
        # The template writes its own special tokens, so none is added in front.
        return self.engine.tokenize(self._chat.render(messages), add_bos=False, special=True)

    def _stream(
        self, messages: Sequence[Message], *, fmt: ReplyFormat | None, max_tokens: int
    ) -> Iterator[str]:
        prompt = self.prompt_tokens(messages)
        with self._lock:
            try:
                yield from greedy_stream(
                    self.engine,
                    prompt,
                    max_tokens=max_tokens,
                    grammar=reply_grammar(fmt) if fmt else None,
                    reuse=self._reuse,
                    temperature=self.temperature,
                    seed=self.seed,
                    abstain=fmt.abstain_token if fmt else None,
                    abstain_threshold=self.abstain_threshold,
                    draft_tokens=self.draft_tokens,
                )
            except ValueError as e:  # e.g. prompt longer than the context window
                raise BackendError(f"The local model could not answer: {e}") from None

    def judge(self, messages: Sequence[Message], *, yes: str = "Yes", no: str = "No") -> float:
        """One prompt evaluation, no decoding: the softmax of the first tokens of `yes` and
        `no` at the reply's first position. The cached instruction prefix is reused as for
        answers, so a check costs only its own ~100 new tokens."""
        prompt = self.prompt_tokens(messages)
        first = [self.engine.tokenize(w, add_bos=False, special=False)[0] for w in (yes, no)]
        with self._lock:
            try:
                eval_prompt(self.engine, prompt, reuse=self._reuse)
                pair = self.engine.logits()[first].astype(np.float64)
            except ValueError as e:
                raise BackendError(f"The local model could not check the answer: {e}") from None
        pair -= pair.max()
        odds = np.exp(pair)
        return float(odds[0] / odds.sum())

    def warm(self, prompts: Sequence[Sequence[Message]]) -> None:
        if len(prompts) < 2:
            return
        tokens = [self.prompt_tokens(p) for p in prompts]
        n = min(common_prefix(tokens[0], t) for t in tokens[1:])
        with self._lock:
            self._reuse = n
            if common_prefix(self.engine.tokens, tokens[0]) >= n:
                return
            self.engine.reset()
            self.engine.eval(tokens[0][:n])

    def close(self) -> None:
        self.engine.close()
