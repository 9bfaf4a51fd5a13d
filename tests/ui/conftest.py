"""Shared by the UI tests: a real `citeqa serve` process, and Debian's Chromium via Playwright."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, start_server

SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
ANSWER_TIMEOUT = 240_000  # ms: the first answer also loads the model
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)


def ingest_with_cli(data: Path, articles: Iterable[dict], name: str = "articles.jsonl") -> Path:
    """`articles` (JSON records) written to DATA/NAME and ingested with the `citeqa` command
    into DATA/index, as a user would; returns the index folder."""
    path = data / name
    path.write_text("\n".join(json.dumps(a) for a in articles), encoding="utf-8")
    citeqa = str(Path(sys.executable).with_name("citeqa"))
    index = data / "index"
    subprocess.run([citeqa, "ingest", "--data-dir", str(index), str(path)], check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    return index


@contextlib.contextmanager
def citeqa_server(data: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`citeqa serve --data-dir DATA ARGS…` on a free port; yields its URL, stops it after.

    `env` entries are set for the server only (through env(1), so start_server stays generic);
    GRADIO_TEMP_DIR is always unset so uploads go where the app puts them. The server's output
    is in DATA/server.log.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    citeqa = str(Path(sys.executable).with_name("citeqa"))
    assigns = [f"{k}={v}" for k, v in (env or {}).items()]
    cmd = ["env", "-u", "GRADIO_TEMP_DIR", *assigns, citeqa, "serve", "--data-dir", str(data),
           "--port", str(port), *args]  # fmt: skip
    data.mkdir(parents=True, exist_ok=True)
    proc = start_server(cmd, url, timeout=240, log=data / "server.log")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server on an empty index, with the default (local) backend."""
    with citeqa_server(tmp_path_factory.mktemp("ui-index")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _open(browser, url, width=1280, height=800):
    """A new browser context (its own session) on the page; dialogs and page errors recorded."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    dialogs, errors = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="load")
    page.wait_for_selector("#question textarea")
    return context, page, dialogs, errors


def _upload(page, path: Path, expect: str) -> None:
    """Upload a file in the Library tab and wait until the ingest report mentions `expect`."""
    page.click("button[role=tab]:has-text('Library')")
    page.set_input_files("#upload input[type=file]", [str(path)])
    page.click("#ingest")
    wait_report(page, expect)


def wait_report(page, text: str) -> None:
    """Wait until the Library's ingest report mentions `text`."""
    wait_text(page, "#ingest-report", text, timeout=120_000)


def wait_text(page, selector: str, text: str, *, timeout: float = 30_000) -> None:
    """Wait until the element at `selector` shows `text` (gradio fills it from an event)."""
    page.wait_for_function(
        "([s, t]) => document.querySelector(s)?.innerText.includes(t)",
        arg=[selector, text],
        timeout=timeout,
    )


def _ask(page, question: str, n_answers: int) -> None:
    page.fill("#question textarea", question)
    page.click("#ask")
    # Wait until the n-th bot message is final: it has chips or the abstain text.
    page.wait_for_function(
        """n => { const bots = document.querySelectorAll('#chat .bot, #chat [data-testid="bot"]');
                  if (bots.length < n) return false;
                  const last = bots[bots.length - 1];
                  return !!last.querySelector('.cite-chip, .abstain'); }""",
        arg=n_answers,
        timeout=ANSWER_TIMEOUT,
    )
