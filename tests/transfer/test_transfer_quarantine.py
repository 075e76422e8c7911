"""Quarantine, never wedge: one session that cannot be read or stored is set aside (raw XML kept, ERROR logged,
warning in the result) while the rest of its window goes through and the cursor moves; it is tried again on the
next runs and leaves the quarantine once stored. A destination that is down still fails the transfer.

Real parts: HTTPS to the simulator, real SQLite/PostgreSQL/folder; the poison is injected into the simulator's
session XML (what a real appliance could send)."""
from __future__ import annotations

import json
import re

import pytest

from ic.destinations.sql import SqlDestination
from ic.errors import DestinationError
from ic.services.runs import run_schedule
from ic.transfer import quarantine
from ic.transfer.engine import TransferEngine
from ic.transfer.state import TransferState
from tests.helpers import (
    add_folder, add_schedule, add_site, add_sql, closed_middle, count_kinds, poison, quarantined_then_forgotten, rows,
    session_rows, time_out_of_range,
)


def too_deep(body: bytes) -> bytes:
    return body.replace(b"<session_type>", b"<x>" * 5000 + b"</x>" * 5000 + b"<session_type>", 1)


def bad_char(body: bytes) -> bytes:
    return body.replace(b"<session_type>", b"<session_type>\x01", 1)


@pytest.mark.parametrize("change", [time_out_of_range, too_deep, bad_char],
                         ids=["time-out-of-range", "nesting-too-deep", "bad-char"])
def test_unreadable_session_is_quarantined_and_the_window_goes_through(store, simulator, tmp_path, caplog, change):
    url = f"sqlite:///{tmp_path / 'out.db'}"
    site = add_site(store, simulator)
    dest = add_sql(store, url)
    add_folder(store, tmp_path / "files")
    add_schedule(store, "Q", ("sim", "db", ["session"]), ("sim", "files", ["session", "recordings"]))
    store.set_setting("transfer_batch_size", "10")
    victim = closed_middle(simulator)
    healed = poison(simulator, victim, change)

    out = run_schedule(store, "Q", raise_internal=True)
    assert out.status == "ok", out.errors
    others = {s.lsid for s in simulator.sessions} - {victim}
    assert set(session_rows(url)) == others
    assert count_kinds(tmp_path / "files")["xml"] == len(others)
    # reported: ERROR (the notification mail), a warning naming the lsid, the summary
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR" and victim in r.getMessage()]
    assert len(errors) == 2  # one per destination
    assert all(victim in w for r in out.results for w in r.warnings if "quarantine" in w)
    assert all(r.quarantined == 1 and "1 quarantined" in r.summary() for r in out.results)
    # kept: raw XML once per (site, lsid), a record per destination
    entries = quarantine.list_quarantined(simulator.host)
    assert {(e.lsid, e.destination) for e in entries} == {(victim, "db"), (victim, "files")}
    sql_entry = next(e for e in entries if e.destination == "db")
    assert sql_entry.data_types == ("session",) and sql_entry.attempts == 1 and sql_entry.reason
    if change is time_out_of_range:
        assert sql_entry.field and sql_entry.field in errors[0]  # the parser names the field
    assert sql_entry.path.read_bytes() == simulator.store.session_xml(simulator.session(victim)) or \
        victim.encode() in sql_entry.path.read_bytes()
    assert next(e for e in entries if e.destination == "files").data_types == ("session", "recordings")
    # the cursor moved as if it were done
    st = TransferState.from_json(store.load_state(site.id, dest.id, "session"))
    assert st.cursor is not None and victim not in st.done

    # next run: tried again (still bad): one more attempt, nothing else changes
    simulator.add_sessions(2)
    out = run_schedule(store, "Q", raise_internal=True)
    assert out.status == "ok" and len(session_rows(url)) == len(simulator.sessions) - 1
    assert {e.attempts for e in quarantine.list_quarantined(simulator.host)} == {2}

    # the appliance sends it readable again: stored, out of the quarantine, nothing twice
    healed.clear()
    out = run_schedule(store, "Q", raise_internal=True)
    assert out.status == "ok"
    assert set(session_rows(url)) == {s.lsid for s in simulator.sessions}
    files = tmp_path / "files"
    assert count_kinds(files)["xml"] == len(simulator.sessions)
    if simulator.session(victim).recording:
        assert any(victim in p.name and p.suffix == ".flv" for p in files.iterdir())
    assert quarantine.list_quarantined() == [] and not list(quarantine.root().rglob("*.xml"))
    again = run_schedule(store, "Q", raise_internal=True)
    assert all(r.sessions_stored == 0 and r.files_stored == 0 for r in again.results)


