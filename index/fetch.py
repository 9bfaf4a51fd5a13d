"""Fetching a URL for ingest: http(s) only, bounded in time, size and redirects.

The server (the page, the API) would fetch whatever a user types, so every bound is enforced
here rather than trusted to the caller: the scheme, a timeout per request, a size cap read in
pieces (a server that lies about Content-Length, or sends none, still stops at the cap), and a
fixed number of redirects, each of which must again be http(s).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urljoin, urlparse

MAX_FETCH_BYTES = 5 * 1024 * 1024  # 5 MB: far above a news page, far below a video
FETCH_TIMEOUT = 15.0  # seconds per request
MAX_REDIRECTS = 5
USER_AGENT = "citeqa/0.1 (+https://github.com/citeqa; article ingest)"


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str  # after redirects
    content_type: str
    data: bytes


class FetchError(Exception):
    """Why a URL could not be fetched, in words for the ingest report."""


def is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def check_url(url: str) -> str | None:
    """Why `url` may not be fetched, or None."""
    parts = urlparse(url)
    if not parts.scheme or (parts.scheme not in ("http", "https") and "//" not in url):
        return f"a web address starts with https:// or http://, e.g. https://{url.lstrip('/')}"
    if parts.scheme not in ("http", "https"):
        return f"only http:// and https:// URLs are fetched, not {parts.scheme or 'this'}://"
    if not parts.hostname:
        return "the URL has no host name"
    return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None  # followed by hand in `fetch`, so each hop is checked and counted


def fetch(
    url: str,
    *,
    timeout: float = FETCH_TIMEOUT,
    max_bytes: int = MAX_FETCH_BYTES,
    max_redirects: int = MAX_REDIRECTS,
) -> Fetched:
    """GET `url`, following at most `max_redirects` redirects; raises FetchError."""
    opener = urllib.request.build_opener(_NoRedirect)
    for _ in range(max_redirects + 1):
        problem = check_url(url)
        if problem:
            raise FetchError(problem)
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        try:
            response = opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as e:
            if e.code in (301, 302, 303, 307, 308) and e.headers.get("Location"):
                url = urljoin(url, e.headers["Location"])
                continue
            raise FetchError(f"the server answered {e.code} {e.reason}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise FetchError(f"could not fetch it ({reason})") from None
        with response:
            data = bytearray()
            try:
                while piece := response.read(64 * 1024):
                    data += piece
                    if len(data) > max_bytes:
                        raise FetchError(
                            f"larger than {max_bytes // (1024 * 1024)} MB; save the page and "
                            "ingest the file instead"
                        )
            except (TimeoutError, OSError) as e:
                raise FetchError(f"the download failed ({e})") from None
            content_type = response.headers.get("Content-Type", "")
            return Fetched(response.geturl() or url, content_type, bytes(data))
    raise FetchError(f"more than {max_redirects} redirects")
