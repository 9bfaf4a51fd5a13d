"""Set validation, and a real (extractive) run: resume, compare, fail-under, reports."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eval.sets import SetError, load_set
from tests.conftest import ROOT

SAMPLE_SET = ROOT / "eval" / "sets" / "sample"


def _write_set(tmp_path: Path, questions: list) -> Path:
    d = tmp_path / "set"
    d.mkdir()
    arts = [
        {
            "id": "a1",
            "title": "Bridge",
            "text": "The mayor opened the bridge on Monday. It cost 5 million euros.",
        }
    ]
    (d / "articles.jsonl").write_text("\n".join(json.dumps(a) for a in arts))
    (d / "questions.jsonl").write_text(
        "\n".join(q if isinstance(q, str) else json.dumps(q) for q in questions)
    )
    return d


class TestLoadSet:
    def test_shipped_sets_are_valid(self):
        sample = load_set(SAMPLE_SET)
        assert len(sample.questions) >= 30
        assert sum(not q.answerable for q in sample.questions) >= 8
        clap = load_set(ROOT / "eval" / "sets" / "clapnq")
        assert len(clap.questions) == 200 and len(clap.articles) == 198
        assert sum(q.answerable for q in clap.questions) == 150

    def test_all_problems_reported_with_line_and_field(self, tmp_path):
        good = {
            "id": "q1",
            "question": "When?",
            "answer": "Monday",
            "answerable": True,
            "evidence": [{"article_id": "a1", "quote": "The mayor opened the bridge on Monday."}],
        }
        d = _write_set(
            tmp_path,
            [
                good,
                "{broken",
                {
                    "id": "q2",
                    "answerable": True,
                    "question": "x",
                    "evidence": [{"article_id": "a1", "quote": "opened the bridge on Tuesday"}],
                },
                {"id": "q3", "question": "y", "answerable": "maybe"},
                {"id": "q1", "question": "dup", "answerable": False},
                {
                    "id": "q4",
                    "question": "z",
                    "answerable": True,
                    "evidence": [{"article_id": "zz", "quote": "x"}],
                },
            ],
        )
        with pytest.raises(SetError) as e:
            load_set(d)
        text = str(e.value)
        assert "questions.jsonl:2: not valid JSON" in text
        assert "questions.jsonl:3: field 'evidence.0.quote': not an exact substring" in text
        assert "questions.jsonl:4: field 'answerable'" in text
        assert "questions.jsonl:5: field 'id': duplicate id 'q1'" in text
        assert "questions.jsonl:6: field 'evidence.0.article_id': no article 'zz'" in text
        assert len(e.value.problems) == 5

    def test_not_a_set(self, tmp_path):
        with pytest.raises(SetError, match="no questions.jsonl"):
            load_set(tmp_path)


class TestRunEval:
    def test_extractive_run_resume_compare_and_thresholds(self, tmp_path, cache_dir):
        citeqa = str(Path(sys.executable).with_name("citeqa"))
        out = tmp_path / "run"
        common = [
            citeqa,
            "eval",
            str(SAMPLE_SET),
            "--backend",
            "extractive",
            "--quiet",
            "--data-dir",
            str(tmp_path / "unused"),
        ]
        r = subprocess.run(
            [*common, "--limit", "5", "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert r.returncode == 0, r.stderr
        assert len((out / "results.jsonl").read_text().splitlines()) == 5
        # Resume: the 5 done rows are kept, 5 more asked.
        r = subprocess.run(
            [
                *common,
                "--limit",
                "10",
                "--out",
                str(out),
                "--fail-under",
                "citation_validity=1.0",
                "hit_at_k=0.99",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        summary = json.loads((out / "summary.json").read_text())
        assert summary["n_questions"] == 10 and summary["citation_validity"] == 1.0
        assert (r.returncode == 0) == (summary["hit_at_k"] >= 0.99)
        for key in [
            "hit_at_1",
            "hit_at_k",
            "recall_at_k",
            "mrr",
            "answer_em",
            "answer_f1",
            "answer_contains",
            "citation_precision",
            "citation_recall",
            "abstain_correct",
            "abstain_wrong",
            "abstention_f1",
            "latency_p50_s",
            "latency_p95_s",
            "backend",
            "model",
            "k",
        ]:
            assert key in summary
        assert "<img" in (out / "report.html").read_text()
        assert "Worst questions" in (out / "report.md").read_text()
        row = json.loads((out / "results.jsonl").read_text().splitlines()[0])
        assert {"question", "answer", "citations", "retrieved", "scores", "timings"} <= set(row)
        rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        declined = [r["declined"] for r in rows if r["abstained"]]
        assert all(declined)  # every abstention says which check declined
        if declined:
            assert "Why it declined" in (out / "report.md").read_text()
        # A threshold that cannot be met fails the command.
        r = subprocess.run(
            [*common, "--limit", "10", "--out", str(out), "--fail-under", "answer_em=1.01"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert r.returncode == 1 and "FAILED thresholds: answer_em" in r.stderr
        r = subprocess.run(
            [citeqa, "eval", "compare", str(out), str(out)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0 and "Questions whose outcome changed: 0" in r.stdout
