"""A bug in this program (a TypeError in the parser or in the SQL destination's conversion) fails the transfer with
one sentence and keeps its cursor, instead of setting every session of the run aside as if its data were bad; once
the bug is gone the next run stores everything. One session whose data sets off such an error is still set aside.

Real parts: HTTPS simulator, real SQLite; the "bug" is a function of ours patched to raise (the only stand-in)."""
from __future__ import annotations

import pytest

from ic.services.runs import run_schedule
from ic.transfer import quarantine
from ic.transfer.state import TransferState
from tests.helpers import add_schedule, add_site, add_sql, closed_middle, session_rows


def _setup(store, sim, tmp_path):
    url = f"sqlite:///{tmp_path / 'out.db'}"
    site = add_site(store, sim)
    dest = add_sql(store, url)
    add_schedule(store, "B", ("sim", "db", ["session"]))
    store.set_setting("transfer_batch_size", "10")
    return url, site, dest


def _broken(real, only=None):
    def convert(elem, *a, **kw):
        if only is None or elem.get("lsid") == only:
            raise TypeError("unsupported operand type(s) for +: 'int' and 'NoneType'")
        return real(elem, *a, **kw)
    return convert


def _check_failed_then_heals(store, sim, url, site, dest, out, undo, name="TypeError"):
    assert out.status == "failed", out.message()
    text = out.message()
    assert name in text and "fault in this program" in text and "internal error" not in text
    assert quarantine.list_quarantined() == []
    assert TransferState.from_json(store.load_state(site.id, dest.id, "session")).cursor is None
    undo()
    again = run_schedule(store, "B", raise_internal=True)
    assert again.ok, again.message()
    assert set(session_rows(url)) == {s.lsid for s in sim.sessions}
    assert quarantine.list_quarantined() == []


def test_a_parser_bug_fails_the_transfer_instead_of_quarantining_every_session(store, simulator, tmp_path,
                                                                                monkeypatch):
    from ic.sessions import parser

    url, site, dest = _setup(store, simulator, tmp_path)
    monkeypatch.setattr(parser, "session_from_element", _broken(parser.session_from_element))
    out = run_schedule(store, "B", raise_internal=True)
    _check_failed_then_heals(store, simulator, url, site, dest, out, monkeypatch.undo)


def test_a_conversion_bug_in_the_sql_destination_fails_the_transfer(store, simulator, tmp_path, monkeypatch):
    from ic.destinations import sql_schema

    url, site, dest = _setup(store, simulator, tmp_path)
    def check(s, *a, **kw):
        raise AttributeError("'NoneType' object has no attribute 'timestamp'")

    monkeypatch.setattr(sql_schema, "check_storable", check)
    out = run_schedule(store, "B", raise_internal=True)
    _check_failed_then_heals(store, simulator, url, site, dest, out, monkeypatch.undo, "AttributeError")


def test_one_session_that_sets_off_a_type_error_is_still_set_aside(store, simulator, tmp_path, monkeypatch):
    from ic.sessions import parser

    url, site, dest = _setup(store, simulator, tmp_path)
    victim = closed_middle(simulator)
    monkeypatch.setattr(parser, "session_from_element", _broken(parser.session_from_element, only=victim))
    out = run_schedule(store, "B", raise_internal=True)
    assert out.ok, out.message()
    assert set(session_rows(url)) == {s.lsid for s in simulator.sessions} - {victim}
    [entry] = quarantine.list_quarantined()
    assert entry.lsid == victim and "TypeError" in entry.reason


@pytest.mark.parametrize("reason, name", [
    ("Session a in x (line 3) cannot be read: TypeError: bad operand.", "TypeError"),
    ("Session a in x (line 3) cannot be read: ValueError: could not convert string to float: 'inf'.", None),
    ("start_time is out of range", None),
])
def test_our_bug_type_reads_the_parsers_reason(reason, name):
    assert quarantine.our_bug_type(reason) == name
    assert quarantine.our_bug_type(KeyError("x")) == "KeyError"
    assert quarantine.our_bug_type(OverflowError("x")) is None
