"""ic.sessions.convert: the per-event entry point (spilled sessions build their events with it) and the bounded cache
of local names behind the fast walk."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from lxml import etree

from ic.sessions import convert
from ic.sessions.convert import _name_event_parties, event_from_element, session_from_element
from ic.sessions.parser import iter_sessions

DATA = Path(__file__).parents[1] / "data"


@pytest.mark.parametrize("name", ["rs_support_session.xml", "pra_access_session.xml"])
def test_events_built_one_at_a_time_equal_the_parsed_sessions_events(name):
    path = DATA / name
    parsed = {s.lsid: s for s in iter_sessions(path)}
    tree = etree.parse(str(path))
    checked = 0
    for elem in tree.getroot().iter("{*}session"):
        session = parsed[elem.get("lsid")]
        events = [event_from_element(e) for e in elem.iter("{*}event")]
        _name_event_parties(SimpleNamespace(representatives=session.representatives,
                                            customers=session.customers, events=events))
        assert events == session.events
        checked += len(events)
    assert checked > 5
    assert convert._event is event_from_element  # the older name stays


def _session(body: str) -> etree._Element:
    return etree.fromstring(f'<session xmlns="urn:x" lsid="a">{body}</session>'.encode())


def test_comments_and_pis_between_children_change_nothing():
    plain = ('<primary_rep gsnumber="1">Ann</primary_rep><rep_list><representative gsnumber="1">'
             '<display_name>Ann</display_name></representative></rep_list><session_details>'
             '<event timestamp="5" event_type="Chat Message"><performed_by type="representative" gsnumber="1"/>'
             '<body>hi</body><data><value name="k" value="v"/></data></event></session_details>')
    noisy = plain.replace("<body>", "<!-- c --><?pi x?><body>").replace("<value ", "<!--x--><value ")
    noisy = noisy.replace("<rep_list>", "<?pi y?><rep_list><!--r-->")
    a = session_from_element(_session(plain), "rs", "urn:x")
    b = session_from_element(_session(noisy), "rs", "urn:x")
    assert a == b
    assert a.events[0].performed_by == "Ann" and a.events[0].body == "hi" and not a.extra


def test_the_local_name_cache_stays_bounded_and_unknown_elements_are_kept(monkeypatch):
    monkeypatch.setattr(convert, "_LOCAL", dict(convert._LOCAL))
    monkeypatch.setattr(convert, "_LOCAL_MAX", len(convert._LOCAL) + 50)
    body = "".join(f"<odd_{i}>{i}</odd_{i}>" for i in range(200))
    s = session_from_element(_session(body), "rs", "urn:x")
    assert [name for name, _ in s.extra] == [f"odd_{i}" for i in range(200)]
    assert s.extra[7][1] == "<odd_7>7</odd_7>"
    assert len(convert._LOCAL) <= convert._LOCAL_MAX
