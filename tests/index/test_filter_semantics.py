"""One meaning of the source and date filters (issue 16): `Filters.admits` (a record, a chunk),
`SearchIndex.allowed` (every chunk at once, what citeqa searches with) and Chroma's `where`
from `Filters.to_where` (given the index's sources) select the same chunks, on a table of
cases chosen at the edges: letter case, inclusive bounds, undated and sourceless articles.
No model: real Chroma on disk with made-up vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from index.search import SearchIndex
from index.store import ChromaStore, Filters
from index.types import Article, Chunk, Span

# id -> (source, published_at)
ROWS: dict[str, tuple[str | None, float | None]] = {
    "a": ("AFP", 100.0),
    "b": ("Reuters", 200.0),
    "c": ("afp", 300.0),  # the same outlet spelled in another case
    "d": (None, 150.0),
    "e": ("AP", None),
    "f": (None, None),
    "g": ("Reuters", 200.0),
}

CASES: list[tuple[Filters, set[str]]] = [
    (Filters(), set(ROWS)),
    (Filters(sources=("afp",)), {"a", "c"}),
    (Filters(sources=("AFP",)), {"a", "c"}),
    (Filters(sources=("reuters", "nobody")), {"b", "g"}),
    (Filters(sources=("nobody",)), set()),
    (Filters(published_after=150.0), {"b", "c", "d", "g"}),  # the bound itself is in
    (Filters(published_before=150.0), {"a", "d"}),
    (Filters(published_after=200.0, published_before=200.0), {"b", "g"}),
    (Filters(sources=("afp", "ap"), published_after=100.0, published_before=300.0), {"a", "c"}),
    (Filters(sources=("AP",)), {"e"}),  # undated passes when no date is asked
    (Filters(published_after=1e12), set()),
]


# (Not named `store`/`index`: tests/conftest.py marks a test using a fixture named `store`
# as one that loads the real embedder.)
@pytest.fixture(scope="module")
def filter_store(tmp_path_factory) -> ChromaStore:
    s = ChromaStore(tmp_path_factory.mktemp("filters"))
    for n, (aid, (source, when)) in enumerate(ROWS.items()):
        text = f"Story {aid}."
        article = Article(id=aid, title=aid, text=text, source=source, published_at=when)
        chunk = Chunk(id=f"{aid}:0", article_id=aid, index=0, start=0, end=len(text), text=text,
                      sentences=(Span(0, len(text)),), title=aid, source=source,
                      published_at=when)  # fmt: skip
        vector = np.zeros((1, 8), dtype=np.float32)
        vector[0, n % 8], vector[0, (n + 1) % 8] = 1.0, 0.5
        s.write_article(article, [chunk], vector)
    return s


@pytest.fixture(scope="module")
def filter_index(filter_store) -> SearchIndex:
    idx = SearchIndex(None)
    idx.sync(filter_store)
    return idx


def _admitted(f: Filters) -> set[str]:
    return {aid for aid, (source, when) in ROWS.items() if f.admits(source, when)}


def _masked(index: SearchIndex, f: Filters) -> set[str]:
    return {str(index.article_of[i]) for i in np.flatnonzero(index.allowed(f))}


def _chroma(store: ChromaStore, index: SearchIndex, f: Filters) -> set[str]:
    where = f.to_where(index.sources)
    hits = store.dense_search(np.ones(8, dtype=np.float32), len(ROWS), where)
    return {c.article_id for c, _ in hits}


@pytest.mark.parametrize(("filters", "expected"), CASES, ids=[repr(f) for f, _ in CASES])
def test_the_three_readings_agree(filter_store, filter_index, filters, expected):
    store, index = filter_store, filter_index
    assert _admitted(filters) == expected
    assert _masked(index, filters) == expected
    assert _chroma(store, index, filters) == expected


def test_matches_is_admits_of_a_chunk(filter_store):
    for chunk in filter_store.all_chunks():
        for f, _ in CASES:
            assert f.matches(chunk) == f.admits(chunk.source, chunk.published_at)


def test_the_date_rule_is_one_expression_for_a_date_and_for_a_column():
    dates = [math.nan, 99.0, 100.0, 150.0, 200.0, 201.0]
    column = np.array(dates)
    for f in (Filters(), Filters(published_after=100.0), Filters(published_before=200.0),
              Filters(published_after=100.0, published_before=200.0)):  # fmt: skip
        one_by_one = [bool(f.in_window(d)) for d in dates]
        assert np.broadcast_to(f.in_window(column), column.shape).tolist() == one_by_one


def test_without_the_index_sources_chroma_compares_names_exactly(filter_store, filter_index):
    """What `to_where()` alone means (bench/retrieval.py times it so): Chroma cannot fold case,
    so the names as typed; given the index's sources it reads them as citeqa does."""
    store, index = filter_store, filter_index
    f = Filters(sources=("afp",))
    assert f.to_where() == {"source": {"$in": ["afp"]}}
    assert f.to_where(index.sources) == {"source": {"$in": ["AFP", "afp"]}}
    hits = store.dense_search(np.ones(8, dtype=np.float32), len(ROWS), f.to_where())
    assert {c.article_id for c, _ in hits} == {"c"}
