"""`verify` against the simulator (real HTTPS, real folder, SQLite and PostgreSQL): damage the archive at random
(files, rows, single recordings; sessions that ended after being stored in progress), verify names exactly those,
--repair restores them through the engine without touching the schedules' state, and a second verify is clean."""
from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from ic.cli import run_cli
from ic.services import verify as V
from ic.services.runs import run_schedule
from tests.helpers import add_folder, add_schedule, add_site, add_sql, archived, rows

FILES = ["session", "recordings", "smsr", "shell"]
pytestmark = pytest.mark.usefixtures("restore_logging")  # the CLI runs in-process


def files_of(folder: Path, lsid: str) -> list[Path]:
    return sorted(p for p in folder.iterdir() if lsid in p.name and not p.name.startswith("."))


def states(store, site, dest, types):
    return {t: store.load_state(site.id, dest.id, t) for t in types}


def damage_folder(sim, folder: Path, seed: int) -> dict[str, tuple[str, list[str]]]:
    """Delete things at random; returns lsid -> (expected status, expected lacking)."""
    rng = random.Random(seed)
    ended = [s for s in sim.sessions if s.end_time is not None]
    rng.shuffle(ended)
    expect: dict[str, tuple[str, list[str]]] = {}

    def pick(pred=lambda x: True):
        s = next(x for x in ended if pred(x) and x.lsid not in expect)
        return s

    for n in range(3):  # everything of the session gone (the first one had a recording)
        s = pick(lambda x: x.recording or n > 0)
        for p in files_of(folder, s.lsid):
            p.unlink()
        expect[s.lsid] = ("missing", ["session"] + (["recordings"] if s.recording else []))
    s = pick(lambda x: x.recording or x.shell_instances)  # only its XML gone
    next(p for p in files_of(folder, s.lsid) if p.suffix == ".xml").unlink()
    expect[s.lsid] = ("partial", ["session"])
    for _ in range(2):  # single recordings
        s = pick(lambda x: x.recording)
        next(p for p in files_of(folder, s.lsid) if p.suffix == ".flv" and "-shell-" not in p.name
             and "-smsr-" not in p.name).unlink()
        expect[s.lsid] = ("partial", ["recordings"])
    s = pick(lambda x: x.shell_instances >= 2)
    next(p for p in files_of(folder, s.lsid) if p.name.endswith("-shell-1.flv")).unlink()
    expect[s.lsid] = ("partial", ["shell #1"])
    s = pick(lambda x: x.smsr_instances >= 1)
    next(p for p in files_of(folder, s.lsid) if "-smsr-0" in p.name).unlink()
    expect[s.lsid] = ("partial", ["smsr #0"])
    for s in [x for x in sim.sessions if x.end_time is None][:2]:  # stored in progress, ended since
        sim.end_session(s.lsid)
        # its recording (if any) is listed now that it ended: not stored yet either
        # pending: the schedule's next run stores the ended version (and its recording, listed now that it ended)
        expect[s.lsid] = ("pending", ["session (stored in progress)"] + (["recordings"] if s.recording else []))
    return expect


def found(report) -> dict[str, tuple[str, list[str]]]:
    return {f.lsid: (f.status, f.lacking) for f in report.findings if f.status not in ("present", "extra")}


