"""The search index: BM25 equal to bm25s, filters equal to `Filters.matches`, sync with Chroma."""

from __future__ import annotations

import numpy as np
import pytest

from index.keywords import KeywordIndex
from index.search import SearchIndex
from index.store import ChromaStore, Filters
from qa.types import Article, Chunk

TEXTS = [
    "Putin arrived in Kyrgyzstan on Thursday for a summit of the CSTO.",
    "Armenian leader Nikol Pashinyan will skip the summit, Kyrgyzstan announced.",
    "The International Criminal Court issued a warrant for Putin in March.",
    "Moscow did not intervene when Azerbaijan launched an offensive in Nagorno-Karabakh.",
    "The summit summit summit was held in Bishkek, the Kyrgyz capital.",
    "Nothing here matches the questions at all.",
]
QUERIES = ["Why did Pashinyan skip the summit?", "ICC warrant Putin", "Bishkek summit", "zebra"]


class TestKeywordIndex:
    @pytest.mark.parametrize("query", QUERIES)
    def test_scores_equal_bm25s(self, query):
        import bm25s

        ours = KeywordIndex()
        ours.append(TEXTS)
        theirs = bm25s.BM25()
        tok = bm25s.tokenization.Tokenizer(stopwords="en", stemmer=None)
        theirs.index(tok.tokenize(TEXTS, return_as="ids", show_progress=False), show_progress=False)
        ids = [i for i in tok.tokenize([query], update_vocab=False, return_as="ids")[0]]
        expected = theirs.get_scores(ids) if ids else np.zeros(len(TEXTS))
        got = ours.scores(query, np.ones(len(TEXTS), dtype=bool))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)

    def test_dead_rows_are_ignored_like_a_smaller_corpus(self):
        full = KeywordIndex()
        full.append(TEXTS)
        live = np.array([True, True, False, True, True, False])
        small = KeywordIndex()
        small.append([t for t, keep in zip(TEXTS, live, strict=True) if keep])
        got = full.scores("summit Putin", live)
        np.testing.assert_allclose(got[live], small.scores("summit Putin", np.ones(4, bool)))
        assert not got[~live].any()


def _article(i: int, text: str, source: str | None, date: float | None) -> Article:
    return Article(id=f"a{i}", title=f"T{i}", text=text, source=source, published_at=date)


def _chunk(a: Article) -> Chunk:
    return Chunk(
        id=f"{a.id}:0",
        article_id=a.id,
        index=0,
        start=0,
        end=len(a.text),
        text=a.text,
        sentences=(),
        title=a.title,
        source=a.source,
        published_at=a.published_at,
    )


@pytest.fixture()
def store(tmp_path, embedder):
    s = ChromaStore(tmp_path / "data")
    sources = ["afp", "reuters", None]
    for i, text in enumerate(TEXTS):
        a = _article(i, text, sources[i % 3], None if i == 5 else 1000.0 * i)
        s.write_article(a, [_chunk(a)], embedder.embed([text]))
    return s


class TestSearchIndex:
    def test_sync_fetches_only_what_changed_and_survives_a_reload(self, store, embedder, tmp_path):
        path = tmp_path / "search.npz"
        index = SearchIndex.load(path)
        assert index.sync(store) and len(index) == len(TEXTS)
        assert not index.sync(store)  # nothing changed
        changed = _article(1, "Pashinyan stayed home in Yerevan.", "afp", 1000.0)
        store.write_article(changed, [_chunk(changed)], embedder.embed([changed.text]))
        store.delete_article("a3")
        assert index.sync(store)
        assert sorted(index.ids) == sorted(c.id for c in store.all_chunks())
        hits = index.keyword("Yerevan", 5, index.allowed(None))
        assert [h.chunk_id for h in hits] == ["a1:0"]
        again = SearchIndex.load(path)
        assert again.ids == index.ids and again.articles == index.articles
        assert np.array_equal(again.vectors, index.vectors)

    def test_a_damaged_file_is_rebuilt_from_chroma(self, store, tmp_path):
        path = tmp_path / "search.npz"
        path.write_bytes(b"not an npz")
        index = SearchIndex.load(path)
        assert len(index) == 0
        index.sync(store)
        assert len(index) == len(TEXTS) and SearchIndex.load(path).ids == index.ids

    @pytest.mark.parametrize(
        "filters",
        [
            Filters(sources=("afp",)),
            Filters(sources=("reuters", "nobody")),
            Filters(published_after=1500.0),
            Filters(published_after=1000.0, published_before=3000.0, sources=("reuters",)),
        ],
    )
    def test_filter_mask_equals_filters_matches(self, store, filters):
        index = SearchIndex(None)
        index.sync(store)
        chunks = {c.id: c for c in store.all_chunks()}
        mask = index.allowed(filters)
        assert {index.ids[i] for i in np.flatnonzero(mask)} == {
            i for i, c in chunks.items() if filters.matches(c)
        }

    def test_exact_and_hnsw_paths_agree(self, store, embedder, monkeypatch):
        index = SearchIndex(None)
        index.sync(store)
        vector = embedder.embed_query("Who skipped the summit?")
        allowed = index.allowed(None)
        exact = index.dense(store, vector, 3, allowed)
        monkeypatch.setattr("index.search.EXACT_ROWS", 0)  # force Chroma's HNSW
        hnsw = index.dense(store, vector, 3, allowed)
        assert [h.chunk_id for h in hnsw] == [h.chunk_id for h in exact]
        np.testing.assert_allclose([h.score for h in hnsw], [h.score for h in exact], atol=2e-3)
        assert exact[0].chunk_id == "a1:0"
        afp = index.allowed(Filters(sources=("afp",)))
        assert {h.chunk_id for h in index.dense(store, vector, 5, afp)} == {"a0:0", "a3:0"}

    def test_an_empty_index_finds_nothing(self, tmp_path, embedder):
        store = ChromaStore(tmp_path / "empty")
        index = SearchIndex(None)
        index.sync(store)
        vector = embedder.embed_query("anything")
        assert index.dense(store, vector, 5, index.allowed(None)) == []
        assert index.keyword("anything", 5, index.allowed(None)) == []
