"""File System destination: session XML, recordings and site backups written as files into one folder.

How a file is written: the bytes go to a hidden temporary file ``.~ic-<hex>.part`` in this process's staging folder
``.ic-staging/<pid>-<hex>/`` inside the destination folder (same file system), are made durable, and only then get
their final name by a rename (never a copy), so a file under a final name is always complete. A session batch is
written to staging first, outside the folder lock, and made durable with ONE ``syncfs`` (Linux; an fsync per file
elsewhere); the directory is fsync'ed once per batch. A recording the engine downloaded into :meth:`staging_dir` is
renamed into place the same way. A staging folder whose owner process is gone (SIGKILL, power loss) is removed by
the next run (see :mod:`folder_lock`); ``.part`` files older versions left in the folder itself go after an hour.

File Name Conflict Handling (from the product guide):

* ``AppendNumber`` -- the smallest number n >= 1 is inserted before the LAST period (``x.flv`` -> ``x.1.flv`` ->
  ``x.2.flv``; a name without a period gets ``.n`` at the end). Race-safe: the final name is claimed with a
  no-clobber operation (Linux ``renameat2(RENAME_NOREPLACE)``, else a hard link on POSIX, rename on Windows; where
  neither works, an ``O_EXCL`` placeholder that is then atomically replaced) and the next number is tried when it
  is taken. A file already there under the name or a numbered variant counts as already stored when it has
  identical bytes or -- for session XML -- holds the same session data compared as XML (:mod:`folder_index`:
  parsed, namespace- and whitespace-insensitive). This adopts an archive the vendor's client filled with the same
  File Name Format, and a re-run after a failure never duplicates a file.
* ``Overwrite`` -- the existing file is atomically replaced (``os.replace``).
* ``Skip`` -- the existing file is kept and nothing is created; ``store_file`` returns its path with
  ``how == "kept"`` (it landed: "already there", not "unavailable").

In-progress sessions: their XML file changes when the session ends. The folder keeps a small sidecar index
``.ic-inprogress.json`` mapping (site host, LSID) -> file name for sessions last written while in progress. A later
version of such a session replaces that file (whatever the conflict mode) instead of appending a number, so exactly
one XML file per session remains once it has ended; the entry is dropped when the ended version is written. A running
version never replaces or joins a file that already holds the ended version of that session (a process that listed
the session a moment earlier than another). The index and every session XML decision are made under the folder
lock ``.ic-folder.lock`` (:mod:`folder_lock`), held for the whole read-decide-write-record of a batch, so two
schedules, Run Now, export and tick writing one folder at once never produce ``x.1.xml`` beside a stale ``x.xml``.
Within one destination object (one run, one import) a later version of a session replaces the file this object
wrote for it (``import-xml`` of a file holding an lsid twice writes one file, the later version).

Backups have no session, so they are named with the File Name Format rendered with %SESSION_TYPE% = ``backup``,
%LSID% = the UTC download time ``YYYYMMDDTHHMMSSZ``, %LSEQ% = the same time in Unix seconds, %EXTERNAL_KEY% and
%INSTANCE% empty; a format without %SUPPORT_SITE_HOST% gets ``<host>-`` in front so sites stay apart. With the default
format a backup is ``access.example.com-backup-20240101T020000Z.nsb``. Retention Count N keeps the N newest backups
of that site (including the one just written) and deletes older files that match exactly this backup pattern --
never any other file. (The Content-Disposition name is only used for its extension when none was given.)
"""
from __future__ import annotations

import errno
import hashlib
import io
import itertools
import json
import logging
import ntpath
import os
import re
import secrets
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Callable, ClassVar, Iterable

from ic.destinations import naming
from ic.destinations.naming import session_values
from ic.destinations.base import Destination, FieldSpec, FileItem, StoredPath
from ic.destinations.folder_index import file_sessions, session_digest
from ic.destinations.folder_lock import STAGING_NAME, FolderLock, Staging, sweep
from ic.errors import ConfigError, DestinationError, DestinationUnavailable, ICError
from ic.sessions.model import RawXml, Session

log = logging.getLogger(__name__)

TEMP_PREFIX = ".~ic-"
TEMP_SUFFIX = ".part"
_TEMP_RE = re.compile(r"\.~ic-[0-9a-f]+\.part")
_TEMP_IDS = itertools.count(1)
INDEX_NAME = ".ic-inprogress.json"
STALE_SECONDS = 3600  # legacy .part files in the folder itself (current code writes them in staging)
DRIVE_REMOTE = 4  # GetDriveTypeW: a mapped network drive
DOWNLOAD_FORMATS = ("Default",)
MAX_APPEND_NUMBER = 100_000
WRITTEN_MEMORY = 20_000  # sessions whose file this object wrote, remembered so a later version replaces it
_CHUNK = 1 << 20
_NO_HARDLINK_ERRNOS = {errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOSYS, errno.ENOTSUP,
                       getattr(errno, "EOPNOTSUPP", errno.ENOTSUP)}


def _declare_get_drive_type(kernel32):
    """``UINT GetDriveTypeW(LPCWSTR lpRootPathName)`` with its full prototype (a private WinDLL, not ctypes.windll)."""
    import ctypes

    fn = kernel32.GetDriveTypeW
    fn.argtypes = [ctypes.c_wchar_p]
    fn.restype = ctypes.c_uint
    return fn


def drive_root(drive: str) -> str:
    """``Z:`` -> ``Z:\\``: GetDriveTypeW needs the root WITH its trailing backslash (``Z:`` alone is
    DRIVE_NO_ROOT_DIR)."""
    return drive.rstrip("\\/") + "\\"


