"""citeqa's index as a LangChain retriever (`Assistant.as_retriever`).

Apart from qa/retrieve.py so that opening an index does not import LangChain: commands that
only list or remove articles never need it (`citeqa articles`, issue 17).
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from qa.types import Chunk, RetrievedChunk


def to_document(rc: RetrievedChunk) -> Document:
    c: Chunk = rc.chunk
    return Document(
        page_content=c.text,
        id=c.id,
        metadata={
            "article_id": c.article_id,
            "title": c.title,
            "start": c.start,
            "end": c.end,
            "source": c.source,
            "published_at": c.published_at,
            "score": rc.score,
        },
    )


class CiteqaRetriever(BaseRetriever):
    """LangChain retriever over a citeqa index: `Assistant.open(...).as_retriever(k=5)`."""

    hybrid: Any  # HybridRetriever; Any keeps pydantic from inspecting it
    k: int = 5
    filters: Any = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        result = self.hybrid.retrieve(query, k=self.k, filters=self.filters)
        return [to_document(rc) for rc in result.chunks]
