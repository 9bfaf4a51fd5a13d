"""The `citeqa` command as a user runs it: real subprocesses, real index on disk."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qa.types import DECLINED_BECAUSE
from tests.conftest import ROOT

CITEQA = str(Path(sys.executable).with_name("citeqa"))


def run(*args: str, data_dir: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CITEQA, *args, "--data-dir", str(data_dir)] if args[0] != "models" else [CITEQA, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


class TestCli:
    def test_ingest_ask_articles_remove(self, tmp_path, sample_dir):
        d = tmp_path / "idx"
        r = run("ingest", str(sample_dir), data_dir=d)
        assert r.returncode == 0, r.stderr
        assert "1 added" in r.stdout
        r = run("ingest", str(sample_dir), data_dir=d)
        assert "1 unchanged" in r.stdout

        r = run(
            "ask",
            "How many countries ratified the Rome Statute?",
            "--json",
            "--backend",
            "extractive",
            data_dir=d,
        )
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert set(out) >= {"answer", "abstained", "citations", "sentences", "timings"}
        assert out["citations"] and "123 countries" in out["answer"]
        c = out["citations"][0]
        assert set(c) >= {"article_id", "title", "start", "end", "quote"}
        assert out["declined"] is None and out["reading"] == 1

        # Declined: the JSON names the check and says it in words; the text says "Why: …".
        unanswerable = ("ask", "How long did Putin stay in Kyrgyzstan?", "--backend", "extractive")
        out = json.loads(run(*unanswerable, "--json", data_dir=d).stdout)
        assert out["abstained"] and out["declined"] in DECLINED_BECAUSE and out["why_declined"]
        # the draft the checks withheld is there to read beside the reason
        assert out["raw_reply"] and out["raw_reply"] != out["answer"] and out["second_reply"] == ""
        text = run(*unanswerable, data_dir=d).stdout
        assert f"Why: {out['why_declined']}" in text and "Closest sources:" in text

        r = run("articles", data_dir=d)
        assert "putin-kyrgyzstan-visit" in r.stdout
        r = run("remove", "putin-kyrgyzstan-visit", data_dir=d)
        assert r.returncode == 0
        r = run("articles", data_dir=d)
        assert "index is empty" in r.stdout

    def test_user_errors_are_messages_not_tracebacks(self, tmp_path):
        d = tmp_path / "idx"
        results = []
        r = run("ingest", str(tmp_path / "nope.txt"), data_dir=d)
        assert r.returncode == 1 and "no such file or directory" in r.stdout
        results.append(r)
        r = run("remove", "missing-id", data_dir=d)
        assert r.returncode == 2 and "No article with id 'missing-id'" in r.stderr
        results.append(r)
        r = run("ask", "   ", "--backend", "extractive", data_dir=d)
        assert r.returncode == 2 and "question is empty" in r.stderr
        results.append(r)
        r = run("ask", "Why?", "--after", "last week", "--backend", "extractive", data_dir=d)
        assert r.returncode == 2 and "Bad date filter" in r.stderr
        results.append(r)
        r = run("ask", "Why?", data_dir=d, env={"CITEQA_K": "zero"})
        assert r.returncode == 2 and "Invalid settings" in r.stderr
        results.append(r)
        assert not any("Traceback" in r.stderr for r in results)

    def test_models_listed(self, tmp_path):
        r = run("models", data_dir=tmp_path)
        assert "qwen2.5-coder-1.5b" in r.stdout


@pytest.mark.slow
class TestDemo:
    def test_make_demo_on_a_fresh_clone(self, tmp_path):
        """The README's first command, in a clone, with the already-built environment."""
        clone = tmp_path / "clone"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        for path in ["Makefile", "examples", "pyproject.toml"]:  # uncommitted edits, if any
            src = ROOT / path
            if src.is_dir():
                shutil.copytree(src, clone / path, dirs_exist_ok=True)
            else:
                shutil.copy(src, clone / path)
        stamp = tmp_path / "installed"
        stamp.touch()  # the venv is already set up: skip the install step
        venv = Path(sys.executable).parent.parent
        r = subprocess.run(
            [
                "make",
                "-C",
                str(clone),
                "demo",
                f"VENV={venv}",
                f"STAMP={stamp}",
                f"DEMO_DIR={tmp_path / 'demo-index'}",
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Pashinyan" in r.stdout
        assert "putin-kyrgyzstan-visit, chars" in r.stdout  # a quote with its offsets
        # The README shows what the command prints today (its `ask` step, line for line).
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        block = readme.split("Example output of `make demo`", 1)[1].split("```", 2)[1]
        shown = [line for line in block.splitlines() if line.strip()]
        assert shown and all(line in r.stdout.splitlines() for line in shown), (shown, r.stdout)


class TestIngestFormats:
    def test_exports_feeds_and_gzip_through_the_cli(self, tmp_path):
        import gzip

        src = tmp_path / "in"
        src.mkdir()
        (src / "export.json").write_text(
            json.dumps({"articles": [
                {"headline": "Mayor resigns", "body": "The mayor of Riverton resigned on Monday.",
                 "pubDate": "Tue, 05 Mar 2024 10:00:00 GMT", "link": "https://x.test/a"},
                {"headline": "Council meets", "body": "The Riverton council met on Tuesday.",
                 "date": "03/04/2024"},
            ]}),
            encoding="utf-8",
        )  # fmt: skip
        rows = json.dumps({"id": "g1", "text": "Hail damaged 300 roofs in Calder Springs."})
        (src / "wire.jsonl.gz").write_bytes(gzip.compress(rows.encode()))
        (src / "herald.rss").write_text(
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour Herald</title>'
            "<item><title>Bridge opens</title><link>https://h.test/b</link>"
            "<pubDate>Sat, 08 Jun 2024 16:00:00 GMT</pubDate>"
            "<description>The Cordell Bridge opened on Saturday.</description></item>"
            "</channel></rss>",
            encoding="utf-8",
        )
        d = tmp_path / "idx"
        r = run("ingest", str(src), data_dir=d)
        assert r.returncode == 0, r.stderr + r.stdout
        assert "4 added" in r.stdout
        assert "read 'body' as text, 'headline' as title, 'pubDate' as published_at" in r.stdout
        assert "could be day or month first: read as 2024-03-04 (date_order MDY" in r.stdout
        listed = json.loads(run("articles", "--json", data_dir=d).stdout)
        rows_out = listed["articles"] if isinstance(listed, dict) else listed
        by_title = {row["title"]: row for row in rows_out}
        assert by_title["Bridge opens"]["source"] == "Harbour Herald"
        assert by_title["Mayor resigns"]["url"] == "https://x.test/a"
        assert all("minhash" not in row for row in rows_out)
        r = run("ingest", str(src), data_dir=d)
        assert "4 unchanged" in r.stdout
