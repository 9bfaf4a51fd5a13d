"""The answer path: rewrite → retrieve → context → generate → verify, giving a cited answer.

Each step is a method from one typed, frozen value to the next:

    Query --rewrite--> str (the standalone question) --retrieve--> Found --context--> Prompt
          --generate--> the reply, in pieces --verify--> Answer

Only generation streams. `AnswerChain.stream` is the one place that runs the steps in order:
it times them (`Timer`), yields the passages found before the model starts (`Retrieved`), the
reply's pieces as they come (`TextDelta`), then the verified `Answer`. With `second_reading`
the first verified answer comes as a `Draft` while the model reads the sentences it cited a
second time, alone (`focused`, `reread`); the `Answer` after it is the one given. `invoke` is
that stream consumed, and `runnable()` is the same stream seen as a LangChain runnable, so the
streamed, the invoked and the runnable's answers cannot drift apart: there is no second way
through.
Tools that stop before generation (context recall, the lever bench) call the first steps
themselves, or `prepare`.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from langchain_core.callbacks import CallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig

from index.split import sentence_spans
from index.store import Filters
from qa.asked import is_lower_query, tidy, truecase
from qa.cite import ABSTAIN_TEXT, ABSTAIN_TOKEN, also_stating, parse_reply, recite_within, verify
from qa.confidence import (
    Signals,
    anchors,
    check_messages,
    confidence,
    covering_articles,
    measure,
)
from qa.conflicts import conflict_sentence, find_conflicts
from qa.context import Context, build_context, sentence_cost
from qa.declined import why_declined
from qa.history import rewrite_question
from qa.llm.base import LLM, Message, ReplyFormat
from qa.prompts import prompt_messages
from qa.retrieve import HybridRetriever, Retrieval
from qa.settings import Settings
from qa.types import (
    Answer,
    AnswerSentence,
    Article,
    Citation,
    Draft,
    Retrieved,
    RetrievedChunk,
    Source,
    TextDelta,
)
from qa.when import Window, time_window

# What `AnswerChain.stream` yields, in that order (a `Draft` only when a second reading runs).
Event = Retrieved | TextDelta | Draft | Answer


# --- the values passed from step to step ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    """A question as the chain takes it: checked (see `qa.assistant.check_question`), where to
    look, and the conversation before it as (role, text) pairs, oldest first (see
    `qa.history.normalise_history`), from which a follow-up is made standalone."""

    question: str
    k: int
    filters: Filters | None = None
    as_of: date | None = None  # the day it is asked, for its time words ("this week")
    history: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Found:
    """What `retrieve` found for a query: the passages, and the period the question's time
    words name (if any), which they were preferred from and the answer is checked against."""

    query: Query
    standalone: str  # the question searched and answered (a follow-up, rewritten)
    window: Window | None
    retrieval: Retrieval


@dataclass(frozen=True, slots=True)
class Prompt:
    """What `context` made of the passages: the numbered sentences the model is shown and the
    chat messages that show them (none when no sentence was found: nothing to ask about)."""

    found: Found
    context: Context
    messages: tuple[Message, ...]

    @property
    def query(self) -> Query:
        return self.found.query

    @property
    def standalone(self) -> str:
        return self.found.standalone

    @property
    def retrieval(self) -> Retrieval:
        return self.found.retrieval

    @property
    def window(self) -> Window | None:
        return self.found.window


# --- timing -------------------------------------------------------------------------------

# Timing keys in the order they happen: `Answer.timings` lists them so, then "total".
STEPS = (
    "rewrite", "retrieve", "context", "first_token", "generate", "check", "verify",
    "first_answer", "second_reading",
)  # fmt: skip
# Keys that record a moment (time spent in steps until then), not a step: left out of "total".
MARKS = frozenset({"first_token", "first_answer"})


class Trace(Protocol):
    """Told when a step starts (its name and input); returns what to call when it ends, with
    its output or the error that ended it. The LangChain adapter reports steps as child runs
    through it; timing needs none."""

    def __call__(self, name: str, given: Any) -> Callable[[Any, BaseException | None], None]: ...


class StepRun:
    """A running step, as `Timer.step` yields it: set `output` for the trace."""

    __slots__ = ("output",)

    def __init__(self) -> None:
        self.output: Any = None


class Timer:
    """The seconds each step of one answer took, measured around the steps by the code that
    runs them, so no step times itself and every answer's timings mean the same thing.

    A step run inside another (the self-check inside verify) counts for itself, not for the
    outer one. "first_token" is the time spent in steps until the model's first piece; "total"
    is the sum of the steps (not "first_token"). Time a consumer of the stream spends between
    steps (showing the passages found) is not counted; time it spends holding a piece of the
    reply is, in "generate", since the model waits for it."""

    def __init__(
        self,
        done: Mapping[str, float] | None = None,
        trace: Trace | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """`done`: steps timed elsewhere (a replayed run's generation)."""
        self._spent: dict[str, float] = dict(done or {})
        self._running: list[tuple[str, float]] = []  # (step, since): only the last one runs
        self._trace = trace
        self._clock = clock

    @contextmanager
    def step(self, name: str, given: Any = None) -> Iterator[StepRun]:
        end = self._trace(name, given) if self._trace else None
        run = StepRun()
        now = self._clock()
        if self._running:  # the outer step pauses
            outer, since = self._running[-1]
            self._add(outer, now - since)
        self._running.append((name, now))
        try:
            yield run
        except BaseException as e:  # GeneratorExit too: a stream closed mid-reply (Stop)
            if end:
                end(None, e)
            raise
        else:
            if end:
                end(run.output, None)
        finally:
            now = self._clock()
            _, since = self._running.pop()
            self._add(name, now - since)
            if self._running:  # the outer step resumes
                self._running[-1] = (self._running[-1][0], now)

    def run(self, name: str, step: Callable[..., Any], *args: Any) -> Any:
        """`step(*args)`, timed as `name`."""
        with self.step(name, args[0] if len(args) == 1 else args) as run:
            run.output = step(*args)
        return run.output

    def timed(self, name: str, step: Callable[..., Any]) -> Callable[..., Any]:
        """`step` timed as `name` whenever it is called (for a step called from inside
        another, like the self-check)."""

        def call(*args: Any, **kwargs: Any) -> Any:
            with self.step(name) as run:
                run.output = step(*args, **kwargs)
            return run.output

        return call

    def mark(self, name: str) -> None:
        """Record under `name` the time spent in steps so far (the running one included)."""
        spent = sum(v for k, v in self._spent.items() if k not in MARKS)
        if self._running:
            spent += self._clock() - self._running[-1][1]
        self._spent[name] = spent

    def timings(self) -> dict[str, float]:
        """Every key timed, in `STEPS` order (others after), then "total"."""
        order = [k for k in STEPS if k in self._spent]
        order += [k for k in self._spent if k not in STEPS and k != "total"]
        out = {k: self._spent[k] for k in order}
        out["total"] = sum(v for k, v in out.items() if k not in MARKS)
        return out

    def add(self, name: str, seconds: float) -> None:
        """Count `seconds` spent elsewhere for `name` (a replayed run's logged step)."""
        self._add(name, seconds)

    def stamp(self, answer: Answer) -> Answer:
        return dataclasses.replace(answer, timings=self.timings())

    def _add(self, name: str, seconds: float) -> None:
        self._spent[name] = self._spent.get(name, 0.0) + seconds


# --- the chain ----------------------------------------------------------------------------


class AnswerChain:
    def __init__(
        self,
        settings: Settings,
        retriever: HybridRetriever,
        get_articles: Callable[[Sequence[str]], Mapping[str, Article]],
        count_tokens: Callable[[str], int],
        llm: LLM,
    ) -> None:
        self.settings = settings
        self.retriever = retriever
        self.get_articles = get_articles
        self.count_tokens = count_tokens
        self.llm = llm  # the backend: a model, or one without (extractive: `is_model` False)

    @property
    def backend(self) -> str:
        return self.llm.name

    @property
    def model(self) -> str:
        return self.llm.model

    # --- the one path ---------------------------------------------------------------------

    def stream(self, query: Query, *, trace: Trace | None = None) -> Iterator[Event]:
        """Answer `query`: the passages found (`Retrieved`) before generation starts, the
        reply's pieces (`TextDelta`) as the model writes them, then the verified `Answer`
        (first a `Draft` of it when a second reading follows; that reply is not streamed).
        Closing the stream mid-reply stops generation. `trace` is told of every step."""
        timer = Timer(trace=trace)
        standalone = timer.run("rewrite", self.rewrite, query)
        found = timer.run("retrieve", self.retrieve, query, standalone)
        prompt = timer.run("context", self.context, found)
        yield Retrieved(self.sources(prompt.retrieval), prompt.standalone)
        if self.gated(prompt):
            reply = ABSTAIN_TOKEN  # nothing worth asking about: no generation spent
        else:
            pieces: list[str] = []
            with timer.step("generate", prompt) as run, closing(self.generate(prompt)) as gen:
                for piece in gen:
                    if not pieces and self.llm.is_model:  # a model's, not extractive's
                        timer.mark("first_token")
                    pieces.append(piece)
                    yield TextDelta(piece)
                run.output = reply = "".join(pieces)
        judge = timer.timed("check", self.llm.judge) if self.llm.is_model else None
        answer = timer.run("verify", self.verify, prompt, reply, judge)
        reread = self.llm.is_model and self.rereads(prompt)
        focused = self.focused(prompt, answer) if reread else None
        if focused is not None:
            timer.mark("first_answer")
            yield Draft(timer.stamp(answer))
            with timer.step("second_reading", focused) as run:
                second = "".join(self.generate(focused))
                run.output = answer = self.reread(answer, focused, second, judge)
        yield timer.stamp(answer)

    def invoke(self, query: Query) -> Answer:
        """`stream` consumed: its last event."""
        return final(self.stream(query))

    def runnable(self) -> Runnable[Query, Answer]:
        """This chain as a LangChain runnable (`invoke`, `batch`, `stream`, callbacks), over
        the same `stream`; see `AnswerRunnable`."""
        return AnswerRunnable(self)

    def prepare(self, query: Query) -> Prompt:
        """rewrite, retrieve and context, untimed: what the model would be shown, for tools
        that measure retrieval and context without generating."""
        return self.context(self.retrieve(query, self.rewrite(query)))

    # --- steps ----------------------------------------------------------------------------

    def rewrite(self, query: Query) -> str:
        """The question to search and answer: a follow-up that leans on the conversation
        ("why did he go?") made standalone; otherwise the question as asked, tidied (a capital
        first letter and a question mark: `qa.asked.tidy`)."""
        if not query.history:
            return tidy(query.question)
        return tidy(rewrite_question(query.question, query.history, self.llm))

    def retrieve(self, query: Query, standalone: str) -> Found:
        """The passages for the question, and the question as answered: typed all in lower
        case, with the names the retrieved articles write capitalised (`qa.asked.truecase`),
        so the model reads "Kyrgyzstan" and the name checks find it."""
        window = time_window(standalone, query.as_of)
        retrieval = self.retriever.retrieve(
            standalone, k=query.k, filters=query.filters, prefer=window
        )
        if is_lower_query(standalone) and retrieval.chunks:
            ids = list(dict.fromkeys(rc.chunk.article_id for rc in retrieval.chunks))
            texts = [a.text for a in self.get_articles(ids).values()]
            standalone = truecase(standalone, texts)
        return Found(query, standalone, window, retrieval)

    def context(self, found: Found) -> Prompt:
        """The numbered sentences (within the context budget) and the prompt showing them."""
        chunks = self.focus(found.standalone, found.retrieval.chunks)
        leads = {}
        if self.settings.lead_sentences:
            ids = list(dict.fromkeys(rc.chunk.article_id for rc in chunks))
            leads = self.retriever.leads(ids)
        context = build_context(
            chunks,
            question_vector=found.retrieval.query_vector,
            embed=self.retriever.embedder.embed,
            stored=self.retriever.sentence_vectors,
            windows=functools.partial(self.retriever.sentence_vectors, window=True),
            window_weight=self.settings.context_window_weight,
            count_tokens=self.count_tokens,
            budget_tokens=self.budget(chunks),
            leads=leads,
            lead_sentences=self.settings.lead_sentences,
        )
        messages = (
            answer_messages(context.render(self.settings.context_layout), found.standalone)
            if context.sentences
            else []
        )
        return Prompt(found, context, tuple(messages))

    def budget(self, chunks: Sequence[RetrievedChunk]) -> int:
        """The context budget: wider when one long article holds most of the retrieved chunks
        (`long_article_chunks`), so more of that article reaches the model."""
        if self.one_long_article(chunks):
            return max(self.settings.long_context_tokens, self.settings.context_tokens)
        return self.settings.context_tokens

    def one_long_article(self, chunks: Sequence[RetrievedChunk]) -> bool:
        """Whether retrieval settled on one long article: `long_article_chunks` of the chunks
        come from it (a 280-word story has at most 3)."""
        per_article = Counter(rc.chunk.article_id for rc in chunks)
        return bool(per_article) and max(per_article.values()) >= self.settings.long_article_chunks

    def rereads(self, prompt: Prompt) -> bool:
        """Whether an answer to `prompt` is read a second time (`second_reading`)."""
        mode = self.settings.second_reading
        return mode == "always" or (
            mode == "long" and self.one_long_article(prompt.retrieval.chunks)
        )

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

    def focused(self, prompt: Prompt, answer: Answer) -> Prompt | None:
        """The prompt of a second reading: only the shown sentences the reply cites (in any
        of its sentences, also one the checks dropped: the model pointed at it as evidence)
        and their shown neighbours in the same article, under the same numbers. None when
        there is nothing to read again: an abstention, or a focus that is the whole context
        (the same prompt gives the same greedy reply). A reply withheld only because it gives
        another kind of thing than asked (`withheld_by` "kind": "its foreign minister" for
        "who") is read again: it points at the right place but took the wrong words from it.

        A 1.5B model reading ~10 sentences of several stories at times answers from the wrong
        clause of the right sentence ("who had refused to say …" for "what did he coach") or
        from a neighbour; reading the 3-6 sentences it chose, alone, it reads them better."""
        # The signals are the kept sentences' (`measure`): a reply with none kept, such as one
        # its citations do not support, never fails the kind gate alone.
        if answer.abstained and not (
            answer.signals and self.withheld_by(Signals(**answer.signals)) == ("kind",)
        ):
            return None
        cited = {(c.article_id, c.start) for s in answer.sentences for c in s.citations}
        shown = prompt.context.sentences
        keep: set[int] = set()
        for i, s in enumerate(shown):
            if (s.article_id, s.start) not in cited:
                continue
            near = (j for j in (i - 1, i, i + 1) if 0 <= j < len(shown))
            keep.update(j for j in near if shown[j].article_id == s.article_id)
        if not keep or len(keep) == len(shown):
            return None
        sentences = tuple(shown[i] for i in sorted(keep))
        used = sum(sentence_cost(s.text, self.count_tokens) for s in sentences)
        context = Context(sentences, used)  # counted as `build_context` counts its budget
        rendered = context.render(self.settings.context_layout)
        return Prompt(prompt.found, context, tuple(answer_messages(rendered, prompt.standalone)))

    def reread(
        self,
        first: Answer,
        focused: Prompt,
        reply: str,
        judge: Callable[[Sequence[Message]], float | None] | None = None,
    ) -> Answer:
        """The answer after the second reading's `reply`: its own where it passes
        verification, else the first reading's (a second reading that declines does not
        withdraw an answer: on stop 32's replies that would have withdrawn 4 right answers
        for 4 wrong ones). Either way the answer carries both replies and its tokens both
        prompts'."""
        second = self.verify(focused, reply, judge)
        tokens = {**first.tokens, "second_prompt": second.tokens.get("prompt", 0),
                  "second_completion": second.tokens.get("completion", 0)}  # fmt: skip
        chosen, reading = (first, 1) if second.abstained else (second, 2)
        return dataclasses.replace(
            chosen, raw_reply=first.raw_reply, second_reply=reply, reading=reading, tokens=tokens
        )

    def gated(self, prompt: Prompt) -> bool:
        """No context worth asking about: abstain without spending a generation."""
        return (
            not prompt.context.sentences
            or prompt.retrieval.best_similarity < self.settings.relevance_floor
        )

    def reply_format(self, prompt: Prompt) -> ReplyFormat | None:
        """What the grammar lets the model write: sentences citing the ids shown, or abstain."""
        if not self.settings.grammar:
            return None
        return ReplyFormat(
            refs=tuple(prompt.context.refs),
            max_sentences=self.settings.max_answer_sentences,
            abstain_token=ABSTAIN_TOKEN,
            min_sentences=self.settings.min_answer_sentences,
        )

    def generate(self, prompt: Prompt) -> Iterator[str]:
        """The reply in pieces as the model writes it; the extractive backend's (the source
        sentences most like the question, cited) in one piece."""
        yield from self.llm.reply(
            prompt.messages,
            prompt.context,
            fmt=self.reply_format(prompt),
            max_tokens=self.settings.max_answer_tokens,
        )

    def verify(
        self,
        prompt: Prompt,
        reply: str,
        judge: Callable[[Sequence[Message]], float | None] | None = None,
    ) -> Answer:
        """The reply checked against what it cites: the answer (without timings; the caller
        that timed the steps adds them). `judge` gives the self-check (`self_check`) its
        P(the answer answers the question); by default the chain's model's, which `stream`
        passes timed."""
        if judge is None and self.llm.is_model:
            judge = self.llm.judge
        standalone, context = prompt.standalone, prompt.context
        parsed = parse_reply(reply)
        cited_ids = list(dict.fromkeys(s.article_id for s in context.sentences))
        articles = self.get_articles(cited_ids) if not parsed.abstained else {}
        sentences = verify(
            parsed,
            context,
            articles,
            min_support=self.settings.min_support,
            max_sentences=self.settings.max_answer_sentences,
            question=standalone,
        )
        supported = [s for s in sentences if s.supported]
        declined = None
        if parsed.abstained:
            declined = "nothing_close" if self.gated(prompt) else "model"
        elif not supported:
            declined = "unsupported"
        scores = {(s.article_id, s.start): s.score for s in context.sentences}

        def signals_of(sentences: Sequence[AnswerSentence]) -> Signals:
            return measure(
                standalone,
                sentences,
                articles,
                sentence_scores=scores,
                retrieval_similarity=prompt.retrieval.best_similarity,
                window=prompt.window,
            )

        signals = signals_of(sentences)
        window = prompt.window
        if supported and self.settings.time_gate and window and signals.time_match < 1.0:
            # Cited from another week's look-alike story: the answer stands if a story of the
            # asked time states it too, and is cited from there.
            recited = recite_within(
                sentences,
                context,
                articles,
                lambda a: window.contains(a.published_at),
                min_support=self.settings.min_support,
                question=standalone,
            )
            if recited is not None:
                sentences, signals = recited, signals_of(recited)
                supported = [s for s in sentences if s.supported]
        withheld = self.withheld_by(signals) if supported else ()
        if withheld:
            declined = withheld[0]
            supported = []  # say so rather than guess
        if supported and judge is not None and self.settings.self_check:
            p_yes = judge(check_messages(standalone, sentences))
            signals = dataclasses.replace(signals, self_check=p_yes)
        conf = confidence(signals) if supported else None
        if conf is not None and conf < self.settings.min_confidence:
            declined = "confidence"
            supported = []  # less likely right than the operator accepts
        # Supported sentences gain citations (also_cite) or are followed by "Reports differ"
        # ones: the sentence list is then rebuilt once, supported first.
        extra = self.settings.also_cite or self.settings.report_conflicts
        changed = bool(supported and extra)
        if supported and self.settings.also_cite:
            supported = [
                dataclasses.replace(s, citations=(*s.citations, *also_stating(
                    s.text, s.citations, context, articles,
                    min_support=self.settings.min_support, question=standalone,
                    most=self.settings.also_cite,
                )))
                for s in supported
            ]  # fmt: skip
        if not supported:
            sentences = tuple(dataclasses.replace(s, supported=False) for s in sentences)
        elif self.settings.report_conflicts:
            cited = [c for s in supported for c in s.citations]
            shown, known = self.compared(prompt, cited, articles)
            differ = [
                AnswerSentence(conflict_sentence(cf, known), (cf.first, cf.second), True, 1.0)
                for cf in find_conflicts(cited, shown, known)
            ]
            supported += differ
        if changed:
            sentences = (*supported, *(s for s in sentences if not s.supported))
        abstained = not supported
        text = ABSTAIN_TEXT if abstained else " ".join(s.text for s in supported)
        if abstained and not looks_english(standalone):
            text += f" {NOT_ENGLISH_NOTE}"
        declined = (declined or "unsupported") if abstained else None
        detail = ""
        if declined:
            detail = why_declined(declined, standalone, sentences, articles, window=prompt.window)
        prompt_tokens = sum(self.count_tokens(m["content"]) for m in prompt.messages)
        return Answer(
            question=prompt.query.question,
            text=text,
            sentences=tuple(sentences),
            abstained=abstained,
            sources=self.sources(prompt.retrieval),
            standalone_question=standalone,
            backend=self.backend,
            model=self.model,
            tokens={
                "prompt": prompt_tokens if self.llm.is_model else 0,
                "completion": self.count_tokens(reply) if self.llm.is_model else 0,
                "context": context.tokens,
            },
            raw_reply=reply,
            confidence=None if abstained else conf,
            signals=signals.as_dict(),
            declined=declined,
            declined_detail=detail,
        )

    def withheld_by(self, signals: Signals) -> tuple[str, ...]:
        """The gates a supported answer fails, by name: "anchors" (the cited articles, or the
        one the answer's figure comes from, lack a name or number the question asks about),
        "time" (they are from outside the time the question names), "kind" (the answer gives
        another kind of thing than asked: a place for "when", a role for "who")."""
        s = self.settings
        failed = (
            (
                "anchors",
                min(signals.anchor_coverage, signals.answer_source) < s.min_anchor_coverage,
            ),
            ("time", s.time_gate and signals.time_match < 1.0),
            ("kind", s.kind_gate and signals.answer_kind < 1.0),
        )
        return tuple(name for name, fails in failed if fails)

    def compared(
        self, prompt: Prompt, cited: Sequence[Citation], articles: Mapping[str, Article]
    ) -> tuple[list[tuple[str, int, int, str]], Mapping[str, Article]]:
        """What a cited figure is compared with for conflicting reports: the shown sentences,
        and every sentence of the other outlets' copies folded into a cited article (an
        agency story updated by one paper, 17 dead become 23, is a copy: never shown)."""
        shown = [(n.article_id, n.start, n.end, n.text) for n in prompt.context.sentences]
        ids = {c.article_id for c in cited}
        copy_ids = [x for rc in prompt.retrieval.chunks if rc.chunk.article_id in ids
                    for x in rc.copies]  # fmt: skip
        if not copy_ids:
            return shown, articles
        copies = self.get_articles(list(dict.fromkeys(copy_ids)))
        for a in copies.values():
            shown += [(a.id, sp.start, sp.end, a.text[sp.start : sp.end])
                      for sp in sentence_spans(a.text)]  # fmt: skip
        return shown, {**articles, **copies}

    @staticmethod
    def sources(retrieval: Retrieval) -> tuple[Source, ...]:
        """The retrieved passages, best first."""
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
            for rc in retrieval.chunks
        )


