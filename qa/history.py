"""Follow-up questions ("and why did he skip it?") rewritten into standalone ones."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from qa.llm.base import LLM

History = Sequence[Any]  # [{"role", "content"}, …] or [(user, assistant), …]

_FOLLOW_UP = re.compile(
    r"\b(he|she|it|they|him|her|them|his|hers|its|their|this|that|these|those|there)\b"
    r"|^(and|but|so|also|what about|how about)\b",
    re.IGNORECASE,
)


def normalise_history(history: History | None) -> list[tuple[str, str]]:
    """The conversation as a transcript: (role, text) pairs, the last six, from either the
    messages form or the (user, assistant) pairs form."""
    transcript: list[tuple[str, str]] = []
    for item in history or ():
        if isinstance(item, dict):
            role, content = item.get("role"), item.get("content")
            if role in ("user", "assistant") and isinstance(content, str) and content.strip():
                transcript.append((role, content.strip()))
        elif isinstance(item, list | tuple) and len(item) == 2:
            user, bot = item
            if isinstance(user, str) and user.strip():
                transcript.append(("user", user.strip()))
            if isinstance(bot, str) and bot.strip():
                transcript.append(("assistant", bot.strip()))
    return transcript[-6:]


def rewrite_question(question: str, transcript: Sequence[tuple[str, str]], llm: LLM) -> str:
    """A standalone form of `question`; unchanged when it does not lean on the `transcript`
    (the conversation before it, from `normalise_history`). A backend without a model
    (extractive) is not asked: the follow-up is the question before it and then it, as written."""
    last_user = next((t for r, t in reversed(transcript) if r == "user"), None)
    if last_user is None or not _FOLLOW_UP.search(question):
        return question
    fallback = f"{last_user} {question}"
    if not llm.is_model:
        return fallback
    history = "\n".join(f"{role.title()}: {_short(text)}" for role, text in transcript)
    from qa.prompts import prompt_messages  # LangChain's templates: only when rewriting

    messages = prompt_messages("rewrite", history=history, question=question)
    reply = llm.complete(messages, max_tokens=60).strip().splitlines()
    rewritten = reply[0].strip().strip('"') if reply else ""
    if not rewritten or len(rewritten) > 4 * len(question) + 100:
        return fallback
    return rewritten


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
