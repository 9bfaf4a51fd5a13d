"""The OpenAI-compatible backend against a real server: llama-cpp-python's own, on loopback."""

import sys

import pytest

from qa.errors import BackendError
from qa.llm.models import resolve_model
from tests.conftest import free_port, start_server


@pytest.fixture(scope="module")
def openai_server(cache_dir):
    model = resolve_model("qwen2.5-coder-1.5b", cache_dir)
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    cmd = [
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
    ]
    proc = start_server(cmd, f"{url}/models", timeout=180)  # fmt: skip
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
        port = free_port()  # nothing listens here
        a = make_assistant(
            backend="openai", openai_base_url=f"http://127.0.0.1:{port}/v1", retries=1
        )
        a.add([sample_dir])
        with pytest.raises(BackendError, match="did not answer after 2 attempts"):
            a.ask("Why did Pashinyan skip the summit?")
