"""A small news site on a real local HTTP server (127.0.0.1, a free port): an RSS feed, an
Atom feed and the article pages the RSS items link to. Shared by the fetch tests of the loader,
the CLI and the page."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Route = tuple[int, dict[str, str], bytes]


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


QUAY = page(
    "Old quay becomes a park",
    "The city turned the disused Harlan quay into a two-hectare park that opened on Sunday, "
    "with 300 new trees along the water.",
)
ITEMS = [
    ("Storm floods Caddo Bend", "storm.html", "Tue, 28 May 2024 10:00:00 GMT",
     "Flooding in Caddo Bend."),
    ("Cordell Bridge opens", "bridge.html", "Sat, 08 Jun 2024 16:00:00 GMT", "A new bridge."),
]  # fmt: skip
NEW_ITEM = ("Old quay becomes a park", "quay.html", "Sun, 09 Jun 2024 09:00:00 GMT", "A park.")


def rss(base: str, items: list[tuple[str, str, str, str]] = ITEMS) -> bytes:  # noqa: B006
    """The Harbour Herald's feed: (title, page path, pubDate, summary) per item."""
    entries = "".join(
        f"<item><title>{t}</title><link>{base}/{path}</link><guid>{base}/{path}</guid>"
        f"<pubDate>{d}</pubDate><description>{s}</description></item>"
        for t, path, d, s in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour Herald</title>'
        f"<link>{base}/</link><description>News</description>{entries}</channel></rss>"
    ).encode()


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Mesa Daily Star</title><id>urn:mesa</id>
<updated>2024-06-09T08:00:00Z</updated>
<entry><title>Council votes</title><id>urn:mesa:1</id><updated>2024-06-09T08:00:00Z</updated>
<content type="html">&lt;p&gt;The council voted 7 to 2 to raise the bus fare.&lt;/p&gt;</content>
</entry></feed>"""


HTML = {"Content-Type": "text/html; charset=utf-8"}


@contextlib.contextmanager
def news_site() -> Iterator[tuple[str, dict[str, Route]]]:
    """(base URL, routes): /feed.xml (RSS, two items linking to /storm.html and
    /bridge.html), /atom, the two pages, and /slow (3 s late). Routes may be added or changed
    while it runs (a new item in the feed)."""
    routes: dict[str, Route] = {}

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
    routes.update(
        {
            "/feed.xml": (200, {"Content-Type": "application/rss+xml"}, rss(base)),
            "/atom": (200, {"Content-Type": "application/atom+xml"}, ATOM),
            "/storm.html": (200, HTML, STORM),
            "/bridge.html": (200, HTML, BRIDGE),
            "/quay.html": (200, HTML, QUAY),
            "/slow": (200, HTML, STORM),
        }
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield base, routes
    finally:
        httpd.shutdown()
