"""The CLI's edges, as a user hits them: date filters, read commands on a missing index,
broken --config files, out-of-range --k, `ingest --`, the openai backend's time budget and a
`citeqa --help` that imports nothing heavy.

Most cases run `qa.cli.main` in-process (what the `citeqa` script runs) and fail before any
model loads; a few run real `citeqa` processes. Every error case also checks what was (not)
written to disk.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from citeqa_cli import main
from qa.cli import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE
from qa.errors import BackendError, ConfigError, InputError
from qa.filters import parse_filters
from tests.conftest import SAMPLE

CITEQA = str(Path(sys.executable).with_name("citeqa"))
QUESTION = "Why did Pashinyan skip the summit?"


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _run(*argv: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 300):
    return subprocess.run(
        [CITEQA, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture()
def clean_env(monkeypatch, tmp_path):
    """No CITEQA_* from the caller's shell, and defaults that point into tmp_path."""
    for name in list(os.environ):
        if name.upper().startswith("CITEQA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    return monkeypatch


# --- 1. --after / --before ---------------------------------------------------------------


def _ts(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()


class TestDateFilters:
    def test_a_date_is_the_whole_day(self):
        f = parse_filters([], "2022-06-28", "2022-06-28")
        assert f.published_after == _ts(2022, 6, 28)
        assert f.published_before == _ts(2022, 6, 28, 23, 59, 59, 999999)
        for when, inside in [
            (_ts(2022, 6, 27, 23, 59, 59), False),
            (_ts(2022, 6, 28), True),
            (_ts(2022, 6, 28, 18, 30), True),  # the case that used to be excluded
            (_ts(2022, 6, 28, 23, 59, 59, 999999), True),
            (_ts(2022, 6, 29), False),
        ]:
            assert f.matches(SimpleNamespace(source=None, published_at=when)) is inside, when

    def test_a_time_is_taken_as_given(self):
        f = parse_filters([], "2022-06-28T08:15", "2022-06-28T12:30:00+02:00")
        assert f.published_after == _ts(2022, 6, 28, 8, 15)  # no offset: UTC, as at ingest
        assert f.published_before == _ts(2022, 6, 28, 10, 30)
        f = parse_filters([], None, "2022-06-28T00:00Z")
        assert f.published_after is None and f.published_before == _ts(2022, 6, 28)

    def test_reversed_range_names_both_values(self):
        with pytest.raises(InputError) as err:
            parse_filters([], "2023-12-31", "2023-10-01")
        msg = str(err.value)
        assert "--after '2023-12-31'" in msg and "--before '2023-10-01'" in msg
        assert "later than" in msg and "swap" in msg
        parse_filters([], "2023-10-01T10:00", "2023-10-01T10:00")  # an instant is a range

    def test_the_dates_are_named_as_the_caller_names_them(self):
        # The page names its fields, the API its JSON fields: never a CLI flag to them.
        names = ("Published on/after", "Published on/before")
        with pytest.raises(InputError) as err:
            parse_filters([], "2023-12-31", "2023-10-01", names=names)
        assert "Published on/after '2023-12-31' is later than Published on/before" in str(err.value)
        with pytest.raises(InputError) as err:
            parse_filters([], None, "14/03/2024", names=("filters.after", "filters.before"))
        assert str(err.value).startswith("Bad date filter: filters.before '14/03/2024' is not a")
        assert "--" not in str(err.value)

    @pytest.mark.parametrize("flag", ["--after", "--before"])
    def test_bad_date_names_the_flag_and_the_form(self, flag, tmp_path, capsys, clean_env):
        d = tmp_path / "idx"
        code, out, err = _cli(capsys, "ask", "Why?", flag, "last week", "--data-dir", str(d))
        assert code == EXIT_USAGE and out == ""
        assert err.startswith(f"Error: Bad date filter: {flag} 'last week' is not a date; ")
        assert "ISO 8601" in err and "2023-10-12" in err and "+02:00" in err
        assert "epoch" not in err  # a command-line date cannot be epoch seconds
        assert len(err.splitlines()) == 1
        assert not d.exists()


# --- 2. read commands never create an index ----------------------------------------------


class TestReadCommandsOnAMissingIndex:
    @pytest.mark.models  # runs a real `citeqa` process: the end-to-end tier
    @pytest.mark.parametrize("sub", ["nonexistent", "x/y/nonexistent"])
    def test_ask_in_a_real_process(self, tmp_path, sub):
        d = tmp_path / sub
        before = _tree(tmp_path)
        r = _run("ask", "q", "--data-dir", str(d))
        assert r.returncode == EXIT_USAGE, r.stderr
        assert r.stderr == (
            f"Error: No citeqa index at {d}. Ingest articles first with "
            f"`citeqa ingest PATH --data-dir {d}`.\n"
        )
        assert r.stdout == ""
        assert _tree(tmp_path) == before  # not even the parent folders

    @pytest.mark.parametrize("argv", [["articles"], ["articles", "--json"], ["remove", "a-1"]])
    def test_articles_and_remove(self, argv, tmp_path, capsys, clean_env):
        d = tmp_path / "missing"
        code, out, err = _cli(capsys, *argv, "--data-dir", str(d))
        assert code == EXIT_USAGE and out == ""
        assert err.startswith(f"Error: No citeqa index at {d}. ")
        assert not d.exists()

    def test_a_typo_is_named(self, tmp_path, capsys, clean_env):
        base = tmp_path / "base"
        (base / "chroma").mkdir(parents=True)
        (base / "chroma" / "chroma.sqlite3").touch()  # what makes a folder an index
        before = _tree(tmp_path)
        code, _, err = _cli(capsys, "ask", "q", "--data-dir", str(tmp_path / "bse"))
        assert code == EXIT_USAGE
        assert f"No citeqa index at {tmp_path / 'bse'} (did you mean {base}?)" in err
        assert _tree(tmp_path) == before


# --- 3. --config that is not a TOML file -------------------------------------------------


class TestConfigFile:
    def test_a_directory(self, tmp_path, capsys, clean_env):
        conf = tmp_path / "conf"
        conf.mkdir()
        d = tmp_path / "idx"
        code, _, err = _cli(capsys, "ask", "q", "--config", str(conf), "--data-dir", str(d))
        assert code == EXIT_USAGE
        assert err.startswith(f"Error: Config file {conf} is a directory; pass a TOML file")
        assert "Traceback" not in err and not d.exists()

    def test_not_utf8(self, tmp_path, capsys, clean_env):
        data = b'k = 5\nmodel = "caf' + b"\xe9" + b'"\n'
        conf = tmp_path / "citeqa.toml"
        conf.write_bytes(data)
        code, _, err = _cli(capsys, "articles", "--config", str(conf))
        assert code == EXIT_USAGE
        byte = data.index(b"\xe9")
        assert err == (
            f"Error: Config file {conf} is not UTF-8 text (byte {byte}, line 2); "
            "save it as UTF-8.\n"
        )

    def test_named_by_env_says_so(self, tmp_path, capsys, clean_env):
        clean_env.setenv("CITEQA_CONFIG", str(tmp_path))
        code, _, err = _cli(capsys, "articles")
        assert code == EXIT_USAGE
        assert f"Config file {tmp_path} (from CITEQA_CONFIG) is a directory" in err
        assert not (tmp_path / "xdg-data").exists()

    def test_utf8_with_bom_is_fine(self, tmp_path, clean_env):
        from qa.settings import Settings

        conf = tmp_path / "bom.toml"
        conf.write_bytes(b"\xef\xbb\xbfk = 7\n")
        assert Settings.load(conf).k == 7


# --- 4. --k and where a bad value came from ----------------------------------------------


class TestSettingsErrorsNameTheirSource:
    def test_bound_is_one_constant(self):
        from qa.settings import K_MAX, Settings

        assert K_MAX == 50
        assert Settings.load(k=K_MAX).k == K_MAX
        with pytest.raises(ConfigError, match=f"from 1 to {K_MAX}"):
            Settings.load(k=K_MAX + 1)

    @pytest.mark.parametrize("k", ["0", "-3", "100000"])
    def test_flag(self, k, tmp_path, capsys, clean_env):
        clean_env.setenv("CITEQA_K", "7")  # the flag wins, so the flag is what is named
        d = tmp_path / "idx"
        code, _, err = _cli(capsys, "ask", "q", "--k", k, "--data-dir", str(d))
        assert code == EXIT_USAGE
        assert err == f"Error: Invalid settings: --k {k}: must be a whole number from 1 to 50.\n"
        assert "CITEQA_" not in err and not d.exists()

    def test_flag_in_range_passes(self, tmp_path, capsys, clean_env):
        code, _, err = _cli(capsys, "ask", "q", "--k", "50", "--data-dir", str(tmp_path / "i"))
        assert code == EXIT_USAGE and "No citeqa index" in err  # got past the settings

    @pytest.mark.parametrize(
        ("value", "msg"),
        [("0", "must be a whole number from 1 to 50"), ("zero", "valid integer")],
    )
    def test_env_var(self, value, msg, tmp_path, capsys, clean_env):
        clean_env.setenv("CITEQA_K", value)
        code, _, err = _cli(capsys, "ask", "q", "--data-dir", str(tmp_path / "idx"))
        assert code == EXIT_USAGE
        assert err.startswith(f"Error: Invalid settings: env var CITEQA_K={value!r}: ")
        assert msg in err and "fix or unset it" in err

    def test_config_file_value(self, tmp_path, capsys, clean_env):
        conf = tmp_path / "c.toml"
        conf.write_text("k = 0\nbackend = 'extractive'\n")
        code, _, err = _cli(capsys, "articles", "--config", str(conf))
        assert code == EXIT_USAGE
        assert f"k = 0 in config file {conf}: must be a whole number from 1 to 50" in err

    def test_unknown_key_in_config_file(self, tmp_path, clean_env):
        from qa.settings import Settings

        conf = tmp_path / "c.toml"
        conf.write_text("top_k = 3\n")
        with pytest.raises(ConfigError) as err:
            Settings.load(conf)
        assert f"unknown setting 'top_k' in config file {conf}" in str(err.value)

    def test_api_override_and_secret(self, clean_env):
        from qa.settings import Settings

        with pytest.raises(ConfigError, match=r"k=0 \(argument\): must be a whole number"):
            Settings.load(k=0)
        clean_env.setenv("CITEQA_OPENAI_API_KEY", "sk-secret")
        with pytest.raises(ConfigError) as err:
            Settings.load(request_timeout=0)
        assert "request_timeout=0 (argument): must be a positive number" in str(err.value)
        assert "sk-secret" not in str(err.value)


# --- 5. ingest with `--` -----------------------------------------------------------------


def _article(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    shutil.copy(SAMPLE, path)
    return path


class TestIngestAfterDoubleDash:
    @pytest.mark.models  # runs real `citeqa` processes: the end-to-end tier
    def test_dash_file_and_where_it_went(self, tmp_path):
        work = tmp_path / "work"
        _article(work, "-x.txt")
        d, env_dir = tmp_path / "idx", tmp_path / "from-env"
        env = {"CITEQA_DATA_DIR": str(env_dir)}
        r = _run("ingest", "--data-dir", str(d), "--", "-x.txt", env=env, cwd=work)
        assert r.returncode == EXIT_OK, r.stdout + r.stderr
        lines = r.stdout.splitlines()
        assert lines[0].startswith("added     -x.txt  →  x (")
        assert "1 added" in lines[-2]
        assert lines[-1] == f"Index: {d.resolve()}"
        assert d.is_dir() and not env_dir.exists()

        # After `--`, `--data-dir D2` are two more paths: the article goes to CITEQA_DATA_DIR,
        # which the last line says; D2 is not created.
        d2 = tmp_path / "idx2"
        r = _run("ingest", "--", "-x.txt", "--data-dir", str(d2), env=env, cwd=work)
        assert r.returncode == EXIT_PARTIAL, r.stdout + r.stderr
        assert r.stdout.splitlines()[-1] == f"Index: {env_dir.resolve()}"
        assert "1 added" in r.stdout and "2 rejected" in r.stdout
        assert "'--data-dir' came after `--`, so it was read as a path" in r.stderr
        assert env_dir.is_dir() and not d2.exists()

        r = _run("ingest", "--json", "--data-dir", str(d), "--", "-x.txt", env=env, cwd=work)
        assert r.returncode == EXIT_OK, r.stderr
        out = json.loads(r.stdout)
        assert out["data_dir"] == str(d.resolve())
        assert [i["status"] for i in out["items"]] == ["unchanged"]


# --- 6. the openai backend's time budget -------------------------------------------------


class SilentServer:
    """Accepts TCP connections on loopback and never answers (a hung LLM server)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            self.accepted.append(conn)  # held open, never read, never answered

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture()
def silent_server():
    server = SilentServer()
    yield server
    server.close()


NOTICE = re.compile(r"still waiting for the LLM server at (\S+) \((\d+) s\)")


class TestOpenAIBudget:
    def _llm(self, url: str, timeout: float, retries: int = 2):
        from qa.llm.openai import OpenAILLM

        return OpenAILLM(base_url=url, model="m", api_key=None, timeout=timeout, retries=retries)

    def test_total_budget_across_retries_with_notices(self, silent_server):
        from qa.llm.openai import wait_notices

        llm = self._llm(silent_server.url, timeout=3.0)
        notes: list[str] = []
        t0 = time.monotonic()
        with wait_notices(notes.append, every=1.0), pytest.raises(BackendError) as err:
            llm.complete([{"role": "user", "content": "hi"}])
        took = time.monotonic() - t0
        assert 2.5 < took < 9, took  # the budget, not 3 attempts x 3 s (and well under 3x)
        msg = str(err.value)
        assert msg.startswith(f"The LLM server at {silent_server.url} did not answer within 3 s")
        assert "after 3 attempts" in msg and "CITEQA_REQUEST_TIMEOUT" in msg
        assert len(silent_server.accepted) == 3  # every retry still happened
        assert 2 <= len(notes) <= 3, notes
        seconds = [int(NOTICE.fullmatch(n)[2]) for n in notes]
        assert all(NOTICE.fullmatch(n)[1] == silent_server.url for n in notes)
        assert seconds == sorted(seconds) and seconds[0] == 1
        time.sleep(1.2)
        assert len(notes) <= 3  # the notice thread stopped with the answer

    def test_no_notices_outside_the_cli(self, silent_server, capfd, monkeypatch):
        import qa.llm.openai as openai

        monkeypatch.setattr(openai, "NOTICE_EVERY", 0.2)
        with pytest.raises(BackendError):
            self._llm(silent_server.url, timeout=1.0, retries=0).complete(
                [{"role": "user", "content": "hi"}]
            )
        assert "still waiting" not in capfd.readouterr().err

    def test_default_is_sixty_seconds(self, clean_env):
        from qa.settings import Settings

        assert Settings.load().request_timeout == 60.0


@pytest.fixture(scope="module")
def indexed(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli-index")
    r = _run("ingest", str(SAMPLE), "--data-dir", str(d))
    assert r.returncode == EXIT_OK, r.stdout + r.stderr
    return d


class TestCliWaitsVisibly:
    def test_in_process(self, indexed, silent_server, capsys, clean_env):
        import qa.llm.openai as openai

        clean_env.setattr(openai, "NOTICE_EVERY", 1.0)
        clean_env.setenv("CITEQA_OPENAI_BASE_URL", silent_server.url)
        clean_env.setenv("CITEQA_REQUEST_TIMEOUT", "3")
        code, out, err = _cli(capsys, "ask", QUESTION, "--backend", "openai",
                              "--data-dir", str(indexed))  # fmt: skip
        assert code == EXIT_USAGE and out == ""
        lines = err.splitlines()
        assert f"still waiting for the LLM server at {silent_server.url} (1 s)" in lines
        assert lines[-1].startswith(
            f"Error: The LLM server at {silent_server.url} did not answer within 3 s after 3 "
            "attempts"
        )

    def test_real_process_default_interval(self, indexed, silent_server):
        env = {"CITEQA_OPENAI_BASE_URL": silent_server.url, "CITEQA_REQUEST_TIMEOUT": "11"}
        r = _run("ask", QUESTION, "--backend", "openai", "--data-dir", str(indexed), env=env)
        assert r.returncode == EXIT_USAGE, r.stdout + r.stderr
        lines = r.stderr.splitlines()
        assert lines[0] == f"still waiting for the LLM server at {silent_server.url} (10 s)"
        assert lines[-1].startswith(f"Error: The LLM server at {silent_server.url} did not "
                                    "answer within 11 s after 3 attempts")  # fmt: skip
        assert "Traceback" not in r.stderr


# --- 7. a light parser -------------------------------------------------------------------

HEAVY = (
    "gradio",
    "torch",
    "chromadb",
    "llama_cpp",
    "ik_llama_cpp",
    "onnxruntime",
    "sentence_transformers",
)


def test_building_the_parser_imports_nothing_heavy():
    code = (
        "import sys; from citeqa_cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('gradio','torch','chromadb','llama_cpp','ik_llama_cpp',"
        "'onnxruntime',"
        "'matplotlib','sentence_transformers','langchain_core') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    loaded = eval(r.stdout)  # a printed list of names
    assert not set(loaded) & set(HEAVY), loaded
    assert "matplotlib" not in loaded


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--help"], ("ingest", "ask", "articles", "remove", "models", "eval", "serve")),
        (["serve", "--help"], ("--host", "--port", "--auth", "--backend", "--model", "--k",
                               "--data-dir", "--chroma-url", "--config")),
        (["eval", "--help"], ("--limit", "--sample", "--out", "--pipeline", "--fail-under",
                              "--quiet", "--backend", "--k", "--data-dir")),
    ],
)  # fmt: skip
def test_help_exits_0(argv, expected):
    r = _run(*argv, timeout=60)
    assert r.returncode == 0, r.stderr
    for word in expected:
        assert word in r.stdout, word


def test_serve_without_gradio_says_what_to_install(capsys, monkeypatch):
    monkeypatch.delitem(sys.modules, "app", raising=False)
    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` now fails
    code, _, err = _cli(capsys, "serve", "--port", "1")
    assert code == EXIT_USAGE
    assert err == (
        "Error: `citeqa serve` needs gradio, which is not installed; "
        "install it with `pip install 'citeqa[ui]'`.\n"
    )
