"""One schedule never runs twice at once, even from two processes: an OS file lock per schedule name.

POSIX uses ``fcntl.flock`` (per open file, so two threads of one process also exclude each other); Windows uses
``msvcrt.locking`` (LockFile) on one byte at offset ``WINDOWS_LOCK_OFFSET``, far past the PID text: Windows
byte-range locks are mandatory, so locking byte 0 would make the PID unreadable for an admin opening the file;
locking past the end of a file is allowed and does not grow it. The OS drops the lock when the process dies (even on
SIGKILL / TerminateProcess), so a crashed run never leaves a stale lock behind: the lock file itself stays and is
harmless. (Windows releases a dead process's locks "when resources allow", usually at once; a tick that still finds
it held skips the schedule as busy and the next tick, a minute later, runs it.)
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
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
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


WINDOWS_LOCK_OFFSET = 1 << 30  # the locked byte: past any PID text, inside a 32-bit offset for old file systems


def _windows_region(fd: int, locking, mode: int) -> None:
    """msvcrt.locking works from the CURRENT file position: seek to the lock byte first (also for unlocking: the
    region must match the locked one exactly), then restore the position for the PID write."""
    here = os.lseek(fd, 0, os.SEEK_CUR)
    os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)
    try:
        locking(fd, mode, 1)
    finally:
        os.lseek(fd, here, os.SEEK_SET)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows CI only
    import msvcrt

    def _lock(fd: int) -> None:
        _windows_region(fd, msvcrt.locking, msvcrt.LK_NBLCK)  # NB: fails at once (LK_LOCK retries for 10 s)

    def _unlock(fd: int) -> None:
        _windows_region(fd, msvcrt.locking, msvcrt.LK_UNLCK)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
