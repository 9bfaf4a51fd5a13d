"""One real `citeqa serve`, many sessions at once; and the page's security promises.

Sessions are gradio_client Clients (each its own session hash, so its own gr.State), talking to
the server over HTTP exactly as the page does. Citations are checked against the article text the
index holds (read with `Assistant` before the server starts) and through the server's own
"open citation" handler, which reads the session's answers from its gr.State.
"""

from __future__ import annotations

import html
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLE_DIR
from tests.ui.conftest import _ask, _open, _upload, citeqa_server, needs_chromium

SET = ROOT / "eval" / "sets" / "sample"
QUESTIONS = {
    q["id"]: q
    for q in map(json.loads, (SET / "questions.jsonl").read_text(encoding="utf-8").splitlines())
}
# Eight answerable questions whose evidence sentences differ, so an answer given to the wrong
# session would cite the wrong sentence. Session i asks BASE[i], a follow-up, BASE[i+3], a
# follow-up, BASE[i+6]: at any moment the sessions are on different topics.
BASE = ["s01", "s07", "s15", "s18", "s24", "s27", "s31", "s36"]
FOLLOW_UPS = ["What else did they say about it?", "And why was that?"]
SESSIONS = len(BASE)

BRIDGE = (
    "Harbour Bridge Reopens\n\nThe city of Norrvik reopened its harbour bridge on Monday after "
    "a two-year repair that cost 48 million euros. Mayor Elin Strand said the bridge would carry "
    "trams again from June.\n"
)
CITATION_RE = re.compile(
    r'<li><button class="cite-chip cq-(?P<turn>\d+)-(?P<n>\d+)">\d+</button> <q>(?P<quote>.*?)'
    r"</q> <span class=muted>— .*? \((?P<id>[^()]*), chars (?P<start>\d+)-(?P<end>\d+)\)"
    r"</span></li>",
    re.S,
)
FOCUS_RE = re.compile(r'<mark class="focus" id="citeqa-focus">(.*?)</mark>', re.S)
SEARCHED_RE = re.compile(r"<p class=searched>Searched for: <q>(.*?)</q></p>", re.S)


# --- helpers -------------------------------------------------------------------------------


@dataclass
class Reply:
    """What the page shows for one question, parsed from the /respond outputs."""

    question: str
    seconds: float
    bubble: str  # the answer's chat bubble (HTML)
    citations: list[dict] = field(default_factory=list)
    searched: str | None = None  # the rewritten question, when the app rewrote it

    @property
    def abstained(self) -> bool:
        return "<div class=abstain>" in self.bubble


def _message_text(message: dict) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def ask(client, question: str, chat: list, backend: str) -> tuple[Reply, list]:
    """Ask like the page does (the chat goes back as the browser would send it)."""
    t0 = time.perf_counter()
    chat, cites, sources, _, _ = client.predict(
        question, chat, backend, 5, "", "", "", api_name="/respond"
    )
    seconds = time.perf_counter() - t0
    searched = SEARCHED_RE.search(sources)
    reply = Reply(
        question=question,
        seconds=seconds,
        bubble=_message_text(chat[-1]),
        citations=[
            {
                "turn": int(m["turn"]),
                "n": int(m["n"]),
                "quote": html.unescape(m["quote"]),
                "article_id": html.unescape(m["id"]),
                "start": int(m["start"]),
                "end": int(m["end"]),
            }
            for m in CITATION_RE.finditer(cites)
        ],
        searched=html.unescape(searched.group(1)) if searched else None,
    )
    return reply, chat


def check_citations(client, reply: Reply, turn: int, texts: dict[str, str]) -> None:
    """Every citation is an exact span of its article, numbered for this session's `turn`, and
    the server's open-citation handler (reading this session's gr.State) highlights that span."""
    if not reply.abstained:
        assert reply.citations, f"{reply.question!r}: an answer without citations"
    chips = {int(t) for t in re.findall(r'class="cite-chip cq-(\d+)-\d+"', reply.bubble)}
    assert chips <= {turn}, f"{reply.question!r}: chips of turns {chips} in turn {turn}"
    for c in reply.citations:
        assert c["turn"] == turn, (reply.question, c)
        if c["article_id"] in texts:
            assert texts[c["article_id"]][c["start"] : c["end"]] == c["quote"], c
        opened = client.predict(f"{turn}:{c['n']}", api_name="/open_citation")
        focus = FOCUS_RE.search(opened)
        assert focus, f"{reply.question!r}: citation {turn}:{c['n']} opened without a highlight"
        shown = focus.group(1).replace("</p><p>", "\n\n").replace("<br>", "\n")
        assert html.unescape(shown) == c["quote"], (reply.question, c)


