"""Quarantine: sessions set aside because they could not be parsed, checked or stored, so they never wedge a transfer.

Layout under ``paths.data_dir()/quarantine/<site host>/``:

* ``<lsid>.xml`` — the session's raw XML as the appliance sent it (one file per (site host, lsid), whatever the
  destination; it may be the only copy once the appliance ages the session out);
* ``<lsid>--<destination>.json`` — one small record per destination that could not take it::

      {"lsid", "site_host", "destination", "data_types": ["session", ...], "field", "reason",
       "first_seen" (ISO UTC), "last_tried" (ISO UTC), "attempts", "gone": bool}

  ``missing_runs`` / ``missing_since``: runs in a row on which the appliance did not return the session asked for by
  lsid, and since when. At CONFIRM_GONE runs over at least CONFIRM_GONE_SECONDS (a day) it has aged out: the record
  is released from the quarantine (never on one empty answer: a transient error must not drop it).
* ``expired/`` — records released that way (``"expired"``: when) with the session's raw XML, for a person to keep:
  the appliance no longer has the session, nothing asks for it again, and verify reports it as expired.
* ``<lsid>--<destination>@<kind>[-<instance>].json`` — one recording of a session that could not be stored (its
  download keeps failing, or the destination refuses that one file): the same fields plus ``"kind"`` and
  ``"instance"`` (``data_types`` is ``[kind]``); no XML is kept for it. The session data itself may be stored.

File and folder names are made safe for any lsid or host (``:`` of a port, long or odd lsids: cut, plus a hash).
Each file is written to a temp name and renamed into place, so a killed process never leaves a half record.

Public read side (VERIFY helper, CLI): :func:`list_quarantined`, :func:`list_expired`. The engine uses :func:`put`,
:func:`release`, :func:`pending` and :func:`mark_gone`, and :func:`check_not_our_bug` before setting a whole batch
aside.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import logging
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from ic import paths
from ic.errors import ICError

log = logging.getLogger("ic.transfer")

_SAFE = re.compile(r"[^A-Za-z0-9._-]")
_MAX_NAME = 80
EXPIRED = "expired"  # sub-folder of a site's folder: records of sessions the appliance no longer has
CONFIRM_GONE = 2  # runs in a row that must not get a quarantined session back before it counts as gone ...
CONFIRM_GONE_SECONDS = 86400  # ... spanning at least this long since the first of them
RETRY_PER_RUN = 500  # quarantined sessions asked for again per run and destination (about 510 appliance requests)


@dataclass(frozen=True)
class QuarantineEntry:
    lsid: str
    site_host: str
    destination: str
    data_type: str  # the first of data_types ("session" when the session data itself is concerned)
    field: str | None
    reason: str
    first_seen: str  # ISO 8601 UTC
    attempts: int
    path: Path  # the raw XML file (may be missing when the appliance sent nothing readable)
    data_types: tuple[str, ...] = field(default=())
    last_tried: str | None = None
    gone: bool = False  # the appliance no longer has it (an expired record, see list_expired)
    kind: str | None = None  # a set-aside recording: its data type (recordings | smsr | shell); None = the session
    instance: int | None = None  # ... and its instance (Show My Screen / command shell)
    destination_id: int | None = None  # the settings id of the destination: its records follow a rename

    @property
    def file(self) -> str | None:
        """A set-aside recording in words ("shell #1", "recordings"); None for a session."""
        if self.kind is None:
            return None
        return self.kind if self.instance is None else f"{self.kind} #{self.instance}"


def root() -> Path:
    return paths.data_dir() / "quarantine"


def safe_name(text: str) -> str:
    """A file-system-safe, collision-free name part for a host, lsid or destination name."""
    cleaned = _SAFE.sub("_", text)
    if cleaned == text and 0 < len(text) <= _MAX_NAME and not text.startswith("."):
        return text
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{cleaned.lstrip('.')[:_MAX_NAME]}~{digest}"


def _site_dir(site_host: str) -> Path:
    return root() / safe_name(site_host)


def xml_path(site_host: str, lsid: str) -> Path:
    return _site_dir(site_host) / f"{safe_name(lsid)}.xml"


def _record_path(site_host: str, lsid: str, destination: str) -> Path:
    return _site_dir(site_host) / f"{safe_name(lsid)}--{safe_name(destination)}.json"


def _file_record_path(site_host: str, lsid: str, destination: str, kind: str, instance: int | None) -> Path:
    tag = kind if instance is None else f"{kind}-{int(instance)}"
    return _site_dir(site_host) / f"{safe_name(lsid)}--{safe_name(destination)}@{safe_name(tag)}.json"


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _write_atomic(path: Path, data) -> None:
    """``data``: bytes, or a session's RawXml (streamed: a huge session's XML is never read whole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".~q-", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if hasattr(data, "write_to"):
                data.write_to(fh)
            else:
                fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(data, dict) and isinstance(data.get("lsid"), str) and isinstance(data.get("site_host"), str)
    return data if ok and data["lsid"] and data["site_host"] else None