# --- folder -------------------------------------------------------------------------------------------------------
def test_folder_names_exactly_the_damage_repair_restores_it_and_second_verify_is_clean(store, make_simulator,
                                                                                         tmp_path):
    sim = make_simulator(sessions=60, seed=11)
    site, dest = archived(store, sim, tmp_path / "files", FILES, "Nightly")
    clean = V.verify(store, "sim", "files")
    assert clean.complete and clean.counts()["present"] == 60 and not clean.problems()
    assert clean.requests <= 3  # a token and two listings, whatever the number of sessions
    before = states(store, site, dest, FILES)

    expect = damage_folder(sim, tmp_path / "files", seed=3)
    report = V.verify(store, "sim", "files")
    assert found(report) == expect
    assert not report.complete and report.requests <= 4  # + one listing from the transfer's cursor (pending)

    fixed = V.verify_and_repair(store, "sim", "files", do_repair=True)
    assert fixed.complete, V.summary_text([fixed])
    assert fixed.repair is not None and fixed.repair.attempted == len(expect) and not fixed.repair.errors
    assert states(store, site, dest, FILES) == before  # the schedule's cursors and done lists are untouched
    rec = next(s for s in sim.sessions if expect.get(s.lsid, ("",))[0] == "missing" and s.recording)
    flv = [p for p in files_of(tmp_path / "files", rec.lsid) if p.suffix == ".flv" and "-" + "shell" not in p.name
           and "-smsr-" not in p.name]
    assert flv and flv[0].read_bytes() == sim.recording_bytes("recordings", rec.lsid)
    again = V.verify(store, "sim", "files")
    assert again.complete and not again.problems() and again.counts()["present"] == 60
    # the schedule's next run still works and finds nothing to redo twice
    assert run_schedule(store, "Nightly", raise_internal=True).ok
    assert V.verify(store, "sim", "files").complete


def test_sessions_gone_from_the_appliance_are_extra_not_missing(store, simulator, tmp_path):
    archived(store, simulator, tmp_path / "files", ["session", "recordings"])
    old = [s.lsid for s in simulator.sessions if s.end_time][:2]
    for lsid in old:
        simulator.delete_session(lsid)
    report = V.verify(store, "sim", "files")
    assert report.complete
    assert {f.lsid for f in report.findings if f.status == "extra"} == set(old)
    assert "no longer holds" in report.summary()


def test_recordings_the_appliance_no_longer_serves_are_unavailable_not_missing(store, simulator, tmp_path):
    archived(store, simulator, tmp_path / "files", ["session", "recordings"])
    s = next(x for x in simulator.sessions if x.recording and x.end_time)
    next(p for p in files_of(tmp_path / "files", s.lsid) if p.suffix == ".flv").unlink()
    simulator.faults.expired_recordings = True
    report = V.verify_and_repair(store, "sim", "files", do_repair=True)
    assert report.repair.unavailable == 1
    assert report.complete and [(f.lsid, f.status) for f in report.findings if f.status != "present"] == [
        (s.lsid, "unavailable")]
    assert "can no longer serve" in V.summary_text([report])
    assert V.verify(store, "sim", "files").counts()["unavailable"] == 1  # remembered


def test_any_name_format_and_a_format_changed_between_runs(store, make_simulator, tmp_path):
    sim = make_simulator(sessions=40, seed=5)
    add_site(store, sim)
    dest = add_folder(store, tmp_path / "files")
    dest.config["name_format"] = "%EXTERNAL_KEY%~%LSID%~%INSTANCE%.%EXTENSION%"  # shell and smsr names look alike
    store.save_destination(dest)
    add_schedule(store, "N", ("sim", "files", FILES))
    assert run_schedule(store, "N", raise_internal=True).ok
    assert V.verify(store, "sim", "files").complete
    dest = store.get_destination("files")
    dest.config["name_format"] = "%LSEQ%-%LSID%.%EXTENSION%"
    store.save_destination(dest)
    new = sim.add_sessions(3)
    assert run_schedule(store, "N", raise_internal=True).ok
    report = V.verify(store, "sim", "files")
    assert report.complete, V.summary_text([report])
    s = next(x for x in new if x.recording) if any(x.recording for x in new) else None
    if s is not None:
        next(p for p in files_of(tmp_path / "files", s.lsid) if p.suffix == ".flv").unlink()
        assert found(V.verify(store, "sim", "files")) == {s.lsid: ("partial", ["recordings"])}


