"""One error family, so callers (CLI, UI, eval) can catch `CiteqaError` and show `str(err)`.

The base class and the errors the index raises are defined in `index.errors` (the bottom layer
must not import qa/) and re-exported here as the same classes: import any citeqa error from this
module. Messages say what was wrong, where, and how to fix it; tracebacks are for our bugs only.
"""

from __future__ import annotations

from index.errors import CiteqaError, ModelError, NoIndexError, StoreError

__all__ = [
    "BackendError",
    "CitationError",
    "CiteqaError",
    "ConfigError",
    "InputError",
    "ModelError",
    "NoIndexError",
    "NoMatchError",
    "NotFoundError",
    "StoreError",
]


class ConfigError(CiteqaError):
    """Settings or a config file are invalid."""


class InputError(CiteqaError):
    """A user-supplied file, record or question cannot be used."""


class NoMatchError(InputError):
    """The question's filters leave no article to answer from."""


class BackendError(CiteqaError):
    """The LLM backend failed (unreachable, timed out, malformed reply)."""


class CitationError(CiteqaError):
    """A citation does not match its article text. This is a bug, never a user error."""


class NotFoundError(CiteqaError):
    """An article id or path does not exist."""
