"""The page's backend choice reads the registry (issue 16), like the CLI's --backend."""

from __future__ import annotations

from qa.llm import registry
from qa.llm.registry import Backend
from qa.settings import Settings


def _echo(settings):  # pragma: no cover - never created here
    raise AssertionError("only listed")


class TestBackendsOffered:
    def test_registered_backends_without_an_unconfigured_server(self):
        import app

        offered = app.backends_offered(Settings(openai_base_url=None, backend="local"))
        assert offered == [n for n in registry.names() if n != "openai"]
        assert "mock" not in offered  # hidden: works by name, never offered

    def test_openai_once_a_server_is_configured(self):
        import app

        offered = app.backends_offered(Settings(openai_base_url="http://127.0.0.1:9/v1"))
        assert offered == list(registry.names())

    def test_a_registered_backend_is_offered(self):
        import app

        registry.register(Backend("echo", "repeats the question", _echo))
        try:
            assert "echo" in app.backends_offered(Settings(openai_base_url=None))
        finally:
            registry.unregister("echo")
