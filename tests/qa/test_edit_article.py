"""`Assistant.edit_article` and `Assistant.article_count` with real components: Chroma on disk,
the packaged embedder, the extractive backend (issue 17: edit an article's title, source and
date after upload; the page's stage line without reading every record per question)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.ingest import embed_text
from index.store import ChromaStore, Filters
from qa.assistant import Assistant
from qa.errors import InputError, NoMatchError, NotFoundError
from qa.types import Article

BRIDGE = {
    "id": "norrvik-bridge",
    "title": "Harbour Bridge Reopens",
    "source": "Norrvik Post",
    "published_at": "2024-03-11T09:30:00Z",
    "text": "The city of Norrvik reopened its harbour bridge on Monday after a two-year repair "
    "that cost 48 million euros. Mayor Elin Strand said the bridge would carry trams again "
    "from June.\n\nThe repair replaced the bridge's steel deck and its two lifting spans.",
}
FERRY = {
    "id": "norrvik-ferry",
    "title": "Ferry Line Ends Service",
    "source": "Citeqa Wire",
    "published_at": "2024-03-12",
    "text": "The temporary ferry that replaced the Norrvik harbour bridge made its last crossing "
    "on Tuesday. It carried 1.2 million passengers in two years.",
}
COST = "How much did the Norrvik bridge repair cost?"
MARCH_15 = 1710460800.0  # 2024-03-15 00:00 UTC


@pytest.fixture()
def feed(tmp_path) -> Path:
    path = tmp_path / "articles" / "norrvik.jsonl"
    path.parent.mkdir()
    path.write_text("\n".join(json.dumps(a) for a in (BRIDGE, FERRY)), encoding="utf-8")
    return path


@pytest.fixture()
def assistant(make_assistant, feed) -> Assistant:
    a = make_assistant(backend="extractive")
    assert a.add([feed]).count("added") == 2
    return a


def _vectors(a: Assistant, article_id: str) -> dict[str, np.ndarray]:
    chunks, vectors = a.store.chunks_with_vectors(a.store.article_hashes())
    return {c.id: v for c, v in zip(chunks, vectors, strict=True) if c.article_id == article_id}


def _edit_bridge(a: Assistant) -> Article:
    return a.edit_article(
        "norrvik-bridge",
        title="Norrvik Bridge Back in Service",
        source="Harbour Times",
        published="2024-03-15",
    )


class TestEditArticle:
    def test_answers_filters_and_cards_use_the_new_details(self, assistant):
        edited = _edit_bridge(assistant)
        assert (edited.title, edited.source, edited.published_at) == (
            "Norrvik Bridge Back in Service", "Harbour Times", MARCH_15,
        )  # fmt: skip
        assert edited.text == BRIDGE["text"]
        answer = assistant.ask(COST, filters=Filters(sources=("harbour times",)))
        assert not answer.abstained and answer.citations
        assert {c.article_id for c in answer.citations} == {"norrvik-bridge"}
        assert {c.title for c in answer.citations} == {"Norrvik Bridge Back in Service"}
        assert {s.title for s in answer.sources} == {"Norrvik Bridge Back in Service"}
        for c in answer.citations:  # the offsets still point into the unchanged text
            assert BRIDGE["text"][c.start : c.end] == c.quote
        with pytest.raises(NoMatchError):  # the old source no longer matches anything
            assistant.ask(COST, filters=Filters(sources=("Norrvik Post",)))
        after_14 = Filters(published_after=MARCH_15 - 86400 + 1)
        found = assistant.ask(COST, filters=after_14)
        assert {c.article_id for c in found.citations} == {"norrvik-bridge"}
        row = next(r for r in assistant.articles() if r["id"] == "norrvik-bridge")
        assert (row["title"], row["source"]) == ("Norrvik Bridge Back in Service", "Harbour Times")

    def test_a_new_title_re_embeds_the_chunks_a_new_source_does_not(self, assistant):
        before = _vectors(assistant, "norrvik-bridge")
        sentences_before = assistant.store._sentences.get(include=["embeddings"])
        assistant.edit_article(
            "norrvik-bridge", title=BRIDGE["title"], source="Harbour Times", published=None
        )
        for cid, v in _vectors(assistant, "norrvik-bridge").items():
            np.testing.assert_array_equal(v, before[cid])  # same title: no new vectors
        _edit_bridge(assistant)
        chunks = assistant.store.article_chunks("norrvik-bridge")
        expected = assistant.embedder.embed([embed_text(c) for c in chunks])
        assert all(c.title == "Norrvik Bridge Back in Service" for c in chunks)
        after = _vectors(assistant, "norrvik-bridge")
        for c, v in zip(chunks, expected, strict=True):
            np.testing.assert_allclose(after[c.id], v, atol=1e-5)
            assert not np.allclose(after[c.id], before[c.id], atol=1e-3)
        # Sentence vectors are of the sentence alone: kept as they were.
        sentences_after = assistant.store._sentences.get(include=["embeddings"])
        assert sentences_after["ids"] == sentences_before["ids"]
        np.testing.assert_array_equal(sentences_after["embeddings"], sentences_before["embeddings"])
        # The ferry's vectors are untouched.
        ferry = assistant.store.article_chunks("norrvik-ferry")
        title_text = [embed_text(c) for c in ferry]
        np.testing.assert_allclose(
            np.stack(list(_vectors(assistant, "norrvik-ferry").values())),
            assistant.embedder.embed(title_text),
            atol=1e-5,
        )

    def test_kept_after_a_restart_and_a_re_ingest_of_the_same_file(self, assistant, feed):
        _edit_bridge(assistant)
        settings = assistant.settings
        assistant.close()
        # Another process reads the index: the record carries the new details.
        citeqa = str(Path(sys.executable).with_name("citeqa"))
        out = subprocess.run(
            [citeqa, "articles", "--json", "--data-dir", str(settings.data_dir)],
            capture_output=True, text=True, check=True, timeout=300,
        )  # fmt: skip
        rows = {r["id"]: r for r in json.loads(out.stdout)}
        bridge = rows["norrvik-bridge"]
        assert (bridge["title"], bridge["source"], bridge["published_at"]) == (
            "Norrvik Bridge Back in Service", "Harbour Times", MARCH_15,
        )  # fmt: skip
        # A new Assistant on the folder (its saved search index read back from disk) filters
        # by the new source, and re-ingesting the unchanged file keeps the edit.
        with Assistant(settings) as again:
            hits = again.retriever.retrieve(COST, k=3, filters=Filters(sources=("Harbour Times",)))
            assert {h.chunk.article_id for h in hits.chunks} == {"norrvik-bridge"}
            assert {h.chunk.source for h in hits.chunks} == {"Harbour Times"}
            report = again.add([feed])
            assert report.count("unchanged") == 2, report.items
            assert again.get_article("norrvik-bridge").title == "Norrvik Bridge Back in Service"

    def test_the_same_day_keeps_the_time_and_empty_fields_clear(self, assistant):
        stored = assistant.get_article("norrvik-bridge").published_at
        kept = assistant.edit_article(
            "norrvik-bridge", title=" Harbour   Bridge Reopens ", source="", published="2024-03-11"
        )
        assert kept.published_at == stored  # 09:30 UTC, not midnight
        assert kept.title == "Harbour Bridge Reopens" and kept.source is None
        cleared = assistant.edit_article(
            "norrvik-bridge", title="Harbour Bridge Reopens", source=None, published=""
        )
        assert cleared.published_at is None
        with pytest.raises(NoMatchError):
            assistant.ask(COST, filters=Filters(sources=("Norrvik Post",)))
        only_ferry = assistant.ask(COST, filters=Filters(published_after=1.0e9))
        assert {s.article_id for s in only_ferry.sources} == {"norrvik-ferry"}

    def test_bad_input_is_refused_and_changes_nothing(self, assistant):
        generation = assistant.store.generation()
        cases = [
            ({"published": "14/03/2024"}, "not in the form YYYY-MM-DD.*write it as 2024-03-14,"),
            ({"published": "March 15"}, "not in the form YYYY-MM-DD"),
            ({"published": "2024-02-30"}, "does not exist"),
            ({"title": "   "}, "title is empty"),
            ({"title": "x" * 400}, "limit is 300"),
        ]
        for change, message in cases:
            details = {"title": "T", "source": "S", "published": "2024-03-15"} | change
            with pytest.raises(InputError, match=message):
                assistant.edit_article("norrvik-bridge", **details)
        with pytest.raises(NotFoundError):
            assistant.edit_article("no-such-story", title="T", source=None, published=None)
        assert assistant.store.generation() == generation
        assert assistant.get_article("norrvik-bridge").title == BRIDGE["title"]


class TestArticleCount:
    def test_counts_what_the_filters_admit_and_reads_records_only_after_a_change(
        self, assistant, monkeypatch
    ):
        reads: list[int] = []
        listing = assistant.store.list_articles

        def counted():
            reads.append(1)
            return listing()

        monkeypatch.setattr(assistant.store, "list_articles", counted)
        assert assistant.article_count() == 2
        assert assistant.article_count(Filters(sources=("citeqa wire",))) == 1
        assert assistant.article_count(Filters(published_after=MARCH_15)) == 0
        for _ in range(5):
            assistant.article_count()
        assert len(reads) == 1  # nothing changed: the records were read once
        # Another process writes to the same folder: the change marker shows it.
        other = ChromaStore(assistant.settings.data_dir)
        extra = Article(id="extra", title="Extra", text="One more story.", source="Citeqa Wire")
        chunk = assistant.indexer.chunk(extra)
        other.write_article(extra, chunk, assistant.embedder.embed([c.text for c in chunk]))
        assert assistant.article_count(Filters(sources=("Citeqa Wire",))) == 2
        assert len(reads) == 2
        _edit_bridge(assistant)
        assert assistant.article_count(Filters(published_after=MARCH_15)) == 1
        assistant.remove("extra")
        assert assistant.article_count() == 2 and len(reads) == 4

    def test_matches_the_records(self, assistant):
        for f in [None, Filters(sources=("Norrvik Post", "nobody")), Filters(published_before=1)]:
            expected = [
                r for r in assistant.articles()
                if not f or f.admits(r.get("source"), r.get("published_at"))
            ]  # fmt: skip
            assert assistant.article_count(f) == len(expected)


def test_an_edit_is_made_under_the_write_lock(assistant, monkeypatch):
    """Edits are writes: they wait for another process's ingest like `add` and `remove`."""
    free: list[bool] = []
    edit = assistant.indexer.edit_details

    def spy(*args, **kwargs):
        probe = assistant._write_lock()
        got = probe.try_acquire()
        if got:
            probe.release()
        free.append(got)
        return edit(*args, **kwargs)

    monkeypatch.setattr(assistant.indexer, "edit_details", spy)
    _edit_bridge(assistant)
    assert free == [False]
