"""Fit the confidence model (`qa/confidence.py`) on eval runs, and measure each signal.

    python -m eval.calibrate runs/news-after runs/sample-after runs/clapnq-after

Reads the runs' `results.jsonl` (rows carry the signals and whether the answer was right),
prints for every signal how well it alone separates right from wrong answers (precision and
recall of "wrong" at the best threshold), fits logistic weights with L2, and reports the
expected calibration error in-sample and by leave-one-run-out (a set the fit never saw), so a
fit that only memorises one set shows. Prints the WEIGHTS/BIAS to paste into qa/confidence.py.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from eval import metrics as m
from eval.run import EvalRow
from qa.confidence import WEIGHTS, Signals, confidence

FEATURES = list(WEIGHTS)


def all_rows(run: Path) -> list[EvalRow]:
    rows = [
        EvalRow.model_validate_json(line)
        for line in (run / "results.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    return backfill(rows, run)


def backfill(rows: list[EvalRow], run: Path) -> list[EvalRow]:
    """Signals added after a run was made, recomputed from the row and its set (they are
    functions of the question, its date, the answer and the cited articles, so a re-run would
    log the same values)."""
    from eval.sets import load_set
    from qa.confidence import Signals, anchors, answer_grounding, coverage, time_match
    from qa.types import AnswerSentence, Citation
    from qa.when import time_window

    needed = set(Signals.__slots__)
    if all(needed <= set(r.signals) for r in rows if r.signals):
        return rows
    eval_set = load_set(_set_dir(run))
    articles = {a.id: a for a in eval_set.articles}
    dates = {q.id: q.question_date for q in eval_set.questions}
    for r in rows:
        if not r.signals:
            continue
        cites = [Citation(**c) for c in r.citations]
        cited = [articles[a] for a in dict.fromkeys(c.article_id for c in cites) if a in articles]
        if "time_match" not in r.signals:
            r.signals["time_match"] = time_match(time_window(r.question, dates.get(r.id)), cited)
        if "anchor_evidence" not in r.signals:
            texts = [c.quote for c in cites] + [a.title for a in cited]
            r.signals["anchor_evidence"] = coverage(anchors(r.question), texts)
        if "answer_grounding" not in r.signals:
            # One sentence holding the whole answer and all its citations: the logged row
            # does not keep which sentence cited what, so this is the lenient form.
            whole = AnswerSentence(r.answer, tuple(cites))
            r.signals["answer_grounding"] = answer_grounding([whole]) if cites else 0.0
    return rows


def add_self_check(run: Path, llm) -> int:  # type: ignore[no-untyped-def]
    """Score the self-check on every answered row that lacks it and save it into the run.
    The check sees only the question, the answer and what it cites, which the row holds, so
    this is what the pipeline would have logged with `self_check` on."""
    from tqdm import tqdm

    from qa.confidence import check_messages
    from qa.types import AnswerSentence, Citation

    rows = all_rows(run)
    todo = [r for r in rows if r.signals and not r.abstained and "self_check" not in r.signals]
    for r in tqdm(todo, desc=f"self-check {run.name}", unit="q"):
        whole = AnswerSentence(r.answer, tuple(Citation(**c) for c in r.citations))
        r.signals["self_check"] = round(float(llm.judge(check_messages(r.question, [whole]))), 4)
    (run / "results.jsonl").write_text(
        "".join(r.model_dump_json() + "\n" for r in rows), encoding="utf-8"
    )
    return len(todo)


def _set_dir(run: Path) -> Path:
    config = json.loads((run / "run.json").read_text(encoding="utf-8"))
    return Path(__file__).parent / "sets" / config["set"]


def load_rows(run: Path) -> list[EvalRow]:
    return [r for r in all_rows(run) if r.right is not None and r.signals]


def _signals(r: EvalRow) -> Signals:
    """A row's logged signals as the pipeline's own `Signals` (defaults as there)."""
    return Signals(**{k: v for k, v in r.signals.items() if k in Signals.__slots__})


def matrix(rows: list[EvalRow]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[_signals(r).value(f) for f in FEATURES] for r in rows], dtype=np.float64)
    y = np.array([float(bool(r.right)) for r in rows])
    return x, y


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> np.ndarray:
    """Logistic regression by Newton's method; returns [bias, *weights]."""
    a = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(a.shape[1])
    reg = l2 * np.eye(a.shape[1])
    reg[0, 0] = 0.0  # the bias is not shrunk
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(a @ w)))
        grad = a.T @ (p - y) + reg @ w
        hess = (a * (p * (1 - p))[:, None]).T @ a + reg
        w -= np.linalg.solve(hess, grad)
    return w


def predict(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(w[0] + x @ w[1:])))


def ece(p: np.ndarray, y: np.ndarray) -> float:
    return float(m.calibration(list(zip(p.tolist(), y.astype(bool).tolist(), strict=True)))[
        "confidence_ece"
    ])  # fmt: skip


