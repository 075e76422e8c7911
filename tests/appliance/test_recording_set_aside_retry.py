"""A recording that always breaks off costs the client's whole retry backoff only the first time: once it is set
aside, later runs (every night) give it one retry, while a first failure (a transient one) still gets them all. It
is still tried at every run and reported; nothing is lost.

Real parts: HTTPS simulator (``broken_recordings``: the body breaks off half way every time; ``drop_mid_body``: the
next bodies break off once), real folder; the client's sleep is recorded instead of slept (the only stand-in)."""
from __future__ import annotations

import pytest

from ic.errors import ApplianceUnreachable
from ic.services.runs import run_schedule
from ic.transfer import quarantine
from ic.transfer.engine import SET_ASIDE_RETRIES, TransferEngine
from tests.helpers import add_folder, add_schedule, add_site

RETRIES = 5


def _client(sim, waits, **kw):
    from ic.appliance import ApplianceClient

    return ApplianceClient(sim.host, sim.client_id, sim.client_secret, ca_bundle=sim.ca_file, max_retries=RETRIES,
                           base_delay=0.01, max_delay=0.05, timeout=10, sleep=waits.append, **kw)


def test_fewer_retries_when_asked_and_all_of_them_otherwise(make_simulator, tmp_path):
    sim = make_simulator(sessions=8, seed=4, recording_size=4000)
    s = next(x for x in sim.sessions if x.recording and x.end_time)
    sim.faults.broken_recordings[s.lsid] = "cut"
    waits: list[float] = []
    client = _client(sim, waits, product="rs")
    with pytest.raises(ApplianceUnreachable):
        client.download_recording("recordings", s.lsid, tmp_path / "a", retries=1)
    assert len(waits) == 1
    waits.clear()
    with pytest.raises(ApplianceUnreachable):
        client.download_recording("recordings", s.lsid, tmp_path / "b")
    assert len(waits) == RETRIES
    sim.faults.broken_recordings.clear()
    sim.faults.drop_mid_body = 1  # a transient break: one retry is enough, even when only one is allowed
    waits.clear()
    assert client.download_recording("recordings", s.lsid, tmp_path / "c", retries=1).size > 0
    assert len(waits) == 1


def test_a_set_aside_recording_costs_one_retry_on_later_nights(store, make_simulator, tmp_path):
    sim = make_simulator(sessions=12, seed=11, recording_size=3000, rate_per_second=500)
    add_site(store, sim)
    add_folder(store, tmp_path / "files")
    add_schedule(store, "R", ("sim", "files", ["session", "recordings"]))
    victim = next(x for x in sim.sessions if x.recording and x.end_time)
    sim.faults.broken_recordings[f"{victim.lsid}:recordings"] = "cut"
    waits: list[float] = []

    def engine(store_, **kw):
        return TransferEngine(store_, client_factory=lambda st, site: _client(sim, waits, max_rps=200), **kw)

    def night():
        waits.clear()
        out = run_schedule(store, "R", engine_factory=engine, raise_internal=True)
        assert out.ok, out.message()
        return out.results[0]

    first = night()
    assert first.files_quarantined == 1 and len(waits) == RETRIES  # a first failure gets every retry
    for n in range(2, 5):
        fresh = sim.add_sessions(2)  # new recordings each night land as usual
        result = night()
        assert result.files_quarantined == 1 and len(waits) == SET_ASIDE_RETRIES, f"night {n}"
        assert any(victim.lsid in w for w in result.warnings)  # still reported every night
        [entry] = quarantine.list_quarantined()
        assert entry.lsid == victim.lsid and entry.attempts == n  # and still tried every night
        names = [p.name for p in (tmp_path / "files").iterdir()]
        assert all(any(s.lsid in name for name in names) for s in fresh)
    sim.faults.broken_recordings.clear()
    result = night()
    assert result.files_stored == 1 and quarantine.list_quarantined() == []
