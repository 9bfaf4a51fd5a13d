"""The one settings object: defaults < config file (TOML) < CITEQA_* env vars < explicit overrides.

It is built once at the edge (CLI, app, test) and passed down; nothing reads the environment later.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.paths import default_cache_dir
from qa.errors import ConfigError
from qa.llm import registry

# The most chunks one question may retrieve (`k`): past this the context budget
# (`context_tokens`) drops most of them anyway. The one bound, checked here for every way k
# arrives (--k, CITEQA_K, the config file, the Python API).
K_MAX = 50


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "citeqa"


class Settings(BaseSettings):
    """Every knob citeqa has. Env var names are the field names upper-cased, prefixed CITEQA_."""

    model_config = SettingsConfigDict(env_prefix="CITEQA_", extra="forbid", frozen=True)

    data_dir: Path = Field(default_factory=_default_data_dir)
    cache_dir: Path = Field(default_factory=default_cache_dir)
    chroma_url: str | None = None  # e.g. http://127.0.0.1:8000 — use a Chroma server
    collection: str = "citeqa"
    ingest_lock_timeout: float = 600.0  # seconds to wait while another process ingests
    # Let the page's Library fetch a web address (a page or a feed). Off by default: the server
    # would fetch whatever a user types, addresses on its own network included.
    allow_fetch: bool = False

    # Chunking and retrieval
    chunk_tokens: int = 160  # target embedding-model tokens per chunk (hard cap: model max)
    chunk_overlap_sentences: int = 1
    k: int = 5  # 1..K_MAX
    candidates: int = 30  # per retriever, before fusion
    rrf_k: int = 60
    # Fuse a third ranking: the candidates by their best sentence's similarity to the question.
    sentence_fusion: bool = True
    # A question naming a period at most this many days long ("this week", "yesterday", "on
    # Tuesday") gets its top story's lead chunk ranked first, where news says what happened.
    # 0 turns it off. With a day of slack either side, "this week" spans up to 10 days and
    # "last week" 11; "this month" (33) is left to the ranking.
    recent_lead_days: float = 11.0
    embed_batch_size: int = 32  # torch backend only; ONNX embeds one unpadded text per run
    embed_backend: Literal["torch", "onnx", "onnx-int8"] = "onnx"  # index and queries alike

    # Answering
    backend: str = "local"  # a name in qa.llm.registry: local, openai, extractive or a plugin's
    model: str = "qwen2.5-coder-1.5b"
    model_path: Path | None = None  # a GGUF file to use instead of a packaged model
    # The local inference engine: ik_llama.cpp (prebuilt wheel; ~2x llama.cpp's prompt speed on
    # these CPUs, bench/RESULTS.md) or llama-cpp-python where it is installed.
    engine: Literal["ik", "llama-cpp"] = "ik"
    flash_attn: bool = False  # ik_llama.cpp's CPU flash attention asserts without AVX-VNNI
    # "auto": ik_llama.cpp built for this CPU (AVX-512 with VNNI) when `citeqa engine --build`
    # has made it, else the wheel's AVX2 library; "wheel": always the wheel's. With the build
    # the sample bench's first token came at 3.79 s instead of 4.54, the whole answer at 6.59 s
    # instead of 8.59 (p50, same day; bench/RESULTS.md, stop 36).
    native_library: Literal["auto", "wheel"] = "auto"
    lead_sentences: int = 2  # each retrieved article's first N sentences are candidates too
    # When some retrieved articles hold all the question's names and numbers, the context is
    # drawn from those only: a look-alike story (another town's mayor, another state's storm)
    # is then not there for the model to answer from.
    anchor_focus: bool = True
    # Articles whose word 5-shingles overlap at least this much (MinHash estimate of Jaccard)
    # are one story's copies: retrieval shows the best-ranked one and names the others'
    # outlets. Above 1 turns folding off.
    copy_threshold: float = 0.6
    # How an article date like 03/04/2022 is read when either order makes a date (month first
    # in the US exports we met); every such reading is named in the ingest report.
    date_order: Literal["MDY", "DMY"] = "MDY"
    context_tokens: int = 350  # tiktoken (cl100k_base) budget for the numbered sentences
    # A wider budget when retrieval settles on one long article: at least `long_article_chunks`
    # of the k chunks come from it (a 280-word story has at most 3). Off by default (no wider
    # than `context_tokens`). With 600 tokens and this stop's checks, the long-news dev set
    # gained (answer contains 0.673 -> 0.764) and the sample set lost (0.711 -> 0.658,
    # unanswerables abstained 0.750 -> 0.583: the 1.5B model answers from the extra sentences,
    # or declines), and p50 latency rose 4.4 -> 6.9 s and 3.8 -> 8.1 s (eval/RESULTS.md).
    long_context_tokens: int = 350
    # How much of the vector the context ranks a sentence by is the sentence read after the
    # one before it (the rest: the sentence alone; both stored at ingest). A sentence naming
    # its subject only as "the 71-year-old" or "It" is unlike a question that names it. With
    # 0.5 the share of answerable questions with every gold sentence shown rose on long news
    # 0.818 -> 0.891 and CLAP NQ 0.820 -> 0.900, news and sample level; 0.3-0.7 all gained on
    # both, the headline in place of the sentence before did not on news (eval/RESULTS.md,
    # stop 30). 0 ranks sentences alone, as before. Retrieval's best-sentence ranking reads
    # the sentences alone: windows there cost news hit@1 0.850 -> 0.835.
    context_window_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    long_article_chunks: int = 4
    # How the numbered sentences are laid out: one a line, or sentences that follow one another
    # in the article joined into one line (a new line where text was left out). Paragraphs,
    # against one a line on the same questions: long news answer contains 0.654 -> 0.691,
    # citation precision 0.790 -> 0.847; news abstain correct 0.750 -> 0.771, citation P/R
    # 0.925/0.839 -> 0.940/0.854; sample abstain correct 0.750 -> 0.833, contains 0.711 ->
    # 0.684 (one answer); +4 prompt tokens (eval/RESULTS.md, stop 28).
    context_layout: Literal["lines", "paragraphs"] = "paragraphs"
    max_answer_tokens: int = 200
    max_answer_sentences: int = Field(default=4, ge=1)
    # Local model: the fewest sentences the grammar lets a reply have (an abstention aside).
    # The 1.5B model stops after one sentence where it can. Held to two, CLAP NQ's long-form
    # answers gained (answer recall 0.375 -> 0.511, citation recall 0.365 -> 0.484, ahead of
    # the baseline's 0.468) but the second sentences on news were mostly padding: news
    # citation precision 0.936 -> 0.745, sample unanswerables abstained 1.000 -> 0.833, and
    # +0.6-1.3 s p50 (eval/RESULTS.md, stop 39). So 1; 2 for fuller answers to topic queries.
    min_answer_sentences: int = Field(default=1, ge=1)
    grammar: bool = True  # constrain local decoding to "text [S#]" sentences (slower per token)
    # Local model: the reply abstains when its probability of opening with NOT_IN_SOURCES (in
    # any letter case, stop 37) reaches this, rather than when that opening outscores each
    # answer's opening on its own (qa.llm.greedy.open_reply). None ("off"): the plain argmax.
    # At 0.5, news contains 0.898 -> 0.921 and abstain wrong 0.063 -> 0.039 with abstain
    # correct unchanged; CLAP NQ abstain correct 0.640 -> 0.580, abstain wrong 0.227 -> 0.187
    # (eval/RESULTS.md, stop 29).
    abstain_threshold: float | None = Field(default=0.5, ge=0.0, le=1.0)
    # Local model, greedy: up to this many next tokens guessed from the prompt and checked in
    # one batch (prompt lookup decoding; qa.llm.greedy.PromptLookup). 0 decodes one at a time.
    # Answers copy their sources, so decoding after the first token ran 16.1 -> 22.7 tok/s on
    # 16 long-news prompts (17.0 -> 22.9 on 16 sample ones); 4 and 8 guesses gained less (22.4,
    # 19.3: a wrong guess costs its batch). Batched arithmetic tips a near tie at times: 9 of
    # 80 long-news replies changed wording, no outcome changed (eval/RESULTS.md, stop 32).
    draft_tokens: int = Field(default=3, ge=0, le=32)
    temperature: float = 0.0
    n_threads: int | None = None
    n_ctx: int = 2048
    seed: int = 0
    min_support: float = 0.5  # share of a sentence's content words found in its cited spans
    # Cite up to this many more shown sentences of the cited articles that each state a claim
    # by themselves (after the gates, so abstentions are unchanged). Replayed on the same
    # replies: citation recall news 0.819 -> 0.835, sample 0.789 -> 0.803, CLAP NQ 0.325 ->
    # 0.357; precision 0.929 -> 0.920, 0.874 (=), 0.712 -> 0.726 (eval/RESULTS.md).
    also_cite: int = 1
    # Abstain when the cited articles hold less than this share of the question's names and
    # numbers (a look-alike story lacks them), or the article that supplies the answer's own
    # figures and names does, or when the calibrated confidence is lower.
    # Measured on the dev sets (eval/RESULTS.md): anchors at 1.0 and the time gate withhold
    # wrong answers at 0.94 and 0.80 precision, losing 0.6% and 1.3% of the right ones.
    min_anchor_coverage: float = 1.0
    min_confidence: float = 0.0
    # Abstain when the question names a time ("this week") and no cited article is from then.
    time_gate: bool = True
    # Abstain when the answer lacks the kind of thing asked (a figure for "how many", a name
    # its quotes hold for "who", a date for "when"). On the dev sets it withheld 10 wrong
    # answers and no right one (eval/RESULTS.md).
    kind_gate: bool = True
    # When a cited figure is given differently by another shown article about the same story
    # (17 vs 23 dead), the answer adds "Reports differ: …" citing both.
    report_conflicts: bool = True
    # Ask the local model whether the cited sentences state the answer (one prompt evaluation
    # of ~100 tokens, no decoding); its P(yes) is a confidence signal.
    self_check: bool = False
    # Read the sentences the first reply cites (and their shown neighbours) a second time,
    # alone, and answer again; the second answer is given where it passes verification, else
    # the first. "long": only when retrieval settles on one long article (`long_article_chunks`
    # of the k chunks from it), where the ~10 shown sentences are one story's look-alike
    # clauses; "always"; "off". Generated on the news-domain dev sets (eval/RESULTS.md, stop
    # 33): on every answer, long news and sample gained 4 right answers and lost none, but on
    # the news set's short stories it gained 1, reworded 3 right answers away from the
    # reference's words (contains 0.921 -> 0.905) and cited a non-gold sentence more in 6
    # (precision 0.938 -> 0.912); none of its questions settles on one long article. The
    # second reading took 2.4-3.4 s p50 where it ran.
    second_reading: Literal["off", "long", "always"] = "long"
    extractive_min_score: float = 0.45  # least question/sentence similarity to answer at all
    relevance_floor: float = 0.05  # below this best dense similarity, abstain without the LLM

    # OpenAI-compatible backend
    openai_base_url: str | None = None
    openai_model: str | None = None
    openai_api_key: SecretStr | None = None
    # Seconds one answer may wait for the server to start replying, across every attempt and
    # the pauses between them (each attempt gets a share): a server that accepts connections
    # but never answers fails after this long, not after (timeout x attempts). Once the reply
    # streams, a stall between two pieces longer than one attempt's share also fails.
    request_timeout: float = 60.0
    retries: int = 2

    @field_validator(
        "candidates",
        "chunk_tokens",
        "context_tokens",
        "long_context_tokens",
        "max_answer_tokens",
        "long_article_chunks",
    )
    @classmethod
    def _positive(cls, v: int) -> int:
        if v <= 0:
            raise ValueError("must be a positive integer")
        return v

    @model_validator(mode="after")
    def _sentences_in_order(self) -> Settings:
        if self.min_answer_sentences > self.max_answer_sentences:
            raise ValueError(
                f"min_answer_sentences ({self.min_answer_sentences}) is above "
                f"max_answer_sentences ({self.max_answer_sentences}); lower it or raise the other"
            )
        return self

    @field_validator("backend")
    @classmethod
    def _registered_backend(cls, v: str) -> str:
        # Checked against the registry, not a fixed list, so a plugin's backend is valid too.
        problem = registry.problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("k")
    @classmethod
    def _k_in_range(cls, v: int) -> int:
        if not 1 <= v <= K_MAX:
            raise ValueError(f"must be a whole number from 1 to {K_MAX}")
        return v

    @field_validator("request_timeout")
    @classmethod
    def _positive_seconds(cls, v: float) -> float:
        if not v > 0:  # also refuses NaN
            raise ValueError("must be a positive number of seconds")
        return v

    @field_validator("abstain_threshold", mode="before")
    @classmethod
    def _off_words(cls, v: object) -> object:
        # From the environment or a config file, "off" (or "none", or empty) is the argmax.
        if isinstance(v, str) and v.strip().lower() in ("", "off", "none"):
            return None
        return v

    @field_validator("retries")
    @classmethod
    def _not_negative(cls, v: int) -> int:
        if v < 0:
            raise ValueError("must be 0 or more")
        return v

    @classmethod
    def load(
        cls,
        config_file: Path | str | None = None,
        *,
        override_names: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Build settings; `config_file` (or env CITEQA_CONFIG) is a TOML file of the same keys.

        A bad value is reported with where it came from: an override (under its name in
        `override_names`, e.g. the CLI passes {"k": "--k"}), a CITEQA_* env var, or the file.
        """
        from_env = not config_file and bool(os.environ.get("CITEQA_CONFIG"))
        path = config_file or os.environ.get("CITEQA_CONFIG")
        file_values = _read_config(Path(path).expanduser(), from_env) if path else {}
        clean = {k: v for k, v in overrides.items() if v is not None}
        try:
            # Env beats the file: the file supplies defaults, pydantic-settings reads the env.
            base = cls(**clean)
            if not file_values:
                return base
            env_set = {f for f in cls.model_fields if f"CITEQA_{f.upper()}" in _env_names()}
            merged = {k: v for k, v in file_values.items() if k not in env_set}
            merged.update(clean)
            return cls(**merged)
        except ValidationError as e:
            problems = "; ".join(
                _explain(err, clean, file_values, path, override_names or {}) for err in e.errors()
            )
            raise ConfigError(f"Invalid settings: {problems}.") from None

    def public_dict(self) -> dict[str, Any]:
        """Settings safe to log or save with an eval run: secrets are masked."""
        d = self.model_dump(mode="json")
        if d.get("openai_api_key"):
            d["openai_api_key"] = "***"
        return d


