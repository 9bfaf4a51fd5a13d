"""Peak memory of `citeqa serve` with the default model: idle, then while answering.

    python -m bench.memory [--questions 5]

The server runs as its own process on the bundled sample; questions go through the page's own
API (gradio_client), as a browser's would. Figures are the kernel's: VmRSS and VmHWM (peak).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.ingest import machine

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "Why did Pashinyan skip the summit?",
    "Who is Putin due to meet in Kyrgyzstan?",
    "How many countries have ratified the Rome Statute?",
    "What did Putin eat in Bishkek?",
    "When was the ICC warrant issued?",
]


def status_mib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--questions", type=int, default=5)
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = p.parse_args(argv)
    from gradio_client import Client

    citeqa = str(Path(sys.executable).with_name("citeqa"))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        sample = str(ROOT / "examples" / "articles")
        subprocess.run([citeqa, "ingest", "--data-dir", str(data), sample], check=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
        proc = subprocess.Popen(
            [citeqa, "serve", "--data-dir", str(data), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        url = f"http://127.0.0.1:{port}/"
        try:
            for _ in range(240):
                try:
                    urllib.request.urlopen(url, timeout=2)
                    break
                except OSError:
                    time.sleep(1)
            time.sleep(3)
            idle = status_mib(proc.pid, "VmRSS")
            client = Client(url, verbose=False)
            chat: list = []
            for q in QUESTIONS[: args.questions]:
                chat, *_ = client.predict(q, [], "local", 5, "", "", "", api_name="/respond")
            loaded = status_mib(proc.pid, "VmRSS")
            peak = status_mib(proc.pid, "VmHWM")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    text = (
        "\n## Memory of `citeqa serve`\n\n"
        f"`python -m bench.memory --questions {args.questions}`, {dt.date.today()}, {machine()}. "
        "Default settings (local qwen2.5-coder-1.5b, ONNX embedder), sample article indexed.\n\n"
        "| measure | MiB |\n|---|---|\n"
        f"| RSS idle after start (model not loaded yet) | {idle:.0f} |\n"
        f"| RSS after {args.questions} answers (model loaded) | {loaded:.0f} |\n"
        f"| peak RSS (VmHWM) over the whole run | {peak:.0f} |\n"
    )
    print(text)
    with args.results.open("a", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
