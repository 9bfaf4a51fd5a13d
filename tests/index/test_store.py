import numpy as np
import pytest

from index.store import ChromaStore, Filters, SentenceVectors
from qa.types import Article, Chunk, Span


def _article(aid="a", text="One sentence. Two sentence.", **kw):
    return Article(id=aid, title=f"Title {aid}", text=text, **kw)


def _chunks(a: Article):
    return [
        Chunk(
            id=f"{a.id}-{a.text_hash}-0",
            article_id=a.id,
            index=0,
            start=0,
            end=len(a.text),
            text=a.text,
            sentences=(Span(0, len(a.text)),),
            title=a.title,
            source=a.source,
            published_at=a.published_at,
        )
    ]


def _vec(seed):
    v = np.random.default_rng(seed).normal(size=(1, 8)).astype(np.float32)
    return v / np.linalg.norm(v)


class TestChromaStore:
    def test_write_replace_remove_and_reopen(self, tmp_path):
        store = ChromaStore(tmp_path)
        a = _article(source="AFP", published_at=100.0)
        store.write_article(a, _chunks(a), _vec(0))
        assert store.count_chunks() == 1
        assert store.get_article("a").text == a.text
        b = _article(text="Changed text now.")
        store.write_article(b, _chunks(b), _vec(1))
        assert store.count_chunks() == 1
        assert store.all_chunks()[0].text == "Changed text now."
        # Data is on disk: a new client sees it.
        again = ChromaStore(tmp_path)
        assert again.article_meta("a")["text_hash"] == b.text_hash
        assert again.delete_article("a") and not again.delete_article("a")
        assert again.count_chunks() == 0 and again.list_articles() == []

    def test_orphans_swept(self, tmp_path):
        store = ChromaStore(tmp_path)
        a = _article()
        store.write_article(a, _chunks(a), _vec(0))
        # Simulate a crash after chunks were written but before the article record.
        store._articles.delete(ids=["a"])
        assert store.sweep_orphans() == 1
        assert store.count_chunks() == 0

    def test_filters(self, tmp_path):
        store = ChromaStore(tmp_path)
        for i, (src, t) in enumerate([("AFP", 100.0), ("Reuters", 200.0), ("AFP", 300.0)]):
            a = _article(aid=f"a{i}", text=f"Text {i}.", source=src, published_at=t)
            store.write_article(a, _chunks(a), _vec(i))
        f = Filters(sources=("AFP",), published_after=150.0)
        hits = store.dense_search(_vec(9)[0], 10, f.to_where())
        assert [c.article_id for c, _ in hits] == ["a2"]
        assert [c.article_id for c in store.all_chunks() if f.matches(c)] == ["a2"]

    def test_index_of_another_embedding_family_is_refused(self, tmp_path):
        import pytest

        from qa.errors import StoreError

        store = ChromaStore(tmp_path, vectors="m/float")
        a = _article()
        store.write_article(a, _chunks(a), _vec(1))
        assert ChromaStore(tmp_path, vectors="m/float").count_chunks() == 1
        with pytest.raises(StoreError, match="built with m/float embeddings.*CITEQA_EMBED_BACKEND"):
            ChromaStore(tmp_path, vectors="m/int8")

    def test_a_server_store_never_sweeps(self, tmp_path):
        store = ChromaStore(tmp_path)
        meta = {"article_id": "gone", "index": 0, "start": 0, "end": 1}
        store._chunks.upsert(ids=["orphan"], embeddings=_vec(2), documents=["x"], metadatas=[meta])
        store.remote = True  # as with --chroma-url: another machine may be mid-write
        assert store.sweep_orphans() == 0 and store.count_chunks() == 1
        store.remote = False
        assert store.sweep_orphans() == 1


class TestSentenceVectors:
    def _write(self, store, a):
        spans = (Span(0, 13), Span(14, len(a.text)))
        vectors = np.concatenate([_vec(3), _vec(4)])
        store.write_article(a, _chunks(a), _vec(0), SentenceVectors(spans, vectors))
        return spans, vectors

    def test_stored_with_the_article_and_read_back(self, tmp_path):
        store = ChromaStore(tmp_path)
        a = _article()
        spans, vectors = self._write(store, a)
        got = ChromaStore(tmp_path).sentence_vectors([("a", spans[1]), ("a", spans[0])])
        assert set(got) == {("a", 0), ("a", 14)}
        np.testing.assert_allclose(got[("a", 14)], vectors[1], rtol=1e-6)
        # A sentence that was never stored is left out for the caller to embed.
        assert ChromaStore(tmp_path).sentence_vectors([("a", Span(0, 3)), ("b", spans[0])]) == {}

    def test_replaced_removed_and_swept_with_their_article(self, tmp_path):
        store = ChromaStore(tmp_path)
        a = _article()
        spans, _ = self._write(store, a)
        b = _article(text="Changed text now.")
        store.write_article(b, _chunks(b), _vec(1))  # a new version without sentence vectors
        assert store.sentence_vectors([("a", s) for s in spans]) == {}
        self._write(store, a)
        assert store.delete_article("a")
        assert store.sentence_vectors([("a", s) for s in spans]) == {}
        self._write(store, a)
        store._articles.delete(ids=["a"])  # a crash before the article record was written
        store.sweep_orphans()
        assert store._sentences.count() == 0


@pytest.mark.models  # real processes: the end-to-end tier
def test_processes_creating_one_new_store_at_once_all_open_it(tmp_path):
    """Two first ingests started together raced in Chroma's schema creation (CI: "table
    collections already exists"; by hand: "database is locked" in 1-2 of 24 opens)."""
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; from index.store import _client; "
        "_client(Path(sys.argv[1]), None).get_or_create_collection('race'); print('ok')"
    )
    for round_ in range(3):
        d = tmp_path / f"r{round_}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(d)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for _ in range(4)
        ]
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0 and out.strip() == "ok", err[-500:]
