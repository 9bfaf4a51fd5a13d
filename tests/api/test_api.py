"""The HTTP API against real `citeqa api` servers (tests/api/conftest.py): the official openai
client, httpx on every endpoint and error, auth, limits and 8 concurrent clients.

Every citation is checked against the article text the server itself returns from
GET /v1/articles/{id}: `text[start:end] == quote`.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import openai
import pytest

from tests.api.conftest import CITEQA, KEYS, SAMPLE_ID, Server, server_env, sse_events
from tests.conftest import ROOT, SAMPLE

QUESTION = "Why did Pashinyan skip the summit?"
# Under min_anchor_coverage=1 (keyed_server) the extractive sentence about Pashinyan is
# streamed, then the answer abstains: the article never mentions Paris.
LOOKALIKE = "Why did Pashinyan skip the summit in Paris?"
SAMPLE_QUESTIONS = [
    json.loads(line)["question"]
    for line in (ROOT / "eval/sets/sample/questions.jsonl").read_text().splitlines()
]


def article_text(server: Server, article_id: str, key: str | None = None) -> str:
    with server.client(key) as c:
        r = c.get(f"/v1/articles/{article_id}")
    assert r.status_code == 200, r.text
    return r.json()["text"]


def assert_exact(server: Server, citations: list[dict], key: str | None = None) -> None:
    assert citations, "expected at least one citation"
    texts: dict[str, str] = {}
    for c in citations:
        if c["article_id"] not in texts:
            texts[c["article_id"]] = article_text(server, c["article_id"], key)
        assert texts[c["article_id"]][c["start"] : c["end"]] == c["quote"], c


def assert_error(r: httpx.Response, status: int, kind: str, *words: str) -> dict:
    """A JSON error body, `{"error": {"type", "message"}}` and nothing else; no traceback."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message"}, body
    assert body["error"]["type"] == kind, body
    assert "Traceback" not in r.text and "<html" not in r.text.lower()
    for w in words:
        assert w.lower() in body["error"]["message"].lower(), (w, body)
    return body["error"]


# --- the OpenAI client -------------------------------------------------------------------------


def test_openai_client_gets_cited_answer(open_server):
    client = openai.OpenAI(base_url=f"{open_server.url}/v1", api_key="not-needed-on-loopback")
    assert [m.id for m in client.models.list()] == ["citeqa"]
    reply = client.chat.completions.create(
        model="citeqa", messages=[{"role": "user", "content": QUESTION}]
    )
    message = reply.choices[0].message
    citations = message.model_extra["citations"]
    assert_exact(open_server, citations)
    assert all(c["article_id"] == SAMPLE_ID for c in citations)
    body, sources = message.content.split("\n\n**Sources**\n\n")
    # The body ends with the marker of its last citation (the extractive answer may take the
    # two sentences most like the question).
    assert "Pashinyan" in body and body.rstrip().endswith(f"[{citations[-1]['index']}]")
    for c in citations:  # the Markdown list: [n] Title — "quote"
        assert f'[{c["index"]}] {c["title"]} — "{c["quote"]}"' in sources
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model_extra["citeqa"]["abstained"] is False


