"""`verify`'s report: what each session of the appliance is in the destination (present, missing, partial, ...),
in words for a person, a CSV row per finding, and the mail text."""
from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from ic.settings.models import DataType

PRESENT, MISSING, PARTIAL, EXTRA, QUARANTINED, UNAVAILABLE, PENDING, EXPIRED = (
    "present", "missing", "partial", "extra", "quarantined", "unavailable", "pending", "expired")
# expired: set aside by the engine, then gone from the appliance (aged out) before it could be stored; released from
# the quarantine with its XML kept in its expired folder. Reported, but no longer a gap the archive can close.
STATUSES = (PRESENT, MISSING, PARTIAL, PENDING, EXTRA, QUARANTINED, UNAVAILABLE, EXPIRED)
INCOMPLETE = (MISSING, PARTIAL, QUARANTINED)
ENDED, RUNNING = "ended", "in progress"
NOTHING: list = []  # shared by the findings that lack nothing (never appended to)
CSV_COLUMNS = ("site", "destination", "lsid", "status", "appliance", "held", "lacking", "note")
Progress = Callable[[str], None]


@dataclass(slots=True)  # one per session: 100,000s of them
class Finding:
    lsid: str
    status: str
    appliance: str  # "ended" | "in progress" | "gone"
    held: str = ""  # what the destination holds, in short words
    lacking: list[str] = field(default_factory=list)  # "session", "session (stored in progress)", "recordings", "shell #1"
    note: str = ""
    repair_types: list[str] = field(default_factory=list)


@dataclass
class RepairOutcome:
    attempted: int = 0
    sessions_stored: int = 0
    files_stored: int = 0
    backups: int = 0
    unavailable: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"repair fetched {self.sessions_stored} session(s) and {self.files_stored} file(s) for {self.attempted} session(s)"
        if self.backups:
            text += f" and {self.backups} backup(s)"
        if self.unavailable:
            text += f"; {self.unavailable} recording(s) the appliance can no longer serve"
        if self.errors:
            text += f"; {len(self.errors)} failed: " + " ".join(self.errors[:3])
        return text


