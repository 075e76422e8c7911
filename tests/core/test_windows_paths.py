"""Windows-only code paths, checked on Linux: ctypes prototypes, stand-ins for Windows DLLs and OS behaviour.

Tests named ``..._windows_only_stand_in`` replace a Windows API (DPAPI, msvcrt.locking, GetDriveTypeW, schtasks,
AttachConsole, customtkinter's Windows icon timer) with a stand-in; everything else runs for real.
"""
from __future__ import annotations

import ctypes
import errno
import os

import pytest

from ic import secrets
from ic.errors import SecretUnavailable
from tests.helpers import _Lib, _dpapi_stand_in


# --- DPAPI (ic/secrets.py) ---------------------------------------------------------------------------------------


def test_dpapi_prototypes_use_full_width_pointers_windows_only_stand_in():
    _, _, (crypt32, kernel32, _) = _dpapi_stand_in()
    blob_p = ctypes.POINTER(secrets.DATA_BLOB)
    protect, unprotect = crypt32.CryptProtectData, crypt32.CryptUnprotectData
    assert protect.argtypes == [blob_p, ctypes.c_wchar_p, blob_p, ctypes.c_void_p, ctypes.c_void_p,
                                ctypes.c_uint32, blob_p]
    assert unprotect.argtypes[1] == ctypes.POINTER(ctypes.c_wchar_p)  # LPWSTR *ppszDataDescr (an out pointer)
    assert protect.restype is ctypes.c_int and unprotect.restype is ctypes.c_int  # BOOL
    assert kernel32.LocalFree.argtypes == [ctypes.c_void_p] and kernel32.LocalFree.restype is ctypes.c_void_p
    # DATA_BLOB layout as in wincrypt.h on Win64: DWORD, padding, 8-byte pointer.
    assert secrets.DATA_BLOB.cbData.size == 4
    assert secrets.DATA_BLOB.pbData.offset == ctypes.sizeof(ctypes.c_void_p)


def test_dpapi_round_trip_frees_the_output_windows_only_stand_in():
    api, calls, _ = _dpapi_stand_in()
    key = os.urandom(32)
    wrapped = secrets._dpapi(key, True, api)
    assert wrapped != key and len(wrapped) == 32
    assert secrets._dpapi(wrapped, False, api) == key
    assert calls["flags"] == [secrets.CRYPTPROTECT_UI_FORBIDDEN] * 2
    assert calls["freed"] == calls["allocated"] and len(calls["freed"]) == 2  # LocalFree once per output


def test_dpapi_failure_names_the_error_windows_only_stand_in():
    api, calls, _ = _dpapi_stand_in(fail_code=0x8009000B)
    with pytest.raises(SecretUnavailable, match=r"could not unlock .*DPAPI error 0x8009000B.*another account"):
        secrets._dpapi(b"x" * 40, False, api)
    with pytest.raises(SecretUnavailable, match="could not protect"):
        secrets._dpapi(b"x" * 32, True, api)
    assert calls["freed"] == []  # nothing was allocated, nothing freed


@pytest.mark.skipif(os.name != "nt", reason="real DPAPI: Windows CI only")
def test_real_dpapi_wraps_the_key_file_on_windows(tmp_path):
    key_path = tmp_path / "secret.key"
    token = secrets.SecretBox(key_path).encrypt("value", "purpose")
    raw = key_path.read_bytes()
    assert raw.startswith(b"DPAPI1") and len(raw) > 6 + 32
    assert secrets.SecretBox(key_path).decrypt(token, "purpose") == "value"  # a fresh box unwraps it again
    assert secrets._dpapi(secrets._dpapi(b"k" * 32, True), False) == b"k" * 32


def test_key_file_without_hard_links_loses_the_race_gracefully_windows_only_stand_in(tmp_path, monkeypatch):
    """FAT volume on Windows: os.link fails, and os.rename raises FileExistsError when another process created
    the key between our check and our rename: we must use that process's key, not crash."""
    key_path = tmp_path / "secret.key"
    theirs = os.urandom(32)

    def no_links(src, dst):
        raise OSError(errno.EPERM, "hard links not supported")

    def rename_after_other_process_won(src, dst):
        key_path.write_bytes(theirs)  # the other process's link/rename lands first
        raise FileExistsError(errno.EEXIST, "Cannot create a file when that file already exists")

    monkeypatch.setattr(os, "link", no_links)
    monkeypatch.setattr(os, "rename", rename_after_other_process_won)
    box = secrets.SecretBox(key_path)
    token = box.encrypt("value", "purpose")
    monkeypatch.undo()
    assert secrets.SecretBox(key_path).decrypt(token, "purpose") == "value"
    assert key_path.read_bytes() == theirs
    assert not list(tmp_path.glob(".secret.key.*.tmp"))  # our temp file is gone