def _entry(data: dict) -> QuarantineEntry:
    """A record as read (a person may have edited it: odd values fall back rather than stop a transfer)."""
    types = _types(data) or ("session",)
    return QuarantineEntry(
        lsid=str(data["lsid"]),
        site_host=str(data["site_host"]),
        destination=str(data.get("destination") or ""),
        data_type=types[0],
        field=data.get("field"),
        reason=str(data.get("reason") or ""),
        first_seen=str(data.get("first_seen") or ""),
        attempts=_int_or_none(data.get("attempts")) or 0,
        path=xml_path(str(data["site_host"]), str(data["lsid"])),
        data_types=types,
        last_tried=str(data["last_tried"]) if data.get("last_tried") else None,
        gone=bool(data.get("expired")),
        kind=str(data["kind"]) if data.get("kind") else None,
        instance=_int_or_none(data.get("instance")),
        destination_id=_int_or_none(data.get("destination_id")),
    )


def _types(data: dict) -> tuple[str, ...]:
    raw = data.get("data_types")
    raw = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    return tuple(str(t) for t in raw if t)


def _int_or_none(value) -> int | None:
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def put(site_host: str, lsid: str, destination: str, data_types: list[str] | tuple[str, ...], reason: str,
        field: str | None = None, raw: bytes | Path | None = None, *,
        destination_id: int | None = None) -> QuarantineEntry:
    """Set a session aside for ``destination`` (or count one more failed attempt); keeps the newest raw XML
    (``raw``: bytes, a session's RawXml (streamed), or a file that is moved in)."""
    rec_path = _record_path(site_host, lsid, destination)
    old = _read(rec_path) or {}
    types = list(dict.fromkeys([*_types(old), *data_types])) if old else list(data_types)
    # the record first: a concurrent release() for another destination then sees it and keeps the XML
    data = _write_record(rec_path, old, {"lsid": lsid, "site_host": site_host, "destination": destination,
                                         "data_types": types}, field, reason, destination_id)
    if isinstance(raw, Path):
        target = xml_path(site_host, lsid)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".~q-{target.name}.{os.getpid()}-{threading.get_ident()}.part")  # a schedule's
        # transfers run at once: two destinations may set the same session aside at the same moment
        shutil.move(str(raw), str(tmp))  # a rename on the same file system: a big document is never read whole
        os.replace(tmp, target)
    elif raw:
        _write_atomic(xml_path(site_host, lsid), raw)
    return _entry(data)


def put_file(site_host: str, lsid: str, destination: str, kind: str, instance: int | None, reason: str,
             field: str | None = None, *, destination_id: int | None = None) -> QuarantineEntry:
    """Set one recording of a session aside for ``destination`` (or count one more failed attempt)."""
    rec_path = _file_record_path(site_host, lsid, destination, kind, instance)
    data = _write_record(rec_path, _read(rec_path) or {},
                         {"lsid": lsid, "site_host": site_host, "destination": destination, "data_types": [kind],
                          "kind": kind, "instance": instance}, field, reason, destination_id)
    return _entry(data)


