"""Reply → sentences → citations checked against the article text, or an abstention.

Four gates, in order: a cited id must be one the model was shown; its quote must equal the
article text at its offsets (asserted here, in code, on every answer); neither the quote nor the
sentence may be text written to steer the model (`looks_like_injection`); and the sentence must
share its key words with what it cites. Sentences that fail are dropped (kept, marked
unsupported, for inspection); if nothing survives the assistant abstains.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from index.injection import flagged_spans
from index.split import sentence_spans
from qa.context import Context, looks_like_injection
from qa.errors import CitationError
from qa.types import AnswerSentence, Article, Citation
from qa.wording import in_source_form

ABSTAIN_TOKEN = "NOT_IN_SOURCES"
ABSTAIN_TEXT = "The articles don't say."

# The citation marks a reply may carry, public because the API's live text (qa/api.py) strips
# and numbers the same marks while the reply streams, before it is parsed here.
# [S4] / [S4][S6] / [S4, S6] / (S4): the id forms models actually produce.
ID_MARKER = re.compile(r"[\[(]\s*S\d+(?:\s*[,;]\s*S?\d+)*\s*[\])]", re.IGNORECASE)
# A free quote as a citation: ["…"] or [“…”] — what large remote models like to emit.
QUOTE_MARKER = re.compile(r"\[\s*(?:quote:\s*)?[\"“](.+?)[\"”]\s*\]", re.IGNORECASE | re.DOTALL)
_CITES = re.compile(rf"(?:\s*(?:{ID_MARKER.pattern}|{QUOTE_MARKER.pattern}))+\s*[.!?]?")
MARKER_IDS = re.compile(r"S?(\d+)", re.IGNORECASE)  # the ids inside one ID_MARKER

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself said says
    say according""".split()
)


@dataclass(frozen=True, slots=True)
class ReplySentence:
    text: str
    refs: tuple[str, ...] = ()
    quotes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ParsedReply:
    abstained: bool
    sentences: tuple[ReplySentence, ...] = field(default_factory=tuple)


# "According to [S5][S6]", "Based on the sources [S2]": ids written before the claim they are for.
_LEAD_IN = re.compile(
    r"^(?:according\s+to|based\s+on|as\s+(?:stated|reported|said)\s+in|per|from|in)"
    r"(?:\s+(?:the\s+)?(?:sources?|articles?|reports?|context|text))?[\s,:]*$",
    re.IGNORECASE,
)


# A parenthesis right after ids is where the model says it found them ("According to source
# [S3] (page 4), Renner spent …", "[S5] (Prairie Ledger)"): a locator, not part of the claim,
# whose "4" would otherwise fail the claim's number check.
_LOCATOR = re.compile(r"^\([^()]{0,60}\)[\s,:]*")


def _after_ids(body: str) -> str:
    """`body` without a leading locator, when a claim follows it."""
    rest = _LOCATOR.sub("", body)
    return rest if re.search(r"\w", rest) else body


def parse_reply(reply: str) -> ParsedReply:
    """Split a reply into sentences, each with the ids (or free quotes) it ends with.

    A small model, even under the grammar, writes run-on replies: several sentences before one
    group of ids, or the ids first ("According to [S5][S6] BrightMart reported …"). Each
    sentence of a run-on body gets the group's ids, so each is verified (and kept or dropped)
    on its own, and ids after a lead-in belong to the claim that follows them. Measured on the
    news dev set: 5 of 175 replies were lost whole to these forms before (eval/RESULTS.md)."""
    text = reply.strip()
    if not text or text.upper().startswith(ABSTAIN_TOKEN):
        return ParsedReply(abstained=True)
    sentences: list[ReplySentence] = []
    carried: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())  # ids after a lead-in
    pos = 0
    for m in _CITES.finditer(text):
        body = text[pos : m.start()].strip()
        if pos:
            body = _after_ids(body)
        marks = m.group(0)
        refs = tuple(
            f"S{int(n)}"
            for mk in ID_MARKER.finditer(marks)
            for n in MARKER_IDS.findall(mk.group(0))
        )
        quotes = tuple(q.group(1) for q in QUOTE_MARKER.finditer(marks))
        pos = m.end()
        if _LEAD_IN.match(body) and text[pos:].strip():
            carried = (carried[0] + refs, carried[1] + quotes)
            continue
        refs, quotes = carried[0] + refs, carried[1] + quotes
        carried = ((), ())
        tail = marks.rstrip()[-1]
        if body and tail in ".!?" and not body.endswith((".", "!", "?")):
            body += tail
        if body:
            sentences += [ReplySentence(part, refs, quotes) for part in _split_sentences(body)]
        elif sentences:  # markers after markers: they belong to the previous sentence
            prev = sentences[-1]
            sentences[-1] = ReplySentence(prev.text, prev.refs + refs, prev.quotes + quotes)
    rest = text[pos:].strip()
    if pos:
        rest = _after_ids(rest)
    if rest and rest != ABSTAIN_TOKEN:
        rest = rest.replace(ABSTAIN_TOKEN, "").strip()
        sentences += [ReplySentence(part, *carried) for part in _split_sentences(rest)]
    # A reply held to two or more sentences (`ReplyFormat.min_sentences`) says it has no more
    # with the abstain token in a sentence of its own, any letter case ("Not_in_sources. [S4]").
    sentences = [s for s in sentences if not _says_abstain(s.text)]
    if all(ABSTAIN_TOKEN in s.text.upper() for s in sentences):
        return ParsedReply(abstained=True)
    return ParsedReply(abstained=False, sentences=tuple(sentences))


