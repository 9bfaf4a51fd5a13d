"""LLM backends behind one interface (`qa.llm.base.LLM`), chosen by name (`Settings.backend`).

The names, descriptions and factories are in `qa.llm.registry`; the built-in models' factories
are here (`extractive`'s, a backend without a model, is beside it in `qa.extractive`). Each
imports its engine only when called, so importing qa.llm (as the CLI and settings do, through
the registry) loads no model library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qa.llm.base import LLM
from qa.llm.registry import get

if TYPE_CHECKING:
    from qa.settings import Settings  # qa.settings imports the registry, so only for types


def make_llm(backend: str, settings: Settings) -> LLM:
    """The LLM for the backend named `backend` (for `extractive`, an `ExtractiveLLM`: no model).
    An unknown name is a ConfigError that lists the registered ones."""
    return get(backend).create(settings)


def local_llm(settings: Settings) -> LLM:
    """`local`: a packaged GGUF model (or `model_path`) on ik_llama.cpp or llama.cpp."""
    from qa.llm import native
    from qa.llm.local import LocalLLM
    from qa.llm.models import resolve_model

    path = settings.model_path or resolve_model(settings.model, settings.cache_dir)
    name = settings.model if settings.model_path is None else settings.model_path.name
    return LocalLLM(
        path,
        model_name=name,
        engine=settings.engine,
        flash_attn=settings.flash_attn,
        n_ctx=settings.n_ctx,
        n_threads=settings.n_threads,
        temperature=settings.temperature,
        seed=settings.seed,
        abstain_threshold=settings.abstain_threshold,
        draft_tokens=settings.draft_tokens,
        library=native.status(settings.cache_dir).library
        if settings.native_library == "auto" and settings.engine == "ik"
        else None,
    )


def openai_llm(settings: Settings) -> LLM:
    """`openai`: an OpenAI-compatible server."""
    from qa.llm.openai import OpenAILLM

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return OpenAILLM(
        base_url=settings.openai_base_url,
        model=settings.openai_model,
        api_key=key,
        timeout=settings.request_timeout,
        retries=settings.retries,
        temperature=settings.temperature,
        seed=settings.seed,
    )
