"""The root of citeqa's one error family, and the errors the index itself raises.

They live in the bottom layer because index/ raises them and must not import qa/ (the layer
above it). `qa.errors` re-exports them as the same classes and adds the rest of the family, so
`except CiteqaError` catches an index error wherever it was imported from.

Messages say what was wrong, where, and how to fix it; tracebacks are for our bugs only.
"""

from __future__ import annotations


class CiteqaError(Exception):
    """Base class of every error citeqa raises on purpose."""


class StoreError(CiteqaError):
    """The data directory or the Chroma server cannot be used."""


class NoIndexError(StoreError):
    """A read command was pointed at a data directory that holds no index (often a typo)."""


class ModelError(CiteqaError):
    """A model file is missing, corrupt, or cannot be loaded."""
