"""The GGUF's own chat template, rendered with Jinja as Hugging Face and llama-cpp-python do.

The template ships inside the model file (`tokenizer.chat_template`); rendering it the way
llama-cpp-python's `Jinja2ChatFormatter` does keeps the prompt token for token what it was
before the engine changed (tests/qa/test_local_engine.py checks it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment


class _IgnoreGeneration(jinja2.ext.Extension):
    """Pass-through for Hugging Face's `{% generation %}` tag."""

    tags = {"generation"}

    def parse(self, parser: Any) -> Any:
        parser.stream.skip(1)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


def _tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, **kw: Any) -> str:
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, **kw)


def _raise(message: str) -> None:
    raise ValueError(message)


class ChatTemplate:
    """Messages in, the prompt text the model was trained on out (generation prompt added)."""

    def __init__(self, template: str, *, bos_token: str, eos_token: str) -> None:
        env = ImmutableSandboxedEnvironment(
            loader=jinja2.BaseLoader(),
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[_IgnoreGeneration, jinja2.ext.loopcontrols],
        )
        env.filters["tojson"] = _tojson
        self._template = env.from_string(template)
        self._bos, self._eos = bos_token, eos_token

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        return self._template.render(
            messages=list(messages),
            bos_token=self._bos,
            eos_token=self._eos,
            raise_exception=_raise,
            add_generation_prompt=True,
            strftime_now=lambda f: datetime.now().strftime(f),
        )
