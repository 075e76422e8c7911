"""Encryption at rest for client secrets, backup passwords and SMTP passwords.

AES-256-GCM (authenticated) with a random 96-bit nonce per value. The 32-byte key lives outside the settings
database, in a file only the current user can read. POSIX: mode 0600. Windows: the mode bits mean nothing there
(0600 only leaves the read-only flag off), so no ACL is set on purpose: the file sits in the per-user
%LOCALAPPDATA% folder, whose inherited ACL already admits only that user, SYSTEM and Administrators, and the key
bytes in it are wrapped with DPAPI (CurrentUser scope), so even a copy readable by someone else (a loosened ACL, a
backup, another machine) cannot be unwrapped by any other account. The scheduled task runs as the same user who
registered it with that user's password or interactive token, so it can unwrap the key (an S4U task could not:
DPAPI needs the user's credentials).

Run as a service account (``task register --run-as DOMAIN\\svc-ic``): the same AES key is copied to a machine key
file, %ProgramData%\\BeyondTrust\\IntegrationClient\\secret.key, wrapped with DPAPI in machine scope
(CRYPTPROTECT_LOCAL_MACHINE: any account of this machine could unwrap the blob, so the file's access list is what
protects it) and given a protected access list: that account (read), SYSTEM and Administrators (full) and nobody
else. Once it exists every process on Windows uses it (IC_KEY_FILE still wins), so the window must run elevated.
Stored secrets stay valid: the key itself does not change.
"""
from __future__ import annotations

import base64
import ctypes
import os
import sys
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ic import paths
from ic.errors import SecretUnavailable

_PREFIX = "v1:"
_DPAPI_MAGIC = b"DPAPI1"


CRYPTPROTECT_UI_FORBIDDEN = 0x1  # never show a prompt (the scheduled task has no desktop to show it on)
CRYPTPROTECT_LOCAL_MACHINE = 0x4  # machine scope: the key file's ACL decides who reads it
_DPAPI_MACHINE_MAGIC = b"DPAPIM"
SID_SYSTEM = "S-1-5-18"
SID_ADMINISTRATORS = "S-1-5-32-544"


class DATA_BLOB(ctypes.Structure):
    """wincrypt.h DATA_BLOB: DWORD cbData; BYTE *pbData (a full 64-bit pointer, aligned to 8 on Win64)."""

    _fields_ = [("cbData", ctypes.c_uint32), ("pbData", ctypes.POINTER(ctypes.c_char))]


def _declare_dpapi(crypt32, kernel32) -> tuple:
    """Give the DPAPI functions their full prototypes and return (protect, unprotect, local_free).

    Without argtypes/restype ctypes converts every argument and result as a C int: on 64-bit Windows a pointer
    passed or returned as int is truncated to 32 bits. Callers pass private ``WinDLL`` instances, so these
    prototypes never leak into the shared ``ctypes.windll`` that other libraries use.
    """
    blob_p = ctypes.POINTER(DATA_BLOB)
    protect = crypt32.CryptProtectData
    protect.argtypes = [blob_p, ctypes.c_wchar_p, blob_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, blob_p]
    protect.restype = ctypes.c_int  # BOOL
    unprotect = crypt32.CryptUnprotectData
    unprotect.argtypes = [blob_p, ctypes.POINTER(ctypes.c_wchar_p), blob_p, ctypes.c_void_p, ctypes.c_void_p,
                          ctypes.c_uint32, blob_p]
    unprotect.restype = ctypes.c_int
    local_free = kernel32.LocalFree
    local_free.argtypes = [ctypes.c_void_p]  # HLOCAL
    local_free.restype = ctypes.c_void_p
    return protect, unprotect, local_free


def _windows_dpapi() -> tuple:  # pragma: no cover - Windows only
    crypt32 = ctypes.WinDLL("crypt32", use_last_error=True)  # type: ignore[attr-defined]
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    return _declare_dpapi(crypt32, kernel32), ctypes.get_last_error  # type: ignore[attr-defined]


