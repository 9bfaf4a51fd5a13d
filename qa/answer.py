"""The answer chain: question → retrieval → numbered context → reply → verified, cited answer.

It is a LangChain runnable (`AnswerChain.runnable()`), built from the same step functions that
`stream` uses, so the streamed and the invoked answer go through identical checks.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda

from index.split import sentence_spans
from index.store import Filters
from qa.cite import ABSTAIN_TEXT, ABSTAIN_TOKEN, also_stating, parse_reply, verify
from qa.confidence import anchors, check_messages, confidence, covering_articles, measure
from qa.conflicts import conflict_sentence, find_conflicts
from qa.context import Context, build_context
from qa.extractive import extractive_reply
from qa.llm.base import LLM, ReplyFormat
from qa.prompts import prompt_messages
from qa.retrieve import HybridRetriever, Retrieval
from qa.settings import Settings
from qa.types import (
    Answer,
    AnswerSentence,
    Article,
    Citation,
    Retrieved,
    RetrievedChunk,
    Source,
    TextDelta,
)
from qa.when import Window, time_window


@dataclass(slots=True)
class Turn:
    """Everything one question accumulates on its way through the chain."""

    question: str
    standalone: str
    k: int
    filters: Filters | None
    as_of: date | None = None  # the question's date, for its time words ("this week")
    window: Window | None = None  # the period those words name, if any
    retrieval: Retrieval | None = None
    context: Context | None = None
    messages: list[dict[str, str]] = field(default_factory=list)
    reply: str = ""
    timings: dict[str, float] = field(default_factory=dict)


class AnswerChain:
    def __init__(
        self,
        settings: Settings,
        retriever: HybridRetriever,
        get_articles: Callable[[Sequence[str]], Mapping[str, Article]],
        count_tokens: Callable[[str], int],
        llm: LLM | None,
    ) -> None:
        self.settings = settings
        self.retriever = retriever
        self.get_articles = get_articles
        self.count_tokens = count_tokens
        self.llm = llm  # None: the extractive backend

    @property
    def backend(self) -> str:
        return self.llm.name if self.llm else "extractive"

    @property
    def model(self) -> str:
        return self.llm.model if self.llm else "extractive"

    # --- steps ----------------------------------------------------------------------------

    def prepare(self, turn: Turn) -> Turn:
        t0 = time.perf_counter()
        turn.window = time_window(turn.standalone, turn.as_of)
        turn.retrieval = self.retriever.retrieve(
            turn.standalone, k=turn.k, filters=turn.filters, prefer=turn.window
        )
        t1 = time.perf_counter()
        chunks = self.focus(turn.standalone, turn.retrieval.chunks)
        leads = {}
        if self.settings.lead_sentences:
            ids = list(dict.fromkeys(rc.chunk.article_id for rc in chunks))
            leads = self.retriever.leads(ids)
        turn.context = build_context(
            chunks,
            question_vector=turn.retrieval.query_vector,
            embed=self.retriever.embedder.embed,
            stored=self.retriever.sentence_vectors,
            count_tokens=self.count_tokens,
            budget_tokens=self.budget(chunks),
            leads=leads,
            lead_sentences=self.settings.lead_sentences,
        )
        if turn.context.sentences:
            turn.messages = answer_messages(turn.context.render(), turn.standalone)
        turn.timings["retrieve"] = t1 - t0
        turn.timings["context"] = time.perf_counter() - t1
        return turn

    def budget(self, chunks: Sequence[RetrievedChunk]) -> int:
        """The context budget: wider when one long article holds most of the retrieved chunks
        (`long_article_chunks`), so more of that article reaches the model."""
        per_article = Counter(rc.chunk.article_id for rc in chunks)
        if per_article and max(per_article.values()) >= self.settings.long_article_chunks:
            return max(self.settings.long_context_tokens, self.settings.context_tokens)
        return self.settings.context_tokens

    def focus(self, question: str, chunks: Sequence[RetrievedChunk]) -> Sequence[RetrievedChunk]:
        """The retrieved chunks the context is drawn from: those of the articles that hold all
        the question's names and numbers, when some do (`anchor_focus`); else all of them."""
        if not self.settings.anchor_focus or not anchors(question):
            return chunks
        ids = list(dict.fromkeys(rc.chunk.article_id for rc in chunks))
        keep = covering_articles(question, self.get_articles(ids))
        if not keep:
            return chunks
        return [rc for rc in chunks if rc.chunk.article_id in keep]

    def _gated(self, turn: Turn) -> bool:
        """No context worth asking about: abstain without spending a generation."""
        assert turn.retrieval is not None and turn.context is not None
        return (
            not turn.context.sentences
            or turn.retrieval.best_similarity < self.settings.relevance_floor
        )

    def reply_format(self, turn: Turn) -> ReplyFormat | None:
        """What the grammar lets the model write: sentences citing the ids shown, or abstain."""
        if not self.settings.grammar or turn.context is None:
            return None
        return ReplyFormat(
            refs=tuple(turn.context.refs),
            max_sentences=self.settings.max_answer_sentences,
            abstain_token=ABSTAIN_TOKEN,
        )

    def generate_stream(self, turn: Turn) -> Iterator[str]:
        assert turn.context is not None
        if self._gated(turn):
            turn.reply = ABSTAIN_TOKEN
            return
        t0 = time.perf_counter()
        if self.llm is None:
            turn.reply = extractive_reply(
                turn.context,
                min_score=self.settings.extractive_min_score,
                max_sentences=self.settings.max_answer_sentences,
            )
            yield turn.reply
        else:
            pieces: list[str] = []
            for piece in self.llm.stream(
                turn.messages,
                fmt=self.reply_format(turn),
                max_tokens=self.settings.max_answer_tokens,
            ):
                if not pieces:  # from the question's arrival, as the user waits for it
                    steps = ("rewrite", "retrieve", "context")
                    before = sum(turn.timings.get(k, 0.0) for k in steps)
                    turn.timings["first_token"] = before + time.perf_counter() - t0
                pieces.append(piece)
                yield piece
            turn.reply = "".join(pieces)
        turn.timings["generate"] = time.perf_counter() - t0

    def generate(self, turn: Turn) -> Turn:
        for _ in self.generate_stream(turn):
            pass
        return turn

    def finish(self, turn: Turn) -> Answer:
        assert turn.retrieval is not None and turn.context is not None
        t0 = time.perf_counter()
        parsed = parse_reply(turn.reply)
        cited_ids = list(dict.fromkeys(s.article_id for s in turn.context.sentences))
        articles = self.get_articles(cited_ids) if not parsed.abstained else {}
        sentences = verify(
            parsed,
            turn.context,
            articles,
            min_support=self.settings.min_support,
            max_sentences=self.settings.max_answer_sentences,
            question=turn.standalone,
        )
        supported = [s for s in sentences if s.supported]
        signals = measure(
            turn.standalone,
            sentences,
            articles,
            sentence_scores={(s.article_id, s.start): s.score for s in turn.context.sentences},
            retrieval_similarity=turn.retrieval.best_similarity,
            window=turn.window,
        )
        if supported and (
            min(signals.anchor_coverage, signals.answer_source) < self.settings.min_anchor_coverage
            or (self.settings.time_gate and signals.time_match < 1.0)
            or (self.settings.kind_gate and signals.answer_kind < 1.0)
        ):
            # The cited articles (or the one the answer's figure comes from) lack a name or
            # number the question asks about, are from outside the time the question names, or
            # the answer gives another kind of thing than asked: say so rather than guess.
            supported = []
        if supported and self.llm is not None and self.settings.self_check:
            t1 = time.perf_counter()
            p_yes = self.llm.judge(check_messages(turn.standalone, sentences))
            signals = dataclasses.replace(signals, self_check=p_yes)
            turn.timings["check"] = time.perf_counter() - t1
        conf = confidence(signals) if supported else None
        if conf is not None and conf < self.settings.min_confidence:
            supported = []  # less likely right than the operator accepts
        # Supported sentences gain citations (also_cite) or are followed by "Reports differ"
        # ones: the sentence list is then rebuilt once, supported first.
        extra = self.settings.also_cite or self.settings.report_conflicts
        changed = bool(supported and extra)
        if supported and self.settings.also_cite:
            supported = [
                dataclasses.replace(s, citations=(*s.citations, *also_stating(
                    s.text, s.citations, turn.context, articles,
                    min_support=self.settings.min_support, question=turn.standalone,
                    most=self.settings.also_cite,
                )))
                for s in supported
            ]  # fmt: skip
        if not supported:
            sentences = tuple(dataclasses.replace(s, supported=False) for s in sentences)
        elif self.settings.report_conflicts:
            cited = [c for s in supported for c in s.citations]
            shown, known = self.compared(turn, cited, articles)
            differ = [
                AnswerSentence(conflict_sentence(cf, known), (cf.first, cf.second), True, 1.0)
                for cf in find_conflicts(cited, shown, known)
            ]
            supported += differ
        if changed:
            sentences = (*supported, *(s for s in sentences if not s.supported))
        abstained = not supported
        text = ABSTAIN_TEXT if abstained else " ".join(s.text for s in supported)
        if abstained and not looks_english(turn.standalone):
            text += f" {NOT_ENGLISH_NOTE}"
        turn.timings["verify"] = time.perf_counter() - t0 - turn.timings.get("check", 0.0)
        turn.timings["total"] = sum(
            v for key, v in turn.timings.items() if key not in ("first_token", "total")
        )
        sources = self.sources(turn)
        prompt_tokens = sum(self.count_tokens(m["content"]) for m in turn.messages)
        return Answer(
            question=turn.question,
            text=text,
            sentences=tuple(sentences),
            abstained=abstained,
            sources=sources,
            standalone_question=turn.standalone,
            backend=self.backend,
            model=self.model,
            timings=dict(turn.timings),
            tokens={
                "prompt": prompt_tokens if self.llm else 0,
                "completion": self.count_tokens(turn.reply) if self.llm else 0,
                "context": turn.context.tokens,
            },
            raw_reply=turn.reply,
            confidence=None if abstained else conf,
            signals=signals.as_dict(),
        )

    def compared(
        self, turn: Turn, cited: Sequence[Citation], articles: Mapping[str, Article]
    ) -> tuple[list[tuple[str, int, int, str]], Mapping[str, Article]]:
        """What a cited figure is compared with for conflicting reports: the shown sentences,
        and every sentence of the other outlets' copies folded into a cited article (an
        agency story updated by one paper, 17 dead become 23, is a copy: never shown)."""
        assert turn.retrieval is not None and turn.context is not None
        shown = [(n.article_id, n.start, n.end, n.text) for n in turn.context.sentences]
        ids = {c.article_id for c in cited}
        copy_ids = [x for rc in turn.retrieval.chunks if rc.chunk.article_id in ids
                    for x in rc.copies]  # fmt: skip
        if not copy_ids:
            return shown, articles
        copies = self.get_articles(list(dict.fromkeys(copy_ids)))
        for a in copies.values():
            shown += [(a.id, sp.start, sp.end, a.text[sp.start : sp.end])
                      for sp in sentence_spans(a.text)]  # fmt: skip
        return shown, {**articles, **copies}

    @staticmethod
    def sources(turn: Turn) -> tuple[Source, ...]:
        """The retrieved passages, best first."""
        assert turn.retrieval is not None
        return tuple(
            Source(
                article_id=rc.chunk.article_id,
                title=rc.chunk.title,
                chunk_id=rc.chunk.id,
                start=rc.chunk.start,
                end=rc.chunk.end,
                score=rc.score,
                text=rc.chunk.text,
                also_published_by=rc.also_published_by,
            )
            for rc in turn.retrieval.chunks
        )

    # --- entry points ---------------------------------------------------------------------

    def runnable(self) -> Runnable[Turn, Answer]:
        """prepare (retrieve + numbered context + prompt) | LLM | verify, as LangChain runnables."""
        return (
            RunnableLambda(self.prepare, name="retrieve_and_prompt")
            | RunnableLambda(self.generate, name=f"generate[{self.backend}]")
            | RunnableLambda(self.finish, name="verify_citations")
        )

    def invoke(self, turn: Turn) -> Answer:
        return self.runnable().invoke(turn)

    def stream(self, turn: Turn) -> Iterator[Retrieved | TextDelta | Answer]:
        self.prepare(turn)
        yield Retrieved(self.sources(turn), turn.standalone)
        for piece in self.generate_stream(turn):
            yield TextDelta(piece)
        yield self.finish(turn)


