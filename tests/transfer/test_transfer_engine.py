"""Transfer engine against the simulator (real HTTPS, real SQLite/PostgreSQL, real folder): counts, incremental
runs, clock skew, in-progress sessions, faults, cancel, failures and the last-run rule, one-off exports."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from ic.errors import ApplianceAPIError, Cancelled, DestinationUnavailable
from ic.services.runs import export, run_schedule
from ic.settings.models import SiteConfig
from ic.transfer.engine import TransferEngine
from tests.helpers import (
    PlainDestination, add_folder, add_schedule, add_site, add_sql, count_kinds, expected_files, fast_engine, rows,
    session_rows, snapshot,
)

ALL_FILES = ["session", "recordings", "smsr", "shell", "backup"]


# --- tests ---------------------------------------------------------------------------------------------------------
def test_everything_lands_once_and_second_run_adds_nothing(store, simulator, tmp_path):
    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, simulator)
    add_sql(store, url)
    add_folder(store, tmp_path / "files")
    add_schedule(store, "All", ("sim", "db", ["session"]), ("sim", "files", ALL_FILES))
    events = []
    first = run_schedule(store, "All", events.append, raise_internal=True)
    assert first.ok, first.message()
    assert rows(url) == len(simulator.sessions) == 50
    files = snapshot(tmp_path / "files")
    assert count_kinds(tmp_path / "files") == expected_files(simulator)
    assert sum(n.endswith(".nsb") for n in files) == 1
    # the recordings are the simulator's bytes
    rec = next(s for s in simulator.sessions if s.recording and s.end_time)
    assert simulator.recording_bytes("recordings", rec.lsid) in files.values()
    # progress events: phases in order, counts add up
    done = [e for e in events if e.phase == "done"]
    assert len(done) == 2 and done[0].sessions_done == done[0].sessions_found == 50
    assert done[1].files_done == done[1].files_found > 0 and done[1].bytes > 0
    sched = store.get_schedule("All")
    assert sched.last_run is not None and sched.last_status == "ok"

    second = run_schedule(store, "All", raise_internal=True)
    assert second.ok
    assert rows(url) == 50
    again = snapshot(tmp_path / "files")
    assert {n for n in again if not n.endswith(".nsb")} == {n for n in files if not n.endswith(".nsb")}
    assert sum(n.endswith(".nsb") for n in again) >= 1  # a backup per run (name carries the time)
    assert second.results[1].files_stored == 0 and second.results[0].sessions_stored == 0


@pytest.mark.parametrize("offset", [-600, 600], ids=["appliance-behind", "appliance-ahead"])
def test_appliance_clock_ten_minutes_off_loses_nothing(store, make_simulator, tmp_path, offset):
    sim = make_simulator(sessions=60, clock_offset=offset)
    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, sim)
    add_sql(store, url)
    add_schedule(store, "Skew", ("sim", "db", ["session"]))
    assert run_schedule(store, "Skew", raise_internal=True).ok
    assert rows(url) == 60
    new = sim.add_sessions(7)  # end "now" on the appliance clock, 10 minutes off the host clock
    assert run_schedule(store, "Skew", raise_internal=True).ok
    assert rows(url) == 67 and set(session_rows(url)) >= {s.lsid for s in new}


def test_in_progress_sessions_are_fetched_again_until_they_end(store, simulator, tmp_path):
    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, simulator)
    add_sql(store, url)
    add_folder(store, tmp_path / "files")
    add_schedule(store, "Live", ("sim", "db", ["session"]), ("sim", "files", ["session", "recordings"]))
    assert run_schedule(store, "Live", raise_internal=True).ok
    running = [s for s in simulator.sessions if s.end_time is None]
    assert running
    before = session_rows(url)
    assert all(before[s.lsid] is None for s in running)
    xml_before = snapshot(tmp_path / "files")
    ended = simulator.end_session(running[0].lsid)
    simulator.add_sessions(3)
    out = run_schedule(store, "Live", raise_internal=True)
    assert out.ok
    after = session_rows(url)
    assert after[ended.lsid] is not None
    assert all(after[s.lsid] is None for s in running[1:])
    assert len(after) == len(simulator.sessions)
    files = snapshot(tmp_path / "files")
    assert count_kinds(tmp_path / "files")["xml"] == len(simulator.sessions)  # replaced, not numbered
    changed = [n for n in files if n in xml_before and files[n] != xml_before[n]]
    assert len(changed) == 1 and ended.lsid in changed[0]
    assert b"end_time" in files[changed[0]]
    if ended.recording:
        assert any(ended.lsid in n and not n.endswith(".xml") for n in files)


def test_every_fault_switch_on_still_exact(store, make_simulator, tmp_path, pg_url):
    sim = make_simulator(sessions=120, seed=11, rate_per_second=200)
    sim.faults.rate_limit = 7
    sim.faults.retry_after = 0  # keep the test quick; the client still has to retry every 7th request
    sim.faults.error_5xx_burst = 2
    sim.faults.drop_mid_body = 2
    sim.faults.evict_tokens = True
    sim.faults.truncated_xml = 1
    sim.faults.error_documents = True
    lite = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, sim)
    add_sql(store, lite, "lite")
    add_sql(store, pg_url, "pg")
    add_folder(store, tmp_path / "files")
    add_schedule(store, "Faulty", ("sim", "lite", ["session"]), ("sim", "pg", ["session"]),
                 ("sim", "files", ["session", "recordings", "shell", "smsr"]))
    store.set_setting("transfer_batch_size", "25")
    for _ in range(3):  # a fault may fail one run (complete + logged); the next run continues
        if run_schedule(store, "Faulty", engine_factory=fast_engine, raise_internal=True).ok:
            break
    else:
        pytest.fail("three runs did not get through the faults")
    assert sum(sim.stats["faults"].values()) >= 5
    assert rows(lite) == rows(pg_url) == 120
    assert rows(lite, "session_event") == rows(pg_url, "session_event") > 0
    assert count_kinds(tmp_path / "files") == expected_files(sim)
    before = snapshot(tmp_path / "files")
    sim.faults.rate_limit = 5
    assert run_schedule(store, "Faulty", engine_factory=fast_engine, raise_internal=True).ok
    assert snapshot(tmp_path / "files") == before and rows(pg_url) == 120


def test_expired_recordings_are_warned_and_not_retried(store, simulator, tmp_path, caplog):
    simulator.faults.expired_recordings = True
    add_site(store, simulator)
    add_folder(store, tmp_path / "files")
    add_schedule(store, "Rec", ("sim", "files", ["recordings"]))
    out = run_schedule(store, "Rec", raise_internal=True)
    assert out.ok
    expected = sum(1 for s in simulator.sessions if s.recording and s.end_time)
    assert out.results[0].files_skipped == expected and out.results[0].files_stored == 0
    assert "is not available" in caplog.text
    simulator.faults.expired_recordings = False
    assert run_schedule(store, "Rec", raise_internal=True).results[0].files_stored == 0


def test_cancel_mid_run_then_resume_is_exact(store, make_simulator, tmp_path):
    sim = make_simulator(sessions=150)
    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, sim)
    add_folder(store, tmp_path / "files")
    add_schedule(store, "C", ("sim", "files", ["session", "recordings"]))
    store.set_setting("transfer_batch_size", "20")
    cancel = threading.Event()

    def listener(ev):
        if ev.sessions_done >= 40:
            cancel.set()

    out = run_schedule(store, "C", listener, cancel, raise_internal=True)
    assert out.status == "cancelled"
    sched = store.get_schedule("C")
    assert sched.last_run is None and sched.last_status == "cancelled"
    partial = count_kinds(tmp_path / "files")["xml"]
    assert 0 < partial < 150
    assert run_schedule(store, "C", raise_internal=True).ok
    assert count_kinds(tmp_path / "files") == {**expected_files(sim), "smsr": 0, "shell": 0}
    del url


def test_unreachable_appliance_marks_run_complete_but_failed(store, tmp_path, caplog):
    store.save_site(SiteConfig("gone", "127.0.0.1:9", "id", None, "rs"), client_secret="s")
    add_sql(store, f"sqlite:///{tmp_path / 'out.db'}")
    add_schedule(store, "Down", ("gone", "db", ["session"]))
    store.set_setting("transfer_batch_size", "10")
    from ic.transfer import engine as engine_mod

    def quick_client(store_, site):
        from ic.appliance import client_for_site

        return client_for_site(store_, site, max_retries=0, timeout=5)

    def factory(store_, **kw):
        return TransferEngine(store_, client_factory=quick_client, **kw)

    out = run_schedule(store, "Down", engine_factory=factory, raise_internal=True)
    assert out.status == "failed"
    sched = store.get_schedule("Down")
    assert sched.last_run is not None and sched.last_status.startswith("failed:")
    assert any(r.levelname == "ERROR" and "Down" in r.getMessage() for r in caplog.records)
    del engine_mod


class _BuggyDestination(PlainDestination):
    """A plugin with a bug: an unexpected exception is an internal error, not an outside failure."""

    type_name = "buggy"
    display_name = "Buggy"

    def store_sessions(self, site_host, sessions):
        raise ZeroDivisionError("bug")


class _DownDestination(_BuggyDestination):
    def store_sessions(self, site_host, sessions):
        raise DestinationUnavailable("Database db is not reachable; check that the server is running.")


@pytest.mark.parametrize("plugin,status,keeps_last_run", [(_BuggyDestination, "internal error", True),
                                                          (_DownDestination, "failed", False)])
def test_last_run_rule(store, simulator, tmp_path, plugin, status, keeps_last_run):
    add_site(store, simulator)
    add_sql(store, f"sqlite:///{tmp_path / 'out.db'}")
    add_schedule(store, "R", ("sim", "db", ["session"]))
    earlier = datetime(2026, 1, 1, 0, 0)
    store.mark_schedule_run("R", earlier, "ok")

    def factory(store_, **kw):
        return TransferEngine(store_, destination_factory=lambda cfg: plugin(cfg.name, cfg.config), **kw)

    out = run_schedule(store, "R", engine_factory=factory)
    assert out.status == status
    sched = store.get_schedule("R")
    assert (sched.last_run == earlier) is keeps_last_run
    assert sched.last_status.startswith(status)


def test_export_by_lsid_and_window_leaves_schedule_state_alone(store, simulator, tmp_path):
    url = f"sqlite:///{tmp_path / 'out.db'}"
    site = add_site(store, simulator)
    dest = add_sql(store, url)
    one = next(s for s in simulator.sessions if s.end_time)
    res = export(store, "sim", "db", ["session"], lsid=one.lsid)
    assert res.sessions_stored == 1 and set(session_rows(url)) == {one.lsid}
    starts = sorted(s.start_time for s in simulator.sessions)
    start = datetime.fromtimestamp(starts[10], tz=timezone.utc)
    window = starts[29] - starts[10]
    res = export(store, "sim", "db", ["session"], start=start, duration_seconds=window)
    want = {s.lsid for s in simulator.sessions if starts[10] <= s.start_time <= starts[29]}
    assert want <= set(session_rows(url)) and len(session_rows(url)) <= len(want) + 1
    assert store.load_state(site.id, dest.id, "session") is None


def test_export_of_an_unknown_session_id_is_a_clear_error(store, simulator, tmp_path):
    add_site(store, simulator)
    add_sql(store, f"sqlite:///{tmp_path / 'out.db'}")
    with pytest.raises(ApplianceAPIError, match=r"has no session with ID 0123nosuchsession; check the session ID\."):
        export(store, "sim", "db", ["session"], lsid="0123nosuchsession")


def test_cancel_before_start_raises_cancelled(store, simulator, tmp_path):
    add_site(store, simulator)
    add_sql(store, f"sqlite:///{tmp_path / 'out.db'}")
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        export(store, "sim", "db", ["session"], lsid=simulator.sessions[0].lsid, cancel=cancel)


def test_malformed_details_keep_what_arrived_and_fail_complete(store, simulator, tmp_path):
    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, simulator)
    add_sql(store, url)
    add_schedule(store, "M", ("sim", "db", ["session"]))
    store.set_setting("transfer_batch_size", "20")
    armed = []

    def listener(ev):  # listings done: every detail document of this batch comes back cut short
        if ev.phase == "sessions" and not armed:
            armed.append(True)
            simulator.faults.truncated_xml = 10  # >= 3 for batch 1 plus the prefetched batch 2

    out = run_schedule(store, "M", listener, raise_internal=True)
    assert out.status == "failed" and "malformed session details 3 times" in out.errors[0]
    sched = store.get_schedule("M")
    assert sched.last_run is not None and sched.last_status.startswith("failed:")  # appliance-side: complete
    assert 0 < rows(url) < 20  # the sessions before each break were stored
    simulator.faults.truncated_xml = 0
    assert run_schedule(store, "M", raise_internal=True).ok
    assert rows(url) == len(simulator.sessions)


def test_privileged_remote_access_site(store, make_simulator, tmp_path):
    sim = make_simulator(sessions=40, product="pra", seed=9)
    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, sim)
    add_sql(store, url)
    add_folder(store, tmp_path / "files")
    # no "smsr": Show My Screen for a PRA site is refused when the schedule is saved (issue 14 item 7)
    add_schedule(store, "P", ("sim", "db", ["session"]), ("sim", "files", ["session", "recordings", "shell"]))
    assert run_schedule(store, "P", raise_internal=True).ok
    assert rows(url) == 40
    assert count_kinds(tmp_path / "files") == expected_files(sim)
    assert sim.stats["by_report"].get("AccessSession", 0) >= 1
    assert run_schedule(store, "P", raise_internal=True).results[1].files_stored == 0


def test_large_window_saves_are_throttled_but_flushed(store, make_simulator, tmp_path, monkeypatch):
    from ic.transfer import engine as engine_mod
    from ic.transfer.state import TransferState

    monkeypatch.setattr(engine_mod, "LARGE_DONE", 10)
    monkeypatch.setattr(engine_mod, "SAVE_INTERVAL", 3600)  # after 10 done lsids: no save until the end
    sim = make_simulator(sessions=60, in_progress=0)
    url = f"sqlite:///{tmp_path / 'out.db'}"
    site = add_site(store, sim)
    dest = add_sql(store, url)
    add_schedule(store, "T", ("sim", "db", ["session"]))
    store.set_setting("transfer_batch_size", "10")
    saves = []
    real = store.save_state
    monkeypatch.setattr(store, "save_state", lambda *a: (saves.append(len(a[3]["done"])), real(*a)))
    cancel = threading.Event()
    out = run_schedule(store, "T", lambda ev: cancel.set() if ev.sessions_done >= 40 else None, cancel)
    assert out.status == "cancelled"
    st = TransferState.from_json(store.load_state(site.id, dest.id, "session"))
    assert len(st.done) == 40 and st.cursor is None  # flushed on cancel, window not complete
    assert saves[:2] == [10, 40]  # one save per batch until the map is large, then the flush
    assert run_schedule(store, "T", raise_internal=True).ok and rows(url) == 60


def test_session_deleted_between_listing_and_details_does_not_stall_the_schedule(store, simulator, tmp_path):
    """A real appliance may refuse a whole lsids= batch when one session is gone: the other 49 must still land,
    the run must finish, and the next run must not ask for the vanished session again."""
    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, simulator)
    add_sql(store, url)
    add_schedule(store, "D", ("sim", "db", ["session"]))
    simulator.faults.strict_lsids = True
    closed = [s.lsid for s in simulator.sessions if s.end_time]
    victim = closed[len(closed) // 2]
    deleted = []

    def listener(ev):  # listings are done: the appliance ages one session out before the details are asked for
        if ev.phase == "sessions" and not deleted:
            deleted.append(victim)
            simulator.delete_session(victim)

    out = run_schedule(store, "D", listener, raise_internal=True)
    assert out.status == "ok", out.errors
    assert simulator.stats["faults"].get("strict_lsids", 0) >= 1  # the batch really was refused
    everything_left = {s.lsid for s in simulator.sessions}  # closed and in progress, without the victim
    assert victim not in everything_left and set(session_rows(url)) == everything_left
    again = run_schedule(store, "D", raise_internal=True)
    assert again.status == "ok" and set(session_rows(url)) == everything_left


def test_progress_says_why_nothing_moves_while_the_client_waits_to_retry(store, simulator, tmp_path):
    add_site(store, simulator)
    add_sql(store, f"sqlite:///{tmp_path / 'out.db'}")
    add_schedule(store, "W", ("sim", "db", ["session"]))
    messages: list[str] = []
    simulator.faults.error_5xx_burst = 2
    out = run_schedule(store, "W", lambda ev: messages.append(ev.message or ""), engine_factory=fast_engine,
                       raise_internal=True)
    assert out.ok
    waiting = [m for m in messages if "Trying again in" in m]
    assert waiting and waiting[0].endswith("(1 of 6).") and simulator.host in waiting[0], messages
