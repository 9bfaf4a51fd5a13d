"""Article ids: unique and stable, and an article is never replaced by another source's text.

Real Chroma on disk and the real embedder: the collision rule reads the stored records.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from index.ingest import Indexer, candidate_ids
from index.load import load_paths, slug
from index.store import ChromaStore
from qa.types import Article


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def indexer(tmp_path, embedder) -> Indexer:
    store = ChromaStore(tmp_path / "data", vectors=embedder.family)
    return Indexer(store, embedder, chunk_tokens=160, overlap_sentences=1)


def _ids(indexer: Indexer) -> dict[str, str]:
    return {r["id"]: indexer.store.get_article(r["id"]).text for r in indexer.store.list_articles()}


class TestSlug:
    def test_unicode_is_kept_and_ascii_ids_do_not_change(self):
        assert slug("putin-kyrgyzstan-visit") == "putin-kyrgyzstan-visit"
        assert slug("My_File v2") == "my_file-v2"
        assert slug("café") != slug("cafè")
        assert slug("été 東京 😀") == "été-東京"
        assert slug("Cafe\u0301") == slug("Café")  # NFD and NFC spellings are one id
        assert slug("😀") == ""

    def test_candidates_qualify_by_folder_then_hash(self, tmp_path):
        page = _write(tmp_path / "siteB" / "index.html", "x")
        art = Article(id="index", title="T", text="Some text.", origin_path=str(page))
        cands = candidate_ids(art)
        assert cands[:2] == ["index", "siteb-index"]
        assert cands[-1] == f"index-{art.text_hash[:8]}"
        feed = Article(id="1", title="T", text="x", origin_path=str(tmp_path / "f" / "bbc.jsonl"))
        assert candidate_ids(feed)[:3] == ["1", "bbc-1", "f-bbc-1"]


class TestCollisions:
    def test_two_files_with_one_name_are_both_kept(self, indexer, tmp_path):
        a = _write(tmp_path / "siteA" / "index.txt", "The harbour reopened on Monday.")
        b = _write(tmp_path / "siteB" / "index.txt", "The library closed on Friday.")
        first = indexer.add(load_paths([a]))
        second = indexer.add(load_paths([b]))
        assert [i.status for i in first.items + second.items] == ["added", "added"]
        note = second.items[0].reason or ""
        assert "id 'index' is taken by" in note and str(a) in note and "--replace" in note
        assert _ids(indexer) == {
            "index": "The harbour reopened on Monday.",
            "siteb-index": "The library closed on Friday.",
        }
        # Re-ingesting either is a no-op, and keeps its id.
        again = indexer.add(load_paths([a, b]))
        assert [(i.status, i.article_id) for i in again.items] == [
            ("unchanged", "index"),
            ("unchanged", "siteb-index"),
        ]

    def test_the_same_file_edited_updates_its_own_article_only(self, indexer, tmp_path):
        a = _write(tmp_path / "siteA" / "index.txt", "The harbour reopened on Monday.")
        b = _write(tmp_path / "siteB" / "index.txt", "The library closed on Friday.")
        indexer.add(load_paths([a, b]))
        _write(b, "The library reopened on Saturday.")
        report = indexer.add(load_paths([b]))
        assert [(i.status, i.article_id) for i in report.items] == [("replaced", "siteb-index")]
        _write(a, "The harbour closed again on Tuesday.")
        report = indexer.add(load_paths([a]))
        assert [(i.status, i.article_id) for i in report.items] == [("replaced", "index")]
        assert _ids(indexer) == {
            "index": "The harbour closed again on Tuesday.",
            "siteb-index": "The library reopened on Saturday.",
        }

    def test_the_id_it_lost_to_being_freed_does_not_make_a_second_copy(self, indexer, tmp_path):
        a = _write(tmp_path / "siteA" / "index.txt", "The harbour reopened on Monday.")
        b = _write(tmp_path / "siteB" / "index.txt", "The library closed on Friday.")
        indexer.add(load_paths([a, b]))
        indexer.store.delete_article("index")
        _write(b, "The library reopened on Saturday.")
        report = indexer.add(load_paths([b]))
        assert [(i.status, i.article_id) for i in report.items] == [("replaced", "siteb-index")]
        assert set(_ids(indexer)) == {"siteb-index"}

    def test_replace_updates_the_taken_id(self, indexer, tmp_path):
        a = _write(tmp_path / "siteA" / "index.txt", "The harbour reopened on Monday.")
        b = _write(tmp_path / "siteB" / "index.txt", "The library closed on Friday.")
        indexer.add(load_paths([a]))
        report = indexer.add(load_paths([b]), replace=True)
        assert [(i.status, i.article_id) for i in report.items] == [("replaced", "index")]
        assert _ids(indexer) == {"index": "The library closed on Friday."}

    def test_one_run_with_both_files_keeps_both(self, indexer, tmp_path):
        root = tmp_path / "drop"
        a = _write(root / "x" / "index.txt", "The harbour reopened on Monday.")
        b = _write(root / "y" / "index.txt", "The library closed on Friday.")
        report = indexer.add(load_paths([a, b]))
        assert [i.article_id for i in report.items] == ["index", "y-index"]
        assert len(_ids(indexer)) == 2

    def test_same_text_from_another_file_is_not_a_second_article(self, indexer, tmp_path):
        a = _write(tmp_path / "wire" / "story.txt", "The harbour reopened on Monday.")
        b = _write(tmp_path / "copy" / "story.txt", "The harbour reopened on Monday.")
        indexer.add(load_paths([a]))
        report = indexer.add(load_paths([b]))
        assert [(i.status, i.article_id) for i in report.items] == [("unchanged", "story")]

    def test_feeds_numbering_from_one(self, indexer, tmp_path):
        fa = _write(tmp_path / "a.jsonl", '{"id": 1, "text": "The ferry resumed today."}\n')
        fb = _write(tmp_path / "b.jsonl", '{"id": 1, "text": "The mine cut 200 jobs today."}\n')
        indexer.add(load_paths([fa]))
        indexer.add(load_paths([fb]))
        _write(fb, '{"id": 1, "text": "The mine cut 300 jobs today."}\n')
        report = indexer.add(load_paths([fb]))
        assert [(i.status, i.article_id) for i in report.items] == [("replaced", "b-1")]
        assert _ids(indexer) == {
            "1": "The ferry resumed today.",
            "b-1": "The mine cut 300 jobs today.",
        }

    def test_api_articles_under_a_chosen_id_update_it(self, indexer):
        indexer.add([Article(id="x", title="X", text="The mayor opened the bridge.")])
        report = indexer.add([Article(id="x", title="X", text="The mayor closed the bridge.")])
        assert [(i.status, i.article_id) for i in report.items] == [("replaced", "x")]