# --- msvcrt.locking (ic/transfer/lock.py) --------------------------------------------------------------------------
class _MsvcrtLockingStandIn:
    """msvcrt.locking semantics: locks ``nbytes`` from the CURRENT position, mandatory per handle; LK_NBLCK fails at
    once with OSError; unlocking needs exactly the locked region."""

    LK_UNLCK, LK_NBLCK = 0, 2

    def __init__(self) -> None:
        self.regions: dict[tuple[int, int, int], int] = {}  # (inode, offset, nbytes) -> fd
        self.calls: list[tuple[str, int, int]] = []

    def __call__(self, fd: int, mode: int, nbytes: int) -> None:
        pos = os.lseek(fd, 0, os.SEEK_CUR)
        key = (os.fstat(fd).st_ino, pos, nbytes)
        self.calls.append(("lock" if mode == self.LK_NBLCK else "unlock", pos, nbytes))
        if mode == self.LK_NBLCK:
            if key in self.regions:
                raise PermissionError(errno.EACCES, "Permission denied")
            self.regions[key] = fd
        elif self.regions.get(key) == fd:
            del self.regions[key]
        else:
            raise PermissionError(errno.EACCES, "The segment is already unlocked")


def test_schedule_lock_on_windows_locks_a_byte_past_the_pid_windows_only_stand_in(tmp_path, monkeypatch):
    from ic.transfer import lock

    locking = _MsvcrtLockingStandIn()
    monkeypatch.setattr(lock, "_lock", lambda fd: lock._windows_region(fd, locking, locking.LK_NBLCK))
    monkeypatch.setattr(lock, "_unlock", lambda fd: lock._windows_region(fd, locking, locking.LK_UNLCK))
    held = lock.ScheduleLock("Nightly", tmp_path).acquire()
    # The PID is readable at offset 0 (byte 0 is not locked) and the file did not grow to the lock offset.
    assert held.path.read_bytes() == f"{os.getpid()}\n".encode()
    assert locking.calls == [("lock", lock.WINDOWS_LOCK_OFFSET, 1)]
    _another_handle_cannot_lock(lock, held.path)  # "another process": its own handle on the same file
    held.release()
    assert locking.calls[-1] == ("unlock", lock.WINDOWS_LOCK_OFFSET, 1) and not locking.regions
    with lock.ScheduleLock("Nightly", tmp_path):  # free again
        pass


def _another_handle_cannot_lock(lock, path) -> None:
    other = os.open(path, os.O_RDWR)
    try:
        with pytest.raises(OSError):
            lock._lock(other)
    finally:
        os.close(other)


@pytest.mark.skipif(os.name != "nt", reason="real msvcrt.locking: Windows CI only")
def test_real_windows_lock_leaves_the_pid_readable(tmp_path):
    from ic.transfer import lock

    with lock.ScheduleLock("Nightly", tmp_path) as held:
        assert held.path.read_bytes().strip() == str(os.getpid()).encode()  # another handle can read the PID
        _another_handle_cannot_lock(lock, held.path)


# --- file names and paths (ic/destinations/naming.py, folder.py) ---------------------------------------------------
@pytest.mark.parametrize("value", ["COM0", "lpt0.flv", "CONIN$", "conout$.xml", "Com\u00b2 .txt", "LPT\u00b3"])
def test_all_windows_device_names_are_refused(value):
    from ic.destinations import naming

    assert naming.is_device_name(value)
    assert naming.clean_value(value).startswith("_")
    assert naming.clean_file_name(value).startswith("_")
    assert not naming.is_device_name("COM10") and not naming.is_device_name("CONSOLE.xml")


def test_long_path_leaves_device_and_extended_paths_alone():
    from ic.destinations import naming

    pipe = "\\\\.\\pipe\\" + "p" * 300
    assert naming.long_path(pipe, windows=True) == pipe  # not \\?\UNC\.\pipe\...
    unc = "//server/share/" + "d" * 300
    assert naming.long_path(unc, windows=True) == "\\\\?\\UNC\\server\\share\\" + "d" * 300


