"""Replay a finished run's replies through today's verification, without generating again.

    python -m eval.replay runs/NAME --out runs/NAME-replayed [--set min_anchor_coverage=1]
                          [--self-check] [--generate]

What follows generation (parsing the reply, the citation checks, the signals, the gates, the
confidence) is a deterministic function of the question, what was retrieved and the model's
reply. Retrieval and the numbered context are recomputed (they are deterministic too, and the
context maps the reply's [S#] ids to spans), the logged reply is put where the model's would
be, and the rest runs as in `citeqa eval`. So a change to verification, or a gate setting, is
measured on the exact replies the model gave, in seconds instead of an hour of generation. The
replayed run keeps the original generation timings. Where today's prompt differs from the one a
reply was written for (another retrieval, context or question setting than the run's), it
refuses, or with `--generate` reads those questions again with the local model (first reading
and, where due, second), timed now; the rest is replayed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from eval.report import write_reports
from eval.run import EvalRow, Runner, summarize
from eval.sets import load_set
from qa.answer import AnswerChain, Prompt, Query, Timer, warm
from qa.assistant import check_question
from qa.errors import InputError
from qa.llm.base import Message
from qa.settings import Settings
from qa.types import Answer

# Settings that change what the model was shown: a replay with other values would pair a reply
# with a prompt it was not written for.
PROMPT_SETTINGS = (
    "k", "candidates", "rrf_k", "context_tokens", "long_context_tokens", "long_article_chunks",
    "lead_sentences", "chunk_tokens", "chunk_overlap_sentences", "embed_backend", "model",
    "backend", "collection", "sentence_fusion", "anchor_focus", "copy_threshold",
)  # fmt: skip


# How a run logged before one of these settings existed was made (copies were not folded, no
# wider budget for a long article).
BEFORE: dict[str, Any] = {"copy_threshold": 1.01, "long_article_chunks": 10**6}


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def replay(
    run: Path, out: Path, overrides: dict[str, Any], *, self_check: bool, generate: bool = False
) -> dict:
    """`run`'s replies through today's checks into `out`; with `generate`, a second reading
    the log holds no reply for (today's checks cite other sentences than the run's did) is
    read with the local model, so the replay is exact at the cost of those readings only."""
    config = json.loads((run / "run.json").read_text(encoding="utf-8"))
    if config.get("pipeline") != "citeqa":
        raise InputError(f"{run} is a {config.get('pipeline')} run; only citeqa runs replay.")
    bad = sorted(set(overrides) & set(PROMPT_SETTINGS))
    if bad:
        raise InputError(f"{', '.join(bad)} change the prompt; run `citeqa eval` instead.")
    # What shaped the prompt comes from the run; everything after generation (verification
    # settings, gates) from today's defaults, env and `overrides`: that is what is measured.
    logged = {**BEFORE, **{k: v for k, v in config["settings"].items() if k in PROMPT_SETTINGS}}
    settings = Settings.load().model_copy(
        update={
            **logged,
            **overrides,
            "self_check": self_check or overrides.get("self_check", False),
        }
    )
    set_dir = Path(__file__).parent / "sets" / config["set"]
    eval_set = load_set(set_dir)
    if eval_set.corpus_hash != config["corpus_hash"]:
        raise InputError(f"the corpus of {config['set']} changed since {run} was made.")
    from eval.run import default_index_dir

    runner = Runner(eval_set, settings, default_index_dir(eval_set, "citeqa", settings), "citeqa",
                     progress=False)  # fmt: skip
    assistant = runner.assistant
    llm = assistant.llm("local" if settings.self_check else "extractive")
    if llm.is_model:
        warm(llm)
    chain = AnswerChain(
        settings, assistant.retriever, assistant.store.get_articles, assistant.count_tokens, llm
    )
    questions = {q.id: q for q in eval_set.questions}
    count = assistant.count_tokens
    rows = [
        EvalRow.model_validate_json(line)
        for line in (run / "results.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    out.mkdir(parents=True, exist_ok=True)
    new_rows: list[EvalRow] = []
    unread: list[str] = []  # questions whose second reading could not be replayed
    generated: list[str] = []  # ... and was read again here instead (`generate`)
    first_read: list[str] = []  # questions whose prompt changed, read again here (`generate`)
    reader = None
    if generate:
        local = assistant.llm("local")
        warm(local)
        reader = AnswerChain(
            settings, assistant.retriever, assistant.store.get_articles, count, local
        )
    for old in tqdm(rows, desc=f"replay {run.name}", unit="q"):
        q = questions[old.id]
        if old.error:
            new_rows.append(old)
            continue
        asked = check_question(q.question)  # as Assistant.ask cleans it
        query = Query(asked, k=settings.k, as_of=q.question_date)
        # The logged generation's timings stand in for the generation not run again.
        logged = {k: old.timings[k] for k in ("rewrite", "first_token", "generate")
                  if k in old.timings}  # fmt: skip
        timer = Timer(logged)
        found = timer.run("retrieve", chain.retrieve, query, chain.rewrite(query))
        prompt = timer.run("context", chain.context, found)
        if prompt.messages:
            shown = list(prompt.messages)
            if old.tokens.get("prompt") and _tokens(count, shown) != old.tokens["prompt"]:
                if reader is None:
                    raise InputError(
                        f"{old.id}: the prompt differs from the run's; replay is off "
                        "(--generate reads such questions again with the local model)."
                    )
                old = _read_again(reader, prompt, old)  # a first reading, generated now
                before = {k: v for k, v in timer.timings().items() if k in ("retrieve", "context")}
                waited = sum(before.values()) + old.timings["first_token"]
                timer = Timer(
                    {**before, "first_token": waited, "generate": old.timings["generate"]}
                )
                first_read.append(old.id)
        judge = timer.timed("check", llm.judge) if llm.is_model else None
        t0 = time.perf_counter()
        answer, exact = timer.run("verify", replayed, chain, prompt, old, judge)
        if answer.second_reply:  # the logged second reading, put back: its time too
            timer.mark("first_answer")
            timer.add("second_reading", old.timings.get("second_reading", 0.0))
        elif not exact and reader is None:
            unread.append(old.id)
        elif not exact:  # read again now, with the local model
            focused = chain.focused(prompt, answer)
            assert focused is not None  # not exact: a second reading was due
            timer.mark("first_answer")
            with timer.step("second_reading"):
                second = "".join(reader.generate(focused))
                answer = _second_tokens(
                    chain.reread(answer, focused, second, judge),
                    _tokens(count, focused.messages),
                    count(second),
                )
            generated.append(old.id)
        answer = timer.stamp(answer)
        row = runner.record(q, runner.empty_row(q), answer)
        row.timings["replayed_verify"] = time.perf_counter() - t0
        # What the model read and wrote, as logged (the second reading's, as given now).
        row.tokens = {k: v for k, v in old.tokens.items() if not k.startswith("second_")}
        row.tokens.update({k: v for k, v in answer.tokens.items() if k.startswith("second_")})
        new_rows.append(row)
    runner.close()
    summary = summarize(new_rows, k=settings.k)
    old_summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    for key in ("backend", "model", "k", "pipeline", "set", "machine"):
        summary[key] = old_summary.get(key)
    summary["date"] = old_summary.get("date")
    summary["replayed_from"] = str(run)
    summary["replay_settings"] = {**overrides, "self_check": settings.self_check}
    summary["second_readings_not_replayed"] = unread
    summary["second_readings_generated"] = generated
    summary["first_readings_generated"] = first_read
    (out / "run.json").write_text(
        json.dumps({**config, "replayed_from": str(run), "overrides": overrides}, indent=2),
        encoding="utf-8",
    )
    (out / "results.jsonl").write_text(
        "".join(r.model_dump_json() + "\n" for r in new_rows), encoding="utf-8"
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    write_reports(out, summary, new_rows, eval_set)
    return summary


def replayed(
    chain: AnswerChain,
    prompt: Prompt,
    row: EvalRow,
    judge: Callable[[Sequence[Message]], float | None] | None = None,
) -> tuple[Answer, bool]:
    """The answer `chain` gives today from the replies `row` logged for `prompt`, and whether
    it is exact. Where the chain reads twice (`second_reading`), the logged second reply
    stands only for the focused prompt it was written for: where today's checks cite other
    sentences (or the run read once), that prompt differs, and the first reading's answer
    stays; that answer is not exact, since reading again might have changed it."""
    answer = chain.verify(prompt, row.raw_reply, judge)
    focused = chain.focused(prompt, answer) if chain.rereads(prompt) else None
    if focused is None:
        return answer, True
    written_for = row.tokens.get("second_prompt")
    if not row.second_reply or written_for != _tokens(chain.count_tokens, focused.messages):
        return answer, False
    again = chain.reread(answer, focused, row.second_reply, judge)
    return _second_tokens(again, written_for, row.tokens.get("second_completion", 0)), True


def _read_again(reader: AnswerChain, prompt: Prompt, row: EvalRow) -> EvalRow:
    """`row` as if the run had been made with today's prompt: the first reply generated now,
    timed, and no second reply (one is generated if today's checks read again)."""
    t0 = time.perf_counter()
    first: float | None = None
    parts: list[str] = []
    for piece in reader.generate(prompt):
        first = time.perf_counter() - t0 if first is None else first
        parts.append(piece)
    reply = "".join(parts)
    timings = {"first_token": first or 0.0, "generate": time.perf_counter() - t0}
    tokens = {
        "prompt": _tokens(reader.count_tokens, prompt.messages),
        "completion": reader.count_tokens(reply),
    }
    return row.model_copy(
        update={"raw_reply": reply, "second_reply": "", "timings": timings, "tokens": tokens}
    )


def _tokens(count: Callable[[str], int], messages: Sequence[Message]) -> int:
    return sum(count(m["content"]) for m in messages)


def _second_tokens(answer: Answer, prompt: int, completion: int) -> Answer:
    """`answer` with its second reading's token counts set: a replay verifies without a model
    (its chain counts no prompt), and a row logged with 0 could not be replayed again."""
    tokens = {**answer.tokens, "second_prompt": prompt, "second_completion": completion}
    return dataclasses.replace(answer, tokens=tokens)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    ap.add_argument("--self-check", action="store_true")
    ap.add_argument(
        "--generate",
        action="store_true",
        help="read again with the local model where the log holds no reply for today's prompt "
        "(a changed first prompt, or a focused one with no second reply logged)",
    )
    args = ap.parse_args()
    overrides = {k: _value(v) for k, v in (s.split("=", 1) for s in args.set)}
    s = replay(args.run, args.out, overrides, self_check=args.self_check, generate=args.generate)
    keys = ("answer_contains", "answer_recall", "citation_precision", "citation_recall",
            "abstain_correct", "abstain_wrong", "confidence_ece")  # fmt: skip
    print(" ".join(f"{k} {s.get(k, 0):.3f}" for k in keys))
    if s["first_readings_generated"]:
        print(f"{len(s['first_readings_generated'])} questions' prompts changed: read again here.")
    if s["second_readings_generated"]:
        print(f"{len(s['second_readings_generated'])} second readings were read again here.")
    if s["second_readings_not_replayed"]:
        missed = s["second_readings_not_replayed"]
        print(
            f"{len(missed)} answers keep their first reading: the run holds no second reply "
            f"for the focused prompt today's checks give ({', '.join(missed[:8])}"
            f"{', …' if len(missed) > 8 else ''}); `citeqa eval` reads them again."
        )


if __name__ == "__main__":
    main()
