import gzip
import json
from datetime import UTC, datetime

import pytest

from index.dates import ReadDate, read_date
from index.load import LoadProblem, load_paths
from qa.types import Article


def _ts(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()


class TestReadDate:
    @pytest.mark.parametrize(
        ("written", "expected"),
        [
            ("2022-06-28", _ts(2022, 6, 28)),
            ("2022-06-28T10:00:00+02:00", _ts(2022, 6, 28, 8)),
            ("2022-06-28T10:00:00Z", _ts(2022, 6, 28, 10)),
            ("2022/06/28", _ts(2022, 6, 28)),  # CNN's exports
            ("28 June 2022", _ts(2022, 6, 28)),
            ("June 28, 2022", _ts(2022, 6, 28)),
            ("Tue, 28 Jun 2022 10:00:00 GMT", _ts(2022, 6, 28, 10)),  # RSS (RFC 2822)
            ("Tue, 28 Jun 2022 10:00:00 -0400", _ts(2022, 6, 28, 14)),
            ("Tue, 28 Jun 2022 10:00:00 EDT", _ts(2022, 6, 28, 14)),
            ("28.06.2022", _ts(2022, 6, 28)),
            ("1656410400", 1656410400.0),  # epoch seconds as text
            (1656410400, 1656410400.0),
        ],
    )
    def test_forms_people_and_feeds_write(self, written, expected):
        read = read_date(written)
        assert isinstance(read, ReadDate), read
        assert read.epoch == expected
        assert read.note is None

    def test_an_ambiguous_order_follows_the_setting_and_is_reported(self):
        mdy, dmy = read_date("03/04/2022"), read_date("03/04/2022", order="DMY")
        assert isinstance(mdy, ReadDate) and isinstance(dmy, ReadDate)
        assert (mdy.epoch, dmy.epoch) == (_ts(2022, 3, 4), _ts(2022, 4, 3))
        assert "2022-03-04" in mdy.note and "MDY" in mdy.note
        assert "2022-04-03" in dmy.note and "DMY" in dmy.note
        # 14/03/2022 can only be day first: read so, nothing to report
        clear = read_date("14/03/2022")
        assert isinstance(clear, ReadDate) and clear.epoch == _ts(2022, 3, 14) and not clear.note

    @pytest.mark.parametrize("bad", ["yesterday", "June 28", "5", "2022-13-45", "June 31, 2022",
                                     True, None, [2022]])  # fmt: skip
    def test_what_is_no_date_says_so(self, bad):
        read = read_date(bad)
        assert isinstance(read, str)
        assert "not a date" in read or "expected a date" in read


class TestRecordFiles:
    def test_field_names_of_other_tools_are_read_and_reported_once(self, tmp_path):
        rows = [
            {"headline": "Storm hits", "body": "A storm hit the coast on Monday.",
             "pubDate": "Tue, 28 Jun 2022 10:00:00 GMT", "link": "https://x.test/a"},
            {"headline": "Storm ends", "body": "The storm ended on Tuesday.",
             "pubDate": "Wed, 29 Jun 2022 10:00:00 GMT", "link": "https://x.test/b"},
        ]  # fmt: skip
        p = tmp_path / "export.jsonl"
        p.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
        a, b = list(load_paths([p]))
        assert isinstance(a, Article) and isinstance(b, Article)
        assert (a.title, a.text, a.url) == ("Storm hits", rows[0]["body"], "https://x.test/a")
        assert a.published_at == _ts(2022, 6, 28, 10)
        assert a.notes == ("read 'body' as text, 'headline' as title, 'pubDate' as "
                           "published_at, 'link' as url",)  # fmt: skip
        assert b.notes == ()  # the same mapping is said once per file

    def test_a_record_without_any_text_field_names_what_was_looked_for(self, tmp_path):
        p = tmp_path / "x.jsonl"
        p.write_text(json.dumps({"headline": "Only a headline"}), encoding="utf-8")
        (problem,) = list(load_paths([p]))
        assert isinstance(problem, LoadProblem)
        assert "'content'" in problem.reason and "'body'" in problem.reason

    def test_a_bad_date_under_another_name_names_that_field(self, tmp_path):
        p = tmp_path / "x.jsonl"
        p.write_text(json.dumps({"text": "Words here.", "date": "soon"}), encoding="utf-8")
        (problem,) = list(load_paths([p]))
        assert isinstance(problem, LoadProblem) and "field 'date'" in problem.reason

    def test_json_array_and_wrapped_list(self, tmp_path):
        arr = tmp_path / "a.json"
        arr.write_text(json.dumps([{"text": "One story."}, {"content": "Two story."}, 7]),
                       encoding="utf-8")  # fmt: skip
        one, two, bad = list(load_paths([arr]))
        assert (one.text, two.text) == ("One story.", "Two story.")
        assert isinstance(bad, LoadProblem) and bad.origin.endswith("a.json[2]")
        wrapped = tmp_path / "w.json"
        wrapped.write_text(json.dumps({"articles": [{"text": "Wrapped."}]}), encoding="utf-8")
        (w,) = list(load_paths([wrapped]))
        assert isinstance(w, Article) and w.text == "Wrapped."
        broken = tmp_path / "b.json"
        broken.write_text("[{", encoding="utf-8")
        (p,) = list(load_paths([broken]))
        assert isinstance(p, LoadProblem) and "not valid JSON" in p.reason

    def test_gzip_exports_and_folders_pick_them_up(self, tmp_path):
        rows = "\n".join(json.dumps({"id": f"g{i}", "text": f"Story {i} text."}) for i in range(3))
        (tmp_path / "feed.jsonl.gz").write_bytes(gzip.compress(rows.encode()))
        (tmp_path / "arr.json.gz").write_bytes(gzip.compress(b'[{"text": "From an array."}]'))
        (tmp_path / "junk.jsonl.gz").write_bytes(b"not gzip at all")
        got = list(load_paths([tmp_path]))
        texts = sorted(a.text for a in got if isinstance(a, Article))
        assert texts == ["From an array.", "Story 0 text.", "Story 1 text.", "Story 2 text."]
        (problem,) = [p for p in got if isinstance(p, LoadProblem)]
        assert problem.origin.endswith("junk.jsonl.gz") and "gzip" in problem.reason
