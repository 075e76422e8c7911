"""/api/reporting, /api/backup and /api/command: parameter validation and documents (appliance-api.md B3/B4/B7)."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from ic.simulator import recordings, xmlout
from ic.simulator.data import SimSession
from ic.simulator.faults import Faults
from ic.simulator.response import Response
from ic.simulator.store import SessionStore

RS_NAMESPACE = "http://www.bomgar.com/namespaces/API/reporting"
PRA_NAMESPACE = "http://www.beyondtrust.com/sra/namespaces/API/reporting"
COMMAND_NAMESPACE = {"rs": "http://www.bomgar.com/namespaces/API/command",
                     "pra": "http://www.beyondtrust.com/sra/namespaces/API/command"}

TIME_KEYS = ("start_date", "start_time", "end_date", "end_time")
EXPIRED = "This recording has expired and can no longer be viewed or downloaded."
NO_RECORDING = "No recording exists for the given session."
NO_SESSIONS = "No sessions found for the given search criteria."
INVALID_LSID = "Invalid lsid."
RECORDING_FAILED = "The recording could not be generated."  # faults.broken_recordings "error" (an appliance fault)

# report -> (products, kind); kind: listing | sessions | recording kind
REPORTS = {
    "SupportSessionListing": ({"rs"}, "listing"),
    "SupportSession": ({"rs"}, "sessions"),
    "SupportSessionRecording": ({"rs"}, "recordings"),
    "ShowMyScreenRecording": ({"rs"}, "smsr"),
    "CommandShellRecording": ({"rs", "pra"}, "shell"),
    "AccessSessionListing": ({"pra"}, "listing"),
    "AccessSession": ({"pra"}, "sessions"),
    "AccessSessionRecording": ({"pra"}, "recordings"),
    "UserRecording": ({"pra"}, "recordings"),  # [U] treated as the session's screen recording
}
# real reports the simulator does not model: answered with an <error> naming them
UNMODELLED = {"SupportSessionSummary", "SupportCustExitSurvey", "SupportRepExitSurvey", "SupportTeam", "Team",
              "PresentationSessionRecording", "Archive", "ArchiveListing", "Syslog", "LicenseUsage"}
RECORDING_NAMES = {"recordings": "session_recording", "smsr": "show_my_screen_recording",
                   "shell": "command_shell_recording"}


class BadRequest(Exception):
    """Becomes an HTTP 200 <error> document with this message."""


@dataclass
class Context:
    store: SessionStore
    product: str
    namespace: str
    faults: Faults
    recording_size: int
    count_fault: Callable[[str], None]  # counts a fault that fired


def reporting(params: dict[str, str], ctx: Context) -> tuple[Response, str]:
    """The response and the report name (for stats)."""
    report = params.get("generate_report", "")
    try:
        if not report:
            raise BadRequest("Missing required parameter generate_report.")
        if report in UNMODELLED:
            raise BadRequest(f"The report {report} is not available on this simulated appliance.")
        if report not in REPORTS:
            raise BadRequest(f"Invalid value for generate_report: {report}.")
        products, kind = REPORTS[report]
        if ctx.product not in products:
            raise BadRequest(f"Invalid value for generate_report: {report}.")
        if kind == "listing":
            return _listing(params, ctx), report
        if kind == "sessions":
            return _sessions(params, ctx), report
        return _recording(kind, params, ctx), report
    except BadRequest as exc:
        return error(ctx.namespace, str(exc)), report or "(none)"


def error(namespace: str, message: str) -> Response:
    return Response(200, body=xmlout.error_document(namespace, message), xml=True, error_doc=True)


def _int(params: dict[str, str], name: str, default: int | None = None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        if default is None:
            raise BadRequest(f"Missing required parameter {name}.")
        return default
    if not re.fullmatch(r"\d{1,12}", raw.strip()):
        raise BadRequest(f"Invalid value for {name}: {raw[:40]}.")
    return int(raw.strip())


def _window(params: dict[str, str]) -> tuple[str, int, int]:
    given = [k for k in TIME_KEYS if k in params]
    if len(given) != 1:
        raise BadRequest("Specify exactly one of start_date, start_time, end_date or end_time.")
    key = given[0]
    if key.endswith("_date"):
        raw = params[key].strip()
        try:
            day = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        except ValueError:
            raise BadRequest(f"Invalid value for {key}: {raw[:40]}.") from None
        t = int(day.timestamp())
    else:
        t = _int(params, key)
    return key, t, _int(params, "duration", 0)


def _empty_or_error(root: str, ctx: Context) -> Response:
    if ctx.faults.error_documents:
        ctx.count_fault("error_documents")
        return error(ctx.namespace, NO_SESSIONS)
    return Response(200, body=xmlout.document(root, ctx.namespace), xml=True)


def _listing(params: dict[str, str], ctx: Context) -> Response:
    if "lsid" in params or "lsids" in params:
        raise BadRequest("The lsid parameter is not valid for this report.")
    key, t, duration = _window(params)
    found = ctx.store.window(key, t, duration)
    if not found:
        return _empty_or_error("session_summary_list", ctx)
    return Response(200, body=xmlout.document("session_summary_list", ctx.namespace,
                                              [xmlout.summary(s) for s in found]), xml=True)


def _sessions(params: dict[str, str], ctx: Context) -> Response:
    selectors = [k for k in ("lsid", "lsids") if k in params] + [k for k in TIME_KEYS if k in params]
    if len(selectors) != 1:
        raise BadRequest("Specify exactly one of lsid, lsids, start_date, start_time, end_date or end_time.")
    store = ctx.store
    if "lsid" in params:
        s = store.get(params["lsid"].strip())
        if s is None:
            raise BadRequest(INVALID_LSID)
        found = [s]
    elif "lsids" in params:
        wanted = [x.strip() for x in params["lsids"].split(",") if x.strip()]
        if not wanted:
            raise BadRequest("Invalid value for lsids.")
        found = [s for s in (store.get(x) for x in dict.fromkeys(wanted)) if s is not None]
        if ctx.faults.strict_lsids and len(found) < len(dict.fromkeys(wanted)):
            ctx.count_fault("strict_lsids")
            raise BadRequest(INVALID_LSID)
    else:
        key, t, duration = _window(params)
        found = store.window(key, t, duration)
    if "limit" in params:
        found = found[: _int(params, "limit")]
    if not found:
        return _empty_or_error("session_list", ctx)
    head = f'{xmlout.DECL}<session_list xmlns="{xmlout.attr(ctx.namespace)}">\n'.encode()
    body = head + b"".join(store.session_xml(s) for s in found) + f"</session_list>{xmlout.TAIL}".encode()
    return Response(200, body=body, xml=True)


def recording_key(store: SessionStore, kind: str, s: SimSession, instance: int) -> str:
    return f"{store.seed}:{store.product}:{kind}:{s.lsid}:{instance}"


def _recording(kind: str, params: dict[str, str], ctx: Context) -> Response:
    lsid = params.get("lsid", "").strip()
    if not lsid:
        raise BadRequest("Missing required parameter lsid.")
    s = ctx.store.get(lsid)
    if s is None:
        raise BadRequest(INVALID_LSID)
    instance = _int(params, "instance", 0) if kind in ("shell", "smsr") else 0
    if instance >= s.recording_instances(kind):
        raise BadRequest(NO_RECORDING)
    key = recording_key(ctx.store, kind, s, instance)
    if ctx.faults.expired_recordings:
        ctx.count_fault("expired_recordings")
        ctx.store.expired.add(key)  # an appliance never un-expires a recording: it stays refused
        raise BadRequest(EXPIRED)
    if key in ctx.store.expired:
        raise BadRequest(EXPIRED)
    if broken_recording(ctx.faults, kind, lsid, instance) == "error":
        ctx.count_fault("broken_recordings")
        raise BadRequest(RECORDING_FAILED)
    size = ctx.recording_size
    big = _keyed(ctx.faults.big_recordings, kind, lsid, instance)
    if big:
        ctx.count_fault("big_recordings")
        size = int(big)
    suffix = f"-{instance}" if kind in ("shell", "smsr") else ""
    name = f"{RECORDING_NAMES[kind]}-{s.lsid}{suffix}.flv"
    return Response(200, "video/x-flv", stream=lambda: recordings.chunks(key, size), length=size,
                    headers=[("Content-Disposition", f'attachment; filename="{name}"')])


def broken_recording(faults: Faults, kind: str, lsid: str, instance: int | str | None) -> str | None:
    """The faults.broken_recordings mode ("cut" | "error") of one recording, or None."""
    return _keyed(faults.broken_recordings, kind, lsid, instance)


def _keyed(table: dict, kind: str, lsid: str, instance: int | str | None):
    if not table:
        return None
    inst = str(instance if instance not in (None, "") else 0)
    return table.get(f"{lsid}:{kind}:{inst}") or table.get(f"{lsid}:{kind}") or table.get(lsid)


def backup(ctx: Context, site: str, size: int, now: int) -> Response:
    day = datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y-%m-%d")
    key = f"{ctx.store.seed}:{ctx.store.product}:backup"
    return Response(200, "application/octet-stream", stream=lambda: recordings.chunks(key, size, b"NSB1\x00"),
                    length=size, headers=[("Content-Disposition", f'attachment; filename="{site}-{day}.nsb"')])


def command(params: dict[str, str], ctx: Context, now: int, permissions: dict[str, bool]) -> Response:
    ns = COMMAND_NAMESPACE[ctx.product]
    action = params.get("action", "")
    if action != "get_api_info":
        message = f"Invalid value for action: {action[:40]}." if action else "Missing required parameter action."
        return error(ns, message)
    # documented names [V]: RS perm_reporting_support / PRA perm_reporting ("Reports and Recordings": one switch on a
    # real appliance; the simulator's separate "recordings" switch has no documented name, so none is sent for it)
    names = {"reporting": "perm_reporting_support" if ctx.product == "rs" else "perm_reporting",
             "backup": "perm_backup"}
    perms = "".join(f"<{names[k]}>{1 if permissions.get(k, True) else 0}</{names[k]}>" for k in names)
    perms += f"<perm_command>{'full_access' if permissions.get('command', True) else 'deny'}</perm_command>"
    body = (f'{xmlout.DECL}<api_information xmlns="{ns}">\n<api_version>1.24.1</api_version>\n'
            f"<timestamp>{now}</timestamp>\n<permissions>{perms}</permissions>\n</api_information>{xmlout.TAIL}")
    return Response(200, body=body.encode(), xml=True)