def _windows_drive_type(root: str) -> int:  # pragma: no cover - Windows only
    """GetDriveTypeW for a drive root such as ``Z:\\`` (Windows only)."""
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    return int(_declare_get_drive_type(kernel32)(drive_root(root)))


def _parse_retention(value: object) -> int | None:
    """Empty -> None (keep all); otherwise a whole number >= 1, else ValueError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise ValueError(value)
    if number < 1:
        raise ValueError(value)
    return number


@dataclass(frozen=True)
class _Settings:
    directory: Path
    conflict: str
    name_format: str
    retention: int | None


@dataclass(frozen=True)
class _Outcome:
    path: Path | None
    how: str  # created | replaced | unchanged | kept


class FolderDestination(Destination):
    type_name = "folder"
    display_name = "File System"
    accepts_files = True
    replaces_sessions: ClassVar[bool] = True  # a later version of an in-progress session replaces its file

    # Returns the GetDriveTypeW value of a drive root; None where drive letters do not exist. Replaceable for tests.
    drive_type: ClassVar[Callable[[str], int] | None] = staticmethod(_windows_drive_type) if os.name == "nt" else None

    def __init__(self, name: str, config: dict) -> None:
        super().__init__(name, config)
        self.clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
        self.use_hardlinks = os.name != "nt"  # POSIX no-clobber claim; falls back by itself where unsupported
        self.use_noreplace = sys.platform.startswith("linux")  # renameat2(RENAME_NOREPLACE) before hard links
        self.stats = {"created": 0, "replaced": 0, "unchanged": 0, "kept": 0, "backups_deleted": 0}
        self._stale_checked = False
        self._lossy_warned = False
        self._staging: dict[Path, Staging] = {}
        self._written: dict[str, str] = {}  # (host\nlsid) -> file name written by this object: a later version wins
        self._dir_dirty = False  # a new directory entry awaits its fsync (once per batch, not per file)

    # --- settings -----------------------------------------------------------------------------------------------
    @classmethod
    def fields(cls) -> list[FieldSpec]:
        return [
            FieldSpec("directory", "Destination Directory", kind="directory", required=True,
                      help="Folder for the session XML, recordings and site backups. Do not use a mapped drive: "
                           "unless the folder is local, enter a UNC path such as \\\\server\\share\\folder."),
            FieldSpec("download_format", "Download Format", kind="choice", default="Default",
                      choices=DOWNLOAD_FORMATS,
                      help="Leave this at its default setting unless a BeyondTrust technician says otherwise."),
            FieldSpec("conflict", "File Name Conflict Handling", kind="choice", default="AppendNumber",
                      choices=naming.CONFLICT_MODES,
                      help="AppendNumber: insert the smallest free number before the last period (x.1.flv). "
                           "Overwrite: replace the existing file. Skip: keep the existing file, create nothing."),
            FieldSpec("name_format", "File Name Format", default=naming.DEFAULT_NAME_FORMAT,
                      help="Replacement values (case sensitive): " + " ".join(f"%{v}%" for v in naming.REPLACEMENT_VALUES)
                           + ". Command shell and Show My Screen recordings get -shell-N / -smsr-N before the "
                             "extension when %INSTANCE% is not used; with %INSTANCE%, a Show My Screen recording's "
                             "instance reads smsr-N so it never takes a shell recording's name. Empty = the default."),
            FieldSpec("retention", "Retention Count", kind="int", default=None,
                      help="How many backups of each site to keep; leave empty to keep all backups."),
        ]

    @classmethod
    def validate(cls, config: dict) -> dict[str, str]:
        """Problems to show when the destination is saved (including a file where the folder should be)."""
        problems = cls._setting_problems(config)
        directory = str(config.get("directory") or "").strip()
        if "directory" not in problems and os.path.isfile(directory):
            problems["directory"] = f"Destination Directory {directory} is a file, not a folder; enter a folder path."
        if "name_format" not in problems and "conflict" not in problems:
            problem = _lossy_format(config)
            if problem:
                problems["name_format"] = problem
        return problems

    @classmethod
    def _setting_problems(cls, config: dict) -> dict[str, str]:
        """Problems of the settings themselves; what is on disk is checked when the folder is used."""
        problems: dict[str, str] = {}
        directory = str(config.get("directory") or "").strip()
        if not directory:
            problems["directory"] = "Destination Directory is required."
        else:
            problem = cls._directory_problem(directory)
            if problem:
                problems["directory"] = problem
        fmt = config.get("download_format") or "Default"
        if fmt not in DOWNLOAD_FORMATS:
            problems["download_format"] = ("Download Format must be Default; leave it at its default unless a "
                                           "BeyondTrust technician says otherwise.")
        conflict = config.get("conflict") or "AppendNumber"
        if conflict not in naming.CONFLICT_MODES:
            problems["conflict"] = "File Name Conflict Handling must be AppendNumber, Overwrite or Skip."
        name_format = config.get("name_format") or naming.DEFAULT_NAME_FORMAT
        problem = naming.format_problem(str(name_format))
        if problem:
            problems["name_format"] = problem
        try:
            _parse_retention(config.get("retention"))
        except ValueError:
            problems["retention"] = "Retention Count must be a whole number of 1 or more, or empty to keep all backups."
        return problems

    @classmethod
    def _directory_problem(cls, directory: str) -> str | None:
        if "\x00" in directory:
            return "Destination Directory contains a NUL character; enter a normal folder path."
        drive_type = cls.drive_type
        if drive_type is not None:
            drive = ntpath.splitdrive(directory)[0]
            if re.fullmatch(r"[A-Za-z]:", drive) and drive_type(drive_root(drive)) == DRIVE_REMOTE:
                return (f"Destination Directory is on the mapped drive {drive.upper()}, which the scheduled task "
                        "cannot see; enter the UNC path instead, e.g. \\\\server\\share\\folder.")
            if not ntpath.isabs(directory) or not (drive or directory.startswith(("\\\\", "//"))):
                return ("Destination Directory must be a full path such as C:\\IntegrationClient\\Data or "
                        "\\\\server\\share\\folder.")
            return None
        if not os.path.isabs(directory):
            return "Destination Directory must be a full path such as /var/lib/integration-client."
        return None

    def _settings(self) -> _Settings:
        problems = self._setting_problems(self.config)
        if problems:
            key, message = next(iter(problems.items()))
            raise ConfigError(f"Destination {self.name}: {message}", field=key)
        if not self._lossy_warned:  # saved before this check existed: runs on, and says so once per run
            self._lossy_warned = True
            problem = _lossy_format(self.config)
            if problem:
                log.warning("Destination %s: %s", self.name, problem)
        return _Settings(
            directory=Path(str(self.config["directory"]).strip()),
            conflict=self.config.get("conflict") or "AppendNumber",
            name_format=self.config.get("name_format") or naming.DEFAULT_NAME_FORMAT,
            retention=_parse_retention(self.config.get("retention")),
        )

    # --- test ---------------------------------------------------------------------------------------------------
    def test(self) -> str:
        s = self._settings()
        d = s.directory
        created = False
        if os.path.lexists(naming.long_path(d)) and not os.path.isdir(naming.long_path(d)):
            raise DestinationError(f"Destination Directory {d} is a file, not a folder; enter a folder path.")
        if not os.path.isdir(naming.long_path(d)):
            parent = d.parent
            if parent == d or not os.path.isdir(naming.long_path(parent)):
                raise DestinationError(f"Folder {d} does not exist, nor does its parent folder; create it or "
                                       "correct Destination Directory.")
            try:
                os.mkdir(naming.long_path(d))
            except OSError as exc:
                raise DestinationError(f"Folder {d} does not exist and could not be created "
                                       f"({exc.strerror or exc}).") from None
            created = True
        self._clean_stale(d)
        probe = d / f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}"
        try:
            with open(naming.long_path(probe), "xb") as f:
                f.write(b"Integration Client write test\n")
                f.flush()
                os.fsync(f.fileno())
            os.unlink(naming.long_path(probe))
        except PermissionError:
            raise DestinationError(f"Folder {d} is not writable; give the account that runs the Integration Client "
                                   "write access to it.") from None
        except OSError as exc:
            raise DestinationError(f"Folder {d} could not be written ({exc.strerror or exc}).") from None
        return f"Folder {d} was created and is writable." if created else f"Folder {d} is writable."

    # --- sessions -----------------------------------------------------------------------------------------------
    def store_sessions(self, site_host: str, sessions: Iterable[Session]) -> int:
        """One XML file per session (bytes exactly as the appliance sent them).

        Returns how many sessions are now in the folder as given: written, replaced, or adopted (already there as
        the same XML). Files kept by Skip, and running versions not written because the ended version is already
        there, are not counted (``stats["kept"]``).
        The whole batch runs under the folder lock (:mod:`folder_lock`), so processes writing one folder at once
        see each other's in-progress index and files. See the module docstring for the rules.
        """
        s = self._settings()
        d = self._ready_dir(s)
        batch = _latest_versions(sessions)
        if not batch:
            return 0
        written = 0
        # The bytes go to staging first, outside the lock, and are made durable together (one syncfs on Linux
        # instead of one fsync per file); under the lock each file then only gets its name.
        temps: list[Path] = []
        try:
            try:
                for session in batch:
                    temps.append(self._write_temp(d, session.raw_xml, sync=False))
                _sync_files(self._staging_path(d), temps)
            except OSError as exc:
                raise _write_error(f"the XML of {len(batch)} session(s)", d, exc) from exc
            with FolderLock(d):
                index = _InProgressIndex(d)
                try:
                    for session, tmp in zip(batch, temps):
                        outcome = self._store_session(d, s, site_host, session, index, tmp)
                        if outcome.how in ("created", "replaced", "unchanged"):
                            written += 1
                finally:
                    index.save(self._staging_path(d))
                    if self._dir_dirty:
                        self._dir_dirty = False
                        _fsync_dir(d)
        finally:
            for tmp in temps:
                try:
                    os.unlink(naming.long_path(tmp))
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    log.debug("Temporary file %s could not be removed yet (%s).", tmp, exc)
        return written

    def _store_session(self, d: Path, s: _Settings, site_host: str, session: Session,
                       index: "_InProgressIndex", tmp: Path) -> _Outcome:
        """One session under the folder lock; ``tmp`` is its durable copy in staging (renamed into place)."""
        key = f"{site_host}\n{session.lsid}"
        compare = _SessionCompare(session, tmp)
        previous = index.get(key) or self._written.get(key)
        if previous is not None:
            if session.in_progress and compare.ended_version_in(naming.safe_join(d, previous)):
                index.discard(key)  # never put a running version over the ended one
                return self._count(_Outcome(naming.safe_join(d, previous), "kept"))
            outcome = self._write(d, previous, tmp, "Overwrite", consume=True, synced=True)
        else:
            name = naming.render(s.name_format, session_values(site_host, session), "xml")
            if session.in_progress and not os.path.lexists(naming.long_path(naming.safe_join(d, name))):
                # remember the name BEFORE the file exists: a process killed between writing it and the
                # index save below would otherwise leave it unknown, and the ended version would become
                # x.1.xml (AppendNumber) or be skipped (Skip). An entry whose file never came is ignored.
                index.set(key, name)
                index.save(self._staging_path(d))
            outcome = self._write(d, name, tmp, s.conflict, compare=compare, consume=True, synced=True)
        if session.in_progress and outcome.how in ("created", "replaced", "unchanged"):
            index.set(key, outcome.path.name)
        else:
            index.discard(key)
        if outcome.how in ("created", "replaced"):
            self._written[key] = outcome.path.name  # a later version in this same run replaces what we wrote
            if len(self._written) > WRITTEN_MEMORY:  # bounded: memory stays flat over a 100k-session run
                del self._written[next(iter(self._written))]
        return outcome

    # --- recordings and backups ---------------------------------------------------------------------------------
    def store_file(self, item: FileItem) -> Path | None:
        """Store a recording or backup; returns where it is, as a :class:`StoredPath` whose ``how`` says
        created / replaced / unchanged (identical bytes already there) / kept (Skip kept the file there).
        A source inside :meth:`staging_dir` is renamed into place (consumed), any other source is copied."""
        if item.kind not in ("recordings", "smsr", "shell", "backup"):
            raise ValueError(f"unknown file kind {item.kind!r}")
        s = self._settings()
        d = self._ready_dir(s)
        ext_hint = item.extension
        if not ext_hint and item.suggested_name and "." in item.suggested_name:
            ext_hint = item.suggested_name.rpartition(".")[2]
        ext = naming.clean_extension(ext_hint, "nsb" if item.kind == "backup" else "flv")
        consume = self._is_staged(d, item.source)
        if item.kind == "backup":
            outcome = self._store_backup(s, d, item, ext, consume)
        else:
            fmt = naming.format_for(s.name_format, item.kind, item.instance)
            if ext.lower() == "xml":  # an appliance calling a recording .xml must not take the session XML's name
                fmt = naming.tag_before_extension(fmt, f"-{item.kind}")
            values = session_values(item.site_host, item.session, item.instance)
            name = naming.render(fmt, values, ext)
            outcome = self._write(d, name, item.source, s.conflict, consume=consume)
        if self._dir_dirty:
            self._dir_dirty = False
            _fsync_dir(d)
        return None if outcome.path is None else StoredPath.of(outcome.path, outcome.how)

    def _is_staged(self, d: Path, source: object) -> bool:
        """Is ``source`` a file in (or under) our staging folder for ``d``? Then it is ours to rename."""
        if not isinstance(source, (str, os.PathLike)):
            return False
        staging = self._staging.get(d)
        if staging is None or staging._path is None:
            return False
        try:
            base, path = os.path.abspath(staging._path), os.path.abspath(source)
            return path != base and os.path.commonpath([base, path]) == base and os.path.isfile(path)
        except (TypeError, ValueError):
            return False

    def _store_backup(self, s: _Settings, d: Path, item: FileItem, ext: str, consume: bool) -> _Outcome:
        fmt = self._backup_format(s.name_format)
        now = self.clock().astimezone(timezone.utc)
        values = {
            "SUPPORT_SITE_HOST": item.site_host,
            "SESSION_TYPE": "backup",
            "LSID": now.strftime("%Y%m%dT%H%M%SZ"),
            "LSEQ": int(now.timestamp()),
            "EXTERNAL_KEY": "",
            "INSTANCE": "",
        }
        outcome = self._write(d, naming.render(fmt, values, ext), item.source, s.conflict, consume=consume)
        if outcome.how in ("created", "replaced") and s.retention:
            self._apply_retention(d, fmt, item.site_host, ext, s.retention)
        return outcome

    @staticmethod
    def _backup_format(name_format: str) -> str:
        return name_format if "%SUPPORT_SITE_HOST%" in name_format else "%SUPPORT_SITE_HOST%-" + name_format

    @staticmethod
    def backup_pattern(fmt: str, site_host: str, ext: str, ignore_case: bool | None = None) -> re.Pattern:
        """Regex matching exactly the backup names this plugin writes for ``site_host`` (before numbering).

        Case-insensitive on Windows, where the file system is: ``Support.Example.com-backup-...nsb`` written before
        the site's host was re-typed in lower case is the same site's backup and must count for Retention Count."""
        if ignore_case is None:
            ignore_case = os.name == "nt"
        fragments = {
            "SUPPORT_SITE_HOST": re.escape(naming.clean_value(site_host)),
            "SESSION_TYPE": "backup",
            "LSID": r"(\d{8}T\d{6}Z)",
            "LSEQ": r"(\d{9,11})",
            "EXTERNAL_KEY": "",
            "INSTANCE": "",
            "EXTENSION": re.escape(ext),
        }
        out = []
        for i, part in enumerate(fmt.split("%")):
            out.append(fragments.get(part, "") if i % 2 else re.escape(part))
        return re.compile("".join(out), re.IGNORECASE if ignore_case else 0)

    def _apply_retention(self, d: Path, fmt: str, site_host: str, ext: str, keep: int) -> None:
        pattern = self.backup_pattern(fmt, site_host, ext)
        found: list[tuple[tuple[int, int, str], str]] = []
        try:
            entries = list(os.scandir(naming.long_path(d)))
        except OSError as exc:
            log.warning("Retention for %s skipped: folder %s could not be listed (%s).", site_host, d, exc)
            return
        for entry in entries:
            if not entry.is_file(follow_symlinks=False):
                continue
            m = pattern.fullmatch(entry.name)
            number = 0
            if not m:
                base, number = naming.strip_number(entry.name)
                m = pattern.fullmatch(base) if number else None
            if m:
                stamp = int(re.sub(r"\D", "", m.group(1)) or 0)
                found.append(((stamp, number, entry.name), entry.name))
        found.sort(reverse=True)
        for _, file_name in found[keep:]:
            try:
                os.unlink(naming.long_path(d / file_name))
                self.stats["backups_deleted"] += 1
                log.info("Retention Count %d: deleted old backup %s from %s.", keep, file_name, d)
            except OSError as exc:
                log.warning("Old backup %s in %s could not be deleted (%s).", file_name, d, exc)

    # --- the one place that writes files ------------------------------------------------------------------------
    def _ready_dir(self, s: _Settings) -> Path:
        d = s.directory
        if os.path.isfile(naming.long_path(d)):
            raise DestinationError(f"Destination Directory {d} of destination {self.name} is a file, not a folder; "
                                   "enter a folder path.")
        if not os.path.isdir(naming.long_path(d)):
            # Same rule as Test: a missing last folder is created when its parent is there (a share or disk that
            # cannot be reached has no parent either, so nothing is created in the wrong place).
            if d.parent != d and os.path.isdir(naming.long_path(d.parent)):
                try:
                    os.mkdir(naming.long_path(d))
                    log.info("Created folder %s for destination %s.", d, self.name)
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise DestinationError(f"Folder {d} does not exist and could not be created "
                                           f"({exc.strerror or exc}).") from None
            else:
                raise DestinationUnavailable(
                    f"Folder {d} does not exist or cannot be reached; check Destination Directory and that the "
                    "account running the Integration Client can reach it.")
        if not self._stale_checked:
            self._stale_checked = True
            self._clean_stale(d)
        return d

    def _clean_stale(self, d: Path) -> int:
        """Remove what a crashed writer left: staging folders whose owner process is gone (whatever their age), and
        ``.~ic-*.part`` files of older versions (they wrote them into the folder itself) older than an hour."""
        try:
            removed = sweep(d)
        except (OSError, DestinationUnavailable) as exc:  # e.g. a read-only folder: the write itself will say so
            log.debug("Staging folders in %s not swept (%s).", d, exc)
            removed = 0
        cutoff = time.time() - STALE_SECONDS
        try:
            entries = list(os.scandir(naming.long_path(d)))
        except OSError:
            return removed
        for entry in entries:
            if not _TEMP_RE.fullmatch(entry.name):
                continue
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(naming.long_path(d / entry.name))
                    removed += 1
            except OSError:
                continue
        if removed:
            log.info("Removed %d unfinished temporary file(s) or folder(s) of crashed runs from %s.", removed, d)
        return removed

    def _write(self, d: Path, name: str, source: object, mode: str, *, compare: "_SessionCompare | None" = None,
               consume: bool = False, synced: bool = False) -> _Outcome:
        """Put ``source`` under ``name`` in ``d`` following ``mode`` (module docstring). ``consume``: ``source`` is a
        complete file of ours on this file system (staging): it is renamed/linked into place, never copied."""
        final = naming.safe_join(d, name)
        try:
            if (mode == "Skip" and os.path.lexists(naming.long_path(final))) or (
                    mode == "Overwrite" and compare is not None and compare.in_progress
                    and compare.ended_version_in(final)):  # a running version never replaces the ended one
                if consume:
                    _unlink_quietly(Path(source))
                return self._count(_Outcome(final, "kept"))
            tmp = Path(source) if consume else self._write_temp(d, source)
            if consume and not synced:
                _fsync_file(tmp)
            try:
                if mode == "Overwrite":
                    existed = os.path.lexists(naming.long_path(final))
                    _replace(naming.long_path(tmp), naming.long_path(final))
                    self._dir_dirty = True
                    return self._count(_Outcome(final, "replaced" if existed else "created"))
                for n in range(MAX_APPEND_NUMBER):
                    candidate = final if n == 0 else naming.safe_join(d, naming.numbered_name(name, n))
                    if self._claim(tmp, candidate):
                        self._dir_dirty = True
                        return self._count(_Outcome(candidate, "created"))
                    if mode == "Skip":
                        return self._count(_Outcome(candidate, "kept"))
                    if _same_content(tmp, candidate):
                        return self._count(_Outcome(candidate, "unchanged"))
                    if compare is not None:
                        verdict = compare.against(candidate)
                        if verdict == "same":
                            return self._count(_Outcome(candidate, "unchanged"))
                        if verdict == "newer-there":
                            return self._count(_Outcome(candidate, "kept"))
                raise DestinationError(f"Folder {d} already holds {MAX_APPEND_NUMBER} numbered copies of {name}; "
                                       "clean it up or change File Name Format.")
            finally:
                try:
                    os.unlink(naming.long_path(tmp))
                except FileNotFoundError:
                    pass
                except OSError as exc:  # e.g. a virus scanner holds it on Windows: the staging sweep removes it
                    log.debug("Temporary file %s could not be removed yet (%s).", tmp, exc)
        except OSError as exc:
            raise _write_error(name, d, exc) from exc

    def _count(self, outcome: _Outcome) -> _Outcome:
        self.stats[outcome.how] += 1
        return outcome

    def _staging_path(self, d: Path) -> Path:
        staging = self._staging.get(d)
        if staging is None:
            staging = self._staging[d] = Staging(d)
        return staging.path()

    def staging_dir(self) -> Path | None:
        """A hidden folder of this process inside the Destination Directory (same file system): a recording
        downloaded there is renamed into place by :meth:`store_file` instead of copied."""
        try:
            s = self._settings()
            return self._staging_path(self._ready_dir(s))
        except (ICError, OSError) as exc:
            log.debug("No staging folder for destination %s (%s).", self.name, exc)
            return None

    def _write_temp(self, d: Path, source: object, sync: bool = True) -> Path:
        """A complete, fsync'ed copy of ``source`` in this process's staging folder."""
        for attempt in range(2):
            staging = self._staging_path(d)
            tmp = os.path.join(staging, f"{TEMP_PREFIX}{next(_TEMP_IDS):x}{secrets.token_hex(4)}{TEMP_SUFFIX}")
            try:
                fd = os.open(naming.long_path(tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL
                             | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOINHERIT", 0), 0o666)
                break
            except FileNotFoundError:  # our staging folder was removed under us (an admin): make it again
                gone = self._staging.pop(d, None)
                if gone is not None:
                    gone.close()
                if attempt:
                    raise
        try:
            if isinstance(source, (bytes, bytearray, memoryview)):
                view = memoryview(source)
                while view:
                    view = view[os.write(fd, view):]
            elif isinstance(source, RawXml):  # a session too big to hold: streamed from its temporary file
                with open(fd, "wb", closefd=False) as out:
                    source.write_to(out)
            else:
                with open(fd, "wb", closefd=False) as out, _open_source(source) as src:
                    shutil.copyfileobj(src, out, _CHUNK)
            if sync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            try:
                os.unlink(naming.long_path(tmp))
            except OSError:
                pass
            raise
        os.close(fd)
        return Path(tmp)

    def _claim(self, tmp: Path, final: Path) -> bool:
        """Give the complete temp file the name ``final`` only if that name is free. False when taken."""
        src, dst = naming.long_path(tmp), naming.long_path(final)
        if os.name == "nt":
            try:
                _retry_locked(os.rename, src, dst)  # Windows rename never replaces an existing file
                return True
            except FileExistsError:
                return False
        if self.use_hardlinks and self.use_noreplace:
            result = _rename_noreplace(src, dst)  # Linux: one atomic no-clobber rename (no link + unlink)
            if result is not None:
                return result
            self.use_noreplace = False  # not supported here (old kernel, some file systems): hard links
        if self.use_hardlinks:
            try:
                os.link(src, dst)  # atomic, fails if dst exists; the temp name is removed by the caller
                return True
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in _NO_HARDLINK_ERRNOS:
                    raise
                log.info("Folder %s does not support hard links; claiming file names with placeholders.", tmp.parent)
                self.use_hardlinks = False
        # No hard links (FAT, some shares): reserve the name with O_EXCL, then atomically put the data under it.
        # A crash between the two steps can leave an empty placeholder, never a partly written file.
        try:
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            return False
        os.close(fd)
        _replace(src, dst)
        return True

    def close(self) -> None:
        """Remove this process's staging folder (anything the engine left there is ours and unfinished)."""
        for d, staging in list(self._staging.items()):
            staging.close()
            try:
                os.rmdir(naming.long_path(d / STAGING_NAME))  # only when no other process stages there
            except OSError:
                pass
        self._staging.clear()


