"""The Indexer with the real embedder and real Chroma on disk: groups are embedded and written
by a worker while the next articles are split, so check nothing is lost or reordered by it."""

from collections.abc import Iterator

import pytest

from index.ingest import Indexer
from index.load import LoadProblem
from index.store import ChromaStore
from qa.types import Article


def _article(i: int, sentences: int = 12) -> Article:
    text = " ".join(
        f"Story {i} sentence {j} says the council met on day {j} to vote on item {i * 100 + j}."
        for j in range(sentences)
    )
    return Article(id=f"art-{i:03d}", title=f"Story {i}", text=text)


def _indexer(tmp_path, embedder) -> Indexer:
    store = ChromaStore(tmp_path / "chroma", vectors=embedder.family)
    # Small chunks: a few articles fill a group, so one run crosses several groups.
    return Indexer(store, embedder, chunk_tokens=40, overlap_sentences=1)


class TestIndexer:
    def test_every_article_of_many_groups_is_written_once(self, tmp_path, embedder):
        indexer = _indexer(tmp_path, embedder)
        articles = [_article(i) for i in range(30)]
        items: list[Article | LoadProblem] = [*articles[:10], LoadProblem("bad.txt", "empty")]
        items += articles[10:]
        report = indexer.add(items)

        added = [it for it in report.items if it.status == "added"]
        assert [it.article_id for it in added] == [a.id for a in articles]  # input order
        assert report.count("rejected") == 1
        expected_chunks = {a.id: len(indexer.chunk(a)) for a in articles}
        assert sum(expected_chunks.values()) > 3 * 64  # several groups went through the worker
        assert {it.article_id: it.chunks for it in added} == expected_chunks
        store = indexer.store
        assert store.count_chunks() == sum(expected_chunks.values())
        for a in articles:
            assert store.article_meta(a.id)["n_chunks"] == expected_chunks[a.id]
        again = indexer.add(articles)
        assert again.count("unchanged") == len(articles)

    def test_an_error_while_reading_still_writes_the_group_being_embedded(self, tmp_path, embedder):
        indexer = _indexer(tmp_path, embedder)
        articles = [_article(i) for i in range(12)]

        def items() -> Iterator[Article]:
            yield from articles
            raise RuntimeError("disk went away")

        with pytest.raises(RuntimeError, match="disk went away"):
            indexer.add(items())
        written = {a.id for a in articles if indexer.store.article_meta(a.id) is not None}
        # Every group handed to the worker before the error is complete; the rest is absent,
        # so a re-run adds exactly what is missing.
        assert written, "the groups already submitted were dropped"
        for a in articles:
            meta = indexer.store.article_meta(a.id)
            if meta is not None:
                assert meta["n_chunks"] == len(indexer.chunk(a))
        rerun = indexer.add(articles)
        assert rerun.count("unchanged") == len(written)
        assert rerun.count("added") == len(articles) - len(written)

    def test_ctrl_c_reports_what_was_committed(self, tmp_path, embedder):
        from index.ingest import IngestInterrupted

        indexer = _indexer(tmp_path, embedder)
        articles = [_article(i) for i in range(12)]

        def items() -> Iterator[Article]:
            yield from articles
            raise KeyboardInterrupt

        with pytest.raises(IngestInterrupted) as err:
            indexer.add(items())
        assert isinstance(err.value, KeyboardInterrupt)  # callers that only know Ctrl-C
        report = err.value.report
        written = {a.id for a in articles if indexer.store.article_meta(a.id) is not None}
        assert written and {i.article_id for i in report.items} == written
        assert report.count("added") == len(written)
        rerun = indexer.add(articles)
        assert rerun.count("unchanged") == len(written)
        assert rerun.count("added") == len(articles) - len(written)
