"""The backend registry: the one list of backend names that settings, the CLI, the API and
make_llm read, the hidden mock, plugins from the `citeqa.backends` entry-point group, and the
scripted MockLLM itself. No model is loaded: only the names and the mock are exercised."""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
from importlib.metadata import EntryPoint

import pytest
from pydantic import ValidationError

from citeqa_cli import build_parser
from qa.api_models import AnswerOptions
from qa.errors import ConfigError
from qa.extractive import ExtractiveLLM
from qa.llm import make_llm, registry
from qa.llm.base import ReplyFormat
from qa.llm.mock import MockLLM, pieces
from qa.llm.registry import Backend
from qa.settings import FLAG_NAMES, Settings
from tests.conftest import without_citeqa_env

BUILT_IN = ("local", "openai", "extractive")


def plugin_factory(settings: Settings) -> MockLLM:
    """A plugin's backend: replies "plugin"."""
    return MockLLM(["plugin"], model="plugin-model")


PLUGIN_BACKEND = Backend("ignored", "a plugin given as a Backend", plugin_factory, hidden=False)


@pytest.fixture(autouse=True)
def no_plugins(monkeypatch):
    """No installed package's entry points: the tests see the built-ins only (a test adds its
    own with `plugins`)."""
    without_citeqa_env(monkeypatch)
    monkeypatch.setattr(registry, "_plugins", dict)


READ_PLUGINS = registry._plugins.__wrapped__  # the uncached reader, before `no_plugins`


def plugins(monkeypatch, **values: str) -> None:
    """Pretend installed packages declare these `citeqa.backends` entry points (and another
    group's), read by the registry's own reader."""
    group = registry.ENTRY_POINT_GROUP
    eps = [EntryPoint(n, v, group) for n, v in values.items()]
    eps.append(EntryPoint("other", "elsewhere:thing", "llm"))

    def entry_points(*, group: str) -> list[EntryPoint]:
        return [ep for ep in eps if ep.group == group]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(registry, "_plugins", functools.cache(READ_PLUGINS))


def backend_choices(parser: argparse.ArgumentParser, command: str) -> list[str] | None:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    action = next(a for a in sub.choices[command]._actions if "--backend" in a.option_strings)
    return None if action.choices is None else list(action.choices)


class TestRegistry:
    def test_built_in_names_in_order(self):
        assert registry.names() == BUILT_IN
        assert [name for name, _ in registry.describe()] == list(BUILT_IN)
        assert all(about for _, about in registry.describe())

    def test_mock_is_hidden_but_works_by_name(self):
        assert "mock" not in registry.names()
        assert registry.names(hidden=True) == (*BUILT_IN, "mock")
        settings = Settings.load(backend="mock")
        llm = make_llm(settings.backend, settings)
        assert isinstance(llm, MockLLM) and llm.name == "mock"

    def test_extractive_is_a_backend_without_a_model(self):
        llm = make_llm("extractive", Settings.load())
        assert isinstance(llm, ExtractiveLLM) and not llm.is_model
        assert (llm.name, llm.model) == ("extractive", "extractive")

    def test_unknown_name_in_settings_lists_the_registered_ones(self):
        with pytest.raises(ConfigError) as e:
            Settings.load(backend="gpt4", override_names=FLAG_NAMES)
        assert str(e.value) == (
            "Invalid settings: --backend 'gpt4': not a registered backend; use local, openai "
            "or extractive."
        )

    def test_unknown_name_from_the_env_is_named_as_the_env_var(self, monkeypatch):
        monkeypatch.setenv("CITEQA_BACKEND", "opnai")
        with pytest.raises(ConfigError, match="env var CITEQA_BACKEND='opnai'") as e:
            Settings.load()
        assert "did you mean 'openai'?" in str(e.value)

    def test_unknown_name_in_make_llm(self):
        with pytest.raises(ConfigError, match="'nope' is not a registered backend; use local"):
            make_llm("nope", Settings.load())

    @pytest.mark.parametrize("command", ["ask", "eval", "serve", "api"])
    def test_cli_choices_come_from_the_registry(self, command, monkeypatch):
        assert backend_choices(build_parser(), command) == list(BUILT_IN)
        registry.register(Backend("echo", "repeats the question", plugin_factory))
        try:
            assert backend_choices(build_parser(), command) == [*BUILT_IN, "echo"]
        finally:
            registry.unregister("echo")

    def test_cli_rejects_hidden_and_unknown_names(self, capsys):
        for name in ("mock", "gpt4"):
            with pytest.raises(SystemExit):
                build_parser().parse_args(["ask", "q", "--backend", name])
            assert "invalid choice" in capsys.readouterr().err

    def test_api_accepts_registered_names_and_lists_the_offered_ones(self):
        assert AnswerOptions(backend="extractive").backend == "extractive"
        assert AnswerOptions(backend="mock").backend == "mock"
        with pytest.raises(ValidationError, match="not a registered backend; use local"):
            AnswerOptions(backend="nope")
        schema = AnswerOptions.model_json_schema()["properties"]["backend"]["anyOf"][0]
        assert schema == {"type": "string", "enum": list(BUILT_IN)}

    def test_register_refuses_taken_names(self):
        with pytest.raises(ValueError, match="built-in"):
            registry.register(Backend("local", "another local", plugin_factory))
        registry.register(Backend("echo", "one", plugin_factory))
        try:
            with pytest.raises(ValueError, match="replace_existing=True"):
                registry.register(Backend("echo", "two", plugin_factory))
            registry.register(Backend("echo", "two", plugin_factory), replace_existing=True)
            assert registry.get("echo").description == "two"
        finally:
            registry.unregister("echo")
        assert "echo" not in registry.names()

    def test_plugin_is_listed_without_import_and_loaded_when_chosen(self, monkeypatch):
        here = __name__
        plugins(
            monkeypatch,
            fn=f"{here}:plugin_factory",
            obj=f"{here}:PLUGIN_BACKEND",
            local=f"{here}:plugin_factory",  # a built-in name: the built-in wins
        )
        assert registry.names() == (*BUILT_IN, "fn", "obj")
        assert registry.get("local").factory == "qa.llm:local_llm"
        assert registry.describe()[-2:] == [
            ("fn", f"plugin {here}:plugin_factory"),
            ("obj", f"plugin {here}:PLUGIN_BACKEND"),
        ]
        settings = Settings.load(backend="fn")  # valid: settings read the registry
        llm = make_llm("fn", settings)
        assert isinstance(llm, MockLLM) and llm.model == "plugin-model"
        assert registry.get("fn").description == 'A plugin\'s backend: replies "plugin".'
        assert registry.get("obj").name == "obj"  # named by its entry point

    def test_broken_plugin_says_which_package_to_fix(self, monkeypatch):
        plugins(monkeypatch, broken="no_such_module_citeqa:factory")
        assert "broken" in registry.names()
        with pytest.raises(ConfigError, match="plugin 'broken'.*failed to import.*uninstall"):
            make_llm("broken", Settings.load())


