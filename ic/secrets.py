"""Encryption at rest for client secrets, backup passwords and SMTP passwords.

AES-256-GCM (authenticated) with a random 96-bit nonce per value. The 32-byte key lives outside the settings
database, in a file only the current user can read (mode 0600); on Windows the key bytes in that file are wrapped
with DPAPI (CurrentUser scope) so a copied file is useless on another machine or account. The scheduled task runs
as the same user who registered it, so it can unwrap the key.
"""
from __future__ import annotations

import base64
import os
import sys
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ic import paths
from ic.errors import SecretUnavailable

_PREFIX = "v1:"
_DPAPI_MAGIC = b"DPAPI1"


def _dpapi(data: bytes, protect: bool) -> bytes:  # pragma: no cover - Windows only
    import ctypes
    from ctypes import wintypes

    class Blob(ctypes.Structure):
        _fields_ = [("cbData", wintypes.DWORD), ("pbData", ctypes.POINTER(ctypes.c_char))]

    crypt32 = ctypes.windll.crypt32
    kernel32 = ctypes.windll.kernel32
    buf = ctypes.create_string_buffer(data, len(data))
    blob_in = Blob(len(data), buf)
    blob_out = Blob()
    fn = crypt32.CryptProtectData if protect else crypt32.CryptUnprotectData
    ok = fn(ctypes.byref(blob_in), None, None, None, None, 0x01, ctypes.byref(blob_out))  # UI_FORBIDDEN
    if not ok:
        raise SecretUnavailable("Windows could not unlock the Integration Client key for this user account.")
    try:
        return ctypes.string_at(blob_out.pbData, blob_out.cbData)
    finally:
        kernel32.LocalFree(blob_out.pbData)


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
                raise SecretUnavailable(f"The key file {self.key_path} is damaged; re-enter the stored secrets.")
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
                os.rename(tmp, self.key_path)
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
            raw = base64.b64decode(token[len(_PREFIX):])
            return AESGCM(key).decrypt(raw[:12], raw[12:], purpose.encode("utf-8")).decode("utf-8")
        except (InvalidTag, ValueError, SecretUnavailable):
            raise SecretUnavailable(
                f"Re-enter {what}: it was saved with a key that this machine or user account does not have."
            ) from None