def _dpapi(data: bytes, protect: bool, api: tuple | None = None, flags: int = 0) -> bytes:
    """CryptProtectData / CryptUnprotectData (CurrentUser scope; ``flags`` may add CRYPTPROTECT_LOCAL_MACHINE).
    ``api`` = ((protect, unprotect, local_free), get_last_error) replaces the Windows DLLs in tests."""
    (fn_protect, fn_unprotect, local_free), last_error = api or _windows_dpapi()
    buf = ctypes.create_string_buffer(data, len(data))  # stays referenced until the call returns
    blob_in = DATA_BLOB(len(data), ctypes.cast(buf, ctypes.POINTER(ctypes.c_char)))
    blob_out = DATA_BLOB()
    fn = fn_protect if protect else fn_unprotect
    ok = fn(ctypes.byref(blob_in), None, None, None, None, CRYPTPROTECT_UI_FORBIDDEN | flags,
            ctypes.byref(blob_out))
    if not ok:
        code = last_error()
        if protect:
            raise SecretUnavailable(f"Windows could not protect the Integration Client key for this user account "
                                    f"(DPAPI error 0x{code & 0xFFFFFFFF:08X}); check that the user profile is loaded.")
        raise SecretUnavailable(f"Windows could not unlock the Integration Client key for this user account "
                                f"(DPAPI error 0x{code & 0xFFFFFFFF:08X}): it was created by another account or "
                                "on another machine.")
    try:
        return ctypes.string_at(blob_out.pbData, blob_out.cbData)
    finally:
        local_free(ctypes.cast(blob_out.pbData, ctypes.c_void_p))


def machine_key_path() -> Path | None:
    """Windows: the machine key file shared with the scheduler task's service account (None elsewhere)."""
    if sys.platform != "win32":
        return None
    base = os.environ.get("ProgramData") or os.environ.get("PROGRAMDATA") or r"C:\ProgramData"
    return Path(base) / "BeyondTrust" / "IntegrationClient" / "secret.key"


def default_key_path() -> Path:
    """IC_KEY_FILE, else the machine key file once it exists (run-as setup), else the per-user key file."""
    if os.environ.get("IC_KEY_FILE"):
        return paths.key_file()
    machine = machine_key_path()
    if machine is not None and machine.exists():
        return machine
    return paths.key_file()


_warned_modes: set[str] = set()


def _warn_if_readable_by_others(path: Path) -> None:
    """POSIX: a key file that group or others can read gets one warning per process (mode bits mean nothing on
    Windows, where the ACL decides)."""
    if os.name != "posix" or str(path) in _warned_modes:
        return
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return
    if mode & 0o077:
        _warned_modes.add(str(path))
        import logging

        logging.getLogger("ic.secrets").warning(
            "The key file %s can be read by other users (mode %04o); run chmod 600 %s so only you can read it.",
            path, mode, path)


