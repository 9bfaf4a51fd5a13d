"""The `citeqa` command: qa/cli.py's commands plus those of the layers above it.

qa/ sits below eval/ and the page (app.py) and may not import them, so this module, at the top
beside app.py, hands their commands to `qa.cli` as registrars. Nothing imports it: it is the
console script (`citeqa = "citeqa_cli:main"`) and `python -m citeqa_cli`. It stays light, as
`citeqa --help` must be instant: eval/cli.py imports only the standard library at its top, and
the page (gradio, seconds) is imported only when `citeqa serve` starts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from eval.cli import register as register_eval
from qa import cli
from qa.errors import ConfigError


def serve(args: argparse.Namespace) -> int:
    """`citeqa serve`: import the page now, with a fix if gradio is missing."""
    try:
        import app
    except ModuleNotFoundError as e:
        if e.name != "gradio":
            raise
        raise ConfigError(
            "`citeqa serve` needs gradio, which is not installed; "
            "install it with `pip install 'citeqa[ui]'`."
        ) from None
    return int(app.cmd_serve(args))


def register_serve(sub, common, answer_opts) -> None:  # type: ignore[no-untyped-def]
    cli.register_serve(sub, common, answer_opts, run=serve)


COMMANDS: tuple[cli.Registrar, ...] = (register_eval, register_serve)


def build_parser() -> argparse.ArgumentParser:
    return cli.build_parser(COMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, extra=COMMANDS)


if __name__ == "__main__":
    sys.exit(main())
