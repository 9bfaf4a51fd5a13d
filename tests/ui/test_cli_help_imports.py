"""Issue 17's "A fast command line": `citeqa --help` as the console script runs it imports none of
the heavy libraries (tests/test_cli_paths.py checks building the parser; this runs `main`)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("gradio", "torch", "chromadb", "llama_cpp", "ik_llama_cpp", "onnxruntime",
         "transformers", "sentence_transformers", "langchain_core", "fastapi")  # fmt: skip


def test_citeqa_help_in_a_real_process_imports_nothing_heavy():
    """citeqa_cli.main(["--help"]) prints the help and exits, in a fresh interpreter; then the
    modules it loaded are listed."""
    code = (
        "import sys\n"
        "from citeqa_cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('LOADED', sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "usage: citeqa" in r.stdout
    assert "LOADED []" in r.stderr, r.stderr
