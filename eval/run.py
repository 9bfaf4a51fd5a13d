"""Run a question set through a pipeline (citeqa's `Assistant`, or the LangChain baseline),
score every answer, and write `results.jsonl` (appended per question, so a killed run resumes)
and `summary.json`.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import time
from collections import Counter
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel
from tqdm import tqdm

from eval import metrics as m
from eval.report import write_reports
from eval.rows import EvalRow
from eval.sets import EvalQuestion, EvalSet, load_set
from index.embed import Embedder
from index.ingest import EMBED_TEXT_VERSION
from qa.cite import quote_holds
from qa.errors import CiteqaError, InputError
from qa.settings import Settings
from qa.types import Answer

Pipeline = Literal["citeqa", "langchain-baseline"]


class EvalReport(BaseModel):
    out_dir: str
    summary: dict[str, Any]
    rows: list[EvalRow]


def default_out(eval_set: EvalSet, pipeline: str, settings: Settings) -> Path:
    model = "extractive" if settings.backend == "extractive" else settings.model
    return Path("runs") / f"{eval_set.name}-{pipeline}-{settings.backend}-{model}-k{settings.k}"


def default_index_dir(eval_set: EvalSet, pipeline: str, settings: Settings) -> Path:
    """Where a set's corpus is indexed for a pipeline (reused while the corpus is unchanged)."""
    return (
        settings.cache_dir
        / "eval-index"
        / (
            f"{eval_set.name}-{eval_set.corpus_hash}-{pipeline}-{settings.embed_backend}"
            f"-e{EMBED_TEXT_VERSION}"
        )
    )


_T = TypeVar("_T")


