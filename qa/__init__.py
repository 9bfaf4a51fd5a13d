"""citeqa: answers over news articles with char-exact, verified citations.

`from qa import Assistant` is the Python API; heavy modules load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qa.assistant import Assistant
    from qa.settings import Settings

__all__ = ["Assistant", "Settings"]


def __getattr__(name: str) -> Any:
    # Lazy so `import qa.types` from index/ does not pull in torch and chromadb.
    if name == "Assistant":
        from qa.assistant import Assistant

        return Assistant
    if name == "Settings":
        from qa.settings import Settings

        return Settings
    raise AttributeError(name)
