"""Each retrieval/context lever's own effect, without the LLM: does the gold sentence reach the
top chunk, the top k, and the context the model is shown?

    python -m bench.levers --sets news sample

For every set and variant (all levers on, then each one off) it indexes the corpus, prepares
every answerable question as `citeqa eval` does (retrieval, then the numbered context) and
reports hit@1 and hit@k (a retrieved chunk covers a gold quote) and context recall (a gold
quote is among the sentences shown, by the eval's half-overlap rule), with the time the
preparation took. Generation is left out on purpose: the levers act before it, and these
figures take a minute instead of an hour.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from eval import metrics as m
from eval.sets import load_set
from qa.answer import AnswerChain, Query
from qa.assistant import Assistant, check_question
from qa.extractive import extractive_llm
from qa.settings import Settings

SETS = Path(__file__).resolve().parent.parent / "eval" / "sets"
VARIANTS = (
    "all levers",
    "no headline in chunk vectors",
    "no time window",
    "no lead sentences",
    "no sentence channel",
    "no anchor focus",
)


@contextmanager
def _headline_off(on: bool) -> Iterator[None]:
    import index.ingest as ingest

    original = ingest.embed_text
    if on:
        ingest.embed_text = lambda chunk: chunk.text  # type: ignore[assignment]
    try:
        yield
    finally:
        ingest.embed_text = original  # type: ignore[assignment]


def measure(set_name: str, variant: str, cache_dir: Path) -> dict[str, float]:
    eval_set = load_set(SETS / set_name)
    settings = Settings.load(backend="extractive", cache_dir=cache_dir)
    if variant == "no lead sentences":
        settings = settings.model_copy(update={"lead_sentences": 0})
    if variant == "no sentence channel":
        settings = settings.model_copy(update={"sentence_fusion": False})
    if variant == "no anchor focus":
        settings = settings.model_copy(update={"anchor_focus": False})
    with tempfile.TemporaryDirectory() as tmp, _headline_off(variant == VARIANTS[1]):
        a = Assistant(settings.model_copy(update={"data_dir": Path(tmp)}))
        a.add(list(eval_set.articles))
        llm = extractive_llm(settings)
        chain = AnswerChain(settings, a.retriever, a.store.get_articles, a.count_tokens, llm)
        hit1, hitk, ctx, seconds, tokens = [], [], [], [], []
        for q in eval_set.questions:
            gold = [(g.article_id, g.start, g.end) for g in eval_set.gold.get(q.id, ())]
            if not q.answerable or not gold:
                continue
            asked = check_question(q.question)
            as_of = None if variant == "no time window" else q.question_date
            t0 = time.perf_counter()
            prompt = chain.prepare(Query(asked, k=settings.k, as_of=as_of))
            seconds.append(time.perf_counter() - t0)
            spans = [
                (rc.chunk.article_id, rc.chunk.start, rc.chunk.end)
                for rc in prompt.retrieval.chunks
            ]
            r = m.retrieval_scores(spans, gold, settings.k)
            hit1.append(r["hit_at_1"])
            hitk.append(r["hit_at_k"])
            shown = [(s.article_id, s.start, s.end) for s in prompt.context.sentences]
            ctx.append(float(any(m.matches(s, g) for s in shown for g in gold)))
            tokens.append(float(prompt.context.tokens))
        a.close()
    return {
        "hit_at_1": m.mean(hit1),
        "hit_at_k": m.mean(hitk),
        "context_recall": m.mean(ctx),
        "prepare_p50_ms": 1000 * m.percentile(seconds, 50),
        "context_tokens": m.mean(tokens),
        "n": float(len(hit1)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", nargs="+", default=["news", "sample"])
    ap.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    args = ap.parse_args()
    cache_dir = Settings.load().cache_dir
    print(
        "| set | variant | answerable | hit@1 | hit@k | context recall | context tokens"
        " | prepare p50 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in args.sets:
        for variant in args.variants:
            r = measure(name, variant, cache_dir)
            print(
                f"| {name} | {variant} | {int(r['n'])} | {r['hit_at_1']:.3f} | {r['hit_at_k']:.3f}"
                f" | {r['context_recall']:.3f} | {r['context_tokens']:.0f}"
                f" | {r['prepare_p50_ms']:.0f} ms |",
                flush=True,
            )


if __name__ == "__main__":
    main()
