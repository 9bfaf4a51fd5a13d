"""How often the conflicting-reports detector fires on a dev set, with every shown sentence
treated as cited: a superset of what any answer cites, so no LLM is needed and no answer can
fire where this does not.

    python -m eval.conflicts_check eval/sets/news eval/sets/sample eval/sets/clapnq

None of our dev sets has two outlets disagreeing, so every fire it prints is a false one.
"""

from __future__ import annotations

import argparse
import collections

from eval.run import default_index_dir
from eval.sets import load_set
from qa.answer import Query
from qa.assistant import Assistant
from qa.cite import make_citation
from qa.conflicts import conflict_sentence, find_conflicts
from qa.settings import Settings


def check(set_path: str, settings: Settings) -> tuple[int, int, collections.Counter[str]]:
    """(questions, questions with a fire, fires by kind) for one set; prints each fire."""
    es = load_set(set_path)
    assistant = Assistant(
        settings.model_copy(update={"data_dir": default_index_dir(es, "citeqa", settings)})
    )
    try:
        assistant.add(list(es.articles), progress=False)
        chain = assistant.chain("extractive")  # retrieval and context only: no model loaded
        fired, kinds = 0, collections.Counter[str]()
        for q in es.questions:
            prompt = chain.prepare(Query(q.question, k=settings.k, as_of=q.question_date))
            if not prompt.context.sentences:
                continue
            arts = assistant.store.get_articles(
                list({n.article_id for n in prompt.context.sentences})
            )
            cited = [make_citation(arts[n.article_id], n.start, n.end)
                     for n in prompt.context.sentences]  # fmt: skip
            shown, known = chain.compared(prompt, cited, arts)
            found = find_conflicts(cited, shown, known)
            fired += bool(found)
            for cf in found:
                kinds[cf.kind] += 1
                print(f"  {es.name}/{q.id}: {conflict_sentence(cf, known)}")
                print(f"      {cf.first.quote[:160]!r}\n      {cf.second.quote[:160]!r}")
        return len(es.questions), fired, kinds
    finally:
        assistant.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="+", help="eval set directories")
    args = parser.parse_args()
    settings = Settings()
    for path in args.sets:
        n, fired, kinds = check(path, settings)
        print(f"{path}: {fired} of {n} questions with a fire {dict(kinds)}")


if __name__ == "__main__":
    main()