def _says_abstain(text: str) -> bool:
    """The abstain token as a sentence of its own, in any letter case or punctuation."""
    return re.sub(r"[^a-z]", "", text.lower()) == ABSTAIN_TOKEN.replace("_", "").lower()


def _split_sentences(body: str) -> list[str]:
    """A reply body as sentences (the article splitter, which knows "U.S." is no full stop)."""
    parts = [body[sp.start : sp.end] for sp in sentence_spans(body)] or [body]
    return [p.strip() for p in parts if p.strip()]


_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}


def content_words(text: str) -> set[str]:
    """Lower-cased word stems (first 6 letters) minus stopwords, number words as digits."""
    words = re.findall(r"[^\W_]+", unicodedata.normalize("NFKC", text).lower())
    words = [_NUMBER_WORDS.get(w, w) for w in words]
    return {w[:6] for w in words if w not in STOPWORDS and (len(w) > 1 or w.isdigit())}


_QUOTED = re.compile(r'"([^"]{2,})"')
_QUOTE_CHARS = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "‚": "'"})


_MONEY_FIGURE = re.compile(
    r"[$€£¥]\s?(\d[\d,]*(?:\.\d+)?)|"
    r"(\d[\d,]*(?:\.\d+)?)(?:\s+(?:million|billion|trillion))?\s+(?:dollars|euros|pounds)\b",
    re.IGNORECASE,
)


def money_figures(text: str) -> set[str]:
    """The figures `text` writes as amounts of money ("$12,400", "3 million dollars"), without
    their thousands separators."""
    return {(m.group(1) or m.group(2)).replace(",", "") for m in _MONEY_FIGURE.finditer(text)}


def _plain(text: str) -> str:
    """Text as quotations are compared: spaces collapsed, quote marks straightened, lower case."""
    return " ".join(text.split()).translate(_QUOTE_CHARS).lower()


def _quoted_words(sentence: str) -> list[str]:
    """What the sentence puts in quotation marks, lower-cased, spaces collapsed, without the
    closing punctuation: an answer ends a quote with a period where the article went on
    ('"If I come, a political show will start."' for '"If I come, a political show will
    start," he added.')."""
    out = []
    for quoted in _QUOTED.findall(sentence.translate(_QUOTE_CHARS)):
        words = _plain(quoted).rstrip(".,;:!? ")
        if words:
            out.append(words)
    return out


def _quote_sources(
    sentence: str, cites: Sequence[Citation], context: Context, articles: Mapping[str, Article]
) -> list[Citation]:
    """Shown sentences of the articles already cited that hold words the sentence quotes and
    its citations do not: a model quotes a remark and cites the sentence that introduces it
    ("… Putin said, commenting on his absence" [S11]) rather than the one it is written in
    ([S12]). A quotation is checked against the sources word for word (`support`), so it is
    cited where it is written. Another article's sentence is not taken: a song title in
    quotation marks ("Nice for What") is written in the song's article, which does not make
    a claim from another article about it true (a CLAP NQ near miss)."""
    found: list[Citation] = []
    have = {(c.article_id, c.start) for c in cites}
    cited = {c.article_id for c in cites}
    held = " ".join(_plain(c.quote) for c in cites)
    for words in _quoted_words(sentence):
        if len(words.split()) < 3:
            continue  # a quoted word or two ("terrorist") is a term, not a remark to locate
        if words in held:
            continue
        for ns in context.sentences:
            if (ns.article_id, ns.start) in have or ns.article_id not in cited:
                continue
            if words in _plain(ns.text):
                c = make_citation(articles[ns.article_id], ns.start, ns.end, ns.ref)
                found.append(c)
                have.add((c.article_id, c.start))
                break
    return found


