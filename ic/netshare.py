"""Is a file on a network share? SQLite's write-ahead log (WAL) needs shared memory that a network file system does
not give (the SQLite documentation: "WAL does not work over a network filesystem"): two computers, or one computer
through two paths, can then corrupt the database. A SQLite file there uses the rollback journal instead, and says so
once in the log.

Network: a UNC path (``\\\\server\\share\\...``, ``//server/share``, ``\\\\?\\UNC\\...``), a Windows drive letter mapped to
a share (GetDriveTypeW says DRIVE_REMOTE), or on Linux and macOS a folder whose mount is a network file system (NFS,
SMB/CIFS, sshfs...). ``\\\\?\\C:\\`` and ``\\\\.\\`` are local device paths.
"""
from __future__ import annotations

import logging
import os
import re
import sys
import threading
from typing import Callable

log = logging.getLogger("ic")

_UNC = re.compile(r"^(?:[\\/]{2}\?[\\/]UNC[\\/]|[\\/]{2}(?![?.][\\/]))[^\\/]+[\\/]", re.IGNORECASE)
_DRIVE = re.compile(r"^(?:[\\/]{2}\?[\\/])?([A-Za-z]):")
_NETWORK_FS = {"nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "afs", "ncpfs", "9p", "ceph", "glusterfs",
               "lustre", "gpfs", "davfs", "fuse.sshfs", "sshfs", "fuse.davfs", "fuse.glusterfs", "fuse.cephfs",
               "fuse.s3fs", "fuse.rclone", "webdav", "afpfs", "fuse.smbnetfs"}
DRIVE_REMOTE = 4  # GetDriveTypeW
_warned: set[str] = set()
_lock = threading.Lock()


def is_unc(path: str) -> bool:
    """``\\\\server\\share\\...`` (either slash) or ``\\\\?\\UNC\\server\\...``, from the text alone."""
    return bool(_UNC.match(path or ""))


def is_network_path(path: str, *, drive_type: Callable[[str], int] | None = None,
                    mount_type: Callable[[str], str | None] | None = None) -> bool:
    """Does ``path`` (a file or folder; it need not exist yet) live on a network share? ``drive_type`` (Windows'
    GetDriveTypeW of "X:\\\\") and ``mount_type`` (the file system type of the mount holding a POSIX path) are asked
    only for the path styles they apply to; tests pass stand-ins."""
    text = str(path or "")
    if not text or text == ":memory:" or text.startswith("file::memory:"):
        return False
    if is_unc(text):
        return True
    drive = _DRIVE.match(text)
    if drive:
        get = drive_type or (_windows_drive_type if sys.platform == "win32" else None)
        try:
            return get is not None and get(f"{drive.group(1).upper()}:\\") == DRIVE_REMOTE
        except Exception:  # noqa: BLE001 - cannot tell: treated as local, as before
            return False
    if text.startswith("/"):
        get_fs = mount_type or (_mount_type if sys.platform != "win32" else None)
        try:
            fs = get_fs(text) if get_fs is not None else None
        except Exception:  # noqa: BLE001
            fs = None
        return bool(fs) and (fs.lower() in _NETWORK_FS or fs.lower().startswith(("nfs", "smb", "cifs")))
    return False


def sqlite_journal_mode(path: str, **probes) -> str:
    """"WAL" for a local database file, "DELETE" (the rollback journal) for one on a network share."""
    return "DELETE" if is_network_path(path, **probes) else "WAL"


def wal_warning(path: str, what: str = "SQLite database") -> str:
    return (f"The {what} {path} is on a network share, where SQLite's write-ahead log can corrupt it, so it uses a "
            "rollback journal there (slower; a database that several computers use belongs on PostgreSQL or SQL "
            "Server).")


def url_warning(url: str) -> str | None:
    """The sentence to show when a SQLite database URL being saved names a file on a network share; else None."""
    if not str(url or "").lower().startswith("sqlite"):
        return None
    try:
        from sqlalchemy.engine import make_url

        path = make_url(str(url)).database or ""
    except Exception:  # noqa: BLE001 - not a URL this check understands: the save itself says what is wrong
        return None
    return wal_warning(path) if path and is_network_path(path) else None


def journal_mode_for_connection(dbapi_conn, what: str = "SQLite database") -> str:
    """The journal mode for an open sqlite3 connection's main file; warns once per file when it is on a share."""
    try:
        cur = dbapi_conn.cursor()
        try:
            rows = cur.execute("PRAGMA database_list").fetchall()
        finally:
            cur.close()
        path = next((r[2] for r in rows if r[1] == "main"), "") or ""
    except Exception:  # noqa: BLE001 - cannot tell: keep what we always did
        return "WAL"
    mode = sqlite_journal_mode(path)
    if mode != "WAL":
        with _lock:
            first = path not in _warned
            _warned.add(path)
        if first:
            log.warning(wal_warning(path, what))
    return mode


def _windows_drive_type(root: str) -> int:  # pragma: no cover - Windows only
    import ctypes

    return int(ctypes.windll.kernel32.GetDriveTypeW(root))  # type: ignore[attr-defined]


def _mount_type(path: str) -> str | None:
    """The file system type of the mount that holds ``path`` (the longest mount point above it), from
    /proc/self/mountinfo; None where there is none (macOS: ``os.statvfs`` has no type, treated as local)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    real = os.path.realpath(path)
    best, best_fs = "", None
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or not tail:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, best_fs = point, tail[0]
    return best_fs
