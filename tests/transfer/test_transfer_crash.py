"""The issue's "done when", through the real command line in subprocesses: `main.py run NAME` twice against 2,000
sessions (clock in step and 10 minutes behind) leaves exactly 2,000 rows and 2,000 XML files; a run SIGKILLed
mid-way and resumed ends identical to an uninterrupted run; two concurrent runs -> one skips."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import add_folder, add_schedule, add_site, add_sql, cli, count_kinds, rows, snapshot

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("offset", [0, -600], ids=["clock-in-step", "appliance-10-min-behind"])
def test_run_twice_2000_sessions_exactly_2000_rows_and_files(store, make_simulator, tmp_path, offset):
    sim = make_simulator(sessions=2000, seed=3, clock_offset=offset, in_progress=0)
    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, sim)
    add_sql(store, url)
    add_folder(store, tmp_path / "xml", "xml")
    add_schedule(store, "Nightly", ("sim", "db", ["session"]), ("sim", "xml", ["session"]))
    for _ in range(2):
        done = cli("run", "Nightly", "--quiet")
        assert done.returncode == 0, done.stderr + done.stdout
        assert rows(url) == 2000
        assert count_kinds(tmp_path / "xml")["xml"] == 2000 == len(list((tmp_path / "xml").glob("*.xml")))
    assert "finished" in done.stdout


def _wait_for(pred, proc, timeout=120.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def _named_by_host(folder: Path, sim) -> dict[str, bytes]:
    """Folder snapshot with the simulator's host:port in file names replaced (the two simulators differ only there)."""
    host = sim.host.replace(":", "_")
    return {name.replace(host, "HOST"): data for name, data in snapshot(folder).items()}


def _setup_killable(store, sim, base: Path, pg_url: str | None):
    store.set_setting("appliance_max_rps", "200")  # the test simulator allows it: keeps the test quick
    add_site(store, sim)
    add_sql(store, f"sqlite:///{base / 'out.db'}", "lite")
    transfers = [("sim", "lite", ["session"]), ("sim", "files", ["session", "recordings", "shell", "smsr"])]
    if pg_url:
        add_sql(store, pg_url, "pg")
        transfers.insert(1, ("sim", "pg", ["session"]))
    add_folder(store, base / "files")
    add_schedule(store, "K", *transfers)
    store.set_setting("transfer_batch_size", "10")


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_equals_uninterrupted_run(store, make_simulator, tmp_path, pg_url, ic_home,
                                                               monkeypatch):
    sims = [make_simulator(sessions=150, seed=21, anchor=1_790_000_000, rate_per_second=200) for _ in range(2)]
    # reference: an uninterrupted run with its own IC home, folder and databases
    from sqlalchemy import create_engine, text

    ref_db = "ref_" + pg_url.rsplit("/", 1)[1]
    ref_pg = pg_url.rsplit("/", 1)[0] + "/" + ref_db
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{ref_db}"'))
    ref_home = tmp_path / "ref-home"
    ref_home.mkdir()
    monkeypatch.setenv("IC_HOME", str(ref_home))
    from ic.settings import open_store

    ref_store = open_store()
    _setup_killable(ref_store, sims[1], tmp_path / "ref", ref_pg)
    ref_store.close()
    monkeypatch.setenv("IC_HOME", str(ic_home))
    done = cli("run", "K", "--quiet", home=ref_home)
    assert done.returncode == 0, done.stderr

    _setup_killable(store, sims[0], tmp_path / "run", pg_url)
    files = tmp_path / "run" / "files"
    kills = 0
    for threshold in (20, 90, 160):  # kill three times at different depths of the run
        proc = cli("run", "K", "--quiet", wait=False)
        reached = _wait_for(lambda: len(list(files.glob("*"))) >= threshold, proc)
        if reached:
            proc.kill()  # SIGKILL: no cleanup, no finally blocks
            kills += 1
        proc.wait(timeout=120)
    assert kills >= 2
    final = cli("run", "K", "--quiet")
    assert final.returncode == 0, final.stderr
    again = cli("run", "K", "--quiet")  # and nothing more afterwards
    assert again.returncode == 0

    assert _named_by_host(files, sims[0]) == _named_by_host(tmp_path / "ref" / "files", sims[1])
    assert count_kinds(files)["xml"] == 150
    lite, ref_lite = f"sqlite:///{tmp_path / 'run' / 'out.db'}", f"sqlite:///{tmp_path / 'ref' / 'out.db'}"
    for table in ("session", "session_event", "user", "endpoint"):
        assert rows(lite, table) == rows(ref_lite, table) == rows(pg_url, table) == rows(ref_pg, table)
    assert rows(lite) == 150
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{ref_db}" WITH (FORCE)'))
    admin.dispose()


def test_two_concurrent_runs_one_skips(store, make_simulator, tmp_path):
    sim = make_simulator(sessions=40)
    # keep the first run busy until the other two have tried: its session details wait for `release` (however many
    # requests are in flight at once and however slow this machine starts a process)
    release = threading.Event()
    original = sim.store.session_xml
    sim.store.session_xml = lambda s: (release.wait(120), original(s))[1]
    add_site(store, sim)
    add_sql(store, f"sqlite:///{tmp_path / 'out.db'}")
    add_schedule(store, "Busy", ("sim", "db", ["session"]))
    store.set_setting("transfer_batch_size", "5")
    first = cli("run", "Busy", "--quiet", wait=False)
    lock_dir = Path(os.environ["IC_HOME"]) / "locks"
    assert _wait_for(lambda: any(p.stat().st_size for p in lock_dir.glob("*.lock")) if lock_dir.exists() else False,
                     first, 60)
    second = cli("run", "Busy", "--quiet")
    tick = cli("tick", "--quiet")
    release.set()
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert second.returncode != 0 and "Schedule Busy is already running; skipped." in second.stderr
    assert tick.returncode == 0 and "Schedule Busy is already running; skipped." in tick.stdout
    assert rows(f"sqlite:///{tmp_path / 'out.db'}") == 40
