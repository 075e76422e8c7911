"""A cursor capped back to the appliance's own clock (its clock went back since the last run) lowers the bound below
which done lsids are remembered in ``recent``: an lsid remembered there, whose end time now lies above the new bound,
must stay remembered. Found by the soak (tests/soak/test_soak.py seed 4): after a 90 s step back, sessions stored two
runs earlier were in neither ``done`` nor ``recent`` and the next run stored them again."""
from __future__ import annotations

from ic.transfer.state import TransferState


def test_lsids_remembered_above_a_lowered_bound_stay_handled():
    base = 50_000_000
    st = TransferState()
    for i in range(10):
        st.mark_done(f"old{i}", base + i * 10)  # stored by an earlier run
    st.mark_done("newest", base + 1000)
    st.complete_window(120, now=base + 1000, host_now=base + 1000)
    assert st.cursor == base + 1000 and not any(k.startswith("old") for k in st.done)
    assert all(st.handled(f"old{i}") for i in range(10))
    # the next run: the appliance clock went back; the window reaches back and finds nothing new
    st.reach_back = 900
    st.complete_window(120, now=base + 100, host_now=base + 1100)
    assert st.cursor == base + 100  # capped back to the appliance's now
    assert all(st.handled(f"old{i}") for i in range(10)), "remembered lsids were forgotten when the bound went down"
    assert st.handled("newest")
    # and they survive a save and load
    again = TransferState.from_json(st.to_json())
    assert all(again.handled(f"old{i}") for i in range(10)) and again.handled("newest")
    for i in range(10):
        assert not again.needs(f"old{i}", base + i * 10, 120, 0)
