"""Mid-window, done entries that the window's completion drops anyway are let go of (TransferState.seal): the run
still skips them (a compact digest set), the done map stays bounded however long the window, the completed window
ends exactly as without sealing, and a state with sealed entries is never saved whole before the window completes
(the journal holds them), so a run killed then resumes skipping them. Real settings store (SQLite), real journal."""
from __future__ import annotations

import random

import pytest

from ic.settings.models import DestinationConfig, SiteConfig
from ic.transfer import journal, planner
from ic.transfer.apply import Apply
from ic.transfer.engine import LARGE_DONE, TransferResult
from ic import digestset as sealed_mod
from ic.digestset import DigestSet, SealedSet
from ic.transfer.state import RECENT_MAX, RECENT_SPAN, TransferState

OV = 120
DAY = 86400
BASE = 1_700_000_000


class Row:
    def __init__(self, lsid: str) -> None:
        self.lsid, self.has_recording = lsid, False


def test_sealed_set_is_exact_for_many_lsids():
    s = SealedSet()
    names = [f"lsid-{i}" for i in range(30_000)]
    for n in names[::2]:
        s.add(n)
    assert len(s) == 15_000
    assert all(n in s for n in names[::2]) and not any(n in s for n in names[1::2])
    assert "" not in s and None not in s
    s.clear()
    assert not s and names[0] not in s


def test_digest_set_holds_128_bit_digests_across_merged_blocks(monkeypatch):
    monkeypatch.setattr(sealed_mod, "BLOCK_MAX", 1 << 13)  # blocks stop merging early: several probed
    rnd = random.Random(4)
    kept = [rnd.getrandbits(128) for _ in range(40_000)] + [0, (1 << 128) - 1, 1 << 127, (1 << 64) - 1, 1 << 64]
    s = DigestSet()
    for d in kept:
        s.add(d)
    assert len(s) == len(kept) and len(s._blocks) > 2
    assert all(d in s for d in kept)
    others = [rnd.getrandbits(128) for _ in range(5_000)] + [kept[0] ^ 1, kept[1] ^ (1 << 64)]
    assert not any(d in s for d in others if d not in set(kept))


def _window(sts: TransferState, n: int, *, seal: bool, slice_rows=1_000, span_days=60, now=BASE + 61 * DAY):
    """One window of n listed sessions ending over ``span_days`` in random listing order, handled slice by slice
    (every listed session done); some done with no end time (poisoned). Returns the largest done map seen."""
    rnd = random.Random(n)
    ends = {f"s{i:07d}": BASE + rnd.randrange(span_days * DAY) for i in range(n)}
    window = planner.WindowPlanner({"session": sts}, now=now, slice_rows=slice_rows)
    biggest = 0
    for sl in window.closed_slices(Row(k) for k in ends):
        for lsid in sl.lsids:
            sts.mark_done(lsid, None if lsid.endswith("13") else ends[lsid])
        window.fold(sl)
        if seal:
            sts.seal(window.newest["session"], OV)
        biggest = max(biggest, len(sts.done))
    sts.ops.clear()
    sts.complete_window(OV, listed=window.partial_listed, listed_ends=window.listed_ends("session"), now=now)
    return biggest


@pytest.mark.parametrize("span_days", [2, 60])
def test_a_sealed_window_ends_exactly_like_an_unsealed_one_with_a_bounded_done_map(span_days):
    n = 60_000
    plain, sealed = TransferState(), TransferState()
    prior = {f"old{i}": BASE - i for i in range(50)}  # done entries of an earlier window: pruned the same way
    plain.done.update(prior)
    sealed.done.update(prior)
    plain_max = _window(plain, n, seal=False, span_days=span_days)
    sealed_max = _window(sealed, n, seal=True, span_days=span_days)
    assert plain == sealed  # cursor, done, recent, partial, in_progress: the same
    assert plain_max >= n
    assert sealed_max < RECENT_MAX + 5_000  # at most the recent map's worth plus about a slice
    assert not sealed.sealed  # emptied when the window completes


def test_entries_that_may_still_survive_are_not_sealed():
    st = TransferState(done={"top": BASE + 1000, "overlap": BASE + 950, "week": BASE - RECENT_SPAN + 2000,
                             "older": BASE - RECENT_SPAN - 10, "poisoned": None})
    assert st.seal(BASE + 1000, OV) == 2
    assert set(st.done) == {"top", "overlap", "week"}
    assert all(st.handled(k) for k in ("top", "overlap", "week", "older", "poisoned"))
    assert not st.needs("poisoned", None, OV, 0) and not st.needs("older", BASE, OV, 0)
    assert st.seal(None, OV) == 0  # nothing listed done yet: no line to judge by


