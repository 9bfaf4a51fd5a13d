"""Decoding logic on a scripted engine (no model): what `greedy_stream` yields and when it stops."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from qa.llm.greedy import greedy_stream, open_reply

EOS = 0
PROMPT = [99]


class ScriptedEngine:
    """An `Engine` whose next-token scores always favour the next token of a fixed script.

    Tokens are 1 + the index of a piece in `pieces`; `evals` counts decoded tokens fed back,
    which is what costs time on a real engine."""

    name = "scripted"
    n_ctx = 4096

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces
        self.n_vocab = len(pieces) + 1
        self.tokens: list[int] = []
        self.evals = 0
        self._next = 0

    def tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        raise AssertionError("not used by decoding")

    def piece(self, token: int) -> bytes:
        return self.pieces[token - 1].encode()

    def is_eog(self, token: int) -> bool:
        return token == EOS

    def truncate(self, n: int) -> None:
        del self.tokens[n:]

    def eval(self, tokens: list[int]) -> None:
        if tokens == PROMPT:
            self._next = 0
        else:
            self._next += 1
            self.evals += 1
        self.tokens += tokens

    def logits(self) -> np.ndarray:
        scores = np.zeros(self.n_vocab, dtype=np.float32)
        scores[self._next + 1 if self._next < len(self.pieces) else EOS] = 1.0
        return scores

    def grammar(self, gbnf: str):  # pragma: no cover - these tests decode without one
        raise AssertionError("no grammar in these tests")


def _decode(pieces: list[str], **kwargs) -> tuple[str, ScriptedEngine]:
    engine = ScriptedEngine(pieces)
    out = "".join(greedy_stream(engine, PROMPT, max_tokens=50, grammar=None, **kwargs))
    return out, engine


class TestAbstainSpelledOtherwise:
    def test_stops_once_the_abstain_letters_are_out(self):
        pieces = ["Not", "_in", "_SOURCES", ".", " The", " article", " does", " not", " say"]
        out, engine = _decode(pieces, abstain="NOT_IN_SOURCES")
        assert out == "Not_in_SOURCES"
        assert engine.evals == 2  # "Not" and "_in" fed back; nothing after the token

    def test_an_answer_is_decoded_whole(self):
        pieces = ["Not", "ably", ",", " Putin", " went", " [S1]", "."]
        out, _ = _decode(pieces, abstain="NOT_IN_SOURCES")
        assert out == "Notably, Putin went [S1]."

    def test_without_abstain_nothing_stops_early(self):
        pieces = ["Not", "_in", "_SOURCES", ".", " The", " end"]
        out, _ = _decode(pieces)
        assert out == "Not_in_SOURCES. The end"


class MaskOnly:
    """A grammar that allows every token but `banned`."""

    def __init__(self, banned: Collection[int] = ()) -> None:
        self.banned = banned

    def masked(self, logits: np.ndarray) -> np.ndarray:
        out = logits.copy()
        out[list(self.banned)] = -np.inf
        return out


class TestOpenReply:
    """The first token: abstain on the abstain openings' total probability, not the argmax."""

    # token 1 = "NOT" (abstain), tokens 2..5 = four openings of an answer
    LOGITS = np.log(np.array([1e-9, 0.30, 0.20, 0.20, 0.15, 0.15]))

    def test_an_abstention_outscored_by_the_answers_together_answers(self):
        # argmax is token 1 (0.30), but answers hold 0.70
        assert int(np.argmax(self.LOGITS)) == 1
        assert open_reply(self.LOGITS, MaskOnly(), frozenset({1}), 0.5) == 2

    def test_it_abstains_when_the_share_reaches_the_threshold(self):
        assert open_reply(self.LOGITS, MaskOnly(), frozenset({1}), 0.29) == 1
        # several abstain openings ("N", "NOT") count together; the likeliest one is taken
        assert open_reply(self.LOGITS, MaskOnly(), frozenset({1, 2}), 0.45) == 1

    def test_the_share_is_of_what_the_grammar_allows(self):
        # with tokens 3..5 banned, "NOT" holds 0.30 / 0.50 of the allowed mass
        assert open_reply(self.LOGITS, MaskOnly({3, 4, 5}), frozenset({1}), 0.6) == 2
        assert open_reply(self.LOGITS, MaskOnly({3, 4, 5}), frozenset({1}), 0.5) == 1

    def test_no_abstain_opening_allowed_is_the_plain_argmax(self):
        assert open_reply(self.LOGITS, MaskOnly({1}), frozenset({1}), 0.1) == 2
        assert open_reply(self.LOGITS, MaskOnly(), frozenset(), 0.1) == 1

    # the sample's "Why did Armenia's prime minister skip the summit?": token 1 "NOT" 0.11,
    # token 2 "Not" 0.20, token 3 "P" (Pashinyan) 0.19, tokens 4-6 other answer openings
    CASE = np.log(np.array([1e-9, 0.11, 0.20, 0.19, 0.17, 0.17, 0.16]))

    def test_an_abstain_opening_in_other_case_is_taken_away_with_the_exact_one(self):
        # "Not" left in would lead once "NOT" is masked, and the reply would write
        # "Not_in_sources": an abstention through the back door at 0.31 < 0.5
        assert open_reply(self.CASE, MaskOnly(), frozenset({1}), 0.5) == 2
        assert open_reply(self.CASE, MaskOnly(), frozenset({1}), 0.5, frozenset({2})) == 3

    def test_other_case_counts_toward_abstaining_which_opens_with_the_exact_spelling(self):
        # "NOT" + "Not" = 0.31 reaches 0.25; the exact "NOT" is chosen though "Not" is likelier
        assert open_reply(self.CASE, MaskOnly(), frozenset({1}), 0.25, frozenset({2})) == 1
        # without the exact spelling allowed, the other case abstains
        assert open_reply(self.CASE, MaskOnly({1}), frozenset({1}), 0.15, frozenset({2})) == 2


