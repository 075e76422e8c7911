"""`verify` on a schedule (`verify --schedule NAME --every 7d`): the plan kept in the settings database, which plans
are due, and `tick` running them and mailing the summary."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ic.errors import Cancelled, ConfigError, ICError, ScheduleBusy
from ic.services.verify_check import _aware, verify_schedule
from ic.services.verify_report import VerifyReport, mail_text

log = logging.getLogger("ic.verify")
RETRY_FAILED = 3600  # seconds after which a periodic verify whose check failed is tried again


def mail_summary(store, reports: list[VerifyReport], title: str) -> bool:
    """Send the summary when notifications are on; never raises (a failure is logged once)."""
    from ic import notify
    from ic.logs import FILE_ONLY

    try:
        settings = notify.load_settings(store)
    except ICError:
        return False
    if not settings.enabled or not settings.recipients or not settings.host:
        return False
    subject, body = mail_text(reports, title)
    try:
        password = notify.load_password(store) if settings.username else None
        notify.send_mail(settings, password, subject, body)
    except Exception as exc:  # noqa: BLE001
        log.warning("The verify summary could not be mailed: %s", notify.explain(exc, settings), extra={FILE_ONLY: True})
        return False
    log.info("Verify summary mailed to %s.", ", ".join(settings.recipients))
    return True


def _every_key(sched_id) -> str:
    return f"verify.every.{sched_id}"


def _last_key(sched_id) -> str:
    return f"verify.last.{sched_id}"


def _result_key(sched_id) -> str:
    return f"verify.result.{sched_id}"


def _start_key(sched_id) -> str:
    return f"verify.start.{sched_id}"


def _repair_key(sched_id) -> str:
    return f"verify.repair.{sched_id}"


@dataclass
class VerifyPlan:
    schedule: str
    every_seconds: int  # 0 = off
    repair: bool
    last: datetime | None
    last_result: str | None = None
    start: datetime | None = None  # only sessions that started from then  # "complete" | "NOT complete: ..." | "failed: ..." of the last periodic verify


def set_verify_plan(store, schedule: str, every_seconds: int, repair_too: bool = False,
                    start: datetime | None = None) -> VerifyPlan:
    """Verify the schedule's transfers every ``every_seconds`` (0 = never) from `tick`, and mail the summary.

    ``start``: only sessions that started from then (a transfer set to begin at a date never fetched older ones;
    without it they would be reported missing every time)."""
    sched = store.get_schedule(schedule)
    if every_seconds < 0:
        raise ConfigError("The verify period cannot be negative.", field="every")
    if every_seconds and every_seconds < 3600:
        raise ConfigError("Verify at most once an hour (for example every 7d).", field="every")
    store.set_setting(_every_key(sched.id), str(int(every_seconds)) if every_seconds else None)
    store.set_setting(_repair_key(sched.id), "1" if repair_too and every_seconds else None)
    store.set_setting(_start_key(sched.id), str(int(_aware(start).timestamp())) if start and every_seconds else None)
    return get_verify_plan(store, sched.name)


def get_verify_plan(store, schedule: str) -> VerifyPlan:
    sched = store.get_schedule(schedule)
    raw = store.get_setting(_every_key(sched.id))
    try:
        every = int(raw) if raw else 0
    except ValueError:
        every = 0
    last_raw = store.get_setting(_last_key(sched.id))
    try:
        last = datetime.fromisoformat(last_raw.replace("Z", "+00:00")) if last_raw else None
    except ValueError:
        last = None
    raw_start = store.get_setting(_start_key(sched.id))
    try:
        start = datetime.fromtimestamp(int(raw_start), timezone.utc) if raw_start else None
    except (ValueError, OverflowError, OSError):
        start = None
    return VerifyPlan(sched.name, every, store.get_setting(_repair_key(sched.id)) == "1", last,
                      store.get_setting(_result_key(sched.id)), start)


def due_verifications(store, now: datetime | None = None) -> list[VerifyPlan]:
    now = _aware(now or datetime.now(timezone.utc))
    out = []
    for sched in store.list_schedules():
        if not sched.enabled or not store.get_setting(_every_key(sched.id)):
            continue  # most schedules have no periodic verify: one read, not six, on every minute's check
        plan = get_verify_plan(store, sched.name)
        if not plan.every_seconds:
            continue
        last = plan.last
        # a check that failed (destination or appliance down) is tried again within the hour, not after a week
        every = min(plan.every_seconds, RETRY_FAILED) if (plan.last_result or "").startswith("failed") \
            else plan.every_seconds
        # a "last" in the future (the clock was corrected) does not block the verify for ever
        if last is None or now - last >= timedelta(seconds=every) or last > now + timedelta(hours=1):
            out.append(plan)
    return out


def tick_verifications(store, now: datetime | None = None, cancel: threading.Event | None = None) -> list[str]:
    """Called by `tick` after the due schedules ran: each due verify runs once and its summary is mailed."""
    now = _aware(now or datetime.now(timezone.utc))
    messages = []
    for plan in due_verifications(store, now):
        if cancel is not None and cancel.is_set():
            break
        sched = store.get_schedule(plan.schedule)
        try:
            reports = verify_schedule(store, plan.schedule, do_repair=plan.repair, start=plan.start, cancel=cancel,
                                      keep_going=True)
        except ScheduleBusy:
            messages.append(f"Verify of schedule {plan.schedule} skipped: the schedule is running.")
            continue  # not marked: the next tick tries again
        except Cancelled:
            break
        except Exception as exc:  # noqa: BLE001 - remembered, so it is tried again in an hour, not every minute
            if not isinstance(exc, ICError):
                log.exception("Verify of schedule %s stopped with an internal error.", plan.schedule)
                exc = ICError(f"internal error ({type(exc).__name__}); see the log")
            log.error("Verify of schedule %s failed: %s", plan.schedule, exc)
            messages.append(f"Verify of schedule {plan.schedule} failed: {exc}")
            _remember(store, sched.id, now, f"failed: {exc}")
            continue
        problems = [r.summary() for r in reports if not r.complete]
        failed = [r.summary() for r in reports if r.error is not None]
        _remember(store, sched.id, now, "failed: " + " ".join(failed) if failed
                  else "NOT complete: " + " ".join(problems) if problems else "complete")
        mail_summary(store, reports, f"schedule {plan.schedule}")
        for r in reports:
            messages.append(r.summary())
    return messages


def _remember(store, sched_id, now: datetime, result: str) -> None:
    """When the periodic verify last ran and what it found (the Verify window shows it)."""
    store.set_setting(_last_key(sched_id), now.replace(microsecond=0).isoformat())
    store.set_setting(_result_key(sched_id), result[:500])