def _env_names() -> set[str]:
    # pydantic-settings matches env var names case-insensitively; so does our attribution.
    return {name.upper() for name in os.environ}


def _read_config(p: Path, from_env: bool) -> dict[str, Any]:
    """The TOML file's values, or a ConfigError saying what is wrong with the file."""
    named = f"{p} (from CITEQA_CONFIG)" if from_env else str(p)
    unset = " or unset CITEQA_CONFIG" if from_env else ""
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        fix = unset or " or fix the path"
        raise ConfigError(f"Config file not found: {named}. Create it{fix}.") from None
    except IsADirectoryError:
        raise ConfigError(
            f"Config file {named} is a directory; pass a TOML file, e.g. {p / 'citeqa.toml'}."
        ) from None
    except OSError as e:  # permission denied, a broken mount, ...
        raise ConfigError(
            f"Config file {named} cannot be read ({e.strerror or e}); make it readable{unset}."
        ) from None
    try:
        text = data.decode("utf-8-sig")  # a BOM is still UTF-8 (Windows editors add one)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError(
            f"Config file {named} is not UTF-8 text (byte {e.start}, line {line}); "
            "save it as UTF-8."
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"Config file {named} is not valid TOML: {e}") from None


def _explain(
    err: Any,
    overrides: Mapping[str, Any],
    file_values: Mapping[str, Any],
    path: Path | str | None,
    names: Mapping[str, str],
) -> str:
    """One validation problem, named the way the user gave the value: the value that won
    (override > env var > config file) is the one that failed."""
    loc = err.get("loc") or ()
    field = str(loc[0]) if loc else ""
    rest = "".join(f".{x}" for x in loc[1:])
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    value = "***" if field == "openai_api_key" else err.get("input")  # never echo a secret
    if err.get("type") == "extra_forbidden":
        import difflib

        close = difflib.get_close_matches(field, list(Settings.model_fields), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        where = f" in config file {path}" if field in file_values else ""
        return f"unknown setting {field!r}{where}{hint}"
    if field in overrides:
        if field in names:
            return f"{names[field]} {value!r}{rest}: {msg}"
        return f"{field}={value!r}{rest} (argument): {msg}"
    env = f"CITEQA_{field.upper()}"
    if field and env in _env_names():
        return f"env var {env}={value!r}{rest}: {msg} (fix or unset it)"
    if field in file_values:
        return f"{field}{rest} = {value!r} in config file {path}: {msg}"
    return f"{field or 'settings'}{rest}: {msg}"


# How each settings override is spelled on the command line, so a bad value is reported as
# "--k 0: ..." rather than as a field name the user never typed.
FLAG_NAMES = {
    "data_dir": "--data-dir",
    "chroma_url": "--chroma-url",
    "backend": "--backend",
    "model": "--model",
    "k": "--k",
}


def settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    """Settings for a command: its flags over the environment, the config file and defaults."""
    return Settings.load(
        getattr(args, "config", None),
        override_names=FLAG_NAMES,
        data_dir=getattr(args, "data_dir", None),
        chroma_url=getattr(args, "chroma_url", None),
        backend=getattr(args, "backend", None),
        model=getattr(args, "model", None),
        k=getattr(args, "k", None),
        **extra,
    )