def test_openai_client_streams_cited_answer(open_server):
    client = openai.OpenAI(base_url=f"{open_server.url}/v1", api_key="not-needed-on-loopback")
    chunks = list(
        client.chat.completions.create(
            model="citeqa",
            messages=[{"role": "user", "content": QUESTION}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    content = "".join(d.content or "" for d in deltas)
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(final) == 1 and final[0] is chunks[-2]  # then the usage chunk
    assert chunks[-1].usage is not None and not chunks[-1].choices
    citations = final[0].choices[0].delta.model_extra["citations"]
    assert_exact(open_server, citations)
    # The last content chunk carries the source list; no correction was needed.
    last_content = [d.content for d in deltas if d.content][-1]
    assert last_content.startswith("\n\n**Sources**\n\n[1] ")
    assert "Retracted" not in content and "[1]" in content.split("**Sources**")[0]
    # Streamed and plain replies say the same thing.
    plain = client.chat.completions.create(
        model="citeqa", messages=[{"role": "user", "content": QUESTION}]
    )
    assert content == plain.choices[0].message.content


def test_openai_client_follow_up_uses_history(open_server):
    client = openai.OpenAI(base_url=f"{open_server.url}/v1", api_key="unused")
    first = client.chat.completions.create(
        model="citeqa", messages=[{"role": "user", "content": QUESTION}]
    )
    follow = client.chat.completions.create(
        model="citeqa",
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},  # ignored
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": first.choices[0].message.content},
            {"role": "user", "content": [{"type": "text", "text": "And who did he criticise?"}]},
        ],
    )
    meta = follow.model_extra["citeqa"]
    # Without an LLM the follow-up is searched together with the last question.
    assert meta["standalone_question"] == f"{QUESTION} And who did he criticise?"
    if not meta["abstained"]:
        assert_exact(open_server, follow.choices[0].message.model_extra["citations"])


# --- /v1/answers ---------------------------------------------------------------------------------


def test_answers_json(open_server):
    with open_server.client() as c:
        r = c.post("/v1/answers", json={"question": QUESTION, "k": 3})
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["question"] == QUESTION and a["abstained"] is False
    assert a["backend"] == "extractive" and 0 < a["confidence"] <= 1
    assert {"answer", "sentences", "sources", "timings", "signals", "tokens"} <= set(a)
    assert all(s["supported"] and s["support"] > 0 for s in a["sentences"])
    assert_exact(open_server, a["citations"])
    assert_exact(open_server, [c for s in a["sentences"] for c in s["citations"]])


@pytest.mark.parametrize("how", ["body", "accept"])
def test_answers_stream_deltas_then_answer(open_server, how):
    body = {"question": QUESTION}
    headers = {}
    if how == "body":
        body["stream"] = True
    else:
        headers["Accept"] = "text/event-stream"
    with (
        open_server.client() as c,
        c.stream("POST", "/v1/answers", json=body, headers=headers) as r,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r.read().decode())
    names = [n for n, _ in events]
    assert names[0] == "sources" and names[-1] == "answer", names
    assert set(names[1:-1]) == {"delta"} and len(names) >= 3, names
    assert events[0][1]["sources"][0]["article_id"] == "putin-kyrgyzstan-visit"
    answer = events[-1][1]
    streamed = "".join(d["text"] for n, d in events if n == "delta")
    assert "[S" not in streamed  # the model's context ids are not shown
    assert " ".join(streamed.split()) == " ".join(answer["answer"].split())
    assert_exact(open_server, answer["citations"])


def test_stream_retracts_what_verification_dropped(keyed_server):
    key = KEYS[1]
    with keyed_server.client(key) as c:
        with c.stream("POST", "/v1/answers", json={"question": LOOKALIKE, "stream": True}) as r:
            assert r.status_code == 200
            events = sse_events(r.read().decode())
        names = [n for n, _ in events]
        assert names == ["sources", "delta", "retracted", "answer"], names
        _, streamed, retracted, answer = (d for _, d in events)
        assert "Pashinyan" in streamed["text"]
        assert answer["abstained"] is True and answer["answer"] == "The articles don't say."
        assert answer["declined"] == "anchors"  # no article holds "Paris"
        assert answer["why_declined"] == 'The articles the draft cited do not mention "Paris".'
        assert retracted["all"] is True
        # Every sentence streamed is retracted, each as it was shown.
        assert " ".join(retracted["sentences"]) == " ".join(streamed["text"].split())
        assert retracted["message"]

        # The chat stream says so too, in its content, before the (empty) citations.
        payload = {
            "model": "citeqa",
            "stream": True,
            "messages": [{"role": "user", "content": LOOKALIKE}],
        }
        with c.stream("POST", "/v1/chat/completions", json=payload) as r:
            chunks = [d for _, d in sse_events(r.read().decode())]
    assert chunks[-1] == "[DONE]"
    content = "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks[:-1])
    shown, correction = content.split("\n\n---\n\n")
    assert "Pashinyan" in shown
    assert correction.startswith("*Retracted: the text above is not supported")
    assert "The articles don't say." in correction
    assert f"*Why: {answer['why_declined']}" in correction
    assert chunks[-2]["choices"][0]["delta"]["citations"] == []


# --- /v1/articles----------------------------------------------------------------------------------


def test_articles_json_add_list_get_answer_delete(open_server):
    record = {
        "id": "harbour-bridge",
        "title": "Harbour bridge reopens",
        "text": "The city of Norrvik reopened its harbour bridge on Monday after a two-year "
        "repair that cost 48 million euros. Mayor Elin Strand said trams return in June.",
        "url": "https://example.org/norrvik-bridge",
        "source": "Norrvik Post",
        "published_at": "2024-03-04",
    }
    bad = {"text": "Some text.", "published_at": "last Tuesday"}
    with open_server.client() as c:
        r = c.post("/v1/articles", json={"articles": [bad, record]})
        assert r.status_code == 200, r.text
        report = r.json()
        assert [(i["origin"], i["status"]) for i in report["items"]] == [
            ("api:1", "rejected"),
            ("api:2", "added"),
        ]
        assert "published_at" in report["items"][0]["reason"]
        assert report["counts"] == {"added": 1, "replaced": 0, "unchanged": 0, "rejected": 1}
        assert report["summary"].startswith("1 added")

        listed = {a["id"]: a for a in c.get("/v1/articles").json()["articles"]}
        assert {SAMPLE_ID, "harbour-bridge"} <= set(listed)
        assert listed["harbour-bridge"]["source"] == "Norrvik Post"

        got = c.get("/v1/articles/harbour-bridge").json()
        assert got["url"] == record["url"] and got["n_chunks"] >= 1
        assert got["published_at"] == 1709510400.0  # 2024-03-04T00:00Z

        # Posting the same id again through the API updates it (the same source).
        again = dict(record, text=record["text"] + " The toll is two euros.")
        r = c.post("/v1/articles", json={"articles": [again]})
        assert [i["status"] for i in r.json()["items"]] == ["replaced"]

        payload = {
            "question": "How much did the harbour bridge repair cost?",
            "filters": {"sources": ["norrvik post"], "after": "2024-03-01", "before": "2024-03-31"},
        }
        a = c.post("/v1/answers", json=payload).json()
        assert not a["abstained"] and "48 million" in a["answer"]
        assert {x["article_id"] for x in a["citations"]} == {"harbour-bridge"}
        assert_exact(open_server, a["citations"])
        chat = c.post(
            "/v1/chat/completions",
            json={"model": "citeqa", "messages": [{"role": "user", "content": payload["question"]}],
                  "filters": payload["filters"]},
        ).json()  # fmt: skip
        cites = chat["choices"][0]["message"]["citations"]
        assert cites[0]["url"] == record["url"]
        assert (
            f"[Harbour bridge reopens](<{record['url']}>)"
            in chat["choices"][0]["message"]["content"]
        )

        assert c.delete("/v1/articles/harbour-bridge").json() == {
            "id": "harbour-bridge",
            "removed": True,
        }
        assert_error(c.get("/v1/articles/harbour-bridge"), 404, "not_found", "harbour-bridge")
        assert_error(c.delete("/v1/articles/harbour-bridge"), 404, "not_found", "GET /v1/articles")


def test_articles_multipart_upload(open_server):
    feed = "\n".join(
        json.dumps(r)
        for r in (
            {"id": "feed-1", "title": "Dam opens", "text": "The Lindvik dam opened on Friday."},
            {"id": "feed-2", "text": ""},  # rejected: no text
        )
    )
    files = [
        ("files", ("notes.txt", b"Ferry strike\n\nFerry crews in Orsa struck on Tuesday.\n")),
        ("files", ("feed.jsonl", feed.encode())),
        ("files", ("report.pdf", b"%PDF-1.4")),
        ("files", ("../../escape.txt", b"A quiet week in Orsa, the council said on Monday.")),
    ]
    with open_server.client() as c:
        r = c.post("/v1/articles", files=files)
        assert r.status_code == 200, r.text
        items = {i["origin"]: i for i in r.json()["items"]}
        # The client's file names, never the server's temporary paths.
        assert set(items) == {"notes.txt", "feed.jsonl:1", "feed.jsonl:2", "report.pdf",
                              "escape.txt"}, items  # fmt: skip
        assert items["notes.txt"]["status"] == "added"
        assert items["notes.txt"]["article_id"] == "notes"
        assert items["feed.jsonl:1"]["article_id"] == "feed-1"
        assert items["feed.jsonl:2"]["status"] == "rejected"
        assert items["report.pdf"]["status"] == "rejected"
        assert "unsupported file type" in items["report.pdf"]["reason"]
        assert items["escape.txt"]["article_id"] == "escape"
        assert all(str(open_server.data) not in json.dumps(i) for i in items.values())
        for article_id in ("notes", "feed-1", "escape"):
            assert c.delete(f"/v1/articles/{article_id}").status_code == 200
    # Uploads are deleted once ingested, and nothing was written outside the data dir.
    uploads = open_server.data / "index" / "uploads"
    assert list(uploads.iterdir()) == []
    assert not (open_server.data / "escape.txt").exists()
    assert not (open_server.data.parent / "escape.txt").exists()


# --- errors ---------------------------------------------------------------------------------------

J = {"Content-Type": "application/json"}
ERROR_CASES = [
    # (name, method, path, request kwargs, status, type, words in the message)
    ("bad JSON", "POST", "/v1/answers", {"content": b"{oops", "headers": J}, 400,
     "invalid_request", ("not valid JSON",)),
    ("no body", "POST", "/v1/answers", {}, 400, "invalid_request", ("application/json",)),
    ("missing question", "POST", "/v1/answers", {"json": {}}, 400, "invalid_request",
     ("question", "required")),
    ("k out of range", "POST", "/v1/answers", {"json": {"question": "q?", "k": 0}}, 400,
     "invalid_request", ("k:",)),
    ("unknown field", "POST", "/v1/answers", {"json": {"question": "q?", "filter": {}}}, 400,
     "invalid_request", ("filter", "unknown field")),
    ("empty question", "POST", "/v1/answers", {"json": {"question": "  "}}, 400,
     "invalid_request", ("question is empty",)),
    ("long question", "POST", "/v1/answers", {"json": {"question": "why " * 600}}, 400,
     "invalid_request", ("limit is 2,000",)),
    ("bad date", "POST", "/v1/answers",
     {"json": {"question": "q?", "filters": {"after": "last week"}}}, 400, "invalid_request",
     ("filters.after", "ISO 8601")),
    ("reversed dates", "POST", "/v1/answers",
     {"json": {"question": "q?", "filters": {"after": "2024-02-01", "before": "2024-01-01"}}},
     400, "invalid_request", ("filters.after", "later than", "filters.before")),
    ("no such source", "POST", "/v1/answers",
     {"json": {"question": "q?", "filters": {"sources": ["Reuters"]}}}, 400, "invalid_request",
     ("Reuters",)),
    ("bad as_of", "POST", "/v1/answers", {"json": {"question": "q?", "as_of": "someday"}}, 400,
     "invalid_request", ("as_of",)),
    ("unknown model", "POST", "/v1/chat/completions",
     {"json": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}}, 400,
     "invalid_request", ("gpt-4o", "citeqa")),
    ("last message not user", "POST", "/v1/chat/completions",
     {"json": {"model": "citeqa", "messages": [{"role": "assistant", "content": "hi"}]}}, 400,
     "invalid_request", ("role 'user'",)),
    ("no articles", "POST", "/v1/articles", {"json": {"articles": []}}, 400, "invalid_request",
     ("articles",)),
    ("article without text", "POST", "/v1/articles", {"json": {"articles": [{"id": "x"}]}},
     400, "invalid_request", ("articles.0.text",)),
    ("upload without files", "POST", "/v1/articles", {"files": {"other": (None, "1")}}, 400,
     "invalid_request", ("field 'files'",)),
    ("form post", "POST", "/v1/articles", {"data": {"a": "1"}}, 415, "unsupported_media_type",
     ("multipart/form-data",)),
    ("unknown article", "GET", f"/v1/articles/{SAMPLE_ID}-nope", {}, 404, "not_found",
     (f"{SAMPLE_ID}-nope",)),
    ("unknown article delete", "DELETE", "/v1/articles/nope", {}, 404, "not_found", ("nope",)),
    ("unknown model card", "GET", "/v1/models/gpt-4o", {}, 404, "not_found", ("gpt-4o",)),
    ("unknown route", "GET", "/v2/answers", {}, 404, "not_found", ("/v2/answers",)),
    ("wrong method", "PUT", "/v1/answers", {}, 405, "method_not_allowed", ("PUT",)),
    ("JSON over 1 MiB", "POST", "/v1/answers",
     {"content": b'{"question": "' + b"a" * (1 << 20) + b'"}', "headers": J}, 413, "too_large",
     ("1 MiB",)),
    ("chunked JSON over 1 MiB", "POST", "/v1/answers",
     {"content": iter([b'{"question": "', b"a" * (1 << 20), b'"}']), "headers": J}, 413,
     "too_large", ("1 MiB",)),
    ("upload over 16 MiB", "POST", "/v1/articles",
     {"files": {"files": ("big.txt", b"word " * (17 << 18))}}, 413, "too_large", ("16 MiB",)),
    ("backend not configured", "POST", "/v1/answers",
     {"json": {"question": QUESTION, "backend": "openai"}}, 503, "unavailable",
     ("CITEQA_OPENAI_BASE_URL",)),
]  # fmt: skip


