"""Streaming a response body to disk: temp name in the target folder, then rename, so a file is whole or absent."""
from __future__ import annotations

import mimetypes
import os
import re
import uuid
from pathlib import Path
from typing import Callable
from urllib.parse import unquote

import requests

CHUNK = 1024 * 1024
PEEK = 1024

_CT_EXT = {
    "video/x-flv": "flv",
    "video/flv": "flv",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "application/zip": "zip",
    "application/x-zip-compressed": "zip",
    "application/gzip": "gz",
    "application/x-gzip": "gz",
    "text/html": "html",
    "text/plain": "txt",
    "application/json": "json",
    "text/xml": "xml",
    "application/xml": "xml",
}


class BodyCut(Exception):
    """The body ended early or the connection dropped while reading it."""


def temp_path_for(dest: Path) -> Path:
    folder = dest if dest.is_dir() else dest.parent
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f".{dest.name or 'download'}.{uuid.uuid4().hex[:8]}.part"


def stream_to(resp: requests.Response, tmp: Path, on_bytes: Callable[[int], None]) -> tuple[int, bytes]:
    """Write the body to ``tmp`` in 1 MB chunks; returns (size, first KB). Raises BodyCut on a short body."""
    size = 0
    head = b""
    try:
        with open(tmp, "wb") as fh:
            for chunk in resp.iter_content(CHUNK):
                if not chunk:
                    continue
                fh.write(chunk)
                size += len(chunk)
                on_bytes(len(chunk))
                if len(head) < PEEK:
                    head += chunk[: PEEK - len(head)]
    except requests.RequestException as exc:
        raise BodyCut(str(type(exc).__name__)) from None
    expected = resp.headers.get("Content-Length")
    encoded = resp.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
    if expected and expected.isdigit() and not encoded and int(expected) != size:
        raise BodyCut(f"got {size} of {expected} bytes")
    return size, head


def filename_from_disposition(value: str | None) -> str | None:
    if not value:
        return None
    m = re.search(r"filename\*\s*=\s*[^']*'[^']*'([^;]+)", value, re.IGNORECASE)
    if m:
        return unquote(m.group(1).strip().strip('"')) or None
    m = re.search(r'filename\s*=\s*"([^"]*)"', value, re.IGNORECASE) or re.search(
        r"filename\s*=\s*([^;]+)", value, re.IGNORECASE
    )
    return m.group(1).strip() if m and m.group(1).strip() else None


def safe_extension(ext: str | None) -> str | None:
    ext = (ext or "").strip().lstrip(".").lower()
    return ext if re.fullmatch(r"[a-z0-9]{1,10}", ext) else None


def choose_extension(filename: str | None, content_type: str | None, fallback: str) -> str:
    """Extension from the server's file name, else its Content-Type, else ``fallback``."""
    if filename:
        base = filename.replace("\\", "/").rsplit("/", 1)[-1]
        if "." in base:
            ext = safe_extension(base.rsplit(".", 1)[1])
            if ext:
                return ext
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype and ctype != "application/octet-stream":
        ext = _CT_EXT.get(ctype) or safe_extension(mimetypes.guess_extension(ctype) or "")
        if ext:
            return ext
    return fallback


def safe_filename(name: str | None) -> str | None:
    """A server-supplied file name reduced to something harmless in a folder (no paths, no odd characters)."""
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[^A-Za-z0-9._ -]", "_", base).strip(" .")
    return base[:150] or None


def final_path(dest: Path, ext: str, server_name: str | None, default_stem: str) -> Path:
    """``dest`` is a path without extension (``.ext`` is added) or an existing folder (server's name is used)."""
    if dest.is_dir():
        name = safe_filename(server_name)
        if not name or "." not in name:
            name = f"{safe_filename(default_stem) or 'download'}.{ext}"
        return dest / name
    if dest.suffix.lower() == f".{ext}":
        return dest
    return dest.with_name(f"{dest.name}.{ext}")


def read_small(path: Path, limit: int = 1024 * 1024) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(limit)


def remove_quietly(path: Path | None) -> None:
    if path is None:
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:  # pragma: no cover - Windows may hold the file briefly
        pass
