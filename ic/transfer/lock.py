"""One schedule never runs twice at once, even from two processes: an OS file lock per schedule name.

POSIX uses ``fcntl.flock`` (per open file, so two threads of one process also exclude each other); Windows uses
``msvcrt.locking`` on the first byte. The OS drops the lock when the process dies (even on SIGKILL), so a crashed
run never leaves a stale lock behind: the lock file itself stays and is harmless.
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
import threading
from pathlib import Path

from ic import paths
from ic.errors import ScheduleBusy

_held: set[str] = set()  # lock paths held by this process (a second acquire from another thread fails fast)
_held_guard = threading.Lock()


def lock_path(name: str, directory: Path | None = None) -> Path:
    """File name readable by an admin, unique per schedule name (hash suffix: names may differ only in case/punctuation)."""
    base = directory or paths.data_dir() / "locks"
    base.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", name)[:60] or "schedule"
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]
    return base / f"{safe}-{digest}.lock"


class ScheduleLock:
    """``with ScheduleLock("Nightly"):`` ... raises ScheduleBusy when another run holds it."""

    def __init__(self, name: str, directory: Path | None = None) -> None:
        self.name = name
        self.path = lock_path(name, directory)
        self._fd: int | None = None

    def acquire(self) -> "ScheduleLock":
        key = str(self.path)
        with _held_guard:
            if key in _held:
                raise ScheduleBusy(f"Schedule {self.name} is already running.")
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                _lock(fd)
            except OSError:
                os.close(fd)
                raise ScheduleBusy(f"Schedule {self.name} is already running.") from None
            _held.add(key)
            self._fd = fd
        try:  # who holds it, for an admin looking at the folder
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass
        return self

    def release(self) -> None:
        with _held_guard:
            if self._fd is None:
                return
            try:
                _unlock(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None
                _held.discard(str(self.path))

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "ScheduleLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


if sys.platform == "win32":  # pragma: no cover - exercised on Windows CI only
    import msvcrt

    def _lock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
