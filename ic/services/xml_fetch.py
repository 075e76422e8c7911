"""Recordings and backups for the sessions of saved XML files (the guide's API Tester, step 8), from a configured
site or from a host and credentials typed in (nothing is saved: the secret lives in memory for this call only).

Each session's files come through the transfer engine's one-off export (``ic.services.runs.export`` with the lsid),
so names, conflict handling and expired recordings behave exactly as in a scheduled run; no cursor state is touched.
For typed-in credentials the engine sees a stand-in settings store that knows one extra, unsaved site.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ic.errors import Cancelled, ConfigError, ICError
from ic.settings.models import DataType, SiteConfig, SiteCredentials

AD_HOC_ID = -1  # never a real row id


@dataclass
class AdHocSite:
    """A host and API account typed in: a site that is never saved and its credentials, for one call only."""

    site: SiteConfig
    credentials: SiteCredentials

    @classmethod
    def typed_in(cls, host: str, client_id: str, client_secret: str, ca_bundle: str | None = None,
                 product: str | None = "detect", backup_password: str | None = None) -> "AdHocSite":
        """Checks now (one sentence for a bad host or missing credentials), before anything is imported."""
        from ic.settings.validation import validate_host

        validate_host(host)
        if not client_id or not client_secret:
            raise ConfigError(f"Give the Client ID and Client Secret of the API account on {host}.",
                              field="client_id")
        site = SiteConfig(host, host, client_id, ca_bundle, product, id=AD_HOC_ID, has_client_secret=True,
                          has_backup_password=bool(backup_password))
        return cls(site, SiteCredentials(client_secret, backup_password))

    @property
    def host(self) -> str:
        return self.site.host


class _AdHocStore:
    """The settings store plus one unsaved site; its transfer state lives in memory only."""

    def __init__(self, store, adhoc: AdHocSite) -> None:
        self._store, self._site, self._credentials, self._states = store, adhoc.site, adhoc.credentials, {}

    def site_credentials(self, site):
        if getattr(site, "id", site) == AD_HOC_ID or site == self._site.name:
            return self._credentials
        return self._store.site_credentials(site)

    def get_site(self, name_or_id):
        if name_or_id in (self._site.name, AD_HOC_ID):
            return self._site
        return self._store.get_site(name_or_id)

    def load_state(self, site_id, destination_id, data_type):
        if site_id == AD_HOC_ID:
            return self._states.get((destination_id, data_type))
        return self._store.load_state(site_id, destination_id, data_type)

    def save_state(self, site_id, destination_id, data_type, state) -> None:
        if site_id == AD_HOC_ID:
            self._states[(destination_id, data_type)] = state
            return
        self._store.save_state(site_id, destination_id, data_type, state)

    def __getattr__(self, name):
        return getattr(self._store, name)


@dataclass
class FetchResult:
    sessions: int = 0
    files: int = 0
    skipped: int = 0
    kept: int = 0  # already in the folder (File Name Conflict Handling: Skip)
    backups: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self, site: str, destination: str) -> str:
        text = f"{site} -> {destination}: {self.files} recording file(s) for {self.sessions} session(s)"
        if self.kept:
            text += f", {self.kept} kept (already there)"
        if self.skipped:
            text += f", {self.skipped} unavailable"
        if self.backups:
            text += f", {self.backups} backup(s)"
        return text + "."


def lsids_in(files, errors: list[str] | None = None) -> list[str]:
    from ic.sessions.parser import iter_sessions

    found: list[str] = []
    for path in files:
        try:
            found += [s.lsid for s in iter_sessions(path)]
        except ICError as exc:
            if errors is not None:
                errors.append(f"{Path(path).name}: {exc}")
    return list(dict.fromkeys(found))


def fetch_for_xml(store, files, destination: str, data_types: list[str], *, site: str | None = None,
                  adhoc: AdHocSite | None = None, progress: Callable[[str], None] | None = None,
                  cancel: threading.Event | None = None) -> FetchResult:
    """Recordings (``recordings``/``smsr``/``shell``) of every session in ``files`` and/or a site backup."""
    from ic.services.runs import export

    if (site is None) == (adhoc is None):
        raise ConfigError("Give a configured site, or a host with a Client ID and secret, to fetch recordings and "
                          "backups from.", field="site")
    cancel = cancel or threading.Event()
    target = store
    if adhoc is not None:  # the engine's own client factory finds the typed-in credentials in the stand-in store
        target = _AdHocStore(store, adhoc)
        site = adhoc.site.name

    result = FetchResult()
    lsids = lsids_in(files, result.errors)
    result.sessions = len(lsids)
    recording_types = [t for t in data_types if t in (DataType.RECORDINGS, DataType.SMSR, DataType.SHELL)]
    for n, lsid in enumerate(lsids if recording_types else []):
        if cancel.is_set():
            raise Cancelled("The download was cancelled; files stored so far are kept.")
        try:
            done = export(target, site, destination, recording_types, lsid=lsid, cancel=cancel)
        except Cancelled:
            raise
        except ICError as exc:
            if isinstance(exc, ConfigError) or getattr(exc, "retryable", False) or exc.__class__.__name__ in (
                    "AuthenticationFailed", "TLSFailure", "PermissionDenied"):
                result.errors.append(str(exc))
                break  # the settings or the appliance itself refuse: every next session would fail the same way
            result.errors.append(f"{lsid}: {exc}")
            continue
        result.files += done.files_stored
        result.skipped += done.files_skipped
        result.kept += done.files_kept + done.files_unchanged  # already there (Skip, or the same bytes)
        if progress:
            progress(f"{destination}: recordings for {lsid} ({n + 1}/{len(lsids)})")
    if DataType.BACKUP in data_types and not cancel.is_set():
        try:
            done = export(target, site, destination, [DataType.BACKUP], start=datetime.now(timezone.utc), cancel=cancel)
            result.backups = done.backups
        except ICError as exc:
            result.errors.append(f"backup: {exc}")
    return result