# --- helpers ----------------------------------------------------------------------------------------------------
class _open_source:
    """Context manager yielding a binary reader for a Path/str, bytes, or an already open binary file."""

    def __init__(self, source: object) -> None:
        self.source = source
        self._opened: BinaryIO | None = None

    def __enter__(self) -> BinaryIO:
        src = self.source
        if isinstance(src, (bytes, bytearray, memoryview)):
            return io.BytesIO(bytes(src))
        if isinstance(src, (str, os.PathLike)):
            self._opened = open(naming.long_path(src), "rb")
            return self._opened
        if hasattr(src, "read"):
            return src  # type: ignore[return-value]
        raise TypeError(f"cannot read file data from {type(src).__name__}")

    def __exit__(self, *exc: object) -> None:
        if self._opened is not None:
            self._opened.close()


def _retry_locked(fn: Callable[[str, str], None], src: str, dst: str) -> None:
    """On Windows a virus scanner or indexer may hold a just-written file for a moment: retry briefly."""
    for attempt in range(6):
        try:
            fn(src, dst)
            return
        except FileExistsError:
            raise
        except PermissionError:
            if os.name != "nt" or attempt == 5:
                raise
            time.sleep(0.05 * 2**attempt)


def _replace(src: str, dst: str) -> None:
    _retry_locked(os.replace, src, dst)


