import json

from index.load import LoadProblem, load_paths, parse_date
from qa.types import Article
from tests.conftest import SAMPLE


def _one(path):
    items = list(load_paths([path]))
    assert len(items) == 1, items
    return items[0]


class TestLoad:
    def test_sample_txt(self):
        a = _one(SAMPLE)
        assert isinstance(a, Article)
        assert a.id == "putin-kyrgyzstan-visit"
        assert a.title == "Putin kyrgyzstan visit"
        assert a.text.startswith("Vladimir Putin arrived in Kyrgyzstan Thursday")

    def test_txt_headline_becomes_title(self, tmp_path):
        p = tmp_path / "story.txt"
        p.write_text("Big News Today\n\nSomething happened. Then more.\n", encoding="utf-8")
        a = _one(p)
        assert a.title == "Big News Today"
        assert a.text == "Something happened. Then more."

    def test_markdown_title(self, tmp_path):
        p = tmp_path / "m.md"
        p.write_text("# The Title\n\nBody sentence one. Body two.\n", encoding="utf-8")
        a = _one(p)
        assert (a.title, a.text) == ("The Title", "Body sentence one. Body two.")

    def test_html_main_text_extracted(self, tmp_path):
        body = " ".join(["The council approved the new budget on Tuesday after long debate."] * 3)
        html = (
            "<html><head><title>Budget passes</title><script>var x=1;</script></head><body>"
            "<nav>Home | World | Sport</nav><article><h1>Budget passes</h1>"
            f"<p>{body}</p><p>Critics said the plan cuts too deep into school funding.</p>"
            "</article><footer>Copyright 2024</footer></body></html>"
        )
        p = tmp_path / "b.html"
        p.write_text(html, encoding="utf-8")
        a = _one(p)
        assert isinstance(a, Article), a
        assert "council approved the new budget" in a.text
        assert "var x" not in a.text and "Home | World" not in a.text
        assert a.title == "Budget passes"

    def test_html_without_text_is_rejected(self, tmp_path):
        p = tmp_path / "s.html"
        p.write_text("<html><script>alert(1)</script><style>p{}</style></html>", encoding="utf-8")
        item = _one(p)
        assert isinstance(item, LoadProblem)
        assert "no article text" in item.reason

    def test_jsonl_good_and_bad_lines(self, tmp_path):
        lines = [
            json.dumps(
                {"id": "a1", "title": "T", "text": "Good one.", "published_at": "2023-10-12"}
            ),
            "{not json",
            json.dumps({"id": "a2", "title": "No text"}),
            json.dumps({"id": "a3", "title": 5, "text": "x"}),
            json.dumps({"id": "a1", "text": "Different text."}),
            json.dumps({"id": "a4", "text": "Bad date.", "published_at": "yesterday"}),
            json.dumps({"text": "No id here."}),
        ]
        p = tmp_path / "a.jsonl"
        p.write_text("\n".join(lines), encoding="utf-8")
        items = list(load_paths([p]))
        good = [i for i in items if isinstance(i, Article)]
        bad = {i.origin.rsplit(":", 1)[1]: i.reason for i in items if isinstance(i, LoadProblem)}
        assert [g.id for g in good][0] == "a1" and len(good) == 2
        assert good[0].published_at == parse_date("2023-10-12")
        assert len(good[1].id) == 16  # no id given: a hash of the cleaned text
        assert "not valid JSON" in bad["2"]
        assert "'text' is missing" in bad["3"]
        assert "'title' must be a string" in bad["4"]
        assert "duplicate id 'a1'" in bad["5"]
        assert "published_at" in bad["6"] and "ISO 8601" in bad["6"]

    def test_encodings(self, tmp_path):
        (tmp_path / "u16.txt").write_bytes("Hello from UTF-16. Two.".encode("utf-16"))
        (tmp_path / "bad.txt").write_bytes(b"ok line\n\xff\xfe\xfa broken")
        (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02binary")
        (tmp_path / "crlf.txt").write_bytes(b"Line one.\r\n\r\nLine two.\r\n")
        items = {i.origin.rsplit("/", 1)[1]: i for i in load_paths([tmp_path])}
        assert items["u16.txt"].text == "Hello from UTF-16. Two."
        assert "not valid UTF-8" in items["bad.txt"].reason and "line 2" in items["bad.txt"].reason
        assert "binary" in items["bin.txt"].reason
        assert items["crlf.txt"].text == "Line one.\n\nLine two."

    def test_empty_missing_and_folders(self, tmp_path):
        (tmp_path / "empty.txt").write_text("")
        (tmp_path / "blank.txt").write_text("  \n\n \t\n")
        (tmp_path / ".hidden.txt").write_text("Secret.")
        (tmp_path / "notes.pdf").write_bytes(b"%PDF")
        sub = tmp_path / "sub"
        sub.mkdir()
        (sub / "deep.md").write_text("Deep article text.")
        (sub / "loop").symlink_to(tmp_path)  # a symlink loop must not hang the walk
        items = list(load_paths([tmp_path, tmp_path / "missing.txt"]))
        by_origin = {i.origin: i for i in items}
        assert isinstance(by_origin[str(sub / "deep.md")], Article)
        assert by_origin[str(sub / "deep.md")].id == "sub-deep"
        assert "empty" in by_origin[str(tmp_path / "empty.txt")].reason
        assert "empty" in by_origin[str(tmp_path / "blank.txt")].reason
        assert "no such file" in by_origin[str(tmp_path / "missing.txt")].reason
        assert not any(".hidden" in o or "notes.pdf" in o for o in by_origin)


class TestDatelines:
    def test_a_text_file_takes_source_and_date_from_its_dateline(self, tmp_path):
        f = tmp_path / "markets.txt"
        f.write_text("TOKYO, June 3, 2024 (Citeqa Wire) - Asian shares fell on Monday.\n")
        a = _one(f)
        assert (a.source, a.published_at) == ("Citeqa Wire", parse_date("2024-06-03"))
        assert a.text.startswith("TOKYO, June 3, 2024 (Citeqa Wire) - ")  # the text is kept

    def test_the_record_s_own_fields_win_and_the_dateline_fills_the_rest(self, tmp_path):
        f = tmp_path / "feed.jsonl"
        text = "LONDON, March 5, 2024 (Reuters) - Shares rose on Tuesday."
        f.write_text(
            json.dumps({"id": "a", "text": text, "source": "Wire A"})
            + "\n"
            + json.dumps({"id": "b", "text": text, "published_at": "2024-03-06"})
            + "\n"
        )
        got = {a.id: a for a in load_paths([f])}
        assert (got["a"].source, got["a"].published_at) == ("Wire A", parse_date("2024-03-05"))
        assert (got["b"].source, got["b"].published_at) == ("Reuters", parse_date("2024-03-06"))

    def test_no_dateline_no_fields(self, tmp_path):
        f = tmp_path / "plain.txt"
        f.write_text("Vladimir Putin arrived in Kyrgyzstan on Thursday.\n")
        a = _one(f)
        assert (a.source, a.published_at) == (None, None)