def gold_spans(qid: str, text: str) -> list[tuple[int, int]]:
    spans = []
    for e in QUESTIONS[qid]["evidence"]:
        start = text.index(e["quote"])
        spans.append((start, start + len(e["quote"])))
    return spans


def overlaps(c: dict, spans: list[tuple[int, int]]) -> bool:
    return any(c["start"] < end and start < c["end"] for start, end in spans)


def gradio_call(url: str, api: str, data: list, auth_cookie: str | None = None) -> tuple[str, str]:
    """One event through gradio's plain HTTP API: (final SSE event name, its data)."""
    headers = {"Content-Type": "application/json"}
    if auth_cookie:
        headers["Cookie"] = auth_cookie
    req = urllib.request.Request(
        f"{url}gradio_api/call/{api}", data=json.dumps({"data": data}).encode(), headers=headers
    )
    event_id = json.load(urllib.request.urlopen(req, timeout=30))["event_id"]
    stream = urllib.request.urlopen(f"{url}gradio_api/call/{api}/{event_id}", timeout=120)
    body = stream.read().decode()
    events = re.findall(r"^event: (\w+)\ndata: (.*)$", body, re.M)
    assert events, body
    return events[-1]


def http_status(url: str, *, method: str = "GET", body: bytes | None = None, **headers) -> int:
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        return urllib.request.urlopen(req, timeout=30).status
    except urllib.error.HTTPError as e:
        return e.code


