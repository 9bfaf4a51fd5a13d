from index.split import chunk_article, sentence_spans
from qa.types import Article
from tests.conftest import SAMPLE


def _sample():
    from index.load import load_paths

    return next(iter(load_paths([SAMPLE])))


class TestSplit:
    def test_sentence_spans_are_exact_and_trimmed(self):
        text = 'He said "Hi." Then left.\n\nU.S. officials met Dr. Smith at 5 p.m. on Monday. Done!'
        spans = sentence_spans(text)
        pieces = [text[s.start : s.end] for s in spans]
        assert pieces == [
            'He said "Hi."',
            "Then left.",
            "U.S. officials met Dr. Smith at 5 p.m. on Monday.",
            "Done!",
        ]

    def test_sample_chunks_fit_the_embedder_and_point_into_the_text(self, embedder):
        article = _sample()
        chunks = chunk_article(
            article, embedder.count_tokens, target_tokens=160, max_tokens=embedder.max_tokens
        )
        assert len(chunks) >= 4
        counts = embedder.count_tokens([c.text for c in chunks])
        assert max(counts) <= embedder.max_tokens
        for c in chunks:
            assert article.text[c.start : c.end] == c.text
            assert c.sentences[0].start == c.start and c.sentences[-1].end == c.end
        # Overlap: each chunk starts with the last sentence of the one before.
        for prev, nxt in zip(chunks, chunks[1:], strict=False):
            assert nxt.sentences[0] == prev.sentences[-1]
        # Every sentence of the article is in some chunk.
        covered = {s for c in chunks for s in c.sentences}
        assert covered == set(sentence_spans(article.text))

    def test_one_giant_line_without_sentence_breaks(self, embedder):
        text = " ".join(f"word{i}" for i in range(20000))
        article = Article(id="big", title="big", text=text)
        chunks = chunk_article(
            article, embedder.count_tokens, target_tokens=160, max_tokens=embedder.max_tokens
        )
        assert max(embedder.count_tokens([c.text for c in chunks])) <= embedder.max_tokens
        assert chunks[0].start == 0 and chunks[-1].end == len(text)
        for c in chunks:
            assert text[c.start : c.end] == c.text