def test_shell_recordings_without_session_data_cost_one_detail_request_per_50(store, make_simulator, tmp_path):
    sim = make_simulator(sessions=60, seed=9)
    archived(store, sim, tmp_path / "files", ["shell"])
    report = V.verify(store, "sim", "files")
    ended = sum(1 for s in sim.sessions if s.end_time)
    assert report.complete and report.requests <= 3 + -(-ended // 50)
    s = next(x for x in sim.sessions if x.shell_instances >= 2 and x.end_time)
    next(p for p in files_of(tmp_path / "files", s.lsid) if "-shell-0" in p.name).unlink()
    assert found(V.verify(store, "sim", "files")) == {s.lsid: ("partial", ["shell #0"])}


# --- SQL ----------------------------------------------------------------------------------------------------------
def delete_rows(url: str, host: str, lsids: list[str]) -> None:
    from ic.destinations.sql import _delete_sessions

    eng = create_engine(url)
    try:
        with eng.begin() as conn:
            _delete_sessions(conn, host, lsids)
    finally:
        eng.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sql_rows_deleted_and_sessions_ended_since(store, make_simulator, tmp_path, request, backend):
    url = f"sqlite:///{tmp_path / 'out.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    sim = make_simulator(sessions=50, seed=13)
    site, dest = archived(store, sim, url, ["session"])
    assert V.verify(store, "sim", "db").complete
    before = states(store, site, dest, ["session"])
    rng = random.Random(backend)
    gone = rng.sample([s.lsid for s in sim.sessions if s.end_time], 4)
    delete_rows(url, sim.host.split(":")[0] if False else site.host, gone)
    ended = [s.lsid for s in sim.sessions if s.end_time is None][:2]
    for lsid in ended:
        sim.end_session(lsid)
    report = V.verify(store, "sim", "db", ["session", "recordings"])
    assert found(report) == {**{x: ("missing", ["session"]) for x in gone},
                             **{x: ("pending", ["session (stored in progress)"]) for x in ended}}
    assert "holds session data only" in report.summary()
    fixed = V.verify_and_repair(store, "sim", "db", do_repair=True)
    assert fixed.complete and fixed.repair.attempted == 6
    assert rows(url) == 50
    assert states(store, site, dest, ["session"]) == before
    assert V.verify(store, "sim", "db").complete


def test_window_checks_only_sessions_that_started_in_it(store, make_simulator, tmp_path):
    sim = make_simulator(sessions=50, seed=17)
    site = add_site(store, sim)
    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_sql(store, url)
    add_schedule(store, "N", ("sim", "db", ["session"]))
    assert run_schedule(store, "N", raise_internal=True).ok
    ordered = sorted(sim.sessions, key=lambda s: s.start_time)
    lo, hi = ordered[10].start_time, ordered[30].start_time  # [lo, hi): sessions 10..29 (by start)
    inside = [s.lsid for s in ordered[10:30] if s.end_time and s.start_time not in (lo - 1, hi)]
    outside = [s.lsid for s in ordered[35:] if s.end_time]
    delete_rows(url, site.host, [inside[0], outside[0]])
    start = datetime.fromtimestamp(lo, timezone.utc)
    end = datetime.fromtimestamp(hi, timezone.utc)
    report = V.verify(store, "sim", "db", start=start, end=end)
    assert found(report) == {inside[0]: ("missing", ["session"])}
    assert len(report.findings) == sum(1 for s in sim.sessions if lo <= s.start_time < hi)
    assert "started from" in report.summary()


# --- command line, mail, schedule ---------------------------------------------------------------------------------
def test_cli_exit_codes_csv_and_repair(store, simulator, tmp_path, capsys):
    archived(store, simulator, tmp_path / "files", ["session", "recordings"])
    s = next(x for x in simulator.sessions if x.recording and x.end_time)
    for p in files_of(tmp_path / "files", s.lsid):
        p.unlink()
    out_csv = tmp_path / "findings.csv"
    assert run_cli(["verify", "--site", "sim", "--destination", "files", "--csv", str(out_csv), "-q"]) == 4
    text = capsys.readouterr().out
    assert "NOT complete" in text and s.lsid in text
    table = list(csv.DictReader(out_csv.open(encoding="utf-8-sig")))
    assert len(table) == 50 and {r["lsid"]: r["status"] for r in table}[s.lsid] == "missing"
    assert run_cli(["verify", "--schedule", "N", "--repair", "-q"]) == 0
    assert "repair fetched 1 session(s) and 1 file(s)" in capsys.readouterr().out
    assert run_cli(["verify", "--schedule", "N", "-q"]) == 0
    assert run_cli(["verify", "--site", "sim"]) == 1
    assert "--destination" in capsys.readouterr().err


def _mail_to_audit(store, plain_smtp):
    """Notifications on, to the test's SMTP server; returns its inbox."""
    from ic.services import app_settings

    ctl, inbox = plain_smtp
    app_settings.update_notification_settings(store, host="127.0.0.1", port=ctl.port, security="none",
                                              sender="ic@example.com", to="audit@example.com", enabled=True)
    return inbox


def test_weekly_verify_from_tick_mails_the_summary(store, simulator, tmp_path, plain_smtp):
    inbox = _mail_to_audit(store, plain_smtp)
    archived(store, simulator, tmp_path / "files", ["session"])
    assert run_cli(["verify", "--schedule", "N", "--every", "7d", "--repair"]) == 0
    plan = V.get_verify_plan(store, "N")
    assert plan.every_seconds == 7 * 86400 and plan.repair
    now = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)
    lsid = next(s.lsid for s in simulator.sessions if s.end_time)
    files_of(tmp_path / "files", lsid)[0].unlink()
    messages = V.tick_verifications(store, now=now)
    assert len(messages) == 1 and "complete" in messages[0] and "repair fetched 1" in messages[0]
    inbox.wait_for(1)
    subject = inbox.messages[0][2]["Subject"]
    assert "archive complete" in subject and "schedule N" in subject
    assert V.get_verify_plan(store, "N").last_result == "complete"
    assert V.tick_verifications(store, now=now + timedelta(days=3)) == []  # not due yet
    assert len(V.tick_verifications(store, now=now + timedelta(days=7))) == 1
    assert run_cli(["verify", "--schedule", "N", "--every", "0"]) == 0
    assert V.tick_verifications(store, now=now + timedelta(days=30)) == []


