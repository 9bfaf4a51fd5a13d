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
    # Lazy for import cost, not for a cycle (index/ no longer imports qa/): every `import qa.x`
    # runs this file, and loading qa.assistant here would cost `citeqa --help` ~2 s and pull
    # in langchain_core and scipy (test_building_the_parser_imports_nothing_heavy).
    if name == "Assistant":
        from qa.assistant import Assistant

        return Assistant
    if name == "Settings":
        from qa.settings import Settings

        return Settings
    raise AttributeError(name)