def _same_content(a: Path, b: Path) -> bool:
    try:
        pa, pb = naming.long_path(a), naming.long_path(b)
        if not os.path.isfile(pb) or os.path.getsize(pa) != os.path.getsize(pb):
            return False
        with open(pa, "rb") as fa, open(pb, "rb") as fb:
            while True:
                ca, cb = fa.read(_CHUNK), fb.read(_CHUNK)
                if ca != cb:
                    return False
                if not ca:
                    return True
    except OSError:
        return False


_RENAMEAT2: list = []  # [function or None], loaded once


def _rename_noreplace(src: str, dst: str) -> bool | None:
    """Linux renameat2(RENAME_NOREPLACE): True when renamed, False when ``dst`` exists, None when unsupported."""
    if not _RENAMEAT2:
        fn = None
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            fn = libc.renameat2
            fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            fn.restype = ctypes.c_int
        except (OSError, AttributeError):
            fn = None
        _RENAMEAT2.append(fn)
    fn = _RENAMEAT2[0]
    if fn is None:
        return None
    import ctypes

    at_fdcwd, rename_noreplace = -100, 1
    if fn(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), rename_noreplace) == 0:
        return True
    err = ctypes.get_errno()
    if err == errno.EEXIST:
        return False
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM):
        return None
    raise OSError(err, os.strerror(err), dst)


