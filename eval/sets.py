"""Question sets: a folder with `questions.jsonl` (or .yaml) and its corpus (`articles.jsonl` or
`articles/`). Everything is validated before anything runs, and every problem is reported at
once with file, line and field, so a user fixes a set in one pass.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from index.load import LoadProblem, decode, load_paths
from qa.errors import InputError
from qa.types import Article


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    article_id: str
    quote: str = Field(min_length=1)


class EvalQuestion(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    question: str = Field(min_length=1)
    answer: str | None = None  # null for unanswerable questions
    all_answers: list[str] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    answerable: bool
    filters: dict[str, Any] | None = None
    question_date: date | None = None  # the day it is asked: anchors "this week"

    @property
    def references(self) -> list[str]:
        refs = [self.answer or "", *self.all_answers]
        return [r for r in dict.fromkeys(refs) if r.strip()]


@dataclass(frozen=True, slots=True)
class GoldSpan:
    article_id: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class EvalSet:
    name: str
    path: Path
    questions: tuple[EvalQuestion, ...]
    articles: tuple[Article, ...]
    corpus_paths: tuple[Path, ...]
    gold: dict[str, tuple[GoldSpan, ...]]  # question id -> evidence spans in cleaned texts
    corpus_hash: str


class SetError(InputError):
    """A question set has problems; the message lists all of them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = "\n  ".join(problems[:50])
        more = f"\n  … and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"The question set has {len(problems)} problem(s):\n  {shown}{more}")


def _question_records(path: Path) -> list[tuple[str, Any]]:
    """(where, record) pairs; JSON errors become records of type str holding the message."""
    text, problem = decode(path.read_bytes())  # BOMs honoured; bad bytes named, not raised
    if problem:
        return [(str(path), problem)]
    if path.suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            return [(str(path), f"not valid YAML: {e}")]
        if isinstance(data, dict) and "questions" in data:
            data = data["questions"]
        if not isinstance(data, list):
            return [(str(path), "expected a list of questions")]
        return [(f"{path} item {i}", rec) for i, rec in enumerate(data, 1)]
    out: list[tuple[str, Any]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append((f"{path}:{n}", json.loads(line)))
        except json.JSONDecodeError as e:
            out.append((f"{path}:{n}", f"not valid JSON: {e.msg}, column {e.colno}"))
    return out


def load_set(path: str | Path) -> EvalSet:
    root = Path(path).expanduser()
    if not root.is_dir():
        raise InputError(
            f"{root} is not a question-set folder. A set is a folder with questions.jsonl and "
            "articles.jsonl (or an articles/ folder)."
        )
    qfile = next(
        (
            root / n
            for n in ("questions.jsonl", "questions.yaml", "questions.yml")
            if (root / n).is_file()
        ),
        None,
    )
    corpus = [p for p in (root / "articles.jsonl", root / "articles") if p.exists()]
    problems: list[str] = []
    if qfile is None:
        problems.append(f"{root}: no questions.jsonl (or questions.yaml)")
    if not corpus:
        problems.append(f"{root}: no articles.jsonl or articles/ folder")
    if problems:
        raise SetError(problems)
    assert qfile is not None

    articles: dict[str, Article] = {}
    for item in load_paths(corpus):
        if isinstance(item, LoadProblem):
            problems.append(f"{item.origin}: {item.reason}")
        else:
            articles[item.id] = item

    questions: list[EvalQuestion] = []
    gold: dict[str, tuple[GoldSpan, ...]] = {}
    seen: set[str] = set()
    for where, rec in _question_records(qfile):
        if isinstance(rec, str):
            problems.append(f"{where}: {rec}")
            continue
        try:
            q = EvalQuestion.model_validate(rec)
        except ValidationError as e:
            for err in e.errors():
                field = ".".join(str(x) for x in err["loc"]) or "record"
                problems.append(f"{where}: field '{field}': {err['msg']}")
            continue
        if q.id in seen:
            problems.append(f"{where}: field 'id': duplicate id {q.id!r}")
            continue
        seen.add(q.id)
        if q.answerable and not q.evidence:
            problems.append(f"{where}: field 'evidence': an answerable question needs evidence")
        spans = []
        for i, ev in enumerate(q.evidence):
            art = articles.get(ev.article_id)
            if art is None:
                problems.append(
                    f"{where}: field 'evidence.{i}.article_id': no article {ev.article_id!r} "
                    "in the corpus"
                )
                continue
            at = art.text.find(ev.quote)
            if at < 0:
                problems.append(
                    f"{where}: field 'evidence.{i}.quote': not an exact substring of article "
                    f"{ev.article_id!r}: {ev.quote[:80]!r}"
                )
                continue
            spans.append(GoldSpan(ev.article_id, at, at + len(ev.quote)))
        gold[q.id] = tuple(spans)
        questions.append(q)
    if not questions and not problems:
        problems.append(f"{qfile}: no questions")
    if problems:
        raise SetError(problems)

    h = hashlib.sha256()
    for a in sorted(articles.values(), key=lambda a: a.id):
        h.update(f"{a.id}\x00{a.text_hash}\x00{a.title}\x00".encode())
    return EvalSet(
        name=root.name,
        path=root,
        questions=tuple(questions),
        articles=tuple(articles.values()),
        corpus_paths=tuple(corpus),
        gold=gold,
        corpus_hash=h.hexdigest()[:16],
    )