class CopyingEngine:
    """An `Engine` whose reply is a fixed token script after the prompt, whatever else is in
    the cache: the next token is `script[len(tokens) - len(prompt)]`, so a wrong guess left in
    the cache would show as a wrong next token. `batches` counts evaluations of reply tokens."""

    name = "copying"
    batched = True
    n_ctx = 4096

    def __init__(self, prompt: list[int], script: list[int], n_vocab: int = 64) -> None:
        self.prompt, self.script, self.n_vocab = prompt, script, n_vocab
        self.tokens: list[int] = []
        self.batches = 0

    def piece(self, token: int) -> bytes:
        return f" t{token}".encode()

    def is_eog(self, token: int) -> bool:
        return token == EOS

    def truncate(self, n: int) -> None:
        del self.tokens[n:]

    def _scores(self, n_tokens: int) -> np.ndarray:
        at = n_tokens - len(self.prompt)
        scores = np.zeros(self.n_vocab, dtype=np.float32)
        scores[self.script[at] if at < len(self.script) else EOS] = 1.0
        return scores

    def eval(self, tokens: list[int]) -> None:
        self.batches += self.tokens[: len(self.prompt)] == self.prompt
        self.tokens += tokens

    def eval_many(self, tokens: list[int]) -> np.ndarray:
        self.batches += 1
        rows = [self._scores(len(self.tokens) + i + 1) for i in range(len(tokens))]
        self.tokens += tokens
        return np.stack(rows)

    def logits(self) -> np.ndarray:
        return self._scores(len(self.tokens))


class TestPromptLookup:
    """Guessed tokens come from the prompt, after the last n-gram written; none without one."""

    PROMPT = [5, 6, 7, 8, 9, 10, 5, 6, 11, 12]

    def test_the_latest_place_of_the_longest_match(self):
        from qa.llm.greedy import PromptLookup

        lookup = PromptLookup(self.PROMPT, 3)
        assert lookup.draft([1, 5, 6]) == [11, 12]  # "5 6" stands twice: the later one
        assert lookup.draft([7, 8]) == [9, 10, 5]
        assert lookup.draft([1, 2, 3]) == []
        assert lookup.draft([8]) == []  # one token alone is no match


class TestDraftedDecoding:
    """Decoding with guesses from the prompt writes what one-at-a-time decoding writes."""

    PROMPT = [30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40]

    def _run(self, script: list[int], draft: int) -> tuple[str, CopyingEngine]:
        engine = CopyingEngine(self.PROMPT, script)
        out = "".join(
            greedy_stream(engine, self.PROMPT, max_tokens=50, grammar=None, draft_tokens=draft)
        )
        return out, engine

    def test_same_reply_fewer_evaluations_when_it_copies(self):
        script = [20, 33, 34, 35, 36, 37, 38, 21, 22]  # copies "33 .. 38" from the prompt
        plain, _ = self._run(script, 0)
        drafted, engine = self._run(script, 3)
        assert drafted == plain == "".join(f" t{t}" for t in script)
        assert engine.batches < len(script)

    def test_a_wrong_guess_is_dropped_from_the_cache(self):
        # "32 33" is followed by 34 in the prompt, but the reply goes on with 23
        script = [32, 33, 23, 24, 36, 37, 25]
        plain, _ = self._run(script, 0)
        drafted, engine = self._run(script, 4)
        assert drafted == plain
        assert engine.tokens[: len(self.PROMPT) + len(script)] == self.PROMPT + script

    def test_max_tokens_holds_with_guesses(self):
        engine = CopyingEngine(self.PROMPT, [33, 34, 35, 36, 37, 38, 39, 40])
        out = "".join(
            greedy_stream(engine, self.PROMPT, max_tokens=4, grammar=None, draft_tokens=8)
        )
        assert out == " t33 t34 t35 t36"
