"""The answer backends by name: the one list the CLI's --backend, settings and the API read.

A backend is a name, a one-line description and a factory `(Settings) -> LLM`; one that answers
without a model (`extractive`) is an `LLM` too, with `is_model` False. Factories are written
"module:function" and imported on first use, the way entry points are, for two reasons: this
module must stay cheap (`citeqa --help` builds its choices from it) and it must not import
qa.settings, which validates `backend` against it. So built-ins and plugins go through the same
loading code.

Third-party packages add a backend the way simonw/llm plugins add models, with an entry point
in the `citeqa.backends` group whose object is a `Backend` or a factory function:

    [project.entry-points."citeqa.backends"]
    mymodel = "citeqa_mymodel:backend"

A plugin is listed by its entry-point name without being imported (so a plugin's `hidden` has
no effect); it is imported when it is chosen. A plugin cannot replace a built-in name (the
built-in wins).
"""

from __future__ import annotations

import difflib
import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from qa.errors import ConfigError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from qa.llm.base import LLM

ENTRY_POINT_GROUP = "citeqa.backends"

# Called with the `qa.settings.Settings` (not named here: qa.settings imports this module).
Factory = Callable[[Any], "LLM"]


@dataclass(frozen=True, slots=True)
class Backend:
    """One registered backend. `hidden` ones (the test double) work by name everywhere but are
    not offered: the CLI's choices, error hints and the API's schema leave them out."""

    name: str
    description: str
    factory: str | Factory  # "module:function", imported on first use, or the function itself
    hidden: bool = False

    def load(self) -> Factory:
        """The factory function, importing its module if it is named as a string."""
        if not isinstance(self.factory, str):
            return self.factory
        module, _, attr = self.factory.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise ConfigError(
                f"Backend {self.name!r} cannot be loaded from {self.factory} "
                f"({type(e).__name__}: {e}); reinstall the package that provides it."
            ) from None

    def create(self, settings: Any) -> LLM:
        """A new backend for `settings` (a `qa.settings.Settings`)."""
        return self.load()(settings)


BUILTIN: tuple[Backend, ...] = (
    Backend(
        "local",
        "a packaged GGUF model (or model_path) run on this machine",
        "qa.llm:local_llm",
    ),
    Backend(
        "openai",
        "an OpenAI-compatible server (openai_base_url, openai_model, openai_api_key)",
        "qa.llm:openai_llm",
    ),
    Backend(
        "extractive",
        "no model; the source sentences most similar to the question are the answer",
        "qa.extractive:extractive_llm",
    ),
    Backend(
        "mock",
        "a scripted fake model for tests (qa.llm.mock.MockLLM)",
        "qa.llm.mock:mock_llm",
        hidden=True,
    ),
)

_builtin: dict[str, Backend] = {b.name: b for b in BUILTIN}
_added: dict[str, Backend] = {}  # register(): backends added at run time, after the built-ins


@functools.cache
def _plugins() -> dict[str, EntryPoint]:
    """The `citeqa.backends` entry points of installed packages, by name, not yet imported.
    Read once per process: importing importlib.metadata and scanning cost ~30-45 ms, which
    `citeqa --help` pays (its parser build went from ~70 to ~115 ms)."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in _builtin}


def register(backend: Backend, *, replace_existing: bool = False) -> Backend:
    """Add `backend` (e.g. from a test or an embedding application). A taken name is an error
    unless `replace_existing`; built-in names cannot be replaced."""
    if backend.name in _builtin:
        raise ValueError(f"{backend.name!r} is a built-in backend; register another name.")
    if backend.name in _added and not replace_existing:
        raise ValueError(
            f"A backend named {backend.name!r} is already registered; pass "
            "replace_existing=True to replace it."
        )
    _added[backend.name] = backend
    return backend


def unregister(name: str) -> None:
    """Remove a backend added with `register` (built-ins and plugins stay)."""
    _added.pop(name, None)


def names(*, hidden: bool = False) -> tuple[str, ...]:
    """Registered backend names: built-ins first (local, openai, extractive), then ones added
    with `register`, then plugins. Hidden ones only with `hidden=True`."""
    listed = [*_builtin.values(), *_added.values()]
    out = [b.name for b in listed if hidden or not b.hidden]
    return (*out, *(n for n in _plugins() if n not in _added))


def describe(*, hidden: bool = False) -> list[tuple[str, str]]:
    """(name, one-line description) for each backend in `names` order, without importing
    plugins (theirs say which entry point provides them)."""
    known = {b.name: b.description for b in (*_builtin.values(), *_added.values())}
    plugins = _plugins()
    return [
        (n, known[n] if n in known else f"plugin {plugins[n].value}") for n in names(hidden=hidden)
    ]


def problem(name: object) -> str | None:
    """Why `name` is not a backend, with the names to use instead; None if it is one."""
    if isinstance(name, str) and name in names(hidden=True):
        return None
    offered = names()
    typed = name if isinstance(name, str) else ""
    close = difflib.get_close_matches(typed, offered, n=1, cutoff=0.7)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"not a registered backend{hint}; use {_either(offered)}"


def get(name: str) -> Backend:
    """The backend called `name`; a plugin is imported now. A ConfigError names the others."""
    if name in _builtin:
        return _builtin[name]
    if name in _added:
        return _added[name]
    ep = _plugins().get(name)
    if ep is None:
        raise ConfigError(f"{name!r} is {problem(name)}.")
    return _from_plugin(ep)


def _from_plugin(ep: EntryPoint) -> Backend:
    try:
        obj = ep.load()
    except Exception as e:  # a broken plugin must not look like a citeqa bug
        raise ConfigError(
            f"The backend plugin {ep.name!r} ({ep.value}) failed to import "
            f"({type(e).__name__}: {e}); fix or uninstall the package that provides it."
        ) from None
    if isinstance(obj, Backend):
        return replace(obj, name=ep.name)
    if callable(obj):
        doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
        return Backend(ep.name, doc[0] if doc else f"plugin {ep.value}", obj)
    raise ConfigError(
        f"The backend plugin {ep.name!r} ({ep.value}) is a {type(obj).__name__}, not a "
        "qa.llm.registry.Backend or a factory function; fix the package that provides it."
    )


def _either(items: tuple[str, ...]) -> str:
    """'a, b or c'."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"
