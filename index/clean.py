"""Remove news-site boilerplate so it is neither retrieved nor cited.

The cleaned text is what gets stored and what every reported offset refers to; the raw text is
not kept. Rules work on whole lines (site footers, photo captions and credits, links to other
stories, newsletter prompts, promo blocks) and are deliberately conservative: a rule that eats a
real sentence would make it uncitable, while a missed footer is merely noise.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

# Lines that are site furniture wherever they appear.
_FOOTER = re.compile(
    r"""^(
        to\ suggest\ a\ correction.* |
        you\ can\ also\ highlight\ the\ text.* |
        (share|email|tweet|print)\ this\ (article|story|page).* |
        share\ on\ (facebook|twitter|x|linkedin|whatsapp).* |
        follow\ us\ on\ .* |
        (sign\ up|subscribe)\ (for|to)\ (our|the)\ .*newsletter.* |
        (click|tap)\ here\ to\ .* |
        advertisement | advertising | sponsored\ content |
        (copyright\ )?©.* | all\ rights\ reserved\.? |
        read\ more:? | continue\ reading\.?
    )$""",
    re.IGNORECASE | re.VERBOSE,
)

# A line announcing a block of links to other stories.
_PROMO_MARKER = re.compile(
    r"""^(
        other\ topics\ of\ interest | related(\ (articles?|stories|topics|coverage|news))? |
        read\ also | see\ also | you\ (may|might)\ also\ like | recommended(\ for\ you)? |
        more\ from\ .{1,40} | most\ (read|popular) | trending(\ now)? | more\ stories
    ):?$""",
    re.IGNORECASE | re.VERBOSE,
)

# Photo furniture. A credit is a run of names joined by slashes that closes a line without a full
# stop ("James Devaney/FilmMagic/Getty Images", or a caption followed by its credit), or a
# labelled line ("Photo: …", "(Photo by …)", "Credit: …"). A body sentence ends in punctuation,
# so it is not taken for one; in the held-out news run such lines were cited as answers.
_NAME = r"[A-Z][\w'’.&-]*(?:\s+(?:[A-Z][\w'’.&-]*|of|de|la|van|von|for))*"
_SLASH_CREDIT = re.compile(rf"(?:^|\s){_NAME}(?:\s*/\s*{_NAME}){{1,4}}\s*$")
_AGENCY = re.compile(
    r"(?:getty\s+images|reuters|associated\s+press|\bap\b|afp|epa|shutterstock|alamy|"
    r"bloomberg|pool|handout|file\s+photo|courtesy|ap\s+photo)\W*$",
    re.IGNORECASE,
)
_PHOTO_LABEL = re.compile(
    r"^\(?(?:photo(?:graph)?s?|image|picture|pictured|caption|credit|video|watch)"
    r"(?:\s+(?:by|credit|courtesy))?\s*[:|—–-]\s*\S|^\(?photo\s+by\s",
    re.IGNORECASE,
)
# Inline links to other stories ("Related: …", "READ MORE: …", "Watch: …").
_TEASER = re.compile(
    r"^(?:related(?:\s+(?:article|story|video|coverage|content))?|read\s+more|read\s+also|"
    r"see\s+also|more\s+on\s+this|must\s+read|watch|listen|opinion|analysis)\s*[:|»›>—–-]\s*\S",
    re.IGNORECASE,
)
_NEWSLETTER = re.compile(
    r"\b(?:sign\s+up|subscribe)\b.{0,60}\bnewsletters?\b|\bget\s+(?:our|the)\s+.{0,40}"
    r"\bnewsletter\b",
    re.IGNORECASE,
)


def is_photo_credit(line: str) -> bool:
    """A caption with its credit, a bare credit, or a labelled photo line."""
    if _PHOTO_LABEL.match(line):
        return True
    if line.endswith((".", "!", "?", '"', "”", ":", ";", ",")):
        return False
    return bool(_SLASH_CREDIT.search(line)) or (
        len(line.split()) <= 12 and bool(_AGENCY.search(line)) and "/" in line
    )


def is_teaser(line: str) -> bool:
    """A link to another story or a newsletter prompt, on a line of its own."""
    return bool(_TEASER.match(line)) or (len(line.split()) <= 25 and bool(_NEWSLETTER.search(line)))


_END_PUNCT = tuple('.!?:;"”’»)')
_CONTROL = {c for c in map(chr, range(32)) if c not in "\n\t"} | {"\x7f"}


@dataclass(frozen=True, slots=True)
class CleanResult:
    text: str
    removed: tuple[str, ...]


def normalize(raw: str) -> str:
    """Unify line endings and drop invisible control characters; keep every visible character."""
    text = raw.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(" " if c == "\t" else c for c in text if c not in _CONTROL)
    return unicodedata.normalize("NFC", text)


def is_headline(line: str) -> bool:
    """A short line without sentence-final punctuation: a title or promo headline."""
    words = line.split()
    return 0 < len(words) <= 16 and not line.endswith(_END_PUNCT)


def clean_text(raw: str) -> CleanResult:
    lines = [line.strip() for line in normalize(raw).split("\n")]
    drop: set[int] = set()

    for i, line in enumerate(lines):
        if line and (_FOOTER.match(line) or is_photo_credit(line) or is_teaser(line)):
            drop.add(i)

    # A promo headline printed twice is an ad for another story, not part of this one.
    counts = Counter(line for line in lines if line)
    for i, line in enumerate(lines):
        if counts[line] > 1 and is_headline(line) and len(line.split()) >= 4:
            drop.add(i)

    for i, line in enumerate(lines):
        if not line or not _PROMO_MARKER.match(line):
            continue
        drop.add(i)
        before = _next_nonblank(lines, i, -1)
        if before is not None and is_headline(lines[before]) and len(lines[before].split()) >= 4:
            drop.add(before)
        after = _next_nonblank(lines, i, +1)
        if after is not None and is_headline(lines[after]):
            drop.add(after)
            # The teaser paragraph under the promo headline.
            teaser = _next_nonblank(lines, after, +1)
            while teaser is not None and lines[teaser] == lines[after]:
                drop.add(teaser)
                teaser = _next_nonblank(lines, teaser, +1)
            j = teaser
            while j is not None and j < len(lines) and lines[j]:
                drop.add(j)
                j += 1

    kept: list[str] = []
    for i, line in enumerate(lines):
        if i in drop:
            continue
        if not line:
            if kept and kept[-1] != "":
                kept.append("")
            continue
        kept.append(re.sub(r" {2,}", " ", line))
    while kept and kept[-1] == "":
        kept.pop()
    # One blank line between paragraphs; lines inside a paragraph stay as they were.
    text = "\n".join(kept)
    removed = tuple(lines[i] for i in sorted(drop) if lines[i])
    return CleanResult(text=text, removed=removed)


def _next_nonblank(lines: list[str], i: int, step: int) -> int | None:
    j = i + step
    while 0 <= j < len(lines):
        if lines[j]:
            return j
        j += step
    return None