def _write_record(path: Path, old: dict, what: dict, field: str | None, reason: str,
                  destination_id: int | None) -> dict:
    """Write one quarantine record: ``what`` was set aside (again), with one more attempt counted."""
    now = _now()
    data = {
        **what,
        "field": field,
        "reason": reason,
        "first_seen": old.get("first_seen") or now,
        "last_tried": now,
        "attempts": (_int_or_none(old.get("attempts")) or 0) + 1,
        "gone": False,
        "destination_id": destination_id if destination_id is not None else old.get("destination_id"),
    }
    _write_atomic(path, json.dumps(data, indent=1).encode("utf-8"))
    return data


def release_file(site_host: str, lsid: str, destination: str, kind: str, instance: int | None) -> None:
    """The recording reached ``destination`` (or the appliance says it is no longer available): forget it."""
    _file_record_path(site_host, lsid, destination, kind, instance).unlink(missing_ok=True)


def release(site_host: str, lsid: str, destination: str, data_types: list[str] | tuple[str, ...] | None = None) -> None:
    """The session reached ``destination`` (for ``data_types``; None = all): forget it there. The raw XML goes with
    the last destination record of the session."""
    rec_path = _record_path(site_host, lsid, destination)
    data = _read(rec_path)
    if data is None:
        return
    left = [t for t in _types(data) if data_types is not None and t not in data_types]
    if left:
        data["data_types"] = left
        _write_atomic(rec_path, json.dumps(data, indent=1).encode("utf-8"))
        return
    rec_path.unlink(missing_ok=True)
    prefix = f"{safe_name(lsid)}--"
    if not any(p.name.startswith(prefix) and "@" not in p.name  # a set-aside recording keeps no XML
               for p in _site_dir(site_host).glob("*.json")):
        xml_path(site_host, lsid).unlink(missing_ok=True)


def mark_gone(site_host: str, lsid: str, destination: str) -> str:
    """The appliance did not return a quarantined session asked for by lsid (it aged out, or an answer came back
    empty). Counted per record; once that happened on CONFIRM_GONE runs in a row spanning CONFIRM_GONE_SECONDS (a
    day: an appliance answering empty for an hour is not proof) the session is gone: its records for
    ``destination`` (set-aside recordings included) move to ``expired/`` with its raw XML. Returns the sentence to
    log (with the lsid, and where the XML is kept once released)."""
    folder = _site_dir(site_host)
    live = [_record_path(site_host, lsid, destination)]
    prefix = f"{safe_name(lsid)}--{safe_name(destination)}@"
    if folder.is_dir():
        live += [p for p in folder.glob("*.json") if p.name.startswith(prefix)]
    records = [(p, d) for p in live if (d := _read(p)) is not None and d.get("destination") == destination]
    if not records:
        return f"Quarantined session {lsid} is no longer on {site_host}."
    try:
        now = _now()
        confirmed = True
        for _, data in records:
            # a record marked "gone" by an older version was not asked for since: this counts as its second miss
            data["missing_runs"] = max(_int_or_none(data.get("missing_runs")) or 0, 1 if data.get("gone") else 0) + 1
            if _seconds_between(data.get("missing_since"), now) is None:
                data["missing_since"] = now
            data["gone"] = False
            data["last_tried"] = now
            confirmed = confirmed and data["missing_runs"] >= CONFIRM_GONE and \
                (_seconds_between(data["missing_since"], now) or 0) >= CONFIRM_GONE_SECONDS
        if not confirmed:
            for rec_path, data in records:
                _write_atomic(rec_path, json.dumps(data, indent=1).encode("utf-8"))
            return (f"Quarantined session {lsid} was not returned by {site_host}; it is asked for again at the next "
                    "runs and released from the quarantine once it has been gone for a day.")
        kept = _expire(site_host, lsid, records)
    except OSError as exc:
        return (f"Quarantined session {lsid} is no longer on {site_host}, but its quarantine record could not be "
                f"updated ({exc.strerror or exc}); it is asked for again at the next run.")
    where = f"its XML is kept in {kept}" if kept else "no XML of it was kept"
    return (f"Quarantined session {lsid} is gone from {site_host} (aged out before it could be stored in "
            f"destination {destination}): it is released from the quarantine and {where}.")


