"""Quarantine records are files a person may open and edit ("the files stay for a person"): odd values in them (a
word for a number, a string for a list, a record that is not JSON at all) never stop a transfer; the record is
still tried again and released once its session is stored.

Real parts: HTTPS simulator, real SQLite, real files in the quarantine folder."""
from __future__ import annotations

import json

from ic.services.runs import run_schedule
from ic.transfer import quarantine
from tests.helpers import add_schedule, add_site, add_sql, closed_middle, session_rows


def test_odd_records_are_read_tried_again_and_released(store, simulator, tmp_path):
    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, simulator)
    add_sql(store, url)
    add_schedule(store, "Q", ("sim", "db", ["session"]))
    victim = closed_middle(simulator)
    entry = quarantine.put(simulator.host, victim, "db", ["session"], "bad", raw=b"<session/>")
    folder = entry.path.parent
    record = folder / f"{victim}--db.json"
    record.write_text(json.dumps({"lsid": victim, "site_host": simulator.host, "destination": "db",
                                  "data_types": "session", "attempts": "many", "last_tried": 5,
                                  "missing_runs": "x", "first_seen": 7, "destination_id": "one"}))
    (folder / "junk--db.json").write_text("not json {")
    (folder / "list--db.json").write_text("[1, 2]")
    (folder / "num--db.json").write_text(json.dumps({"lsid": 12, "site_host": simulator.host}))
    [read] = quarantine.list_quarantined()
    assert read.lsid == victim and read.data_types == ("session",) and read.attempts == 0
    assert [e.lsid for e in quarantine.pending(simulator.host, "db", limit=5)] == [victim]

    out = run_schedule(store, "Q", raise_internal=True)
    assert out.ok, out.message()
    assert victim in session_rows(url)  # tried again by lsid and stored (the simulator sends it readable)
    assert quarantine.list_quarantined() == []