def singular(stem: str) -> str:
    """A `content_words` stem without a plural s ("days" -> "day"; "glass" stays)."""
    return stem[:-1] if len(stem) > 3 and stem.endswith("s") and stem[-2] != "s" else stem


def word_forms(text: str) -> set[str]:
    """`content_words` of the text and their singulars ("drivers" also as "driver")."""
    words = content_words(text)
    return words | {singular(w) for w in words}


def _given(word: str, given: frozenset[str]) -> bool:
    """The word is the question's, or one of its forms ("lasted" for "last")."""
    return word in given or any(len(g) >= 4 and word.startswith(g) for g in given)


def _framing(sentence: str, given: frozenset[str]) -> tuple[set[str], set[str]]:
    """(the words the sentence repeats from the question, the words it adds). A sentence that
    adds nothing is judged whole: (empty, all its words)."""
    words = content_words(sentence)
    framed = {w for w in words if _given(w, given)}
    return (framed, words - framed) if words - framed else (set(), words)


def related(word: str, evidence: set[str]) -> bool:
    """The word, or a form of it ("hourly" / "hour"), is in the evidence."""
    return word in evidence or any(
        len(e) >= 4 and len(word) >= 4 and (word.startswith(e) or e.startswith(word))
        for e in evidence
    )


def _bears(
    quote: str,
    added: set[str],
    framed: set[str],
    given: frozenset[str] = frozenset(),
    *,
    names: AbstractSet[str] = frozenset(),
    before: str = "",
) -> bool:
    """One quote holds some of what the sentence adds and some of the question it repeats: an
    answer assembled from a quote on the question and another that merely names the answer
    ("… which does not include Kyrgyzstan …") is not supported. A quote that opens by
    pointing back ("It also said every customer would see a $25 credit") names its subject in
    the sentence before, so any of the question's words (`given`: "customers") will do; and
    where that sentence (`before`) writes every name the answer repeats from the question
    (`names`), the quote bears on them: "It lies in the Jordan Rift Valley", after "The Dead
    Sea is 50 kilometres long", on where the Dead Sea is."""
    words = word_forms(quote)
    has_added = any(w in words or singular(w) in words for w in added)
    if not has_added:
        return False
    if not _REFERS_BACK.match(quote):
        return any(related(w, words) for w in framed)
    if any(related(w, words) for w in framed | given):
        return True
    prior = word_forms(before)
    return bool(names) and all(related(w, prior) for w in names)


def _framed_names(sentence: str, framed: set[str]) -> set[str]:
    """The question's words the sentence writes capitalised ("Dead", "Sea" in "The Dead Sea
    is located in …"): the names it is about."""
    return framed & content_words(" ".join(re.findall(r"\b[A-Z][\w'’-]*", sentence)))


def _sentence_before(article: Article, start: int) -> str:
    """The article's sentence before the one at `start` (the last of the previous paragraph
    at a paragraph's start: news copy opens a paragraph with "It said …" too)."""
    head = article.text[max(0, start - 600) : start].rstrip()
    spans = sentence_spans(head)
    return head[spans[-1].start : spans[-1].end] if spans else ""


# A sentence that opens by pointing back ("It also said …", "The 71-year-old built …"). One
# that opens with a name ("Kyrgyzstan was not among them") states its own subject.
_REFERS_BACK = re.compile(
    r"[\s\"“‘']*(?:it|its|he|his|she|her|they|their|this|that|these|those|the|such)\b",
    re.IGNORECASE,
)


