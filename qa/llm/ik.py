"""The default engine: ik_llama.cpp, through the C library that `ik-llama-cpp-python` ships.

Why this engine: on these 2-core AVX2 machines its CPU matrix kernels evaluate the prompt about
twice as fast as llama-cpp-python on the same GGUF (31-34 vs 60-74 tokens/s for a 330-token
prompt with weights repacked at load, bench/RESULTS.md), and the prompt is most of an answer's
time. Its wheel is prebuilt for cp311 manylinux AVX2, so setting up needs no compiler; on a CPU
with AVX-512 the same release compiled for it (`qa.llm.native`) is loaded instead, once built.

The binding's own `generate()` samples in Python over the whole vocabulary (~5 tokens/s), so we
use only its loaded library and its struct layouts (pinned to 0.1.5, whose layouts match the
library it ships) and bind the few extra functions we need: the grammar, the KV cache trim and
metadata. Everything above this module sees the small `Engine` surface that
`qa.llm.greedy` decodes with.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import ModelError
from qa.llm.greedy import CandidateGrammar

# llama.cpp logs through a process-wide callback; a no-op one keeps the CLI's output clean.
# It lives as long as the module because the library keeps the pointer.
_LOG_CALLBACK_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


def _quiet_log(level: int, text: bytes, user_data: Any) -> None:  # pragma: no cover - C calls it
    return None


_QUIET = _LOG_CALLBACK_TYPE(_quiet_log)


def _api(library: Path | None = None) -> Any:
    """The binding's ctypes module with the extra functions bound (idempotent). `library`: an
    ik_llama.cpp build to load instead of the wheel's (`qa.llm.native`); the binding loads one
    library per process, at its first import, from IK_LLAMA_CPP_LIB_PATH, so a path the user
    set there wins, and a process that loaded one library keeps it."""
    if library is not None and "ik_llama_cpp._ctypes_api" not in sys.modules:
        os.environ.setdefault("IK_LLAMA_CPP_LIB_PATH", str(library))
    try:
        from ik_llama_cpp import _ctypes_api as C
    except (ImportError, OSError) as e:
        raise ModelError(
            "The local engine ik-llama-cpp-python is not installed or cannot load here. "
            "Install it with `pip install ik-llama-cpp-python==0.1.5` (run `make setup`), "
            f"or use --backend extractive or --backend openai. ({e})"
        ) from None
    lib = C._lib
    if getattr(lib, "_citeqa_bound", False):
        return C
    vp, tok = ctypes.c_void_p, C.llama_token
    arr_p = ctypes.POINTER(C.llama_token_data_array)
    sigs: dict[str, tuple[list[Any], Any]] = {
        "llama_sampler_init_grammar": ([vp, ctypes.c_char_p, ctypes.c_char_p], vp),
        "llama_grammar_sample": ([vp, vp, arr_p], None),
        "llama_grammar_accept_token": ([vp, vp, tok], None),
        "llama_grammar_free": ([vp], None),
        "llama_kv_cache_seq_rm": (
            [vp, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32],
            ctypes.c_bool,
        ),
        "llama_model_meta_val_str": (
            [vp, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t],
            ctypes.c_int32,
        ),
        "llama_vocab_is_eog": ([vp, tok], ctypes.c_bool),
        "llama_token_bos": ([vp], tok),
        "llama_token_eos": ([vp], tok),
        "llama_log_set": ([_LOG_CALLBACK_TYPE, vp], None),
        "llama_n_ctx": ([vp], ctypes.c_uint32),
    }
    for name, (args, res) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, res
    lib.llama_log_set(_QUIET, None)
    lib._citeqa_bound = True
    return C


class IkGrammar(CandidateGrammar):
    """A GBNF grammar used only to test and accept tokens (see `qa.llm.greedy`)."""

    def __init__(self, engine: IkEngine, gbnf: str) -> None:
        C = engine._C
        self._lib, self._ctx = engine._lib, engine._ctx
        self._g = self._lib.llama_sampler_init_grammar(engine._vocab, gbnf.encode(), b"root")
        if not self._g:
            raise ValueError("ik_llama.cpp rejected the reply grammar")
        super().__init__(C.llama_token_data, C.llama_token_data_array, engine.n_vocab)

    def _sample(self, candidates: Any) -> None:
        self._lib.llama_grammar_sample(self._g, self._ctx, candidates)

    def accept(self, token: int) -> None:
        self._lib.llama_grammar_accept_token(self._g, self._ctx, token)

    def close(self) -> None:
        if self._g:
            self._lib.llama_grammar_free(self._g)
            self._g = None


class IkEngine:
    """One model and one context on ik_llama.cpp: tokenize, evaluate, read logits, grammar.

    `tokens` mirrors what the KV cache holds, so callers can keep a shared prefix and evaluate
    only the rest (`truncate` then `eval`).
    """

    name = "ik-llama.cpp"
    batched = True

    def __init__(
        self,
        model_path: str,
        *,
        n_ctx: int,
        n_threads: int,
        n_batch: int = 512,
        repack: bool = True,
        flash_attn: bool = False,
        library: Path | None = None,
    ) -> None:
        C = _api(library)
        self._C, self._lib = C, C._lib
        C.llama_backend_init()
        mp = C.llama_model_default_params()
        mp.n_gpu_layers = 0
        # Repacking rearranges the weights for the CPU kernels at load (+10-30 % prompt tokens/s
        # measured here); it needs the weights in RAM rather than memory-mapped.
        mp.repack_tensors = repack
        mp.use_mmap = not repack
        self._model = C.llama_model_load_from_file(model_path.encode(), mp)
        if not self._model:
            raise ModelError(f"ik_llama.cpp could not load the model {model_path}")
        self._vocab = C.llama_model_get_vocab(self._model)
        self.n_vocab = int(C.llama_vocab_n_tokens(self._vocab))
        cp = C.llama_context_default_params()
        cp.n_ctx, cp.n_batch, cp.n_ubatch = n_ctx, n_batch, n_batch
        cp.n_seq_max = 1
        cp.n_threads = cp.n_threads_batch = n_threads
        # The binding turns flash attention off on CPUs without AVX-VNNI: ik_llama.cpp's CPU
        # flash attention asserts on longer prompts there. Off by default; bench measures it.
        cp.flash_attn = flash_attn
        cp.embeddings = False
        self._ctx = C.llama_init_from_model(self._model, cp)
        if not self._ctx:
            C.llama_free_model(self._model)
            raise ModelError(f"ik_llama.cpp could not create a context of {n_ctx} tokens")
        self.n_ctx = int(self._lib.llama_n_ctx(self._ctx))
        self._n_batch = n_batch
        self.tokens: list[int] = []
        self._piece = ctypes.create_string_buffer(256)

    # -- text ---------------------------------------------------------------------------------

    def tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        data = text.encode("utf-8")
        C = self._C
        n = abs(C.llama_tokenize(self._model, data, len(data), None, 0, add_bos, special))
        buf = (C.llama_token * n)()
        got = C.llama_tokenize(self._model, data, len(data), buf, n, add_bos, special)
        return list(buf[:got])

    def piece(self, token: int) -> bytes:
        """The bytes of one token (a multi-byte character may span several tokens)."""
        n = self._C.llama_token_to_piece(self._model, token, self._piece, 256, 0, False)
        return self._piece.raw[:n] if n > 0 else b""

    def is_eog(self, token: int) -> bool:
        return bool(self._lib.llama_vocab_is_eog(self._vocab, token))

    def token_text(self, token: int) -> str:
        n = 256
        buf = ctypes.create_string_buffer(n)
        k = self._C.llama_token_to_piece(self._model, token, buf, n, 0, True)
        return buf.raw[: max(k, 0)].decode("utf-8", errors="replace")

    def special_tokens(self) -> tuple[int, int]:
        """(bos, eos) ids; -1 when the model has none."""
        return int(self._lib.llama_token_bos(self._model)), int(
            self._lib.llama_token_eos(self._model)
        )

    def metadata(self, key: str) -> str | None:
        n = self._lib.llama_model_meta_val_str(self._model, key.encode(), None, 0)
        if n < 0:
            return None
        buf = ctypes.create_string_buffer(n + 1)
        self._lib.llama_model_meta_val_str(self._model, key.encode(), buf, n + 1)
        return buf.value.decode("utf-8", errors="replace")

    # -- evaluation ---------------------------------------------------------------------------

    def truncate(self, n: int) -> None:
        """Forget every cached token from position `n` on."""
        if n < len(self.tokens):
            self._lib.llama_kv_cache_seq_rm(self._ctx, 0, n, -1)
            del self.tokens[n:]

    def eval(self, tokens: list[int]) -> None:
        """Append `tokens` to the cache in batches of n_batch; logits of the last one are kept."""
        for start in range(0, len(tokens), self._n_batch):
            self._decode(tokens[start : start + self._n_batch], every=False)

    def eval_many(self, tokens: list[int]) -> np.ndarray:
        """Append `tokens` (at most n_batch) in one batch; the logits after each, one row each."""
        if len(tokens) > self._n_batch:
            raise ValueError(f"{len(tokens)} tokens are more than one batch ({self._n_batch})")
        self._decode(tokens, every=True)
        rows = [
            np.ctypeslib.as_array(self._C.llama_get_logits_ith(self._ctx, i), (self.n_vocab,))
            for i in range(len(tokens))
        ]
        return np.array(rows, dtype=np.float32)

    def _decode(self, chunk: list[int], *, every: bool) -> None:
        """One llama_decode of `chunk`, with logits for every token or for the last only."""
        C = self._C
        if len(self.tokens) + len(chunk) > self.n_ctx:
            raise ValueError(
                f"{len(self.tokens) + len(chunk)} tokens do not fit the context window "
                f"of {self.n_ctx}"
            )
        batch = C.llama_batch_init(len(chunk), 0, 1)
        try:
            batch.n_tokens = len(chunk)
            pos0 = len(self.tokens)
            for i, t in enumerate(chunk):
                batch.token[i] = t
                batch.pos[i] = pos0 + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = 1 if every or i == len(chunk) - 1 else 0
            rc = C.llama_decode(self._ctx, batch)
        finally:
            C.llama_batch_free(batch)
        if rc != 0:
            self.truncate(len(self.tokens))
            raise ValueError(f"ik_llama.cpp could not evaluate the prompt (llama_decode {rc})")
        self.tokens.extend(chunk)

    def logits(self) -> np.ndarray:
        """Next-token scores after the last evaluated token (a view, valid until the next eval)."""
        ptr = self._C.llama_get_logits_ith(self._ctx, -1)
        return np.ctypeslib.as_array(ptr, (self.n_vocab,))

    def grammar(self, gbnf: str) -> IkGrammar:
        return IkGrammar(self, gbnf)

    def reset(self) -> None:
        self._C.llama_kv_cache_clear(self._ctx)
        self.tokens = []

    def close(self) -> None:
        if self._ctx:
            self._C.llama_free(self._ctx)
            self._ctx = None
        if self._model:
            self._C.llama_free_model(self._model)
            self._model = None