@pytest.mark.parametrize(
    "method,path,kwargs,status,kind,words",
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_error_statuses(open_server, method, path, kwargs, status, kind, words):
    with open_server.client() as c:
        r = c.request(method, path, **kwargs)
    assert_error(r, status, kind, *words)


def test_stream_errors_are_statuses_not_events(open_server):
    """A stream that cannot start is an HTTP error, before any event."""
    with open_server.client() as c:
        r = c.post("/v1/answers", json={"question": "", "stream": True})
        assert_error(r, 400, "invalid_request", "question is empty")
        r = c.post(
            "/v1/chat/completions",
            json={"model": "citeqa", "stream": True, "filters": {"sources": ["Reuters"]},
                  "messages": [{"role": "user", "content": "q?"}]},
        )  # fmt: skip
        assert_error(r, 400, "invalid_request", "Reuters")


def test_backend_down_is_503(keyed_server):
    with keyed_server.client(KEYS[2]) as c:
        t0 = time.monotonic()
        r = c.post("/v1/answers", json={"question": QUESTION, "backend": "openai"})
        assert_error(r, 503, "unavailable", "LLM")
        r = c.post("/v1/answers", json={"question": QUESTION, "backend": "openai", "stream": True})
        assert_error(r, 503, "unavailable")
        assert time.monotonic() - t0 < 60
    with pytest.raises(openai.InternalServerError) as err:
        openai.OpenAI(base_url=f"{keyed_server.url}/v1", api_key=KEYS[2], max_retries=0)\
            .chat.completions.create(
                model="citeqa", messages=[{"role": "user", "content": QUESTION}],
                extra_body={"backend": "openai"},
            )  # fmt: skip
    assert err.value.status_code == 503


# --- health, docs----------------------------------------------------------------------------------


def test_health_ready_and_docs(open_server, keyed_server):
    for server in (open_server, keyed_server):  # open without a key, also on the keyed one
        with server.client() as c:
            assert c.get("/healthz").json() == {"status": "ok"}
            ready = c.get("/readyz").json()
            assert ready["status"] == "ready" and ready["chunks"] > 0
            assert c.get("/docs").status_code == 200
            spec = c.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {"/v1/answers", "/v1/articles", "/v1/articles/{article_id}", "/v1/chat/completions",
            "/v1/models", "/healthz", "/readyz"} <= paths  # fmt: skip
    upload = spec["paths"]["/v1/articles"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} == set(upload)
    assert "ArticlesIn" in spec["components"]["schemas"]
    assert "422" not in json.dumps(spec["paths"])  # validation errors are 400
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


# --- auth------------------------------------------------------------------------------------------


def test_auth(keyed_server):
    wrong = "sk-wrong-key-7f3a9c1e5b"
    with keyed_server.client() as c:
        assert_error(c.get("/v1/models"), 401, "unauthorized", "API key is required")
        r = c.post("/v1/answers", json={"question": QUESTION})
        assert_error(r, 401, "unauthorized")
        assert r.headers["www-authenticate"] == "Bearer"
    for header in (f"Bearer {wrong}", wrong, f"Basic {wrong}"):
        with keyed_server.client(headers={"Authorization": header}) as c:
            r = c.post("/v1/answers", json={"question": QUESTION})
            assert_error(r, 401, "unauthorized", "not accepted")
            assert wrong not in r.text and wrong not in json.dumps(dict(r.headers))
    with pytest.raises(openai.AuthenticationError) as err:
        openai.OpenAI(base_url=f"{keyed_server.url}/v1", api_key=wrong).models.list()
    assert wrong not in str(err.value)
    with keyed_server.client(KEYS[3]) as c:
        assert c.get("/v1/models").status_code == 200
        assert c.post("/v1/answers", json={"question": QUESTION}).status_code == 200
    log = keyed_server.log.read_text()
    assert "401" in log  # the refusals were logged ...
    assert wrong not in log  # ... without the key
    assert not any(k in log for k in KEYS)
    assert "8 API key(s) from CITEQA_API_KEYS required" in log


def test_no_keys_means_loopback_only(open_server, tmp_path, cache_dir):
    assert "no CITEQA_API_KEYS set" in open_server.log.read_text()
    assert "loopback" in open_server.log.read_text()
    env = {k: v for k, v in server_env(cache_dir).items()}
    r = subprocess.run(
        ["env", "-u", "CITEQA_API_KEYS", *[f"{k}={v}" for k, v in env.items()], CITEQA, "api",
         "--host", "0.0.0.0", "--data-dir", str(tmp_path / "d")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2, r
    assert r.stderr.startswith("Error: No API keys are set")
    assert "--host 0.0.0.0 is not a loopback address" in r.stderr
    assert "CITEQA_API_KEYS" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "d").exists()  # refused before anything was opened


# --- limits----------------------------------------------------------------------------------------


def _hold_request(server: Server, key: str) -> socket.socket:
    """A request whose body never finishes arriving: it stays in flight until closed."""
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    s = socket.create_connection((host, port), timeout=30)
    s.sendall(
        b"POST /v1/answers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {key}\r\nContent-Length: 1000\r\n\r\n".encode()
        + b'{"question": "'
    )
    return s


def test_busy_key_gets_429(keyed_server):
    key = KEYS[7]
    held = [_hold_request(keyed_server, key) for _ in range(2)]  # --max-in-flight 2
    try:
        with keyed_server.client(key) as c:
            deadline = time.monotonic() + 20
            while (r := c.get("/v1/models")).status_code != 429 and time.monotonic() < deadline:
                time.sleep(0.2)  # until the server has read both held requests' headers
            assert_error(r, 429, "busy", "2 in flight", "retry after")
            assert r.headers["retry-after"] == "1"
        with keyed_server.client(KEYS[6]) as other:  # the limit is per key
            assert other.get("/v1/models").status_code == 200
    finally:
        for s in held:
            s.close()
    with keyed_server.client(key) as c:
        deadline = time.monotonic() + 20
        while (r := c.get("/v1/models")).status_code == 429 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert r.status_code == 200


def test_eight_clients_at_once(keyed_server):
    """8 clients (one key each) × 5 questions, all at once: no errors, and each answer is to
    the question its client asked, with exact citations."""
    text = article_text(keyed_server, SAMPLE_ID, KEYS[0])
    start = threading.Barrier(8)
    results: dict[int, list[tuple[str, int, dict]]] = {}

    def client(n: int) -> None:
        questions = SAMPLE_QUESTIONS[n * 5 : n * 5 + 5]
        out = []
        with keyed_server.client(KEYS[n]) as c:
            start.wait()
            for q in questions:
                if n % 2:  # half the clients through the OpenAI endpoint
                    r = c.post("/v1/chat/completions",
                               json={"model": "citeqa", "messages": [{"role": "user",
                                                                       "content": q}]})  # fmt: skip
                else:
                    r = c.post("/v1/answers", json={"question": q})
                out.append((q, r.status_code, r.json()))
        results[n] = out

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert sorted(results) == list(range(8))
    for n, out in results.items():
        assert len(out) == 5
        for q, status, body in out:
            assert status == 200, (q, body)
            if n % 2:
                assert body["citeqa"]["standalone_question"] == q
                cites = body["choices"][0]["message"]["citations"]
            else:
                assert body["question"] == q
                cites = body["citations"]
            for c in cites:
                assert text[c["start"] : c["end"]] == c["quote"]


# --- the chat page's server ---------------------------------------------------------------------


def test_api_under_chat_page(tmp_path, cache_dir):
    """`citeqa serve` also serves the API under /api (loopback, no keys), on the page's
    Assistant; the page itself is unchanged."""
    from tests.api.conftest import citeqa_process

    env = server_env(cache_dir)
    with citeqa_process("serve", tmp_path, "--backend", "extractive", env=env, probe="/") as s:
        with httpx.Client(base_url=s.url, timeout=120) as c:
            assert c.get("/").status_code == 200
            assert c.get("/api/healthz").json() == {"status": "ok"}
            assert c.get("/api/docs").status_code == 200
            record = {"id": SAMPLE_ID, "text": SAMPLE.read_text()}
            r = c.post("/api/v1/articles", json={"articles": [record]})
            assert r.json()["counts"]["added"] == 1, r.text
            a = c.post("/api/v1/answers", json={"question": QUESTION}).json()
            assert not a["abstained"]
            text = c.get(f"/api/v1/articles/{SAMPLE_ID}").json()["text"]
            assert all(text[x["start"] : x["end"]] == x["quote"] for x in a["citations"])
            assert_error(c.get("/api/v1/articles/nope"), 404, "not_found")
    assert "API on http://127.0.0.1" in s.log.read_text()


def test_no_api_under_password_protected_page_without_keys(tmp_path, cache_dir):
    from tests.api.conftest import citeqa_process

    env = server_env(cache_dir, CITEQA_AUTH="ana:s3cret-pass")
    with citeqa_process("serve", tmp_path, "--backend", "extractive", env=env, probe="/") as s:
        with httpx.Client(base_url=s.url, timeout=60) as c:
            assert c.get("/api/v1/models").status_code != 200
    log = Path(s.log).read_text()
    assert "HTTP API is not served under /api" in log and "password" in log
