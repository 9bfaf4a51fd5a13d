"""LLM backends behind one interface (`qa.llm.base.LLM`), chosen by `Settings.backend`."""

from __future__ import annotations

from qa.errors import ConfigError
from qa.llm.base import LLM
from qa.settings import Settings


def make_llm(backend: str, settings: Settings) -> LLM | None:
    """The LLM for `backend`; None for `extractive`, which needs no model."""
    if backend == "extractive":
        return None
    if backend == "local":
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
        )
    if backend == "openai":
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
    raise ConfigError(f"Unknown backend {backend!r}; use local, openai or extractive.")