def multipart(filename: str, content: bytes) -> tuple[bytes, str]:
    """A multipart body with one file part named `filename` verbatim (browsers send the name
    the user's file has; a hostile client sends anything)."""
    boundary = uuid.uuid4().hex
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="files"; filename="{filename}"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    )
    body = head.encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on `port`, from /proc/net/tcp{,6}."""
    found = set()
    for name, width in (("tcp", 8), ("tcp6", 32)):
        table = Path(f"/proc/net/{name}")
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A = LISTEN
                continue
            raw = bytes.fromhex(addr)
            # The kernel prints each 32-bit word in host (little-endian) order.
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, width // 2, 4))
            family = socket.AF_INET if width == 8 else socket.AF_INET6
            found.add(socket.inet_ntop(family, words))
    return found


def other_interface_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses (empty when it has none)."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout
    except OSError:
        out = ""
    addrs = set(out.split())
    try:
        addrs |= {i[4][0] for i in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    except OSError:
        pass
    return sorted(a for a in addrs if ":" not in a and not a.startswith("127."))


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, cache_dir):
    """A data dir with the sample article indexed, and the article text as the index holds it."""
    from qa.assistant import Assistant
    from qa.settings import Settings

    data = tmp_path_factory.mktemp("concurrency-index")
    with Assistant(Settings.load(data_dir=data, cache_dir=cache_dir)) as assistant:
        assistant.add([SAMPLE_DIR])
        texts = {a["id"]: assistant.get_article(a["id"]).text for a in assistant.articles()}
    return data, texts


@pytest.fixture(scope="module")
def loaded_server(corpus):
    """One server on the sample index, default backend (local); sessions pick their backend."""
    data, _ = corpus
    with citeqa_server(data) as url:
        yield url


# --- many sessions at once -----------------------------------------------------------------


@pytest.mark.slow
def test_sessions_in_parallel_keep_their_own_history(loaded_server, corpus, tmp_path):
    """8 extractive sessions × 5 questions, an upload, and a local-model session, all at once."""
    from gradio_client import Client, handle_file

    _, texts = corpus
    sample = texts["putin-kyrgyzstan-visit"]
    script = [
        [
            QUESTIONS[BASE[i]]["question"],
            FOLLOW_UPS[0],
            QUESTIONS[BASE[(i + 3) % SESSIONS]]["question"],
            FOLLOW_UPS[1],
            QUESTIONS[BASE[(i + 6) % SESSIONS]]["question"],
        ]
        for i in range(SESSIONS)
    ]
    qid_of = {QUESTIONS[q]["question"]: q for q in BASE}
    started = threading.Barrier(SESSIONS + 2)  # every session connected before anyone asks
    first_answer = threading.Event()

    def session(i: int) -> list[Reply]:
        client = Client(loaded_server, verbose=False)
        started.wait(timeout=300)
        chat: list = []
        replies = []
        for turn, question in enumerate(script[i]):
            reply, chat = ask(client, question, chat, "extractive")
            first_answer.set()
            replies.append(reply)
            check_citations(client, reply, turn, texts)
        client.close()
        return replies

    def uploader() -> tuple[list, Reply, float]:
        client = Client(loaded_server, verbose=False)
        started.wait(timeout=300)
        article = tmp_path / "harbour-bridge.txt"
        article.write_text(BRIDGE, encoding="utf-8")
        first_answer.wait(timeout=300)  # ingest while the sessions are asking
        t0 = time.perf_counter()
        # (the sample offer, a button, is not among the API's outputs)
        report, library, _ = client.predict([handle_file(str(article))], api_name="/upload")
        seconds = time.perf_counter() - t0
        reply, _ = ask(client, "How much did the Norrvik bridge repair cost?", [], "extractive")
        check_citations(client, reply, 0, texts)
        client.close()
        return report["data"], reply, seconds, library["data"]

    def local_session() -> list[Reply]:
        client = Client(loaded_server, verbose=False)
        started.wait(timeout=300)
        first, chat = ask(client, "Why did Pashinyan skip the summit?", [], "local")
        check_citations(client, first, 0, texts)
        follow, _ = ask(client, "Who did he criticise?", chat, "local")
        check_citations(client, follow, 1, texts)
        client.close()
        return [first, follow]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(SESSIONS + 2) as pool:
        sessions = [pool.submit(session, i) for i in range(SESSIONS)]
        upload = pool.submit(uploader)
        local = pool.submit(local_session)
        transcripts = [s.result(timeout=1800) for s in sessions]
        report, bridge, upload_seconds, library = upload.result(timeout=1800)
        local_replies = local.result(timeout=1800)
    wall = time.perf_counter() - t0

    all_base = {QUESTIONS[q]["question"] for q in BASE}
    for i, replies in enumerate(transcripts):
        assert [r.question for r in replies] == script[i]
        for turn, reply in enumerate(replies):
            qid = qid_of.get(reply.question)
            if qid:  # a standalone question: answered from its own evidence, not rewritten
                assert reply.searched is None, (i, reply.question, reply.searched)
                assert not reply.abstained, (i, reply.question)
                spans = gold_spans(qid, sample)
                assert any(overlaps(c, spans) for c in reply.citations), (i, reply)
            else:  # a follow-up: rewritten with this session's previous question, no other
                previous = replies[turn - 1].question
                assert reply.searched and previous in reply.searched, (i, reply)
                others = all_base - {previous}
                assert not any(q in reply.searched for q in others), (i, reply)

    assert [row[1] for row in report] == ["added"], report
    assert "harbour-bridge" in [row[0] for row in library]
    assert not bridge.abstained and bridge.citations, bridge
    assert any("48 million euros" in c["quote"] for c in bridge.citations), bridge
    bridge_quotes = [c["quote"] for c in bridge.citations if c["article_id"] == "harbour-bridge"]
    assert bridge_quotes and all(q in BRIDGE for q in bridge_quotes), bridge

    first, follow = local_replies
    assert not first.abstained
    assert follow.searched and "pashinyan" in follow.searched.lower(), follow

    seconds = sorted(r.seconds for replies in transcripts for r in replies)
    print(
        f"\n{SESSIONS}x5 extractive + 1 upload + 1x2 local in {wall:.1f} s wall; extractive "
        f"answers p50 {seconds[len(seconds) // 2]:.1f} s, max {seconds[-1]:.1f} s; upload "
        f"{upload_seconds:.1f} s; local {first.seconds:.1f} s + {follow.seconds:.1f} s "
        f"(searched for {follow.searched!r})"
    )


# --- security ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_question_gets_the_same_answer_whatever_other_tabs_asked(loaded_server, corpus):
    """Issue 17, bug 8: one question asked in fresh tabs of one server gave two different
    answers. The local model reuses only its fixed instruction prefix, never the tokens another
    tab's question left in its cache, so the answer is a function of the question alone."""
    from gradio_client import Client

    _, texts = corpus
    question = "Why did Pashinyan skip the summit?"
    replies = []
    for before in (None, "Which Kyrgyz leader is Putin due to meet?", "Who is wanted by the ICC?"):
        if before:  # another tab asks something else first, on the same model
            other = Client(loaded_server, verbose=False)
            ask(other, before, [], "local")
            other.close()
        client = Client(loaded_server, verbose=False)
        reply, _ = ask(client, question, [], "local")
        check_citations(client, reply, 0, texts)
        client.close()
        replies.append(reply)
    first = replies[0]
    assert not first.abstained and first.citations
    for reply in replies[1:]:
        assert reply.citations == first.citations
        assert reply.bubble == first.bubble