def _seconds_between(earlier, later: str) -> float | None:
    """Seconds from one ISO time of a record to another; None when ``earlier`` is missing or unreadable."""
    try:
        a = datetime.fromisoformat(str(earlier).replace("Z", "+00:00"))
        b = datetime.fromisoformat(later.replace("Z", "+00:00"))
        return (b - a).total_seconds() if earlier else None
    except (TypeError, ValueError):
        return None


def _expire(site_host: str, lsid: str, records: list[tuple[Path, dict]]) -> Path | None:
    """Move these records of one session to ``expired/`` (XML first, so a crash never leaves a record without it;
    the live XML goes once no live session record of the lsid is left). Returns the expired XML's path, if any."""
    folder = _site_dir(site_host) / EXPIRED
    folder.mkdir(parents=True, exist_ok=True)
    source = xml_path(site_host, lsid)
    target = folder / source.name
    if source.is_file() and not target.is_file():
        tmp = folder / f".~q-{source.name}.{os.getpid()}-{threading.get_ident()}.part"
        try:
            os.link(source, tmp)  # another destination may still need the live XML: no copy of a big file
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    now = _now()
    for rec_path, data in records:
        data["expired"] = now
        data["xml"] = str(target) if target.is_file() else None
        _write_atomic(folder / rec_path.name, json.dumps(data, indent=1).encode("utf-8"))
        rec_path.unlink(missing_ok=True)
    prefix = f"{safe_name(lsid)}--"
    if not any(p.name.startswith(prefix) and "@" not in p.name for p in _site_dir(site_host).glob("*.json")):
        source.unlink(missing_ok=True)
    return target if target.is_file() else None


def list_expired(site_host: str | None = None) -> list[QuarantineEntry]:
    """Records released because the appliance no longer had the session (``gone`` True; ``path``: the XML kept in
    ``expired/``), oldest first; ``site_host`` limits it to one site."""
    return [replace(e, path=path.parent / e.path.name, gone=True) for path, e in _listed(site_host, EXPIRED)]


def list_quarantined(site_host: str | None = None) -> list[QuarantineEntry]:
    """Every quarantined (session, destination), oldest first; ``site_host`` limits it to one site."""
    return [e for _, e in _listed(site_host)]


def _listed(site_host: str | None, sub: str | None = None) -> list[tuple[Path, QuarantineEntry]]:
    base = root()
    if not base.is_dir():
        return []
    folders = [_site_dir(site_host)] if site_host is not None else [p for p in base.iterdir() if p.is_dir()]
    out: list[tuple[Path, QuarantineEntry]] = []
    for folder in folders:
        folder = folder / sub if sub else folder
        if not folder.is_dir():
            continue
        for path in folder.glob("*.json"):
            data = _read(path)
            if data is not None and (site_host is None or data["site_host"] == site_host):
                out.append((path, _entry(data)))
    out.sort(key=lambda pe: (pe[1].first_seen, pe[1].site_host, pe[1].lsid, pe[1].destination))
    return out


def pending(site_host: str, destination: str, destination_id: int | None = None,
            limit: int | None = None) -> list[QuarantineEntry]:
    """Entries of one site and destination to try again this run: those of at most ``limit`` (default
    RETRY_PER_RUN) sessions, the least recently tried first, so thousands of set-aside sessions cost a bounded number
    of appliance requests per run and each still gets its turn on a later run. ``destination_id``: records written
    under an earlier name of the same destination are renamed to ``destination`` first (a destination renamed in the
    settings keeps its quarantine)."""
    if destination_id is not None:
        follow_rename(site_host, destination, destination_id)
    mine = [e for e in list_quarantined(site_host) if e.destination == destination]
    limit = RETRY_PER_RUN if limit is None else limit
    turn: dict[str, str] = {}
    for e in mine:
        when = e.last_tried or e.first_seen
        turn[e.lsid] = min(turn.get(e.lsid, when), when)
    if len(turn) <= limit:
        return mine
    chosen = set(sorted(turn, key=lambda lsid: (turn[lsid], lsid))[:limit])
    log.info("%d quarantined session(s) for destination %s wait for a later run (at most %d are tried again per "
             "run).", len(turn) - limit, destination, limit)
    return [e for e in mine if e.lsid in chosen]


