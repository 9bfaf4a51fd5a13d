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
