"""report.md and a self-contained report.html (plots inlined as PNG) for a run, and the
side-by-side comparison of two runs."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from eval.rows import EvalRow
from eval.sets import EvalSet

HEADLINE = [
    "n_questions", "hit_at_1", "hit_at_k", "recall_at_k", "mrr", "answer_em", "answer_f1",
    "answer_contains", "answer_recall", "answer_similarity", "citation_validity",
    "citation_precision", "citation_recall", "citation_hit", "sentences_cited", "abstain_correct",
    "abstain_wrong", "abstention_f1", "confidence_ece", "answered_right", "latency_p50_s",
    "latency_p95_s", "first_answer_p50_s", "second_reading_used", "n_errors",
]  # fmt: skip
# Metrics where smaller is better, for deltas and "changed" arrows.
LOWER_IS_BETTER = {
    "abstain_wrong", "latency_p50_s", "latency_p95_s", "first_answer_p50_s", "n_errors",
    "confidence_ece",
}  # fmt: skip


def tradeoff(rows: list[Any], steps: int = 11) -> list[tuple[float, float, float]]:
    """(threshold, abstain_correct, abstain_wrong) if every answer whose confidence is below
    the threshold were also withheld: the curve behind the `min_confidence` setting."""
    unans = [r for r in rows if not r.answerable and not r.error]
    ans = [r for r in rows if r.answerable and not r.error]

    def withheld(r: Any, t: float) -> bool:
        return r.abstained or (r.confidence is not None and r.confidence < t)

    out = []
    for i in range(steps):
        t = i / (steps - 1)
        ok = sum(withheld(r, t) for r in unans) / len(unans) if unans else 0.0
        bad = sum(withheld(r, t) for r in ans) / len(ans) if ans else 0.0
        out.append((t, round(ok, 4), round(bad, 4)))
    return out


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def summary_table(columns: dict[str, dict[str, Any]]) -> str:
    """Markdown table: one row a metric, one column a run."""
    names = list(columns)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key in HEADLINE:
        lines.append(
            f"| {key} | " + " | ".join(_fmt(columns[n].get(key, "")) for n in names) + " |"
        )
    return "\n".join(lines)


def _outcome(row: Any) -> str:
    if row.error:
        return "error"
    if not row.answerable:
        return "abstained (right)" if row.abstained else "answered (wrong)"
    if row.abstained:
        return "abstained (wrong)"
    return "answered"


def _why(row: Any) -> str:
    """The check that declined, for the report's text ("abstained (wrong), by kind")."""
    declined = getattr(row, "declined", None)
    return f", by {declined}" if declined else ""


def _worst(rows: list[Any], n: int = 10) -> list[Any]:
    def badness(r: Any) -> float:
        if r.error:
            return 3.0
        if not r.answerable:
            return 0.0 if r.abstained else 2.0
        return 2.0 - (r.scores.get("answer_f1") or 0.0) - (r.scores.get("citation_recall") or 0.0)

    return sorted(rows, key=badness, reverse=True)[:n]