def final(events: Iterable[Event]) -> Answer:
    """The `Answer` a stream of events ends with (the stream consumed)."""
    answer = None
    for event in events:
        answer = event
    if not isinstance(answer, Answer):
        raise RuntimeError(f"The answer stream ended with {answer!r}, not an Answer.")
    return answer


# --- LangChain ------------------------------------------------------------------------------


class AnswerRunnable(Runnable[Query, Answer]):
    """An `AnswerChain` as a LangChain runnable: an adapter over `AnswerChain.stream`, not a
    second path. `invoke` gives the `Answer`; `stream` yields the chain's events (`Retrieved`,
    `TextDelta`s, then the `Answer`); each step (rewrite, retrieve, context, generate, verify,
    check) is reported to LangChain callbacks as a child run, with its input and output."""

    def __init__(self, chain: AnswerChain) -> None:
        self.chain = chain
        self.name = f"citeqa_answer[{chain.backend}]"

    def invoke(self, input: Query, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        return self._call_with_config(self._answer, input, config)

    def stream(
        self, input: Query, config: RunnableConfig | None = None, **kwargs: Any | None
    ) -> Iterator[Any]:
        """The chain's events; the run's output, for callbacks, is the last one (the Answer)."""
        return self.transform(iter([input]), config, **kwargs)

    def transform(
        self, input: Iterator[Query], config: RunnableConfig | None = None, **kwargs: Any | None
    ) -> Iterator[Any]:
        yield from self._transform_stream_with_config(input, self._events, config)

    def _answer(self, query: Query, run_manager: CallbackManagerForChainRun) -> Answer:
        return final(self.chain.stream(query, trace=_child_runs(run_manager)))

    def _events(
        self, queries: Iterator[Query], run_manager: CallbackManagerForChainRun
    ) -> Iterator[Event]:
        for query in queries:
            yield from self.chain.stream(query, trace=_child_runs(run_manager))


def _child_runs(run_manager: CallbackManagerForChainRun) -> Trace:
    """A `Trace` reporting each step as a child run of `run_manager`'s run."""

    def start(name: str, given: Any) -> Callable[[Any, BaseException | None], None]:
        child = run_manager.get_child().on_chain_start(None, {"input": given}, name=name)

        def end(output: Any, error: BaseException | None) -> None:
            if error is None:
                child.on_chain_end({"output": output})
            else:
                child.on_chain_error(error)

        return end

    return start


# --- wording --------------------------------------------------------------------------------

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