def test_cli_mail_says_not_complete(store, simulator, tmp_path, plain_smtp):
    inbox = _mail_to_audit(store, plain_smtp)
    add_site(store, simulator)
    add_folder(store, tmp_path / "files")
    # nothing transferred yet: every session is missing
    assert run_cli(["verify", "--site", "sim", "--destination", "files", "--data", "session", "-q"]) == 4
    inbox.wait_for(1)
    msg = inbox.messages[0][2]
    assert "NOT complete" in msg["Subject"]
    assert "50 missing" in msg.get_content()


def test_quarantined_sessions_are_named_and_leave_the_report_once_stored(store, simulator, tmp_path):
    from tests.helpers import closed_middle, poison, time_out_of_range

    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, simulator)
    add_sql(store, url)
    add_schedule(store, "Q", ("sim", "db", ["session"]))
    victim = closed_middle(simulator)
    healed = poison(simulator, victim, time_out_of_range)
    assert run_schedule(store, "Q", raise_internal=True).ok
    report = V.verify(store, "sim", "db")
    assert found(report) == {victim: ("quarantined", ["session"])} and not report.complete
    assert "1 quarantined" in report.summary()
    again = V.verify_and_repair(store, "sim", "db", do_repair=True)  # the engine retries it itself, not repair
    assert again.repair.attempted == 0 and found(again) == {victim: ("quarantined", ["session"])}
    healed.clear()
    assert run_schedule(store, "Q", raise_internal=True).ok
    assert V.verify(store, "sim", "db").complete


