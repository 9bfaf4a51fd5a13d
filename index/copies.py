"""Wire copies: the same story reprinted by several outlets, recognised by MinHash.

An agency story reaches a library many times (small edits, another headline, a local
paragraph added). Every copy is kept, but retrieval shows one per story: copies fill the
context budget with the same sentence twice and crowd out the other stories. A MinHash
signature over word 5-shingles is computed at ingest and stored with the article; at question
time the retrieved candidates' signatures are compared pairwise (a few dozen articles), so no
global index of signatures is needed.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

PERMUTATIONS = 64
SHINGLE_WORDS = 5
_WORD = re.compile(r"[^\W_]+")


def _parameters() -> tuple[np.ndarray, np.ndarray]:
    # Fixed seed: a signature stored today must compare with one computed next year.
    rng = np.random.default_rng(20240601)
    masks = rng.integers(0, np.iinfo(np.uint64).max, size=PERMUTATIONS, dtype=np.uint64)
    odd = rng.integers(0, np.iinfo(np.uint64).max, size=PERMUTATIONS, dtype=np.uint64) | 1
    return masks, odd


# Each "permutation" is x -> (x XOR mask) * odd (mod 2**64), vectorised in numpy: measured
# 0.77 ms for a ~500-word text, next to ~200 ms an article takes to ingest (4.9 articles/s,
# bench/RESULTS.md).
_MASKS, _ODD = _parameters()


def shingles(text: str, n: int = SHINGLE_WORDS) -> set[str]:
    words = _WORD.findall(text.lower())
    if len(words) <= n:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def signature(text: str) -> str:
    """The MinHash of the text's shingles, as hex (stored in the article's metadata)."""
    grams = shingles(text)
    if not grams:
        return ""
    x = np.array(
        [int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "big")
         for g in grams],
        dtype=np.uint64,
    )  # fmt: skip
    with np.errstate(over="ignore"):
        mins = ((x[:, None] ^ _MASKS[None, :]) * _ODD[None, :]).min(axis=0)
    return "".join(f"{int(m):016x}" for m in mins)


def similarity(sig_a: str, sig_b: str) -> float:
    """Estimated Jaccard similarity of two texts' shingle sets (0 when either is unknown)."""
    if not sig_a or not sig_b or len(sig_a) != len(sig_b):
        return 0.0
    a = [sig_a[i : i + 16] for i in range(0, len(sig_a), 16)]
    b = [sig_b[i : i + 16] for i in range(0, len(sig_b), 16)]
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