class TestMockLLM:
    def test_streams_scripted_replies_in_order_in_pieces(self):
        llm = MockLLM(["First reply [S1]", "Second"])
        assert list(llm.stream([{"role": "user", "content": "a"}])) == ["First ", "reply ", "[S1]"]
        assert llm.complete([{"role": "user", "content": "b"}]) == "Second"
        with pytest.raises(AssertionError, match="no reply left for call 3"):
            llm.complete([{"role": "user", "content": "c"}])

    def test_records_messages_format_and_max_tokens(self):
        llm = MockLLM("NOT_IN_SOURCES")  # one reply, not a list of its characters
        messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
        fmt = ReplyFormat(refs=("S1", "S2"), max_sentences=3, abstain_token="NOT_IN_SOURCES")
        assert llm.complete(messages, fmt=fmt, max_tokens=7) == "NOT_IN_SOURCES"
        messages[1]["content"] = "changed later"
        assert llm.last.kind == "stream" and llm.last.fmt == fmt and llm.last.max_tokens == 7
        assert llm.last.messages[1]["content"] == "u"  # as it was at the call

    def test_reply_function_and_max_tokens(self):
        llm = MockLLM(lambda messages: f"You said {messages[-1]['content']} twice")
        assert llm.complete([{"role": "user", "content": "hi"}]) == "You said hi twice"
        assert llm.complete([{"role": "user", "content": "hi"}], max_tokens=2) == "You said "
        with pytest.raises(TypeError):
            llm.enqueue("more")

    def test_judge_warm_close(self):
        llm = MockLLM(judge=0.75)
        assert llm.judge([{"role": "user", "content": "Is it?"}]) == 0.75
        assert llm.last.kind == "judge" and llm.last.messages[0]["content"] == "Is it?"
        assert MockLLM(judge=lambda m: len(m) / 10).judge([{"role": "user", "content": ""}]) == 0.1
        assert MockLLM().judge([]) is None  # like a backend without next-token scores
        llm.warm([[{"role": "user", "content": "prefix"}]])
        llm.close()
        assert llm.warmed == [({"role": "user", "content": "prefix"},)] and llm.closed

    def test_enqueue_adds_to_the_script(self):
        llm = MockLLM()
        llm.enqueue("one", "two")
        assert [llm.complete([]), llm.complete([])] == ["one", "two"]

    @pytest.mark.parametrize("reply", ["", "one", "a b", " lead  and trail ", "x\ny [S1][S2]."])
    def test_pieces_join_back_exactly(self, reply):
        assert "".join(pieces(reply)) == reply
        assert all(pieces(reply))