def test_tick_runs_the_due_verify_after_the_due_schedules(store, simulator, tmp_path):
    from ic.services.runs import tick

    add_site(store, simulator)
    add_folder(store, tmp_path / "files")
    add_schedule(store, "N", ("sim", "files", ["session"]))
    V.set_verify_plan(store, "N", 7 * 86400)
    now = datetime(2026, 12, 1, 3, 0)  # naive UTC, as tick keeps it
    outcomes = tick(store, now=now)
    assert [o.status for o in outcomes] == ["ok"]  # the schedule ran first: the verify then finds it complete
    plan = V.get_verify_plan(store, "N")
    assert plan.last is not None and plan.last.replace(tzinfo=None) == now
    assert V.due_verifications(store, datetime(2026, 12, 5, tzinfo=timezone.utc)) == []


def test_details_cut_short_are_asked_again(store, make_simulator, tmp_path):
    sim = make_simulator(sessions=60, seed=9)
    archived(store, sim, tmp_path / "files", ["shell"])

    def arm(text: str) -> None:  # after the listings: the first detail document arrives cut short
        if text.startswith("Asking for the recordings"):
            sim.faults.truncated_xml = 1

    assert V.verify(store, "sim", "files", progress=arm).complete
    assert sim.stats["faults"].get("truncated_xml") == 1


def test_sessions_newer_than_the_last_run_are_pending_not_missing(store, simulator, tmp_path):
    """A weekly verify an hour after the nightly run must not cry wolf over sessions that ended since."""
    archived(store, simulator, tmp_path / "files", ["session", "recordings"])
    new = simulator.add_sessions(3)
    old = next(s for s in simulator.sessions if s.end_time and s.recording)
    for p in files_of(tmp_path / "files", old.lsid):
        p.unlink()
    report = V.verify(store, "sim", "files")
    assert found(report) == {old.lsid: ("missing", ["session", "recordings"]),
                             **{s.lsid: ("pending", ["session"] + (["recordings"] if s.recording else []))
                                for s in new}}
    assert "3 pending" in report.summary() and not report.complete
    assert run_schedule(store, "N", raise_internal=True).ok  # the schedule stores the new ones, not the old gap
    after = V.verify(store, "sim", "files")
    assert found(after) == {old.lsid: ("missing", ["session", "recordings"])}
    simulator.add_sessions(1)
    only_pending = V.verify_and_repair(store, "sim", "files", do_repair=True)
    assert only_pending.complete and only_pending.repair.attempted == 2


def test_a_quarantined_session_that_aged_out_is_still_named(store, simulator, tmp_path):
    from tests.helpers import quarantined_then_forgotten

    victim, again = quarantined_then_forgotten(store, simulator, f"sqlite:///{tmp_path / 'out.db'}")
    assert again.ok
    report = V.verify(store, "sim", "db")
    [f] = [f for f in report.findings if f.status != "present"]
    assert (f.lsid, f.status, f.appliance) == (victim, "quarantined", "gone") and "only copy" in f.note
    assert not report.complete


def test_repair_asks_for_details_in_batches(store, make_simulator, tmp_path):
    from ic.transfer.engine import ExportRequest

    if "lsids" not in ExportRequest.__dataclass_fields__:
        pytest.skip("this engine exports one session ID at a time")
    sim = make_simulator(sessions=80, seed=23)
    url = f"sqlite:///{tmp_path / 'out.db'}"
    site, _ = archived(store, sim, url, ["session"])
    gone = [s.lsid for s in sim.sessions if s.end_time][:60]
    delete_rows(url, site.host, gone)
    before = len(sim.log)
    fixed = V.verify_and_repair(store, "sim", "db", do_repair=True)
    assert fixed.complete and fixed.repair.attempted == 60 and rows(url) == 80
    details = [r for r in list(sim.log)[before:] if r.get("report") == "SupportSession"]
    assert len(details) == 2  # 60 sessions, 50 a request


