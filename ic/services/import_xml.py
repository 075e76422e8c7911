"""Import previously downloaded session XML files into a destination (the guide's API Tester "XML Files" tab).

Shared by `import-xml` on the command line and the GUI. Files are streamed (never loaded whole); a malformed file
keeps the sessions that were complete before the break and the error is reported, then the next file is read.
Memory stays flat: a batch is stored once it holds BATCH_SIZE sessions or BATCH_BYTES of session XML, a session too
big to hold is kept on disk by the parser (``ic.sessions.spill``) and its temporary file is removed once stored.

Which site host the rows get (SQL ``session.host_name``; the folder plugin's %SUPPORT_SITE_HOST%), first match wins:
1. ``site_host`` given explicitly;  2. the host of the configured site named ``site``;
3. the host in the session's own download URLs (chat / recording / shell), which name the appliance;
4. for a session without such URLs (e.g. still in progress), the host found in another session of the same file;
5. "unknown" — counted in ``ImportResult.unknown_host`` so the front end can say "give --site-host".
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ic.destinations.base import Destination
from ic.destinations.folder_index import host_from_urls
from ic.destinations.registry import destination_from_config
from ic.errors import ApplianceAPIError, Cancelled, ConfigError, ParseError
from ic.sessions.model import Session
from ic.settings import SettingsStore

UNKNOWN_HOST = "unknown"
BATCH_SIZE = 50
BATCH_BYTES = 32 << 20  # session XML held in memory before the batch is stored (a spilled session counts nothing)


@dataclass
class ImportResult:
    files: int = 0  # files read to the end
    sessions: int = 0  # sessions stored
    errors: list[str] = field(default_factory=list)  # one sentence per file that could not be read whole
    unknown_host: int = 0  # sessions stored with host "unknown"

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self, destination: str) -> str:
        text = f"Imported {self.sessions} session(s) from {self.files} file(s) into destination {destination}."
        if self.unknown_host:
            text += (f" {self.unknown_host} session(s) carried no site host and were stored as '{UNKNOWN_HOST}': "
                     "import them again with the site host to label them.")
        return text


def resolve_fixed_host(store: SettingsStore | None, site_host: str | None, site: str | None) -> str | None:
    if site_host and site_host.strip():
        host = site_host.strip()
        if host.lower().startswith(("http://", "https://")) or "/" in host:
            raise ConfigError(f"Give the site host without 'https://' or a path (got '{host}').", field="site_host")
        return host
    if site:
        if store is None:
            raise ConfigError("A configured site was named but no settings database is open.")
        return store.get_site(site).host
    return None


def import_xml_files(
    paths: Iterable[str | Path],
    destination: Destination,
    *,
    site_host: str | None = None,
    batch_size: int = BATCH_SIZE,
    batch_bytes: int = BATCH_BYTES,
    progress: Callable[[Path, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> ImportResult:
    """Parse every file and store its sessions. Destination failures propagate (they concern every file);
    a malformed or unreadable file is recorded in ``errors`` after its complete sessions are stored."""
    from ic.sessions.parser import iter_sessions  # late: keep this module importable by the GUI cheaply

    result = ImportResult()
    pending: list[tuple[str | None, Session]] = []
    held = 0  # bytes of session XML in pending
    file_host: str | None = None

    def flush() -> None:
        nonlocal held
        by_host: dict[str, list[Session]] = {}
        for host, s in pending:
            if host is None:
                host = file_host or UNKNOWN_HOST
                result.unknown_host += host == UNKNOWN_HOST
            by_host.setdefault(host, []).append(s)
        try:
            for host, sessions in by_host.items():
                result.sessions += destination.store_sessions(host, sessions)
        finally:
            for _, s in pending:
                s.close()  # a spilled session's temporary file goes now, not at garbage collection
            pending.clear()
            held = 0

    for raw in paths:
        path = Path(raw)
        file_host = None
        try:
            for s in iter_sessions(path):
                if cancel is not None and cancel.is_set():
                    flush()
                    raise Cancelled("The XML import was cancelled; sessions read so far are stored.")
                host = site_host or host_from_urls(s)
                file_host = file_host or host
                pending.append((host, s))
                held += 0 if s.spilled else len(s.raw_xml)
                if len(pending) >= batch_size or held >= batch_bytes:
                    flush()
                    if progress:
                        progress(path, result.sessions)
            flush()
            result.files += 1
        except ParseError as exc:
            flush()  # the sessions complete before the break
            result.errors.append(str(exc))
        except ApplianceAPIError as exc:
            result.errors.append(f"The file {path} holds an appliance error, not sessions: {exc}")
        except OSError as exc:
            result.errors.append(f"Cannot read the XML file {path}: {exc.strerror or exc}.")
        if progress:
            progress(path, result.sessions)
    return result


def import_xml_to_destination(
    store: SettingsStore,
    paths: Iterable[str | Path],
    destination_name: str,
    *,
    site_host: str | None = None,
    site: str | None = None,
    progress: Callable[[Path, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> ImportResult:
    """The front ends' entry point: open the named destination from settings and import the files into it."""
    host = resolve_fixed_host(store, site_host, site)
    dest = destination_from_config(store.get_destination(destination_name, reveal=True))
    try:
        return import_xml_files(paths, dest, site_host=host, progress=progress, cancel=cancel)
    finally:
        dest.close()
