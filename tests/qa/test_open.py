"""Opening an index: only an open for writing sweeps an interrupted ingest's leftovers; a
read-only open (`create=False`, the CLI's ask/articles) leaves the store as it found it."""

from __future__ import annotations

import numpy as np

from qa.assistant import Assistant
from qa.types import Article, Chunk, Span
from tests.conftest import SAMPLE, StubEmbedder, stub_settings, without_citeqa_env


def leave_a_leftover(assistant: Assistant) -> None:
    """Chunks written without their article record, as a writer killed between the two
    leaves them (see `ChromaStore.sweep_orphans`)."""
    text = "One sentence. Two sentence."
    article = Article(id="half", title="Half", text=text)
    chunk = Chunk(id="half-0", article_id="half", index=0, start=0, end=len(text), text=text,
                  sentences=(Span(0, len(text)),), title="Half")  # fmt: skip
    vector = assistant.embedder.embed([text]).astype(np.float32)
    assistant.store.write_article(article, [chunk], vector)
    assistant.store._articles.delete(ids=["half"])


def test_a_read_only_open_does_not_sweep_and_a_writing_open_does(tmp_path, monkeypatch):
    without_citeqa_env(monkeypatch)
    settings = stub_settings(tmp_path)
    with Assistant(settings, embedder=StubEmbedder()) as a:
        a.add([SAMPLE])
        indexed = a.store.count_chunks()
        leave_a_leftover(a)
        assert a.store.count_chunks() == indexed + 1

    with Assistant(settings, create=False, embedder=StubEmbedder()) as reader:
        assert reader.store.count_chunks() == indexed + 1  # left as it was
        assert [x["id"] for x in reader.articles()] == [x["id"] for x in a.articles()]  # readable

    with Assistant(settings, embedder=StubEmbedder()) as writer:
        assert writer.store.count_chunks() == indexed  # swept at open
