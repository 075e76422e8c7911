"""The session model is lean: slots (no per-object __dict__) and one shared, immutable EMPTY for every collection
without items, while values, equality with lists and the plugin-visible reading stay as they were."""
from __future__ import annotations

import copy
import dataclasses
import pickle
from pathlib import Path

import pytest

from ic.sessions import model
from ic.sessions.model import EMPTY, Customer, Event, EventData, Representative, Session, SystemInfoCategory
from ic.sessions.parser import iter_sessions

DATA = Path(__file__).parents[1] / "data"
COLLECTIONS = {
    Session: ("command_shell_recordings", "custom_attributes", "customers", "representatives", "teams", "events",
              "extra"),
    Event: ("data", "system_information", "extra", "files"),
    Customer: ("extra",),
    Representative: ("extra",),
    SystemInfoCategory: ("description", "rows"),
}


def parsed(name: str = "rs_support_session.xml") -> list[Session]:
    return list(iter_sessions(DATA / name))


def walk(obj):
    """Every model object reachable from obj (itself included)."""
    yield obj
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, (list, tuple)):
            for item in value:
                if dataclasses.is_dataclass(item):
                    yield from walk(item)


def test_empty_equals_every_empty_list_or_tuple_and_nothing_else():
    assert EMPTY == [] and [] == EMPTY and EMPTY == () and () == EMPTY
    assert not (EMPTY != []) and not ([] != EMPTY)
    assert EMPTY != [EventData("a", "b")] and [EventData("a", "b")] != EMPTY and EMPTY != (1,)
    assert EMPTY != "" and EMPTY != {} and EMPTY is not None and not EMPTY and len(EMPTY) == 0
    assert hash(EMPTY) == hash(()) and list(EMPTY) == [] and repr(EMPTY) == "()"


def test_empty_stays_one_object_through_copy_and_pickle_and_cannot_be_appended_to():
    assert copy.copy(EMPTY) is EMPTY and copy.deepcopy(EMPTY) is EMPTY
    assert pickle.loads(pickle.dumps(EMPTY)) is EMPTY
    with pytest.raises(AttributeError):
        EMPTY.append(1)  # type: ignore[attr-defined]
    a, b = Event("A", 1), Event("B", 2)
    assert a.data is EMPTY and b.data is EMPTY
    a.data = [*a.data, EventData("x", "1")]  # the way to add an item: a new list
    assert b.data == [] and a.data == [EventData("x", "1")]


def test_model_objects_have_slots_and_no_dict():
    for cls in (Session, Event, EventData, model.EventFile, SystemInfoCategory, Customer, Representative, model.Team,
                model.CustomAttribute, model.CommandShellRecording):
        obj = cls(*(["x"] * len([f for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING])))
        assert not hasattr(obj, "__dict__"), cls
        with pytest.raises(AttributeError):
            obj.not_a_field = 1  # type: ignore[attr-defined]


def test_parsed_collections_without_items_are_the_shared_empty_and_those_with_items_are_lists():
    sessions = parsed() + parsed("pra_access_session.xml")
    seen_empty = seen_list = 0
    for s in sessions:
        for obj in walk(s):
            for name in COLLECTIONS.get(type(obj), ()):
                value = getattr(obj, name)
                if value:
                    assert type(value) is list, (type(obj).__name__, name)
                    seen_list += 1
                else:
                    assert value is EMPTY, (type(obj).__name__, name, value)
                    seen_empty += 1
            if isinstance(obj, SystemInfoCategory):
                assert all(type(row) is list or row is EMPTY for row in obj.rows)
    assert seen_empty > 50 and seen_list > 10


def test_a_session_built_with_empty_lists_equals_the_parsed_one_and_a_difference_still_shows():
    for s in parsed():
        listed = dataclasses.replace(s, **{n: list(getattr(s, n)) for n in COLLECTIONS[Session]})
        listed.events = [dataclasses.replace(e, data=list(e.data), extra=list(e.extra), files=list(e.files),
                                             system_information=list(e.system_information)) for e in s.events]
        assert listed == s and s == listed
        if s.events:
            changed = copy.deepcopy(s)
            first = changed.events[0]
            first.extra = [*first.extra, ("x", "<x/>")]
            assert changed != s and s != changed
            assert s.events[0].extra is EMPTY or ("x", "<x/>") not in s.events[0].extra  # the original untouched


def test_parsed_twice_gives_equal_sessions_and_values_read_as_before():
    a, b = parsed(), parsed()
    assert a == b
    first = a[0]
    start = next(e for e in first.events if e.event_type == "Session Start")
    assert start.data == [] and start.files == [] and start.extra == [] and start.system_information == []
    assert [e.event_type for e in first.events][:1] == ["Session Start"]
    assert sum(len(e.data) for e in first.events) > 0
