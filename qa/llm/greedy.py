"""Decoding with a *lazily checked* grammar, over any `Engine` (ik_llama.cpp or llama.cpp).

Applying a grammar to every one of the 151k vocabulary entries at every step made our
constrained answers ~4x slower than free decoding (about 4 vs 20 tokens/s on two cores).
Greedy decoding only needs to know whether the single best token is allowed, so we check that
one token first and mask the whole vocabulary only when it is rejected (what llama.cpp's own
`common_sampler` does). The output is identical to applying the grammar at every step: the
argmax over allowed tokens is the argmax when it is allowed. Sampling (temperature > 0) does
the same over the top 40 tokens.

The fixed instruction prefix stays in the KV cache, so it is evaluated once per process.
Only that prefix is reused, never a longer match with the previous prompt: llama.cpp's numbers
depend on where a batch starts, so reusing "whatever the last question shared" made an answer
depend on the question asked before it.
"""

from __future__ import annotations

import codecs
import ctypes
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np

TOP_K = 40  # candidates a sampled (temperature > 0) step draws from, as llama.cpp's default


class Grammar(Protocol):
    def allows(self, token: int) -> bool: ...
    def masked(self, logits: np.ndarray) -> np.ndarray: ...
    def accept(self, token: int) -> None: ...
    def close(self) -> None: ...


class CandidateGrammar:
    """The test-one-token / mask-the-vocabulary mechanics both engines' grammars share: a
    one-entry and a whole-vocabulary `llama_token_data` array (ids filled once) handed to the
    engine's grammar sampler. Subclasses bind `_sample` (and accept/close) to their library."""

    def __init__(self, token_data: Any, token_data_array: Any, n_vocab: int) -> None:
        self._token_data, self._token_data_array = token_data, token_data_array
        self._one = (token_data * 1)()
        self._full = (token_data * n_vocab)()
        # A structured view of the full array lets numpy fill ids and logits in one go.
        self._full_np = np.ctypeslib.as_array(self._full)
        self._full_np["id"] = np.arange(n_vocab, dtype=np.int32)

    def _sample(self, candidates: Any) -> None:
        """Apply the grammar to `candidates` (a pointer to a llama_token_data_array)."""
        raise NotImplementedError

    def _apply(self, data: ctypes.Array, size: int) -> None:
        arr = self._token_data_array(
            data=ctypes.cast(data, ctypes.POINTER(self._token_data)),
            size=size,
            selected=-1,
            sorted=False,
        )
        self._sample(ctypes.byref(arr))

    def allows(self, token: int) -> bool:
        self._one[0].id, self._one[0].logit, self._one[0].p = token, 0.0, 0.0
        self._apply(self._one, 1)
        return bool(np.isfinite(self._one[0].logit))

    def masked(self, logits: np.ndarray) -> np.ndarray:
        """`logits` with every token the grammar rejects at -inf (a view; copy to keep)."""
        self._full_np["logit"] = logits
        self._apply(self._full, len(logits))
        return self._full_np["logit"]


class Engine(Protocol):
    """What decoding needs from an inference engine; `tokens` mirrors its KV cache."""

    name: str
    n_ctx: int
    n_vocab: int
    tokens: list[int]
    # Whether `eval_many` evaluates its tokens in one batch; if not, checking guesses costs a
    # step each and `draft_tokens` only loses time.
    batched: bool

    def tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]: ...
    def piece(self, token: int) -> bytes: ...
    def is_eog(self, token: int) -> bool: ...
    def token_text(self, token: int) -> str: ...
    def special_tokens(self) -> tuple[int, int]: ...
    def metadata(self, key: str) -> str | None: ...
    def truncate(self, n: int) -> None: ...
    def eval(self, tokens: list[int]) -> None: ...
    def eval_many(self, tokens: list[int]) -> np.ndarray: ...
    def logits(self) -> np.ndarray: ...
    def grammar(self, gbnf: str) -> Grammar: ...
    def reset(self) -> None: ...
    def close(self) -> None: ...


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def eval_prompt(engine: Engine, prompt: list[int], *, reuse: int) -> None:
    """Evaluate `prompt`, keeping at most `reuse` cached tokens (the fixed prefix); at least one
    prompt token is re-evaluated to refresh the logits. The caller holds the engine's lock."""
    cached = common_prefix(engine.tokens, prompt)
    keep = min(cached, reuse, len(prompt) - 1)
    engine.truncate(keep)
    engine.eval(prompt[keep:])