NOT_ENGLISH_NOTE = (
    "(The question does not look like English: citeqa's embedding model and local LLM are "
    "English-first, so a question in another language often finds nothing. Try asking in English.)"
)
_ENGLISH = frozenset(
    "the an is are was were what who whom why how did does do when where which of in on to "
    "and for with from by at has have will would can could should this that".split()
)


def looks_english(question: str) -> bool:
    """Mostly Latin letters and at least one common English word (for three or more words)."""
    letters = [c for c in question if c.isalpha()]
    if letters and sum(c.isascii() for c in letters) / len(letters) < 0.6:
        return False
    words = re.findall(r"[a-z']+", question.lower())
    return len(words) < 3 or any(w in _ENGLISH for w in words)


def answer_messages(context: str, question: str) -> list[dict[str, str]]:
    """The answer prompt (prompts/answer.yaml) filled in, as chat messages."""
    return prompt_messages("answer", context=context, question=question)


def warm(llm: LLM) -> None:
    """Let the model evaluate the answer prompt's fixed prefix now, before the first question."""
    llm.warm([answer_messages("[S1] A.", "Q?"), answer_messages("Article: B\n[S2] C.", "R?")])


def new_turn(
    question: str,
    standalone: str,
    *,
    k: int,
    filters: Filters | None,
    as_of: date | None = None,
    **timings: Any,
) -> Turn:
    return Turn(question, standalone, k, filters, as_of=as_of, timings=dict(timings))
