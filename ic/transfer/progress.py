"""Progress events the engine sends to any listener callable (the CLI's progress bar, the GUI's queue).

The listener is called from the thread running the engine (never from download workers), must return quickly and
must not raise; a listener that raises is logged once and then ignored.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Callable

log = logging.getLogger("ic.transfer")

# phases, in the order a transfer normally goes through them
CONNECTING = "connecting"
LISTING = "listing"
SESSIONS = "sessions"
FILES = "files"
BACKUP = "backup"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"


@dataclass(frozen=True)
class ProgressEvent:
    transfer: str  # "site -> destination"
    phase: str
    sessions_found: int = 0  # sessions this run has to handle (known after listing)
    sessions_done: int = 0
    files_found: int = 0  # recordings / backups to download (grows as session details arrive)
    files_done: int = 0
    bytes: int = 0  # bytes of files downloaded so far
    current: str | None = None  # what is being worked on, e.g. "session 6f1c…" or "recording 6f1c…"
    eta_seconds: float | None = None
    message: str | None = None
    schedule: str | None = None


Listener = Callable[[ProgressEvent], None]


class ProgressTracker:
    """Keeps the counters of one transfer and sends an event whenever something changes."""

    def __init__(self, listener: Listener | None, transfer: str, schedule: str | None = None) -> None:
        self._listener = listener
        self._broken = False
        self._started = time.monotonic()
        self.event = ProgressEvent(transfer=transfer, phase=CONNECTING, schedule=schedule)

    def update(self, **changes) -> None:
        ev = replace(self.event, **changes)
        ev = replace(ev, eta_seconds=self._eta(ev))
        self.event = ev
        self._send(ev)

    def add(self, **deltas: int) -> None:
        self.update(**{k: getattr(self.event, k) + v for k, v in deltas.items()})

    def _eta(self, ev: ProgressEvent) -> float | None:
        if ev.phase in (DONE, FAILED, CANCELLED):
            return 0.0 if ev.phase == DONE else None
        total = ev.sessions_found + ev.files_found
        done = ev.sessions_done + ev.files_done
        if total <= 0 or done <= 0:
            return None
        elapsed = time.monotonic() - self._started
        return max(0.0, elapsed / done * (total - done))

    def _send(self, ev: ProgressEvent) -> None:
        if self._listener is None or self._broken:
            return
        try:
            self._listener(ev)
        except Exception:  # noqa: BLE001 - a broken progress display must not break a transfer
            self._broken = True
            log.warning("The progress display failed and was switched off for this run.", exc_info=True)
