"""One error family, so callers (CLI, UI, eval) can catch `CiteqaError` and show `str(err)`.

Messages say what was wrong, where, and how to fix it; tracebacks are for our bugs only.
"""

from __future__ import annotations


class CiteqaError(Exception):
    """Base class of every error citeqa raises on purpose."""


class ConfigError(CiteqaError):
    """Settings or a config file are invalid."""


class InputError(CiteqaError):
    """A user-supplied file, record or question cannot be used."""


class NoMatchError(InputError):
    """The question's filters leave no article to answer from."""


class StoreError(CiteqaError):
    """The data directory or the Chroma server cannot be used."""


class NoIndexError(StoreError):
    """A read command was pointed at a data directory that holds no index (often a typo)."""


class ModelError(CiteqaError):
    """A model file is missing, corrupt, or cannot be loaded."""


class BackendError(CiteqaError):
    """The LLM backend failed (unreachable, timed out, malformed reply)."""


class CitationError(CiteqaError):
    """A citation does not match its article text. This is a bug, never a user error."""


class NotFoundError(CiteqaError):
    """An article id or path does not exist."""
