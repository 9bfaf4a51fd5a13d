"""Feed files in: RSS 2.0 and Atom items become articles; a feed ingested again adds only its
new items (real feedparser, real embedder and Chroma for the re-ingest)."""

from datetime import UTC, datetime

from index.ingest import Indexer
from index.load import LoadProblem, load_paths
from index.store import ChromaStore
from qa.types import Article

ITEM = """<item><title>{title}</title><link>https://news.test/{n}</link>
<guid>https://news.test/{n}</guid><pubDate>Tue, 28 Jun 2022 10:00:00 GMT</pubDate>
<description>&lt;p&gt;{body}&lt;/p&gt;&lt;p&gt;Second paragraph of story {n}.&lt;/p&gt;
</description></item>"""


def rss(*stories: tuple[int, str, str]) -> str:
    items = "".join(ITEM.format(n=n, title=t, body=b) for n, t, b in stories)
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour Herald</title>'
        f"<link>https://news.test/</link><description>News</description>{items}</channel></rss>"
    )


ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Mesa Daily Star</title>
<link href="https://mesa.test/"/><id>urn:mesa</id><updated>2022-06-29T08:00:00Z</updated>
<entry><title>Bridge opens</title><link href="https://mesa.test/bridge"/><id>urn:mesa:1</id>
<updated>2022-06-29T08:00:00Z</updated>
<content type="html">&lt;p&gt;The Cordell Bridge opened on Saturday after three years.&lt;/p&gt;
</content>
</entry></feed>"""


class TestFeedFiles:
    def test_rss_items_are_articles_with_title_link_date_and_source(self, tmp_path):
        p = tmp_path / "herald.rss"
        p.write_text(rss((1, "Storm &amp; flood", "A storm hit the coast on Monday.")), "utf-8")
        (a,) = list(load_paths([p]))
        assert isinstance(a, Article)
        assert a.title == "Storm & flood"
        assert a.text == "A storm hit the coast on Monday.\n\nSecond paragraph of story 1."
        assert a.url == "https://news.test/1"
        assert a.source == "Harbour Herald"
        assert a.published_at == datetime(2022, 6, 28, 10, tzinfo=UTC).timestamp()
        assert a.id.startswith("harbour-herald-")

    def test_atom_entries(self, tmp_path):
        p = tmp_path / "mesa.atom"
        p.write_text(ATOM, encoding="utf-8")
        (a,) = list(load_paths([p]))
        assert isinstance(a, Article)
        assert (a.title, a.source, a.url) == (
            "Bridge opens",
            "Mesa Daily Star",
            "https://mesa.test/bridge",
        )
        assert a.text == "The Cordell Bridge opened on Saturday after three years."

    def test_an_xml_file_that_is_no_feed_is_refused(self, tmp_path):
        p = tmp_path / "config.xml"
        p.write_text("<config><a>1</a></config>", encoding="utf-8")
        (problem,) = list(load_paths([p]))
        assert isinstance(problem, LoadProblem) and "not an RSS or Atom feed" in problem.reason

    def test_a_feed_ingested_again_adds_its_new_items_and_updates_changed_ones(
        self, tmp_path, embedder
    ):
        store = ChromaStore(tmp_path / "chroma", vectors=embedder.family)
        indexer = Indexer(store, embedder, chunk_tokens=200, overlap_sentences=1)
        p = tmp_path / "herald.xml"
        p.write_text(rss((1, "One", "The first story."), (2, "Two", "The second.")), "utf-8")
        first = indexer.add(load_paths([p]))
        assert [i.status for i in first.items] == ["added", "added"]
        ids = [i.article_id for i in first.items]
        # later: a new item on top, item 1 as it was, item 2 corrected
        p.write_text(
            rss((3, "Three", "A third story."), (1, "One", "The first story."),
                (2, "Two", "The second, corrected.")),
            "utf-8",
        )  # fmt: skip
        again = {i.article_id: i.status for i in indexer.add(load_paths([p])).items}
        assert again[ids[0]] == "unchanged" and again[ids[1]] == "replaced"
        assert sorted(again.values()) == ["added", "replaced", "unchanged"]
        assert len(store.list_articles()) == 3
