"""Fit the confidence model (`qa/confidence.py`) on eval runs, and measure each signal.

    python -m eval.calibrate runs/news-after runs/sample-after runs/clapnq-after

Reads the runs' `results.jsonl` (rows carry the signals and whether the answer was right),
prints for every signal how well it alone separates right from wrong answers (precision and
recall of "wrong" at the best threshold), fits logistic weights with L2, and reports the
expected calibration error in-sample and by leave-one-run-out (a set the fit never saw), so a
fit that only memorises one set shows. Prints the WEIGHTS/BIAS to paste into qa/confidence.py.

    python -m eval.calibrate runs/news-final runs/sample-final runs/clapnq-final \
        --open runs/news-open runs/sample-open runs/clapnq-open

is the two-stage fit that qa/confidence.py ships: a confidence is only ever shown for an answer
that passed the gates, so the soft signals are fitted on the gated runs (non-negative weights:
a signal that can only lower the confidence where it is higher is noise), and each gate's
signal gets its weight from the runs replayed with the gates off (`--open`), folded into the
bias so that an answer passing every gate gets exactly the gated fit's confidence, and one
that fails a turned-off gate is marked down by what that failure costs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from eval import metrics as m
from eval.run import EvalRow
from qa.confidence import Signals, confidence

FEATURES = [f for f in Signals.__slots__ if f != "self_check"]


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
    from qa.confidence import (
        Signals,
        anchors,
        answer_grounding,
        answer_kind,
        answer_source,
        coverage,
        time_match,
    )
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
        if "answer_kind" not in r.signals:
            r.signals["answer_kind"] = answer_kind(r.question, r.answer, [c.quote for c in cites])
        if "answer_source" not in r.signals:
            whole = AnswerSentence(r.answer, tuple(cites))
            r.signals["answer_source"] = answer_source(r.question, [whole], articles)
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


def _gate(anchor_min: float, gates: bool, conf_min: float, weights, bias):  # type: ignore[no-untyped-def]
    """The pipeline's gates (qa/answer.py): anchors in the cited articles and in the one that
    supplies the answer; with `gates`, the time and the kind gate too."""

    def keep(r: EvalRow) -> bool:
        timely = not gates or r.signals.get("time_match", 1.0) >= 1.0
        kind = not gates or r.signals.get("answer_kind", 1.0) >= 1.0
        anchored = (
            min(r.signals.get("anchor_coverage", 0.0), r.signals.get("answer_source", 1.0))
            >= anchor_min
        )
        return anchored and timely and kind and _p(r, weights, bias) >= conf_min

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
        "| anchors ≥ | time + kind gates | conf ≥ | " + " | ".join(keys) + " |",
        "|---|---|---|" + "---|" * len(keys),
    ]
    rescored = [r.model_copy(deep=True) for r in rows]
    for r in rescored:  # the confidence the fitted weights give
        if r.signals and not r.abstained:
            r.confidence = _p(r, weights, bias)
    for anchor_min in (0.0, 0.5, 1.0):
        for gates in (False, True):
            for conf_min in (0.0, 0.3, 0.5):
                keep = _gate(anchor_min, gates, conf_min, weights, bias)
                summ = withhold(rescored, texts, k, keep)
                lines.append(
                    f"| {anchor_min:.1f} | {'on' if gates else 'off'} | {conf_min:.1f} | "
                    + " | ".join(f"{summ.get(key, 0):.3f}" for key in keys)
                    + " |"
                )
    return lines


GATE_SIGNALS = ("anchor_coverage", "answer_source", "time_match", "answer_kind")


def fit_nonnegative(rows: list[EvalRow], features: list[str], l2: float) -> dict[str, float]:
    """Logistic fit over `features`, dropping those whose weight comes out <= 0 and refitting
    until none does; returns {"bias": b, feature: w, ...}."""
    fs = list(features)
    while True:
        x = np.array([[_signals(r).value(f) for f in fs] for r in rows], dtype=np.float64)
        y = np.array([float(bool(r.right)) for r in rows])
        w = fit(x, y, l2)
        negative = [f for f, v in zip(fs, w[1:], strict=True) if v <= 0]
        if not negative or not fs:
            return {"bias": float(w[0])} | {f: float(v) for f, v in zip(fs, w[1:], strict=True)}
        fs = [f for f in fs if f not in negative]


def two_stage(gated: list[EvalRow], open_rows: list[EvalRow], l2: float) -> tuple[dict, float]:
    """(WEIGHTS, BIAS): soft signals from the gated rows, gate signals from the open rows."""
    soft = fit_nonnegative(gated, [f for f in FEATURES if f not in GATE_SIGNALS], l2)
    gates = fit_nonnegative(open_rows, list(FEATURES), l2)
    weights = {f: round(v, 3) for f, v in soft.items() if f != "bias"}
    weights |= {f: round(gates[f], 3) for f in GATE_SIGNALS if f in gates}
    bias = soft["bias"] - sum(gates.get(f, 0.0) for f in GATE_SIGNALS)
    return weights, round(bias, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument(
        "--self-check", action="store_true", help="score the local model's self-check first"
    )
    ap.add_argument(
        "--open",
        nargs="+",
        type=Path,
        default=[],
        help="the same runs replayed with the gates off: fit the shipped two-stage model",
    )
    args = ap.parse_args()
    if args.self_check:
        from qa.answer import warm
        from qa.llm import make_llm
        from qa.settings import Settings

        llm = make_llm("local", Settings.load())
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
    bias = float(w[0])
    if args.open:
        open_rows = [row for r in args.open for row in load_rows(r)]
        weights, bias = two_stage(rows, open_rows, args.l2)
        print(
            f"\ntwo-stage fit (soft signals on {len(rows)} gated rows, gates on "
            f"{len(open_rows)} open rows)"
        )
        for run, rs in per_run.items():
            p = np.array([_p(r, weights, bias) for r in rs])
            yr = np.array([float(bool(r.right)) for r in rs])
            print(f"{run.name}: ECE {ece(p, yr):.4f} ({len(rs)} rows)")
        for held in per_run:
            train = [r for k, rs in per_run.items() if k != held for r in rs]
            if not train:
                continue
            wt, bt = two_stage(train, open_rows, args.l2)
            rs = per_run[held]
            p = np.array([_p(r, wt, bt) for r in rs])
            yr = np.array([float(bool(r.right)) for r in rs])
            print(f"held-out {held.name}: ECE {ece(p, yr):.4f}")
    print("\nWEIGHTS =", json.dumps(weights, indent=4))
    print(f"BIAS = {bias:.3f}")
    for run in args.runs:
        print(f"\n{run.name}: had answers below the gates been withheld (fitted weights)")
        print("\n".join(gate_table(run, weights, bias)))


if __name__ == "__main__":
    main()
