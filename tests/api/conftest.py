"""Real `citeqa api` servers for the API tests (subprocesses on free loopback ports).

Every server answers with the extractive backend (no LLM) and finds the packaged embedding
model offline (CITEQA_CACHE_DIR from the `cache_dir` fixture, HF_HUB_OFFLINE=1). Its output is
in DATA/server.log, which the auth tests read.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import SAMPLE, free_port, start_server

CITEQA = str(Path(sys.executable).with_name("citeqa"))
SAMPLE_ID = "putin-kyrgyzstan-visit"
KEYS = tuple(f"test-key-{i}-{'x' * 24}" for i in range(8))


@dataclass(frozen=True)
class Server:
    url: str
    data: Path
    log: Path
    keys: tuple[str, ...] = ()

    def client(self, key: str | None = None, headers: dict | None = None) -> httpx.Client:
        sent = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=sent | (headers or {}), timeout=120)


def server_env(cache_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "CITEQA_BACKEND": "extractive",
        "CITEQA_CACHE_DIR": str(cache_dir),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        **extra,
    }


@contextlib.contextmanager
def citeqa_process(
    command: str, data: Path, *args: str, env: dict[str, str], probe: str = "/healthz"
) -> Iterator[Server]:
    """`citeqa COMMAND --data-dir DATA --port FREE ARGS…` with `env` (through env(1), with
    CITEQA_API_KEYS unset unless `env` sets it); stopped after. The test process runs niced,
    and so do its children."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data.mkdir(parents=True, exist_ok=True)
    log = data / "server.log"
    assigns = [f"{k}={v}" for k, v in env.items()]
    cmd = ["env", "-u", "CITEQA_API_KEYS", "-u", "GRADIO_TEMP_DIR", *assigns, CITEQA, command,
           "--data-dir", str(data / "index"), "--port", str(port), *args]  # fmt: skip
    proc = start_server(cmd, url + probe, timeout=240, log=log)
    keys = tuple(k for k in env.get("CITEQA_API_KEYS", "").split(",") if k)
    try:
        yield Server(url=url, data=data, log=log, keys=keys)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def ingest_sample_upload(server: Server, key: str | None = None) -> dict:
    with server.client(key) as c:
        r = c.post("/v1/articles", files=[("files", (SAMPLE.name, SAMPLE.read_bytes()))])
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="session")
def open_server(tmp_path_factory, cache_dir) -> Iterator[Server]:
    """No API keys (loopback only), default limits; the sample article uploaded as a file."""
    with citeqa_process(
        "api", tmp_path_factory.mktemp("api-open"), env=server_env(cache_dir)
    ) as server:
        report = ingest_sample_upload(server)
        assert [i["status"] for i in report["items"]] == ["added"], report
        yield server


@pytest.fixture(scope="session")
def keyed_server(tmp_path_factory, cache_dir) -> Iterator[Server]:
    """Eight API keys, 2 requests in flight per key. A strict operator: an answer must hold
    every name the question asks about (min_anchor_coverage=1), so a question about a look-alike
    ("... in Paris?") streams the extractive sentence and then abstains, which must be
    retracted. Its openai backend points at a closed port (503 when asked for it). The sample
    article is added as JSON."""
    dead = free_port()
    env = server_env(
        cache_dir,
        CITEQA_API_KEYS=",".join(KEYS),
        CITEQA_MIN_ANCHOR_COVERAGE="1",
        CITEQA_OPENAI_BASE_URL=f"http://127.0.0.1:{dead}/v1",
        CITEQA_REQUEST_TIMEOUT="5",
        CITEQA_RETRIES="0",
    )
    data = tmp_path_factory.mktemp("api-keyed")
    with citeqa_process("api", data, "--max-in-flight", "2", env=env) as server:
        record = {"id": SAMPLE_ID, "title": "Putin kyrgyzstan visit", "text": SAMPLE.read_text()}
        with server.client(KEYS[0]) as c:
            r = c.post("/v1/articles", json={"articles": [record]})
        assert r.status_code == 200 and r.json()["counts"]["added"] == 1, r.text
        yield server


def sse_events(text: str) -> list[tuple[str, object]]:
    """(event name, parsed data) of a server-sent event stream; `message` when unnamed, and
    the raw string for a data line that is not JSON (`[DONE]`)."""
    events: list[tuple[str, object]] = []
    for block in text.replace("\r\n", "\n").strip().split("\n\n"):
        name, data = "message", []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        raw = "\n".join(data)
        try:
            events.append((name, json.loads(raw)))
        except json.JSONDecodeError:
            events.append((name, raw))
    return events
