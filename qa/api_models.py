"""Request and response models of the HTTP API (qa/api.py), so `/docs` describes every field.

Our own endpoints forbid unknown fields (a misspelt `filter` is a 400 naming it, not a silently
unfiltered answer); the OpenAI-compatible ones accept and ignore the many options OpenAI clients
send (`temperature`, `max_tokens`, ...), which mean nothing to a cited-quote answerer.

Only pydantic and the standard library are imported here: no model loads when this is imported.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from qa.llm import registry
from qa.settings import K_MAX


def _registered(name: str) -> str:
    problem = registry.problem(name)
    if problem:  # a custom error: its message reaches the client without "Value error, "
        raise PydanticCustomError("unknown_backend", "{problem}", {"problem": problem})
    return name


# A name in qa.llm.registry, checked when a request arrives (a plugin's too); /docs lists the
# names offered when the server started (the hidden test double is accepted, not listed).
Backend = Annotated[
    str,
    AfterValidator(_registered),
    WithJsonSchema({"type": "string", "enum": list(registry.names())}),
]
MODEL_ID = "citeqa"  # the one model /v1/models lists

# --- shared --------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    type: str = Field(description="invalid_request, unauthorized, not_found, too_large, busy, …")
    message: str = Field(description="What was wrong and how to fix it.")


class ErrorOut(BaseModel):
    """Every error, whatever its status: `{"error": {"type", "message"}}`."""

    error: ErrorBody


class FiltersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Only articles from these sources (case-insensitive), e.g. ['AFP'].",
    )
    after: str | None = Field(
        None,
        description="Only articles published on/after this ISO 8601 date or time (UTC unless "
        "it has an offset; a date alone counts from its start).",
        examples=["2023-10-01"],
    )
    before: str | None = Field(
        None,
        description="Only articles published on/before this ISO 8601 date or time (a date "
        "alone includes the whole day).",
        examples=["2023-12-31"],
    )


class HistoryMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str


class AnswerOptions(BaseModel):
    """Options of one question, shared by /v1/answers and (as extra body fields) by
    /v1/chat/completions."""

    k: int | None = Field(None, ge=1, le=K_MAX, description=f"Chunks to retrieve, 1–{K_MAX}.")
    filters: FiltersIn | None = None
    as_of: date | None = Field(
        None,
        description="The day the question is asked (YYYY-MM-DD, default today): time words "
        "such as 'this week' prefer articles published then.",
    )
    backend: Backend | None = Field(None, description="Default: the server's backend.")


# --- /v1/answers ---------------------------------------------------------------------------


class AnswerRequest(AnswerOptions):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(examples=["Why did Pashinyan skip the summit?"])
    history: list[HistoryMessage] = Field(
        default_factory=list,
        max_length=200,
        description="Earlier turns, oldest first; a follow-up question is rewritten with them.",
    )
    stream: bool = Field(
        False,
        description="Server-sent events instead of one JSON object (also with "
        "`Accept: text/event-stream`): `sources` (what retrieval found, before the model "
        "starts), `delta`…, then `retracted` if needed, then `answer`.",
    )


class CitationOut(BaseModel):
    article_id: str
    title: str
    start: int = Field(description="Offset of the quote in the article's text (characters).")
    end: int = Field(description="End offset, exclusive: quote == text[start:end].")
    quote: str
    ref: str = Field("", description="The context id the model cited, e.g. 'S4'.")


class SentenceOut(BaseModel):
    text: str
    supported: bool = Field(description="False: dropped, its quotes do not support it.")
    support: float = Field(description="Share of its key words found in what it cites (0–1).")
    citations: list[CitationOut]


class SourceOut(BaseModel):
    article_id: str
    title: str
    chunk_id: str
    start: int
    end: int
    score: float
    text: str
    also_published_by: list[str] = Field(
        default_factory=list, description="Outlets whose copies of this story were folded."
    )


class AnswerOut(BaseModel):
    """`Answer.to_dict()`, the same object `citeqa ask --json` prints."""

    model_config = ConfigDict(extra="allow")  # a field added to to_dict() passes through

    question: str
    standalone_question: str
    answer: str = Field(description='The answer text, or "The articles don\'t say."')
    abstained: bool
    citations: list[CitationOut] = Field(description="The supported sentences' quotes.")
    sentences: list[SentenceOut]
    sources: list[SourceOut] = Field(description="The passages retrieved.")
    backend: str
    model: str
    timings: dict[str, float]
    tokens: dict[str, int]
    confidence: float | None = Field(description="Calibrated P(right); null on abstention.")
    declined: str | None = Field(
        default=None,
        description="Why it abstained: nothing_close, model, unsupported, anchors, time, kind "
        "or confidence; null when answered.",
    )
    why_declined: str | None = Field(default=None, description="`declined` in words.")
    signals: dict[str, float]
    reading: int = Field(
        1,
        description="1: the answer to the whole context; 2: the answer of a second reading "
        "of only the sentences the first reply cited (setting second_reading).",
    )


# --- /v1/articles --------------------------------------------------------------------------


class ArticleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | int | None = Field(None, description="Default: a hash of the text.")
    title: str | None = None
    text: str = Field(description="The article text (cleaned before it is stored).")
    url: str | None = None
    source: str | None = Field(None, examples=["AFP"])
    published_at: str | float | None = Field(
        None, description="ISO 8601 (UTC unless given) or seconds since the epoch."
    )


class ArticlesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    articles: list[ArticleIn] = Field(min_length=1, max_length=10_000)
    replace: bool = Field(
        False,
        description="Update an article whose id another source's file holds (default: keep "
        "both, the newcomer under a qualified id).",
    )


class IngestItemOut(BaseModel):
    origin: str = Field(description="The uploaded file (and line), or api:N for the Nth record.")
    status: Literal["added", "unchanged", "replaced", "rejected"]
    article_id: str | None = None
    title: str | None = None
    chunks: int = 0
    reason: str | None = Field(None, description="Why it was rejected, or an id note.")


class IngestOut(BaseModel):
    items: list[IngestItemOut]
    counts: dict[str, int]
    summary: str
    seconds: float


class ArticleSummary(BaseModel):
    id: str
    title: str = ""
    source: str | None = None
    url: str | None = None
    published_at: float | None = Field(None, description="Seconds since the epoch, UTC.")
    n_chunks: int = 0
    origin: str | None = None


class ArticleList(BaseModel):
    count: int
    articles: list[ArticleSummary]


class ArticleOut(ArticleSummary):
    text: str = Field(description="The cleaned text every citation offset refers to.")


class Removed(BaseModel):
    id: str
    removed: bool = True


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    chunks: int
    embedding_model: str
    backend: str


# --- OpenAI-compatible ---------------------------------------------------------------------


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str = Field(description="system, user or assistant (system messages are ignored).")
    content: str | list[dict[str, Any]] | None = Field(
        None, description="Text, or a list of parts of which the `text` ones are read."
    )


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatRequest(AnswerOptions):
    """OpenAI's chat request. The last user message is the question; earlier user and assistant
    turns are its history. `k`, `filters`, `as_of` and `backend` are citeqa extras (with the
    openai client: `extra_body={...}`); OpenAI sampling options are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(MODEL_ID, examples=[MODEL_ID])
    messages: list[ChatMessage] = Field(min_length=1, max_length=500)
    stream: bool = False
    stream_options: StreamOptions | None = None


class ChatCitation(BaseModel):
    index: int = Field(description="The number of its [n] marker in the content.")
    article_id: str
    title: str
    url: str | None = None
    start: int
    end: int
    quote: str


class ChatReply(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str = Field(description="The answer with [n] markers, then a Markdown source list.")
    citations: list[ChatCitation]


class ChatChoice(BaseModel):
    index: int = 0
    message: ChatReply
    finish_reason: str = "stop"
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CiteqaMeta(BaseModel):
    abstained: bool
    declined: str | None = None  # why it abstained (`AnswerOut.declined`)
    confidence: float | None
    standalone_question: str
    backend: str
    model: str


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    citeqa: CiteqaMeta = Field(description="citeqa's extras: abstention and confidence.")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "citeqa"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
