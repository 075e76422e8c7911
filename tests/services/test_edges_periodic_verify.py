"""The weekly verify of a schedule (`verify --schedule N --every 7d`, run by tick) over faked days: a transfer whose
check fails (destination down) is reported as failed while the schedule's other transfers are still verified; a
failed check is tried again within the hour instead of a week later (and not every minute); a bug in the check is
remembered the same way instead of a traceback at every minute's tick.

Real parts: HTTPS simulator, real folders, a real SQLite file whose folder is a file (it cannot be opened)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ic.services import verify as V
from ic.services import verify_check
from ic.services.verify_plan import RETRY_FAILED, get_verify_plan, set_verify_plan, tick_verifications
from ic.settings.models import DestinationConfig
from tests.helpers import add_folder, add_schedule, add_site, archived

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=timezone.utc)


def _setup(store, sim, tmp_path):
    archived(store, sim, tmp_path / "files", ["session"], schedule="N")  # site "sim", folder "files", all stored
    (tmp_path / "blocker").write_text("a file where a folder should be")
    store.save_destination(DestinationConfig("broken", "folder", {"directory": str(tmp_path / "blocker")}))
    sched = store.get_schedule("N")
    from ic.settings.models import TransferConfig

    sched.transfers.append(TransferConfig("sim", "broken", ["session"]))
    store.save_schedule(sched)
    set_verify_plan(store, "N", 7 * 86400)


def test_a_failed_transfer_check_does_not_hide_the_others_and_is_tried_again_within_the_hour(
        store, simulator, tmp_path):
    _setup(store, simulator, tmp_path)
    lines = tick_verifications(store, now=T0)
    assert len(lines) == 2
    ok, failed = lines
    assert "sim -> files: the archive is complete" in ok
    assert failed.startswith("sim -> broken: the check failed") and str(tmp_path / "blocker") in failed
    plan = get_verify_plan(store, "N")
    assert plan.last_result.startswith("failed: sim -> broken")
    assert tick_verifications(store, now=T0 + timedelta(minutes=1)) == []  # not every minute
    (tmp_path / "blocker").unlink()
    (tmp_path / "blocker").mkdir()
    again = tick_verifications(store, now=T0 + timedelta(seconds=RETRY_FAILED))
    assert len(again) == 2 and "the check failed" not in " ".join(again)
    assert not get_verify_plan(store, "N").last_result.startswith("failed")
    assert tick_verifications(store, now=T0 + timedelta(days=1)) == []  # back to weekly
    assert len(tick_verifications(store, now=T0 + timedelta(days=7, hours=2))) == 2


def test_a_bug_in_the_check_is_remembered_not_retried_every_minute(store, simulator, tmp_path, monkeypatch, caplog):
    archived(store, simulator, tmp_path / "files", ["session"], schedule="N")
    set_verify_plan(store, "N", 7 * 86400)

    def broken(*a, **kw):
        raise TypeError("unsupported operand type(s)")

    monkeypatch.setattr(verify_check, "verify_and_repair", broken)
    [line] = tick_verifications(store, now=T0)
    assert "internal error (TypeError)" in line
    assert get_verify_plan(store, "N").last_result.startswith("failed: internal error")
    tracebacks = len([r for r in caplog.records if r.exc_info])
    assert tick_verifications(store, now=T0 + timedelta(minutes=1)) == []
    assert len([r for r in caplog.records if r.exc_info]) == tracebacks  # one traceback, not one a minute
    monkeypatch.undo()
    [fine] = tick_verifications(store, now=T0 + timedelta(hours=1, minutes=1))
    assert "the archive is complete" in fine


def test_a_failed_report_reads_as_failed_in_words_and_mail():
    report = V.VerifyReport.failed("sim", "db", ["session"], "Cannot read sessions from SQL destination db.")
    assert not report.complete and report.summary() == (
        "sim -> db: the check failed, so completeness is unknown: Cannot read sessions from SQL destination db.")
    subject, body = V.mail_text([report], "schedule N")
    assert "NOT complete" in subject and "the check of 1 transfer(s) failed" in body
