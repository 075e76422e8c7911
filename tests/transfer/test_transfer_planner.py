"""The planner is pure: listings + state -> what each data type still needs. Table-driven, no HTTP, no files."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from ic.sessions.model import CommandShellRecording, Event, EventData, Session
from ic.transfer import planner
from ic.transfer.state import TransferState

OV = 120


@dataclass
class Row:
    lsid: str
    has_recording: bool = False


def S(lsid, end=5000, shells=(), smsr=(), rec=False, start=4000):
    events = [Event("Show My Screen Recording", end, data=[EventData("instance", str(i))]) for i in smsr]
    return Session(lsid, start_time=start, end_time=end,
                   command_shell_recordings=[CommandShellRecording(i) for i in shells],
                   recording_download_url="https://x/rec" if rec else None, events=events)


def states(**kw) -> dict[str, TransferState]:
    return {t: TransferState(**v) for t, v in kw.items()}


@pytest.mark.parametrize("closed,started,sts,skip,want", [
    # first run: everything closed, then running ones
    (["a", "b"], ["b", "r"], states(session={}), (), ["a", "b", "r"]),
    # done for every type: skipped; done for one type only: still wanted
    (["a", "b"], None, states(session={"done": {"a": 1}}, recordings={"done": {"b": 1}}), (), ["a", "b"]),
    (["a", "b"], None, states(session={"done": {"a": 1}}, recordings={"done": {"a": 1}}), (), ["b"]),
    # remembered in progress are fetched again, even when no listing shows them
    ([], [], states(session={"in_progress": {"p": 10}}), (), ["p"]),
    # no in-progress tracking (started None): in-progress memory is not used
    ([], None, states(session={"in_progress": {"p": 10}}), (), []),
    # tried from the quarantine at the start of the run: not again
    (["a", "q"], ["q2"], states(session={}), ("q", "q2"), ["a"]),
    # a running session already done (it ended and was stored) is not fetched as running
    (["a"], ["d"], states(session={"done": {"d": 9}}), (), ["a"]),
])
def test_plan_window(closed, started, sts, skip, want):
    plan = planner.plan_window([Row(x) for x in closed], sts,
                               started=None if started is None else [Row(x) for x in started], skip=skip)
    assert plan.lsids == want
    assert plan.closed == set(closed)


@pytest.mark.parametrize("session,sts,kw,store,running,files,done_now", [
    (S("a"), states(session={}), {}, True, False, [], []),
    (S("a", end=None), states(session={}), {}, False, True, [], []),
    (S("a", end=None), states(session={}), {"keeps_in_progress": False}, False, False, [], []),
    # closed before this type's window (cursor 10000 - overlap): an earlier window had it
    (S("a", end=5000), states(session={"cursor": 10_000}), {}, False, False, [], []),
    # ... unless tried again from the quarantine
    (S("a", end=5000), states(session={"cursor": 10_000}), {"forced": ["session"]}, True, False, [], []),
    # recordings: from the details' URL or the listing's has_recording
    (S("a", rec=True), states(recordings={}), {}, False, False, [("recordings", None)], []),
    (S("a"), states(recordings={}), {"has_recording": True}, False, False, [("recordings", None)], []),
    (S("a"), states(recordings={}), {}, False, False, [], ["recordings"]),
    # shell instances not yet stored; smsr from events
    (S("a", shells=(0, 1, 2)), states(shell={"partial": {"a": [1]}}), {}, False, False,
     [("shell", 0), ("shell", 2)], []),
    (S("a", smsr=(0, 3)), states(smsr={}), {}, False, False, [("smsr", 0), ("smsr", 3)], []),
    (S("a", smsr=()), states(smsr={}, shell={}), {}, False, False, [], ["smsr", "shell"]),
    # running sessions have no files yet
    (S("a", end=None, shells=(0,)), states(shell={}), {}, False, False, [], []),
    # forced shell: every instance again (partial memory may be gone)
    (S("a", shells=(0, 1)), states(shell={"partial": {"a": [0]}}), {"forced": ["shell"]}, False, False,
     [("shell", 0), ("shell", 1)], []),
])
def test_plan_session(session, sts, kw, store, running, files, done_now):
    kw = {"overlap": OV, "first_bound": 0, "keeps_in_progress": True, **kw}
    plan = planner.plan_session(session, sts, **kw)
    assert (plan.store, plan.running, plan.files, plan.done_now) == (store, running, files, done_now)


@pytest.mark.parametrize("sts,first_bound,want", [
    (states(session={}), 0, 0),
    (states(session={}), 7000, 7000),
    (states(session={"cursor": 10_000}, recordings={}), 3000, 3000),  # a newly added type starts from look-back
    (states(session={"cursor": 10_000}, recordings={"cursor": 9_000}), 0, 9_000 - OV),
])
def test_closed_bound(sts, first_bound, want):
    assert planner.closed_bound(sts, OV, first_bound) == want


def test_reach_back_lowers_the_bound_and_is_not_saved():
    st = TransferState(cursor=10_000)
    st.reach_back = 600
    assert planner.closed_bound({"session": st}, OV, 0) == 10_000 - OV - 600
    assert "reach_back" not in st.to_json()


def test_batches():
    assert planner.batches(list("abcde"), 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert planner.batches([], 50) == []
