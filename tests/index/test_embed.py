"""The embedding backends: ONNX variants load offline, export into the cache dir, and give the
vectors the PyTorch model gives (float exactly up to rounding, int8 closely)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from index.embed import Embedder, packaged_model_path
from qa.errors import ModelError
from tests.conftest import SAMPLE


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return Embedder(backend="torch")


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("embed-cache")


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """Real sentences and paragraphs of the sample article, plus a short query."""
    paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", SAMPLE.read_text()) if p.strip()]
    return ["Why did Pashinyan skip the summit?", *paras]


# int8 floor: measured min 0.985 on these texts (mean 0.992); float is exact up to rounding.
@pytest.mark.parametrize(("backend", "floor"), [("onnx", 0.999), ("onnx-int8", 0.97)])
def test_onnx_backend_matches_torch(backend, floor, torch_embedder, onnx_cache, texts):
    embedder = torch_embedder
    e = Embedder(backend=backend, cache_dir=onnx_cache)
    assert e.variant == f"all-MiniLM-L6-v2/{backend}"
    assert e.onnx_path.is_relative_to(onnx_cache / "embed")
    assert (e.dim, e.max_tokens) == (embedder.dim, embedder.max_tokens)
    assert e.count_tokens(texts) == embedder.count_tokens(texts)

    got, ref = e.embed(texts), embedder.embed(texts)
    assert got.shape == ref.shape and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    cos = (got * ref).sum(axis=1)
    # Nearest other text of each text, as torch finds it.
    sims, ref_sims = got @ got.T, ref @ ref.T
    np.fill_diagonal(sims, -1)
    np.fill_diagonal(ref_sims, -1)
    same = (sims.argmax(1) == ref_sims.argmax(1)).mean()
    # ONNX embeds one unpadded text per run, so a vector never depends on the other texts
    # (int8 quantisation scales activations over the whole input: batch-mates used to shift it).
    alone = e.embed_query(texts[0])
    reordered = e.embed(texts[::-1])[::-1]
    assert np.array_equal(reordered, got)
    assert np.array_equal(alone, got[0])
    alone = float(alone @ got[0])
    print(
        f"{backend}: cosine to torch min {cos.min():.4f} mean {cos.mean():.4f}; "
        f"same nearest {same:.2f}; alone vs in batch {alone:.4f}"
    )
    assert cos.min() > floor
    if backend == "onnx":  # float: the same model, so the same neighbours
        assert same == 1.0


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_grouped_sentences_match_one_text_per_run(backend, onnx_cache, texts):
    """Sentence vectors at ingest run equal-length texts together (float only): the same
    vectors up to rounding; int8 ignores the request and stays exact."""
    e = Embedder(backend=backend, cache_dir=onnx_cache)
    sentences = [s.strip() + "." for t in texts for s in t.split(".") if s.strip()]
    sentences += sentences[:4]  # repeated texts: equal lengths for certain
    single, grouped = e.embed(sentences), e.embed(sentences, grouped=True)
    assert grouped.shape == single.shape and grouped.dtype == np.float32
    if backend == "onnx":
        assert np.allclose(grouped, single, atol=1e-5)
    else:
        assert np.array_equal(grouped, single)


def test_export_goes_to_cache_and_is_reused(onnx_cache):
    first = Embedder(backend="onnx-int8", cache_dir=onnx_cache)
    made = {p: p.stat().st_mtime_ns for p in (onnx_cache / "embed").rglob("*.onnx")}
    assert {p.name for p in made} == {"model.onnx", "model_int8.onnx"}
    assert not list(Path(packaged_model_path()).rglob("*.onnx"))  # never into site-packages
    assert not list((onnx_cache / "embed").rglob("*.part.onnx"))  # no leftovers

    again = Embedder(backend="onnx-int8", cache_dir=onnx_cache)
    assert again.onnx_path == first.onnx_path
    assert {p: p.stat().st_mtime_ns for p in made} == made  # loaded, not exported again


def test_unknown_backend_says_what_to_use():
    with pytest.raises(ModelError, match="torch, onnx, onnx-int8"):
        Embedder(backend="tensorflow")  # type: ignore[arg-type]
