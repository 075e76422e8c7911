"""What `verify` knows besides the listing and the destination: recordings the appliance refused to serve
(remembered per site and destination), sessions the transfer engine set aside (the quarantine), and the sessions the
transfer's next run stores anyway (pending)."""
from __future__ import annotations

import json
import logging

from ic.services.verify_appliance import Listed, _rows
from ic.settings.models import DataType

log = logging.getLogger("ic.verify")


def _memory_key(site_id, dest_id) -> str:
    return f"verify.unavailable.{site_id}.{dest_id}"


def load_unavailable(store, site_id, dest_id) -> set[str]:
    raw = store.get_setting(_memory_key(site_id, dest_id))
    try:
        return set(json.loads(raw)) if raw else set()
    except (ValueError, TypeError):
        return set()


def save_unavailable(store, site_id, dest_id, keys: set[str]) -> None:
    store.set_setting(_memory_key(site_id, dest_id), json.dumps(sorted(keys)) if keys else None)


def pending_lsids(store, client, site, dest_cfg, types: list[str], listing: dict[str, Listed]) -> dict[str, set[str]]:
    """Per data type, the sessions the transfer's next run handles anyway (so not stored yet is not a gap): closed
    sessions in its next window (one listing from its cursor; one per distinct cursor) that it has not done, sessions
    it stored in progress, and sessions still running. Nothing when this site and destination have no transfer."""
    from ic.transfer.engine import EngineOptions
    from ic.transfer.state import TransferState

    overlap = EngineOptions.from_store(store).overlap
    listed: dict[int, set[str]] = {}
    out: dict[str, set[str]] = {}
    for t in types:
        if t == DataType.BACKUP:
            continue
        try:
            st = TransferState.from_json(store.load_state(site.id, dest_cfg.id, t))
        except (ValueError, TypeError, AttributeError):
            continue
        if st.cursor is None:
            continue  # never completed a window: every gap is a gap
        bound = st.end_bound(overlap, 0)
        if bound not in listed:
            listed[bound] = {x.lsid for x in _rows(client, end_time=bound, duration=0)}
        pend = {x for x in listed[bound] if x not in st.done}
        if t == DataType.SESSION:
            pend |= set(st.in_progress) - set(st.done)
            pend |= {x for x, e in listing.items() if not e.ended}
        out[t] = pend
    return out


def quarantined_lsids(site_host: str, destination: str) -> dict[str, str]:
    """lsid -> where its raw XML is kept, for the sessions the engine set aside for this destination."""
    try:
        from ic.transfer.quarantine import list_quarantined
    except ImportError:
        return {}
    try:
        entries = list_quarantined(site_host=site_host)
    except Exception:  # noqa: BLE001 - an unreadable quarantine must not stop verify
        log.warning("The quarantine of %s could not be read; quarantined sessions show as missing.", site_host)
        return {}
    out: dict[str, str] = {}
    for e in entries or ():
        get = e.get if isinstance(e, dict) else (lambda k, _e=e: getattr(_e, k, None))
        lsid, dest = get("lsid"), get("destination")
        if lsid and (dest in (None, "", destination)):
            out[str(lsid)] = str(get("path") or "")
    return out


def expired_lsids(site_host: str, destination: str) -> dict[str, str]:
    """lsid -> what expired and where its XML is kept, for quarantined sessions (or set-aside recordings) that the
    appliance no longer had when the engine asked again: released from the quarantine into its ``expired`` folder."""
    try:
        from ic.transfer.quarantine import list_expired
        entries = list_expired(site_host=site_host)
    except Exception:  # noqa: BLE001 - an unreadable quarantine must not stop verify
        log.warning("The expired quarantine records of %s could not be read.", site_host)
        return {}
    what: dict[str, list[str]] = {}
    kept: dict[str, str] = {}
    for e in entries:
        if e.destination != destination:
            continue
        what.setdefault(e.lsid, []).append(e.file or "session")
        if e.kind is None and e.path.is_file():
            kept[e.lsid] = str(e.path)
    return {lsid: ", ".join(items) + (f"; its XML is kept in {kept[lsid]}" if lsid in kept else "")
            for lsid, items in what.items()}


def engine_unavailable(site_host: str, dest_cfg, listed: set[str] | None) -> set[str]:
    """Keys (verify_compare.unavailable_key) of the recordings the transfer engine found the appliance would not
    serve for this destination; ``listed``: every lsid the appliance still lists (notes of the others are pruned)."""
    from ic.services.verify_compare import unavailable_key
    from ic.transfer import quarantine

    try:
        if listed is not None:
            quarantine.keep_unavailable(site_host, dest_cfg.name, dest_cfg.id, listed)
        return {unavailable_key(kind, lsid, instance)
                for kind, lsid, instance in quarantine.unavailable(site_host, dest_cfg.name, dest_cfg.id)}
    except OSError as exc:
        log.warning("The notes of unavailable recordings of %s could not be read: %s", site_host, exc)
        return set()