def _plots(summary: dict[str, Any], rows: list[Any]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 5, figsize=(25, 4.2))
    keys = [k for k in HEADLINE if isinstance(summary.get(k), float) and not k.endswith("_s")]
    axes[0].barh(keys, [summary[k] for k in keys], color="#4a7ab8")
    axes[0].set_xlim(0, 1)
    axes[0].set_title("metrics")
    axes[0].invert_yaxis()
    axes[1].hist([r.timings.get("total", 0.0) for r in rows], bins=20, color="#c9733c")
    axes[1].set_title("answer latency (s)")
    colours = {
        "answered": "#3c9a5f", "abstained (right)": "#8cc79f", "abstained (wrong)": "#e0a040",
        "answered (wrong)": "#d04040", "error": "#555555",
    }  # fmt: skip
    cols = 20
    for i, r in enumerate(rows):
        axes[2].add_patch(
            plt.Rectangle((i % cols, -(i // cols)), 0.9, 0.9, color=colours[_outcome(r)])
        )
    axes[2].set_xlim(0, cols)
    axes[2].set_ylim(-(len(rows) // cols) - 0.2, 1)
    axes[2].set_axis_off()
    axes[2].set_title("per-question outcome")
    confs = [r.confidence for r in rows if r.confidence is not None]
    table = summary.get("reliability") or []
    axes[3].plot([0, 1], [0, 1], color="#999999", linestyle="--")
    if table:
        axes[3].plot([t[2] for t in table], [t[3] for t in table], marker="o", color="#4a7ab8")
    axes[3].hist(confs, bins=10, range=(0, 1), color="#c9733c", alpha=0.3, weights=[
        1 / max(1, len(confs))] * len(confs))  # fmt: skip
    axes[3].set_xlim(0, 1)
    axes[3].set_ylim(0, 1)
    axes[3].set_xlabel("confidence")
    axes[3].set_ylabel("share right (line) / of answers (bars)")
    axes[3].set_title(f"reliability (ECE {summary.get('confidence_ece', 0):.3f})")
    curve = tradeoff(rows)
    axes[4].plot([c[2] for c in curve], [c[1] for c in curve], marker="o", color="#3c9a5f")
    for t, ok, bad in curve[::2]:
        axes[4].annotate(f"{t:.1f}", (bad, ok), fontsize=7)
    axes[4].set_xlim(0, 1)
    axes[4].set_ylim(0, 1)
    axes[4].set_xlabel("answerable withheld (abstain_wrong)")
    axes[4].set_ylabel("unanswerable withheld (abstain_correct)")
    axes[4].set_title("min_confidence trade-off")
    axes[2].legend(
        handles=[plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()],
        labels=list(colours),
        loc="lower center",
        bbox_to_anchor=(0.5, -0.35),
        ncol=3,
        fontsize=8,
    )
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def write_reports(
    out_dir: Path, summary: dict[str, Any], rows: list[Any], eval_set: EvalSet
) -> None:
    texts = {a.id: a.text for a in eval_set.articles}
    title = f"{summary['set']} · {summary['pipeline']} · {summary['backend']}/{summary['model']}"
    worst = _worst(rows)
    md = [f"# Eval: {title}", "", f"{summary['date']} on {summary['machine']}", ""]
    if summary.get("engine_library"):
        md += [f"ik_llama.cpp library: `{summary['engine_library']}`", ""]
    md.append(summary_table({summary["pipeline"]: summary}))
    if any(r.confidence is not None for r in rows):
        md += ["", "Confidence: reliability (bin, mean confidence, share right, answers)", ""]
        md += [f"- {lo:.1f}–{hi:.1f}: {c:.3f} / {a:.3f} ({int(n)})" for lo, hi, c, a, n in
               summary.get("reliability") or []]  # fmt: skip
        md += ["", "| min_confidence | abstain_correct | abstain_wrong |", "|---|---|---|"]
        md += [f"| {t:.1f} | {ok:.3f} | {bad:.3f} |" for t, ok, bad in tradeoff(rows)]
    if summary.get("declined_answerable") or summary.get("declined_unanswerable"):
        md += ["", "Why it declined (`Answer.declined`): wrongly on answerable questions, "
               "rightly on unanswerable ones", "", "| reason | answerable | unanswerable |",
               "|---|---|---|"]  # fmt: skip
        wrong, right = (
            summary.get("declined_answerable", {}),
            summary.get("declined_unanswerable", {}),
        )
        md += [f"| {k} | {wrong.get(k, 0)} | {right.get(k, 0)} |" for k in sorted({*wrong, *right})]
    md += ["", "## Worst questions", ""]
    for r in worst:
        md.append(f"### {r.id}: {r.question}")
        md.append(f"- outcome: {_outcome(r)}{_why(r)}; f1 {_fmt(r.scores.get('answer_f1', ''))}")
        md.append(f"- answer: {r.answer or r.error}")
        if getattr(r, "why_declined", None):
            md.append(f"- why: {r.why_declined}")
        md.append(f"- reference: {' | '.join(r.references) or '(unanswerable)'}")
        for c in r.citations:
            md.append(f"- cited [{c['start']}:{c['end']}] {c['quote']!r}")
        for g in r.gold:
            quote = texts[g["article_id"]][g["start"] : g["end"]]
            md.append(f"- gold [{g['start']}:{g['end']}] {quote!r}")
        md.append("")
    (out_dir / "report.md").write_text("\n".join(md), encoding="utf-8")

    png = base64.b64encode(_plots(summary, rows)).decode()
    e = html.escape
    table = "".join(
        f"<tr><td>{e(k)}</td><td>{e(_fmt(summary.get(k, '')))}</td></tr>" for k in HEADLINE
    )
    cards = []
    for r in worst:
        cites = "".join(
            f"<li><q>{e(c['quote'])}</q> <small>[{c['start']}:{c['end']}]</small></li>"
            for c in r.citations
        )
        golds = "".join(
            f"<li><q>{e(texts[g['article_id']][g['start'] : g['end']])}</q></li>" for g in r.gold
        )
        cards.append(
            f"<section><h3>{e(r.id)}: {e(r.question)}</h3><p><b>{e(_outcome(r) + _why(r))}</b></p>"
            f"<div class=cols><div><h4>Answer</h4><p>{e(r.answer or r.error or '')}</p>"
            f"<ul>{cites}</ul></div><div><h4>Reference</h4>"
            f"<p>{e(' | '.join(r.references) or '(unanswerable)')}</p><ul>{golds}</ul></div></div>"
            "</section>"
        )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{e(title)}</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}}table{{border-collapse:collapse}}td{{border:1px solid #ddd;padding:3px 10px}}
.cols{{display:grid;grid-template-columns:1fr 1fr;gap:1.5em}}section{{border-top:1px solid #ccc;
margin-top:1em}}q{{background:#fff3c4}}img{{max-width:100%}}</style></head><body>
<h1>{e(title)}</h1><p>{e(summary["date"])} on {e(summary["machine"])}</p>
<table>{table}</table><img alt="plots" src="data:image/png;base64,{png}">
<h2>Worst questions</h2>{"".join(cards)}</body></html>"""
    (out_dir / "report.html").write_text(page, encoding="utf-8")


def compare(run_a: Path, run_b: Path) -> str:
    """Metric deltas (B − A) and the questions whose outcome changed."""
    sa = json.loads((run_a / "summary.json").read_text(encoding="utf-8"))
    sb = json.loads((run_b / "summary.json").read_text(encoding="utf-8"))
    lines = [f"| metric | A: {run_a.name} | B: {run_b.name} | B − A |", "|---|---|---|---|"]
    for k in HEADLINE:
        a, b = sa.get(k), sb.get(k)
        if isinstance(a, int | float) and isinstance(b, int | float):
            delta = b - a
            better = (delta < 0) if k in LOWER_IS_BETTER else (delta > 0)
            mark = "" if abs(delta) < 1e-9 else (" ▲" if better else " ▼")
            lines.append(f"| {k} | {_fmt(a)} | {_fmt(b)} | {delta:+.3f}{mark} |")

    def rows(p: Path) -> dict[str, EvalRow]:
        out = {}
        for line in (p / "results.jsonl").read_text(encoding="utf-8").splitlines():
            r = EvalRow.model_validate_json(line)
            out[r.id] = r
        return out

    ra, rb = rows(run_a), rows(run_b)
    changed = [
        f"- {i}: {_outcome(ra[i])} → {_outcome(rb[i])} — {ra[i].question}"
        for i in ra
        if i in rb and _outcome(ra[i]) != _outcome(rb[i])
    ]
    return "\n".join(lines + ["", f"Questions whose outcome changed: {len(changed)}", *changed])
