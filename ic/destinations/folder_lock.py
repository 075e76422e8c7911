"""Cross-process coordination inside one destination folder: the folder lock and per-process staging folders.

* :class:`FolderLock` -- ``.ic-folder.lock`` in the Destination Directory. Held (OS file lock: ``fcntl.flock`` on
  POSIX, ``msvcrt.locking`` on one byte far past the end on Windows) for the whole read-decide-write-record of a
  batch of session XML files, so two schedules, Run Now, export and tick writing one folder at once see each other's
  in-progress index and files: no ``x.1.xml`` beside a stale in-progress ``x.xml``. The OS drops the lock when the
  holder dies (even SIGKILL); the small lock file itself stays and is harmless.
* :class:`Staging` -- ``.ic-staging/<pid>-<hex>/`` in the Destination Directory: where the folder plugin writes a
  file before giving it its final name (same file system, so the final step is a rename or hard link, never a
  copy), and where the engine may download recordings (``Destination.staging_dir``). Each staging folder holds an
  ``.alive`` file locked for the life of its owner (made and locked under the folder lock); :func:`sweep` (under the
  folder lock too) removes every staging folder whose owner is gone, so the next run after a SIGKILL mid-write
  leaves nothing behind, and a live one is never touched.
"""
from __future__ import annotations

import errno
import logging
import os
import secrets
import shutil
import sys
import threading
import time
import weakref
from pathlib import Path

from ic.destinations.naming import long_path as _lp  # Windows: paths over 240 characters get the \\?\ prefix
from ic.errors import DestinationUnavailable

LOCK_NAME = ".ic-folder.lock"
STAGING_NAME = ".ic-staging"
ALIVE_NAME = ".alive"
LOCK_TIMEOUT = 600.0  # seconds: a batch takes seconds; a holder stuck for 10 minutes is reported
WINDOWS_LOCK_OFFSET = 1 << 30

_UNSUPPORTED = {errno.ENOLCK, errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, getattr(errno, "EOPNOTSUPP", errno.ENOTSUP)}
log = logging.getLogger(__name__)


class LockUnsupported(OSError):
    """The file system of the folder has no file locks (some network shares)."""


if sys.platform == "win32":  # pragma: no cover - Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        here = os.lseek(fd, 0, os.SEEK_CUR)
        os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
        finally:
            os.lseek(fd, here, os.SEEK_SET)

    def _unlock(fd: int) -> None:
        os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno in _UNSUPPORTED:
                raise LockUnsupported(str(exc)) from exc
            raise

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


_warned: set[str] = set()


def _locked_or_unsupported(fd: int, directory: Path) -> bool:
    """Lock ``fd``; where the file system has no locks at all, warn once and carry on unlocked (better than
    failing every run: only programs writing this folder at the same moment could then collide)."""
    try:
        return _try_lock(fd)
    except LockUnsupported as exc:
        if str(directory) not in _warned:
            _warned.add(str(directory))
            log.warning("Folder %s does not support file locks (%s); two schedules writing it at the same moment "
                        "could store a session twice.", directory, exc)
        return True


def _open_lock_file(path: Path) -> int:
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOINHERIT", 0)
    return os.open(_lp(path), flags, 0o666)


_held = threading.local()  # per thread: lock file paths this thread holds (a nested FolderLock is a no-op)


