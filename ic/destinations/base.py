"""What every destination plugin provides. Third-party plugins subclass :class:`Destination`.

A plugin is registered under the entry point group ``integration_client.destinations``; the entry point's name is
the plugin type (e.g. ``folder``) and its object is the Destination subclass.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Iterable

from ic.sessions.model import Session

__all__ = ["Destination", "FieldSpec", "FileItem", "StoredPath"]


@dataclass
class FieldSpec:
    """One setting of a plugin, enough for the CLI and the GUI to build a form."""

    key: str
    label: str
    kind: str = "text"  # text | password | choice | bool | int | directory | connection_string
    default: object = None
    choices: tuple[str, ...] = ()
    required: bool = False
    secret: bool = False
    help: str = ""


@dataclass
class FileItem:
    """A downloaded file handed to a destination (recording or backup), already complete on local disk."""

    kind: str  # "recordings" | "smsr" | "shell" | "backup"
    source: Path  # temp file holding the bytes
    site_host: str
    extension: str  # without dot, e.g. "flv", "nsb"
    session: Session | None = None
    instance: int | None = None
    suggested_name: str | None = None  # Content-Disposition filename, if any
    extra: dict = field(default_factory=dict)


class StoredPath(type(Path())):  # type: ignore[misc]
    """What ``store_file`` returns: the file's path plus ``how`` it got there (a plain Path means "created").

    how: "created" | "replaced" (Overwrite) | "unchanged" (identical file already there) | "kept" (Skip kept the
    file already under that name: it landed, count it as already there, not as unavailable)."""

    how: str = "created"

    @classmethod
    def of(cls, path: Path, how: str) -> "StoredPath":
        out = cls(path)
        out.how = how
        return out


class Destination(ABC):
    type_name: ClassVar[str]  # stable id stored in settings, e.g. "folder", "sql"
    display_name: ClassVar[str]  # shown in the plugin dropdown, e.g. "File System"
    # capabilities (docs/PLUGINS.md): what the services, the schedules and the engine may ask of this plugin
    accepts_files: ClassVar[bool] = False  # takes recordings and backups (store_file); False: session data only
    replaces_sessions: ClassVar[bool] = True  # an in-progress session is stored now and stored again once it has
    #                                           ended (store_sessions replaces it); False: only ended sessions come

    def __init__(self, name: str, config: dict) -> None:
        self.name = name
        self.config = config

    @classmethod
    @abstractmethod
    def fields(cls) -> list[FieldSpec]:
        """Settings of this plugin, in form order."""

    @classmethod
    def validate(cls, config: dict) -> dict[str, str]:
        """Map of field key -> one-sentence problem; empty when the config can be saved."""
        return {f.key: f"{f.label} is required." for f in cls.fields() if f.required and not config.get(f.key)}

    @abstractmethod
    def test(self) -> str:
        """Prove the destination is writable without leaving anything behind; return a short success sentence."""

    @abstractmethod
    def store_sessions(self, site_host: str, sessions: Iterable[Session]) -> int:
        """Store sessions (upsert on site host + lsid: storing one twice never duplicates it). Return count stored."""

    def store_file(self, item: FileItem) -> Path | None:
        """Store a recording/backup; return where it is (a :class:`StoredPath` may say ``how``: read it with
        ``getattr(path, "how", "created")``), or None when nothing landed and nothing is there for it."""
        raise NotImplementedError(f"Destination {self.name} cannot store recordings or backups.")

    def staging_dir(self) -> Path | None:
        """Optional: a folder on the destination's own file system where callers may download a file meant for
        ``store_file``, which then renames it into place (consuming it) instead of copying. None: no such folder."""
        return None

    def close(self) -> None:
        """Release connections."""
