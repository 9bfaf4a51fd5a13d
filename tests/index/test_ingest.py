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

    def test_every_sentence_is_embedded_once_and_stored(self, tmp_path, embedder):
        import numpy as np

        from index.ingest import article_sentences

        indexer = _indexer(tmp_path, embedder)
        a = _article(1)
        indexer.add([a])
        chunks = indexer.chunk(a)
        spans = article_sentences(chunks)
        assert len(chunks) > 1 and len(spans) == 12  # chunks overlap; each sentence once
        got = indexer.store.sentence_vectors([(a.id, s) for s in spans])
        assert len(got) == 12
        # Each sentence alone, and read after the sentence before it (the first: alone).
        texts = [a.text[s.start : s.end] for s in spans]
        alone = embedder.embed(texts)
        windows = embedder.embed([f"{p} {t}" for p, t in zip(texts, texts[1:], strict=False)])
        stored = np.stack([got[(a.id, s.start)] for s in spans])
        assert np.allclose(stored, alone, atol=1e-4)
        read = indexer.store.sentence_vectors([(a.id, s) for s in spans], window=True)
        in_window = np.stack([read[(a.id, s.start)] for s in spans])
        assert np.allclose(in_window[0], alone[0], atol=1e-4)
        assert np.allclose(in_window[1:], windows, atol=1e-4)

    def test_a_sentence_naming_its_subject_by_a_pronoun_is_found_by_the_name(
        self, tmp_path, embedder
    ):
        indexer = _indexer(tmp_path, embedder)
        text = (
            "The Stormriders have been owned since 2011 by Gerald Ostrander. "
            "The 71-year-old built his fortune in refrigerated trucking."
        )
        a = Article(id="owner", title="Arena approved", text=text)
        indexer.add([a])
        second = indexer.chunk(a)[0].sentences[1]
        key = (a.id, second.start)
        alone = indexer.store.sentence_vectors([(a.id, second)])[key]
        window = indexer.store.sentence_vectors([(a.id, second)], window=True)[key]
        q = embedder.embed(["How did Gerald Ostrander make his money?"])[0]
        # Read with the sentence before it, "the 71-year-old" is Ostrander: closer to the
        # question than the sentence alone (0.488 against 0.412 with MiniLM).
        assert float(window @ q) > float(alone @ q), (float(window @ q), float(alone @ q))

    def test_sentence_vectors_of_an_older_kind_are_stored_anew(self, tmp_path, embedder):
        from index.ingest import article_sentences

        indexer = _indexer(tmp_path, embedder)
        a = _article(3)
        indexer.add([a])
        # As citeqa wrote it before sentences were read in their window: version 1.
        meta = dict(indexer.store.article_meta(a.id))
        indexer.store._articles.update(ids=[a.id], metadatas=[{**meta, "sentences": 1}])
        report = indexer.add([a])
        assert [(it.status, it.reason) for it in report.items] == [
            ("replaced", "stored its sentence vectors (indexed by an older citeqa)")
        ]
        spans = article_sentences(indexer.chunk(a))
        assert len(indexer.store.sentence_vectors([(a.id, s) for s in spans])) == len(spans)
        assert indexer.add([a]).count("unchanged") == 1

    def test_an_index_from_before_sentence_vectors_gets_them_on_the_next_ingest(
        self, tmp_path, embedder
    ):
        from index.ingest import article_sentences, embed_text

        indexer = _indexer(tmp_path, embedder)
        a = _article(2)
        chunks = indexer.chunk(a)
        # As an older citeqa wrote it: chunks and the record, no sentence vectors.
        indexer.store.write_article(a, chunks, embedder.embed([embed_text(c) for c in chunks]))
        spans = article_sentences(chunks)
        assert indexer.store.sentence_vectors([(a.id, s) for s in spans]) == {}
        report = indexer.add([a])
        assert [(it.status, it.reason) for it in report.items] == [
            ("replaced", "stored its sentence vectors (indexed by an older citeqa)")
        ]
        assert len(indexer.store.sentence_vectors([(a.id, s) for s in spans])) == len(spans)
        assert indexer.add([a]).count("unchanged") == 1

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

    def test_what_loading_decided_is_in_the_report(self, tmp_path, embedder):
        import json

        from index.load import load_paths

        p = tmp_path / "export.jsonl"
        rows = [{"body": "The mayor resigned on Monday.", "date": "03/04/2024"},
                {"body": "The council met on Tuesday.", "date": "2024-03-05"}]  # fmt: skip
        p.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
        report = _indexer(tmp_path, embedder).add(load_paths([p]))
        first, second = report.items
        assert first.status == second.status == "added"
        assert "read 'body' as text, 'date' as published_at" in first.reason
        assert "could be day or month first" in first.reason
        assert second.reason is None
