"""The page's handlers on a stand-in Assistant: what each step of an answer puts on the page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from qa.types import Answer, Retrieved, Source, TextDelta

SOURCE = Source(
    article_id="putin-kyrgyzstan-visit",
    title="Putin kyrgyzstan visit",
    chunk_id="c1",
    start=0,
    end=40,
    score=0.9,
    text="Putin visited Kyrgyzstan on Thursday.",
)


class StandIn:
    """Streams like `Assistant.stream`; records how far the page has read it."""

    def __init__(self) -> None:
        self.read: list[str] = []

    def stream(self, question: str, **_: Any) -> Iterator[Retrieved | TextDelta | Answer]:
        self.read.append("retrieved")
        yield Retrieved((SOURCE,), question)
        self.read.append("delta")
        yield TextDelta("Putin visited Kyrgyzstan [S1].")
        self.read.append("answer")
        yield Answer(
            question=question,
            text="Putin visited Kyrgyzstan.",
            sentences=(),
            abstained=False,
            sources=(SOURCE,),
        )


class TestRespond:
    def test_sources_are_shown_before_the_model_writes(self):
        from app import ChatPage

        stand_in = StandIn()
        page = ChatPage(stand_in)  # type: ignore[arg-type]
        steps = page.respond("Where did Putin go?", [], [], "local", 5, "", "", "")
        chat, _, citations, sources, question_box = next(steps)
        # Only retrieval has run: its passages are on the page, the answer is still pending.
        assert stand_in.read == ["retrieved"]
        assert "Putin kyrgyzstan visit" in sources and "putin-kyrgyzstan-visit" in sources
        assert chat[-1] == {"role": "assistant", "content": "…"}
        assert chat[-2] == {"role": "user", "content": "Where did Putin go?"}
        # (gradio copies each yield; the list is reused, so read it step by step)
        written = next(steps)[0][-1]["content"]
        assert "Putin visited Kyrgyzstan" in written and "[S1]" not in written
        final = next(steps)[0][-1]["content"]
        assert stand_in.read == ["retrieved", "delta", "answer"]
        assert final.startswith("<div class=answer")
