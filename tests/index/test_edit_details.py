"""Editing an article's title, source and date after ingest, in real Chroma on disk (issue 17):
the record and every chunk change, the text and its offsets do not, the search index notices
(its filters use the new values), and all of it is there after a restart.

Vectors are made up (no embedding model): tests/qa/test_edit_article.py covers the re-embedding
with the real embedder through the Assistant."""

from __future__ import annotations

import numpy as np
import pytest

from index.search import SearchIndex
from index.store import ChromaStore, Filters, sync_key, text_hash_of
from index.types import Article, Chunk, Span

TEXT = (
    "The city reopened its harbour bridge on Monday. Trams will cross it again in June. "
    "The repair cost 48 million euros."
)
SENTENCES = [(0, 47), (48, 82), (83, len(TEXT))]


def _article(**kw) -> Article:
    base = {"id": "bridge", "title": "Harbour Bridge Reopens", "text": TEXT,
            "source": "Norrvik Post", "published_at": 1710115200.0}  # fmt: skip
    return Article(**(base | kw))


def _chunks(a: Article) -> list[Chunk]:
    """Two chunks (the first two sentences, then the last), as the splitter would make them."""
    parts = [SENTENCES[:2], SENTENCES[2:]]
    return [
        Chunk(
            id=f"{a.id}-{a.text_hash}-{i}",
            article_id=a.id,
            index=i,
            start=p[0][0],
            end=p[-1][1],
            text=a.text[p[0][0] : p[-1][1]],
            sentences=tuple(Span(s, e) for s, e in p),
            title=a.title,
            source=a.source,
            published_at=a.published_at,
        )  # fmt: skip
        for i, p in enumerate(parts)
    ]


def _vectors(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 8)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _stored_vectors(store: ChromaStore, article_id: str) -> dict[str, np.ndarray]:
    chunks, vectors = store.chunks_with_vectors(store.article_hashes())
    return {c.id: v for c, v in zip(chunks, vectors, strict=True) if c.article_id == article_id}


@pytest.fixture()
def written(tmp_path) -> tuple[ChromaStore, Article]:
    store = ChromaStore(tmp_path)
    a = _article()
    store.write_article(a, _chunks(a), _vectors(2, 0))
    other = _article(id="ferry", title="Ferry Ends", text="The ferry made its last crossing.",
                     source="Citeqa Wire", published_at=1710201600.0)  # fmt: skip
    store.write_article(other, _chunks(other)[:1], _vectors(1, 1))
    return store, a