def test_postgresql_integer_out_of_range_quarantines_one_and_stores_the_innocent(store, simulator, tmp_path,
                                                                                 pg_url):
    add_site(store, simulator)
    add_sql(store, pg_url, "pg")
    add_schedule(store, "PG", ("sim", "pg", ["session"]))
    victim = closed_middle(simulator)
    poison(simulator, victim, lambda b: re.sub(rb"<file_transfer_count>\d+<", b"<file_transfer_count>99999999999<", b))
    out = run_schedule(store, "PG", raise_internal=True)
    assert out.status == "ok", out.errors
    assert set(session_rows(pg_url)) == {s.lsid for s in simulator.sessions} - {victim}
    [entry] = quarantine.list_quarantined(simulator.host)
    assert entry.lsid == victim and entry.destination == "pg" and entry.path.is_file()
    assert "range" in entry.reason.lower() or entry.field


def test_session_the_appliance_forgot_is_released_to_expired_and_not_asked_again(store, simulator, tmp_path,
                                                                                 monkeypatch):
    monkeypatch.setattr(quarantine, "CONFIRM_GONE_SECONDS", 0)  # two runs a day apart, without the day
    victim, out = quarantined_then_forgotten(store, simulator, f"sqlite:///{tmp_path / 'out.db'}")
    assert out.ok and any("not returned" in w for w in out.results[0].warnings)  # one miss: asked once more
    out = run_schedule(store, "G", raise_internal=True)
    assert out.ok and any("is gone from" in w for w in out.results[0].warnings)
    assert quarantine.list_quarantined() == []
    [entry] = quarantine.list_expired()
    assert entry.gone and entry.path.is_file()
    before = len(simulator.log)
    assert run_schedule(store, "G", raise_internal=True).ok
    asked = [str(r.get("params")) for r in list(simulator.log)[before:]]
    assert asked and not [p for p in asked if victim in p]  # not asked for again


class _RefusesEverything(SqlDestination):
    """A real SQLite destination whose every write fails the same way (as a full or read-only database would)."""

    def store_sessions(self, site_host, sessions):
        raise DestinationError("Cannot write sessions to SQL destination db: database or disk is full.")


class _RefusesOne(SqlDestination):
    """A real SQLite destination that cannot take one session (a value its storage type cannot hold)."""

    victim = ""

    def store_sessions(self, site_host, sessions):
        sessions = list(sessions)
        if any(s.lsid == self.victim for s in sessions):
            raise ValueError(f"lseq of {self.victim} is out of range for BIGINT")
        return super().store_sessions(site_host, sessions)


def _engine_with(plugin):
    def factory(store_, **kw):
        return TransferEngine(store_, destination_factory=lambda cfg: plugin(cfg.name, cfg.config), **kw)

    return factory


def test_destination_that_fails_every_session_fails_the_transfer_and_quarantines_nothing(store, simulator,
                                                                                          tmp_path):
    add_site(store, simulator)
    add_sql(store, f"sqlite:///{tmp_path / 'out.db'}")
    add_schedule(store, "Full", ("sim", "db", ["session"]))
    out = run_schedule(store, "Full", engine_factory=_engine_with(_RefusesEverything))
    assert out.status == "failed" and "disk is full" in out.errors[0]
    assert quarantine.list_quarantined() == []


