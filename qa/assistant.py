"""`Assistant`: the one façade the CLI, the UI and the eval harness all use.

Heavy parts (embedding model, LLM) load once per Assistant and are shared by every call; the
LLM loads on the first question, so ingesting never pays for it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.dates import DateOrder, ReadDate, read_date
from index.embed import Embedder
from index.ingest import Indexer, sweep_if_idle
from index.load import LoadProblem, count_items, load_paths
from index.lock import IngestLock
from index.store import ChromaStore, Filters, index_exists, no_index_error
from qa.errors import InputError, NotFoundError
from qa.history import History, normalise_history
from qa.llm.base import LLM
from qa.retrieve import HybridRetriever
from qa.settings import Settings
from qa.tokens import TokenCounter
from qa.types import Answer, Article, Draft, IngestReport, Retrieved, TextDelta

if TYPE_CHECKING:
    # The chain imports LangChain (~0.7 s on 2 cores): only asking needs it, so its module
    # is imported by the methods that ask, never to list or remove articles (issue 17).
    from qa.answer import AnswerChain, Query

MAX_QUESTION_CHARS = 2000
MAX_TITLE_CHARS = 300
MAX_SOURCE_CHARS = 120
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


def check_question(question: Any) -> str:
    if not isinstance(question, str):
        raise InputError(f"The question must be text, got {type(question).__name__}.")
    # Terminal escape sequences (colours pasted from a shell) go whole: dropping only the ESC
    # byte left "[31m" in the question, which changed the answer.
    question = _ANSI.sub(" ", question)
    q = " ".join("".join(ch if ch.isprintable() else " " for ch in question).split())
    if not q:
        raise InputError("The question is empty. Type a question about the articles.")
    if not re.search(r"\w", q):
        raise InputError("The question has no words in it (only punctuation or symbols).")
    if len(q) > MAX_QUESTION_CHARS:
        raise InputError(
            f"The question is {len(q):,} characters long; the limit is {MAX_QUESTION_CHARS:,}. "
            "Ask a shorter question."
        )
    return q


def check_details(title: Any, source: Any, published: Any) -> tuple[str, str | None, date | None]:
    """An article's details as a person typed them, checked: (title, source or None, day or
    None). Spaces are tidied; an empty source or date means the article has none. A date must
    be written YYYY-MM-DD (or be a `date`): it is stored as that day, and the message for
    another form says how to write it, with the reader's own date rewritten when it can be
    read without guessing (14/03/2024 -> 2024-03-14)."""
    if not isinstance(title, str) or not " ".join(title.split()):
        raise InputError("The title is empty. Every article needs a title: type one.")
    title = " ".join(title.split())
    if len(title) > MAX_TITLE_CHARS:
        raise InputError(
            f"The title is {len(title):,} characters long; the limit is {MAX_TITLE_CHARS}. "
            "Shorten it."
        )
    if source is not None and not isinstance(source, str):
        raise InputError(f"The source must be text, got {type(source).__name__}.")
    source = " ".join((source or "").split()) or None
    if source is not None and len(source) > MAX_SOURCE_CHARS:
        raise InputError(
            f"The source is {len(source):,} characters long; the limit is {MAX_SOURCE_CHARS}. "
            "Give the outlet's name only."
        )
    return title, source, _check_day(published)


def _check_day(published: Any) -> date | None:
    """The day `published` names (None: no date), or an InputError saying how to write it."""
    if published is None or isinstance(published, date):
        return published
    text = str(published).strip()
    if not text:
        return None
    if _ISO_DAY.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise InputError(
                f"The date {text!r} does not exist (check the month and the day). Write it as "
                "YYYY-MM-DD, like 2024-03-14."
            ) from None
    raise InputError(
        f"The date {text!r} is not in the form YYYY-MM-DD (year, month, day): "
        f"{_rewrite_hint(text)}, or leave it empty if the article has no date."
    )


def _rewrite_hint(text: str) -> str:
    """How to write `text` as YYYY-MM-DD: the date itself when it can be read, both readings
    when day and month could swap (03/04/2024), else an example."""
    readings = []
    orders: tuple[DateOrder, ...] = ("MDY", "DMY")
    for order in orders:
        read = read_date(text, order=order)
        if isinstance(read, ReadDate):
            readings.append(datetime.fromtimestamp(read.epoch, UTC).date().isoformat())
    readings = list(dict.fromkeys(readings))
    if len(readings) == 1:
        return f"write it as {readings[0]}"
    if readings:
        return f"write it as {' or '.join(readings)}, whichever is meant"
    return "write it like 2024-03-14 (for 14 March 2024)"


class Assistant:
    def __init__(
        self,
        settings: Settings,
        *,
        create: bool = True,
        embedder: Embedder | None = None,
        load_embedder: bool = True,
    ) -> None:
        """`create=False` is for read commands (ask, articles, remove): a data dir without an
        index is then a `NoIndexError` naming the likely typo, nothing is created, and the
        store is not swept: only an open for writing clears an interrupted ingest's leftovers
        (the writes themselves sweep again, under the ingest lock), so reading never writes.
        `embedder` replaces the packaged embedding model (the unit tests pass a stub with its
        interface, so a whole question runs without loading a model). `load_embedder=False`
        loads the embedding model at its first use instead of now: for commands that only
        list or remove articles (it brings in transformers and torch, ~1.2 s on 2 cores)."""
        self.settings = settings
        if not create and settings.chroma_url is None and not index_exists(settings.data_dir):
            raise no_index_error(settings.data_dir)  # before loading any model: fails fast
        self.embedder = embedder or Embedder(
            batch_size=settings.embed_batch_size,
            backend=settings.embed_backend,
            cache_dir=settings.cache_dir,
            load=load_embedder,
        )
        self.store = ChromaStore(
            settings.data_dir,
            chroma_url=settings.chroma_url,
            name=settings.collection,
            vectors=self.embedder.family,
            create=create,
        )
        if create:  # leftovers of an interrupted ingest (tests/qa/test_open.py)
            sweep_if_idle(self.store, settings.data_dir)
        self.indexer = Indexer(
            self.store,
            self.embedder,
            chunk_tokens=settings.chunk_tokens,
            overlap_sentences=settings.chunk_overlap_sentences,
        )
        self.retriever = HybridRetriever(
            self.store,
            self.embedder,
            index_path=settings.data_dir / "search" / f"{settings.collection}.npz",
            candidates=settings.candidates,
            rrf_k=settings.rrf_k,
            sentence_fusion=settings.sentence_fusion,
            copy_threshold=settings.copy_threshold,
            recent_lead_days=settings.recent_lead_days,
        )
        self.count_tokens = TokenCounter(settings.cache_dir)
        self._llms: dict[str, LLM] = {}
        self._llm_lock = threading.Lock()
        # (change marker, each article's (source, date)): what `article_count` counts from.
        self._tally: tuple[str | None, tuple[tuple[str | None, float | None], ...]] | None = None
        self._tally_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        data_dir: str | Path | None = None,
        settings: Settings | None = None,
        *,
        create: bool = True,
        **overrides: Any,
    ) -> Assistant:
        """Open (or create) the index in `data_dir`; `overrides` are Settings fields. With
        `create=False` a missing index is an error instead of a new empty one."""
        if settings is None:
            settings = Settings.load(data_dir=data_dir, **overrides)
        elif data_dir is not None or overrides:
            settings = settings.model_copy(
                update={"data_dir": Path(data_dir), **overrides} if data_dir else overrides
            )
        return cls(settings, create=create)

    # --- articles -------------------------------------------------------------------------

    def add(
        self,
        items: Iterable[str | Path | Article] | str | Path,
        *,
        progress: bool = False,
        replace: bool = False,
        follow_links: bool = False,
        fetch_links: bool = False,
    ) -> IngestReport:
        """Ingest files, folders or `Article`s; bad ones are reported, good ones kept.

        An article never silently replaces another source's article that has the same id: it
        is added under a qualified id and the report says so; `replace=True` updates instead.
        Links out of an ingested folder are skipped unless `follow_links`. A URL is fetched
        (a page, or a feed whose items' pages are fetched too with `fetch_links`)."""
        if isinstance(items, str | Path):
            items = [items]
        items = list(items)
        paths = [i for i in items if not isinstance(i, Article)]
        total = count_items(paths) + (len(items) - len(paths)) if progress else None

        def loaded() -> Iterator[Article | LoadProblem]:
            for item in items:
                if isinstance(item, Article):
                    yield item
                else:
                    yield from load_paths(
                        [item],
                        follow_links=follow_links,
                        date_order=self.settings.date_order,
                        fetch_links=fetch_links,
                    )

        with self._write_lock():  # one writer per data dir; waits for another process
            self.store.sweep_orphans()  # a crashed writer's leftovers, never a live one's
            report = self.indexer.add(loaded(), progress=progress, replace=replace, total=total)
        if report.count("added") or report.count("replaced"):
            self.retriever.invalidate()
        return report

    def articles(self) -> list[dict[str, Any]]:
        return self.store.list_articles()

    def get_article(self, article_id: str) -> Article:
        article = self.store.get_article(article_id)
        if article is None:
            raise NotFoundError(f"No article with id {article_id!r}. See `citeqa articles`.")
        return article

    def _write_lock(self) -> IngestLock:
        return IngestLock(self.settings.data_dir, timeout=self.settings.ingest_lock_timeout)

    def remove(self, article_id: str) -> None:
        with self._write_lock():
            existed = self.store.delete_article(article_id)
        if not existed:
            raise NotFoundError(f"No article with id {article_id!r}. See `citeqa articles`.")
        self.retriever.invalidate()

    def edit_article(
        self, article_id: str, *, title: str, source: str | None, published: str | date | None
    ) -> Article:
        """Give an ingested article a new title, source and date, in the index (its record
        and every chunk, so filters, passages and the answer's source cards use them; a new
        title re-embeds its chunks, see `Indexer.edit_details`). All three are set: pass the
        current value to keep one; an empty source or date removes it. `published` is a
        `date` or YYYY-MM-DD (anything else is an `InputError` saying how to write it); a day
        equal to the stored one keeps the stored time of day. Returns the article as stored."""
        title, source, day = check_details(title, source, published)
        with self._write_lock():
            current = self.store.get_article(article_id)
            if current is None:
                raise NotFoundError(f"No article with id {article_id!r}. See `citeqa articles`.")
            published_at = _day_start(day) if day is not None else None
            if day is not None and current.published_at is not None:
                if datetime.fromtimestamp(current.published_at, UTC).date() == day:
                    published_at = current.published_at
            self.indexer.edit_details(
                article_id, title=title, source=source, published_at=published_at
            )
        self.retriever.invalidate()
        return self.get_article(article_id)

    def article_count(self, filters: Filters | None = None) -> int:
        """How many articles a question with `filters` searches (the page's "Searching 3
        articles…", said at every question). The article records are read again only when the
        index changed since the last count, by any process (Chroma's change marker: one small
        read); reading every record at every question was a hot path of the page."""
        generation = self.store.generation()  # before the records, as SearchIndex.sync does
        with self._tally_lock:
            if self._tally is None or self._tally[0] != generation:
                held = tuple((a.get("source"), a.get("published_at")) for a in self.articles())
                self._tally = (generation, held)
            held = self._tally[1]
        if not filters:
            return len(held)
        return sum(1 for source, published_at in held if filters.admits(source, published_at))

    def as_retriever(self, *, k: int | None = None, filters: Filters | None = None):
        """A LangChain `BaseRetriever` over this index."""
        from qa.langchain_retriever import CiteqaRetriever

        return CiteqaRetriever(hybrid=self.retriever, k=k or self.settings.k, filters=filters)

    # --- questions ------------------------------------------------------------------------

    def llm(self, backend: str | None = None) -> LLM:
        from qa.answer import warm
        from qa.llm import make_llm

        name = backend or self.settings.backend
        with self._llm_lock:
            if name not in self._llms:
                llm = make_llm(name, self.settings)
                if llm.is_model:
                    warm(llm)
                self._llms[name] = llm
            return self._llms[name]

    def chain(self, backend: str | None = None) -> AnswerChain:
        from qa.answer import AnswerChain

        return AnswerChain(
            self.settings,
            self.retriever,
            self.store.get_articles,
            self.count_tokens,
            self.llm(backend),
        )

    def query(
        self,
        question: str,
        history: History | None = None,
        filters: Filters | None = None,
        *,
        k: int | None = None,
        as_of: date | None = None,
    ) -> Query:
        """The chain's input for these arguments of `ask`: the question checked (an
        `InputError` says what is wrong with it), the history as a transcript, k defaulted.
        Public so tools that run the chain's first steps themselves ask what `ask` asks."""
        from qa.answer import Query

        return Query(
            check_question(question),
            k=k or self.settings.k,
            filters=filters,
            as_of=as_of,
            history=tuple(normalise_history(history)),
        )

    def ask(
        self,
        question: str,
        history: History | None = None,
        filters: Filters | None = None,
        *,
        k: int | None = None,
        backend: str | None = None,
        as_of: date | None = None,
    ) -> Answer:
        """Answer `question`: `stream` consumed. `as_of` is the day it is asked (default
        today): time words in it ("this week", "in March") prefer articles published then."""
        from qa.answer import final

        return final(self.stream(question, history, filters, k=k, backend=backend, as_of=as_of))

    def stream(
        self,
        question: str,
        history: History | None = None,
        filters: Filters | None = None,
        *,
        k: int | None = None,
        backend: str | None = None,
        as_of: date | None = None,
    ) -> Iterator[Retrieved | TextDelta | Draft | Answer]:
        """Yields the `Retrieved` passages as soon as retrieval is done, `TextDelta`s as the
        model writes, then the verified `Answer` (after a `Draft` of it when the model reads
        the sentences it cited a second time: `second_reading`)."""
        chain = self.chain(backend)
        yield from chain.stream(self.query(question, history, filters, k=k, as_of=as_of))

    def close(self) -> None:
        for llm in self._llms.values():
            llm.close()
        self._llms.clear()
        self.retriever.close()

    def __enter__(self) -> Assistant:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _day_start(day: date) -> float:
    """The first second of `day`, UTC, as the index stores dates."""
    return datetime.combine(day, datetime.min.time(), UTC).timestamp()


__all__ = ["Assistant", "Filters", "check_details", "check_question"]
