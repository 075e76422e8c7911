"""The transfers of one schedule run simultaneously (the guide: "add multiple transfer instances to one schedule if you
wish the transfers to occur simultaneously"), share one appliance client per site (one token, one rate limit),
report progress per transfer, and one failing transfer does not stop the others."""
from __future__ import annotations

import threading

from ic.services.history import recent_runs
from ic.services.runs import run_schedule
from ic.settings.models import ScheduleConfig, TransferConfig
from ic.transfer.engine import TransferEngine, default_client_factory, default_destination_factory
from tests.helpers import add_folder, add_site


def test_transfers_of_one_schedule_run_at_once_sharing_one_client(store, simulator, tmp_path):
    add_site(store, simulator)
    add_folder(store, tmp_path / "a", "a")
    add_folder(store, tmp_path / "b", "b")
    (tmp_path / "not-a-folder").write_text("x")
    add_folder(store, tmp_path / "c", "c")
    store.save_schedule(ScheduleConfig("Both", 900, [TransferConfig("sim", d, ["session"]) for d in ("a", "b", "c")]))
    (tmp_path / "c").rmdir()
    (tmp_path / "c").symlink_to(tmp_path / "not-a-folder")  # destination c fails: a file where its folder should be

    barrier = threading.Barrier(2, timeout=30)  # a and b must be storing at the same time, or this breaks
    clients: list[object] = []
    events: list[str] = []
    in_listener = threading.Lock()
    overlapped: list[bool] = []

    def client_factory(st, site):
        clients.append(site.name)
        return default_client_factory(st, site)

    def destination_factory(config):
        dest = default_destination_factory(config)
        if config.name in ("a", "b"):
            original, waited = dest.store_sessions, []

            def store_sessions(*args, **kwargs):
                if not waited:
                    waited.append(True)
                    barrier.wait()
                return original(*args, **kwargs)

            dest.store_sessions = store_sessions
        return dest

    def engine_factory(st, **kwargs):
        return TransferEngine(st, client_factory=client_factory, destination_factory=destination_factory, **kwargs)

    def listener(ev):
        if not in_listener.acquire(blocking=False):
            overlapped.append(True)
            return
        try:
            events.append(ev.transfer)
        finally:
            in_listener.release()

    outcome = run_schedule(store, "Both", listener, engine_factory=engine_factory)
    assert outcome.status == "failed" and outcome.failed_transfers == 1
    assert [r.transfer for r in outcome.results] == ["sim -> a", "sim -> b"]  # the schedule's order
    assert all(r.sessions_stored + r.in_progress_stored == len(simulator.sessions) for r in outcome.results)
    assert "sim -> c" in outcome.errors[0]
    assert clients == ["sim"]  # one client for the site: one token, one rate limiter for all three transfers
    assert {"sim -> a", "sim -> b", "sim -> c"} <= set(events) and not overlapped
    assert len(list((tmp_path / "a").rglob("*.xml"))) >= len(simulator.sessions) - 5
    record = recent_runs(store, "Both")[0]
    assert (record.status, record.failed, record.trigger) == ("failed", 1, "run now")
    assert record.sessions == sum(r.sessions_stored for r in outcome.results)
    assert store.get_schedule("Both").last_status.startswith("failed: sim -> c")