def test_get_drive_type_prototype_and_root_windows_only_stand_in():
    from ic.destinations import folder

    seen = []
    callback = ctypes.CFUNCTYPE(ctypes.c_uint, ctypes.c_wchar_p)(lambda root: seen.append(root) or 4)
    kernel32 = _Lib()
    kernel32.GetDriveTypeW = ctypes.CFUNCTYPE(ctypes.c_uint)(ctypes.cast(callback, ctypes.c_void_p).value)
    fn = folder._declare_get_drive_type(kernel32)
    assert fn.argtypes == [ctypes.c_wchar_p] and fn.restype is ctypes.c_uint
    assert fn(folder.drive_root("Z:")) == folder.DRIVE_REMOTE and seen == ["Z:\\"]
    assert folder.drive_root("Z:") == "Z:\\" and folder.drive_root("z:\\") == "z:\\"


# --- Task Scheduler (ic/scheduling/task_windows.py) ----------------------------------------------------------------
def test_time_trigger_children_follow_the_schema_sequence():
    from lxml import etree

    from ic.scheduling.task_windows import TASK_NS, build_task_xml

    root = etree.fromstring(build_task_xml("C:\\IC\\IntegrationClient.exe", "tick", "C:\\IC", "CORP\\alice")
                            .split("\n", 1)[1].encode())
    trigger = root.find(f"{{{TASK_NS}}}Triggers/{{{TASK_NS}}}TimeTrigger")
    sequence = ["Enabled", "StartBoundary", "EndBoundary", "Repetition", "ExecutionTimeLimit", "RandomDelay"]
    names = [etree.QName(child).localname for child in trigger]
    assert names == sorted(names, key=sequence.index)  # triggerBaseType + timeTriggerType are xs:sequence
    exec_ = root.find(f"{{{TASK_NS}}}Actions/{{{TASK_NS}}}Exec")
    assert [etree.QName(c).localname for c in exec_] == ["Command", "Arguments", "WorkingDirectory"]


_GERMAN_VERBOSE = ('"PC01","\\IntegrationClient\\Scheduler","25.11.2026 18:01:00","{status}","Interaktiv/Hintergrund",'
                   '"25.11.2026 18:00:00","{last}","CORP\\alice","C:\\IC\\IntegrationClient.exe tick","C:\\IC",'
                   '"Integration Client scheduler"\r\n')


def test_status_is_read_from_numbers_not_localized_words_windows_only_schtasks_stand_in():
    from ic.scheduling.task import RunResult
    from ic.scheduling.task_windows import WindowsTask, build_task_xml, parse_query_csv

    running = _GERMAN_VERBOSE.format(status="Wird ausgeführt", last="267009")
    assert parse_query_csv(running) == ("Wird ausgeführt", True)
    assert parse_query_csv(_GERMAN_VERBOSE.format(status="Bereit", last="0")) == ("Bereit", False)
    assert parse_query_csv(_GERMAN_VERBOSE.format(status="Tâche inconnue", last="267009"))[1] is True
    assert parse_query_csv('"\\IntegrationClient\\Scheduler","N/A","Running"\r\n') == ("Running", True)
    assert parse_query_csv("") == ("", False)

    xml = build_task_xml("C:\\IC\\IntegrationClient.exe", "tick", "C:\\IC", "CORP\\alice")
    calls = []

    def schtasks(argv, input=None):  # German Windows: schtasks.exe stand-in
        calls.append(argv)
        if "/XML" in argv:
            return RunResult(0, xml)
        return RunResult(0, _GERMAN_VERBOSE.format(status="Wird ausgeführt", last="267009"))

    st = WindowsTask(runner=schtasks, user="CORP\\alice").status()
    assert (st.state, st.raw) == ("running", "Wird ausgeführt") and "running the scheduler" in st.detail
    assert calls[-1] == ["schtasks", "/Query", "/TN", "\\IntegrationClient\\Scheduler", "/V", "/FO", "CSV", "/NH"]


def test_windows_account_from_get_user_name_ex_windows_only_stand_in():
    from ic.scheduling.task_windows import windows_account

    name = "AzureAD\\AliceSmith"
    seen = []

    def get_user_name_ex(fmt, buf, size):
        seen.append((fmt, bool(buf), size.contents.value))
        if not buf or size.contents.value <= len(name):
            size.contents.value = len(name) + 1  # ERROR_MORE_DATA: required size incl. the NUL
            return 0
        ctypes.memmove(buf, ctypes.create_unicode_buffer(name), (len(name) + 1) * ctypes.sizeof(ctypes.c_wchar))
        size.contents.value = len(name)
        return 1

    proto = ctypes.CFUNCTYPE(ctypes.c_ubyte, ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32))
    callback = proto(get_user_name_ex)
    secur32 = _Lib()
    secur32.GetUserNameExW = ctypes.CFUNCTYPE(ctypes.c_ubyte)(ctypes.cast(callback, ctypes.c_void_p).value)
    assert windows_account(secur32) == name
    assert [s[0] for s in seen] == [2, 2] and seen[0][1] is False  # NameSamCompatible; first call asks the size
    if os.name != "nt":
        assert windows_account() is None  # no secur32 here: the caller falls back to USERDOMAIN\USERNAME