@dataclass
class VerifyReport:
    site: str
    destination: str
    site_host: str
    data_types: list[str]
    window: tuple[int | None, int | None] = (None, None)
    findings: list[Finding] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    backup_checked: bool = False
    unreadable: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    repair: RepairOutcome | None = None
    site_id: int | None = None
    destination_id: int | None = None
    error: str | None = None  # the check of this transfer failed (a periodic verify goes on with the others)

    @classmethod
    def failed(cls, site: str, destination: str, data_types: list[str], error: str) -> "VerifyReport":
        return cls(site, destination, "", list(data_types), error=error)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATUSES}
        for f in self.findings:
            out[f.status] += 1
        return out

    @property
    def backup_missing(self) -> bool:
        return self.backup_checked and not self.backups

    @property
    def complete(self) -> bool:
        return self.error is None and not self.backup_missing and not any(f.status in INCOMPLETE for f in self.findings)

    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.status in INCOMPLETE]

    @property
    def label(self) -> str:
        return f"{self.site} -> {self.destination}"

    def summary(self) -> str:
        """Words: one paragraph an auditor can read."""
        if self.error is not None:
            return f"{self.label}: the check failed, so completeness is unknown: {self.error.rstrip('.')}."
        c = self.counts()
        on_appliance = sum(1 for f in self.findings if f.appliance != "gone")
        head = (f"{self.label}: the archive is complete" if self.complete
                else f"{self.label}: the archive is NOT complete")
        window = _window_words(self.window)
        parts = [f"{on_appliance} session(s) on the appliance{window}: {c[PRESENT]} present"]
        for status in (MISSING, PARTIAL, QUARANTINED, UNAVAILABLE):
            if c[status]:
                parts.append(f"{c[status]} {status}")
        if c[PENDING]:
            parts.append(f"{c[PENDING]} pending: newer than the last transfer, its next run stores them")
        text = f"{head} ({', '.join(parts)})"
        if c[EXTRA]:
            text += f"; {c[EXTRA]} kept here that the appliance no longer holds (normal after its retention)"
        if c[EXPIRED]:
            text += (f"; {c[EXPIRED]} expired: set aside, then gone from the appliance before they could be stored "
                     "(their XML is kept in the quarantine's expired folder)")
        if self.backup_checked:
            text += f"; newest backup {self.backups[0]}" if self.backups else "; no backup of the site is stored"
        text += f". Data verified: {', '.join(self.data_types) or 'none'}."
        for note in self.notes:
            text += f" {note}"
        if self.unreadable:
            text += f" {len(self.unreadable)} file(s) could not be read: {', '.join(self.unreadable[:3])}."
        if self.repair is not None:
            text += f" Before this check, {self.repair.summary()}."
        return text

    def details(self, limit: int = 50) -> list[str]:
        """One line per session that is not present (problems first), at most ``limit``."""
        if limit <= 0:
            return []
        order = {MISSING: 0, PARTIAL: 1, QUARANTINED: 2, EXPIRED: 3, PENDING: 4, UNAVAILABLE: 5, EXTRA: 6}
        rows = sorted((f for f in self.findings if f.status != PRESENT), key=lambda f: (order.get(f.status, 9), f.lsid))
        lines = []
        for f in rows[:limit]:
            what = f"lacks {', '.join(f.lacking)}" if f.lacking else (f.held or "")
            lines.append(f"  {f.status:<11} {shown(f.lsid)}  ({f.appliance}) {what}{'; ' + f.note if f.note else ''}")
        if len(rows) > limit:
            lines.append(f"  … and {len(rows) - limit} more (see the CSV)")
        return lines

    def csv_rows(self) -> Iterable[list[str]]:
        for f in self.findings:
            yield [self.site, self.destination, f.lsid, f.status, f.appliance, f.held, "; ".join(f.lacking), f.note]
        if self.backup_missing:
            yield [self.site, self.destination, "", MISSING, "", "", DataType.BACKUP, "no backup of the site is stored"]


def write_csv(reports: list[VerifyReport], out) -> None:
    """CSV of every finding (a path, or an open text file)."""
    if isinstance(out, (str, Path)):
        with open(out, "w", newline="", encoding="utf-8-sig") as f:
            write_csv(reports, f)
        return
    w = csv.writer(out)
    w.writerow(CSV_COLUMNS)
    for report in reports:
        for row in report.csv_rows():
            w.writerow(row)


def summary_text(reports: list[VerifyReport], details: int = 50) -> str:
    out = io.StringIO()
    for r in reports:
        out.write(r.summary() + "\n")
        for line in r.details(details):
            out.write(line + "\n")
    return out.getvalue()


def mail_text(reports: list[VerifyReport], title: str) -> tuple[str, str]:
    complete = all(r.complete for r in reports)
    failed = [r for r in reports if r.error is not None]
    subject = f"Integration Client verify ({title}): " + ("archive complete" if complete else "archive NOT complete")
    lines = [f"Verify {title}: " + ("every session the appliance holds is in the archive." if complete
                                    else "the archive is missing sessions or recordings." if not failed
                                    else f"the check of {len(failed)} transfer(s) failed."), ""]
    for r in reports:
        lines.append(r.summary())
        lines.extend(r.details(50))
        lines.append("")
    return subject, "\n".join(lines)


def _window_words(window: tuple[int | None, int | None]) -> str:
    start, end = window
    if start is None:
        return ""
    fmt = lambda t: datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")  # noqa: E731
    return f" that started from {fmt(start)}" + (f" until {fmt(end)}" if end else "")


def shown(text: str) -> str:
    """An appliance's value for a line a person reads: control and invisible formatting characters (a
    right-to-left override U+202E would show an lsid backwards) are written as \\uXXXX."""
    if text.isprintable() and not any(unicodedata.category(ch) == "Cf" for ch in text):
        return text
    return "".join(ch if ch.isprintable() and unicodedata.category(ch) != "Cf" else f"\\u{ord(ch):04x}"
                   for ch in text)
