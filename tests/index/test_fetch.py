"""URLs and feeds fetched from a real local HTTP server (127.0.0.1, started by the test):
bounded fetching, and `citeqa ingest FEED_URL --fetch` in a real process, then a question
answered with a citation from a fetched page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from index.fetch import FetchError, fetch
from index.load import LoadProblem, load_paths
from qa.types import Article
from tests.news_site import ITEMS, NEW_ITEM, news_site, rss

CITEQA = str(Path(sys.executable).with_name("citeqa"))


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[str, dict]]:
    with news_site() as (base, routes):
        html = {"Content-Type": "text/html; charset=utf-8"}
        routes.update(
            {
                "/moved": (301, {"Location": "/storm.html"}, b""),
                "/loop": (302, {"Location": "/loop"}, b""),
                "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
                "/big": (200, html, b"x" * 300_000),
            }
        )
        yield base, routes


@pytest.fixture(scope="module")
def server(site) -> str:
    return site[0]


class TestFetch:
    def test_bounds(self, server):
        assert fetch(f"{server}/moved").url.endswith("/storm.html")  # a redirect is followed
        with pytest.raises(FetchError, match="redirects"):
            fetch(f"{server}/loop")
        with pytest.raises(FetchError, match="only http"):
            fetch(f"{server}/to-file")  # a redirect may not leave http(s)
        with pytest.raises(FetchError, match="only http"):
            fetch("file:///etc/passwd")
        with pytest.raises(FetchError, match="larger than"):
            fetch(f"{server}/big", max_bytes=100_000)
        with pytest.raises(FetchError, match="404"):
            fetch(f"{server}/nothing-here")
        with pytest.raises(FetchError, match="timed out"):
            fetch(f"{server}/slow", timeout=0.5)

    def test_a_page_url_is_an_article_with_its_url(self, server):
        (a,) = list(load_paths([f"{server}/storm.html"]))
        assert isinstance(a, Article)
        assert a.title == "Storm floods Caddo Bend"
        assert "nine inches of rain" in a.text and "Home | World" not in a.text
        assert a.url == f"{server}/storm.html"

    def test_a_feed_url_without_fetch_uses_the_items_own_text(self, server):
        items = list(load_paths([f"{server}/feed.xml"]))
        assert [a.text for a in items] == ["Flooding in Caddo Bend.", "A new bridge."]
        (atom,) = list(load_paths([f"{server}/atom"]))
        assert atom.source == "Mesa Daily Star" and "7 to 2" in atom.text

    def test_an_unreachable_url_is_a_problem_not_a_crash(self, server):
        (p,) = list(load_paths([f"{server}/nothing-here"]))
        assert isinstance(p, LoadProblem) and "404" in p.reason


class TestIngestFeedUrl:
    @pytest.mark.models  # runs real `citeqa` processes: the end-to-end tier
    def test_ingest_feed_with_fetch_then_answer_from_a_fetched_page(self, site, tmp_path):
        server, routes = site
        d = str(tmp_path / "idx")

        def run(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([CITEQA, *args, "--data-dir", d], capture_output=True,
                                  text=True, timeout=600, env=dict(os.environ))  # fmt: skip

        r = run("ingest", f"{server}/feed.xml", "--fetch")
        assert r.returncode == 0, r.stderr + r.stdout
        assert "2 added" in r.stdout
        listed = json.loads(run("articles", "--json").stdout)
        rows = listed["articles"] if isinstance(listed, dict) else listed
        by_title = {row["title"]: row for row in rows}
        assert set(by_title) == {"Storm floods Caddo Bend", "Cordell Bridge opens"}
        storm = by_title["Storm floods Caddo Bend"]
        assert storm["url"] == f"{server}/storm.html"
        assert storm["source"] == "Harbour Herald"
        assert storm["published_at"] is not None

        r = run("ask", "How much did the Cordell Bridge cost?", "--backend", "extractive",
                "--json")  # fmt: skip
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert not out["abstained"] and out["citations"]
        (c,) = [c for c in out["citations"] if "$212 million" in c["quote"]] or [out]
        assert c["article_id"] == by_title["Cordell Bridge opens"]["id"]

        r = run("ingest", f"{server}/feed.xml", "--fetch")  # the same feed later: nothing new
        assert r.returncode == 0 and "0 added" in r.stdout and "2 unchanged" in r.stdout, r.stdout
        feed = rss(server, [NEW_ITEM, *ITEMS])  # a new item on top
        routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, feed)
        try:
            r = run("ingest", f"{server}/feed.xml", "--fetch")
        finally:
            routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, rss(server))
        assert r.returncode == 0 and "1 added" in r.stdout and "2 unchanged" in r.stdout, r.stdout
        listed = json.loads(run("articles", "--json").stdout)
        rows = listed["articles"] if isinstance(listed, dict) else listed
        assert {row["title"] for row in rows} == {
            "Storm floods Caddo Bend", "Cordell Bridge opens", "Old quay becomes a park"
        }  # fmt: skip