def spread(items: list[_T], n: int) -> list[_T]:
    """`n` of `items` spread evenly (sets are often ordered, e.g. answerable first), the same
    `n` every time; all of them when there are no more than `n`."""
    if n >= len(items):
        return list(items)
    return [items[i * len(items) // n] for i in range(n)]


def run_eval(
    set_path: str | Path,
    settings: Settings,
    *,
    out: str | Path | None = None,
    limit: int | None = None,
    sample: int | None = None,
    pipeline: Pipeline = "citeqa",
    progress: bool = True,
) -> EvalReport:
    """`limit` takes the first N questions; `sample` takes N spread evenly over the set (sets
    are often ordered, e.g. answerable first), the same N every time."""
    from qa.llm.native import loaded

    eval_set = load_set(set_path)
    questions = list(eval_set.questions)
    if sample:
        questions = spread(questions, sample)
    if limit:
        questions = questions[:limit]
    out_dir = Path(out) if out else default_out(eval_set, pipeline, settings)
    config = {
        "set": eval_set.name,
        "corpus_hash": eval_set.corpus_hash,
        "pipeline": pipeline,
        "settings": {
            k: v
            for k, v in settings.public_dict().items()
            if k not in ("data_dir", "cache_dir", "openai_api_key")
        },
    }
    done = _resume(out_dir, config)
    index_dir = default_index_dir(eval_set, pipeline, settings)
    runner = Runner(eval_set, settings, index_dir, pipeline, progress=progress)
    results = out_dir / "results.jsonl"
    rows = [done[q.id] for q in questions if q.id in done]
    todo = [q for q in questions if q.id not in done]
    try:
        bar = tqdm(todo, desc=f"eval {eval_set.name}", unit="q", disable=not progress)
        with results.open("a", encoding="utf-8") as f:
            for q in bar:
                row = runner.ask(q)
                rows.append(row)
                f.write(row.model_dump_json() + "\n")
                f.flush()
                bar.set_postfix(_running(rows), refresh=False)
    finally:
        runner.close()
    order = {q.id: i for i, q in enumerate(questions)}
    rows.sort(key=lambda r: order[r.id])
    summary = summarize(rows, k=settings.k)
    summary.update(
        backend=runner.backend,
        model=runner.model,
        k=settings.k,
        pipeline=pipeline,
        set=eval_set.name,
        date=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        machine=machine(),
        engine_library=loaded(),  # replies differ a little between builds, at near ties
    )
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    write_reports(out_dir, summary, rows, eval_set)
    return EvalReport(out_dir=str(out_dir), summary=summary, rows=rows)


def machine() -> str:
    """CPU model and core count, so numbers from different machines are not confused."""
    import os

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu}, {cores} cores, Python {platform.python_version()}"


def _resume(out_dir: Path, config: dict[str, Any]) -> dict[str, EvalRow]:
    """Rows already answered by the same configuration; refuse to mix configurations."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg_file = out_dir / "run.json"
    if cfg_file.exists():
        old = json.loads(cfg_file.read_text(encoding="utf-8"))
        if old != config:
            raise InputError(
                f"{out_dir} holds a run with other settings or another corpus; pass a new --out "
                "or delete that folder."
            )
    else:
        cfg_file.write_text(json.dumps(config, indent=2), encoding="utf-8")
    done: dict[str, EvalRow] = {}
    results = out_dir / "results.jsonl"
    if results.exists():
        good_lines = []
        for line in results.read_text(encoding="utf-8").splitlines():
            try:
                row = EvalRow.model_validate_json(line)
            except ValueError:
                continue  # a line cut short by a kill: asked again
            done[row.id] = row
            good_lines.append(line)
        results.write_text("".join(f"{line}\n" for line in good_lines), encoding="utf-8")
    return done


def _running(rows: list[EvalRow]) -> dict[str, str]:
    ans = [r for r in rows if r.answerable]
    unans = [r for r in rows if not r.answerable]
    return {
        "f1": f"{m.mean([r.scores.get('answer_f1') for r in ans]):.2f}",
        "abst_ok": f"{m.mean([float(r.abstained) for r in unans]):.2f}",
        "s/q": f"{m.mean([r.timings.get('total', 0.0) for r in rows]):.1f}",
    }


class Runner:
    """Asks one question through the chosen pipeline and scores the answer. Public because
    the injection check and replays ask their questions through it too."""

    def __init__(
        self,
        eval_set: EvalSet,
        settings: Settings,
        index_dir: Path,
        pipeline: str,
        *,
        progress: bool,
    ) -> None:
        self.eval_set = eval_set
        self.texts = {a.id: a.text for a in eval_set.articles}
        self.k = settings.k
        self.pipeline = pipeline
        if pipeline == "citeqa":
            from qa.assistant import Assistant

            self.assistant = Assistant(settings.model_copy(update={"data_dir": index_dir}))
            self.assistant.add(list(eval_set.articles), progress=progress)
            self.embedder: Embedder = self.assistant.embedder
            self._ask = self.assistant.ask
            chain = self.assistant.chain()
            self.backend, self.model = chain.backend, chain.model
            self._close = self.assistant.close
        elif pipeline == "langchain-baseline":
            from eval.baseline import LangChainBaseline

            base = LangChainBaseline(settings, index_dir, eval_set.articles)
            self.embedder = Embedder(backend=settings.embed_backend, cache_dir=settings.cache_dir)
            self._ask = base.ask
            self.backend, self.model = base.backend, base.model
            self._close = base.close
        else:
            raise InputError(f"Unknown pipeline {pipeline!r}; use citeqa or langchain-baseline.")

    def close(self) -> None:
        self._close()

    def _when(self, q: EvalQuestion) -> dict[str, Any]:
        """The question's date, for citeqa (the baseline has no notion of it)."""
        if self.pipeline != "citeqa" or not q.question_date:
            return {}
        return {"as_of": q.question_date}

    def empty_row(self, q: EvalQuestion) -> EvalRow:
        gold = self.eval_set.gold.get(q.id, ())
        return EvalRow(
            id=q.id,
            question=q.question,
            answerable=q.answerable,
            references=q.references,
            gold=[{"article_id": g.article_id, "start": g.start, "end": g.end} for g in gold],
        )

    def ask(self, q: EvalQuestion) -> EvalRow:
        row = self.empty_row(q)
        t0 = time.perf_counter()
        try:
            answer = self._ask(q.question, **self._when(q))
        except CiteqaError as e:
            row.error = str(e)
            row.timings = {"total": time.perf_counter() - t0}
            row.scores = score(row, None, self.texts, self.k, None)
            return row
        return self.record(q, row, answer)

    def record(self, q: EvalQuestion, row: EvalRow, answer: Answer) -> EvalRow:
        """Fill `row` from an answer to `q` and score it."""
        row.answer = answer.text
        row.raw_reply = answer.raw_reply
        row.second_reply = answer.second_reply
        row.reading = answer.reading
        row.abstained = answer.abstained
        row.citations = [c.to_dict() for c in answer.citations]
        row.retrieved = [
            {"chunk_id": s.chunk_id, "article_id": s.article_id, "start": s.start, "end": s.end}
            for s in answer.sources
        ]
        row.timings = dict(answer.timings)
        row.tokens = dict(answer.tokens)
        row.confidence = getattr(answer, "confidence", None)
        row.signals = dict(getattr(answer, "signals", {}) or {})
        row.declined = getattr(answer, "declined", None)
        row.why_declined = getattr(answer, "why_declined", None)
        similarity = None
        if q.answerable and q.references and not answer.abstained:
            vecs = self.embedder.embed([answer.text, *q.references])
            similarity = float(max(vecs[1:] @ vecs[0]))
        row.scores = score(row, answer, self.texts, self.k, similarity)
        return row


def score(
    row: EvalRow,
    answer: Answer | None,
    texts: dict[str, str],
    k: int,
    similarity: float | None,
) -> dict[str, float | None]:
    gold = [(g["article_id"], g["start"], g["end"]) for g in row.gold]
    cites = [(c["article_id"], c["start"], c["end"]) for c in row.citations]
    valid = [
        quote_holds(texts.get(c["article_id"]), c["start"], c["end"], c["quote"])
        for c in row.citations
    ]
    s: dict[str, float | None] = {
        "n_citations": float(len(cites)),
        "n_valid_citations": float(sum(valid)),
        "error": float(row.error is not None),
    }
    if answer is not None and answer.sentences:
        shown = [x for x in answer.sentences if x.supported]
        s["sentences_cited"] = sum(bool(x.citations) for x in shown) / len(shown) if shown else None
    if row.answerable:
        prediction = "" if row.abstained else row.answer
        s["answer_em"] = m.exact_match(prediction, row.references)
        s["answer_f1"] = m.token_f1(prediction, row.references)
        s["answer_contains"] = m.contains(prediction, row.references)
        s["answer_recall"] = m.token_recall(prediction, row.references)
        s["answer_similarity"] = similarity if similarity is not None else 0.0
        if gold:
            retrieved = [(r["article_id"], r["start"], r["end"]) for r in row.retrieved]
            s.update(m.retrieval_scores(retrieved, gold, k))
            s.update(m.citation_scores(cites, gold))
    return s


def summarize(rows: list[EvalRow], *, k: int) -> dict[str, Any]:
    ans = [r for r in rows if r.answerable]
    with_gold = [r for r in ans if r.gold]

    def avg(key: str, group: list[EvalRow]) -> float:
        return round(m.mean([r.scores.get(key) for r in group]), 4)

    n_cites = sum(int(r.scores.get("n_citations") or 0) for r in rows)
    n_valid = sum(int(r.scores.get("n_valid_citations") or 0) for r in rows)
    totals = [r.timings.get("total", 0.0) for r in rows]
    out: dict[str, Any] = {
        "n_questions": len(rows),
        "n_answerable": len(ans),
        "n_unanswerable": len(rows) - len(ans),
        "n_errors": sum(r.error is not None for r in rows),
        "hit_at_1": avg("hit_at_1", with_gold),
        "hit_at_k": avg("hit_at_k", with_gold),
        "recall_at_k": avg("recall_at_k", with_gold),
        "mrr": avg("mrr", with_gold),
        "answer_em": avg("answer_em", ans),
        "answer_f1": avg("answer_f1", ans),
        "answer_contains": avg("answer_contains", ans),
        "answer_recall": avg("answer_recall", ans),
        "answer_similarity": avg("answer_similarity", ans),
        "n_citations": n_cites,
        "citation_validity": round(n_valid / n_cites, 4) if n_cites else 1.0,
        "citation_precision": avg("citation_precision", with_gold),
        "citation_recall": avg("citation_recall", with_gold),
        "citation_hit": avg("citation_hit", with_gold),
        "sentences_cited": avg("sentences_cited", rows),
        "latency_p50_s": round(m.percentile(totals, 50), 3),
        "latency_p95_s": round(m.percentile(totals, 95), 3),
        "prompt_tokens_mean": round(m.mean([r.tokens.get("prompt") for r in rows]), 1),
        "completion_tokens_mean": round(m.mean([r.tokens.get("completion") for r in rows]), 1),
    }
    for key, value in m.abstention_scores(
        [r.abstained for r in rows], [r.answerable for r in rows]
    ).items():
        out[key] = round(value, 4)
    out.update(m.calibration([(r.confidence, r.right) for r in rows]))
    # A verified answer is there to show before a second reading ends: its time, or the
    # whole answer's where no second reading ran.
    firsts = [r.timings.get("first_answer", r.timings.get("total", 0.0)) for r in rows]
    out["first_answer_p50_s"] = round(m.percentile(firsts, 50), 3)
    # Which check declined: on answerable questions the wrong declines, on the others the right.
    for kind, answerable in (("answerable", True), ("unanswerable", False)):
        reasons = Counter(
            r.declined or "?" for r in rows if r.abstained and r.answerable is answerable
        )
        out[f"declined_{kind}"] = dict(sorted(reasons.items()))
    out["second_readings"] = sum(bool(r.second_reply) for r in rows)
    out["second_reading_used"] = sum(r.reading == 2 for r in rows)
    for stage in ("retrieve", "generate", "verify", "first_token", "second_reading"):
        values = [r.timings[stage] for r in rows if stage in r.timings]
        if values:
            out[f"{stage}_p50_s"] = round(m.percentile(values, 50), 3)
            out[f"{stage}_p95_s"] = round(m.percentile(values, 95), 3)
    return out
