"""A real full disk: a small tmpfs mounted by the test holds the data dir.

Ingest into a nearly full disk ends with one clear message (no Chroma traceback), what was
committed stays, read commands keep working, and once space is freed a re-run completes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SAMPLE

CITEQA = str(Path(sys.executable).with_name("citeqa"))


@pytest.fixture()
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()[:200]}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([CITEQA, *args], capture_output=True, text=True, timeout=600, env=env)


def test_full_disk_says_so_and_reads_keep_working(small_disk, tmp_path, cache_dir):
    import os

    env = {**os.environ, "CITEQA_CACHE_DIR": str(cache_dir), "CITEQA_BACKEND": "extractive"}
    data = small_disk / "data"
    first = _run("ingest", str(SAMPLE), "--data-dir", str(data), env=env)
    assert first.returncode == 0, first.stdout + first.stderr

    # Fill the disk to within a few MB.
    filler = small_disk / "filler.bin"
    free = shutil.disk_usage(small_disk).free
    with filler.open("wb") as f:
        f.truncate(0)
        block = b"\0" * 2**20
        for _ in range(max(0, free // 2**20 - 4)):
            f.write(block)
    news = tmp_path / "news"
    news.mkdir()
    (news / "harbour.txt").write_text(
        " ".join(f"The harbour in Riverton reopened on day {i} after repairs." for i in range(300)),
        encoding="utf-8",
    )
    full = _run("ingest", str(news), "--data-dir", str(data), env=env)
    out = full.stdout + full.stderr
    assert full.returncode == 2, out
    assert "Traceback" not in out and "InternalError" not in out, out
    assert f"The disk holding {data} is full" in full.stderr and "re-run" in full.stderr, out

    # Read commands still work, and what was committed is there.
    listed = _run("articles", "--data-dir", str(data), env=env)
    assert listed.returncode == 0 and "putin-kyrgyzstan-visit" in listed.stdout, listed.stderr
    asked = _run("ask", "Why did Pashinyan skip the summit?", "--data-dir", str(data), env=env)
    assert asked.returncode == 0 and "Traceback" not in asked.stderr, asked.stderr
    assert "Pashinyan" in asked.stdout

    # Space freed: the re-run adds exactly what was missing.
    filler.unlink()
    again = _run("ingest", str(news), str(SAMPLE), "--data-dir", str(data), env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 added" in again.stdout and "1 unchanged" in again.stdout, again.stdout