def test_privileged_remote_access_site(store, make_simulator, tmp_path):
    sim = make_simulator(sessions=40, seed=29, product="pra")
    archived(store, sim, tmp_path / "files", ["session", "recordings", "shell"], "P")
    report = V.verify(store, "sim", "files", FILES)
    assert report.complete and "smsr" not in report.data_types  # no Show My Screen on PRA
    s = next(x for x in sim.sessions if x.shell_instances >= 2 and x.end_time)
    next(p for p in files_of(tmp_path / "files", s.lsid) if p.name.endswith("-shell-1.flv")).unlink()
    assert found(V.verify(store, "sim", "files")) == {s.lsid: ("partial", ["shell #1"])}
    assert V.verify_and_repair(store, "sim", "files", do_repair=True).complete


def test_cli_window_and_option_errors(store, simulator, tmp_path, capsys):
    archived(store, simulator, f"sqlite:///{tmp_path / 'out.db'}", ["session"])
    assert run_cli(["verify", "--site", "sim", "--destination", "db", "--start", "2000-01-01", "--end", "2099-12-31",
                    "--csv", "-", "-q"]) == 0
    out = capsys.readouterr().out
    assert "started from 2000-01-01" in out and out.count("\n") >= 51  # summary + CSV header + 50 rows
    assert run_cli(["verify", "--site", "sim", "--destination", "db", "--start", "yesterday"]) == 1
    assert "--start 'yesterday'" in capsys.readouterr().err
    assert run_cli(["verify", "--site", "sim", "--destination", "db", "--start", "2026-03-02", "--end", "2026-03-01"]) == 1
    assert "end of the verify window" in capsys.readouterr().err
    assert run_cli(["verify", "--site", "sim", "--destination", "db", "--every", "7d"]) == 1
    assert run_cli(["verify", "--schedule", "N", "--every", "30m"]) == 1
    assert run_cli(["verify", "--schedule", "Nope"]) == 1
    assert run_cli(["verify", "--schedule", "N", "--data", "session"]) == 1


def test_sql_rows_stored_under_the_host_in_another_case_count(store, simulator, tmp_path):
    from ic.settings.models import SiteConfig

    url = f"sqlite:///{tmp_path / 'out.db'}"
    store.save_site(SiteConfig("sim", f"localhost:{simulator.port}", simulator.client_id, simulator.ca_file,
                               simulator.product), client_secret=simulator.client_secret)
    add_sql(store, url)
    add_schedule(store, "N", ("sim", "db", ["session"]))
    assert run_schedule(store, "N", raise_internal=True).ok
    eng = create_engine(url)
    with eng.begin() as conn:  # stored when the host was typed in capitals
        conn.exec_driver_sql("UPDATE session SET host_name = upper(host_name)")
    eng.dispose()
    report = V.verify(store, "sim", "db")
    assert report.complete and report.counts()["present"] == 50


