"""Where citeqa keeps what it can rebuild (the embedder's ONNX export, eval indexes).

It lives in the bottom layer because the embedder needs it when it is built without settings
(a library caller, a benchmark); `Settings.cache_dir` defaults to the same place.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/citeqa`, else `~/.cache/citeqa`; read at call time, not import time."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "citeqa"
