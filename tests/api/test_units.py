"""The API's pure parts, without a model: the live-text filter, the SSE and chat encoders on
hand-made Answers (a dropped sentence is always retracted), and the error mapping through the
real app over a stub Assistant that raises each error (in-process ASGI, no server)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest

from qa.api import (
    LiveText,
    answer_events,
    chat_chunks,
    chat_parts,
    chat_tail,
    create_app,
    history_text,
    md_inline,
)
from qa.errors import (
    BackendError,
    CitationError,
    InputError,
    ModelError,
    NoMatchError,
    NotFoundError,
    StoreError,
)
from qa.types import Answer, AnswerSentence, Citation, Draft, Source, TextDelta
from tests.api.conftest import sse_events

TEXT = "Pashinyan stayed home. He criticised Moscow. Lukashenko came."
C1 = Citation("a", "Summit", 0, 22, "Pashinyan stayed home.", "S1")
C2 = Citation("a", "Summit", 23, 44, "He criticised Moscow.", "S2")


def answer(*sentences: AnswerSentence, abstained: bool = False) -> Answer:
    shown = [s for s in sentences if s.supported]
    return Answer(
        question="Why?",
        text="The articles don't say." if abstained else " ".join(s.text for s in shown),
        sentences=tuple(sentences),
        abstained=abstained,
        sources=(Source("a", "Summit", "c1", 0, 44, 0.5, TEXT[:44]),),
    )


def feed_all(live: LiveText, pieces: list[str]) -> str:
    sent = "".join(live.feed(p) for p in pieces) + live.finish()
    assert sent == live.shown  # each feed only ever appends
    return sent


# --- LiveText ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pieces",
    [
        ["Pashinyan stayed home. [S1] He criticised Moscow. [S2]"],
        ["Pashinyan stayed ", "home. [", "S1] He crit", "icised Moscow. [S", "2]"],
        list("Pashinyan stayed home. [S1] He criticised Moscow. [S2]"),  # char by char
    ],
)
def test_live_text_hides_or_numbers_ids_however_split(pieces):
    assert feed_all(LiveText(numbered=False), pieces) == (
        "Pashinyan stayed home. He criticised Moscow."
    )
    assert feed_all(LiveText(numbered=True), pieces) == (
        "Pashinyan stayed home. [1] He criticised Moscow. [2]"
    )


def test_live_text_never_shows_what_it_may_take_back():
    live = LiveText(numbered=True)
    assert live.feed("Putin came [") == "Putin came"  # "[" may start an id: held
    assert live.feed("S3") == ""
    assert live.feed("][S4, S3] (AFP) said") == " [1][2] (AFP) said"
    assert live.finish() == ""
    for pieces in (["NOT_", "IN_SOURCES"], ["NOT_IN_SOURCES"], [" NOT", "_IN"]):
        live = LiveText(numbered=False)
        assert feed_all(live, pieces) == ""  # the abstain token is never shown


def test_live_text_quote_marks_and_markdown():
    live = LiveText(numbered=True)
    shown = feed_all(live, ['*Bold* [claim](javascript:x) ["a quote"] rest [S9]'])
    assert shown == r"\*Bold\* \[claim\](javascript:x) [1] rest [2]"
    assert feed_all(LiveText(numbered=True), ["# Heading [S1]"]) == r"\# Heading [1]"


# --- /v1/answers events----------------------------------------------------------------------------


def events_of(a: Answer, *pieces: str) -> list[tuple[str, object]]:
    stream = [TextDelta(p) for p in pieces] + [a]
    return sse_events("".join(answer_events(stream)))


def test_events_all_verified_no_retraction():
    a = answer(AnswerSentence("Pashinyan stayed home.", (C1,)))
    events = events_of(a, "Pashinyan stayed home. [S1]")
    assert [n for n, _ in events] == ["delta", "answer"]
    assert events[0][1] == {"text": "Pashinyan stayed home."}
    assert events[1][1] == a.to_dict()


def test_events_retract_a_dropped_sentence():
    a = answer(
        AnswerSentence("Pashinyan stayed home.", (C1,)),
        AnswerSentence("He flew to Paris.", (C2,), supported=False, support=0.2),
    )
    events = events_of(a, "Pashinyan stayed home. [S1] ", "He flew to Paris. [S2]")
    assert [n for n, _ in events] == ["delta", "delta", "retracted", "answer"]
    assert events[2][1]["all"] is False
    assert events[2][1]["sentences"] == ["He flew to Paris."]
    assert "He flew to Paris." not in events[3][1]["answer"]


def test_events_send_a_draft_before_the_answer_that_replaces_it():
    draft = answer(AnswerSentence("Pashinyan stayed home.", (C1,)))
    final = dataclasses.replace(
        answer(AnswerSentence("Pashinyan stayed away from the summit.", (C1,))), reading=2
    )
    stream = [TextDelta("Pashinyan stayed home. [S1]"), Draft(draft), final]
    events = sse_events("".join(answer_events(stream)))
    assert [n for n, _ in events] == ["delta", "draft", "answer"]
    assert events[1][1] == draft.to_dict() and events[1][1]["reading"] == 1
    assert events[2][1] == final.to_dict() and events[2][1]["reading"] == 2


def test_after_a_draft_the_streamed_reply_is_retracted_once_against_it():
    draft = answer(
        AnswerSentence("Pashinyan stayed home.", (C1,)),
        AnswerSentence("He flew to Paris.", (C2,), supported=False, support=0.2),
    )
    final = dataclasses.replace(
        answer(
            AnswerSentence("Pashinyan stayed away.", (C1,)),
            AnswerSentence("Never streamed.", (C2,), supported=False),
        ),
        reading=2,
    )
    stream = [TextDelta("Pashinyan stayed home. [S1] "), TextDelta("He flew to Paris. [S2]")]
    events = sse_events("".join(answer_events([*stream, Draft(draft), final])))
    assert [n for n, _ in events] == ["delta", "delta", "retracted", "draft", "answer"]
    assert events[2][1]["sentences"] == ["He flew to Paris."]  # what was streamed, checked


def test_a_withheld_reply_read_again_is_retracted_before_its_draft():
    # The kind gate withheld the streamed reply ("its foreign minister" for "who"), and the
    # second reading answered: the client is told the streamed text is out, then the draft
    # (an abstention), then the answer, which was never streamed.
    withheld = answer(
        AnswerSentence("Moscow sent its foreign minister.", (C1,), supported=False), abstained=True
    )
    final = dataclasses.replace(answer(AnswerSentence("Russia sent Sergei Lavrov.", (C1,))),
                                reading=2)  # fmt: skip
    stream = [TextDelta("Moscow sent its foreign minister. [S1]"), Draft(withheld), final]
    events = sse_events("".join(answer_events(stream)))
    assert [n for n, _ in events] == ["delta", "retracted", "draft", "answer"]
    assert events[1][1]["all"] is True and "the answer follows" in events[1][1]["message"]
    assert events[2][1]["abstained"] is True and events[3][1]["reading"] == 2


def test_events_retract_everything_on_abstention():
    a = answer(AnswerSentence("He flew to Paris.", (C2,), supported=False), abstained=True)
    events = events_of(a, "He flew to Paris. [S2]")
    assert [n for n, _ in events] == ["delta", "retracted", "answer"]
    assert events[1][1]["all"] is True and events[1][1]["sentences"] == ["He flew to Paris."]
    # Nothing streamed (the model abstained outright): nothing to retract.
    events = events_of(answer(abstained=True), "NOT_IN_SOURCES")
    assert [n for n, _ in events] == ["answer"]


# --- the chat shape ----------------------------------------------------------------------------


def test_chat_parts_numbers_links_and_escapes():
    evil = Citation("b", "Title](javascript:alert(1))", 0, 10, "<b>x</b> *y*", "S3")
    a = answer(
        AnswerSentence("Pashinyan stayed home.", (C1,)),
        AnswerSentence("He criticised Moscow.", (C2, C1)),
        AnswerSentence("Lies.", (evil,), supported=False),
    )
    body, sources, citations = chat_parts(a, {"a": "https://example.org/a?x=1", "b": None})
    assert body == "Pashinyan stayed home. [1] He criticised Moscow. [2][1]"
    assert sources.splitlines()[0] == "**Sources**"
    assert '[1] [Summit](<https://example.org/a?x=1>) — "Pashinyan stayed home."' in sources
    assert [c["index"] for c in citations] == [1, 2]  # the dropped sentence cites nothing
    assert citations[0] == {"index": 1, "article_id": "a", "title": "Summit",
                            "url": "https://example.org/a?x=1", "start": 0, "end": 22,
                            "quote": "Pashinyan stayed home."}  # fmt: skip
    assert md_inline("Title](javascript:alert(1))") == r"Title\](javascript:alert(1))"
    _, sources, _ = chat_parts(answer(AnswerSentence("x", (C1,))), {"a": "javascript:alert(1)"})
    assert "javascript" not in sources  # only http(s) URLs become links


def test_chat_tail_corrects_what_the_stream_showed():
    ok = answer(AnswerSentence("Pashinyan stayed home.", (C1,)))
    body, sources, _ = chat_parts(ok, {})
    assert chat_tail(ok, body, body, sources) == "\n\n" + sources  # shown = verified
    dropped = answer(
        AnswerSentence("Pashinyan stayed home.", (C1,)),
        AnswerSentence("He flew to Paris.", (C2,), supported=False),
    )
    body, sources, _ = chat_parts(dropped, {})
    tail = chat_tail(dropped, "Pashinyan stayed home. [1] He flew to Paris. [2]", body, sources)
    assert tail.startswith("\n\n---\n\n*Retracted, not supported by the quotes they cite: ")
    assert '"He flew to Paris."' in tail and tail.endswith(f"{body}\n\n{sources}")
    abstained = answer(AnswerSentence("He flew to Paris.", (C2,), supported=False), abstained=True)
    body, sources, _ = chat_parts(abstained, {})
    tail = chat_tail(abstained, "He flew to Paris. [1]", body, sources)
    assert tail.startswith("\n\n---\n\n*Retracted: the text above is not supported")
    assert "The articles don't say." in tail and "**Closest sources**" in tail
    assert chat_tail(abstained, "", body, sources) == f"{body}\n\n{sources}"  # nothing shown


def test_chat_chunks_end_with_citations_and_done():
    a = answer(AnswerSentence("Pashinyan stayed home.", (C1,)))
    stub = SimpleNamespace(get_article=lambda i: SimpleNamespace(url=None))
    lines = "".join(chat_chunks([TextDelta("Pashinyan stayed home. [S1]"), a], stub, "id1", 1))
    chunks = [d for _, d in sse_events(lines)]
    assert chunks[-1] == "[DONE]"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    final = chunks[-2]["choices"][0]
    assert final["finish_reason"] == "stop" and final["delta"]["citations"][0]["start"] == 0
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1])
    assert content == "Pashinyan stayed home. [1]\n\n**Sources**\n\n" + (
        '[1] Summit — "Pashinyan stayed home."'
    )


def test_history_text_drops_our_source_list_and_marks():
    content = 'He stayed home. [1] He criticised Moscow. [2][1]\n\n**Sources**\n\n[1] T — "q"'
    assert history_text(content) == "He stayed home. He criticised Moscow."


# --- errors through the app (stub Assistant) -----------------------------------------------------


class Stub:
    """Assistant-shaped; every call raises `error` (when set)."""

    def __init__(self, error: Exception | None = None, mid_stream: bool = False) -> None:
        self.error, self.mid_stream = error, mid_stream
        self.settings = SimpleNamespace(backend="extractive", data_dir="/nonexistent")
        self.embedder = SimpleNamespace(embed_query=self._maybe_raise, variant="stub")
        self.store = SimpleNamespace(count_chunks=self._maybe_raise)

    def _maybe_raise(self, *args, **kwargs):
        if self.error:
            raise self.error
        return 1

    def ask(self, *args, **kwargs):
        self._maybe_raise()

    def stream(self, *args, **kwargs) -> Iterator:
        if not self.mid_stream:
            self._maybe_raise()
        yield TextDelta("Partial text")
        self._maybe_raise()

    articles = get_article = remove = add = ask


def call(stub: Stub, method: str, path: str, **kwargs) -> httpx.Response:
    app = create_app(stub, keys=("k-secret",))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.request(
                method, path, headers={"Authorization": "Bearer k-secret"}, **kwargs
            )

    return asyncio.run(go())


ASK = {"json": {"question": "Why?"}}


@pytest.mark.parametrize(
    "error,status,kind",
    [
        (InputError("bad question"), 400, "invalid_request"),
        (NoMatchError("no article matches source 'X'"), 400, "invalid_request"),
        (NotFoundError("No article with id 'x'."), 404, "not_found"),
        (BackendError("The LLM server timed out."), 503, "unavailable"),
        (StoreError("The Chroma server is unreachable."), 503, "unavailable"),
        (ModelError("The model file is corrupt."), 503, "unavailable"),
    ],
)
def test_citeqa_errors_map_to_statuses(error, status, kind):
    for method, path, kwargs in (
        ("POST", "/v1/answers", ASK),
        ("POST", "/v1/answers", {"json": {"question": "Why?", "stream": True}}),
        ("GET", "/v1/articles", {}),
    ):
        r = call(Stub(error), method, path, **kwargs)
        assert r.status_code == status, (path, r.text)
        assert r.json() == {"error": {"type": kind, "message": str(error)}}


def test_bugs_are_500_without_details():
    r = call(Stub(RuntimeError("secret internals at /home/x")), "POST", "/v1/answers", **ASK)
    assert r.status_code == 500
    assert r.json()["error"]["type"] == "internal"
    assert "RuntimeError" in r.text and "secret internals" not in r.text
    assert "Traceback" not in r.text
    r = call(Stub(CitationError("S3 drifted")), "POST", "/v1/answers", **ASK)
    assert r.status_code == 500 and "report it" in r.json()["error"]["message"]


def test_readyz_503_when_the_index_cannot_be_read():
    r = call(Stub(StoreError("Cannot reach the Chroma server at http://x.")), "GET", "/readyz")
    assert r.status_code == 503
    assert r.json()["error"] == {
        "type": "unavailable",
        "message": "Not ready: Cannot reach the Chroma server at http://x.",
    }
    assert call(Stub(), "GET", "/readyz").json()["status"] == "ready"


def test_failure_mid_stream_is_an_error_event():
    stub = Stub(BackendError("The LLM server failed mid-answer."), mid_stream=True)
    r = call(stub, "POST", "/v1/answers", json={"question": "Why?", "stream": True})
    assert r.status_code == 200  # already sent when the failure came
    events = sse_events(r.text)
    assert [n for n, _ in events] == ["delta", "error"]
    assert events[1][1] == {
        "error": {"type": "unavailable", "message": "The LLM server failed mid-answer."}
    }
    r = call(stub, "POST", "/v1/chat/completions",
             json={"model": "citeqa", "stream": True,
                   "messages": [{"role": "user", "content": "Why?"}]})  # fmt: skip
    last = [d for _, d in sse_events(r.text)][-1]
    assert last == {
        "error": {"type": "unavailable", "message": "The LLM server failed mid-answer."}
    }


def test_key_compare_and_401_body():
    r = call(Stub(), "GET", "/v1/models")
    assert r.status_code == 200
    app = create_app(Stub(), keys=("k-secret",))
    transport = httpx.ASGITransport(app=app)

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.get("/v1/models", headers={"Authorization": "Bearer k-secre"})

    r = asyncio.run(go())
    assert r.status_code == 401 and "k-secre" not in r.text
    assert json.loads(r.text)["error"]["type"] == "unauthorized"


def test_the_page_server_has_the_api_among_its_routes_before_it_listens():
    """`citeqa serve` gives the API to the page's app as one of its routes (`page_routes`), so
    there is no moment when the page answers and /api does not (mounted after the launch, a
    client that saw the page up got 404 from /api/healthz in CI). Built as gradio builds the
    page's app, without starting it."""
    import gradio as gr
    from gradio.routes import App

    from qa.api import page_routes

    with gr.Blocks() as page:
        gr.Markdown("page")
    app = App.create_app(page, app_kwargs=page_routes(create_app(Stub(), keys=())))
    transport = httpx.ASGITransport(app=app)

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.get("/api/healthz")

    r = asyncio.run(go())
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


# --- the command ---------------------------------------------------------------------------------


def test_api_command_is_light_and_says_what_to_install(capsys, monkeypatch):
    import sys

    from qa.cli import EXIT_USAGE, build_parser, main

    help_text = build_parser()._subparsers._group_actions[0].choices["api"].format_help()
    for flag in ("--host", "--port", "--max-in-flight", "--backend", "--k", "--data-dir",
                 "--chroma-url", "--config", "CITEQA_API_KEYS"):  # fmt: skip
        assert flag in help_text, flag
    import qa

    monkeypatch.delitem(sys.modules, "qa.api", raising=False)
    monkeypatch.delattr(qa, "api", raising=False)  # else `from qa import api` finds it
    monkeypatch.setitem(sys.modules, "fastapi", None)  # `import fastapi` now fails
    assert main(["api", "--port", "1"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("Error: `citeqa api` needs fastapi, uvicorn and python-multipart")
    assert "pip install 'citeqa[ui]'" in err
