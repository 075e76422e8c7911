"""Encryption at rest for client secrets, backup passwords and SMTP passwords.

AES-256-GCM (authenticated) with a random 96-bit nonce per value. The 32-byte key lives outside the settings
database, in a file only the current user can read. POSIX: mode 0600. Windows: the mode bits mean nothing there
(0600 only leaves the read-only flag off), so no ACL is set on purpose: the file sits in the per-user
%LOCALAPPDATA% folder, whose inherited ACL already admits only that user, SYSTEM and Administrators, and the key
bytes in it are wrapped with DPAPI (CurrentUser scope), so even a copy readable by someone else (a loosened ACL, a
backup, another machine) cannot be unwrapped by any other account. The scheduled task runs as the same user who
registered it with that user's password or interactive token, so it can unwrap the key (an S4U task could not:
DPAPI needs the user's credentials).
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


def _dpapi(data: bytes, protect: bool, api: tuple | None = None) -> bytes:
    """CryptProtectData / CryptUnprotectData (CurrentUser scope). ``api`` = ((protect, unprotect, local_free),
    get_last_error) replaces the Windows DLLs in tests."""
    (fn_protect, fn_unprotect, local_free), last_error = api or _windows_dpapi()
    buf = ctypes.create_string_buffer(data, len(data))  # stays referenced until the call returns
    blob_in = DATA_BLOB(len(data), ctypes.cast(buf, ctypes.POINTER(ctypes.c_char)))
    blob_out = DATA_BLOB()
    fn = fn_protect if protect else fn_unprotect
    ok = fn(ctypes.byref(blob_in), None, None, None, None, CRYPTPROTECT_UI_FORBIDDEN, ctypes.byref(blob_out))
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


class SecretBox:
    """Encrypts and decrypts short strings with the per-user key file."""

    def __init__(self, key_path: Path | None = None) -> None:
        self.key_path = key_path or paths.key_file()
        self._key: bytes | None = None

    def _load_or_create_key(self, create: bool) -> bytes:
        if self._key is not None:
            return self._key
        if self.key_path.exists():
            raw = self.key_path.read_bytes()
            if raw.startswith(_DPAPI_MAGIC):
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