def test_binds_loopback_only(loaded_server):
    port = int(loaded_server.rstrip("/").rsplit(":", 1)[1])
    assert listening_addresses(port) == {"127.0.0.1"}
    for addr in other_interface_addresses():
        with pytest.raises(OSError), socket.create_connection((addr, port), timeout=3):
            pass


def test_upload_file_names_cannot_escape_the_upload_folder(loaded_server, corpus):
    data, _ = corpus
    uploads = data / "uploads"
    before = {p for p in data.parent.rglob("*") if p.is_file()}
    names = [
        "../../evil-relative.txt",
        f"{data.parent}/evil-absolute.txt",
        "..\\..\\evil-backslash.txt",
        "sub/../../../evil-nested.txt",
    ]
    stored = []
    for name in names:
        body, ctype = multipart(name, b"Evil Upload\n\nA lighthouse keeper counted 17 gulls.\n")
        req = urllib.request.Request(
            f"{loaded_server}gradio_api/upload", data=body, headers={"Content-Type": ctype}
        )
        (path,) = json.load(urllib.request.urlopen(req, timeout=30))
        stored.append(Path(path))
    for path in stored:
        assert path.resolve().is_relative_to(uploads.resolve()), path
        assert "evil" in path.name and ".." not in path.parts, path
    new_files = {p for p in data.parent.rglob("*") if p.is_file()} - before
    strays = [p for p in new_files if "evil" in p.name and not p.is_relative_to(uploads)]
    assert strays == []

    # The stored copy ingests under a plain id, through the app's upload handler.
    event, payload = gradio_call(
        loaded_server, "upload", [[{"path": str(stored[0]), "meta": {"_type": "gradio.FileData"}}]]
    )
    assert event == "complete", payload
    report = json.loads(payload)[0]["data"]
    assert report[0][1] in ("added", "unchanged") and report[0][2] == "evil-relative", report


def test_upload_handler_refuses_server_paths(loaded_server, corpus, tmp_path):
    """The API cannot make the app ingest a file that was not uploaded (any server path)."""
    data, _ = corpus
    secret = tmp_path / "secret-memo.txt"
    secret.write_text("Secret Memo\n\nThe code word is periwinkle.\n", encoding="utf-8")
    targets = [secret, data / "uploads" / ".." / ".." / tmp_path.name / secret.name,
               ROOT / "README.md"]  # fmt: skip
    for target in targets:
        event, payload = gradio_call(
            loaded_server, "upload", [[{"path": str(target), "meta": {"_type": "gradio.FileData"}}]]
        )
        assert event == "error", (target, payload)
    event, payload = gradio_call(loaded_server, "on_load", [])
    assert event == "complete", payload
    assert "secret-memo" not in payload and "readme" not in payload.lower(), payload


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory, cache_dir):
    """A server behind --auth (given through CITEQA_AUTH, password with a colon), configured
    for an OpenAI-compatible server that is not running, with a recognisable API key."""
    from qa.assistant import Assistant
    from qa.settings import Settings
    from tests.conftest import free_port

    data = tmp_path_factory.mktemp("guarded-index")
    with Assistant(Settings.load(data_dir=data, cache_dir=cache_dir)) as assistant:
        assistant.add([SAMPLE_DIR])
    env = {
        "CITEQA_AUTH": "ana:s3cret:x",
        "CITEQA_OPENAI_API_KEY": f"sk-citeqa-{uuid.uuid4().hex}",
        "CITEQA_OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",  # nothing listens
        "CITEQA_RETRIES": "0",
    }
    with citeqa_server(data, env=env) as url:
        yield url, data, env