_SYNCFS: list = []


def _sync_files(staging: Path, paths: list[Path]) -> None:
    """Make every file in ``paths`` durable: one ``syncfs`` of their file system on Linux (one journal commit for
    a whole batch), else an fsync each."""
    if not paths:
        return
    if not _SYNCFS:
        fn = None
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                fn = ctypes.CDLL(None, use_errno=True).syncfs
                fn.argtypes = [ctypes.c_int]
                fn.restype = ctypes.c_int
            except (OSError, AttributeError):
                fn = None
        _SYNCFS.append(fn)
    fn = _SYNCFS[0]
    if fn is not None and len(paths) > 1:
        fd = os.open(staging, os.O_RDONLY)
        try:
            if fn(fd) == 0:
                return
        finally:
            os.close(fd)
    for path in paths:
        _fsync_file(path)


def _write_error(what: str, d: Path, exc: OSError) -> DestinationError:
    """One sentence for a failed write: access denied is the admin's to fix; anything else may pass (retry)."""
    if isinstance(exc, PermissionError):
        return DestinationError(f"Could not write {what} in folder {d}: access denied (the account running the "
                                "Integration Client lacks write access, or the file is open in another program).")
    return DestinationUnavailable(f"Could not write {what} in folder {d} ({exc.strerror or exc}).")