def follow_rename(site_host: str, destination: str, destination_id: int) -> int:
    """Records of destination ``destination_id`` kept under another name move to ``destination`` (expired ones
    too); returns how many."""
    moved = 0
    for old_path, e in [*_listed(site_host), *_listed(site_host, EXPIRED)]:
        if e.destination_id != destination_id or e.destination == destination:
            continue
        data = _read(old_path)
        if data is None:
            continue
        data["destination"] = destination
        new_path = (_file_record_path(site_host, e.lsid, destination, e.kind, e.instance) if e.kind
                    else _record_path(site_host, e.lsid, destination))
        _write_atomic(old_path.parent / new_path.name, json.dumps(data, indent=1).encode("utf-8"))
        old_path.unlink(missing_ok=True)
        moved += 1
    return moved


def follow_site(old_host: str, new_host: str) -> int:
    """A site whose host name changed (an IP address replaced by its DNS name...) keeps its quarantine: every file
    of ``old_host``'s folder (records live and expired, raw XML, notes) moves to ``new_host``'s, records rewritten
    with the new host. Returns how many records moved. The caller makes sure no other site still uses ``old_host``."""
    old_dir, new_dir = _site_dir(old_host), _site_dir(new_host)
    if old_host == new_host or old_dir == new_dir or not old_dir.is_dir():
        return 0
    moved = 0
    for path in sorted(old_dir.rglob("*")):
        if not path.is_file() or path.name.startswith(".~q-"):
            continue
        target = new_dir / path.relative_to(old_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = _read(path) if path.suffix == ".json" else None
        if data is not None:
            data["site_host"] = new_host
            if data.get("xml"):
                data["xml"] = str(target.with_name(Path(str(data["xml"])).name))
            if not target.exists():  # a record already there (the new host's own) wins
                _write_atomic(target, json.dumps(data, indent=1).encode("utf-8"))
                moved += 1
            path.unlink(missing_ok=True)
        elif path.name.startswith("unavailable--") and target.exists():
            with open(target, "ab") as fh:
                fh.write(path.read_bytes())
            path.unlink(missing_ok=True)
        else:
            os.replace(path, target) if not target.exists() else path.unlink(missing_ok=True)
    shutil.rmtree(old_dir, ignore_errors=True)
    return moved


# --- recordings the appliance would not serve ---------------------------------------------------------------------
# The engine notes each recording the appliance answered "expired" / "no such recording" (a line per recording in
# ``<host>/unavailable--<destination id>.txt``), so that verify reports it as unavailable instead of "partial" until a
# repair has asked again.

def _unavailable_path(site_host: str, destination: str, destination_id: int | None) -> Path:
    tag = f"id{int(destination_id)}" if destination_id is not None else safe_name(destination)
    return _site_dir(site_host) / f"unavailable--{tag}.txt"


def note_unavailable(site_host: str, destination: str, destination_id: int | None, kind: str, lsid: str,
                     instance: int | None) -> None:
    """One recording the appliance no longer serves (appended: a line per recording, written whole)."""
    path = _unavailable_path(site_host, destination, destination_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"kind": kind, "lsid": lsid, "instance": instance}) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def unavailable(site_host: str, destination: str, destination_id: int | None) -> set[tuple[str, str, int | None]]:
    """(kind, lsid, instance) of every recording noted unavailable for this destination."""
    try:
        text = _unavailable_path(site_host, destination, destination_id).read_text("utf-8", errors="replace")
    except OSError:
        return set()
    out: set[tuple[str, str, int | None]] = set()
    for line in text.splitlines():
        try:
            item = json.loads(line)
            out.add((str(item["kind"]), str(item["lsid"]), _int_or_none(item.get("instance"))))
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by a crash
    return out


