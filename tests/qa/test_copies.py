"""Wire copies folded: a story reprinted by three outlets (small edits, another headline, a
local paragraph) is one source in retrieval, and the context never shows one sentence twice.
Real embedder, real Chroma on disk; the extractive backend (folding acts before generation)."""

from __future__ import annotations

import re

import pytest

from index.copies import signature, similarity
from qa.answer import Query
from qa.types import Article

WIRE = [
    "The Saline River crested at 31.4 feet in Eastbrook on Tuesday, the highest level since "
    "1993, forcing the evacuation of about 1,200 residents from low-lying neighborhoods.",
    "Mayor Priya Natarajan said the city had opened three shelters and that the new Cordell "
    "Bridge would stay closed until engineers inspected its piers.",
    "The National Weather Service said more rain was expected on Wednesday, with another two "
    "to three inches possible across the county.",
    "Volunteers filled more than 40,000 sandbags over the weekend to protect the water "
    "treatment plant, which officials said was not damaged.",
    "Farmers north of the city reported flooded fields of soybeans and corn, and the county "
    "extension office said losses could reach several million dollars.",
    "The river is expected to fall below flood stage by Saturday, forecasters said.",
]


def _copy(words: list[str], headline: str, source: str, aid: str, extra: str = "") -> Article:
    text = "\n\n".join(words + ([extra] if extra else []))
    return Article(id=aid, title=headline, text=text, source=source)


def corpus() -> list[Article]:
    edited = [WIRE[0].replace("about 1,200", "roughly 1,200"), *WIRE[1:]]
    return [
        _copy(WIRE, "Saline River crests in Eastbrook", "Citeqa Wire", "wire-flood"),
        _copy(edited, "Eastbrook evacuates as river hits record", "Mesa Daily Star", "mesa-flood"),
        _copy(WIRE, "River flooding forces 1,200 from homes", "Prairie Ledger", "prairie-flood",
              extra="In Westfield, 60 miles upstream, the river was already falling on "
              "Tuesday, the Prairie Ledger's reporters found."),
        Article(id="bridge", title="Cordell Bridge opens", source="Mesa Daily Star",
                text="Mayor Priya Natarajan opened the Cordell Bridge over the Saline River on "
                "Saturday. The bridge cost $212 million. It has six lanes."),
        Article(id="fire", title="Ridgeback Fire contained", source="Coastline Courier",
                text="Firefighters contained the Ridgeback Fire on Friday after it burned "
                "12,400 acres and destroyed about 60 homes in Carver County."),
    ]  # fmt: skip


QUESTIONS = [
    "How high did the Saline River crest in Eastbrook?",
    "How many residents were evacuated in Eastbrook?",
    "How many sandbags did volunteers fill?",
    "When is the Saline River expected to fall below flood stage?",
]


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


class TestSignature:
    def test_copies_are_near_and_other_stories_far(self):
        arts = {a.id: signature(a.text) for a in corpus()}
        assert similarity(arts["wire-flood"], arts["mesa-flood"]) >= 0.8
        assert similarity(arts["wire-flood"], arts["prairie-flood"]) >= 0.6
        assert similarity(arts["wire-flood"], arts["bridge"]) < 0.1
        assert signature("") == "" and similarity("", arts["fire"]) == 0.0