def test_auth_refuses_without_login(guarded_server):
    from gradio_client import Client

    url, _, _ = guarded_server
    assert http_status(f"{url}config") == 401
    assert http_status(f"{url}gradio_api/info") == 401
    body = json.dumps({"data": ["Who is Putin due to meet?", [], "extractive", 5, "", "", ""]})
    assert (
        http_status(
            f"{url}gradio_api/call/respond",
            method="POST",
            body=body.encode(),
            **{"Content-Type": "application/json"},
        )
        == 401
    )
    upload, ctype = multipart("a.txt", b"A\n\nB.\n")
    assert http_status(f"{url}gradio_api/upload", method="POST", body=upload,
                       **{"Content-Type": ctype}) == 401  # fmt: skip
    with pytest.raises(ValueError, match="Could not login"):
        Client(url, auth=("ana", "s3cret"), verbose=False)

    client = Client(url, auth=("ana", "s3cret:x"), verbose=False)
    reply, _ = ask(client, "Which Kyrgyz leader is Putin due to meet?", [], "extractive")
    assert not reply.abstained and any("Japarov" in c["quote"] for c in reply.citations)
    client.close()


def test_api_key_never_shown(guarded_server, cache_dir):
    """The key reaches neither the page, the server log, the CLI's output nor settings dumps."""
    from gradio_client import Client

    from qa.settings import Settings

    url, data, env = guarded_server
    key = env["CITEQA_OPENAI_API_KEY"]
    client = Client(url, auth=("ana", "s3cret:x"), verbose=False)
    # The failure is shown in place of the answer (no overlay), and never with the key.
    reply, chat = ask(client, "Which Kyrgyz leader is Putin due to meet?", [], "openai")
    client.close()
    message = reply.bubble
    assert "No answer" in message and "did not answer" in message, message
    assert key not in message and key not in json.dumps(chat)
    time.sleep(1)  # let the server flush its log
    log = (data / "server.log").read_text()
    assert key not in log

    cli = subprocess.run(
        [str(Path(sys.executable).with_name("citeqa")), "ask", "--data-dir", str(data),
         "--backend", "openai", "Which Kyrgyz leader is Putin due to meet?"],
        capture_output=True, text=True, timeout=300, env={**os.environ, **env},
    )  # fmt: skip
    assert cli.returncode != 0 and "Error:" in cli.stdout + cli.stderr, cli
    assert key not in cli.stdout + cli.stderr

    settings = Settings.load(data_dir=data, cache_dir=cache_dir, openai_api_key=key)
    for dump in (repr(settings), str(settings), json.dumps(settings.public_dict()),
                 settings.model_dump_json()):  # fmt: skip
        assert key not in dump
    assert settings.openai_api_key.get_secret_value() == key  # it is there, just not shown


# --- hostile articles in the page ----------------------------------------------------------


@pytest.mark.slow
@needs_chromium
def test_hostile_article_quoted_in_an_answer_stays_text(loaded_server, browser, tmp_path):
    """Markup in the title, URL and text of an article stays text everywhere the page shows it:
    the answer bubble, its chips' tooltips, the citation list, the sources and the article view.
    (tests/ui/test_app.py covers the article view with a javascript: URL and script tags.)"""
    evil = tmp_path / "hostile.jsonl"
    evil.write_text(json.dumps({
        "id": "hostile-ferry",
        "title": "Ferry <img src=x onerror=alert('title')> <svg onload=alert('svg')>",
        "url": "https://example.com/\"><img src=x onerror=alert('url')>",
        "text": "The Kvarn ferry line <img src=x onerror=alert('text')> "
                "opened on Friday with <script>alert('script')</script> two boats. "
                "<a href=\"JaVaScRiPt:alert('link')\" onclick=\"alert('click')\">timetable</a> "
                "The Kvarn ferry tickets cost 12 crowns each.",
    }), encoding="utf-8")  # fmt: skip
    context, page, dialogs, errors = _open(browser, loaded_server)
    page.click("button[role=tab]:has-text('Settings')")
    page.get_by_label("extractive").check()
    _upload(page, evil, "hostile-ferry")
    _ask(page, "When did the Kvarn ferry line open?", 1)
    chip = page.locator("#chat .cite-chip").first
    chip.wait_for()
    assert "onerror" in page.locator("#chat").inner_text() + chip.get_attribute("title")
    chip.click()
    page.locator("#article-view mark.focus").wait_for(timeout=30_000)
    page.click("button[role=tab]:has-text('Sources')")
    page.wait_for_timeout(1000)
    for area in ("#chat", "#citations", "#sources", "#article-view"):
        hostile = page.locator(
            f"{area} img, {area} svg[onload], {area} script, {area} [onclick], "
            f"{area} a[href^='javascript' i], {area} [onerror]"
        )
        assert hostile.count() == 0, area
    links = page.locator("#article-view a").evaluate_all("els => els.map(e => e.href)")
    assert all(href.startswith("https://example.com/") for href in links), links
    assert dialogs == [] and not errors
    context.close()
