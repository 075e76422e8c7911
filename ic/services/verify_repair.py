"""`verify --repair`: fetch what a report found missing, partial or pending with one-off exports by session ID
through the normal engine; the schedules' cursors and done lists are never read or changed."""
from __future__ import annotations

import logging
import threading

from ic.errors import Cancelled, ICError
from ic.services.verify_appliance import _check
from ic.services.verify_compare import unavailable_key
from ic.services.verify_holdings import FILE_KINDS
from ic.services.verify_memory import load_unavailable, save_unavailable
from ic.services.verify_report import MISSING, PARTIAL, PENDING, Finding, Progress, RepairOutcome, VerifyReport
from ic.settings.models import DataType

log = logging.getLogger("ic.verify")

REPAIR_BATCH = 500  # sessions per repair export (the engine asks for their details 50 at a time)


class _Watching:
    """Wraps the destination of a repair export to see which files reached it (the rest were not served)."""

    def __init__(self, inner, seen: set[str]) -> None:
        self._inner = inner
        self._seen = seen

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def store_file(self, item):
        if item.session is not None:
            self._seen.add(unavailable_key(item.kind, item.session.lsid, item.instance if item.kind != DataType.RECORDINGS else None))
        return self._inner.store_file(item)

    def store_sessions(self, site_host, sessions):
        return self._inner.store_sessions(site_host, sessions)


def repair(store, report: VerifyReport, *, progress: Progress | None = None, listener=None,
           cancel: threading.Event | None = None, engine_factory=None) -> RepairOutcome:
    """Fetch what ``report`` found missing or partial (one-off exports by session ID; cursors untouched)."""
    from ic.transfer.engine import ExportRequest, TransferEngine, default_destination_factory
    from ic.settings.models import TransferConfig

    say = progress or (lambda _text: None)
    outcome = RepairOutcome()
    todo = [f for f in report.findings if f.status in (MISSING, PARTIAL, PENDING) and f.appliance != "gone"
            and f.repair_types]
    if not todo and not report.backup_missing:
        return outcome
    seen: set[str] = set()
    factory = engine_factory or TransferEngine
    engine = factory(store, listener=listener, cancel=cancel,
                     destination_factory=lambda cfg: _Watching(default_destination_factory(cfg), seen))
    gone: set[str] = set()
    batched = "lsids" in getattr(ExportRequest, "__dataclass_fields__", {})
    groups: dict[tuple[str, ...], list[Finding]] = {}
    for f in todo:  # one export per set of data types (and per REPAIR_BATCH sessions): details 50 per request
        groups.setdefault(tuple(f.repair_types), []).append(f)
    chunks = [(types, items[i:i + (REPAIR_BATCH if batched else 1)])
              for types, items in groups.items() for i in range(0, len(items), REPAIR_BATCH if batched else 1)]
    with engine:
        done = 0
        for types, chunk in chunks:
            _check(cancel)
            done += len(chunk)
            say(f"Repairing {done}/{len(todo)}: {chunk[0].lsid}" + (" …" if len(chunk) > 1 else ""))
            outcome.attempted += len(chunk)
            transfer = TransferConfig(report.site, report.destination, list(types))
            request = (ExportRequest(lsids=tuple(f.lsid for f in chunk)) if batched  # type: ignore[call-arg]
                       else ExportRequest(lsid=chunk[0].lsid))
            try:
                result = engine.run_transfer(transfer, export=request)
            except Cancelled:
                raise
            except ICError as exc:
                what = chunk[0].lsid if len(chunk) == 1 else f"{len(chunk)} sessions from {chunk[0].lsid}"
                outcome.errors.append(f"{what}: {exc}")
                log.warning("Verify repair of %s from %s failed: %s", what, report.site_host, exc)
                continue
            outcome.sessions_stored += result.sessions_stored + result.in_progress_stored
            outcome.files_stored += result.files_stored
            for f in chunk:
                for label in f.lacking:
                    kind, _, inst = label.partition(" #")
                    if kind in FILE_KINDS:
                        key = unavailable_key(kind, f.lsid, int(inst) if inst else None)
                        if key not in seen:
                            gone.add(key)
        if report.backup_missing:
            _check(cancel)
            say("Fetching a backup of the site")
            try:
                result = engine.run_transfer(TransferConfig(report.site, report.destination, [DataType.BACKUP]),
                                             export=ExportRequest())
                outcome.backups += result.backups
            except Cancelled:
                raise
            except ICError as exc:
                outcome.errors.append(f"backup: {exc}")
    if gone:
        outcome.unavailable = len(gone)
        known = load_unavailable(store, report.site_id, report.destination_id)
        save_unavailable(store, report.site_id, report.destination_id, known | gone)
    return outcome
