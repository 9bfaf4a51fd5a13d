"""Commands that only read the index load no embedding model and no LangChain (issue 17:
`citeqa articles` took 7 s; loading the embedder pulled in transformers and torch, ~1.2 s, and
the answer chain LangChain, ~0.7 s)."""

from __future__ import annotations

import subprocess
import sys

LISTING = (
    "import sys, citeqa_cli\n"
    "code = citeqa_cli.main(['articles', '--data-dir', sys.argv[1]])\n"
    "print('LOADED', sorted(m for m in ('torch', 'transformers', 'onnxruntime', "
    "'sentence_transformers', 'langchain_core') if m in sys.modules), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


class TestReadOnlyCommands:
    def test_articles_lists_without_loading_the_embedder(self, sample_assistant):
        r = subprocess.run(
            [sys.executable, "-c", LISTING, str(sample_assistant.settings.data_dir)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        assert "putin-kyrgyzstan-visit" in r.stdout
        assert "LOADED []" in r.stderr, r.stderr

    def test_an_unloaded_embedder_loads_at_first_use(self, sample_assistant):
        from qa.assistant import Assistant

        lazy = Assistant(sample_assistant.settings, create=False, load_embedder=False)
        try:
            assert [r["id"] for r in lazy.articles()] == ["putin-kyrgyzstan-visit"]
            vector = lazy.embedder.embed_query("Why did Pashinyan skip the summit?")
            assert vector.shape == (lazy.embedder.dim,)
            same = sample_assistant.embedder.embed_query("Why did Pashinyan skip the summit?")
            assert (vector == same).all()
        finally:
            lazy.close()
