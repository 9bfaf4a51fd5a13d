"""The page's handlers on a stand-in Assistant: what each step of an answer puts on the page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from qa.errors import BackendError
from qa.render import REREADING
from qa.types import Answer, AnswerSentence, Draft, Retrieved, Source, TextDelta

SOURCE = Source(
    article_id="putin-kyrgyzstan-visit",
    title="Putin kyrgyzstan visit",
    chunk_id="c1",
    start=0,
    end=40,
    score=0.9,
    text="Putin visited Kyrgyzstan on Thursday.",
)
EARLIER = [
    {"role": "user", "content": "Who went?"},
    {"role": "assistant", "content": "<div class=answer>Putin.</div>"},
]


class StandIn:
    """Streams like `Assistant.stream`; records how far the page has read it."""

    def __init__(self, fail: Exception | None = None, *, draft: str = "") -> None:
        self.read: list[str] = []
        self.fail = fail
        self.draft = draft  # a first reading's answer, read again before the Answer

    def articles(self) -> list[dict[str, Any]]:
        return [{"id": SOURCE.article_id, "title": SOURCE.title}]

    def article_count(self, filters: Any = None) -> int:
        return sum(
            1
            for a in self.articles()
            if not filters or filters.admits(a.get("source"), a.get("published_at"))
        )

    def stream(self, question: str, **_: Any) -> Iterator[Retrieved | TextDelta | Answer]:
        self.read.append("retrieved")
        yield Retrieved((SOURCE,), question)
        if self.fail:
            raise self.fail
        self.read.append("delta")
        yield TextDelta("Putin visited Kyrgyzstan [S1].")
        if self.draft:
            self.read.append("draft")
            said = (AnswerSentence(self.draft),)
            yield Draft(Answer(question, self.draft, said, False, sources=(SOURCE,)))
        self.read.append("answer")
        yield Answer(
            question=question,
            text="Putin visited Kyrgyzstan.",
            sentences=(),
            abstained=False,
            sources=(SOURCE,),
        )


def _page(stand_in: StandIn):
    from app import ChatPage

    return ChatPage(stand_in)  # type: ignore[arg-type]


class TestRespond:
    def test_question_at_once_then_sources_before_the_model_writes(self):
        stand_in = StandIn()
        steps = _page(stand_in).respond("Where did Putin go?", [], [], "local", 5, "", "", "")
        chat, _, citations, sources, box, notice, stop, ask = next(steps)
        # Nothing has run yet: the question and a stage line show, old panels are cleared,
        # Stop is offered.
        assert stand_in.read == []
        assert chat[0] == {"role": "user", "content": "Where did Putin go?"}
        assert "Searching the articles…" in chat[1]["content"]
        assert citations == "" and "Searching" in sources and box == "" and notice == ""
        assert stop["visible"] is True and stop["interactive"] is True
        assert ask == {"__type__": "update", "visible": False}  # Stop takes its place
        # The articles are counted (one here) before the search starts.
        assert "Searching 1 article…" in next(steps)[0][-1]["content"]
        assert stand_in.read == []
        chat, _, _, sources, _, _, _, _ = next(steps)
        # Only retrieval has run: its passages are on the page, the answer is still pending.
        assert stand_in.read == ["retrieved"]
        assert "Putin kyrgyzstan visit" in sources and "putin-kyrgyzstan-visit" in sources
        assert "Writing the answer from 1 article…" in chat[-1]["content"]
        # (gradio copies each yield; the list is reused, so read it step by step)
        written = next(steps)[0][-1]["content"]
        assert "Putin visited Kyrgyzstan" in written and "[S1]" not in written
        final = next(steps)
        assert stand_in.read == ["retrieved", "delta", "answer"]
        assert final[0][-1]["content"].startswith("<div class=answer")
        assert final[-2:] == (
            {"__type__": "update", "visible": False},
            {"__type__": "update", "visible": True},
        )  # Stop goes, Ask is back

    def test_a_draft_shows_checked_and_marked_until_the_answer_replaces_it(self):
        stand_in = StandIn(draft="Putin went to <Kyrgyzstan> on Thursday.")
        steps = _page(stand_in).respond("Where did Putin go?", [], [], "local", 5, "", "", "")
        shown = []
        for step in steps:  # read step by step: gradio copies each yield, the list is reused
            shown.append(step[0][-1]["content"])
            last = step
        assert stand_in.read == ["retrieved", "delta", "draft", "answer"]
        draft = next(c for c in shown if REREADING in c)
        assert "Putin went to &lt;Kyrgyzstan&gt; on Thursday." in draft  # escaped
        assert 'class="answer draft"' in draft and "[S1]" not in draft
        chat, answers, *_ = last
        assert shown.index(draft) == len(shown) - 2  # the answer comes right after it
        assert chat[-1]["content"].startswith("<div class=answer>")  # the answer's cards
        assert REREADING not in chat[-1]["content"]
        assert [a.text for a in answers] == ["Putin visited Kyrgyzstan."]  # the draft is not kept

    def test_an_input_mistake_is_a_notice_and_the_conversation_stays(self):
        for question, before, expected in [
            ("   ", "", "question is empty"),
            ("Who went?", "14/03/2024", "Published on/before &#x27;14/03/2024&#x27; is not a date"),
        ]:
            stand_in = StandIn()
            steps = list(_page(stand_in).respond(question, EARLIER, [], "local", 5, "", "", before))
            assert len(steps) == 1 and stand_in.read == []
            chat, _, _, _, box, notice, _, _ = steps[0]
            assert chat == EARLIER  # nothing added, nothing lost
            assert box == {"__type__": "update"}  # gr.skip(): the box keeps the text to fix
            assert "role=alert" in notice and expected in notice, notice
            assert "--before" not in notice  # the field's own name, not the CLI flag

    def test_a_failure_while_answering_replaces_only_the_placeholder(self):
        stand_in = StandIn(fail=BackendError("The LLM server at http://x is not answering."))
        steps = list(_page(stand_in).respond("Why?", EARLIER, [], "openai", 5, "", "", ""))
        chat, answers, _, _, box, _, stop, ask = steps[-1]
        assert chat[:2] == EARLIER and chat[2] == {"role": "user", "content": "Why?"}
        assert "No answer" in chat[3]["content"] and "not answering" in chat[3]["content"]
        assert answers == [] and box == "Why?"  # the question is back in the box to retry
        assert stop == {"__type__": "update", "visible": False}
        assert ask == {"__type__": "update", "visible": True}

    def test_clear_forgets_the_answers_follow_ups_use(self):
        answers, citations, sources, notice = _page(StandIn()).clear()
        assert answers == [] and citations == "" and notice == ""
        assert "appear here" in sources


class TestAnswerHtml:
    """What the cards' browser tests cannot reach deterministically: the extractive backend
    copies sentences whole, so their support is always 1."""

    def test_a_partly_supported_sentence_is_marked_with_its_share(self):
        from qa.render import answer_html
        from qa.types import AnswerSentence, Citation

        c = Citation("a", "T", 0, 37, SOURCE.text)
        answer = Answer(
            question="Where?",
            text="Putin visited Kyrgyzstan with Lavrov.",
            sentences=(AnswerSentence("Putin visited Kyrgyzstan with Lavrov.", (c,), True, 0.6),),
            abstained=False,
            confidence=0.42,
        )
        page = answer_html(answer, 0)
        assert "<span class=partly" in page and "60% of this sentence" in page
        assert "Confidence: 42%" in page
        # No article metadata given: the card still shows the citation's title and quote.
        assert "<div class=card-title>T</div>" in page and f"<q>{SOURCE.text}</q>" in page


class TestStop:
    def test_stop_ends_the_answer_at_its_next_step_and_closes_the_stream(self):
        """Stop sets a flag for the session; the answer under way reads it at its next step,
        says "Stopped", keeps nothing, and closes the stream (for the local model that ends
        decoding and releases its lock)."""
        from types import SimpleNamespace

        closed: list[bool] = []

        class Endless(StandIn):
            def stream(self, question: str, **_: Any) -> Iterator[Retrieved | TextDelta]:
                try:
                    yield Retrieved((SOURCE,), question)
                    while True:
                        yield TextDelta("more ")
                finally:
                    closed.append(True)

        page = _page(Endless())
        tab, other = SimpleNamespace(session_hash="tab"), SimpleNamespace(session_hash="other")
        steps = page.respond("Where?", [], [], "local", 5, "", "", "", tab)
        for _ in range(5):
            next(steps)
        page.stop(other)  # another tab's Stop is not this answer's
        assert "more" in next(steps)[0][-1]["content"]
        button = page.stop(tab)
        assert button == {"__type__": "update", "interactive": False, "value": "Stopping…"}
        chat, answers, _, _, box, _, stop, ask = next(steps)
        assert "Stopped" in chat[-1]["content"] and answers == [] and box == "Where?"
        assert stop["visible"] is False and ask["visible"] is True
        assert list(steps) == [] and closed == [True]
        # A Stop pressed when nothing was under way does not stop the next question.
        page.stop(tab)
        page.assistant = StandIn()
        done = list(page.respond("Where?", [], [], "local", 5, "", "", "", tab))
        assert done[-1][0][-1]["content"].startswith("<div class=answer")
