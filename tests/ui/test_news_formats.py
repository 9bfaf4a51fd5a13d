"""News as it arrives, through the page (real server, Debian's Chromium): a `.json` export
with other tools' field names, a `.jsonl.gz` and an RSS file uploaded in the Library; and web
addresses fetched only when the operator allows it (CITEQA_ALLOW_FETCH), from a real local
HTTP server."""

from __future__ import annotations

import gzip
import json

import pytest

from tests.news_site import news_site, rss
from tests.ui.conftest import CHROMIUM, SHOTS, _open, citeqa_server, wait_report

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
    ),
]


def _report(page) -> str:
    return page.locator("#ingest-report").inner_text()


def _library(page) -> str:
    return page.locator("#library").inner_text()


class TestUploadFormats:
    def test_json_export_gz_and_a_feed_file_uploaded_together(self, server, browser, tmp_path):
        export = tmp_path / "export.json"
        export.write_text(
            json.dumps({"articles": [{
                "headline": "Dockworkers end strike in Port Arlo",
                "body": "Dockworkers in Port Arlo ended a nine-day strike on Friday after the "
                        "port authority agreed to a 6 percent raise, union leader Mara Voss said.",
                "pubDate": "Fri, 07 Jun 2024 18:30:00 GMT",
                "link": "https://news.example/port-arlo",
            }]}),
            encoding="utf-8",
        )  # fmt: skip
        wire = tmp_path / "wire.jsonl.gz"
        records = [
            {"id": "wire-1", "title": "Glacier retreat measured", "date": "June 28, 2022",
             "content": "Researchers measured a 40-metre retreat of the Sorvik glacier in one "
                        "summer, the fastest since records began."},
            {"id": "wire-2", "title": "Library reopens in Tamsby", "date": "2022/07/01",
             "content": "The Tamsby public library reopened on Monday after a two-year "
                        "renovation that added a children's wing."},
        ]  # fmt: skip
        wire.write_bytes(gzip.compress("\n".join(map(json.dumps, records)).encode()))
        feed = tmp_path / "herald.rss"
        feed.write_bytes(rss("https://herald.example"))

        context, page, dialogs, errors = _open(browser, server)
        page.click("button[role=tab]:has-text('Library')")
        assert page.locator("#fetch-url").count() == 0  # fetching is off unless allowed
        page.set_input_files("#upload input[type=file]", [str(export), str(wire), str(feed)])
        page.click("#ingest")
        wait_report(page, "herald.rss")
        report = _report(page)
        assert "read 'body' as text" in report and "'headline' as title" in report
        assert report.count("added") == 5, report  # 1 + 2 + the feed's 2 items
        assert "rejected" not in report
        library = _library(page)
        for title in ("Dockworkers end strike in Port Arlo", "Glacier retreat measured",
                      "Library reopens in Tamsby", "Storm floods Caddo Bend",
                      "Cordell Bridge opens"):  # fmt: skip
            assert title in library, library
        page.screenshot(path=str(SHOTS / "upload-news-formats-1280.png"), full_page=True)
        assert not dialogs and not errors
        context.close()


class TestFetchInThePage:
    def test_a_feed_fetched_from_a_web_address_when_allowed(self, browser, tmp_path):
        with (
            news_site() as (base, _),
            citeqa_server(tmp_path / "index", env={"CITEQA_ALLOW_FETCH": "1"}) as url,
        ):
            context, page, dialogs, errors = _open(browser, url)
            page.click("button[role=tab]:has-text('Library')")

            page.click("#fetch")  # nothing typed: said in the report, nothing covers the page
            wait_report(page, "type a web address")
            page.fill("#fetch-url textarea, #fetch-url input", "file:///etc/passwd")
            page.click("#fetch")
            wait_report(page, "only http:// and https://")

            page.fill("#fetch-url textarea, #fetch-url input", f"{base}/feed.xml")
            page.check("#fetch-links input")
            page.click("#fetch")
            wait_report(page, f"{base}/feed.xml#2")
            report = _report(page)
            assert report.count("added") == 2, report
            library = _library(page)
            assert "Storm floods Caddo Bend" in library and "Cordell Bridge opens" in library

            page.click("#fetch")  # the same feed again adds nothing
            page.wait_for_function(
                "() => (document.querySelector('#ingest-report')?.innerText.match(/unchanged/g)"
                " || []).length === 2",
                timeout=120_000,
            )
            page.screenshot(path=str(SHOTS / "fetch-feed-1280.png"), full_page=True)
            page.fill("#question textarea", "still usable")
            assert page.locator("#question textarea").input_value() == "still usable"
            assert not dialogs and not errors
            context.close()
