"""Issue 17, the page side: stage text while an answer is made, and a Stop that ends
generation. In Debian's Chromium against a real `citeqa serve` whose LLM is a stand-in
OpenAI-compatible server (tests/ui/slow_llm.py): it holds its first answer until the test lets it
start, so what the page shows while waiting is checked without racing the model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ui.conftest import SHOTS, _open, citeqa_server, needs_chromium
from tests.ui.slow_llm import scripted_llm, slow_llm
from tests.ui.test_answer_page import BRIDGE

pytestmark = [pytest.mark.slow, needs_chromium]

LAST_REPLY = "() => [...document.querySelectorAll('#chat [data-testid=\"bot\"]')].pop()?.innerText"


def _bridge_index(tmp_path: Path) -> Path:
    """An index of BRIDGE, ingested with the CLI."""
    articles = tmp_path / "bridge.jsonl"
    articles.write_text(json.dumps(BRIDGE), encoding="utf-8")
    citeqa = str(Path(sys.executable).with_name("citeqa"))
    index = tmp_path / "index"
    subprocess.run([citeqa, "ingest", "--data-dir", str(index), str(articles)], check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    return index


@pytest.fixture()
def slow_server(tmp_path):
    """A server on an index of BRIDGE whose openai backend is a SlowLLM; yields (url, llm)."""
    index = _bridge_index(tmp_path)
    with slow_llm() as llm:
        env = {"CITEQA_BACKEND": "openai", "CITEQA_OPENAI_BASE_URL": llm.url,
               "CITEQA_RETRIES": "0"}  # fmt: skip
        with citeqa_server(index, env=env) as url:
            yield url, llm


def _reply_says(page, text: str) -> None:
    page.wait_for_function(f"t => ({LAST_REPLY})()?.includes(t)", arg=text, timeout=60_000)


class TestStagesAndStop:
    def test_stage_text_then_stop_ends_generation(self, slow_server, browser):
        url, llm = slow_server
        context, page, dialogs, errors = _open(browser, url)
        page.fill("#question textarea", "How much did the Norrvik bridge repair cost?")
        page.click("#ask")
        # The model has the prompt but has not written a word: the reply says what is going on.
        assert llm.asked.wait(timeout=60)
        _reply_says(page, "Writing the answer from 1 article…")
        page.locator("#stop").wait_for(state="visible", timeout=30_000)  # its own update
        page.locator("#ask").wait_for(state="hidden", timeout=30_000)
        page.screenshot(path=str(SHOTS / "waiting-writing-1280.png"), full_page=True)
        llm.start.set()
        _reply_says(page, "Norrvik Norrvik")  # the answer is being written
        sent_before_stop = llm.sent
        page.click("#stop")
        _reply_says(page, "Stopped")
        page.locator("#ask").wait_for()  # Ask is back in its place, Stop gone
        assert not page.locator("#stop").is_visible()
        assert "Norrvik Norrvik" not in page.locator("#chat").inner_text()
        # Asked again at once, the page answers, and the stopped reply is not history for it
        # (no rewrite).
        page.fill("#question textarea", "Who opened the bridge?")
        page.click("#ask")
        page.locator("#chat .abstain").wait_for(timeout=60_000)
        assert page.locator("#sources .searched").count() == 0
        # The page hung up on the model: generation ended long before its 2000 words.
        assert llm.hung_up.wait(timeout=30), "the LLM request was not closed"
        assert sent_before_stop <= llm.sent < llm.words
        assert not dialogs and not errors
        context.close()

    def test_on_a_phone_the_stage_line_and_stop_show(self, slow_server, browser):
        url, llm = slow_server
        context, page, _, errors = _open(browser, url, width=390, height=844)
        page.fill("#question textarea", "How much did the Norrvik bridge repair cost?")
        page.click("#ask")
        assert llm.asked.wait(timeout=60)
        _reply_says(page, "Writing the answer from 1 article…")
        # Stop is shown by its own update, which can reach a loaded browser a moment after the
        # stage line (seen once in a full run beside two evals): wait for it, then check it.
        page.locator("#stop").wait_for(state="visible", timeout=30_000)
        page.screenshot(path=str(SHOTS / "waiting-writing-390.png"), full_page=True)
        page.click("#stop")  # while the model has not written a word yet
        llm.start.set()  # its first word is where the answer notices Stop
        _reply_says(page, "Stopped")
        page.locator("#ask").wait_for()
        assert llm.hung_up.wait(timeout=30), "the LLM request was not closed"
        assert not errors
        context.close()


FIRST = "The Norrvik bridge repair cost 48 million euros. [S1]"
SECOND = (
    "The city of Norrvik reopened its harbour bridge after a repair that cost 48 million "
    "euros. [S1]"
)


@pytest.fixture()
def rereading_server(tmp_path):
    """A server on an index of BRIDGE that reads every answer twice (`second_reading`
    always), its openai backend a ScriptedLLM that holds the second reading; yields (url, llm)."""
    index = _bridge_index(tmp_path)
    with scripted_llm([FIRST, SECOND], hold=2) as llm:
        env = {"CITEQA_BACKEND": "openai", "CITEQA_OPENAI_BASE_URL": llm.url,
               "CITEQA_RETRIES": "0", "CITEQA_SECOND_READING": "always"}  # fmt: skip
        with citeqa_server(index, env=env) as url:
            yield url, llm


class TestDraftWhileReadAgain:
    def test_the_checked_draft_shows_greyed_then_the_answer_replaces_it(
        self, rereading_server, browser
    ):
        url, llm = rereading_server
        context, page, dialogs, errors = _open(browser, url)
        page.fill("#question textarea", "How much did the Norrvik bridge repair cost?")
        page.click("#ask")
        # The first reply is checked and shown as a draft while the second reading is held.
        assert llm.asked[2].wait(timeout=120)
        _reply_says(page, "Checking: reading the cited sentences again")
        draft = page.locator("#chat .answer.draft").last
        assert draft.inner_text().strip() == "The Norrvik bridge repair cost 48 million euros."
        grey = draft.evaluate("el => getComputedStyle(el).color")
        assert grey == "rgb(85, 85, 85)", grey  # #555: provisional, not the answer's colour
        assert page.locator("#stop").is_visible()  # still working
        page.screenshot(path=str(SHOTS / "draft-rereading-1280.png"), full_page=True)
        llm.release.set()
        # The second reading's answer replaces the draft, with its citation chip.
        _reply_says(page, "reopened its harbour bridge")
        page.locator("#ask").wait_for(timeout=60_000)
        reply = page.evaluate(LAST_REPLY)
        assert "Checking" not in reply and page.locator("#chat .answer.draft").count() == 0
        assert page.locator("#chat .cite-chip").count() >= 1
        assert llm.requests == 2 and not dialogs and not errors
        context.close()
