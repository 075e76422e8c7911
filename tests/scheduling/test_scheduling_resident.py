"""The resident scheduler: stop request through the settings database, SIGTERM, `scheduler --stop`, one per machine,
a long run never delays another schedule, and flat memory over thousands of checks and ~150 simulator transfers."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ic.scheduling import heartbeat
from ic.scheduling.resident import LOCK_NAME, FakeClock, ResidentScheduler
from ic.services.history import recent_runs
from ic.settings.models import ScheduleConfig, TransferConfig
from ic.transfer.engine import TransferResult
from ic.transfer.lock import ScheduleLock
from tests.helpers import add_folder, add_site, add_sql, rows

UTC = timezone.utc
ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)


def test_a_stop_request_in_the_settings_database_ends_exactly_that_process(store, tmp_path):
    clock = FakeClock(START)
    requested = []

    def on_check(n):
        if n == 3:
            assert heartbeat.status(store, "me/1", now=clock()).running
            requested.append(heartbeat.request_stop(store, "me/1"))  # what `task stop` / the window's Stop write

    scheduler = ResidentScheduler(store, clock=clock, sleep=clock.sleep, host_id="me/1", lock_dir=tmp_path,
                                  on_check=on_check)
    assert scheduler.run(max_checks=50) == 0
    assert requested == [True]
    assert scheduler.checks == 3  # read at the first poll after the request, before the 4th check
    st = heartbeat.status(store, "me/1", now=clock())
    assert not st.running and not st.stop_requested
    assert clock() - START < timedelta(minutes=3)


def test_only_one_scheduler_per_machine(store, tmp_path):
    with ScheduleLock(LOCK_NAME, tmp_path):
        assert ResidentScheduler(store, host_id="me/1", lock_dir=tmp_path).run(max_checks=1) == 4
    clock = FakeClock(START)
    assert ResidentScheduler(store, clock=clock, sleep=clock.sleep, host_id="me/1", lock_dir=tmp_path) \
        .run(max_checks=1) == 0


def _start_scheduler(ic_home: Path) -> subprocess.Popen:
    env = {**os.environ, "IC_HOME": str(ic_home), "IC_HOST_ID": "proc-host/1"}
    env.pop("IC_SETTINGS", None)
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), "scheduler"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_running(store, proc, host="proc-host/1") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        if heartbeat.status(store, host).running:
            return
        time.sleep(0.2)
    pytest.fail("the scheduler process did not report running within 60 s")


def test_scheduler_process_stops_cleanly_on_sigterm_and_on_scheduler_stop(store, ic_home, monkeypatch):
    monkeypatch.setenv("IC_HOST_ID", "proc-host/1")
    proc = _start_scheduler(ic_home)
    try:
        _wait_running(store, proc)
        st = heartbeat.status(store, "proc-host/1")
        assert st.pid == proc.pid and st.host == "proc-host"
        second = _start_scheduler(ic_home)  # the OS task starting another one: it exits at once
        assert second.wait(60) == 4
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    row = next(r for r in heartbeat.all_statuses(store) if r.host_id == "proc-host/1")
    assert not row.running and row.last_check is not None  # it wrote "stopped" on its way out: a clean stop

    proc = _start_scheduler(ic_home)
    try:
        _wait_running(store, proc)
        from ic.cli import run_cli

        assert run_cli(["scheduler", "--stop"]) == 0
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    from ic.logs import shutdown_logging

    shutdown_logging()


class _FakeEngine:
    """Engine stand-in for timing-free concurrency checks: 'Slow' blocks until released."""

    release = threading.Event()
    started: list[str] = []

    def __init__(self, store, listener=None, cancel=None, schedule=None) -> None:
        self.schedule, self.cancel = schedule, cancel

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def run_transfer(self, transfer):
        _FakeEngine.started.append(self.schedule)
        if self.schedule == "Slow":
            assert _FakeEngine.release.wait(30)
        return TransferResult(f"{transfer.site} -> {transfer.destination}", sessions_stored=1)


def test_a_long_run_never_delays_another_schedule(store, simulator, tmp_path):
    add_site(store, simulator)
    add_folder(store, tmp_path / "files")
    for name in ("Slow", "Fast"):
        store.save_schedule(ScheduleConfig(name, 60, [TransferConfig("sim", "files", ["session"])]), now=START)
    clock = FakeClock(START)
    _FakeEngine.release.clear()
    _FakeEngine.started.clear()

    def on_check(n):
        fast = scheduler.runs.get("Fast")
        if fast is not None:
            fast.join(30)
        if n == 6:
            _FakeEngine.release.set()
            scheduler.runs["Slow"].join(30)
        if n == 8:
            scheduler.stop()

    scheduler = ResidentScheduler(store, clock=clock, sleep=clock.sleep, host_id="me/1", lock_dir=tmp_path,
                                  engine_factory=_FakeEngine, on_check=on_check)
    scheduler.run()
    for thread in list(scheduler.runs.values()):
        thread.join(30)
    fast = [r for r in recent_runs(store, "Fast")]
    slow = sorted(recent_runs(store, "Slow"), key=lambda r: r.id)
    assert len(fast) >= 6  # every minute while Slow ran
    assert [r.trigger for r in slow][:2] == ["slot", "catch-up"]  # the minutes Slow ran through: one catch-up
    assert slow[1].slot == START + timedelta(minutes=5)  # the check at which Slow was free again


def _rss_kb() -> int:
    for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    pytest.skip("no /proc")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="RSS is read from /proc")
def test_memory_stays_flat_over_thousands_of_checks_and_hundreds_of_transfers(fast_store, make_simulator, tmp_path):
    import logging

    store = fast_store
    sim = make_simulator(sessions=20, in_progress=1, recording_size=2000)
    add_site(store, sim)
    url = f"sqlite:///{Path(store.url.removeprefix('sqlite:///')).parent / 'out.db'}"
    add_sql(store, url)
    store.save_schedule(ScheduleConfig("Often", 600, [TransferConfig("sim", "db", ["session"])]), now=START)
    clock = FakeClock(START)
    samples: dict[int, int] = {}
    checks, warm = 1200, 240

    def on_check(n):
        if n % 30 == 15:
            sim.add_sessions(1)
        if n in (warm, checks):
            import gc

            gc.collect()
            samples[n] = _rss_kb()
        if n >= checks:
            scheduler.stop()

    logging.getLogger("ic").setLevel(logging.WARNING)  # no log capture growing with the test
    try:
        scheduler = ResidentScheduler(store, clock=clock, sleep=clock.sleep, host_id="me/1", lock_dir=tmp_path,
                                      concurrent=False, poll_seconds=60, on_check=on_check)
        assert scheduler.run() == 0
    finally:
        logging.getLogger("ic").setLevel(logging.NOTSET)
    runs = recent_runs(store, "Often", 1000)
    assert len(runs) == 120 and all(r.status == "ok" for r in runs)
    assert rows(url) == len(sim.sessions)
    growth_mb = (samples[checks] - samples[warm]) / 1024
    print(f"RSS {samples[warm] / 1024:.1f} MB at check {warm}, {samples[checks] / 1024:.1f} MB at check {checks}")
    assert growth_mb < 16, f"RSS grew {growth_mb:.1f} MB from check {warm} to {checks}"


def test_hooks_for_a_scheduled_verify(store, tmp_path):
    """VERIFY's hooks: one at every check of the resident scheduler, one after every schedule run."""
    from ic.scheduling.resident import add_check_hook, remove_check_hook
    from ic.services.runs import add_run_hook, remove_run_hook

    store.save_schedule(ScheduleConfig("Empty", 60), now=START)
    checks, runs = [], []

    def check_hook(st, now):
        checks.append(now)
        raise RuntimeError("a broken hook never stops the scheduler")

    def run_hook(st, outcome):
        runs.append((outcome.schedule, outcome.trigger, outcome.status))

    add_check_hook(check_hook)
    add_run_hook(run_hook)
    try:
        clock = FakeClock(START)
        ResidentScheduler(store, clock=clock, sleep=clock.sleep, host_id="me/1", lock_dir=tmp_path,
                          concurrent=False).run(max_checks=3)
    finally:
        remove_check_hook(check_hook)
        remove_run_hook(run_hook)
    assert checks == [START, START + timedelta(minutes=1), START + timedelta(minutes=2)]
    assert runs == [("Empty", "slot", "ok")] * 3