class TestFoldedRetrieval:
    @pytest.mark.parametrize("threshold", [0.6, 1.01])
    def test_no_context_holds_two_copies_of_a_sentence(self, make_assistant, threshold):
        a = make_assistant(backend="extractive", copy_threshold=threshold)
        a.add(corpus())
        chain = a.chain("extractive")
        copies = {"wire-flood", "mesa-flood", "prairie-flood"}
        doubled = 0
        for q in QUESTIONS:
            prompt = chain.prepare(Query(q, k=5))
            shown = [_norm(s.text) for s in prompt.context.sentences]
            doubled += len(shown) - len(set(shown))
            sources = {rc.chunk.article_id for rc in prompt.retrieval.chunks}
            if threshold <= 1:
                assert len(sources & copies) == 1, sources
                chunks = prompt.retrieval.chunks
                (kept,) = [rc for rc in chunks if rc.chunk.article_id in copies][:1]
                others = {"Citeqa Wire", "Mesa Daily Star", "Prairie Ledger"} - {
                    a.get_article(kept.chunk.article_id).source
                }
                assert set(kept.also_published_by) == others
        if threshold <= 1:
            assert doubled == 0
        else:  # folding off: the same test sees the copies (so it measures something)
            assert doubled > 0

    def test_ten_stories_from_three_outlets_are_ten_sources(self, make_assistant):
        towns = ["Hollis", "Eastbrook", "Riverton", "Westfield", "Pine Hollow", "Elderton",
                 "Caddo Bend", "Ashford", "Kessler Falls", "Millbrook"]  # fmt: skip
        events = ["a tornado", "a flood", "a wildfire", "a hailstorm", "a blizzard",
                  "a power outage", "a water main break", "a bridge closure", "a chemical spill",
                  "a landslide"]  # fmt: skip
        outlets = ["Citeqa Wire", "Mesa Daily Star", "Prairie Ledger"]
        arts, cluster = [], {}
        for i, (town, event) in enumerate(zip(towns, events, strict=True)):
            body = [
                f"Officials in {town} said {event} on Tuesday forced {100 + i * 37} families "
                f"from their homes and closed {3 + i} schools.",
                f"The mayor of {town} declared an emergency and asked the state for help with "
                f"{event}, the worst the town has seen in {10 + i} years.",
                f"Crews worked through the night, and {20 + i} roads remained closed on "
                f"Wednesday morning, the {town} public works department said.",
                f"Residents described {event} as sudden; shelters at {2 + i % 3} churches took "
                f"in people overnight.",
            ]
            for j, outlet in enumerate(outlets):
                text = list(body)
                if j == 1:
                    text[0] = text[0].replace("on Tuesday", "late on Tuesday")
                if j == 2:
                    text.append(f"The {outlet} will update this story from {town}.")
                aid = f"s{i}-o{j}"
                cluster[aid] = i
                title = f"{town}: {event} ({outlet})"
                arts.append(Article(id=aid, title=title, text="\n\n".join(text), source=outlet))
        a = make_assistant(backend="extractive")
        a.add(arts)
        chain = a.chain("extractive")
        for i, town in enumerate(towns):
            q = f"How many families left their homes in {town}?"
            prompt = chain.prepare(Query(q, k=5))
            ids = list(dict.fromkeys(rc.chunk.article_id for rc in prompt.retrieval.chunks))
            clusters = [cluster[x] for x in ids]
            assert len(clusters) == len(set(clusters)), ids  # never two copies of one story
            top = prompt.retrieval.chunks[0]
            assert cluster[top.chunk.article_id] == i
            mine = a.get_article(top.chunk.article_id).source
            assert set(top.also_published_by) == set(outlets) - {mine}

    def test_the_answer_names_the_other_outlets(self, make_assistant):
        a = make_assistant(backend="extractive")
        a.add(corpus())
        answer = a.ask("How many sandbags did volunteers fill?")
        assert not answer.abstained
        cited = {c.article_id for c in answer.citations}
        assert len(cited & {"wire-flood", "mesa-flood", "prairie-flood"}) == 1
        assert "also published by" in answer.to_markdown()

    def test_a_copy_that_changed_a_figure_is_a_conflicting_report(self, make_assistant):
        a = make_assistant(backend="extractive")
        updated = [WIRE[0].replace("about 1,200", "about 1,500"), *WIRE[1:]]
        a.add(
            [
                _copy(WIRE, "Saline River crests in Eastbrook", "Citeqa Wire", "wire-flood"),
                _copy(updated, "Eastbrook evacuates 1,500", "Mesa Daily Star", "mesa-flood"),
            ]
        )
        answer = a.ask("How many residents were evacuated from Eastbrook?")
        assert not answer.abstained
        kept = {s.article_id for s in answer.sources}
        assert len(kept) == 1  # one story, one source: the copy is folded ...
        assert "Reports differ:" in answer.text  # ... but its other figure is reported
        plain = answer.text.replace(",", "")
        assert "1200" in plain and "1500" in plain
        (differ,) = [s for s in answer.sentences if s.text.startswith("Reports differ")]
        assert {c.article_id for c in differ.citations} == {"wire-flood", "mesa-flood"}
        for c in differ.citations:
            assert a.get_article(c.article_id).text[c.start : c.end] == c.quote