def test_destination_refusing_one_session_stores_the_rest(store, simulator, tmp_path):
    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, simulator)
    add_sql(store, url)
    add_schedule(store, "One", ("sim", "db", ["session"]))
    _RefusesOne.victim = closed_middle(simulator)
    out = run_schedule(store, "One", engine_factory=_engine_with(_RefusesOne), raise_internal=True)
    assert out.status == "ok", out.errors
    assert rows(url) == len(simulator.sessions) - 1
    [entry] = quarantine.list_quarantined()
    assert entry.lsid == _RefusesOne.victim and "out of range" in entry.reason
    record = json.loads(next(quarantine.root().rglob("*.json")).read_text())
    assert record["attempts"] == 1 and record["first_seen"].endswith("Z")
    # the destination takes it again: it leaves the quarantine on the next run
    out = run_schedule(store, "One", engine_factory=_engine_with(SqlDestination), raise_internal=True)
    assert out.ok and rows(url) == len(simulator.sessions) and quarantine.list_quarantined() == []


def test_names_are_safe_for_any_host_and_lsid(ic_home):
    long = "x" * 300
    e = quarantine.put("127.0.0.1:8443", long, "db/../x", ["session"], "too long", "lsid", b"<session_list/>")
    assert e.path.is_file() and e.path.parent.parent == quarantine.root() and len(e.path.name) < 120
    [listed] = quarantine.list_quarantined("127.0.0.1:8443")
    assert listed.lsid == long and listed.destination == "db/../x" and listed.field == "lsid"
    quarantine.release("127.0.0.1:8443", long, "db/../x")
    assert quarantine.list_quarantined() == [] and not e.path.exists()


def test_progress_counts_quarantined_sessions_tried_again(store, simulator, tmp_path):
    add_site(store, simulator)
    add_sql(store, f"sqlite:///{tmp_path / 'out.db'}")
    add_schedule(store, "P", ("sim", "db", ["session"]))
    poison(simulator, closed_middle(simulator), time_out_of_range)
    assert run_schedule(store, "P", raise_internal=True).ok
    simulator.add_sessions(3)
    events = []
    assert run_schedule(store, "P", events.append, raise_internal=True).ok
    done = [e for e in events if e.phase == "done"][-1]
    assert done.sessions_done == done.sessions_found >= 4
    assert all(e.sessions_done <= e.sessions_found for e in events if e.sessions_found)


@pytest.mark.parametrize("exc,possible", [
    (ValueError("x"), True), (OverflowError("x"), True), (DestinationError("bad value"), True),
    (KeyError("x"), True), (RecursionError(), True),
    (RuntimeError("crash"), False), (Exception("plain"), False), (KeyboardInterrupt(), False),
])
def test_which_failures_may_be_one_sessions_fault(exc, possible):
    from ic.transfer.apply import session_fault_possible

    assert session_fault_possible(exc) is possible


def test_destination_down_is_never_a_sessions_fault():
    import errno

    from sqlalchemy.exc import DataError, OperationalError

    from ic.errors import Cancelled, ConfigError, DestinationUnavailable
    from ic.transfer.apply import session_fault_possible

    assert not session_fault_possible(DestinationUnavailable("Database db is not reachable."))
    assert not session_fault_possible(OperationalError("INSERT", {}, Exception("connection refused")))
    assert session_fault_possible(DataError("INSERT", {}, Exception("integer out of range")))
    assert not session_fault_possible(Cancelled("x")) and not session_fault_possible(ConfigError("x"))
    assert not session_fault_possible(OSError(errno.ENOSPC, "No space left on device"))
    full = DestinationUnavailable("Could not write x.xml in folder f (No space left on device).")
    full.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert not session_fault_possible(full)
    long_name = DestinationUnavailable("Could not write x.xml in folder f (File name too long).")
    long_name.__cause__ = OSError(errno.ENAMETOOLONG, "File name too long")
    assert session_fault_possible(long_name)
