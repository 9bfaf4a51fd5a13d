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
from qa.confidence import WEIGHTS

FEATURES = list(WEIGHTS)


def load_rows(run: Path) -> list[EvalRow]:
    rows = []
    for line in (run / "results.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(EvalRow.model_validate_json(line))
    return [r for r in rows if r.right is not None and r.signals]


def matrix(rows: list[EvalRow]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[r.signals.get(f, 0.0) for f in FEATURES] for r in rows], dtype=np.float64)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--l2", type=float, default=1.0)
    args = ap.parse_args()
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


if __name__ == "__main__":
    main()
