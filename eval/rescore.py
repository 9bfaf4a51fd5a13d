"""Score a finished run again with the current metrics, without asking anything again.

    python -m eval.rescore runs/NAME [runs/OTHER ...]

Every metric is a pure function of what a run logged (answers, citations, retrieved spans, gold
spans), so a metric added or fixed later can be applied to old runs exactly. Similarity to the
reference (which needs the embedding model), `sentences_cited` and citation validity (which needs
the texts the run was made on) are kept as logged. Rewrites
results.jsonl, summary.json and the reports in place.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from eval.report import write_reports
from eval.run import EvalRow, score, summarize
from eval.sets import load_set


def rescore(run: Path) -> dict:
    config = json.loads((run / "run.json").read_text(encoding="utf-8"))
    eval_set = load_set(Path(__file__).parent / "sets" / config["set"])
    texts = {a.id: a.text for a in eval_set.articles}
    k = int(config["settings"]["k"])
    rows = [
        EvalRow.model_validate_json(line)
        for line in (run / "results.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    # Kept as logged: similarity needs the embedding model, and citation validity the article
    # texts the run was made on (a later cleaner cuts them differently; gold spans and
    # citations are logged with the run's own offsets, so the other metrics stay exact).
    logged = ("answer_similarity", "sentences_cited", "n_citations", "n_valid_citations")
    for r in rows:
        kept = {key: r.scores.get(key) for key in logged}
        r.scores = score(r, None, texts, k, kept["answer_similarity"])
        r.scores.update({key: v for key, v in kept.items() if v is not None})
    old = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    summary = summarize(rows, k=k)
    for key in ("backend", "model", "k", "pipeline", "set", "date", "machine"):
        if key in old:
            summary[key] = old[key]
    (run / "results.jsonl").write_text(
        "".join(r.model_dump_json() + "\n" for r in rows), encoding="utf-8"
    )
    (run / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    write_reports(run, summary, rows, eval_set)
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    for run in ap.parse_args().runs:
        s = rescore(run)
        print(f"{run}: contains {s['answer_contains']:.3f}, recall {s['answer_recall']:.3f}")


if __name__ == "__main__":
    main()