def test_two_weeks_of_nightly_runs_retention_and_weekly_verify(store, make_simulator, tmp_path):
    """Think in days: a nightly schedule, sessions arriving every day, the appliance's retention removing the
    oldest, a session deleted from the archive by hand in week 2; the weekly verify (from tick, fake clock) says
    complete, a verify by hand names the gap, and the next weekly verify (now with repair) restores it."""
    from ic.services.runs import tick

    sim = make_simulator(sessions=30, seed=31, in_progress=2)
    add_site(store, sim)
    add_folder(store, tmp_path / "files")
    add_schedule(store, "Nightly", ("sim", "files", ["session", "recordings"]), every=86400)
    V.set_verify_plan(store, "Nightly", 7 * 86400)
    day0 = datetime(2026, 11, 2, 1, 0)  # naive UTC, as tick keeps it
    results = {}
    for day in range(15):
        now = day0 + timedelta(days=day)
        new = sim.add_sessions(3)
        if day % 5 == 4:  # retention: the appliance forgets its oldest sessions
            for s in sorted((x for x in sim.sessions if x.end_time), key=lambda x: x.end_time)[:4]:
                sim.delete_session(s.lsid)
        if day == 9:  # someone deletes a stored session (not one of the newest) from the archive
            victim = sorted((x for x in sim.sessions if x.end_time), key=lambda x: x.end_time)[5]
            for p in files_of(tmp_path / "files", victim.lsid):
                p.unlink()
        if day == 10:  # a verify by hand names exactly that gap (today's 3 new sessions: pending for tonight)
            seen = {k: v[0] for k, v in found(V.verify(store, "sim", "files")).items()}
            assert seen == {victim.lsid: "missing", **{s.lsid: "pending" for s in new}}
        if day == 12:
            V.set_verify_plan(store, "Nightly", 7 * 86400, repair_too=True)
        before = V.get_verify_plan(store, "Nightly").last
        assert [o.status for o in tick(store, now=now)] in (["ok"], [])
        plan = V.get_verify_plan(store, "Nightly")
        if plan.last != before:
            results[day] = plan.last_result
    assert list(results) == [0, 7, 14]
    assert results[0] == results[7] == "complete"
    assert results[14] == "complete"  # day 14 verifies with repair: the gap of day 9 was fetched again
    final = V.verify(store, "sim", "files")
    assert final.complete and final.counts()["extra"] == 12  # kept here after the appliance's retention
    assert files_of(tmp_path / "files", victim.lsid)  # restored by the repairing verify


def test_weekly_verify_from_the_day_a_transfer_began(store, simulator, tmp_path):
    """A transfer set to start from a date never fetched older sessions: its periodic verify starts there too."""
    url = f"sqlite:///{tmp_path / 'out.db'}"
    site, _ = archived(store, simulator, url, ["session"])
    ordered = sorted(simulator.sessions, key=lambda s: s.start_time)
    begin = ordered[20].start_time
    delete_rows(url, site.host, [s.lsid for s in ordered[:20]])  # as if the transfer had begun at `begin`
    assert run_cli(["verify", "--schedule", "N", "--every", "7d", "--start",
                    datetime.fromtimestamp(begin, timezone.utc).isoformat()]) == 0
    plan = V.get_verify_plan(store, "N")
    assert plan.start == datetime.fromtimestamp(begin, timezone.utc)
    V.tick_verifications(store, now=datetime(2026, 12, 1, tzinfo=timezone.utc))
    assert V.get_verify_plan(store, "N").last_result == "complete"
    assert not V.verify(store, "sim", "db").complete  # everything: the 20 older ones are missing


def test_an_emptied_recording_is_not_a_recording(store, simulator, tmp_path):
    archived(store, simulator, tmp_path / "files", ["session", "recordings"])
    s = next(x for x in simulator.sessions if x.recording and x.end_time)
    flv = next(p for p in files_of(tmp_path / "files", s.lsid) if p.suffix == ".flv")
    flv.write_bytes(b"")  # a disk that filled up, a copy tool that failed
    report = V.verify(store, "sim", "files")
    assert found(report) == {s.lsid: ("partial", ["recordings"])} and "(empty)" in report.summary()
    assert V.verify_and_repair(store, "sim", "files", do_repair=True).complete


def test_a_missing_site_backup_is_named_and_fetched_again(store, simulator, tmp_path):
    archived(store, simulator, tmp_path / "files", ["session", "backup"], "B")
    report = V.verify(store, "sim", "files")
    assert report.complete and report.backups and "newest backup" in report.summary()
    for p in (tmp_path / "files").glob("*.nsb"):
        p.unlink()
    report = V.verify(store, "sim", "files")
    assert not report.complete and report.backup_missing and "no backup of the site" in report.summary()
    assert ["sim", "files", "", "missing", "", "", "backup", "no backup of the site is stored"] in list(report.csv_rows())
    fixed = V.verify_and_repair(store, "sim", "files", do_repair=True)
    assert fixed.complete and fixed.repair.backups == 1 and len(list((tmp_path / "files").glob("*.nsb"))) == 1
