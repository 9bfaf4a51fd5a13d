"""URLs and feeds fetched from a real local HTTP server (127.0.0.1, started by the test):
bounded fetching, and `citeqa ingest FEED_URL --fetch` in a real process, then a question
answered with a citation from a fetched page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from index.fetch import FetchError, fetch
from index.load import LoadProblem, load_paths
from qa.types import Article

CITEQA = str(Path(sys.executable).with_name("citeqa"))


def page(title: str, *paragraphs: str) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<html><head><title>{title}</title></head><body><nav>Home | World | Sport</nav>"
        f"<article><h1>{title}</h1>{body}</article><footer>© News Test</footer></body></html>"
    ).encode()


STORM = page(
    "Storm floods Caddo Bend",
    "A storm dropped nine inches of rain on Caddo Bend on Monday, flooding 40 homes along the "
    "Trinidad River, county officials said.",
    "The river crested at 31 feet on Tuesday morning, the highest level since 1998.",
)
BRIDGE = page(
    "Cordell Bridge opens",
    "Mayor Priya Natarajan opened the Cordell Bridge over the Saline River on Saturday, a "
    "six-lane span that took three years to build.",
    "The bridge cost $212 million, the city said, of which the state paid half.",
)


def rss(base: str) -> bytes:
    items = "".join(
        f"<item><title>{t}</title><link>{base}/{path}</link><guid>{base}/{path}</guid>"
        f"<pubDate>{d}</pubDate><description>{s}</description></item>"
        for t, path, d, s in [
            ("Storm floods Caddo Bend", "storm.html", "Tue, 28 May 2024 10:00:00 GMT",
             "Flooding in Caddo Bend."),
            ("Cordell Bridge opens", "bridge.html", "Sat, 08 Jun 2024 16:00:00 GMT",
             "A new bridge."),
        ]
    )  # fmt: skip
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour Herald</title>'
        f"<link>{base}/</link><description>News</description>{items}</channel></rss>"
    ).encode()


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Mesa Daily Star</title><id>urn:mesa</id>
<updated>2024-06-09T08:00:00Z</updated>
<entry><title>Council votes</title><id>urn:mesa:1</id><updated>2024-06-09T08:00:00Z</updated>
<content type="html">&lt;p&gt;The council voted 7 to 2 to raise the bus fare.&lt;/p&gt;</content>
</entry></feed>"""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path == "/slow":
                time.sleep(3)
            status, headers, body = routes.get(self.path, (404, {}, b"not found"))
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{httpd.server_port}"
    html = {"Content-Type": "text/html; charset=utf-8"}
    routes.update(
        {
            "/feed.xml": (200, {"Content-Type": "application/rss+xml"}, rss(base)),
            "/atom": (200, {"Content-Type": "application/atom+xml"}, ATOM),
            "/storm.html": (200, html, STORM),
            "/bridge.html": (200, html, BRIDGE),
            "/moved": (301, {"Location": "/storm.html"}, b""),
            "/loop": (302, {"Location": "/loop"}, b""),
            "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
            "/big": (200, html, b"x" * 300_000),
            "/slow": (200, html, STORM),
        }
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield base
    httpd.shutdown()


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
    def test_ingest_feed_with_fetch_then_answer_from_a_fetched_page(self, server, tmp_path):
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