def _lossy_format(config: dict) -> str | None:
    """Overwrite/Skip with a format that may give two sessions one name (no %LSID%): one would be lost silently."""
    conflict = config.get("conflict") or "AppendNumber"
    fmt = str(config.get("name_format") or naming.DEFAULT_NAME_FORMAT)
    if conflict in ("Overwrite", "Skip") and "LSID" not in naming.tokens(fmt):
        return (f"File Name Format without %LSID% can give two sessions the same name (%LSEQ% is not guaranteed to "
                f"be unique), and {conflict} would then lose one without a word; add %LSID% or choose AppendNumber.")
    return None


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(naming.long_path(path))
    except OSError:
        pass


def _fsync_file(path: Path) -> None:
    """Make a file handed to us (a download in staging) durable before it gets its final name."""
    fd = os.open(naming.long_path(path), os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    except OSError:
        pass  # e.g. a share that cannot fsync a read-only handle: the data was flushed by its writer
    finally:
        os.close(fd)


def _latest_versions(sessions: Iterable[Session]) -> list[Session]:
    """One version per lsid, in order of last appearance: the later one wins, except that a running version never
    replaces an ended one (e.g. ``import-xml`` of a file holding an lsid twice writes one file)."""
    latest: dict[str, Session] = {}
    for session in sessions:
        before = latest.pop(session.lsid, None)
        latest[session.lsid] = before if (before is not None and session.in_progress and not before.in_progress) \
            else session
    return list(latest.values())


class _SessionCompare:
    """Does a file already there hold this session (same XML), or a newer (ended) version of it?"""

    def __init__(self, session: Session, written: Path | None = None) -> None:
        self.session = session
        self.in_progress = session.in_progress
        self.written = written  # our copy in staging (read instead of raw_xml, whatever form that takes)
        self._brief = None
        self._brief_done = False

    def _mine(self):
        if not self._brief_done:
            self._brief_done = True
            if self.written is not None:
                self._brief = next((b for b in file_sessions(self.written) if b.lsid == self.session.lsid), None)
            elif isinstance(self.session.raw_xml, (bytes, bytearray, memoryview)) and self.session.raw_xml:
                self._brief = session_digest(self.session.raw_xml, self.session.lsid)
        return self._brief

    def _theirs(self, path: Path):
        return [b for b in file_sessions(path) if b.lsid == self.session.lsid]

    def ended_version_in(self, path: Path) -> bool:
        if not os.path.isfile(naming.long_path(path)):
            return False
        if _too_big_for_a_tree(path):
            return _ended_streamed(path, self.session.lsid)
        return any(b.ended for b in self._theirs(path))

    def against(self, path: Path) -> str | None:
        """"same" (adopt it), "newer-there" (we are running, the file holds the ended version) or None."""
        if self.written is not None and (_too_big_for_a_tree(path) or _too_big_for_a_tree(self.written)):
            return self._against_streamed(path)
        theirs = self._theirs(path)
        if not theirs:
            return None
        mine = self._mine()
        if mine is not None and any(b.digest == mine.digest for b in theirs):
            return "same"
        if self.in_progress and any(b.ended for b in theirs):
            return "newer-there"
        return None

    def _against_streamed(self, path: Path) -> str | None:
        """``against`` for files too big to read as a tree: both sides digested as a stream (one digest form)."""
        theirs = _streamed_briefs(path, self.session.lsid)
        if not theirs:
            return None
        assert self.written is not None
        mine = _streamed_briefs(self.written, self.session.lsid)
        if mine and any(digest == mine[0][1] for _, digest in theirs):
            return "same"
        if self.in_progress and any(ended for ended, _ in theirs):
            return "newer-there"
        return None


def _too_big_for_a_tree(path: Path) -> bool:
    """A file whose session the parser would spill: not read as one tree (a 200 MB file would take GBs)."""
    from ic.sessions import spill

    try:
        return os.path.getsize(naming.long_path(path)) > spill.SPILL_OVER
    except OSError:
        return False


def _ended_streamed(path: Path, lsid: str) -> bool:
    """Does the file hold the ended version of ``lsid``? Read with the streaming parser (flat memory); an unreadable
    file holds nothing, as for ``file_sessions``."""
    from ic.sessions.parser import iter_sessions

    ended = False
    try:
        for s in iter_sessions(naming.long_path(path)):
            ended = ended or (s.lsid == lsid and not s.in_progress)
            s.close()
    except (ICError, OSError, ValueError):
        return False
    return ended


def _streamed_briefs(path: Path, lsid: str) -> list[tuple[bool, str]]:
    """(ended, digest) of each top-level ``<session lsid=..>`` of an XML file, read as a stream with every finished
    element deleted (flat memory for a huge file). The digest ignores namespaces, comments, PIs and runs of white
    space like folder_index's, in a form of its own: compare it only with another streamed digest. [] when the file
    is not readable XML."""
    from lxml import etree

    def norm(text: str | None) -> str:
        return " ".join(text.split()) if text else ""

    def local(tag: str) -> str:
        return tag.rpartition("}")[2]

    out: list[tuple[bool, str]] = []
    h = None
    stack: list[bool] = []  # per open element of the session: its text hashed yet
    ended: bool | None = None
    try:
        parsed = etree.iterparse(naming.long_path(path), events=("start", "end"), remove_comments=True,
                                 remove_pis=True, resolve_entities=False, load_dtd=False, no_network=True,
                                 huge_tree=True)
        for kind, el in parsed:
            if h is None:
                if kind == "start":
                    parent = el.getparent()
                    if (local(el.tag) == "session" and el.get("lsid") == lsid
                            and (parent is None or parent.getparent() is None)):
                        h, stack, ended = hashlib.sha256(), [], None
                    else:
                        continue
                else:
                    parent = el.getparent()
                    if parent is not None and parent.getparent() is None:  # finished content outside the session
                        el.clear(keep_tail=False)
                        while el.getprevious() is not None:
                            del parent[0]
                    continue
            if kind == "start":
                parent = el.getparent()
                if stack:  # a child: its parent's text and its previous sibling's tail are complete now
                    if not stack[-1]:
                        h.update(repr(("t", norm(parent.text))).encode("utf-8", "surrogatepass"))
                        stack[-1] = True
                    previous = el.getprevious()
                    if previous is not None:
                        h.update(repr(("tail", norm(previous.tail))).encode("utf-8", "surrogatepass"))
                        while el.getprevious() is not None:
                            del parent[0]
                attrs = sorted((local(k), v) for k, v in el.attrib.items())
                h.update(repr(("<", local(el.tag), attrs)).encode("utf-8", "surrogatepass"))
                stack.append(False)
                continue
            if not stack.pop():
                h.update(repr(("t", norm(el.text))).encode("utf-8", "surrogatepass"))
            if len(el):
                h.update(repr(("tail", norm(el[len(el) - 1].tail))).encode("utf-8", "surrogatepass"))
            h.update(b">")
            if len(stack) == 1 and ended is None and local(el.tag) == "end_time":
                nil = any(local(k) == "nil" and v == "true" for k, v in el.attrib.items())
                stamp = (el.get("timestamp") or el.get("ts") or "").strip()
                ended = not nil and not (stamp in ("", "0") and not (el.text or "").strip())
            el.clear(keep_tail=True)  # (its tail is hashed when the next sibling starts or its parent ends)
            if not stack:
                out.append((bool(ended), h.hexdigest()))
                h = None
    except (etree.XMLSyntaxError, OSError, ValueError):
        return []
    return out


def _fsync_dir(d: Path) -> None:
    """Make the new directory entry durable (POSIX; a no-op on Windows)."""
    if os.name == "nt":
        return
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _InProgressIndex:
    """Sidecar ``.ic-inprogress.json``: (site host, LSID) -> file name of sessions written while in progress."""

    def __init__(self, d: Path) -> None:
        self.d = d
        self.path = d / INDEX_NAME
        self.entries: dict[str, str] = {}
        self.changed = False
        try:
            with open(naming.long_path(self.path), "rb") as f:
                data = json.load(f)
            entries = data.get("in_progress", {}) if isinstance(data, dict) else {}
            self.entries = {str(k): str(v) for k, v in entries.items()}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("Ignoring unreadable %s in %s (%s); in-progress sessions will be written anew.",
                        INDEX_NAME, d, exc)

    def get(self, key: str) -> str | None:
        name = self.entries.get(key)
        if name is None:
            return None
        try:
            path = naming.safe_join(self.d, name)
        except DestinationError:
            path = None
        if path is None or not os.path.isfile(naming.long_path(path)):
            self.discard(key)  # the admin removed it (or the entry is bogus): write a fresh file
            return None
        return name

    def set(self, key: str, name: str) -> None:
        if self.entries.get(key) != name:
            self.entries[key] = name
            self.changed = True

    def discard(self, key: str) -> None:
        if self.entries.pop(key, None) is not None:
            self.changed = True

    def save(self, staging: Path) -> None:
        """Write the index (callers hold the folder lock); the temp file goes to the staging folder."""
        if not self.changed:
            return
        tmp = staging / f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}"
        try:
            if not self.entries:
                try:
                    os.unlink(naming.long_path(self.path))
                except FileNotFoundError:
                    pass
            else:
                with open(naming.long_path(tmp), "x", encoding="utf-8") as f:
                    json.dump({"version": 1, "in_progress": self.entries}, f, indent=0, sort_keys=True)
                    f.flush()
                    os.fsync(f.fileno())
                _replace(naming.long_path(tmp), naming.long_path(self.path))
            self.changed = False
        except OSError as exc:
            log.warning("Could not update %s in %s (%s).", INDEX_NAME, self.d, exc)
            try:
                os.unlink(naming.long_path(tmp))
            except OSError:
                pass
