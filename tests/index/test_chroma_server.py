"""citeqa on a real Chroma server (`chroma run`), the scale-out set-up: several Assistants (as
separate UI/API processes would be) share one index that lives in the server.

Every Assistant here gets its own empty data_dir, so whatever two of them agree on — the
article list, the article texts all citation offsets refer to, removals — must have come
through the server, not through a shared local directory.
"""

import sys
import uuid
from pathlib import Path

import pytest

from index.load import load_paths
from qa.errors import NotFoundError, StoreError
from qa.types import Article
from tests.conftest import SAMPLE, free_port, start_server
from tests.qa.test_assistant import PASHINYAN_END, PASHINYAN_START, _assert_quotes_exact
from tests.test_cli import run

CHROMA = str(Path(sys.executable).with_name("chroma"))
SAMPLE_ID = "putin-kyrgyzstan-visit"
QUESTION = "Why did Pashinyan skip the summit?"


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory):
    """One real Chroma server for the module (telemetry is off: conftest sets the env)."""
    d = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [CHROMA, "run", "--path", str(d / "db"), "--host", "127.0.0.1", "--port", str(port)]
    proc = start_server(cmd, f"{url}/api/v2/heartbeat", timeout=60, log=d / "server.log")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture()
def two(chroma_url, make_assistant):
    """Two Assistants with separate data dirs on one server; a fresh collection per test so
    tests do not see each other's articles."""
    collection = f"t{uuid.uuid4().hex[:12]}"
    return tuple(make_assistant(chroma_url=chroma_url, collection=collection) for _ in range(2))


def _has_local_store(assistant) -> bool:
    return (assistant.settings.data_dir / "chroma").exists()


class TestSharedIndex:
    def test_second_assistant_sees_articles_and_texts(self, two, sample_dir):
        a, b = two
        report = a.add([sample_dir])
        assert [i.status for i in report.items] == ["added"]
        assert [x["id"] for x in a.articles()] == [SAMPLE_ID]
        assert [x["id"] for x in b.articles()] == [SAMPLE_ID]
        expected = next(iter(load_paths([SAMPLE]))).text
        assert b.get_article(SAMPLE_ID).text == expected
        assert not _has_local_store(a) and not _has_local_store(b)

    def test_reingest_unchanged_from_either_assistant(self, two, sample_dir):
        a, b = two
        a.add([sample_dir])
        for x in (a, b):
            assert [i.status for i in x.add([sample_dir]).items] == ["unchanged"]
        assert len(b.articles()) == 1

    def test_extractive_answer_cites_server_texts(self, two, sample_dir):
        a, b = two
        a.add([sample_dir])
        ans = b.ask(QUESTION, backend="extractive")
        assert not ans.abstained and ans.citations
        _assert_quotes_exact(a, ans)
        _assert_quotes_exact(b, ans)

    def test_remove_is_seen_by_both(self, two, sample_dir):
        a, b = two
        a.add([sample_dir])
        assert b.retriever.retrieve(QUESTION, k=5).chunks  # b builds its keyword index now
        a.remove(SAMPLE_ID)
        for x in (a, b):
            assert x.articles() == []
            with pytest.raises(NotFoundError):
                x.get_article(SAMPLE_ID)
            assert x.retriever.retrieve(QUESTION, k=5).chunks == ()
            assert x.ask(QUESTION, backend="extractive").abstained
        assert b.store.count_chunks() == 0

    def test_keyword_index_follows_a_same_size_swap(self, two):
        a, b = two
        a.add([Article(id="x1", title="X1", text="The zebra parliament voted to ban hats.")])
        assert b.retriever.keyword_ids() == [c.id for c in b.store.all_chunks()]
        a.remove("x1")
        a.add([Article(id="x2", title="X2", text="Kangaroo farmers protested in Perth.")])
        assert b.retriever.keyword_ids() == [c.id for c in b.store.all_chunks()]
        got = b.retriever.retrieve("zebra parliament", k=5).chunks
        assert all(c.chunk.article_id == "x2" for c in got)

    @pytest.mark.slow
    def test_default_model_answer_cites_server_texts(self, two, sample_dir):
        a, b = two
        a.add([sample_dir])
        ans = b.ask(QUESTION)
        assert not ans.abstained, ans.raw_reply
        assert ans.backend == "local" and ans.citations
        assert any(PASHINYAN_START <= c.start and c.end <= PASHINYAN_END for c in ans.citations), (
            ans.to_markdown()
        )
        _assert_quotes_exact(a, ans)


class TestCli:
    def test_ingest_and_articles_through_the_server(self, chroma_url, tmp_path, sample_dir):
        env = {"CITEQA_COLLECTION": f"t{uuid.uuid4().hex[:12]}"}
        r = run("ingest", str(sample_dir), "--chroma-url", chroma_url, data_dir=tmp_path / "1",
                env=env)  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert "1 added" in r.stdout
        r = run("articles", "--chroma-url", chroma_url, data_dir=tmp_path / "2", env=env)
        assert r.returncode == 0, r.stderr
        assert SAMPLE_ID in r.stdout
        r = run("articles", data_dir=tmp_path / "2", env={**env, "CITEQA_CHROMA_URL": chroma_url})
        assert SAMPLE_ID in r.stdout


class TestUnreachable:
    def test_nobody_listening_is_a_store_error_saying_how_to_fix(self, make_assistant):
        url = f"http://127.0.0.1:{free_port()}"
        with pytest.raises(StoreError) as e:
            make_assistant(chroma_url=url)
        msg = str(e.value)
        assert url in msg and "chroma run --path" in msg

    @pytest.mark.models  # runs real `citeqa` processes: the end-to-end tier
    def test_cli_reports_it_in_one_line(self, tmp_path):
        url = f"http://127.0.0.1:{free_port()}"
        r = run("articles", "--chroma-url", url, data_dir=tmp_path)
        assert r.returncode == 2
        assert r.stderr.startswith(f"Error: Cannot reach the Chroma server at {url}")
        assert "Traceback" not in r.stderr
