"""One run per slot across hosts: the settings-database lease (conditional UPDATE with an expiry, renewed while a run
goes on) on SQLite and on a real PostgreSQL server, and two scheduler processes with distinct host ids on one
PostgreSQL settings database where the lease holder is SIGKILLed mid-run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ic.errors import ScheduleBusy
from ic.scheduling.lease import Lease, LeaseKeeper, holders, host_id
from ic.services.history import recent_runs
from ic.services.runs import run_schedule
from ic.settings.models import ScheduleConfig, TransferConfig
from tests.helpers import add_folder, add_site

UTC = timezone.utc
ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 6, 10, 2, 0)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _lease_rules(store) -> None:
    clock = Clock(T0)
    a = Lease(store, "schedule:Nightly", "host-a/1", ttl=120, clock=clock)
    b = Lease(store, "schedule:Nightly", "host-b/2", ttl=120, clock=clock)
    assert a.acquire() and a.held
    assert not b.acquire()
    assert holders(store, now=T0) == {"Nightly": ("host-a", T0 + timedelta(seconds=120))}
    clock.now = T0 + timedelta(seconds=100)
    assert a.renew() and not b.acquire()  # renewed: still a's at 200 s
    clock.now = T0 + timedelta(seconds=219)
    assert not b.acquire()
    clock.now = T0 + timedelta(seconds=221)  # a died: its lease expired
    assert b.acquire()
    assert not a.renew() and not a.held  # a lost it and knows
    a.release()  # releasing a lost lease does not free b's
    assert not Lease(store, "schedule:Nightly", "host-c/3", clock=clock).acquire()
    b.release()
    assert Lease(store, "schedule:Nightly", "host-c/3", clock=clock).acquire()
    assert Lease(store, "schedule:Other", "host-a/1", clock=clock).acquire()  # per schedule


def test_lease_rules_on_sqlite(store):
    _lease_rules(store)


def test_lease_rules_on_postgresql(pg_url, ic_home):
    from ic.settings.store import SettingsStore

    store = SettingsStore(pg_url)
    try:
        _lease_rules(store)
        # the database clock decides expiry when no clock is injected
        real = Lease(store, "schedule:Real", "host-a/1", ttl=60)
        assert real.acquire() and not Lease(store, "schedule:Real", "host-b/1", ttl=60).acquire()
        real.release()
        # twenty hosts race for one lease at the same moment: exactly one wins
        winners: list[str] = []
        start = threading.Barrier(20)

        def race(i: int) -> None:
            lease = Lease(store, "schedule:Race", f"host-{i}/x", ttl=60)
            start.wait()
            if lease.acquire():
                winners.append(lease.holder)

        threads = [threading.Thread(target=race, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(winners) == 1
    finally:
        store.close()


def test_host_id_is_hostname_and_install_id(ic_home, monkeypatch):
    import socket

    monkeypatch.delenv("IC_HOST_ID", raising=False)
    first = host_id()
    assert first.startswith(socket.gethostname() + "/") and first == host_id()  # stable per install
    monkeypatch.setenv("IC_HOST_ID", "node-7")
    assert host_id() == "node-7"


def test_run_now_on_a_second_host_names_the_host_that_runs_it(store, simulator, tmp_path):
    add_site(store, simulator)
    add_folder(store, tmp_path / "files")
    store.save_schedule(ScheduleConfig("Nightly", 86400, [TransferConfig("sim", "files", ["session"])]))
    other = Lease(store, "schedule:Nightly", "hostb/9")
    assert other.acquire()
    with pytest.raises(ScheduleBusy, match="already running on hostb"):
        run_schedule(store, "Nightly")
    other.release()
    assert run_schedule(store, "Nightly").status == "ok"


def test_a_lost_lease_cancels_the_run(store):
    clock = Clock(T0)
    lease = Lease(store, "schedule:X", "host-a/1", ttl=120, clock=clock)
    assert lease.acquire()
    clock.now = T0 + timedelta(hours=1)
    assert Lease(store, "schedule:X", "host-b/1", ttl=120, clock=clock).acquire()
    cancelled = threading.Event()
    with LeaseKeeper(lease, on_lost=cancelled.set, every=0.01) as keeper:
        assert cancelled.wait(10)
    assert keeper.lost


SCHEDULER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime, timedelta, timezone
    from ic.settings.store import SettingsStore
    from ic.scheduling.resident import ResidentScheduler

    url, host, t0, scale = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    epoch = datetime(2026, 6, 10, 2, 0, tzinfo=timezone.utc)
    clock = lambda: epoch + timedelta(seconds=(time.time() - t0) * scale)  # one real second = one minute
    store = SettingsStore(url)
    scheduler = ResidentScheduler(store, clock=clock, sleep=lambda s: time.sleep(s / scale), poll_seconds=30,
                                  host_id=host, lease_ttl=4.0, lease_uses_clock=False)
    print("started", flush=True)
    sys.exit(scheduler.run())
    """
)