def support(sentence: str, quotes: list[str], given: frozenset[str] = frozenset()) -> float:
    """Share of the sentence's content words that appear in the quotes it cites; 0 when it
    states a number the quotes do not contain (a wrong figure is the costliest invention).
    `given` are the question's words: an answer that restates the question ("The hourly pay
    Brenton's striking drivers are asking for is $27") is judged on what it adds ($27), since
    whether the quotes are about the question's subject is the anchor checks' job (and
    `_repair` adds only quotes that bear on the question). A sentence that adds nothing is
    judged whole."""
    _, claim = _framing(sentence, given)
    if not claim:
        return 1.0
    evidence: set[str] = set()
    for q in quotes:
        evidence |= content_words(q)
    if any(w.isdigit() and w not in evidence for w in claim):
        return 0.0
    if not money_figures(sentence) <= set().union(*(money_figures(q) for q in quotes)):
        return 0.0  # "$12,400" of damage from "12,400 acres": a figure's unit is part of it
    # "days" is supported by "nine-day", "drivers" by "driver"
    evidence |= {singular(w) for w in evidence}
    claim = {w if w in evidence else singular(w) for w in claim}
    # Words the answer puts in quotation marks must be in the sources: no invented quotes.
    # The question's own words in quotation marks name what was asked about ('The origin of
    # the term "getting cold feet" …' for "where did the expression getting cold feet come
    # from"), and are checked as any other words.
    joined = " ".join(_plain(q) for q in quotes)
    for quoted in _quoted_words(sentence):
        if quoted not in joined and not content_words(quoted) <= given:
            return 0.0
    return len(claim & evidence) / len(claim)


# A word, or a figure whole with its currency sign and separators ("$1.5", "12,400").
_WORD_OR_FIGURE = re.compile(r"[$€£¥]?\d[\d,.]*\d|[$€£¥]?\d|[^\W_][\w'’-]*")


def unstated(sentence: str, quotes: list[str], given: frozenset[str] = frozenset()) -> list[str]:
    """What `support` finds missing, as the sentence writes it: the runs of its words that add
    to the question (`given`) and that no quote states ("Ilham Aliyev" in "Kazakhstan's leader
    is Ilham Aliyev", cited from a sentence about Armenia). A stopword ends a run."""
    _, claim = _framing(sentence, given)
    evidence: set[str] = set()
    for q in quotes:
        evidence |= content_words(q)
    evidence |= {singular(w) for w in evidence}
    runs: list[str] = []
    run: list[str] = []
    end = 0
    for m in [*_WORD_OR_FIGURE.finditer(sentence), None]:
        word = m.group(0) if m else ""
        stems = content_words(word) & claim
        missing = any(w not in evidence and singular(w) not in evidence for w in stems)
        # A run goes on over spaces only: "Alexander Lukashenko, Sadyr Japarov" is two.
        if run and (not missing or m is None or sentence[end : m.start()].strip()):
            if " ".join(run) not in runs:
                runs.append(" ".join(run))
            run = []
        if missing:
            run.append(word)
        end = m.end() if m else end
    return runs


def make_citation(article: Article, start: int, end: int, ref: str = "") -> Citation:
    """The only way a Citation is made: the quote is cut from the article text itself."""
    if not 0 <= start < end <= len(article.text):
        raise CitationError(
            f"span [{start}, {end}) is outside article {article.id!r} ({len(article.text)} chars)"
        )
    quote = article.text[start:end]
    citation = Citation(article.id, article.title, start, end, quote, ref)
    assert_valid(citation, article)
    return citation


def quote_holds(text: str | None, start: int, end: int, quote: str) -> bool:
    """The one citation-validity check: the article's text (None: no such article) at the
    non-empty, in-range `[start, end)` is exactly the quote. Asserted on every answer
    (`assert_valid`), and counted by eval (`citation_validity`) and the injection judge."""
    return text is not None and 0 <= start < end <= len(text) and text[start:end] == quote


def assert_valid(citation: Citation, article: Article) -> None:
    if article.id != citation.article_id or not quote_holds(
        article.text, citation.start, citation.end, citation.quote
    ):
        raise CitationError(
            f"citation {citation.ref or ''} does not match article {citation.article_id!r} "
            f"at [{citation.start}, {citation.end})"
        )