def test_commands_never_read_the_callers_stdin():
    """A prompt from schtasks (or any command) gets EOF at once; from a windowed exe there is nothing to read."""
    import sys

    from ic.scheduling.task import run_command

    r, w = os.pipe()  # our stdin stays open and silent: a child inheriting it would block until the timeout
    saved = os.dup(0)
    os.dup2(r, 0)
    try:
        result = run_command([sys.executable, "-c", "import sys; print(repr(sys.stdin.read()))"])
    finally:
        os.dup2(saved, 0)
        for fd in (saved, r, w):
            os.close(fd)
    assert (result.returncode, result.stdout.strip()) == (0, "''")
    assert run_command([sys.executable, "-c", "import sys; print(sys.stdin.read())"], input="x").stdout.strip() == "x"


# --- windowed executable: std streams (ic/logs.py, main.py) -------------------------------------------------------
class _ConsoleStandIn:
    """AttachConsole + CONOUT$/CONIN$ stand-in: records attaches and what each opened console stream received."""

    def __init__(self, attached: bool = True) -> None:
        import io

        self.attached, self.attaches, self.opened = attached, 0, []
        self._io = io

    def attach(self) -> bool:
        self.attaches += 1
        return self.attached

    def open(self, name, mode="r", **kwargs):
        stream = self._io.StringIO()
        stream.console_name = name
        self.opened.append(stream)
        return stream


@pytest.fixture
def windowed(monkeypatch):
    """sys.* as in a PyInstaller console=False exe on Windows (stdout/stderr/stdin None), console stubbed.
    (Each test calls _go_windowed after its imports: customtkinter must import as on Linux.)"""
    import sys

    from ic import logs

    console = _ConsoleStandIn()
    monkeypatch.setattr(logs, "_attach_parent_console", console.attach)
    monkeypatch.setattr(logs, "_open_console", console.open)
    return console


def _go_windowed(monkeypatch) -> None:
    """In the test body: pytest's capture re-installs sys.stdout/stderr between fixture setup and the call."""
    import sys

    monkeypatch.setattr(sys, "platform", "win32")
    for name in ("stdout", "stderr", "stdin"):
        monkeypatch.setattr(sys, name, None)


def test_command_line_attaches_only_the_missing_streams_windows_only_stand_in(windowed, monkeypatch):
    import io
    import sys

    from ic import logs

    _go_windowed(monkeypatch)
    redirected = io.StringIO()  # IntegrationClient.exe tick 2> err.txt: stderr exists, stdout does not
    monkeypatch.setattr(sys, "stderr", redirected)
    logs.ensure_std_streams()
    assert windowed.attaches == 1
    assert sys.stderr is redirected  # a redirect is never replaced by the console
    assert sys.stdout.console_name == "CONOUT$" and sys.stdin.console_name == "CONIN$"


def test_gui_never_attaches_to_the_parent_console_windows_only_stand_in(windowed, monkeypatch):
    import sys

    import main as entry
    from ic.gui import app

    monkeypatch.setattr(app, "run_gui", lambda: 0)
    _go_windowed(monkeypatch)
    assert entry.main([]) == 0
    assert windowed.attaches == 0  # closing the cmd window must not kill the GUI
    assert sys.stdout is not None and sys.stderr is not None and not windowed.opened  # stray prints -> log file


def test_version_from_cmd_prints_to_the_attached_console_windows_only_stand_in(windowed, monkeypatch):
    import sys

    import main as entry
    from ic import __version__

    _go_windowed(monkeypatch)
    assert entry.main(["--version"]) == 0
    assert windowed.attaches == 1
    assert sys.stdout.getvalue() == f"Integration Client {__version__}\n"


# --- GUI icon (ic/gui/widgets.py) ----------------------------------------------------------------------------------
def test_icon_is_set_again_after_customtkinters_200_ms_timer_windows_only_stand_in(monkeypatch):
    """customtkinter 5.2.x replaces a CTkToplevel's icon 200 ms after creation on Windows; a window stand-in
    records iconbitmap calls and the after() timer."""
    import sys
    import tkinter

    from ic.gui import widgets

    class Window:
        def __init__(self) -> None:
            self.icons, self.timers, self.exists = [], [], True

        def iconbitmap(self, path):
            if not self.exists:
                raise tkinter.TclError('bad window path name ".!ctktoplevel"')
            self.icons.append(path)

        def after(self, ms, fn):
            self.timers.append((ms, fn))

        def winfo_exists(self):
            return self.exists

    monkeypatch.setattr(sys, "platform", "win32")
    window = Window()
    widgets.apply_icon(window)
    ico = str(widgets.assets_dir() / "icon.ico")
    assert window.icons == [ico]
    [(ms, again)] = window.timers
    assert ms > 200
    window.icons.append("customtkinter's own icon")  # its 200 ms timer fires first
    again()
    assert window.icons[-1] == ico
    closed = Window()
    widgets.apply_icon(closed)
    closed.exists = False
    closed.timers[0][1]()  # the dialog was closed within 250 ms: no error