class TestEditDetails:
    def test_record_and_every_chunk_take_the_new_values_text_stays(self, written):
        store, a = written
        before = {c.id: c for c in store.article_chunks("bridge")}
        assert store.edit_details(
            "bridge", title="Bridge Opens Again", source="Harbour Times", published_at=1710201600.0
        )
        got = store.get_article("bridge")
        assert (got.title, got.source, got.published_at) == (
            "Bridge Opens Again", "Harbour Times", 1710201600.0,
        )  # fmt: skip
        assert got.text == TEXT and got.text_hash == a.text_hash
        chunks = store.article_chunks("bridge")
        assert [c.id for c in chunks] == sorted(before) and len(chunks) == 2
        for c in chunks:
            assert (c.title, c.source, c.published_at) == (
                "Bridge Opens Again", "Harbour Times", 1710201600.0,
            )  # fmt: skip
            old = before[c.id]
            # Offsets, sentences and text are the chunk's own, unchanged.
            assert (c.start, c.end, c.sentences, c.text) == (
                old.start, old.end, old.sentences, old.text,
            )  # fmt: skip
            assert TEXT[c.start : c.end] == c.text
        record = store.list_articles()[0]
        assert record["id"] == "bridge" and record["n_chunks"] == 2
        # The other article is untouched.
        ferry = store.get_article("ferry")
        assert (ferry.title, ferry.source) == ("Ferry Ends", "Citeqa Wire")

    def test_source_and_date_can_be_removed(self, written):
        store, _ = written
        store.edit_details("bridge", title="Harbour Bridge Reopens", source=None, published_at=None)
        got = store.get_article("bridge")
        assert got.source is None and got.published_at is None
        meta = store.article_meta("bridge")
        assert "source" not in meta and "published_at" not in meta
        assert all(c.source is None and c.published_at is None for c in store.all_chunks()
                   if c.article_id == "bridge")  # fmt: skip
        # Chroma's own filter (the LangChain path) no longer finds it by the old source.
        where = Filters(sources=("Norrvik Post",)).to_where()
        assert store.dense_search(_vectors(1, 5)[0], 5, where) == []

    def test_new_vectors_replace_the_chunks_and_none_keep_them(self, written):
        store, _ = written
        old = _stored_vectors(store, "bridge")
        store.edit_details("bridge", title="T", source="S", published_at=None)
        for cid, v in _stored_vectors(store, "bridge").items():
            np.testing.assert_array_equal(v, old[cid])
        new = dict(zip(sorted(old), _vectors(2, 9), strict=True))
        store.edit_details("bridge", title="T2", source="S", published_at=None, vectors=new)
        for cid, v in _stored_vectors(store, "bridge").items():
            np.testing.assert_allclose(v, new[cid], rtol=1e-6)

    def test_vectors_for_some_chunks_only_are_refused_before_anything_is_written(self, written):
        store, _ = written
        cid = store.article_chunks("bridge")[0].id
        with pytest.raises(ValueError, match="one for each of its 2 chunks"):
            store.edit_details("bridge", title="T", source=None, published_at=None,
                               vectors={cid: _vectors(1, 3)[0]})  # fmt: skip
        assert store.get_article("bridge").title == "Harbour Bridge Reopens"
        assert {c.title for c in store.article_chunks("bridge")} == {"Harbour Bridge Reopens"}

    def test_no_such_article(self, written):
        store, _ = written
        generation = store.generation()
        assert not store.edit_details("nope", title="T", source=None, published_at=None)
        assert store.generation() == generation  # nothing written, no change to notice

    def test_survives_a_restart(self, written, tmp_path):
        store, _ = written
        store.edit_details("bridge", title="Bridge Opens Again", source="Harbour Times",
                           published_at=1710201600.0)  # fmt: skip
        again = ChromaStore(tmp_path)
        got = again.get_article("bridge")
        assert (got.title, got.source, got.published_at) == (
            "Bridge Opens Again", "Harbour Times", 1710201600.0,
        )  # fmt: skip
        assert {c.source for c in again.article_chunks("bridge")} == {"Harbour Times"}
        # An edited article is no leftover: opening as a writer sweeps nothing of it.
        assert again.sweep_orphans() == 0 and again.count_chunks() == 3

    def test_a_crashed_writers_leftover_chunks_are_left_alone(self, written):
        store, a = written
        stale = _article(text="An older text of the bridge story.")
        leftover = _chunks(stale)[:1]
        store._chunks.upsert(
            ids=[leftover[0].id], embeddings=_vectors(1, 4), documents=[leftover[0].text],
            metadatas=[{"article_id": "bridge", "index": 0, "start": 0, "end": 10,
                        "title": "old", "text_hash": stale.text_hash, "sentences": "[]"}],
        )  # fmt: skip
        assert [c.id for c in store.article_chunks("bridge")] == [c.id for c in _chunks(a)]
        store.edit_details("bridge", title="New", source=None, published_at=None,
                           vectors=dict(zip([c.id for c in _chunks(a)], _vectors(2, 7),
                                            strict=True)))  # fmt: skip
        assert store.get_chunks([leftover[0].id])[0].title == "old"
        assert store.sweep_orphans() == 1


class TestSearchIndexSeesEdits:
    """The search index filters by the source and date it copied from the chunks, and notices
    changes by article version: an edit keeps the text, so the version carries its stamp."""

    def test_filters_use_the_new_values_also_in_an_index_saved_before(self, written, tmp_path):
        store, a = written
        path = tmp_path / "search" / "citeqa.npz"
        index = SearchIndex(path)
        index.sync(store)
        new_source = Filters(sources=("harbour times",))
        assert not index.allowed(new_source).any()
        store.edit_details("bridge", title="Bridge Opens Again", source="Harbour Times",
                           published_at=1710201600.0)  # fmt: skip
        # A later process: the saved index and a new client on the same folder (a restart).
        reloaded = SearchIndex.load(path)
        assert reloaded.sync(ChromaStore(tmp_path))
        for idx in (reloaded, index):
            if idx is index:
                assert idx.sync(store)
            rows = {idx.article_of[i] for i in np.flatnonzero(idx.allowed(new_source))}
            assert rows == {"bridge"}
            assert not idx.allowed(Filters(sources=("Norrvik Post",))).any()
            march_12 = Filters(published_after=1710201600.0, published_before=1710287999.0)
            assert {idx.article_of[i] for i in np.flatnonzero(idx.allowed(march_12))} == {
                "bridge", "ferry",
            }  # fmt: skip
            # Keyword search reads the new title (BM25 indexes title + text).
            hits = idx.keyword("opens again", 5, idx.allowed(None))
            assert hits and all(h.chunk_id.startswith("bridge-") for h in hits)
            assert len(idx) == 3  # the article's chunks replaced, not added twice
        assert not index.sync(store)  # nothing changed since

    def test_an_article_never_edited_keeps_its_bare_text_hash(self, written):
        store, a = written
        assert store.article_hashes()["bridge"] == a.text_hash  # saved indexes stay in sync
        store.edit_details("bridge", title="T", source=None, published_at=None)
        key = store.article_hashes()["bridge"]
        assert key != a.text_hash and text_hash_of(key) == a.text_hash
        assert sync_key(store.article_meta("bridge")) == key
        store.edit_details("bridge", title="T", source=None, published_at=None)
        assert store.article_hashes()["bridge"] != key  # each edit is a new version
