"""The API Tester (product guide): one-off downloads from chosen sites into chosen destinations, and saved XML files
into chosen destinations. Shared by the GUI window and any command; progress goes to a callback as
:class:`JobLine` (a line of text) or the engine's own ProgressEvent.

Data types a destination cannot take (recordings and backups into a database) are left out for that destination,
with a line saying so.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from ic.destinations.registry import available_types
from ic.errors import Cancelled, ConfigError
from ic.services.destinations import accepted_data_types
from ic.services.results import JobLine
from ic.services.xml_fetch import AdHocSite
from ic.settings.models import DataType

__all__ = ["JobLine", "check_choices", "export_many", "import_xml_many", "recordings_for_xml"]

Listener = Callable[[Any], None]


def _accepts(store, dest: str, types: list[str]) -> list[str]:
    cls = available_types().get(store.get_destination(dest, reveal=False).type)
    return accepted_data_types(cls, types)


def check_choices(*, destinations: list[str], data_types: list[str], sites: list[str] | None = None,
                  files: list[str] | None = None, site: str | None = None, typed_host: bool = False) -> None:
    """What a download needs before it starts, first thing missing first: sites (Sessions tab) or files (XML Files
    tab), destinations, operations; for XML files with recordings or backups, the site (or a typed-in host) to ask."""
    if files is not None and not files:
        raise ConfigError("Add one or more XML files first (Add…).")
    if sites is not None and not sites:
        raise ConfigError("Select at least one site.")
    if not destinations:
        raise ConfigError("Select at least one destination.")
    if not data_types:
        raise ConfigError("Select at least one operation.")
    if files is not None and not (site or typed_host) and any(t != DataType.SESSION for t in data_types):
        raise ConfigError("Choose the site to connect back to for recordings and backups.", field="site")


def export_many(store, *, sites: list[str], destinations: list[str], data_types: list[str], start: Any = None,
                duration_seconds: int | None = None, lsid: str | None = None, progress: Listener,
                cancel: threading.Event) -> list[str]:
    """Sessions tab: every selected site into every selected destination. Returns the summary lines."""
    from ic.services.runs import export

    check_choices(sites=sites, destinations=destinations, data_types=data_types)

    lines: list[str] = []

    def say(line: str, fraction: float | None = None) -> None:
        lines.append(line)
        progress(JobLine(line, fraction))

    pairs = [(s, d) for s in sites for d in destinations]
    for i, (site, dest) in enumerate(pairs):
        if cancel.is_set():
            raise Cancelled("The download was cancelled.")
        types = _accepts(store, dest, data_types)
        if not types:
            say(f"{site} -> {dest}: skipped (a database takes session data only).", (i + 1) / len(pairs))
            continue
        progress(JobLine(f"{site} -> {dest}: {', '.join(types)}", i / len(pairs)))
        result = export(store, site, dest, types, start=start, duration_seconds=int(duration_seconds or 0), lsid=lsid,
                        listener=progress, cancel=cancel)
        for warning in result.warnings:
            say(f"{site} -> {dest}: {warning}")
        say(f"{site} -> {dest}: {result.summary()}", (i + 1) / len(pairs))
    return lines


def import_xml_many(store, *, files: list[str], site: str | None, destinations: list[str], data_types: list[str],
                    progress: Listener, cancel: threading.Event, site_host: str | None = None,
                    adhoc: AdHocSite | None = None) -> list[str]:
    """XML Files tab: parse saved session XML files into every selected destination; recordings and backups for
    those sessions are fetched from ``site``, or from a host and API account typed in (``adhoc``: its host then
    labels the sessions). ``site`` or ``site_host`` labels sessions whose XML names no site."""
    check_choices(files=files, destinations=destinations, data_types=data_types, site=site,
                  typed_host=adhoc is not None)
    if adhoc is not None:
        site, site_host = None, adhoc.host
    file_types = [t for t in data_types if t != DataType.SESSION]
    lines: list[str] = []
    if DataType.SESSION in data_types:
        lines += _import_session_data(store, files, site, site_host, destinations, progress, cancel)
    if file_types:
        lines += recordings_for_xml(store, files, site, destinations, file_types, progress, cancel, adhoc=adhoc)
    return lines


def _import_session_data(store, files, site, site_host, destinations, progress, cancel) -> list[str]:
    from ic.services.import_xml import import_xml_to_destination

    lines: list[str] = []
    for i, dest in enumerate(destinations):
        if cancel.is_set():
            raise Cancelled("The import was cancelled.")
        progress(JobLine(f"Importing {len(files)} file(s) into {dest}…", i / len(destinations)))

        def on_file(path, sessions, dest=dest):
            progress(JobLine(f"{dest}: {Path(path).name} read ({sessions} session(s) so far)"))

        result = import_xml_to_destination(store, files, dest, site=site, site_host=site_host, progress=on_file,
                                           cancel=cancel)
        for line in [result.summary(dest), *result.errors]:
            lines.append(line)
            progress(JobLine(line, (i + 1) / len(destinations)))
    return lines


def recordings_for_xml(store, files: list[str], site: str | None, destinations: list[str], file_types: list[str],
                       progress: Listener, cancel: threading.Event, adhoc: AdHocSite | None = None) -> list[str]:
    """Recordings / backups for the sessions in saved XML files, from ``site`` or the typed-in ``adhoc`` host
    (ic.services.xml_fetch, one export per session through the engine), into each destination that takes files."""
    from ic.services.xml_fetch import fetch_for_xml

    source = adhoc.host if adhoc is not None else site
    lines: list[str] = []
    for dest in destinations:
        if not _accepts(store, dest, file_types):
            lines.append(f"{source} -> {dest}: recordings and backups skipped (a database takes session data only).")
            progress(JobLine(lines[-1]))
            continue
        result = fetch_for_xml(store, files, dest, file_types, site=None if adhoc else site, adhoc=adhoc,
                               cancel=cancel, progress=lambda text: progress(JobLine(text)))
        for line in [*result.errors, result.summary(source, dest)]:
            lines.append(line)
            progress(JobLine(line, 1.0))
    return lines
