"""One citation-validity check (issue 16): a citation is valid when its quote is exactly the
article text at its offsets. `qa.cite.quote_holds` says it; the answer path asserts it on every
citation it makes (`assert_valid`) and eval counts it (`citation_validity`) through it."""

from __future__ import annotations

import pytest

from eval.rows import EvalRow
from eval.run import score
from qa.cite import assert_valid, make_citation, quote_holds
from qa.errors import CitationError
from qa.types import Article, Citation

TEXT = "The bridge reopens on 14 March. Repairs took six weeks."
ARTICLE = Article(id="bridge", title="Bridge", text=TEXT)

# (article text or None for an unknown article, start, end, quote, valid)
TABLE: list[tuple[str | None, int, int, str, bool]] = [
    (TEXT, 0, 31, "The bridge reopens on 14 March.", True),
    (TEXT, 32, 55, "Repairs took six weeks.", True),
    (TEXT, 1, 32, "The bridge reopens on 14 March.", False),  # offsets shifted by one
    (TEXT, 0, 31, "The bridge reopens on 15 March.", False),  # a changed figure
    (TEXT, 0, 31, "the bridge reopens on 14 march.", False),  # exact, not case-folded
    (None, 0, 31, "The bridge reopens on 14 March.", False),  # no such article
    (TEXT, 5, 5, "", False),  # empty: quotes nothing
    (TEXT, 32, 99, "Repairs took six weeks.", False),  # past the end (a slice would not care)
    (TEXT, -23, 55, "Repairs took six weeks.", False),  # negative offsets are no offsets
]


@pytest.mark.parametrize(("text", "start", "end", "quote", "valid"), TABLE)
def test_quote_holds(text, start, end, quote, valid):
    assert quote_holds(text, start, end, quote) is valid


@pytest.mark.parametrize(("text", "start", "end", "quote", "valid"), TABLE)
def test_the_answer_path_asserts_the_same_check(text, start, end, quote, valid):
    citation = Citation(ARTICLE.id, ARTICLE.title, start, end, quote)
    article = ARTICLE if text is not None else Article(id="bridge", title="Bridge", text="")
    if valid:
        assert_valid(citation, article)
    else:
        with pytest.raises(CitationError):
            assert_valid(citation, article)


def test_a_citation_for_another_article_is_invalid():
    citation = make_citation(ARTICLE, 0, 31)
    with pytest.raises(CitationError):
        assert_valid(citation, Article(id="other", title="Other", text=TEXT))


def test_eval_counts_valid_citations_with_the_same_check():
    row = EvalRow(
        id="q1",
        question="When does the bridge reopen?",
        answerable=False,
        references=[],
        citations=[
            {"article_id": "bridge" if t is not None else "gone", "start": s, "end": e, "quote": q}
            for t, s, e, q, _ in TABLE
        ],
    )
    scores = score(row, None, {"bridge": TEXT}, 5, None)
    assert scores["n_citations"] == len(TABLE)
    assert scores["n_valid_citations"] == sum(valid for *_, valid in TABLE)
