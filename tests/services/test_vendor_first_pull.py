"""Choosing where a new transfer starts (all / today / a date), with an estimate from one listing."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from ic.cli import run_cli
from ic.errors import ConfigError
from ic.services import first_pull as fp
from ic.services.runs import run_schedule
from ic.settings.models import TransferConfig
from tests.helpers import add_site, add_sql, session_rows


pytestmark = pytest.mark.usefixtures("restore_logging")  # the CLI runs in-process


def _midnight(day: date) -> int:
    return int(datetime.combine(day, datetime.min.time()).timestamp())


def _closed_since(sim, since: int) -> set[str]:
    return {s.lsid for s in sim.sessions if s.end_time is not None and s.end_time >= since}


def test_schedule_add_start_date_honoured_by_the_first_run(store, simulator, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, simulator)
    add_sql(store, url)
    day = date.today() - timedelta(days=20)
    since = _midnight(day)  # simulator clock = host clock (no offset)
    expected = _closed_since(simulator, since)
    assert 0 < len(expected) < len([s for s in simulator.sessions if s.end_time])  # the date really cuts
    requests_before = simulator.stats["requests"]

    assert run_cli(["schedule", "add", "N", "--site", "sim", "--destination", "db", "--every", "1d",
                    "--start", day.isoformat()]) == 0
    out = capsys.readouterr().out
    n = len(expected)
    assert f"sim -> db: about {fp._about(n)} session" in out and "at the appliance's rate limit" in out
    assert f"Transfer sim -> db starts with sessions that ended since {day.isoformat()} 00:00." in out
    by_report = simulator.stats["by_report"]
    assert by_report.get("SupportSessionListing", 0) == 1 and not by_report.get("SupportSession")  # one listing
    assert simulator.stats["requests"] - requests_before <= 3  # token, get_api_info, listing

    outcome = run_schedule(store, "N")
    assert outcome.status == "ok", outcome.message()
    stored = set(session_rows(url))
    assert expected <= stored
    ended_before = {s.lsid for s in simulator.sessions if s.end_time is not None and s.end_time < since}
    assert not (stored & ended_before)  # nothing from before the chosen date


def test_start_today_and_all_with_a_lookback_setting(store, simulator, tmp_path):
    """"all" wins over the initial look-back setting; "today" takes only what ended since local midnight."""
    add_site(store, simulator)
    url_all, url_today = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 't.db'}"
    add_sql(store, url_all, "all")
    add_sql(store, url_today, "today")
    store.set_setting("initial_lookback_days", "1")
    new = simulator.add_sessions(3)  # closed, ending now
    from ic.settings.models import ScheduleConfig

    store.save_schedule(ScheduleConfig("S", 3600, [TransferConfig("sim", "all", ["session"]),
                                                   TransferConfig("sim", "today", ["session"])]))
    for tr, start in zip(store.get_schedule("S").transfers, ("all", "today")):
        fp.set_start(store, tr, fp.parse_start(start))
    assert run_schedule(store, "S").status == "ok"
    everything = {s.lsid for s in simulator.sessions if s.end_time is not None}
    assert everything <= set(session_rows(url_all))
    today = set(session_rows(url_today))
    assert {s.lsid for s in new} <= today
    assert today - {s.lsid for s in simulator.sessions if s.in_progress} == \
        _closed_since(simulator, _midnight(date.today()))


def test_set_start_never_rewinds_a_transfer_that_has_run(store, simulator, tmp_path):
    add_site(store, simulator)
    add_sql(store, f"sqlite:///{tmp_path / 'o.db'}")
    tr = TransferConfig("sim", "db", ["session", "recordings", "backup"])
    first = fp.set_start(store, tr, "today")
    assert first.seeded == ["session", "recordings"] and first.kept == []
    site, dest = store.get_site("sim"), store.get_destination("db", reveal=False)
    before = store.load_state(site.id, dest.id, "session")
    again = fp.set_start(store, tr, "all")
    assert again.seeded == [] and again.kept == ["session", "recordings"]
    assert store.load_state(site.id, dest.id, "session") == before
    assert store.load_state(site.id, dest.id, "backup") is None


def test_start_instant_follows_the_appliance_clock():
    host_now = datetime(2024, 6, 18, 15, 0).timestamp()
    midnight = datetime(2024, 6, 18).timestamp()
    assert fp.start_instant("today", None, host_now=host_now) == int(midnight)
    assert fp.start_instant("today", int(host_now) + 600, host_now=host_now) == int(midnight) + 600
    assert fp.start_instant(date(2024, 6, 1), int(host_now), host_now=host_now) == int(datetime(2024, 6, 1).timestamp())
    assert fp.start_instant("all", 0) is None


@pytest.mark.parametrize("text,message", [
    ("yesterday", "Start must be all, today or a date like 2024-06-18, not 'yesterday'."),
    ("2999-01-01", "The start date 2999-01-01 is in the future; choose today or an earlier date."),
])
def test_bad_start_is_one_sentence_and_nothing_saved(store, simulator, tmp_path, capsys, text, message):
    add_site(store, simulator)
    add_sql(store, f"sqlite:///{tmp_path / 'o.db'}")
    with pytest.raises(ConfigError, match=message):
        fp.parse_start(text)
    assert run_cli(["schedule", "add", "N", "--site", "sim", "--destination", "db", "--every", "1d",
                    "--start", text]) != 0
    assert message in capsys.readouterr().err
    assert store.list_schedules() == []


def test_estimate_sentence_rounding_and_rate_limit():
    est = fp.Estimate("all", None, 41_234, 9_812, 0, fp.request_seconds(2 + 825 + 9812, 20, 15_000))
    assert est.sentence().startswith("about 41,000 sessions and 9,800 recordings, roughly ")
    assert fp.request_seconds(30_000, 20, 15_000) == 7200
    assert fp._duration(30) == "under a minute" and fp._duration(3 * 3600) == "roughly 3 hours"


def test_unreachable_appliance_still_sets_the_start(store, simulator, tmp_path, capsys):
    add_site(store, simulator)
    add_sql(store, f"sqlite:///{tmp_path / 'o.db'}")
    simulator.stop(keep_certs=True)
    lines = fp.start_transfers(store, [TransferConfig("sim", "db", ["session"])], "today")
    assert lines[0].startswith("sim -> db: no estimate: Cannot connect to")
    assert lines[1].startswith("Transfer sim -> db starts with sessions that ended since ")


def test_add_transfer_start_pins_only_the_new_transfer(store, simulator, tmp_path, capsys):
    add_site(store, simulator)
    add_sql(store, f"sqlite:///{tmp_path / 'a.db'}", "a")
    add_sql(store, f"sqlite:///{tmp_path / 'b.db'}", "b")
    assert run_cli(["schedule", "add", "N", "--site", "sim", "--destination", "a", "--every", "1h"]) == 0
    assert "initial look-back setting" in capsys.readouterr().out  # no --start, no terminal: nothing pinned
    site = store.get_site("sim")
    a, b = (store.get_destination(n, reveal=False) for n in ("a", "b"))
    assert store.load_state(site.id, a.id, "session") is None
    assert run_cli(["schedule", "add-transfer", "N", "--site", "sim", "--destination", "b", "--start", "today"]) == 0
    assert "Transfer sim -> b starts with sessions that ended since" in capsys.readouterr().out
    assert store.load_state(site.id, a.id, "session") is None
    pinned = store.load_state(site.id, b.id, "session")
    assert pinned["cursor"] - 120 == _midnight(date.today())


def test_two_transfers_of_one_site_share_one_listing(store, simulator, tmp_path, capsys):
    add_site(store, simulator)
    add_sql(store, f"sqlite:///{tmp_path / 'a.db'}", "a")
    add_sql(store, f"sqlite:///{tmp_path / 'b.db'}", "b")
    assert run_cli(["schedule", "add", "N", "--site", "sim", "--destination", "a", "--site", "sim", "--destination",
                    "b", "--every", "1h", "--start", "all"]) == 0
    out = capsys.readouterr().out
    assert out.count("at the appliance's rate limit") == 2
    assert simulator.stats["by_report"].get("SupportSessionListing", 0) == 1