def _choose(
    logits: np.ndarray, rules: Grammar | None, temperature: float, rng: np.random.Generator
) -> int:
    if temperature <= 0:
        token = int(np.argmax(logits))
        if rules is not None and not rules.allows(token):
            token = int(np.argmax(rules.masked(logits)))
        return token
    top = np.argpartition(logits, -TOP_K)[-TOP_K:]
    if rules is not None:
        top = np.array([t for t in top if rules.allows(int(t))], dtype=np.int64)
        if top.size == 0:  # none of the top k is allowed: draw from the allowed ones
            allowed = rules.masked(logits).copy()
            top = np.argpartition(allowed, -TOP_K)[-TOP_K:]
            top = top[np.isfinite(allowed[top])]
    scores = logits[top].astype(np.float64) / temperature
    probs = np.exp(scores - scores.max())
    return int(top[rng.choice(len(top), p=probs / probs.sum())])


def abstain_tokens(engine: Engine, abstain: str) -> frozenset[int]:
    """The single tokens that spell a beginning of `abstain` at least three letters long
    ("NOT", "NOT_IN", ...): the openings that commit a reply to abstaining. "N" and "NO" open
    answers too ("Nikol Pashinyan ...", "No one ..."): counted, they made a sample answer
    abstain."""
    return _single_tokens(engine, _openings(abstain))


def abstain_tokens_other_case(engine: Engine, abstain: str) -> frozenset[int]:
    """The same openings in other letter case ("Not", "Not_in", "Not_In"): the model's way of
    abstaining once the grammar's exact spelling is taken from it. Its sentences may start
    with any capital, so the grammar cannot forbid them, and the reply then writes
    "Not_in_sources", which the reply parser reads as the abstention."""
    spellings = [f for o in _openings(abstain) for f in (o.capitalize(), o.title(), o.lower())]
    return _single_tokens(engine, spellings) - abstain_tokens(engine, abstain)


def _openings(abstain: str) -> list[str]:
    """The beginnings of `abstain` at least three letters long, and the whole of it."""
    return [abstain[:n] for n in range(min(3, len(abstain)), len(abstain) + 1)]


def _single_tokens(engine: Engine, texts: list[str]) -> frozenset[int]:
    out: set[int] = set()
    for text in texts:
        ids = engine.tokenize(text, add_bos=False, special=False)
        if len(ids) == 1:
            out.add(ids[0])
    return frozenset(out)


def open_reply(logits: np.ndarray, rules: Grammar, opens_abstain: frozenset[int],
               threshold: float, other_case: frozenset[int] = frozenset()) -> int:  # fmt: skip
    """The reply's first token, greedy, with abstaining decided on its total probability.

    The plain argmax sets the abstain reply's opening token against each opening of an answer
    on its own, though an answer's probability is spread over many openings ("The", "State",
    "A", "$" ...). So a model that gives the abstention 0.26 and its answers 0.74 abstained
    (on long news 4 of 55 answerable questions, each below 0.42, while the unanswerable ones
    it declined had 0.39-0.75). Here the reply abstains when the abstain openings' share of the
    allowed probability reaches `threshold`, else it opens with its likeliest other token.

    `other_case`, the abstain openings in other letter case ("Not"), count as abstaining and
    are taken away with the exact ones: left in, the reply that was to answer opened "Not"
    and wrote "Not_in_sources" whenever "Not" led the rest ("Why did Armenia's prime minister
    skip the summit?": "NOT" 0.11 and "Not" 0.19 against "P" 0.19 and "Ar" 0.17). Abstaining,
    it opens with the exact spelling where the grammar allows one."""
    allowed = rules.masked(logits).astype(np.float64)  # a copy: `masked` returns a view
    exact = [i for i in opens_abstain if np.isfinite(allowed[i])]
    ids = exact + [i for i in other_case - opens_abstain if np.isfinite(allowed[i])]
    if not ids:
        return int(np.argmax(allowed))
    probs = np.exp(allowed - allowed.max())
    if probs[ids].sum() / probs.sum() >= threshold:
        return max(exact or ids, key=lambda i: allowed[i])
    allowed[ids] = -np.inf
    return int(np.argmax(allowed))


