"""`verify`'s comparison, pure: the appliance's listing against what the destination holds -> one Finding a session."""
from __future__ import annotations

from ic.services.verify_appliance import Listed
from ic.services.verify_holdings import FILE_KINDS, Held, Holdings
from ic.services.verify_report import (ENDED, EXPIRED, EXTRA, MISSING, NOTHING, PARTIAL, PENDING, PRESENT,
                                       QUARANTINED, RUNNING, UNAVAILABLE, Finding)
from ic.settings.models import DATA_TYPES, DataType


def classify(listing: dict[str, Listed], holdings: Holdings, types: list[str], *,
             quarantined: dict[str, str] | set[str] = frozenset(),
             pending: dict[str, set[str]] | None = None,
             unavailable: set[str] = frozenset(), window: tuple[int | None, int | None] = (None, None),
             keeps_in_progress: bool = True, expired: dict[str, str] | None = None) -> list[Finding]:
    """Pure: one Finding per session of the appliance, then one per extra session the destination keeps.
    ``expired``: lsid -> what expired (and where its XML is kept), for sessions released from the quarantine because
    the appliance no longer has them: reported once per verify, not a gap."""
    expired = {k: v for k, v in (expired or {}).items() if k not in listing and k not in quarantined}
    findings: list[Finding] = []
    file_types = [t for t in FILE_KINDS if t in types and holdings.accepts_files]
    for lsid, entry in listing.items():
        held = holdings.sessions.get(lsid) or Held(lsid)
        lacking: list[str] = []
        repair: set[str] = set()
        gone_files: list[str] = []
        note = ""
        if DataType.SESSION in types:
            if held.xml is None:
                if entry.ended or keeps_in_progress:
                    lacking.append(DataType.SESSION)
                    repair.add(DataType.SESSION)
            elif held.xml == "in_progress" and entry.ended:
                lacking.append("session (stored in progress)")
                repair.add(DataType.SESSION)
        if entry.ended:
            ambiguous = dict(held.ambiguous or {})
            for kind in file_types:
                if kind == DataType.RECORDINGS:
                    wanted: set | None = {None} if entry.has_recording else set()
                elif held.xml == "ended":
                    wanted = (held.expected or {}).get(kind, set())
                elif entry.expected is not None:
                    wanted = entry.expected.get(kind, set())
                else:
                    wanted = None  # unknown until the session data is stored: repair fetches them all
                if wanted is None:
                    if DataType.SESSION in repair:
                        repair.add(kind)  # fetched with the session data
                    else:
                        note = f"{kind} recordings are known once the session data is stored"
                    continue
                for instance in sorted(wanted, key=lambda x: -1 if x is None else x):
                    if held.has_file(kind, instance):
                        continue
                    if instance is not None and ambiguous.get(instance, 0) > 0:
                        ambiguous[instance] -= 1
                        continue
                    label = kind if instance is None else f"{kind} #{instance}"
                    if unavailable_key(kind, lsid, instance) in unavailable:
                        gone_files.append(label)
                        continue
                    lacking.append(label)
                    repair.add(kind)
        if lacking and DataType.SESSION in repair:
            repair.update(t for t in file_types if entry.ended)  # fresh session data: its recordings too
        if lacking:
            status = QUARANTINED if lsid in quarantined else (PARTIAL if held.anything else MISSING)
            if status == QUARANTINED:
                note = "set aside by the transfer engine (see the quarantine)"
            elif pending and all(lsid in pending.get(_type_of(x), ()) for x in lacking):
                status = PENDING
                note = ("ended after the last transfer: its next run stores it" if entry.ended
                        else "in progress: the transfer stores it")
        elif gone_files:
            status = UNAVAILABLE
            note = f"the appliance can no longer serve {', '.join(gone_files)}"
        else:
            status, note = PRESENT, ""
        findings.append(Finding(lsid, status, ENDED if entry.ended else RUNNING, _held_words(held),
                                lacking or NOTHING, note, [t for t in DATA_TYPES if t in repair] if repair else NOTHING))
    start, end = window
    for lsid, held in holdings.sessions.items():
        if lsid in listing or not held.anything or lsid in expired:
            continue
        if start is not None:
            if held.start_time is None or held.start_time < start or (end is not None and held.start_time >= end):
                continue
        findings.append(Finding(lsid, EXTRA, "gone", _held_words(held), [],
                                "no longer on the appliance (normal after its retention)"))
    if start is None:
        for lsid, what in expired.items():
            held = holdings.sessions.get(lsid)
            findings.append(Finding(lsid, EXPIRED, "gone", _held_words(held) if held else "", [],
                                    f"set aside, then gone from the appliance before it could be stored ({what})"))
        # set aside by the engine, then aged out of the appliance: the quarantine holds the only copy
        for lsid in quarantined:
            held = holdings.sessions.get(lsid)
            if lsid in listing or (held is not None and held.xml):
                continue
            where = quarantined.get(lsid) if isinstance(quarantined, dict) else ""
            findings.append(Finding(lsid, QUARANTINED, "gone", _held_words(held) if held else "", [DataType.SESSION],
                                    "gone from the appliance; its only copy is in the quarantine"
                                    + (f" ({where})" if where else "")))
    return findings


def _type_of(label: str) -> str:
    """ "session (stored in progress)" -> session, "shell #1" -> shell."""
    return label.split(" ", 1)[0]


def _held_words(held: Held) -> str:
    parts = []
    if held.xml:
        parts.append("session" + (" (in progress)" if held.xml == "in_progress" else ""))
    for kind in FILE_KINDS:
        got = (held.files or {}).get(kind)
        if got:
            parts.append(kind if got == {None} else f"{kind} {','.join(str(i) for i in sorted(x for x in got if x is not None))}")
    if held.ambiguous:
        parts.append(f"{sum(held.ambiguous.values())} recording(s) of unknown kind")
    return ", ".join(parts)


def unavailable_key(kind: str, lsid: str, instance: int | None) -> str:
    return f"{kind}:{'' if instance is None else instance}:{lsid}"
