"""State saves are incremental: bytes written per session stay constant from 2k to 100k sessions in one window, and
a run that dies without its final save (SIGKILL) resumes from the journal. Real settings store (SQLite), real files."""
from __future__ import annotations

import json

import pytest

from ic.settings.models import DestinationConfig, SiteConfig
from ic.transfer import journal
from ic.transfer.apply import Apply
from ic.transfer.engine import LARGE_DONE, TransferResult
from ic.transfer.state import TransferState


@pytest.fixture
def ids(store):
    site = store.save_site(SiteConfig("S", "h.example.com", "id"), client_secret="x")
    dest = store.save_destination(DestinationConfig("D", "sql", {"url": "sqlite:///x.db"}))
    return site, dest


def _apply(store, site, dest, interval=2.0):
    return Apply(store, site, dest, None, {}, TransferResult("S -> D"), persist=True,
                 throttle=lambda: (LARGE_DONE, interval))


def _window(store, site, dest, n: int, monkeypatch, batch=50) -> int:
    """Bytes written (state JSON + journal) to mark n sessions done in one window, one save per batch."""
    written = [0]
    real_save, real_append = store.save_state, journal.append
    monkeypatch.setattr(store, "save_state", lambda *a: (written.__setitem__(0, written[0] + len(json.dumps(a[3]))),
                                                         real_save(*a)))
    monkeypatch.setattr(journal, "append", lambda p, ops: (lambda b: (written.__setitem__(0, written[0] + b), b)[1])(
        real_append(p, ops)))
    ap = _apply(store, site, dest, interval=0.0)
    st = ap.load("session")
    for i in range(n):
        st.mark_done(f"{n}-{i:08d}", 1_700_000_000 + i)
        if (i + 1) % batch == 0:
            ap.save("session")
    st.complete_window(120, listed=set(st.done), now=1_800_000_000, host_now=1_800_000_000)
    ap.save("session", force=True)
    monkeypatch.undo()
    return written[0]


def test_bytes_per_session_constant_from_2k_to_100k(store, ids, monkeypatch):
    site, dest = ids
    small = _window(store, site, dest, 2_000, monkeypatch) / 2_000
    large = _window(store, site, dest, 100_000, monkeypatch) / 100_000
    print(f"state bytes per session: 2k {small:.0f}, 100k {large:.0f}")
    assert max(small, large) < 2.0 * min(small, large)  # whole saves per batch: ~50x more at 100k


def test_a_run_killed_before_its_final_save_resumes_from_the_journal(store, ids):
    site, dest = ids
    ap = _apply(store, site, dest, interval=3600)
    st = ap.load("session")
    for i in range(LARGE_DONE + 120):
        st.mark_done(f"l{i}", 1000 + i)
        if i % 50 == 49:
            ap.save("session")
    st.mark_in_progress("running", 900)
    st.mark_partial("half", 2)
    ap.save("session")  # journal only: no whole save after the done map outgrew LARGE_DONE ...
    saved = TransferState.from_json(store.load_state(site.id, dest.id, "session"))
    assert len(saved.done) < len(st.done)
    # ... and the process dies here (no flush). The next run sees everything.
    again = _apply(store, site, dest).load("session")
    assert again.done == st.done and again.in_progress == {"running": 900} and again.partial == {"half": [2]}
    # a line cut short by the kill is ignored; replaying twice changes nothing
    path = journal.path_for(store, site.id, dest.id, "session")
    with open(path, "ab") as fh:
        fh.write(b'["d","cut-sho')
    twice = _apply(store, site, dest)
    assert twice.load("session").done == st.done
    twice.flush()  # the next whole save folds the journal in and empties it
    assert not path.exists()
    assert TransferState.from_json(store.load_state(site.id, dest.id, "session")).done == st.done
