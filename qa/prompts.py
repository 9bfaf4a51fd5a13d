"""Prompt files (prompts/*.yaml) as validated LangChain chat templates."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from importlib.resources import files

import yaml
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate
from pydantic import BaseModel, ValidationError

from qa.errors import ConfigError


class PromptFile(BaseModel):
    description: str = ""
    system: str = ""
    system_from: str | None = None  # another prompt file whose system text this one shares
    user: str


@lru_cache(maxsize=8)
def load_prompt(name: str) -> ChatPromptTemplate:
    resource = files("prompts") / f"{name}.yaml"
    try:
        spec = PromptFile.model_validate(yaml.safe_load(resource.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as e:
        raise ConfigError(f"Prompt file prompts/{name}.yaml is invalid: {e}") from None
    system = spec.system
    if spec.system_from:
        system = str(load_prompt(spec.system_from).messages[0].prompt.template)  # type: ignore[union-attr]
    if not system.strip():
        raise ConfigError(
            f"Prompt file prompts/{name}.yaml has no system text (system or system_from)"
        )
    return ChatPromptTemplate.from_messages(
        [("system", system.strip()), ("human", spec.user.strip())]
    )


def chat_messages(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages as the role/content dicts every LLM backend takes."""
    return [
        {"role": "system" if m.type == "system" else "user", "content": str(m.content)}
        for m in messages
    ]


def prompt_messages(name: str, **values: str) -> list[dict[str, str]]:
    """Prompt file `name` filled in, as the chat messages every LLM backend takes."""
    return chat_messages(load_prompt(name).format_messages(**values))
