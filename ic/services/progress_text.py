"""Progress in plain words, the same in the window and on the command line.

``describe_progress(event)`` turns an ``ic.transfer.progress.ProgressEvent`` (or anything with its attributes)
into one short sentence a person reads at a glance: "Copied 50 of 200 sessions, 11 of 30 recordings".
"""
from __future__ import annotations

from typing import Any


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _counted(done: int, found: int, word: str) -> str:
    """"50 of 200 sessions"; "1 of 1 session"."""
    return f"{done} of {found} {word if found == 1 else word + 's'}"


def transfer_words(transfer: str | None) -> str:
    """"Support -> Archive" as a person says it: "Support to Archive"."""
    if not transfer:
        return ""
    site, sep, dest = transfer.partition(" -> ")
    return f"{site} to {dest}" if sep else transfer


def _eta(seconds: float | None) -> str:
    if seconds is None or seconds < 1:
        return ""
    seconds = int(seconds)
    if seconds < 90:
        return f"about {seconds} s left"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60:02d} min left"


def describe_progress(event: Any, *, with_transfer: bool = False, with_eta: bool = True) -> str:
    """One sentence for a progress event. ``with_transfer`` starts it with "Support to Archive: "."""
    phase = getattr(event, "phase", None) or ""
    message = (getattr(event, "message", None) or "").strip()
    sf, sd = int(getattr(event, "sessions_found", 0) or 0), int(getattr(event, "sessions_done", 0) or 0)
    ff, fd = int(getattr(event, "files_found", 0) or 0), int(getattr(event, "files_done", 0) or 0)
    if phase == "connecting":
        text = message or "Connecting"
        text = text if text.endswith("…") else text + "…"
    elif phase == "listing":
        text = "Asking the appliance which sessions to copy…" if message in ("", "Listing sessions") else message
    elif phase in ("sessions", "files"):
        if sf == 0 and ff == 0:
            text = "No new sessions to copy"
        else:
            parts = [_counted(sd, sf, "session")]
            if ff:
                parts.append(_counted(fd, ff, "recording"))
            text = "Copied " + ", ".join(parts)
            eta = _eta(getattr(event, "eta_seconds", None)) if with_eta else ""
            if eta:
                text += f" ({eta})"
        if message:
            text += f"; {message[:1].lower() + message[1:]}"
    elif phase == "backup":
        text = "Downloading the site backup…"
    elif phase == "done":
        text = "Finished: " + (message or f"{_plural(sd, 'session')}, {_plural(fd, 'file')} copied")
    elif phase == "failed":
        text = f"Failed: {message}" if message else "Failed."
    elif phase == "cancelled":
        text = "Cancelled."
    else:
        text = message or phase
    text = text.rstrip()
    if with_transfer:
        where = transfer_words(getattr(event, "transfer", None))
        if where:
            return f"{where}: {text}"
    return text
