"""Shared fixtures: real components (Chroma on disk, the packaged embedder, packaged LLMs)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "examples" / "articles"
SAMPLE = SAMPLE_DIR / "putin-kyrgyzstan-visit.txt"


@pytest.fixture(scope="session")
def embedder():
    from index.embed import Embedder

    return Embedder()


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    """The user cache (joined model files live there, outside the repo)."""
    from qa.settings import Settings

    return Settings.load().cache_dir


def _assistant(tmp: Path, cache_dir: Path, **overrides):
    from qa.assistant import Assistant
    from qa.settings import Settings

    return Assistant(Settings.load(data_dir=tmp, cache_dir=cache_dir, **overrides))


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("articles")
    shutil.copy(SAMPLE, d / SAMPLE.name)
    return d


@pytest.fixture(scope="session")
def sample_assistant(tmp_path_factory, cache_dir, sample_dir):
    """The sample article indexed once, answered by the default local model."""
    a = _assistant(tmp_path_factory.mktemp("index"), cache_dir)
    a.add([sample_dir])
    yield a
    a.close()


@pytest.fixture()
def make_assistant(tmp_path, cache_dir):
    made = []

    def make(**overrides):
        a = _assistant(tmp_path / f"idx{len(made)}", cache_dir, **overrides)
        made.append(a)
        return a

    yield make
    for a in made:
        a.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(cmd: list[str], probe_url: str, *, timeout: float, log: Path | None = None):
    """Start a real server process and wait until `probe_url` answers; fail the test if it
    exits or does not answer within `timeout` seconds."""
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(probe_url, timeout=2)
            return proc
        except OSError:
            if proc.poll() is not None:
                tail = log.read_text()[-2000:] if log else ""
                pytest.fail(f"{cmd[0]} exited during start-up. {tail}")
            time.sleep(1)
    proc.kill()
    pytest.fail(f"{' '.join(cmd[:3])} did not answer within {timeout:.0f} s")


# Fixtures that load a real model, start a real server or index with the real embedder: the
# tests that use them are the end-to-end tier. `make test-fast` runs the rest.
_HEAVY_FIXTURES = frozenset(
    {"embedder", "torch_embedder", "onnx_cache", "cache_dir", "sample_assistant",
     "make_assistant", "server", "open_server", "keyed_server", "guarded_server", "loaded_server",
     "silent_server", "openai_server", "upstream", "chroma_url", "browser", "llm", "indexed",
     "indexer", "store", "base_index", "small_disk"}
)  # fmt: skip
# Modules whose tests run real `citeqa` processes or servers without a fixture saying so.
_HEAVY_MODULES = frozenset({"test_cli.py", "test_bad_input.py"})


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())) or (
            item.path.name in _HEAVY_MODULES
        ):
            item.add_marker(pytest.mark.models)


# --- stand-ins for the unit tier: no model, no weights -----------------------------------------


class StubEmbedder:
    """`index.embed.Embedder`'s interface with hashed word counts for vectors, so the index, the
    retriever and the context run for real in milliseconds. Texts sharing words get close
    vectors (cosine of their word-count vectors), the same text always the same vector, in
    every process (blake2b, not Python's salted hash)."""

    name = "stub-hashed-words"
    backend = "stub"

    def __init__(self, dim: int = 256, max_tokens: int = 256) -> None:
        self.dim = dim
        self.max_tokens = max_tokens
        self.batch_size = 32
        self.variant = self.family = f"{self.name}/{dim}"  # what the store records and checks
        self.calls: list[list[str]] = []  # the texts of each embed call, to check what was asked

    @staticmethod
    def words(text: str) -> list[str]:
        import re

        return re.findall(r"\w+", text.lower())

    def count_tokens(self, texts):
        return [len(self.words(t)) for t in texts]

    def embed(self, texts, *, progress: bool = False, grouped: bool = False):
        import hashlib

        import numpy as np

        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in self.words(text):
                digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self.dim] += 1.0
            norm = float(np.linalg.norm(out[row]))
            out[row] = out[row] / norm if norm else out[row]
        return out

    def embed_query(self, text: str):
        return self.embed([text])[0]


@pytest.fixture()
def stub_embedder() -> StubEmbedder:
    """A fresh `StubEmbedder` (its `calls` start empty)."""
    return StubEmbedder()


def without_citeqa_env(mp: pytest.MonkeyPatch) -> None:
    """Unset every CITEQA_* variable (and so CITEQA_CONFIG): the developer's own settings must
    not change what a test sees."""
    for name in list(os.environ):
        if name.upper().startswith("CITEQA_"):
            mp.delenv(name)


def stub_settings(root: Path, **overrides):
    """Settings for an index under `root` answered by the `mock` backend, from defaults only
    (call with the CITEQA_* env cleared). One scripted reply answers one question: the second
    reading (the sample article is long, so by default it would run) is off unless a test
    turns it on (TestSecondReading)."""
    from qa.settings import Settings

    overrides.setdefault("second_reading", "off")
    return Settings.load(
        data_dir=root / "data", cache_dir=root / "cache", backend="mock", **overrides
    )


@pytest.fixture(scope="module")
def stub_root(tmp_path_factory) -> Path:
    """A data dir (under `root / "data"`) holding the sample article indexed with the
    `StubEmbedder`, built once per test module (~1 s: Chroma and tiktoken open)."""
    from qa.assistant import Assistant

    root = tmp_path_factory.mktemp("stub-index")
    with pytest.MonkeyPatch.context() as mp:
        without_citeqa_env(mp)
        settings = stub_settings(root)
    with Assistant(settings, embedder=StubEmbedder()) as a:
        a.add([SAMPLE])
    return root


@pytest.fixture()
def stub_assistant(stub_root, stub_embedder, monkeypatch):
    """An `Assistant` on `stub_root`'s index with the stub embedder and the hidden `mock`
    backend, chosen by name: script it with `stub_assistant.llm().enqueue(reply, ...)`. Opening
    it again costs ~15 ms, so each test gets its own (its own MockLLM and embedder calls)."""
    from qa.assistant import Assistant

    without_citeqa_env(monkeypatch)
    a = Assistant(stub_settings(stub_root), embedder=stub_embedder)
    yield a
    a.close()