class FolderLock:
    """``with FolderLock(folder):`` -- exclusive across processes and threads (one open file per holder); the
    same thread may nest it."""

    def __init__(self, directory: Path, timeout: float = LOCK_TIMEOUT) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self.timeout = timeout
        self._fd: int | None = None
        self._nested = False

    def __enter__(self) -> "FolderLock":
        held = _held.__dict__.setdefault("paths", set())
        key = os.path.abspath(self.path)
        if key in held:
            self._nested = True
            return self
        try:
            fd = _open_lock_file(self.path)
        except OSError as exc:
            raise DestinationUnavailable(f"Could not open the lock file {LOCK_NAME} in folder {self.directory} "
                                         f"({exc.strerror or exc}).") from exc
        deadline = time.monotonic() + self.timeout
        pause = 0.002
        try:
            while not _locked_or_unsupported(fd, self.directory):
                if time.monotonic() > deadline:
                    raise DestinationUnavailable(
                        f"Folder {self.directory} stayed locked by another Integration Client process for "
                        f"{int(self.timeout)} s ({LOCK_NAME}); the run will try again later.")
                time.sleep(pause)
                pause = min(pause * 2, 0.1)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        held.add(key)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._nested:
            self._nested = False
            return
        _held.__dict__.setdefault("paths", set()).discard(os.path.abspath(self.path))
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            _unlock(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


class Staging:
    """This process's staging folder inside ``root`` (created on first use, removed by :meth:`close`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._path: Path | None = None
        self._fd: int | None = None

    def path(self) -> Path:
        """The folder (made on first use; callers that find it gone drop this object and ask a new one)."""
        if self._path is not None:
            return self._path
        self._release()
        base = self.root / STAGING_NAME
        path = base / f"{os.getpid()}-{secrets.token_hex(4)}"
        with FolderLock(self.root):  # sweepers hold it too: they never see this folder before its .alive is locked
            try:
                os.mkdir(_lp(base))  # not makedirs: a destination folder that vanished is not made again here
            except FileExistsError:
                pass
            _hide_on_windows(base)
            os.mkdir(_lp(path))
            try:
                fd = _open_lock_file(path / ALIVE_NAME)
            except BaseException:
                shutil.rmtree(_lp(path), ignore_errors=True)
                raise
            if not _locked_or_unsupported(fd, self.root):  # pragma: no cover - nobody else knows this file yet
                os.close(fd)
                shutil.rmtree(_lp(path), ignore_errors=True)
                raise OSError(f"could not lock {path / ALIVE_NAME}")
        self._path, self._fd = path, fd
        # a destination dropped without close() (an error path, a long-lived GUI): its folder goes with it
        self._finalizer = weakref.finalize(self, _drop, self.root, path, fd)
        return path

    def _release(self) -> None:
        finalizer = getattr(self, "_finalizer", None)
        if finalizer is not None:
            finalizer.detach()
            self._finalizer = None
        if self._fd is not None:
            try:
                _unlock(self._fd)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        """Remove this staging folder, and ``.ic-staging`` itself when no other process stages there."""
        path, self._path = self._path, None
        self._release()
        if path is not None:
            shutil.rmtree(_lp(path), ignore_errors=True)
            _remove_empty_base(self.root)


def _drop(root: Path, path: Path, fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
    shutil.rmtree(_lp(path), ignore_errors=True)
    _remove_empty_base(root)


def _remove_empty_base(root: Path) -> None:
    """Remove ``.ic-staging`` when no process stages there (under the lock: makers mkdir it and their folder
    inside it in one step)."""
    try:
        with FolderLock(root, timeout=5):
            os.rmdir(_lp(root / STAGING_NAME))
    except (OSError, DestinationUnavailable):  # not empty (another process stages there), gone, or busy
        pass


def sweep(root: Path) -> int:
    """Remove the staging folders under ``root`` whose owner process is gone (its ``.alive`` lock is free), at
    once, whatever their age. Runs under the folder lock, as staging folders are made under it: a live folder is
    always seen with its ``.alive`` locked. Returns how many were removed."""
    base = Path(root) / STAGING_NAME
    if not os.path.isdir(_lp(base)):
        return 0
    removed = 0
    mine = f"{os.getpid()}-"
    with FolderLock(Path(root)):
        try:
            entries = list(os.scandir(_lp(base)))
        except OSError:
            return 0
        for entry in entries:
            if entry.name.startswith(mine) or not entry.is_dir(follow_symlinks=False):
                continue  # our own (a lock emulated per process, e.g. NFS, would not protect it from us)
            path = Path(entry.path)
            try:
                fd = os.open(_lp(path / ALIVE_NAME), os.O_RDWR | getattr(os, "O_BINARY", 0))
            except FileNotFoundError:
                fd = None  # its owner died before making it: nothing in there is in use
            except OSError:
                continue
            if fd is not None:
                try:
                    if not _try_lock(fd):
                        continue  # owner alive
                except OSError:
                    continue  # no locks here (LockUnsupported) or cannot tell: never remove what may be alive
                finally:
                    os.close(fd)  # closing drops our probe lock
            shutil.rmtree(_lp(path), ignore_errors=True)
            removed += not os.path.exists(_lp(path))
    return removed


def _hide_on_windows(path: Path) -> None:  # pragma: no cover - Windows only
    if os.name != "nt":
        return
    try:
        import ctypes

        ctypes.windll.kernel32.SetFileAttributesW(str(path), 0x2)  # FILE_ATTRIBUTE_HIDDEN
    except Exception:
        pass
