"""How often the sentences the model is shown hold the answer, measured without the LLM.

    python -m eval.context_recall eval/sets/news-long eval/sets/news [--set context_tokens=450]

For every answerable question it runs retrieval and context building exactly as `citeqa ask`
does (same settings, same cached eval index as `citeqa eval`) and checks the gold evidence
spans against the numbered sentences: "any" is the share of questions with at least one gold
sentence shown, "all" the share with every gold sentence shown; hit@1 and hit@k are the eval's
retrieval figures (a retrieved chunk covers a gold span), so a retrieval change is measured
here too. A reply can only be right and
cited from what is shown, so this bounds answer quality; it takes seconds per set where an
LLM run takes minutes, which makes it the place to compare ways of choosing sentences first.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from eval.metrics import matches, retrieval_scores
from eval.run import default_index_dir
from eval.sets import load_set
from qa.settings import Settings


def context_recall(set_path: Path, settings: Settings) -> dict[str, Any]:
    """Per-question and overall context recall of one set under `settings`."""
    from qa.assistant import Assistant

    eval_set = load_set(set_path)
    index_dir = default_index_dir(eval_set, "citeqa", settings)
    rows: list[dict[str, Any]] = []
    with Assistant(
        settings.model_copy(update={"data_dir": index_dir, "backend": "extractive"})
    ) as assistant:
        assistant.add(list(eval_set.articles), progress=False)
        chain = assistant.chain("extractive")
        for q in eval_set.questions:
            if not q.answerable:
                continue
            gold = [(g.article_id, g.start, g.end) for g in eval_set.gold.get(q.id, ())]
            if not gold:
                continue
            prompt = chain.prepare(assistant.query(q.question, as_of=q.question_date))
            shown = [(s.article_id, s.start, s.end) for s in prompt.context.sentences]
            found = [any(matches(s, g) for s in shown) for g in gold]
            chunks = [
                (rc.chunk.article_id, rc.chunk.start, rc.chunk.end)
                for rc in prompt.retrieval.chunks
            ]
            ranked = retrieval_scores(chunks, gold, settings.k)
            rows.append(
                {
                    "id": q.id,
                    "any": any(found),
                    "all": all(found),
                    "hit_at_1": ranked["hit_at_1"],
                    "hit_at_k": ranked["hit_at_k"],
                    "tokens": prompt.context.tokens,
                }
            )
    return {
        "set": eval_set.name,
        "n": len(rows),
        "any": sum(r["any"] for r in rows) / len(rows) if rows else 0.0,
        "all": sum(r["all"] for r in rows) / len(rows) if rows else 0.0,
        "hit_at_1": sum(r["hit_at_1"] for r in rows) / len(rows) if rows else 0.0,
        "hit_at_k": sum(r["hit_at_k"] for r in rows) / len(rows) if rows else 0.0,
        "tokens": statistics.mean(r["tokens"] for r in rows) if rows else 0.0,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="+", type=Path)
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="a setting to override"
    )
    parser.add_argument("--json", type=Path, help="write per-question rows here")
    args = parser.parse_args(argv)
    overrides = dict(item.split("=", 1) for item in args.set)
    settings = Settings(**overrides)  # type: ignore[arg-type]  # pydantic parses the strings
    results = [context_recall(p, settings) for p in args.sets]
    for r in results:
        print(
            f"{r['set']:<12} n={r['n']:<4} any {r['any']:.3f}  all {r['all']:.3f}  "
            f"hit@1 {r['hit_at_1']:.3f}  hit@k {r['hit_at_k']:.3f}  tokens {r['tokens']:.0f}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
