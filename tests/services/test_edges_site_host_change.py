"""A site whose host name is changed (an IP address replaced by the appliance's DNS name) keeps its quarantine: the
set-aside sessions are tried again by the next run under the new name, and verify still names them; before, they
stayed in the old host's folder for ever, never tried again.

Real parts: HTTPS simulator reached under two names (127.0.0.1 and localhost), real SQLite, the real quarantine."""
from __future__ import annotations

from ic.services import verify as V
from ic.services.runs import run_schedule
from ic.services.sites import save_site
from ic.transfer import quarantine
from tests.helpers import add_schedule, add_site, add_sql, closed_middle, poison, session_rows, time_out_of_range


def test_quarantine_follows_a_changed_site_host(store, simulator, tmp_path):
    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, simulator)
    add_sql(store, url)
    add_schedule(store, "Q", ("sim", "db", ["session"]))
    victim = closed_middle(simulator)
    heal = poison(simulator, victim, time_out_of_range)
    assert run_schedule(store, "Q", raise_internal=True).ok
    [entry] = quarantine.list_quarantined()
    old_host = entry.site_host
    site = store.get_site("sim")
    site.host = old_host.replace("127.0.0.1", "localhost")
    save_site(store, site)
    [moved] = quarantine.list_quarantined()
    assert moved.site_host == site.host and moved.lsid == victim and moved.path.is_file()
    assert quarantine.list_quarantined(old_host) == []
    assert [f.lsid for f in V.verify(store, "sim", "db").findings if f.status == "quarantined"] == [victim]
    heal.clear()
    out = run_schedule(store, "Q", raise_internal=True)
    assert out.ok, out.message()
    assert victim in session_rows(url) and quarantine.list_quarantined() == []


def test_follow_site_merges_and_rewrites_records():
    quarantine.put("10.0.0.5", "L1", "db", ["session"], "bad", raw=b"<session lsid='L1'/>")
    quarantine.put_file("10.0.0.5", "L2", "files", "shell", 0, "cut")
    quarantine.note_unavailable("10.0.0.5", "files", 3, "recordings", "L3", None)
    quarantine.put("support.example.com", "L4", "db", ["session"], "bad")
    assert quarantine.follow_site("10.0.0.5", "support.example.com") == 2
    assert sorted((e.site_host, e.lsid) for e in quarantine.list_quarantined()) == [
        ("support.example.com", "L1"), ("support.example.com", "L2"), ("support.example.com", "L4")]
    assert quarantine.unavailable("support.example.com", "files", 3) == {("recordings", "L3", None)}
    assert quarantine.xml_path("support.example.com", "L1").read_bytes() == b"<session lsid='L1'/>"
    assert quarantine.list_quarantined("10.0.0.5") == []
