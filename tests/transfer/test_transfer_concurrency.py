"""Latency hidden: several detail documents are requested at once (the client is shared, thread-safe and
rate-limited). Proven without timing: the simulator's detail answers wait at a barrier that only a second request in
flight at the same time can open (one request at a time would break the barrier and fail the test)."""
from __future__ import annotations

import threading

from ic.services.runs import run_schedule
from tests.helpers import add_schedule, add_site, add_sql, fast_engine, rows


def test_detail_requests_are_in_flight_together(store, make_simulator, tmp_path):
    sim = make_simulator(sessions=60, in_progress=0, rate_per_second=500)
    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, sim)
    add_sql(store, url)
    add_schedule(store, "L", ("sim", "db", ["session"]))
    store.set_setting("transfer_batch_size", "10")
    barrier = threading.Barrier(2, timeout=20)
    threads: set[int] = set()
    original = sim.store.session_xml

    def serving(s):
        if len(threads) < 2 and threading.get_ident() not in threads:
            threads.add(threading.get_ident())
            barrier.wait()  # raises BrokenBarrierError (answered 500, the fixture fails) if nobody else comes
        return original(s)

    sim.store.session_xml = serving
    out = run_schedule(store, "L", engine_factory=fast_engine, raise_internal=True)
    assert out.ok, out.message()
    assert len(threads) == 2 and not barrier.broken
    assert rows(url) == 60


def test_recordings_download_into_the_destinations_staging_folder(store, make_simulator, tmp_path):
    """A destination that offers a staging folder gets recordings downloaded there (store_file renames them)."""
    from ic.transfer.engine import TransferEngine, default_destination_factory
    from tests.helpers import add_folder, count_kinds, expected_files

    sim = make_simulator(sessions=30)
    add_site(store, sim)
    add_folder(store, tmp_path / "files")
    add_schedule(store, "S", ("sim", "files", ["session", "recordings", "shell", "smsr"]))
    sources = []

    class Watching:
        def __init__(self, real):
            self.real = real

        def __getattr__(self, name):
            return getattr(self.real, name)

        def store_file(self, item):
            sources.append((item.source.parent, self.real.staging_dir()))
            return self.real.store_file(item)

    def factory(store_, **kw):
        return TransferEngine(store_, destination_factory=lambda cfg: Watching(default_destination_factory(cfg)),
                              **kw)

    assert run_schedule(store, "S", engine_factory=factory, raise_internal=True).ok
    assert sources and all(staging is not None and parent == staging for parent, staging in sources)
    assert count_kinds(tmp_path / "files") == expected_files(sim)
