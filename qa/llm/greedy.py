"""Greedy decoding with a *lazily checked* grammar, on llama-cpp-python's low-level API.

llama-cpp-python applies a grammar to every one of the 151k vocabulary entries at every step,
which made our constrained answers ~4x slower than free decoding (about 4 vs 20 tokens/s on
two cores). Greedy decoding only needs to know whether the single best token is allowed, so we
check that one token first and fall back to masking the whole vocabulary only when it is
rejected (what llama.cpp's own `common_sampler` does). The output is identical to applying
the grammar to every step: the argmax over allowed tokens is the argmax when it is allowed.

The fixed instruction prefix stays in llama.cpp's KV cache, so it is evaluated once per process.
Only that prefix is reused, never a longer match with the previous prompt: llama.cpp's numbers
depend on where a batch starts, so reusing "whatever the last question shared" made an answer
depend on the question asked before it.
"""

from __future__ import annotations

import codecs
import ctypes
from collections.abc import Iterator
from typing import Any

import numpy as np


class _Grammar:
    """A llama.cpp grammar sampler used only to test and accept tokens."""

    def __init__(self, vocab: Any, gbnf: str, n_vocab: int) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._smpl = llama_cpp.llama_sampler_init_grammar(vocab, gbnf.encode(), b"root")
        if not self._smpl:
            raise ValueError("llama.cpp rejected the reply grammar")
        self._one = (llama_cpp.llama_token_data * 1)()
        self._full = (llama_cpp.llama_token_data * n_vocab)()
        # A structured view of the full array lets numpy fill ids and logits in one go.
        self._full_np = np.ctypeslib.as_array(self._full)
        self._full_np["id"] = np.arange(n_vocab, dtype=np.int32)

    def _apply(self, data: ctypes.Array, size: int) -> None:
        arr = self._lib.llama_token_data_array(
            data=ctypes.cast(data, self._lib.llama_token_data_p),
            size=size,
            selected=-1,
            sorted=False,
        )
        self._lib.llama_sampler_apply(self._smpl, ctypes.byref(arr))

    def allows(self, token: int) -> bool:
        self._one[0].id, self._one[0].logit, self._one[0].p = token, 0.0, 0.0
        self._apply(self._one, 1)
        return bool(np.isfinite(self._one[0].logit))

    def best_allowed(self, logits: np.ndarray) -> int:
        self._full_np["logit"] = logits
        self._apply(self._full, len(logits))
        return int(np.argmax(self._full_np["logit"]))

    def accept(self, token: int) -> None:
        self._lib.llama_sampler_accept(self._smpl, token)

    def close(self) -> None:
        if self._smpl:
            self._lib.llama_sampler_free(self._smpl)
            self._smpl = None


def common_prefix(a: np.ndarray | list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def eval_prompt(llm: Any, prompt: list[int], *, reuse: int) -> None:
    """Evaluate `prompt`, keeping at most `reuse` cached tokens (the fixed prefix); at least one
    prompt token is re-evaluated to refresh the logits. The caller holds the model's lock."""
    cached = common_prefix(llm.input_ids[: llm.n_tokens], prompt)
    keep = min(cached, reuse, len(prompt) - 1)
    llm.n_tokens = keep
    llm.eval(prompt[keep:])


def last_logits(llm: Any) -> np.ndarray:
    """The next-token scores after the last evaluated token (a view, valid until the next eval)."""
    import llama_cpp

    return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), (llm.n_vocab(),))


def greedy_stream(
    llm: Any, prompt: list[int], *, max_tokens: int, grammar: str | None, reuse: int = 0
) -> Iterator[str]:
    """Yield decoded text pieces. `llm` is a `llama_cpp.Llama`; the caller holds its lock.
    At most `reuse` cached tokens (the fixed prefix) are kept; the rest is evaluated afresh."""
    import llama_cpp

    n_ctx = llm.n_ctx()
    if len(prompt) + max_tokens > n_ctx:
        raise ValueError(
            f"the prompt ({len(prompt)} tokens) plus the answer ({max_tokens}) does not fit "
            f"the context window of {n_ctx} tokens"
        )
    eval_prompt(llm, prompt, reuse=reuse)
    vocab = llm._model.vocab
    n_vocab = llm.n_vocab()
    rules = _Grammar(vocab, grammar, n_vocab) if grammar else None
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    try:
        for _ in range(max_tokens):
            logits = last_logits(llm)
            token = int(np.argmax(logits))
            if rules is not None and not rules.allows(token):
                token = rules.best_allowed(logits)
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                break
            if rules is not None:
                rules.accept(token)
            piece = text.decode(llm.detokenize([token]))
            if piece:
                yield piece
            llm.eval([token])
        tail = text.decode(b"", final=True)
        if tail:
            yield tail
    finally:
        if rules is not None:
            rules.close()
