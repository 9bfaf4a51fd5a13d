"""Where each setting comes from: defaults < the TOML config file < CITEQA_* env vars < command
line flags, as `settings_from` (the CLI's, the page's and eval's entry) builds them, field by
field; and a bad value is reported under the name of the layer it came from."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from qa.cli import build_parser
from qa.errors import ConfigError
from qa.settings import FLAG_NAMES, Settings, settings_from
from tests.conftest import without_citeqa_env


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    without_citeqa_env(monkeypatch)


@pytest.fixture()
def config(tmp_path: Path):
    """Writes a TOML config file and returns its path."""

    def write(text: str) -> Path:
        path = tmp_path / "citeqa.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def ask(*flags: str) -> argparse.Namespace:
    """`citeqa ask` parsed from these flags, as the command line gives them to settings_from."""
    return build_parser().parse_args(["ask", "a question", *flags])


DEFAULTS = Settings.model_fields


class TestSettingsPrecedence:
    def test_defaults_without_flags_env_or_file(self):
        s = settings_from(ask())
        assert (s.k, s.backend, s.model) == (
            DEFAULTS["k"].default,
            DEFAULTS["backend"].default,
            DEFAULTS["model"].default,
        )

    @pytest.mark.parametrize(("given", "read"), [("off", None), ("None", None), ("", None),
                                                 ("0.3", 0.3)])  # fmt: skip
    def test_abstain_threshold_off_from_the_environment(self, monkeypatch, given, read):
        monkeypatch.setenv("CITEQA_ABSTAIN_THRESHOLD", given)
        assert Settings().abstain_threshold == read

    def test_config_file_beats_defaults(self, config):
        path = config('k = 7\nbackend = "extractive"\nmodel = "from-file"\n')
        s = settings_from(ask("--config", str(path)))
        assert (s.k, s.backend, s.model) == (7, "extractive", "from-file")

    def test_config_file_named_by_env(self, config, monkeypatch):
        monkeypatch.setenv("CITEQA_CONFIG", str(config("k = 7\n")))
        assert settings_from(ask()).k == 7

    def test_env_beats_config_file(self, config, monkeypatch):
        path = config("k = 7\n")
        monkeypatch.setenv("CITEQA_K", "9")
        assert settings_from(ask("--config", str(path))).k == 9

    def test_flag_beats_env_and_config_file(self, config, monkeypatch):
        path = config('k = 7\nbackend = "openai"\n')
        monkeypatch.setenv("CITEQA_K", "9")
        monkeypatch.setenv("CITEQA_BACKEND", "local")
        s = settings_from(ask("--config", str(path), "--k", "11", "--backend", "extractive"))
        assert (s.k, s.backend) == (11, "extractive")

    def test_each_field_takes_its_own_highest_layer(self, config, monkeypatch, tmp_path):
        path = config('k = 7\nmodel = "from-file"\nbackend = "openai"\nmin_support = 0.7\n')
        monkeypatch.setenv("CITEQA_K", "9")
        monkeypatch.setenv("CITEQA_MODEL", "from-env")
        s = settings_from(ask("--config", str(path), "--model", "from-flag"))
        assert s.min_support == 0.7  # file only
        assert s.backend == "openai"  # file only: an absent flag overrides nothing
        assert s.k == 9  # file < env
        assert s.model == "from-flag"  # file < env < flag
        assert s.n_ctx == DEFAULTS["n_ctx"].default  # nowhere: the default

    def test_data_dir_flag_beats_env(self, monkeypatch, tmp_path):
        monkeypatch.setenv("CITEQA_DATA_DIR", str(tmp_path / "env"))
        assert settings_from(ask()).data_dir == tmp_path / "env"
        s = settings_from(ask("--data-dir", str(tmp_path / "flag")))
        assert s.data_dir == tmp_path / "flag"

    def test_extra_overrides_beat_env_and_config_file(self, config, monkeypatch):
        # A caller's own values for settings that have no flag go in as overrides too.
        monkeypatch.setenv("CITEQA_MIN_SUPPORT", "0.8")
        path = config("min_support = 0.7\n")
        assert settings_from(ask("--config", str(path)), min_support=0.9).min_support == 0.9

    def test_bad_value_in_a_lower_layer_that_lost_is_not_an_error(self, config, monkeypatch):
        monkeypatch.setenv("CITEQA_K", "0")  # out of range, but the flag wins
        assert settings_from(ask("--k", "4")).k == 4
        monkeypatch.setenv("CITEQA_K", "6")  # the file's bad k is hidden by the env's
        assert settings_from(ask("--config", str(config("k = 0\n")))).k == 6

    @pytest.mark.parametrize(
        ("layer", "message"),
        [
            ("flag", "--k 0: must be a whole number from 1 to 50"),
            ("env", "env var CITEQA_K='0': must be a whole number from 1 to 50 (fix or unset it)"),
            ("file", "k = 0 in config file"),
        ],
    )
    def test_bad_value_is_named_by_the_layer_it_came_from(
        self, layer, message, config, monkeypatch
    ):
        flags: list[str] = []
        if layer == "flag":
            flags = ["--k", "0"]
        elif layer == "env":
            monkeypatch.setenv("CITEQA_K", "0")
        else:
            flags = ["--config", str(config("k = 0\n"))]
        with pytest.raises(ConfigError, match="^Invalid settings: ") as e:
            settings_from(ask(*flags))
        assert message in str(e.value)

    def test_fewest_sentences_above_the_most_is_refused(self, monkeypatch):
        monkeypatch.setenv("CITEQA_MIN_ANSWER_SENTENCES", "5")
        with pytest.raises(ConfigError, match="min_answer_sentences .5. is above max_answer"):
            settings_from(ask())
        monkeypatch.setenv("CITEQA_MAX_ANSWER_SENTENCES", "5")
        assert settings_from(ask()).min_answer_sentences == 5

    def test_flag_names_are_the_cli_flags_settings_from_reads(self):
        options = {
            o
            for a in build_parser()._subparsers._group_actions[0].choices["ask"]._actions
            for o in a.option_strings
        }
        for field, flag in FLAG_NAMES.items():
            assert field in Settings.model_fields, field
            assert flag in options, flag
            # settings_from passes the flag's value through under the field's name.
            value = {"k": 2, "backend": "extractive", "data_dir": Path("x")}.get(field, "x")
            args = argparse.Namespace(**{field: value})
            assert getattr(settings_from(args), field) == value, field