def _scheduler_process(url: str, host: str, home: Path, key: Path, t0: float) -> subprocess.Popen:
    home.mkdir(exist_ok=True)
    env = {**os.environ, "IC_HOME": str(home), "IC_KEY_FILE": str(key), "PYTHONPATH": str(ROOT)}
    env.pop("IC_SETTINGS", None)
    return subprocess.Popen([sys.executable, "-c", SCHEDULER_SCRIPT, url, host, repr(t0), "60"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait(predicate, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def test_two_scheduler_processes_on_one_postgresql_database_holder_killed_mid_run(pg_url, make_simulator, tmp_path,
                                                                                  ic_home):
    from ic import paths
    from ic.settings.store import SettingsStore

    sim = make_simulator(sessions=120, in_progress=0, seed=11)
    store = SettingsStore(pg_url)
    procs: dict[str, subprocess.Popen] = {}
    try:
        add_site(store, sim)
        add_folder(store, tmp_path / "out", "out")
        store.set_setting("transfer_batch_size", "4")  # many small batches: a run takes a few seconds...
        sim.faults.slow_seconds = 0.05  # ...and its saved state moves batch by batch
        store.save_schedule(ScheduleConfig("Pull", 60, [TransferConfig("sim", "out", ["session"])]))
        key = paths.key_file()
        t0 = time.time()
        for host in ("host-a/1", "host-b/2"):
            procs[host] = _scheduler_process(pg_url, host, tmp_path / host.replace("/", "-"), key, t0)

        def holder() -> str | None:
            held = holders(store)
            return held["Pull"][0] if "Pull" in held else None

        _wait(lambda: holder() is not None, "a host to take the lease")
        _wait(lambda: len(list((tmp_path / "out").rglob("*.xml"))) >= 8, "the first run to write sessions")
        victim = next(h for h in procs if h.startswith(holder() + "/"))
        survivor = next(h for h in procs if h != victim)
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait(30)
        killed_at = datetime.now(UTC)
        written_at_kill = len(list((tmp_path / "out").rglob("*.xml")))
        assert 0 < written_at_kill < len(sim.sessions)  # killed mid-run, part of the sessions written
        assert holder() in (victim.split("/")[0], None)  # the dead host keeps the lease until it expires
        sim.add_sessions(5)

        def survivor_done() -> bool:  # the survivor finished a run that started after the kill, and one more
            runs = [r for r in recent_runs(store, "Pull", 500) if r.host and r.status == "ok"]
            later = [r for r in runs if r.started > killed_at]
            return len(later) >= 2

        _wait(survivor_done, "the other host to take over after the lease expired", timeout=120)
        procs[survivor].send_signal(signal.SIGTERM)
        assert procs[survivor].wait(60) == 0, procs[survivor].stdout.read()

        runs = sorted(recent_runs(store, "Pull", 500), key=lambda r: r.started)
        assert runs and all(r.status == "ok" for r in runs)
        # one run per slot: no slot served twice, and no two runs at once (across both hosts)
        slots = [r.slot for r in runs]
        assert len(slots) == len(set(slots)) and slots == sorted(slots)
        for before, after in zip(runs, runs[1:]):
            assert after.started >= before.finished
        # the other host resumed from the saved state instead of starting the first pull again
        takeover = next(r for r in runs if r.started > killed_at)
        assert takeover.host and takeover.sessions < len(sim.sessions)
        assert all(r.started <= killed_at for r in runs if r is not takeover and r.started < takeover.started)
        # nothing lost, nothing duplicated: every session exactly once in the folder
        files = [p.name for p in (tmp_path / "out").rglob("*.xml")]
        for session in sim.sessions:
            assert sum(session.lsid in name for name in files) == 1, session.lsid
        assert len(files) == len(sim.sessions)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        store.close()


def test_lease_history_and_heartbeat_sql_on_mock_sql_server(monkeypatch, ic_home):
    """What the lease, the run history and the heartbeat send through the SQL Server dialect and the pyodbc
    interface, on the statement-recording mock SQL Server of tests/helpers.py (no real SQL Server
    here): one conditional UPDATE with the expiry, read back by token; history pruned with OFFSET/FETCH."""
    from ic.scheduling import heartbeat
    from ic.services.history import RunRecord, record_run
    from tests.helpers import FakeSqlServer, settings_on_mock_sql_server

    server = FakeSqlServer()
    store = settings_on_mock_sql_server(monkeypatch, server)
    try:
        server.log.clear()
        Lease(store, "schedule:Nightly", "host-a/1", ttl=120, clock=Clock(T0)).acquire()
        updates = [" ".join(sql.split()) for _, sql, _, _ in server.statements("UPDATE ic_lease")]
        assert len(updates) == 1 and "WHERE ic_lease.name = ? AND (ic_lease.holder IS NULL OR ic_lease.expires IS " \
            "NULL OR ic_lease.expires < ? OR ic_lease.holder = ?)" in updates[0]
        assert server.statements("SELECT ic_lease.token")  # read back: no reliance on the row count
        server.log.clear()
        Lease(store, "schedule:Nightly", "host-a/1", ttl=120).acquire()  # the server's clock decides expiry
        assert server.statements("SELECT SYSUTCDATETIME()")
        record_run(store, RunRecord("Nightly", datetime(2026, 6, 10, 2, 0), sessions=3), keep=2)
        assert [r["sessions"] for r in server.tables["ic_run_history"]] == [3]
        prune = [" ".join(sql.split()) for _, sql, _, _ in server.statements("SELECT ic_run_history.id")]
        assert prune and "OFFSET ? ROWS FETCH FIRST ? ROWS ONLY" in prune[0]
        heartbeat.beat(store, "host-a/1", now=T0, started=T0, pid=7, program_run=True)
        assert server.statements("INSERT INTO ic_scheduler")
    finally:
        store.close()
