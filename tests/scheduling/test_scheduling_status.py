"""`status`, `history`, `schedule add` saying when the first slot is, the run history table and the schema 1 -> 2
migration (last_slot)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from ic.cli import run_cli
from ic.cli.status_cmd import schedule_rows, status_lines
from ic.scheduling import heartbeat
from ic.services.history import RunRecord, describe_run, recent_runs, record_run, when_words
from ic.services.runs import tick
from ic.settings.models import ScheduleConfig
from tests.helpers import rows

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")


pytestmark = pytest.mark.usefixtures("restore_logging")  # the CLI runs in-process


NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)  # 11:00 in Berlin


@pytest.mark.parametrize("record,words", [
    (RunRecord("N", NOW.replace(hour=0), NOW, "ok", "slot", sessions=412, recordings=37, backups=1),
     "Today 02:00: 412 sessions, 37 recordings and 1 backup copied; nothing failed"),
    (RunRecord("N", NOW - timedelta(days=1, hours=7), None, "ok", "catch-up", sessions=1),
     "Yesterday 04:00 (catch-up): 1 session copied; nothing failed"),
    (RunRecord("N", NOW, None, "failed", "run now", sessions=3, failed=1, message="sim -> db: Cannot reach sim."),
     "Today 11:00 (run now): 3 sessions copied; 1 transfer failed: sim -> db: Cannot reach sim."),
    (RunRecord("N", NOW - timedelta(days=3), None, "cancelled", "slot"),
     "Sunday 11:00: cancelled; the next run continues where it stopped"),
    (RunRecord("N", NOW - timedelta(days=30), None, "internal error", "slot"),
     "2026-05-11 11:00: stopped with an internal error (see the log); it is tried again at the next check"),
    (RunRecord("a -> b", NOW, None, "ok", "export", sessions=2, in_progress=1),
     "Today 11:00 (export): 2 sessions and 1 in progress copied; nothing failed"),
])
def test_describe_run_in_words(record, words):
    assert describe_run(record, NOW, BERLIN) == words


def test_when_words():
    assert when_words(NOW + timedelta(days=1), NOW, BERLIN) == "Tomorrow 11:00"
    assert when_words(NOW + timedelta(days=2), NOW, BERLIN) == "Friday 11:00"


def test_history_keeps_the_newest_per_schedule_newest_first(store):
    for i in range(7):
        record_run(store, RunRecord("A", NOW + timedelta(minutes=i), sessions=i), keep=5)
    record_run(store, RunRecord("B", NOW, sessions=99), keep=5)
    runs = recent_runs(store, "A")
    assert [r.sessions for r in runs] == [6, 5, 4, 3, 2]
    assert recent_runs(store, limit=2)[0].sessions == 6 and len(recent_runs(store)) == 6
    assert runs[0].started == NOW + timedelta(minutes=6) and runs[0].started.tzinfo is not None


def test_every_kind_of_run_is_recorded_with_its_trigger(store, sim_db, simulator, capsys):
    assert run_cli(["schedule", "add", "Q", "--site", "sim", "--destination", "db", "--every", "15m"]) == 0
    assert run_cli(["run", "Q", "--quiet"]) == 0
    tick(store)
    start = datetime.now(UTC) - timedelta(days=30)
    assert run_cli(["export", "--site", "sim", "--destination", "db", "--start", start.isoformat(), "--duration",
                    "1d", "--quiet"]) == 0
    runs = recent_runs(store)
    assert [r.trigger for r in runs] == ["export", "slot", "run now"]
    assert runs[2].sessions + runs[2].in_progress == rows(sim_db) and runs[2].status == "ok" and runs[2].slot is None
    assert runs[1].slot is not None and runs[1].schedule == "Q" and runs[0].schedule == "sim -> db"
    capsys.readouterr()
    assert run_cli(["history", "Q"]) == 0
    out = capsys.readouterr().out
    assert "(run now)" in out and "nothing failed" in out and "export" not in out
    assert run_cli(["history", "Nope"]) == 1
    assert "no schedule named 'Nope'" in capsys.readouterr().err


def test_status_shows_scheduler_last_program_run_last_and_next_runs(store, sim_db, capsys):
    store.save_schedule(ScheduleConfig("Nightly", 86400, at_time="02:00"), now=NOW)
    store.save_schedule(ScheduleConfig("Quarter", 900), now=NOW)
    store.save_schedule(ScheduleConfig("Off", 3600, enabled=False), now=NOW)
    lines = status_lines(store, NOW, BERLIN)
    assert lines == ["Scheduler: not running.", "Last Program Run: never"]
    by_name = {r[0]: r for r in schedule_rows(store, NOW, BERLIN)}
    assert by_name["Nightly"][1:] == ["1 day at 02:00", "never", "Tomorrow 02:00", "-"]
    assert by_name["Quarter"][2:4] == ["never", "now (due)"]
    assert by_name["Off"][3] == "disabled"

    heartbeat.beat(store, "this-host/abc", now=NOW - timedelta(minutes=1), started=NOW - timedelta(hours=2), pid=4242,
                   program_run=True)
    record_run(store, RunRecord("Nightly", NOW - timedelta(hours=7), NOW, "ok", "slot", sessions=5, host="hostb"))
    lines = status_lines(store, NOW, BERLIN)
    assert lines[0] == "Scheduler: running on this-host (process 4242) since Today 09:00, last check Today 10:59."
    assert lines[1] == "Last Program Run: Today 10:59"
    assert schedule_rows(store, NOW, BERLIN)[0][2] == "Today 04:00: 5 sessions copied; nothing failed"

    from ic.scheduling.lease import Lease

    assert Lease(store, "schedule:Nightly", "hostb/123", clock=lambda: NOW).acquire()
    assert {r[0]: r[4] for r in schedule_rows(store, NOW, BERLIN)}["Nightly"] == "running on hostb"
    assert "not running (last seen on this-host" in status_lines(store, NOW + timedelta(minutes=10), BERLIN)[0]

    capsys.readouterr()
    assert run_cli(["status", "--history"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Scheduler: ") and "Last Program Run:" in out
    assert "SCHEDULE" in out and "NEXT RUN" in out and "Nightly" in out and "5 sessions copied" in out


def test_schedule_add_with_a_time_waits_for_its_slot_and_offers_run_now(store, sim_db, capsys):
    assert run_cli(["schedule", "add", "Nightly", "--site", "sim", "--destination", "db", "--every", "1d",
                    "--at", "02:00"]) == 0
    out = capsys.readouterr().out
    assert "Its first run: " in out and "02:00." in out and "`run Nightly`" in out
    created = store.get_schedule("Nightly").created
    assert created is not None and store.get_schedule("Nightly").last_slot is None
    assert tick(store) == []  # not at once, whatever the hour: it waits for 02:00
    assert rows(sim_db) == 0 if _table_exists(sim_db) else True

    assert run_cli(["schedule", "add", "Now", "--site", "sim", "--destination", "db", "--every", "1d",
                    "--at", "02:00", "--run-now"]) == 0
    out = capsys.readouterr().out
    assert "Schedule Now finished" in out and rows(sim_db) > 0
    assert store.get_schedule("Now").last_slot is None  # Run Now served no slot: it still waits for 02:00
    assert [r.trigger for r in recent_runs(store, "Now")] == ["run now"]
    assert tick(store) == []


def _table_exists(url: str) -> bool:
    from sqlalchemy import create_engine, inspect

    eng = create_engine(url)
    try:
        return inspect(eng).has_table("session")
    finally:
        eng.dispose()


def _reopened(store, *statements: str):
    """Run ``statements`` on the settings database (to make it look older), close it and open it again."""
    from ic.settings.store import SettingsStore

    with store.engine.begin() as conn:
        for sql in statements:
            conn.execute(text(sql))
    store.close()
    return SettingsStore(store.url)


def test_schema_1_database_is_migrated_keeping_last_run_as_served(tmp_path, ic_home):
    from ic.settings.store import SettingsStore

    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = SettingsStore(url)
    store.save_schedule(ScheduleConfig("Old", 86400, at_time="02:00"))
    store = _reopened(store, "ALTER TABLE ic_schedule DROP COLUMN last_slot",  # a schema 1 database, run last night
                      "UPDATE ic_schedule SET last_run = '2026-06-10 00:00:40.000000'",
                      "UPDATE ic_meta SET value = '1' WHERE key = 'schema_version'")
    try:
        assert store.schema_version() == 3
        old = store.get_schedule("Old")
        assert old.last_slot == datetime(2026, 6, 10, 0, 0, 40)
        from ic.scheduling.due import next_run

        assert next_run(old, NOW, BERLIN) == datetime(2026, 6, 11, 0, 0, tzinfo=UTC)
    finally:
        store.close()


def test_a_last_run_in_the_future_never_stops_a_schedule_and_is_logged(store, caplog):
    """Issue 10 item 4: the host clock was ahead during a run, then corrected."""
    import logging

    from ic.services.runs import due_runs

    store.save_schedule(ScheduleConfig("Q", 900), now=NOW)
    store.mark_schedule_run("Q", NOW + timedelta(days=3), "ok")  # Last Run three days ahead
    caplog.set_level(logging.WARNING, logger="ic")
    outcomes = tick(store, now=NOW)
    assert [o.status for o in outcomes] == ["ok"]
    assert "Last Run 2026-06-13 09:00 UTC is in the future" in caplog.text
    store.mark_schedule_run("Q", NOW + timedelta(days=3), "ok", slot=NOW + timedelta(days=3))  # and its slot too
    assert [name for name, owed in due_runs(store, NOW + timedelta(minutes=1))] == ["Q"]
    assert [o.status for o in tick(store, now=NOW + timedelta(minutes=1))] == ["ok"]
    assert store.get_schedule("Q").last_slot == datetime(2026, 6, 10, 9, 0)  # back on the real clock's grid
    assert tick(store, now=NOW + timedelta(minutes=2)) == []
    assert [o.slot for o in tick(store, now=NOW + timedelta(minutes=15))] == [NOW + timedelta(minutes=15)]


def test_schema_2_database_moves_a_never_run_schedules_creation_out_of_last_slot(tmp_path, ic_home):
    from ic.settings.store import SettingsStore

    url = f"sqlite:///{tmp_path / 'v2.db'}"
    store = SettingsStore(url)
    store.save_schedule(ScheduleConfig("Fresh", 86400, at_time="02:00"), now=NOW)
    store.save_schedule(ScheduleConfig("Ran", 86400, at_time="03:00"), now=NOW)
    store.mark_schedule_run("Ran", datetime(2026, 6, 11, 1, 0, 5), "ok", slot=datetime(2026, 6, 11, 1, 0))
    store = _reopened(store, "UPDATE ic_schedule SET last_slot = created WHERE name = 'Fresh'",  # schema 2 kept the
                      "ALTER TABLE ic_schedule DROP COLUMN created",  # creation time in last_slot
                      "UPDATE ic_meta SET value = '2' WHERE key = 'schema_version'")
    try:
        assert store.schema_version() == 3
        fresh, ran = store.get_schedule("Fresh"), store.get_schedule("Ran")
        assert (fresh.last_slot, fresh.created) == (None, NOW.replace(tzinfo=None))
        assert (ran.last_slot, ran.created) == (datetime(2026, 6, 11, 1, 0), None)
    finally:
        store.close()
