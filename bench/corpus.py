"""A synthetic news corpus of any size for ingest benchmarks, made from the shipped eval sets.

The paragraphs of eval/sets/sample and eval/sets/clapnq are recombined into articles with a
dateline, a title, a source and a date, deterministically from a seed, so a run at 1k or 10k
articles ingests the same text every time. Real prose keeps the token/char mix (and so the
embedding cost per chunk) realistic.

    python -m bench.corpus --n 1000 --out /tmp/corpus-1k   # writes articles.jsonl
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETS = ROOT / "eval" / "sets"
SOURCES = ("AFP", "Reuters", "AP", "BBC", "Al Jazeera", "DW", "The Guardian", "Le Monde")
CITIES = ("PARIS", "LONDON", "BISHKEK", "MOSCOW", "WASHINGTON", "BERLIN", "NAIROBI", "TOKYO")


def paragraphs() -> tuple[list[str], list[str]]:
    """Paragraphs and titles of the shipped sets (whitespace-normalised, short ones dropped).
    The retrieval benchmark draws its sentences from the same text."""
    paras: list[str] = []
    titles: list[str] = []
    for path in sorted((SETS / "sample" / "articles").glob("*.txt")):
        blocks = re.split(r"\n\s*\n", path.read_text(encoding="utf-8"))
        paras += [" ".join(b.split()) for b in blocks]
        titles.append(path.stem.replace("-", " ").capitalize())
    for line in (SETS / "clapnq" / "articles.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        # NQ text is tokenised ("word , word"); re-attach punctuation so it reads like prose.
        text = re.sub(r" ([,.;:!?')])", r"\1", " ".join(rec["text"].split()))
        text = re.sub(r"([(]) ", r"\1", text).replace(" 's", "'s").replace(" -- ", " - ")
        paras.append(text)
        titles.append(rec["title"])
    return [p for p in paras if len(p) >= 80], titles


def articles(n: int, *, seed: int = 0) -> Iterator[dict[str, object]]:
    """`n` article records (the .jsonl fields citeqa reads), the same for the same seed."""
    paras, titles = paragraphs()
    rng = random.Random(seed)
    start = dt.date(2023, 1, 1)
    for i in range(n):
        body = rng.sample(paras, rng.randint(2, 5))
        source = rng.choice(SOURCES)
        day = start + dt.timedelta(days=rng.randrange(730))
        dateline = f"{rng.choice(CITIES)}, {day:%B} {day.day} ({source}) - "
        yield {
            "id": f"bench-{seed}-{i:06d}",
            "title": f"{rng.choice(titles)}: {rng.choice(titles).lower()}",
            "source": source,
            "published_at": day.isoformat(),
            "text": dateline + "\n\n".join(body),
        }


def write_corpus(n: int, out: Path, *, seed: int = 0) -> Path:
    """Write `out`/articles.jsonl (created or overwritten) and return its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "articles.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for rec in articles(n, seed=seed):
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1000, help="articles to write")
    p.add_argument("--out", type=Path, required=True, help="folder for articles.jsonl")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    path = write_corpus(a.n, a.out, seed=a.seed)
    size = path.stat().st_size
    print(f"wrote {a.n} articles ({size / 1e6:.1f} MB) to {path}")


if __name__ == "__main__":
    main()