def test_windowed_command_line_crash_is_logged_not_a_modal_dialog_windows_only_stand_in(windowed, monkeypatch):
    """PyInstaller's windowed bootloader shows an unhandled exception in a message box that blocks the scheduled
    tick; run() must log it and exit 3 instead."""
    import logging

    import ic.cli
    import main as entry
    from ic import logs

    def broken_import(argv):
        raise ImportError("No module named 'ic.cli.tick_cmd' (a hidden import missing from the build)")

    monkeypatch.setattr(ic.cli, "run_cli", broken_import)
    windowed.attached = False  # started by Task Scheduler: no console to attach to
    _go_windowed(monkeypatch)
    try:
        assert entry.run(["tick"]) == 3
        for handler in logging.getLogger("ic").handlers:
            handler.flush()
        text = logs.log_files()["service"].read_text()
    finally:
        logs.shutdown_logging()
    assert "Internal error before the command could run." in text and "ImportError" in text and "tick_cmd" in text
    monkeypatch.setattr(ic.cli, "run_cli", lambda argv: 0)
    assert entry.run(["tick"]) == 0


def test_dialog_paths_get_windows_separators():
    from ic.gui.widgets import native_path

    assert native_path("C:/IntegrationClient/Data", windows=True) == "C:\\IntegrationClient\\Data"
    assert native_path("//server/share/ic", windows=True) == "\\\\server\\share\\ic"
    assert native_path("/var/lib/ic", windows=False) == "/var/lib/ic"
    assert native_path("", windows=True) == ""


def test_current_user_prefers_the_windows_account_windows_only_stand_in(monkeypatch):
    """The GUI's password prompt and the task's UserId must name the same account."""
    import sys

    from ic.scheduling import task, task_windows

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("USERDOMAIN", "STALE")
    monkeypatch.setenv("USERNAME", "someone")
    monkeypatch.setattr(task_windows, "windows_account", lambda: "CORP\\alice")
    assert task.current_user() == "CORP\\alice"
    assert task_windows.WindowsTask(runner=lambda argv, input=None: None).user == "CORP\\alice"
    monkeypatch.setattr(task_windows, "windows_account", lambda: None)
    assert task.current_user() == "STALE\\someone"


@pytest.mark.parametrize("name", ["x.xml:hidden", "C:x.xml", "x.xml::$DATA"])
def test_safe_join_refuses_streams_and_drive_relative_names(tmp_path, name):
    from ic.destinations import naming
    from ic.errors import DestinationError

    with pytest.raises(DestinationError, match="not a plain file name"):
        naming.safe_join(tmp_path, name)


def test_tampered_in_progress_index_cannot_write_a_stream(tmp_path):
    """An index entry naming ``x.xml:s`` must not be used (on NTFS it would write a hidden stream)."""
    import json

    from ic.destinations import folder

    (tmp_path / "x.xml").write_text("<session/>")
    (tmp_path / "x.xml:s").write_text("<session/>")  # POSIX: a file with a colon; NTFS: the stream itself
    (tmp_path / folder.INDEX_NAME).write_text(json.dumps({"version": 1, "in_progress": {"h\nL1": "x.xml:s"}}))
    index = folder._InProgressIndex(tmp_path)
    assert index.get("h\nL1") is None and index.changed  # dropped: a fresh file is written instead


def test_backup_retention_pattern_ignores_case_on_windows():
    from ic.destinations.folder import FolderDestination
    from ic.destinations.naming import DEFAULT_NAME_FORMAT

    old_name = "Support.Example.com-backup-20240101T020000Z.nsb"
    windows = FolderDestination.backup_pattern(DEFAULT_NAME_FORMAT, "support.example.com", "nsb", ignore_case=True)
    posix = FolderDestination.backup_pattern(DEFAULT_NAME_FORMAT, "support.example.com", "nsb", ignore_case=False)
    assert windows.fullmatch(old_name) and not posix.fullmatch(old_name)
    assert not windows.fullmatch("other.example.com-backup-20240101T020000Z.nsb")