class SecretBox:
    """Encrypts and decrypts short strings with the per-user (or, for a run-as task, machine) key file."""

    def __init__(self, key_path: Path | None = None) -> None:
        self.key_path = key_path or default_key_path()
        self._key: bytes | None = None

    def _load_or_create_key(self, create: bool) -> bytes:
        if self._key is not None:
            return self._key
        if self.key_path.is_dir():
            raise SecretUnavailable(f"The key file {self.key_path} is a folder; point IC_KEY_FILE at a file "
                                    "(it is created when missing).")
        if self.key_path.exists():
            try:
                raw = self.key_path.read_bytes()
            except PermissionError:
                raise SecretUnavailable(
                    f"This account may not read the key file {self.key_path}; start the Integration Client with "
                    "Run as administrator, or as the account the scheduler task runs as.") from None
            _warn_if_readable_by_others(self.key_path)
            if raw.startswith(_DPAPI_MACHINE_MAGIC):
                raw = _machine_dpapi(raw[len(_DPAPI_MACHINE_MAGIC):], protect=False)
            elif raw.startswith(_DPAPI_MAGIC):
                raw = _dpapi(raw[len(_DPAPI_MAGIC):], protect=False)
            if len(raw) != 32:
                raise SecretUnavailable(
                    f"The key file {self.key_path} is damaged: delete it, then re-enter the stored secrets.")
            self._key = raw
            return raw
        if not create:
            raise SecretUnavailable(f"The key file {self.key_path} is missing.")
        key = AESGCM.generate_key(bit_length=256)
        stored = _DPAPI_MAGIC + _dpapi(key, protect=True) if sys.platform == "win32" else key
        self.key_path.parent.mkdir(parents=True, exist_ok=True)
        # A private temp name, then a link that fails if another process created the key first: the key file
        # appears complete or not at all, and two processes starting at once end up sharing one key.
        tmp = self.key_path.with_name(f".{self.key_path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(stored)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, self.key_path)
            except FileExistsError:
                return self._load_or_create_key(create=False)  # another process won: use its key
            except OSError:  # no hard links here (e.g. FAT): fall back to a rename that refuses to replace
                if self.key_path.exists():
                    return self._load_or_create_key(create=False)
                try:
                    os.rename(tmp, self.key_path)  # Windows: never replaces; POSIX: last resort
                except FileExistsError:  # Windows: another process won between the check and the rename
                    return self._load_or_create_key(create=False)
        finally:
            if tmp.exists():
                tmp.unlink()
        self._key = key
        return key

    def encrypt(self, plaintext: str, purpose: str) -> str:
        """Return a printable token; ``purpose`` (e.g. ``site.client_secret``) is bound as associated data."""
        key = self._load_or_create_key(create=True)
        nonce = os.urandom(12)
        ct = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), purpose.encode("utf-8"))
        return _PREFIX + base64.b64encode(nonce + ct).decode("ascii")

    def decrypt(self, token: str, purpose: str, what: str = "the stored secret") -> str:
        """Decrypt; ``what`` names the secret in the error (e.g. "the client secret for site X")."""
        if not token.startswith(_PREFIX):
            raise SecretUnavailable(f"Re-enter {what}: the stored value is not in a known format.")
        try:
            key = self._load_or_create_key(create=False)
        except SecretUnavailable as exc:  # missing or damaged key file: say so, it is what the user must fix
            if not self.key_path.exists():
                raise SecretUnavailable(
                    f"Re-enter {what}: the key file {self.key_path} it was encrypted with is missing."
                ) from None
            if "damaged" in str(exc):
                raise SecretUnavailable(
                    f"The key file {self.key_path} is damaged: delete it, then re-enter {what} and the other stored "
                    "secrets."
                ) from None
            raise  # DPAPI: its own sentence
        try:
            raw = base64.b64decode(token[len(_PREFIX):])
            return AESGCM(key).decrypt(raw[:12], raw[12:], purpose.encode("utf-8")).decode("utf-8")
        except (InvalidTag, ValueError):
            raise SecretUnavailable(
                f"Re-enter {what}: it was saved with a key that this machine or user account does not have."
            ) from None


# --- run as a service account (Windows) -------------------------------------------------------------------------------
def share_key_with(account: str, *, target: Path | None = None, acl=None, dpapi_api: tuple | None = None,
                   source: SecretBox | None = None) -> Path:
    """Copy the current key to the machine key file (DPAPI machine scope) readable only by ``account``, SYSTEM and
    Administrators. ``acl(path, account)`` sets the access list (default: pywin32, else icacls); tests pass
    stand-ins for it and for DPAPI. Returns the key file's path."""
    target = target or machine_key_path()
    if target is None:
        raise SecretUnavailable("Sharing the key with a service account is a Windows feature.")
    box = source or SecretBox()
    key = box._load_or_create_key(create=True)  # the same key: secrets stored so far stay readable
    wrapped = _DPAPI_MACHINE_MAGIC + _machine_dpapi(key, protect=True, api=dpapi_api)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.close(fd)
        (acl or restrict_to_account)(tmp, account)  # locked down before the key bytes are written
        with open(tmp, "r+b") as fh:
            fh.write(wrapped)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)  # NTFS keeps the file's own (protected) ACL on rename
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def _win32crypt():
    """pywin32's win32crypt when installed (Windows), else None: the ctypes DPAPI path is used."""
    try:
        import win32crypt  # type: ignore[import-not-found]
    except ImportError:
        return None
    return win32crypt