def _normalised_with_map(text: str) -> tuple[str, list[int]]:
    """Whitespace runs collapsed, curly quotes straightened; map[i] = raw offset of char i."""
    out: list[str] = []
    mapping: list[int] = []
    prev_space = False
    for i, ch in enumerate(text):
        if ch.isspace():
            if prev_space or not out:
                continue
            out.append(" ")
            mapping.append(i)
            prev_space = True
            continue
        out.append(ch.translate(_QUOTE_CHARS))
        mapping.append(i)
        prev_space = False
    return "".join(out), mapping


def locate_quote(article_text: str, quote: str) -> tuple[int, int] | None:
    """Raw `[start, end)` of `quote` in the article, matching after normalising whitespace and
    quote characters; None when the quote is not in the article."""
    exact = article_text.find(quote)
    if exact >= 0 and quote:
        return exact, exact + len(quote)
    norm_text, mapping = _normalised_with_map(article_text)
    norm_quote, _ = _normalised_with_map(quote.strip())
    norm_quote = norm_quote.strip()
    if not norm_quote:
        return None
    at = norm_text.find(norm_quote)
    if at < 0:
        return None
    last = at + len(norm_quote) - 1
    return mapping[at], mapping[last] + 1


def verify(
    parsed: ParsedReply,
    context: Context,
    articles: Mapping[str, Article],
    *,
    min_support: float,
    max_sentences: int,
    question: str = "",
) -> tuple[AnswerSentence, ...]:
    """Attach verified citations to each reply sentence; mark the unsupported ones. Support is
    measured on what each sentence adds to `question` (see `support`)."""
    given = frozenset(content_words(question))
    shown = context.by_ref()
    shown_articles = list(dict.fromkeys(s.article_id for s in context.sentences))
    out: list[AnswerSentence] = []
    for rs in parsed.sentences[: max_sentences * 2]:
        cites: list[Citation] = []
        for ref in dict.fromkeys(rs.refs):
            ns = shown.get(ref)
            if ns is None or ns.article_id not in articles:
                continue  # an id the model was never shown: rejected
            c = make_citation(articles[ns.article_id], ns.start, ns.end, ref)
            if c.quote != ns.text:
                raise CitationError(f"context sentence {ref} drifted from its article text")
            cites.append(c)
        for q in rs.quotes:
            for aid in shown_articles:
                found = locate_quote(articles[aid].text, q) if aid in articles else None
                if found and not _touches_injection(articles[aid], *found):
                    cites.append(make_citation(articles[aid], *found, ref="quote"))
                    break
        if cites:
            cites += _quote_sources(rs.text, cites, context, articles)
        # A sentence that gives orders is no answer, whatever it cites.
        gives_orders = looks_like_injection(rs.text)
        ok = (
            bool(cites)
            and not gives_orders
            and support(rs.text, [c.quote for c in cites], given) >= min_support
        )
        if not ok and cites and not gives_orders:
            repaired = _repair(rs.text, cites, context, articles, min_support, given)
            if repaired:
                cites, ok = repaired, True
        if ok:
            cites = _prune(rs.text, cites, given)
        score = support(rs.text, [c.quote for c in cites], given) if cites else 0.0
        text = in_source_form(rs.text, [c.quote for c in cites]) if ok else rs.text
        out.append(AnswerSentence(text, tuple(cites), supported=ok, support=score))
    supported = [s for s in out if s.supported][:max_sentences]
    unsupported = [s for s in out if not s.supported]
    return tuple(supported + unsupported)


def _prune(
    sentence: str, cites: list[Citation], given: frozenset[str] = frozenset()
) -> list[Citation]:
    """Drop citations that add nothing to the sentence's support: a group of ids written after
    several sentences ("… [S5][S6][S7][S8]"), or a lead-in's ids, are inherited by each sentence,
    and a quote that states none of a sentence's words is no evidence for it."""
    kept = list(cites)
    best = support(sentence, [c.quote for c in kept], given)
    # Last first: of two quotes that state the same, the one the model cited first stays (its
    # main source, and the higher-ranked article: the context lists articles by rank).
    for c in reversed(list(kept)):
        if len(kept) == 1:
            break
        rest = [k for k in kept if k is not c]
        if support(sentence, [k.quote for k in rest], given) >= best:
            kept = rest
    return kept


