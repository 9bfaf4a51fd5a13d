"""An optional engine: llama-cpp-python (upstream llama.cpp), for comparison and fallback.

It is no longer installed by default (it builds from source, ~9 of the 14 minutes a fresh set-up
took); `--engine llama-cpp` uses it where it is installed. Same `Engine` surface as
`qa.llm.ik.IkEngine`, so decoding, the grammar and the prefix cache are shared code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qa.errors import ModelError
from qa.llm.greedy import CandidateGrammar


class LlamaCppGrammar(CandidateGrammar):
    """A llama.cpp grammar sampler used only to test and accept tokens."""

    def __init__(self, vocab: Any, gbnf: str, n_vocab: int) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._smpl = llama_cpp.llama_sampler_init_grammar(vocab, gbnf.encode(), b"root")
        if not self._smpl:
            raise ValueError("llama.cpp rejected the reply grammar")
        super().__init__(llama_cpp.llama_token_data, llama_cpp.llama_token_data_array, n_vocab)

    def _sample(self, candidates: Any) -> None:
        self._lib.llama_sampler_apply(self._smpl, candidates)

    def accept(self, token: int) -> None:
        self._lib.llama_sampler_accept(self._smpl, token)

    def close(self) -> None:
        if self._smpl:
            self._lib.llama_sampler_free(self._smpl)
            self._smpl = None


class LlamaCppEngine:
    name = "llama.cpp"
    batched = False  # the Llama object keeps the last logits only (no logits_all)

    def __init__(
        self, model_path: str, *, n_ctx: int, n_threads: int, flash_attn: bool = False
    ) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as e:
            raise ModelError(
                "The llama-cpp engine needs llama-cpp-python: "
                'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install llama-cpp-python==0.3.36 '
                f"(a source build), or use the default engine, ik. ({e})"
            ) from None
        self._llm = Llama(
            model_path=model_path,
            n_ctx=n_ctx,
            n_threads=n_threads,
            flash_attn=flash_attn,
            verbose=False,
        )
        self.n_ctx = self._llm.n_ctx()
        self.n_vocab = self._llm.n_vocab()
        self._vocab = self._llm._model.vocab

    @property
    def tokens(self) -> list[int]:
        return [int(t) for t in self._llm.input_ids[: self._llm.n_tokens]]

    def tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)

    def piece(self, token: int) -> bytes:
        return self._llm.detokenize([token])

    def is_eog(self, token: int) -> bool:
        import llama_cpp

        return bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))

    def token_text(self, token: int) -> str:
        return self._llm._model.token_get_text(token)

    def special_tokens(self) -> tuple[int, int]:
        return self._llm._model.token_bos(), self._llm._model.token_eos()

    def metadata(self, key: str) -> str | None:
        return self._llm.metadata.get(key)

    def truncate(self, n: int) -> None:
        # llama-cpp-python's eval drops the cache past n_tokens itself.
        self._llm.n_tokens = min(n, self._llm.n_tokens)

    def eval(self, tokens: list[int]) -> None:
        self._llm.eval(tokens)

    def eval_many(self, tokens: list[int]) -> np.ndarray:
        rows = []
        for t in tokens:  # one at a time: see `batched`
            self.eval([t])
            rows.append(np.array(self.logits(), dtype=np.float32))
        return np.stack(rows)

    def logits(self) -> np.ndarray:
        import llama_cpp

        ptr = llama_cpp.llama_get_logits_ith(self._llm._ctx.ctx, -1)
        return np.ctypeslib.as_array(ptr, (self.n_vocab,))

    def grammar(self, gbnf: str) -> LlamaCppGrammar:
        return LlamaCppGrammar(self._vocab, gbnf, self.n_vocab)

    def reset(self) -> None:
        self._llm.reset()

    def close(self) -> None:
        self._llm.close()
