"""Incremental state: JSON round trip through the settings store, window bounds, dedupe, pruning, in-progress."""
from __future__ import annotations

from ic.transfer.state import TransferState

OV = 120


def test_round_trip_through_store(store):
    from ic.settings.models import DestinationConfig, SiteConfig

    site = store.save_site(SiteConfig("S", "h.example.com", "id"), client_secret="x")
    dest = store.save_destination(DestinationConfig("D", "sql", {"url": "sqlite:///x.db"}))
    st = TransferState(cursor=1000, start_cursor=900, done={"a": 990}, in_progress={"b": 950}, partial={"c": [1, 0]})
    store.save_state(site.id, dest.id, "session", st.to_json())
    back = TransferState.from_json(store.load_state(site.id, dest.id, "session"))
    assert back.cursor == 1000 and back.start_cursor == 900
    assert back.done == {"a": 990} and back.in_progress == {"b": 950} and back.partial == {"c": [0, 1]}
    assert TransferState.from_json(store.load_state(site.id, dest.id, "recordings")).cursor is None


def test_first_run_bounds_and_later_overlap():
    st = TransferState()
    assert st.end_bound(OV, 0) == 0 and st.start_bound(OV, 0) == 0
    assert st.end_bound(OV, 5000) == 5000
    st.cursor, st.start_cursor = 10_000, 9_000
    assert st.end_bound(OV, 5000) == 10_000 - OV
    assert st.start_bound(OV, 5000) == 9_000 - OV


def test_needs_skips_done_and_older_than_window():
    st = TransferState(cursor=10_000, done={"a": 9_950})
    assert not st.needs("a", 9_950, OV, 0)  # done in the overlap
    assert st.needs("b", 9_900, OV, 0)  # in the overlap, not done
    assert not st.needs("c", 9_000, OV, 0)  # older than cursor - overlap: an earlier window had it
    assert st.needs("d", None, OV, 0)


def test_complete_window_moves_cursor_to_newest_end_and_prunes():
    st = TransferState(cursor=10_000, done={"old": 9_700, "edge": 10_300, "new": 10_500, "gone": None})
    st.complete_window(OV)
    assert st.cursor == 10_500
    assert st.done == {"new": 10_500}  # 10_300 < 10_500 - 120: no longer returned by a listing


def test_complete_window_keeps_overlap_lsids():
    st = TransferState(done={"a": 1000, "b": 950, "c": 700})
    st.complete_window(OV)
    assert st.cursor == 1000 and set(st.done) == {"a", "b"}


def test_cursor_never_goes_back():
    st = TransferState(cursor=5000, done={"late": 4990})
    st.complete_window(OV)
    assert st.cursor == 5000 and st.done == {"late": 4990}


def test_empty_first_window_pins_lookback_bound():
    st = TransferState()
    st.complete_window(OV, first_bound=50_000)
    assert st.end_bound(OV, 99_999) == 50_000  # a later run does not slide the look-back forward
    empty = TransferState()
    empty.complete_window(OV, first_bound=0)
    assert empty.cursor is None


def test_in_progress_then_done():
    st = TransferState()
    st.mark_in_progress("x", 800)
    assert st.in_progress == {"x": 800} and st.start_cursor is None  # moves when the window completes
    assert "_seen_start" not in st.to_json()
    st.mark_partial("x", 1)
    st.mark_done("x", 900)
    assert st.in_progress == {} and st.partial == {} and st.done == {"x": 900}
    st.complete_window(OV)
    assert st.start_cursor == 800 and st.cursor == 900


def test_stale_in_progress_dropped():
    st = TransferState(in_progress={"old": 100, "new": 10_000, "unknown": None})
    st.complete_window(OV, stale_before=5000)
    assert set(st.in_progress) == {"new", "unknown"}


def test_unknown_newer_version_starts_over():
    assert TransferState.from_json({"version": 99, "cursor": 5}).cursor is None
    assert TransferState.from_json(None).done == {}
