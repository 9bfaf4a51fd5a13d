"""Text written to steer a model rather than inform a reader: found once, at ingest.

Article text is untrusted. This is the bottom layer's detector (index/ imports nothing from qa/)
so ingest can flag each sentence once and store the flags with the article
(`Article.injection`); `qa.context` re-exports `looks_like_injection` and `sanitize`, and the
answer path reads the stored flags instead of splitting the article again (`flagged_spans`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from index.split import sentence_spans
from index.types import Article, Span

# Article text is untrusted: a page can carry text written for the model rather than the
# reader ("ignore previous instructions…", fake system turns, fake [S#] ids). Such sentences are
# never shown (so never citable), and what is shown is cleaned of tokens that could forge a
# source id, a chat turn or the end of the sources block. Offsets are untouched: cleaning only
# changes the rendered prompt, citations still quote the article exactly.

# Citation-like markers ([S4], (S4, S6), fullwidth ［Ｓ４］ after NFKC) would let an article
# forge a source id.
_FAKE_MARKER = re.compile(r"[\[(]\s*S\s*\d+(?:\s*[,;]\s*S?\s*\d+)*\s*[\])]", re.IGNORECASE)
# Chat-template and prompt-structure tokens: ChatML <|im_start|>, Llama/Mistral [INST] and
# <<SYS>>, <s>, and runs of < or > that could close the prompt's <<< … >>> sources block.
_TEMPLATE_TOKEN = re.compile(
    r"<\|[^|<>\n]{1,40}\|>|\[/?INST\]|<</?SYS>>|</?s>|<{3,}|>{3,}", re.IGNORECASE
)
_HTML = re.compile(r"<!--.*?-->|</?[a-z][^<>]{0,300}>", re.IGNORECASE | re.DOTALL)

_AI = (
    r"(?:ai|a\.i\.|artificial intelligence|(?:large )?language models?|llms?|chatbots?|"
    r"assistants?|bots?|gpt)"
)
# Phrases that address the model or give it orders. Checked per sentence on NFKC-folded text.
# They are narrow on purpose: dropping a real sentence loses a fact, missing one only leaves it
# to the prompt and the support check.
_INJECTION = re.compile(
    "|".join(
        [
            # "ignore previous instructions", "disregard the article", "forget the sources"
            r"\b(?:ignore|disregard|forget|override|bypass)\b[^.!?]{0,60}?\b(?:instructions?|"
            r"prompts?|rules|guidelines|directions|sources?|article|context|above)\b",
            # the same in French, Spanish, German, Italian, Portuguese
            r"\b(?:ignorez|oubliez|ignora|ignore[zn]?|olvida|ignoriere|vergiss|ignorare|esqueça)"
            r"\b[^.!?]{0,40}?\b(?:instructions|consignes|instrucciones|anweisungen|istruzioni|"
            r"instruções)\b",
            # a role label opening a line ("SYSTEM: …", "Assistant: …"), or the prompt's own
            # "Question:" label, which would fake a new question after a faked end of sources
            r"^\W{0,3}(?:system|assistant|user|human|developer|question)\s*:",
            rf"\b(?:note|message|instructions?|reminder|attention|warning)\s+(?:to|for)\s+"
            rf"(?:all\s+|any\s+)?{_AI}\b",
            rf"\bif you are an?\s+{_AI}\b",
            rf"\b{_AI}\s+(?:[\w-]+\s+){{0,3}}(?:must|should|shall|are (?:required|instructed) to)"
            r"\s+(?:always\s+|only\s+)?(?:answer|reply|respond|say|state|cite|output|print|tell)\b",
            r"\byou\s+must\s+(?:always\s+|only\s+)?(?:answer|reply|respond|say|cite|output|print)\b",
            r"\b(?:answer|reply to|respond to)\s+(?:every|any|all)\s+(?:user\s+)?"
            r"(?:questions?|messages?|queries|prompts?)\b",
            r"\b(?:reply|respond|answer)\b[^.!?]{0,40}?\b(?:only|exactly|solely)\s*(?:with\b|:)",
            r"\bthe (?:correct|right|real|true|official) answer (?:to|is)\b",
            r"\b(?:system prompt|system message|developer mode|maintenance mode|jailbreak)\b",
            r"\bin your (?:reply|answer|response|output|summary)\b",
            r"\btell the (?:reader|user)\b",
            r"\bcite\s+\[?s\d",
        ]
    ),
    re.IGNORECASE | re.MULTILINE,
)


def _fold(text: str) -> str:
    """NFKC, so fullwidth look-alikes (［Ｓ１］, ＳＹＳＴＥＭ) read as what they imitate."""
    return unicodedata.normalize("NFKC", text)


def looks_like_injection(text: str) -> bool:
    """True for text written to steer the model rather than inform a reader: an order to
    ignore instructions or answer a certain way, a role label or chat-template token, or a line
    that imitates the numbered source format ([S#] at its start, or several [S#] ids)."""
    folded = _fold(text)
    if _TEMPLATE_TOKEN.search(folded) or _INJECTION.search(folded):
        return True
    markers = list(_FAKE_MARKER.finditer(folded))
    return len(markers) >= 2 or bool(markers and markers[0].start() == 0)


def sanitize(text: str) -> str:
    """Text as shown to the model: on one line, NFKC, without [S#]-like markers, chat-template
    tokens or HTML tags (they could forge an id, a turn, or the end of the sources block)."""
    folded = _fold(text)
    for pattern in (_TEMPLATE_TOKEN, _HTML, _FAKE_MARKER):
        folded = pattern.sub(" ", folded)
    return " ".join(folded.split())


def flag_sentences(text: str, spans: Sequence[Span]) -> tuple[Span, ...]:
    """Those of `spans` (sentences of `text`) that look like injection: what ingest stores.
    Flags, not a copy of the text: an article has a handful of sentences flagged at most, and
    none at all in the 1,000+ sentences of the ordinary eval sets (tests/qa/test_injection.py)."""
    return tuple(s for s in spans if looks_like_injection(text[s.start : s.end]))


def flagged_spans(article: Article) -> tuple[Span, ...]:
    """The article's sentences that look like injection: as stored at ingest, or, for an
    article from an index written before flags were stored, found now (a pysbd split of the
    whole article and the detector on every sentence: what every free quote cost before)."""
    if article.injection is not None:
        return article.injection
    return flag_sentences(article.text, sentence_spans(article.text))
