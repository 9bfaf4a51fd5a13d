"""The OpenAI-compatible backend against a real server: llama-cpp-python's own, on loopback."""

import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from qa.errors import BackendError
from qa.llm.models import resolve_model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def openai_server(cache_dir):
    model = resolve_model("qwen2.5-coder-1.5b", cache_dir)
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--model_alias",
            "qwen-local",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/models", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("llama_cpp.server exited during start-up")
            time.sleep(1)
    else:
        proc.kill()
        pytest.fail("llama_cpp.server did not start within 180 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.slow
class TestOpenAIBackend:
    def test_sample_question_through_a_real_server(self, openai_server, make_assistant, sample_dir):
        a = make_assistant(
            backend="openai", openai_base_url=openai_server, openai_model="qwen-local"
        )
        a.add([sample_dir])
        ans = a.ask("Why did Pashinyan skip the summit?")
        assert not ans.abstained, ans.raw_reply
        assert ans.backend == "openai" and ans.citations
        for c in ans.citations:
            assert a.get_article(c.article_id).text[c.start : c.end] == c.quote

    def test_server_down_is_a_clear_error(self, make_assistant, sample_dir):
        port = _free_port()  # nothing listens here
        a = make_assistant(
            backend="openai", openai_base_url=f"http://127.0.0.1:{port}/v1", retries=1
        )
        a.add([sample_dir])
        with pytest.raises(BackendError, match="did not answer after 2 attempts"):
            a.ask("Why did Pashinyan skip the summit?")
