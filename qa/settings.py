"""The one settings object: defaults < config file (TOML) < CITEQA_* env vars < explicit overrides.

It is built once at the edge (CLI, app, test) and passed down; nothing reads the environment later.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qa.errors import ConfigError

Backend = Literal["local", "openai", "extractive"]


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "citeqa"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "citeqa"


class Settings(BaseSettings):
    """Every knob citeqa has. Env var names are the field names upper-cased, prefixed CITEQA_."""

    model_config = SettingsConfigDict(env_prefix="CITEQA_", extra="forbid", frozen=True)

    data_dir: Path = Field(default_factory=_default_data_dir)
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    chroma_url: str | None = None  # e.g. http://127.0.0.1:8000 — use a Chroma server
    collection: str = "citeqa"
    ingest_lock_timeout: float = 600.0  # seconds to wait while another process ingests

    # Chunking and retrieval
    chunk_tokens: int = 160  # target embedding-model tokens per chunk (hard cap: model max)
    chunk_overlap_sentences: int = 1
    k: int = 5
    candidates: int = 30  # per retriever, before fusion
    rrf_k: int = 60
    embed_batch_size: int = 32  # torch backend only; ONNX embeds one unpadded text per run
    embed_backend: Literal["torch", "onnx", "onnx-int8"] = "onnx"  # index and queries alike

    # Answering
    backend: Backend = "local"
    model: str = "qwen2.5-coder-1.5b"
    model_path: Path | None = None  # a GGUF file to use instead of a packaged model
    lead_sentences: int = 2  # each retrieved article's first N sentences are candidates too
    context_tokens: int = 350  # tiktoken (cl100k_base) budget for the numbered sentences
    max_answer_tokens: int = 200
    max_answer_sentences: int = 4
    grammar: bool = True  # constrain local decoding to "text [S#]" sentences (slower per token)
    temperature: float = 0.0
    n_threads: int | None = None
    n_ctx: int = 2048
    seed: int = 0
    min_support: float = 0.5  # share of a sentence's content words found in its cited spans
    # Abstain when the cited articles hold less than this share of the question's names and
    # numbers (a look-alike story lacks them), or when the calibrated confidence is lower.
    min_anchor_coverage: float = 0.0
    min_confidence: float = 0.0
    extractive_min_score: float = 0.45  # least question/sentence similarity to answer at all
    relevance_floor: float = 0.05  # below this best dense similarity, abstain without the LLM

    # OpenAI-compatible backend
    openai_base_url: str | None = None
    openai_model: str | None = None
    openai_api_key: SecretStr | None = None
    request_timeout: float = 120.0
    retries: int = 2

    @field_validator("k", "candidates", "chunk_tokens", "context_tokens", "max_answer_tokens")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v <= 0:
            raise ValueError("must be a positive integer")
        return v

    @classmethod
    def load(cls, config_file: Path | str | None = None, **overrides: Any) -> Settings:
        """Build settings; `config_file` (or env CITEQA_CONFIG) is a TOML file of the same keys."""
        path = config_file or os.environ.get("CITEQA_CONFIG")
        file_values: dict[str, Any] = {}
        if path:
            p = Path(path).expanduser()
            try:
                file_values = tomllib.loads(p.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise ConfigError(
                    f"Config file not found: {p}. Create it or unset CITEQA_CONFIG."
                ) from None
            except tomllib.TOMLDecodeError as e:
                raise ConfigError(f"Config file {p} is not valid TOML: {e}") from None
        clean = {k: v for k, v in overrides.items() if v is not None}
        try:
            # Env beats the file: the file supplies defaults, pydantic-settings reads the env.
            base = cls(**clean)
            if not file_values:
                return base
            env_set = {f for f in cls.model_fields if f"CITEQA_{f.upper()}" in os.environ}
            merged = {k: v for k, v in file_values.items() if k not in env_set}
            merged.update(clean)
            return cls(**merged)
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in err['loc']) or 'settings'}: {err['msg']}"
                for err in e.errors()
            )
            raise ConfigError(
                f"Invalid settings ({problems}). Check CITEQA_* env vars"
                + (f" and {path}" if path else "")
                + "."
            ) from None

    def public_dict(self) -> dict[str, Any]:
        """Settings safe to log or save with an eval run: secrets are masked."""
        d = self.model_dump(mode="json")
        if d.get("openai_api_key"):
            d["openai_api_key"] = "***"
        return d