class PromptLookup:
    """Guesses of the next tokens, read from the prompt (prompt lookup decoding).

    A cited answer mostly copies its sources and the question ("The engineer of the derailed
    Lakeline train has been working for the agency since …"), so where the last tokens written
    also stand in the prompt, the tokens that follow them there are a good guess. Checking
    eight guesses in one batch costs ~2x one decoding step (131 vs 63 ms on two cores,
    eval/RESULTS.md, stop 32), so every guess past the second that holds is time saved."""

    _SIZES = (3, 2)  # n-grams matched, longest first; one token alone guessed too wrongly

    def __init__(self, prompt: list[int], n: int) -> None:
        self._prompt, self._n = prompt, n
        self._after: dict[tuple[int, ...], int] = {}
        for size in self._SIZES:
            for i in range(len(prompt) - size):  # the latest place wins: the sources and question
                self._after[tuple(prompt[i : i + size])] = i + size

    def draft(self, history: list[int]) -> list[int]:
        """Up to `n` tokens that followed the end of `history` in the prompt, or none."""
        for size in self._SIZES:
            at = self._after.get(tuple(history[-size:]))
            if at is not None:
                return self._prompt[at : at + self._n]
        return []


def greedy_stream(
    engine: Engine,
    prompt: list[int],
    *,
    max_tokens: int,
    grammar: str | None,
    reuse: int = 0,
    temperature: float = 0.0,
    seed: int = 0,
    abstain: str | None = None,
    abstain_threshold: float | None = None,
    draft_tokens: int = 0,
) -> Iterator[str]:
    """Yield decoded text pieces; the caller holds the engine's lock. At most `reuse` cached
    tokens (the fixed prefix) are kept; the rest is evaluated afresh.

    `draft_tokens` (greedy only): guess up to that many next tokens from the prompt
    (`PromptLookup`) and check them in one batch (`Engine.eval_many`); the reply is the one
    greedy decoding gives, up to the float differences of batched evaluation.

    A reply that opens with `abstain` in other letter case ("Not_in_SOURCES. The article does
    not provide …") is an abstention the grammar cannot forbid (its sentences may start with
    any capital), and the model then explains itself for up to `max_tokens`: 190 tokens, ~13 s,
    twice in 80 long-news questions. Decoding stops once those letters are out. (With
    `abstain_threshold`, the first step counts those openings as abstaining: `open_reply`.)

    `abstain_threshold` (greedy, with a grammar and `abstain`): the reply abstains when the
    model's probability of opening with `abstain` reaches it (`open_reply`); None: the argmax."""
    if len(prompt) + max_tokens > engine.n_ctx:
        raise ValueError(
            f"the prompt ({len(prompt)} tokens) plus the answer ({max_tokens}) does not fit "
            f"the context window of {engine.n_ctx} tokens"
        )
    eval_prompt(engine, prompt, reuse=reuse)
    rules = engine.grammar(grammar) if grammar else None
    rng = np.random.default_rng(seed)
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    said = ""
    # The first step decides abstaining on its whole probability (greedy, under a grammar).
    first = None
    if rules is not None and abstain and abstain_threshold is not None and temperature <= 0:
        first = (
            rules,
            abstain_tokens(engine, abstain),
            abstain_threshold,
            abstain_tokens_other_case(engine, abstain),
        )
    lookup = PromptLookup(prompt, draft_tokens) if draft_tokens > 0 and temperature <= 0 else None
    history = list(prompt)
    # Tokens of a checked draft not yet reached, and the logits after each (already in cache).
    ahead: list[int] = []
    ahead_logits: list[np.ndarray] = []
    logits = engine.logits()
    try:
        for step in range(max_tokens):
            if step == 0 and first is not None:
                token = open_reply(logits, *first)
            else:
                token = _choose(logits, rules, temperature, rng)
            if engine.is_eog(token):
                break
            if rules is not None:
                rules.accept(token)
            piece = text.decode(engine.piece(token))
            if piece:
                yield piece
            if abstain and len(said) < len(abstain):
                said += piece
                if said.lstrip().upper().startswith(abstain.upper()):
                    return
            history.append(token)
            if ahead and ahead[0] == token:  # the draft guessed it: evaluated already
                ahead.pop(0)
                logits = ahead_logits.pop(0)
                continue
            if ahead:  # the draft went astray here: forget the rest of it
                engine.truncate(len(engine.tokens) - len(ahead))
                ahead, ahead_logits = [], []
            room = min(max_tokens - step - 2, engine.n_ctx - len(engine.tokens) - 1)
            draft = lookup.draft(history)[: max(room, 0)] if lookup is not None else []
            if draft:
                rows = engine.eval_many([token, *draft])
                logits, ahead, ahead_logits = rows[0], draft, list(rows[1:])
            else:
                engine.eval([token])
                logits = engine.logits()
        tail = text.decode(b"", final=True)
        if tail:
            yield tail
    finally:
        if rules is not None:
            rules.close()