def also_stating(
    sentence: str,
    cites: Sequence[Citation],
    context: Context,
    articles: Mapping[str, Article],
    *,
    min_support: float,
    question: str,
    most: int,
) -> list[Citation]:
    """Other shown sentences of the cited articles that state the claim by themselves (as
    well as its own citations do, and at least `min_support`), best first, at most `most`: a
    model cites one sentence where the article says it in two (a definition and its
    restatement), and a reader checking the claim should see every place it is stated. Only
    the articles already cited. Run after the gates, which judge what the model cited."""
    given = frozenset(content_words(question))
    have = {(c.article_id, c.start) for c in cites}
    cited = {c.article_id for c in cites}
    framed, added = _framing(sentence, given)
    floor = max(min_support, min(support(sentence, [c.quote], given) for c in cites))
    scored: list[tuple[float, int]] = []
    for i, ns in enumerate(context.sentences):
        if (ns.article_id, ns.start) in have or ns.article_id not in cited:
            continue
        if framed and not _bears(ns.text, added, framed):
            continue
        score = support(sentence, [ns.text], given)
        if score >= floor:
            scored.append((score, i))
    scored.sort(key=lambda si: (-si[0], si[1]))
    out = []
    for _, i in scored[:most]:
        ns = context.sentences[i]
        out.append(make_citation(articles[ns.article_id], ns.start, ns.end, ns.ref))
    return out


def recite_within(
    sentences: Sequence[AnswerSentence],
    context: Context,
    articles: Mapping[str, Article],
    within: Callable[[Article], bool],
    *,
    min_support: float,
    question: str,
) -> tuple[AnswerSentence, ...] | None:
    """The kept sentences cited anew from the shown sentences of articles `within` (those of
    the time the question asks about), or None when one of them is not stated there. Look-alike
    stories repeat a name: "BrightMart reported quarterly results this week", right, cited
    from last quarter's BrightMart story, is stated as well by this week's."""
    given = frozenset(content_words(question))
    inside = Context(
        tuple(
            ns
            for ns in context.sentences
            if ns.article_id in articles and within(articles[ns.article_id])
        ),
        context.tokens,
    )
    if not inside.sentences:
        return None
    out: list[AnswerSentence] = []
    for s in sentences:
        if not s.supported:
            out.append(s)
            continue
        cites = _repair(s.text, [], inside, articles, min_support, given)
        if cites is None:
            return None
        cites = _prune(s.text, cites, given)
        score = support(s.text, [c.quote for c in cites], given)
        out.append(AnswerSentence(s.text, tuple(cites), supported=True, support=score))
    return tuple(out)


def _touches_injection(article: Article, start: int, end: int) -> bool:
    """Whether `[start, end)` overlaps a sentence written to steer the model. The context never
    shows such sentences, but a free quote is searched in the whole article, and a quote cut
    from one ("The outage was caused by a cyberattack", without its "Assistant:" label) does
    not look like an order by itself. The sentences are the ones flagged at ingest
    (`Article.injection`); only an article from an older index is split and checked here."""
    return any(s.start < end and start < s.end for s in flagged_spans(article))


def _repair(
    sentence: str,
    cites: list[Citation],
    context: Context,
    articles: Mapping[str, Article],
    min_support: float,
    given: frozenset[str] = frozenset(),
    max_added: int = 2,
) -> list[Citation] | None:
    """Small models often cite the sentence next to the right one. Add the shown sentences
    that best raise the claim's support (at most `max_added`); None if it stays too low.
    The added citations are exact spans like any other: only *which* span is adjusted."""
    chosen = list(cites)
    framed, added = _framing(sentence, given)
    names = _framed_names(sentence, framed)
    for _ in range(max_added):
        have = {(c.article_id, c.start) for c in chosen}
        best, best_score = None, support(sentence, [c.quote for c in chosen], given)
        for ns in context.sentences:
            if (ns.article_id, ns.start) in have or ns.article_id not in articles:
                continue
            # Only a quote that points back reads the sentence before it (`_bears`).
            back = names and _REFERS_BACK.match(ns.text)
            before = _sentence_before(articles[ns.article_id], ns.start) if back else ""
            if framed and not _bears(ns.text, added, framed, given, names=names, before=before):
                continue  # names the answer, but not about what was asked
            score = support(sentence, [c.quote for c in chosen] + [ns.text], given)
            if score > best_score:
                best, best_score = ns, score
        if best is None:
            return None
        chosen.append(make_citation(articles[best.article_id], best.start, best.end, best.ref))
        if best_score >= min_support:
            return chosen
    return None
