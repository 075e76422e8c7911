"""`schedule add|add-transfer|list|remove`, `run`, `tick` and `export` through the CLI entry point (in-process)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ic.cli import run_cli
from ic.cli.run_cmd import TerminalProgress, parse_duration
from ic.services.runs import due_schedules, parse_data_types, tick
from ic.transfer.progress import ProgressEvent
from tests.helpers import add_folder, add_sql, rows, session_rows


pytestmark = pytest.mark.usefixtures("restore_logging")  # the CLI runs in-process


@pytest.fixture
def setup(sim_db, store, tmp_path):
    add_folder(store, tmp_path / "files")
    return sim_db


def test_add_list_add_transfer_remove(store, setup, capsys):
    assert run_cli(["schedule", "add", "Nightly", "--site", "sim", "--destination", "db", "--data", "session",
                    "--site", "sim", "--destination", "files", "--data", "session,recordings,backup",
                    "--every", "1d", "--at", "2:00"]) == 0
    assert "2 transfer(s) every 1 day at 02:00" in capsys.readouterr().out
    sched = store.get_schedule("Nightly")
    assert sched.every_seconds == 86400 and sched.at_time == "02:00"
    assert [t.data_types for t in sched.transfers] == [["session"], ["session", "recordings", "backup"]]

    assert run_cli(["schedule", "add-transfer", "Nightly", "--site", "sim", "--destination", "files",
                    "--data", "shell"]) == 0
    assert len(store.get_schedule("Nightly").transfers) == 3

    capsys.readouterr()
    assert run_cli(["schedule", "list"]) == 0
    out = capsys.readouterr().out
    assert "SCHEDULE NAME" in out and "TRANSFERS" in out and "PERIOD" in out and "LAST RUN" in out
    line = next(x for x in out.splitlines() if x.startswith("Nightly"))
    assert "3" in line and "1 day at 02:00" in line and "never" in line
    assert "NEXT RUN" in out and ("Tomorrow 02:00" in line or "Today 02:00" in line)  # waits for its first slot

    assert run_cli(["schedule", "remove", "Nightly"]) == 0
    capsys.readouterr()
    run_cli(["schedule", "list"])
    assert "No schedules yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--every", "30s"], "must look like 15m"),
        (["--every", "8d"], "between 1 minute and 7 days"),
        (["--every", "2h", "--at", "02:00"], "whole number of days"),
        (["--every", "1h", "--data", "videos"], "Unknown data type 'videos'"),
        (["--every", "1h", "--data", "recordings"], "database"),
        (["--every", "1h", "--site", "sim"], "as many --destination as --site"),
    ],
)
def test_add_rejects_bad_input_with_one_sentence(store, setup, capsys, argv, message):
    base = ["schedule", "add", "Bad", "--site", "sim", "--destination", "db"]
    assert run_cli(base + argv) == 1
    assert message in capsys.readouterr().err
    assert store.list_schedules() == []


def test_run_now_then_tick_respects_due(store, setup, simulator, capsys):
    run_cli(["schedule", "add", "Q", "--site", "sim", "--destination", "db", "--every", "15m"])
    assert run_cli(["run", "Q", "--quiet"]) == 0
    assert "Schedule Q finished" in capsys.readouterr().out
    assert rows(setup) == len(simulator.sessions)
    last = store.get_schedule("Q").last_run
    assert last is not None

    assert store.get_schedule("Q").last_slot is None  # Run Now never serves a slot
    assert store.get_setting("last_program_run")  # but it is a program run, as in the window (not "Never")

    simulator.add_sessions(2)
    assert run_cli(["tick", "--quiet"]) == 0  # the schedule's first slot: served now
    assert "Schedule Q finished" in capsys.readouterr().out
    assert rows(setup) == len(simulator.sessions)
    served = store.get_schedule("Q").last_slot
    assert served is not None and served <= datetime.utcnow() and served.minute % 15 == 0 and served.second == 0
    assert store.get_setting("last_program_run")

    simulator.add_sessions(2)
    assert run_cli(["tick", "--quiet"]) == 0  # same slot: nothing to do
    assert capsys.readouterr().out == ""
    assert rows(setup) == len(simulator.sessions) - 2

    outcomes = tick(store, now=served + timedelta(minutes=15))
    assert [(o.status, o.trigger) for o in outcomes] == [("ok", "slot")]
    assert rows(setup) == len(simulator.sessions)
    assert store.get_schedule("Q").last_slot == served + timedelta(minutes=15)
    assert store.get_schedule("Q").last_run >= last


def test_tick_runs_never_run_and_skips_disabled(store, setup):
    run_cli(["schedule", "add", "A", "--site", "sim", "--destination", "db", "--every", "1h"])
    run_cli(["schedule", "add", "B", "--site", "sim", "--destination", "db", "--every", "1h", "--disabled"])
    assert due_schedules(store) == ["A"]
    now = datetime(2030, 1, 1)
    store.mark_schedule_run("A", now - timedelta(minutes=59, seconds=40), "ok", slot=now - timedelta(hours=1))
    assert due_schedules(store, now) == ["A"]  # the 00:00 slot is not served
    store.mark_schedule_run("A", now - timedelta(minutes=50), "ok", slot=now)
    assert due_schedules(store, now) == []
    assert due_schedules(store, now + timedelta(minutes=59)) == []
    assert due_schedules(store, now + timedelta(minutes=60)) == ["A"]


def test_run_unknown_schedule_is_one_sentence(store, capsys):
    assert run_cli(["run", "Nope"]) == 1
    assert "There is no schedule named 'Nope'" in capsys.readouterr().err


def test_run_failing_appliance_exits_1_and_counts_as_run(store, tmp_path, capsys, monkeypatch):
    from ic.settings.models import SiteConfig

    store.save_site(SiteConfig("gone", "127.0.0.1:9", "id", None, "rs"), client_secret="s")  # nothing listens
    add_sql(store, f"sqlite:///{tmp_path / 'out.db'}")
    run_cli(["schedule", "add", "F", "--site", "gone", "--destination", "db", "--every", "1h"])
    import ic.appliance.factory as factory

    real = factory.ApplianceClient
    monkeypatch.setattr(factory, "ApplianceClient", lambda **kw: real(**{**kw, "max_retries": 0, "timeout": 5}))
    assert run_cli(["run", "F", "--quiet"]) == 1
    assert "Schedule F failed" in capsys.readouterr().out
    sched = store.get_schedule("F")
    assert sched.last_run is not None and sched.last_status.startswith("failed: gone -> db:")


def test_export_by_lsid_cli(store, setup, simulator, capsys):
    lsid = next(s.lsid for s in simulator.sessions if s.end_time)
    assert run_cli(["export", "--site", "sim", "--destination", "db", "--lsid", lsid, "--quiet"]) == 0
    assert "1 session(s)" in capsys.readouterr().out
    assert set(session_rows(setup)) == {lsid}
    assert run_cli(["export", "--site", "sim", "--destination", "db"]) == 1
    assert "--start" in capsys.readouterr().err


def test_data_type_and_duration_parsing():
    assert parse_data_types("recordings, session,session-data") == ["session", "recordings"]
    assert parse_data_types(["shell", "backup,smsr"]) == ["smsr", "shell", "backup"]
    assert parse_duration("1d") == 86400 and parse_duration("30m") == 1800 and parse_duration("0") == 0


def test_progress_bar_only_on_a_terminal():
    import io

    class Tty(io.StringIO):
        def isatty(self):
            return True

    ev = ProgressEvent("sim -> db", "sessions", sessions_found=10, sessions_done=5, eta_seconds=65)
    tty, plain = Tty(), io.StringIO()
    for stream in (tty, plain):
        p = TerminalProgress(stream=stream)
        p(ev)
        p(ProgressEvent("sim -> db", "done", sessions_found=10, sessions_done=10, message="10 session(s)"))
        p.close()
    assert "\r" in tty.getvalue() and "[##########" in tty.getvalue() and "ETA 1:05" in tty.getvalue()
    assert "\r" not in plain.getvalue()
    assert plain.getvalue().splitlines() == ["sim -> db: sessions", "sim -> db: done - 10 session(s)"]


def test_bad_engine_setting_is_a_failed_but_complete_run(store, setup, capsys):
    run_cli(["schedule", "add", "S", "--site", "sim", "--destination", "db", "--every", "1h"])
    store.set_setting("transfer_batch_size", "fifty")
    assert run_cli(["run", "S", "--quiet"]) == 1
    assert "transfer_batch_size must be a number" in capsys.readouterr().out
    sched = store.get_schedule("S")
    assert sched.last_run is not None and sched.last_status.startswith("failed:")


def test_edit_changes_period_time_and_state_and_keeps_transfers(store, setup, capsys):
    assert run_cli(["schedule", "add", "Nightly", "--site", "sim", "--destination", "db", "--every", "1d",
                    "--at", "02:00"]) == 0
    capsys.readouterr()
    assert run_cli(["schedule", "edit", "Nightly", "--at", "03:30", "--disable"]) == 0
    assert "every 1 day at 03:30 (disabled)" in capsys.readouterr().out
    sched = store.get_schedule("Nightly")
    assert (sched.at_time, sched.enabled, len(sched.transfers)) == ("03:30", False, 1)

    assert run_cli(["schedule", "edit", "Nightly", "--every", "30m", "--at", "", "--enable", "--rename", "Often"]) == 0
    sched = store.get_schedule("Often")
    assert (sched.every_seconds, sched.at_time, sched.enabled, len(sched.transfers)) == (1800, None, True, 1)

    capsys.readouterr()
    assert run_cli(["schedule", "edit", "Often"]) == 1  # nothing to change: one sentence naming the options
    assert "--rename, --every, --at" in capsys.readouterr().err
    assert run_cli(["schedule", "edit", "Missing", "--at", "01:00"]) == 1
