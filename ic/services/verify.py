"""`verify`: prove the archive is complete — compare what the appliance still holds with what a destination holds.

Cost on the appliance (its limits: 20 requests/s, 15,000/h): one token, the start-time listing (every session, in
progress included) and the closed listing (end_time, which sessions have ended) — two requests whatever the number of
sessions. Which recordings exist comes from the listing's ``has_recording`` and, for command shell / Show My Screen
recordings, from the session XML the destination stores; session details are asked for (50 sessions a request) only
when shell/Show My Screen recordings are verified for a destination that does not keep the session XML.

Each session of the appliance is *present*, *missing* (nothing stored), *partial* (stored without some of its
recordings, or stored while in progress and ended since) or *quarantined* (set aside by the engine); a gap that the
transfer's next run fills anyway (the session ended after its cursor, or is still running, or was stored in progress)
is *pending* — asked for with one more listing, from the transfer's cursor, only when there are gaps. A session the
destination keeps but the appliance no longer lists is *extra* (normal after the appliance's retention). A recording
the appliance lists but refused to serve during a repair is *unavailable* (remembered per site and destination). A
quarantined session the appliance no longer had when the engine asked for it again (twice, on two runs) is *expired*:
released from the quarantine, its XML kept in the quarantine's expired folder.
The archive is complete when nothing is missing, partial or quarantined (and, when backups are verified, a backup of
the site is there); pending, extra, unavailable and expired sessions are reported but do not make it incomplete.

``repair`` fetches what is missing, partial or pending with one-off exports by session ID through the normal engine: the
schedules' cursors and done lists are never read or changed. Then it verifies again.

The work is split by job (this module keeps the public names): ``verify_report`` (statuses, the report in words,
CSV and mail text), ``verify_appliance`` (listings, session details), ``verify_holdings`` (what a destination
holds), ``verify_compare`` (the pure comparison), ``verify_memory`` (refused recordings, quarantine, pending),
``verify_repair``, ``verify_check`` (the whole check, by site and destination or by schedule) and ``verify_plan``
(periodic verifies from `tick`).
"""
from __future__ import annotations

from ic.services.verify_appliance import DETAIL_BATCH, Listed, appliance_listing, fetch_expected
from ic.services.verify_check import default_types, parse_when, verify, verify_and_repair, verify_schedule
from ic.services.verify_compare import classify, unavailable_key
from ic.services.verify_memory import (expired_lsids, load_unavailable, pending_lsids, quarantined_lsids,
                                      save_unavailable)
from ic.services.verify_plan import (VerifyPlan, due_verifications, get_verify_plan, mail_summary, set_verify_plan,
                                     tick_verifications)
from ic.services.verify_repair import REPAIR_BATCH, repair
from ic.services.verify_report import (CSV_COLUMNS, ENDED, EXPIRED, EXTRA, INCOMPLETE, MISSING, NOTHING, PARTIAL,
                                       PENDING, PRESENT, QUARANTINED, RUNNING, STATUSES, UNAVAILABLE, Finding,
                                       Progress, RepairOutcome, VerifyReport, mail_text, summary_text, write_csv)

__all__ = [
    "CSV_COLUMNS", "DETAIL_BATCH", "ENDED", "EXPIRED", "EXTRA", "INCOMPLETE", "MISSING", "NOTHING", "PARTIAL",
    "PENDING", "PRESENT", "QUARANTINED", "REPAIR_BATCH", "RUNNING", "STATUSES", "UNAVAILABLE", "Finding", "Listed",
    "Progress", "RepairOutcome", "VerifyPlan", "VerifyReport", "appliance_listing", "classify", "default_types",
    "due_verifications", "expired_lsids", "fetch_expected", "get_verify_plan", "load_unavailable", "mail_summary",
    "mail_text", "parse_when", "pending_lsids", "quarantined_lsids", "repair", "save_unavailable", "set_verify_plan",
    "summary_text", "tick_verifications", "unavailable_key", "verify", "verify_and_repair", "verify_schedule",
    "write_csv",
]