def _machine_dpapi(data: bytes, protect: bool, api: tuple | None = None) -> bytes:
    """DPAPI in machine scope: pywin32's win32crypt where installed, else the ctypes prototypes above."""
    crypt = None if api is not None else _win32crypt()
    if crypt is None:
        return _dpapi(data, protect, api, flags=CRYPTPROTECT_LOCAL_MACHINE)
    flags = CRYPTPROTECT_UI_FORBIDDEN | CRYPTPROTECT_LOCAL_MACHINE
    try:
        if protect:
            return bytes(crypt.CryptProtectData(data, None, None, None, None, flags))
        return bytes(crypt.CryptUnprotectData(data, None, None, None, flags)[1])
    except Exception as exc:  # noqa: BLE001 - pywintypes.error
        code = getattr(exc, "winerror", None) or (exc.args[0] if exc.args else 0)
        what = "protect" if protect else "unlock"
        raise SecretUnavailable(f"Windows could not {what} the Integration Client machine key (DPAPI error "
                                f"0x{int(code) & 0xFFFFFFFF:08X}); it was made on another machine.") from None


def restrict_to_account(path: Path, account: str, *, win32=None, runner=None) -> None:
    """Protected DACL on ``path``: ``account`` read, SYSTEM and Administrators full control, nothing inherited.
    pywin32 (win32security) when installed, else icacls. ``win32`` = (win32security, ntsecuritycon) stand-ins."""
    from ic.errors import ConfigError

    if win32 is None and runner is None:
        try:
            import ntsecuritycon  # type: ignore[import-not-found]
            import win32security  # type: ignore[import-not-found]

            win32 = (win32security, ntsecuritycon)
        except ImportError:
            win32 = None
    if win32 is not None:
        ws, con = win32
        try:
            account_sid = ws.LookupAccountName(None, account)[0]
        except Exception:  # noqa: BLE001 - pywintypes.error: unknown account
            raise ConfigError(f"Windows does not know the account {account}; type it as DOMAIN\\name.",
                              field="run_as") from None
        dacl = ws.ACL()
        dacl.AddAccessAllowedAce(ws.ACL_REVISION, con.FILE_GENERIC_READ, account_sid)
        for sid in (SID_SYSTEM, SID_ADMINISTRATORS):
            dacl.AddAccessAllowedAce(ws.ACL_REVISION, con.FILE_ALL_ACCESS, ws.ConvertStringSidToSid(sid))
        ws.SetNamedSecurityInfo(str(path), ws.SE_FILE_OBJECT,
                                ws.DACL_SECURITY_INFORMATION | ws.PROTECTED_DACL_SECURITY_INFORMATION,
                                None, None, dacl, None)
        return
    import subprocess

    argv = icacls_argv(path, account)
    run = runner or (lambda a: subprocess.run(a, capture_output=True, text=True))
    result = run(argv)
    if result.returncode != 0:
        reason = ((result.stderr or result.stdout or "").strip().splitlines() or ["icacls failed"])[0]
        raise ConfigError(f"Windows could not limit the key file {path} to {account}: {reason.rstrip('.')}.",
                          field="run_as")


def icacls_argv(path: Path, account: str) -> list[str]:
    """icacls: drop inherited entries, then grant exactly the three (``/grant:r`` replaces, never adds)."""
    return ["icacls", str(path), "/inheritance:r", "/grant:r", f"{account}:(R)", f"*{SID_SYSTEM}:(F)",
            f"*{SID_ADMINISTRATORS}:(F)"]