def signal_report(x: np.ndarray, y: np.ndarray) -> list[str]:
    """Each signal as a detector of wrong answers: below threshold t -> "wrong"."""
    out = [
        "| signal | best t | wrong caught (recall) | precision | right lost |",
        "|---|---|---|---|---|",
    ]
    wrong = y == 0
    for j, name in enumerate(FEATURES):
        best = None
        for t in sorted(set(np.round(x[:, j], 3).tolist())):
            flag = x[:, j] < t
            if not flag.any():
                continue
            caught = (flag & wrong).sum()
            prec = caught / flag.sum()
            rec = caught / max(1, wrong.sum())
            lost = (flag & ~wrong).sum() / max(1, (~wrong).sum())
            score = rec - lost
            if best is None or score > best[0]:
                best = (score, t, rec, prec, lost)
        if best:
            _, t, rec, prec, lost = best
            out.append(f"| {name} | {t:.3f} | {rec:.3f} | {prec:.3f} | {lost:.3f} |")
    return out


def withhold(rows: list[EvalRow], texts: dict[str, str], k: int, keep) -> dict:
    """The run's summary had every answer for which `keep(row)` is False been withheld (the
    gates act after generation, on logged signals, so this is what the run would have scored)."""
    from eval.run import score, summarize

    out = []
    for r in rows:
        if not r.abstained and not r.error and not keep(r):
            r = r.model_copy(deep=True)
            r.abstained, r.answer, r.citations, r.confidence = True, "", [], None
            r.scores = score(r, None, texts, k, None)
        out.append(r)
    return summarize(out, k=k)


def _p(r: EvalRow, weights: dict[str, float], bias: float) -> float:
    return confidence(_signals(r), weights, bias)


def _gate(anchor_min: float, time_gate: bool, conf_min: float, weights, bias):  # type: ignore[no-untyped-def]
    def keep(r: EvalRow) -> bool:
        timely = not time_gate or r.signals.get("time_match", 1.0) >= 1.0
        anchored = r.signals.get("anchor_coverage", 0.0) >= anchor_min
        return anchored and timely and _p(r, weights, bias) >= conf_min

    return keep


def gate_table(run: Path, weights: dict[str, float], bias: float) -> list[str]:
    """abstain/answer metrics over min_anchor_coverage x min_confidence for one run."""
    from eval.sets import load_set

    config = json.loads((run / "run.json").read_text(encoding="utf-8"))
    texts = {a.id: a.text for a in load_set(_set_dir(run)).articles}
    k = int(config["settings"]["k"])
    rows = all_rows(run)
    keys = ("answer_contains", "answer_recall", "citation_precision", "citation_recall",
            "abstain_correct", "abstain_wrong", "confidence_ece")  # fmt: skip
    lines = [
        "| anchors ≥ | time gate | conf ≥ | " + " | ".join(keys) + " |",
        "|---|---|---|" + "---|" * len(keys),
    ]
    rescored = [r.model_copy(deep=True) for r in rows]
    for r in rescored:  # the confidence the fitted weights give
        if r.signals and not r.abstained:
            r.confidence = _p(r, weights, bias)
    for anchor_min in (0.0, 0.5, 1.0):
        for time_gate in (False, True):
            for conf_min in (0.0, 0.3, 0.5):
                keep = _gate(anchor_min, time_gate, conf_min, weights, bias)
                summ = withhold(rescored, texts, k, keep)
                lines.append(
                    f"| {anchor_min:.1f} | {'on' if time_gate else 'off'} | {conf_min:.1f} | "
                    + " | ".join(f"{summ.get(key, 0):.3f}" for key in keys)
                    + " |"
                )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument(
        "--self-check", action="store_true", help="score the local model's self-check first"
    )
    args = ap.parse_args()
    if args.self_check:
        from qa.answer import warm
        from qa.llm import make_llm
        from qa.settings import Settings

        llm = make_llm("local", Settings.load())
        assert llm is not None
        warm(llm)
        for run in args.runs:
            print(f"{run.name}: {add_self_check(run, llm)} rows checked")
        llm.close()
    per_run = {r: load_rows(r) for r in args.runs}
    rows = [row for rs in per_run.values() for row in rs]
    x, y = matrix(rows)
    print(f"{len(rows)} answered rows, {int(y.sum())} right, {int(len(y) - y.sum())} wrong")
    print("\n".join(signal_report(x, y)))
    w = fit(x, y, args.l2)
    print(f"\nin-sample ECE {ece(predict(w, x), y):.4f}")
    if len(per_run) > 1:
        for held, held_rows in per_run.items():
            train = [r for k, rs in per_run.items() if k != held for r in rs]
            if not train or not held_rows:
                continue
            wt = fit(*matrix(train), args.l2)
            xh, yh = matrix(held_rows)
            print(
                f"held-out {held.name}: ECE {ece(predict(wt, xh), yh):.4f} ({len(held_rows)} rows)"
            )
    weights = {f: round(float(v), 3) for f, v in zip(FEATURES, w[1:], strict=True)}
    print("\nWEIGHTS =", json.dumps(weights, indent=4))
    print(f"BIAS = {float(w[0]):.3f}")
    for run in args.runs:
        print(f"\n{run.name}: had answers below the gates been withheld (fitted weights)")
        print("\n".join(gate_table(run, weights, float(w[0]))))


if __name__ == "__main__":
    main()
