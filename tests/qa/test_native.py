"""Which ik_llama.cpp library the local engine loads (`qa.llm.native`), and `citeqa engine`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qa.llm import native

XEON = (
    "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\n"
    "flags\t\t: fpu sse sse2 avx avx2 fma f16c avx512f avx512dq avx512cd avx512bw avx512vl "
    "avx512vbmi avx512_vnni avx512_bf16 avx_vnni amx_tile\n\n"
    "processor\t: 1\nflags\t\t: fpu sse sse2 avx avx2 fma f16c avx512f\n"
)
EPYC_ZEN3 = "processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2 fma f16c bmi2\n"
# AVX-512 with its VNNI, but not the 256-bit AVX-VNNI (the machine of stop 40).
EPYC_ZEN4 = (
    "processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2 fma f16c avx512f avx512dq avx512cd "
    "avx512bw avx512vl avx512vbmi avx512_vnni avx512_bf16 avx512_vpopcntdq\n"
)


def _built(cache: Path, variant: native.Variant = native.VARIANTS[0]) -> Path:
    """A stand-in build in the cache: the two libraries and the manifest."""
    version = native.binding_version()
    assert version is not None
    where = native.build_dir(cache, version, variant)
    where.mkdir(parents=True)
    for name in native.LIBRARIES:
        (where / name).write_bytes(b"\x7fELF")
    (where / "build.json").write_text(json.dumps({"version": version}))
    return where


class TestCpuFlags:
    def test_reads_the_first_processors_flags(self):
        flags = native.cpu_flags(XEON)
        assert "avx512_vnni" in flags and "amx_tile" in flags

    def test_a_cpu_with_avx512_and_vnni_lacks_nothing(self):
        assert native.missing_flags(native.cpu_flags(XEON)) == []
        assert native.missing_flags(native.cpu_flags(EPYC_ZEN4)) == []

    def test_avx_vnni_is_compiled_in_only_for_a_cpu_that_has_it(self):
        xeon = native.variant_for(native.cpu_flags(XEON))
        zen4 = native.variant_for(native.cpu_flags(EPYC_ZEN4))
        assert xeon is not None and "-mavxvnni" in xeon.flags
        assert zen4 is not None and "-mavxvnni" not in zen4.flags
        assert "-mavx512vnni" in zen4.flags
        assert native.variant_for(native.cpu_flags(EPYC_ZEN3)) is None

    def test_an_avx2_cpu_lacks_the_avx512_flags_by_name(self):
        lacks = native.missing_flags(native.cpu_flags(EPYC_ZEN3))
        assert "avx512f" in lacks and "avx512_vnni" in lacks and "avx2" not in lacks

    def test_no_flags_line_means_nothing_known(self):
        assert native.cpu_flags("processor : 0\n") == frozenset()


class TestStatus:
    def test_the_build_is_used_when_this_cpu_runs_it(self, tmp_path):
        where = _built(tmp_path)
        st = native.status(tmp_path, flags=native.cpu_flags(XEON))
        assert st.library == where / "libllama.so"
        assert native.VARIANTS[0].name in st.reason

    def test_a_cpu_without_avx_vnni_uses_its_own_build_not_one_made_elsewhere(self, tmp_path):
        _built(tmp_path, native.VARIANTS[0])  # a cache shared with a Sapphire Rapids machine
        st = native.status(tmp_path, flags=native.cpu_flags(EPYC_ZEN4))
        assert st.library is None
        assert "not built yet" in st.reason
        where = _built(tmp_path, native.VARIANTS[1])
        st = native.status(tmp_path, flags=native.cpu_flags(EPYC_ZEN4))
        assert st.library == where / "libllama.so"
        assert native.VARIANTS[1].name in st.reason

    def test_the_wheel_is_used_before_anything_is_built(self, tmp_path):
        st = native.status(tmp_path, flags=native.cpu_flags(XEON))
        assert st.library is None
        assert "citeqa engine --build" in st.reason

    def test_the_wheel_is_used_on_a_cpu_without_avx512(self, tmp_path):
        _built(tmp_path)  # e.g. a cache copied from another machine
        st = native.status(tmp_path, flags=native.cpu_flags(EPYC_ZEN3))
        assert st.library is None
        assert "avx512f" in st.reason

    def test_a_half_finished_build_is_not_used(self, tmp_path):
        where = _built(tmp_path)
        (where / "build.json").unlink()  # written last, after the library was checked
        assert native.status(tmp_path, flags=native.cpu_flags(XEON)).library is None

    def test_a_build_of_another_release_is_not_used(self, tmp_path):
        other = native.build_dir(tmp_path, "0.0.1", native.VARIANTS[0])
        other.mkdir(parents=True)
        for name in (*native.LIBRARIES, "build.json"):
            (other / name).write_text("x")
        assert native.status(tmp_path, flags=native.cpu_flags(XEON)).library is None


def _engine(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "citeqa_cli", "engine", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**_env(), "CITEQA_CACHE_DIR": str(cache)},
    )


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "IK_LLAMA_CPP_LIB_PATH"}


class TestEngineCommand:
    def test_says_which_library_and_why(self, tmp_path):
        r = _engine(cache=tmp_path)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("library: ")
        assert "why: " in r.stdout

    def test_the_setting_wheel_keeps_the_wheels_library(self, tmp_path):
        _built(tmp_path)
        r = subprocess.run(
            [sys.executable, "-m", "citeqa_cli", "engine"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**_env(), "CITEQA_CACHE_DIR": str(tmp_path), "CITEQA_NATIVE_LIBRARY": "wheel"},
        )
        assert r.returncode == 0, r.stderr
        assert "library: the ik-llama-cpp-python wheel" in r.stdout
        assert "native_library is 'wheel'" in r.stdout

    @pytest.mark.skipif(
        not native.missing_flags(native.cpu_flags()), reason="this CPU can run the build"
    )
    def test_build_if_supported_succeeds_doing_nothing_where_it_is_not(self, tmp_path):
        r = _engine("--build", "--if-supported", cache=tmp_path)
        assert r.returncode == 0, r.stderr
        assert "Nothing to build" in r.stdout


# Run in a child process: the binding loads one ik_llama.cpp library per process, and this one
# may already hold the wheel's.
_ON_THE_BUILD = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from tests.qa.test_greedy import FMT, QUESTIONS, _full_grammar_reply, _messages
from qa.llm.local import LocalLLM
from qa.llm.models import resolve_model
from qa.llm.native import loaded
llm = LocalLLM(resolve_model("qwen2.5-coder-0.5b", Path(sys.argv[1])), model_name="0.5b",
               library=Path(sys.argv[2]))
out = {"library": loaded(), "rows": []}
for q in QUESTIONS:
    first = llm.complete(_messages(q), fmt=FMT, max_tokens=80)
    again = llm.complete(_messages(q), fmt=FMT, max_tokens=80)
    full = _full_grammar_reply(llm, _messages(q), 80)
    out["rows"].append([first, again, full])
llm.close()
print(json.dumps(out))
"""


class TestTheBuild:
    """The library `citeqa engine --build` made (`make test` builds it on a CPU it is for)."""

    def test_it_loads_and_decodes_as_the_full_grammar_does(self, cache_dir):
        built = native.status(cache_dir).library
        if built is None:
            pytest.skip(native.status(cache_dir).reason)
        root = Path(__file__).resolve().parents[2]
        r = subprocess.run(
            [sys.executable, "-c", _ON_THE_BUILD, str(cache_dir), str(built), str(root)],
            capture_output=True,
            text=True,
            timeout=600,
            env=_env(),
            cwd=root,
        )
        assert r.returncode == 0, r.stderr[-2000:]
        got = json.loads(r.stdout.strip().splitlines()[-1])
        assert Path(got["library"]) == built
        for first, again, full in got["rows"]:
            assert first == again == full
            assert first.endswith(("]", "].", "NOT_IN_SOURCES"))