def keep_unavailable(site_host: str, destination: str, destination_id: int | None, lsids: set[str]) -> None:
    """Forget the notes of sessions not in ``lsids`` (the appliance no longer lists them)."""
    path = _unavailable_path(site_host, destination, destination_id)
    items = unavailable(site_host, destination, destination_id)
    kept = [i for i in items if i[1] in lsids]
    if len(kept) == len(items):
        return
    if not kept:
        path.unlink(missing_ok=True)
        return
    data = "".join(json.dumps({"kind": k, "lsid": x, "instance": n}) + "\n" for k, x, n in sorted(
        kept, key=lambda i: (i[1], i[0], -1 if i[2] is None else i[2])))
    _write_atomic(path, data.encode("utf-8"))


# --- our bug, not the sessions' data ----------------------------------------------------------------------------------
# Exception types that point at this program's own code failing on a session. A session's bad values raise ParseError /
# SessionValueError, ValueError, ArithmeticError, RecursionError or UnicodeError: those are set aside as before.
_OUR_BUG_TYPES = ("TypeError", "AttributeError", "NameError", "UnboundLocalError", "KeyError", "IndexError",
                  "AssertionError", "NotImplementedError", "ImportError", "ModuleNotFoundError")
_OUR_BUG_IN_TEXT = re.compile(r"\b(" + "|".join(_OUR_BUG_TYPES) + r"):")
OUR_BUG_MIN = 3  # new sessions of one batch failing alike before it is called a bug (fewer: set aside as usual)


def our_bug_type(failure: BaseException | str) -> str | None:
    """The exception type's name when ``failure`` (an exception, or a reason text such as the parser's "... cannot be
    read: TypeError: ...") is one that points at this program's code; else None."""
    if isinstance(failure, BaseException):
        name = type(failure).__name__
        if name in _OUR_BUG_TYPES:
            return name
        failure = str(failure)
    found = _OUR_BUG_IN_TEXT.search(failure or "")
    return found.group(1) if found else None


def check_not_our_bug(site_host: str, destination: str, what: str,
                      failures: list[tuple[str, BaseException | str]]) -> None:
    """Raise one sentence (an ICError: the transfer fails and its cursor stays) when every session of a batch in which
    nothing else went through (``failures``: (lsid, exception or reason)) failed with the same exception type of this
    program's code: setting them all aside would hide a bug and move the cursor past the whole window. Sessions set
    aside by earlier runs do not count (their data was judged bad before); fewer than OUR_BUG_MIN new ones, or
    differing types, are set aside as usual. ``what``: "read" or "stored in destination X"."""
    fresh = [(lsid, f) for lsid, f in failures
             if not _record_path(site_host, lsid, destination).exists()]
    if len(fresh) < OUR_BUG_MIN or len(fresh) < len(failures):
        return
    names = {our_bug_type(f) for _, f in fresh}
    if len(names) != 1 or None in names:
        return
    raise _our_bug(names.pop(), fresh[0][1],
                   f"All {len(fresh)} sessions of a batch from {site_host} could not be {what}")


def check_files_not_our_bug(site_host: str, destination: str, failures: list[tuple[str, BaseException]],
                            stored_ok: int) -> None:
    """The same for recordings: nothing stored this run (``stored_ok`` 0) and OUR_BUG_MIN or more new recordings of
    two or more sessions failed with one exception type of this program's code (``failures``: (lsid, exception))."""
    if stored_ok or len(failures) < OUR_BUG_MIN or len({lsid for lsid, _ in failures}) < 2:
        return
    names = {our_bug_type(e) for _, e in failures}
    if len(names) == 1 and None not in names:
        raise _our_bug(names.pop(), failures[0][1], f"All {len(failures)} recordings from {site_host} could not be "
                                                    f"stored in destination {destination}")


def _our_bug(name: str, first: BaseException | str, what: str) -> ICError:
    if isinstance(first, BaseException):
        log.error("The first of them failed like this (a fault in this program):", exc_info=first)
    detail = " ".join(str(first).split())
    detail = (detail[detail.find(f"{name}:"):] if f"{name}:" in detail else f"{name}: {detail}")[:200]
    return ICError(
        f"{what} because of the same {name}, a fault in this program rather than in their data "
        f"({detail.rstrip('.')}); nothing was set aside and the transfer continues from the same place at its next "
        "run, so please report this error with the log."
    )
