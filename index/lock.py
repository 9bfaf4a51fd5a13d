"""One writer per data directory: an inter-process lock around ingest, removal and the sweep.

Why: the orphan sweep deletes chunks that have no committed article record. A second process
that sweeps while the first is half-way through writing an article would delete the first one's
fresh chunks, and the first would then commit an article with chunks missing. So writes and
sweeps take this lock; readers (questions) never do.

`fcntl.flock` on `DATA_DIR/ingest.lock`: the kernel drops the lock when its holder dies, even by
SIGKILL, so a crash never leaves a stale lock to clean up by hand. Separate `open()`s conflict
even within one process, so threads of one server (the UI) serialise too.

With a Chroma server (`chroma_url`) the lock is per machine: it serialises the citeqa processes
on this machine that share DATA_DIR, not processes on other machines writing to the same server.
Run ingests for a shared server from one machine (or one at a time).
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO

from index.errors import StoreError

LOCK_NAME = "ingest.lock"
_POLL_SECONDS = 0.2


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class IngestLock:
    """Exclusive (not re-entrant) lock on one data directory; use as a context manager.

    `acquire()` tries once; if another process holds the lock it tells `notify` (stderr by
    default) who is holding it, then waits up to `timeout` seconds before raising StoreError.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        timeout: float,
        notify: Callable[[str], None] = _stderr,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / LOCK_NAME
        self.timeout = timeout
        self.notify = notify
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def _open(self) -> IO[str]:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            # "a+" never truncates: the holder's pid stays readable until we hold the lock.
            return open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - kept while held
        except OSError as e:
            raise StoreError(
                f"Cannot create the ingest lock {self.path} ({e.strerror}). "
                "Check that the data directory exists and is writable, or pick another "
                "one with --data-dir / CITEQA_DATA_DIR."
            ) from None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never waits."""
        if self._file is not None:
            raise RuntimeError(f"{self.path} is already held by this IngestLock")
        f = self._open()
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            return False
        except OSError as e:
            f.close()
            raise StoreError(
                f"Cannot lock {self.path} ({e.strerror}); the file system may not support "
                "locks. Use a data directory on a local disk."
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._file = f
        return True

    def holder(self) -> str:
        """The pid written by the current holder, or "unknown" (it may not have written yet)."""
        try:
            pid = self.path.read_text(encoding="utf-8").strip()
        except OSError:
            pid = ""
        return pid if pid.isdigit() else "unknown"

    def acquire(self) -> None:
        if self.try_acquire():
            return
        holder = self.holder()
        self.notify(
            f"Another citeqa process is ingesting into {self.data_dir} (pid {holder}); "
            f"waiting up to {self.timeout:.0f} s for it to finish…"
        )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)
            if self.try_acquire():
                return
        raise StoreError(
            f"The index in {self.data_dir} is busy: another citeqa process (pid "
            f"{self.holder()}) has been ingesting into it for over {self.timeout:.0f} s. "
            "Try again when it finishes, or wait longer with CITEQA_INGEST_LOCK_TIMEOUT."
        )

    def release(self) -> None:
        if self._file is None:
            return
        f, self._file = self._file, None
        try:
            f.seek(0)
            f.truncate()  # no stale pid for the next waiter's message
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            f.close()

    def __enter__(self) -> IngestLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