@pytest.fixture
def ids(store):
    site = store.save_site(SiteConfig("S", "h.example.com", "id"), client_secret="x")
    dest = store.save_destination(DestinationConfig("D", "sql", {"url": "sqlite:///x.db"}))
    return site, dest


def _apply(store, site, dest):
    return Apply(store, site, dest, None, {}, TransferResult("S -> D"), persist=True,
                 throttle=lambda: (LARGE_DONE, 0.0))


def test_a_state_with_sealed_entries_is_never_saved_whole_before_the_window_completes(store, ids):
    site, dest = ids
    ap = _apply(store, site, dest)
    st = ap.load("session")
    for i in range(20):  # a small done map: saved whole
        st.mark_done(f"a{i}", BASE - 30 * DAY + i)
        ap.save("session")
    assert not journal.path_for(store, site.id, dest.id, "session").exists()
    for i in range(20):
        st.mark_done(f"b{i}", BASE + i)
    ap.save("session")
    assert st.seal(BASE + 19, OV) == 20  # the a-entries are a month below the newest end
    for i in range(5):
        st.mark_done(f"c{i}", None)
        ap.save("session", force=i == 4)  # even forced (a run ending mid-window): journal only
    ap.flush()
    saved = TransferState.from_json(store.load_state(site.id, dest.id, "session"))
    # the last whole save, from before the sealing; c-entries only in the journal
    assert set(saved.done) == {f"{p}{i}" for p in "ab" for i in range(20)}
    # ... the run is killed here: the next run loads every entry back (saved whole + journal) and skips them all
    again = _apply(store, site, dest).load("session")
    assert set(again.done) == {f"{p}{i}" for p in "ab" for i in range(20)} | {f"c{i}" for i in range(5)}
    # the window completes: saved whole again, journal emptied
    st.complete_window(OV, listed=set(), listed_ends=[BASE + 19], now=BASE + DAY)
    ap.save("session", force=True)
    assert not journal.path_for(store, site.id, dest.id, "session").exists()
    final = TransferState.from_json(store.load_state(site.id, dest.id, "session"))
    assert final.cursor == BASE + 19 and set(final.done) == {f"b{i}" for i in range(20) if BASE + i >= BASE + 19 - OV}


def test_a_run_killed_after_sealing_resumes_with_nothing_lost_or_stored_twice(store, make_simulator, tmp_path,
                                                                             monkeypatch):
    """The simulator's sessions end over 60 days: slices of 10 seal the older ones; the run is killed (no final save)
    in the 8th slice, then resumed."""
    from ic.destinations.sql import SqlDestination
    from ic.settings.models import TransferConfig
    from tests.helpers import add_site, add_sql, fast_engine, rows, session_rows

    sim = make_simulator(sessions=120, seed=11, in_progress=0)
    store.set_setting("transfer_batch_size", "5")
    site = add_site(store, sim)
    url = f"sqlite:///{tmp_path / 'out.db'}"
    dest = add_sql(store, url)
    transfer = TransferConfig("sim", "db", ["session"])
    monkeypatch.setattr(planner, "SLICE_ROWS", 10)
    monkeypatch.setattr(Apply, "flush", lambda self: None)
    sealed = [0]
    real_seal, real_store = TransferState.seal, SqlDestination.store_sessions
    monkeypatch.setattr(TransferState, "seal", lambda self, *a: sealed.__setitem__(0, sealed[0] + real_seal(self, *a))
                        or 0)
    calls = [0]

    class Killed(BaseException):
        pass

    def store_sessions(self, host, sessions):
        calls[0] += 1
        if calls[0] == 15:  # the 1st batch of the 8th slice
            raise Killed()
        return real_store(self, host, sessions)

    monkeypatch.setattr(SqlDestination, "store_sessions", store_sessions)
    with fast_engine(store) as engine, pytest.raises(Killed):
        engine.run_transfer(transfer)
    assert sealed[0] > 0 and rows(url) == 70
    monkeypatch.setattr(SqlDestination, "store_sessions", real_store)
    with fast_engine(store) as engine:
        second = engine.run_transfer(transfer)
    closed = [s for s in sim.sessions if s.end_time]
    assert 70 + second.sessions_stored == len(closed) == rows(url)
    assert set(session_rows(url)) == {s.lsid for s in closed}
    final = _apply(store, site, dest).load("session")
    assert final.cursor == max(s.end_time for s in closed) and not journal.path_for(store, site.id, dest.id,
                                                                                      "session").exists()
    with fast_engine(store) as engine:
        assert engine.run_transfer(transfer).sessions_stored == 0
