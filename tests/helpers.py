"""Helpers shared by test modules. A test module imports helpers from here (never from another test module) and
gets its fixtures from conftest.py (never by importing them); tests/test_layout.py checks both."""
from __future__ import annotations

import copy
import ctypes
import email
import os
import re
import socket
import subprocess
import sys
import time
import types
from email import policy
from pathlib import Path

import pyodbc
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import create_engine, select, text

from ic import secrets
from ic.destinations import connection_string as cs
from ic.destinations import sql_schema as t
from ic.destinations.base import Destination
from ic.destinations.sql import SqlDestination
from ic.scheduling.task import RunResult
from ic.scheduling.task_windows import TASK_NAME, TASK_NS
from ic.sessions.model import (
    CustomAttribute,
    Customer,
    Event,
    EventData,
    Representative,
    Session,
    SystemInfoCategory,
    Team,
)
from ic.settings.models import DestinationConfig, ScheduleConfig, SiteConfig, TransferConfig
from ic.transfer.engine import TransferEngine

ROOT = Path(__file__).resolve().parents[1]  # the repository: main.py, ic/, tests/


# --- settings and results of transfers against the simulator (from test_transfer_engine) ----------------------------
def add_site(store, sim, name="sim"):
    return store.save_site(SiteConfig(name, sim.host, sim.client_id, sim.ca_file, sim.product),
                           client_secret=sim.client_secret)


def add_sql(store, url, name="db"):
    return store.save_destination(DestinationConfig(name, "sql", {"url": url}, secret_fields=("url",)))


def add_folder(store, folder: Path, name="files"):
    folder.mkdir(parents=True, exist_ok=True)
    return store.save_destination(DestinationConfig(name, "folder", {"directory": str(folder)}))


def add_schedule(store, name, *transfers, every=900):
    return store.save_schedule(ScheduleConfig(name, every, [TransferConfig(*t) for t in transfers]))


def archived(store, sim, where, types, schedule="N"):
    """Site "sim" and schedule ``schedule`` from it into ``where`` (a folder Path: destination "files"; a database
    URL: destination "db") for ``types``, run once, successfully; returns (site, destination)."""
    from ic.services.runs import run_schedule

    site = add_site(store, sim)
    dest = add_folder(store, where) if isinstance(where, Path) else add_sql(store, where)
    add_schedule(store, schedule, ("sim", dest.name, list(types)))
    assert run_schedule(store, schedule, raise_internal=True).ok
    return site, dest


def rows(url, table="session") -> int:
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            return conn.execute(text(f'SELECT COUNT(*) FROM "{table}"')).scalar_one()
    finally:
        eng.dispose()


def session_rows(url) -> dict[str, object]:
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            return dict(conn.execute(text("SELECT lsid, end_time FROM session")).all())
    finally:
        eng.dispose()


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every visible file (no temp/sidecar files) with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}


def expected_files(sim) -> dict[str, int]:
    """What the simulator serves: XML per session, recordings of ended sessions, one backup per run."""
    ended = [s for s in sim.sessions if s.end_time is not None]
    return {
        "xml": len(sim.sessions),
        "recordings": sum(1 for s in ended if s.recording),
        "smsr": sum(s.smsr_instances for s in ended),
        "shell": sum(s.shell_instances for s in ended),
    }


def count_kinds(folder: Path) -> dict[str, int]:
    names = [n for n in snapshot(folder) if not n.endswith(".nsb")]
    return {
        "xml": sum(n.endswith(".xml") for n in names),
        "smsr": sum("-smsr-" in n for n in names),
        "shell": sum("-shell-" in n for n in names),
        "recordings": sum(not n.endswith(".xml") and "-smsr-" not in n and "-shell-" not in n for n in names),
    }


def fast_engine(store_, **kw):
    """Engine whose client may go faster than the appliance's documented 20 req/s (the test simulator allows it)."""
    from ic.appliance import client_for_site

    def client(s, site):
        return client_for_site(s, site, max_rps=200, base_delay=0.02, max_delay=0.2)

    return TransferEngine(store_, client_factory=client, **kw)


class PlainDestination(Destination):
    """The least a destination plugin must define (no fields, test() says ok, stores nothing): tests subclass it."""

    type_name = "plain"
    display_name = "Plain"

    @classmethod
    def fields(cls):
        return []

    def test(self):
        return "ok"

    def store_sessions(self, site_host, sessions):
        return 0


# --- the real command line in a subprocess (from test_transfer_crash) -----------------------------------------------
def cli(*args: str, wait: bool = True, home: Path | None = None, **kw):
    """Run main.py with this test's IC_HOME (from conftest's environment) or ``home``."""
    cmd = [sys.executable, str(ROOT / "main.py"), *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if home is not None:
        env["IC_HOME"] = str(home)
    if wait:
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, **kw)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)


# --- sessions built by hand, the B6.1 RS example and a PRA session; the SQL destination (from test_sql_destination) ---
HOST = "support.example.com"
SYSINFO_XML = ('<category name="Overview"><description><field name="OS">OS</field></description>'
               '<data><row><field name="OS">Windows 11 Enterprise</field></row></data></category>')


def rs_session() -> Session:
    return Session(
        lsid="6f1c2b9e0d4a4e7f9a3b5c8d7e6f5a4b", product="rs", session_type="support", lseq=10482,
        start_time=1718705400, end_time=1718706923, duration="00:25:23", public_site_id="1",
        public_site_name="Default", external_key="INC0012345", file_transfer_count=1, file_move_count=0,
        file_delete_count=0, primary_customer="Jane Customer", primary_rep="Alex Rep",
        custom_attributes=[CustomAttribute("ticket_priority", "Ticket Priority", "P2")],
        customers=[Customer("3", True, "Jane Customer", "Example Corp", "EX01", "Printer not working",
                            "Cannot print to floor 3 printer", "jcustomer", "203.0.113.10:53122", "10.1.2.3",
                            "EXCORP-LT-0042", "Windows 11 Enterprise x64 (23H2)")],
        representatives=[Representative("2", "7", "arep", "Alex Rep", "Alex", None, "198.51.100.20:61002",
                                        "192.168.10.5", "HELPDESK-07", "Windows 10 Enterprise x64 (22H2)",
                                        is_owner=True, is_primary=True, seconds_involved=1523)],
        teams=[Team("4", "Tier 1 – Ünïcode", True)],
        events=[
            Event("Session Start", 1718705400),
            Event("Conference Member Added", 1718705402, "Jane Customer", "customer", "3",
                  data=[EventData("name", "Jane Customer"), EventData("private_ip", "10.1.2.3")]),
            Event("Chat Message", 1718705415, "Alex Rep", "representative", "2", "Everyone", "everyone",
                  body="Hi Jane, I am taking a look now.", data=[EventData("body", "Hi Jane, I am taking a look now.")]),
            Event("System Information Retrieved", 1718705460, "Alex Rep", "representative", "2", "Jane Customer",
                  "customer", "3", system_information=[SystemInfoCategory("Overview", information_xml=SYSINFO_XML)]),
            Event("Session End", 1718706923),
        ],
    )


def pra_session() -> Session:
    return Session(
        lsid="0123456789abcdef0123456789abcdef", product="pra", session_type="support", lseq=77,
        start_time=1718800000, end_time=1718800600, duration="00:10:00", external_key="",
        file_transfer_count=0, jumpoint_id="5", jumpoint_name="DC Jumpoint", jump_group_id="12",
        jump_group_name="Servers", jump_group_type="shared",
        customers=[Customer("9", True, "srv-db-01", public_ip="10.0.0.5", hostname="srv-db-01", os="Linux")],
        representatives=[Representative("8", "31", "admin1", "Admin One", "Admin", None, "198.51.100.9", "10.0.0.2",
                                        is_owner=True, is_primary=True, seconds_involved=600)],
        events=[Event("Session Start", 1718800000),
                Event("Remote Shell Session Started", 1718800100, "Admin One", "representative", "8",
                      data=[EventData("instance", "0")]),
                Event("Session End", 1718800600)],
    )


def in_progress(s: Session) -> Session:
    s = copy.deepcopy(s)
    s.end_time, s.duration, s.events = None, "00:05:00", s.events[:2]
    return s


def dest(url: str, **extra) -> SqlDestination:
    return SqlDestination("Warehouse", {"url": url, **extra})


def dump(url: str) -> dict[str, list[dict]]:
    """Every table, rows in id order, ids replaced by their rank so dumps of separate imports compare equal."""
    engine = create_engine(url)
    out: dict[str, list[dict]] = {}
    ranks: dict[str, dict[int, int]] = {}
    parents = {"session_id": "session", "session_event_id": "session_event"}
    with engine.connect() as conn:
        for table in t.ALL_TABLES:
            rows = [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]
            ranks[table.name] = {r["id"]: i + 1 for i, r in enumerate(rows)}
            for r in rows:
                r["id"] = ranks[table.name][r["id"]]
                for col, parent in parents.items():
                    if col in r:
                        r[col] = ranks[parent][r[col]]
            out[table.name] = rows
    engine.dispose()
    return out


def stored_in_sqlite(tmp_path: Path, sessions) -> dict[str, list[dict]]:
    """The dump of ``sessions`` stored by the SQL destination into a new SQLite file: what a real database holds."""
    lite = f"sqlite:///{tmp_path / 'ic.db'}"
    real = dest(lite)
    real.store_sessions(HOST, sessions)
    real.close()
    return dump(lite)


# --- a stand-in pyodbc: SQL SERVER ITSELF IS MOCKED (from test_sqlserver_dialect) -----------------------------------
MS18 = "ODBC Driver 18 for SQL Server"


class FakeSqlServer:
    """Records (kind, sql, params, fast_executemany) and plays IDENTITY + OUTPUT inserted.id. OUTPUT rows come back
    in REVERSE order (the server promises no order), so id-to-row matching must not rely on it."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, object, bool]] = []
        self.tables: dict[str, list[dict]] = {}
        self.connect_strings: list[str] = []
        self.connect_kwargs: list[dict] = []
        self.fail_next_session_insert: Exception | None = None

    def module(self) -> types.ModuleType:
        mod = types.ModuleType("pyodbc")
        mod.__dict__.update({k: getattr(pyodbc, k) for k in dir(pyodbc) if not k.startswith("__")})
        mod.connect = lambda conn_str, **kw: (self.connect_strings.append(conn_str), self.connect_kwargs.append(kw),
                                              _Conn(self))[2]
        return mod

    def insert_rows(self, sql: str, flat: tuple) -> list[int]:
        m = re.match(r"INSERT INTO (\S+) \(([^)]*)\)", sql)
        table, cols = m.group(1).strip("[]"), [c.strip() for c in m.group(2).split(",")]
        rows = self.tables.setdefault(table, [])
        ids = []
        for i in range(0, len(flat), len(cols)):
            rows.append({"id": len(rows) + 1, **dict(zip(cols, flat[i:i + len(cols)]))})
            ids.append(len(rows))
        return ids

    def statements(self, prefix: str = "") -> list[tuple[str, str, object, bool]]:
        return [e for e in self.log if e[1] and " ".join(e[1].split()).startswith(prefix)]


class _Conn:
    def __init__(self, server: FakeSqlServer) -> None:
        self.server, self.autocommit, self.timeout = server, False, 0

    def cursor(self):
        return _Cursor(self.server)

    def commit(self):
        self.server.log.append(("commit", "", None, False))

    def rollback(self):
        self.server.log.append(("rollback", "", None, False))

    def close(self):
        pass

    def getinfo(self, _what):
        return "16.00.1000"

    def add_output_converter(self, *_a):
        pass


class _Cursor:
    def __init__(self, server: FakeSqlServer) -> None:
        self.server, self._rows, self.description, self.rowcount, self.fast_executemany = server, [], None, -1, False

    def setinputsizes(self, _sizes):
        pass

    def execute(self, sql, *params):
        if len(params) == 1 and isinstance(params[0], (list, tuple)):
            params = tuple(params[0])
        self.server.log.append(("execute", sql, params, self.fast_executemany))
        s = " ".join(sql.split())
        self.description, self._rows, self.rowcount = None, [], 0
        if "SERVERPROPERTY('ProductVersion')" in s:
            self._result(["v"], [("16.0.1000.6",)])
        elif "schema_name()" in s:
            self._result(["s"], [("dbo",)])
        elif "transaction_isolation_level" in s:
            self._result(["l"], [("READ COMMITTED",)])
        elif s.startswith("INSERT"):
            if s.startswith("INSERT INTO session (") and self.server.fail_next_session_insert:
                exc, self.server.fail_next_session_insert = self.server.fail_next_session_insert, None
                raise exc
            ids = self.server.insert_rows(s, params)
            out = re.search(r" OUTPUT (.*?) (VALUES|SELECT) ", s)
            if out:
                cols = [c.strip() for c in out.group(1).split(",")]
                self._result(cols, [tuple(i for _ in cols) for i in reversed(ids)])
            self.rowcount = len(ids)
        elif s.startswith("SELECT session.id FROM session WHERE session.host_name = ?"):
            host, lsids = params[0], set(params[1:])
            self._result(["id"], [(r["id"],) for r in self.server.tables.get("session", [])
                                  if r["host_name"] == host and r["lsid"] in lsids])
        elif s.startswith("SELECT"):
            self._result(["x"], [])
        return self

    def executemany(self, sql, seq):
        seq = [tuple(p) for p in seq]
        self.server.log.append(("executemany", sql, seq, self.fast_executemany))
        for params in seq:
            self.server.insert_rows(" ".join(sql.split()), params)
        self.description, self._rows, self.rowcount = None, [], len(seq)

    def _result(self, cols, rows):
        self.description = [(c, None, None, None, None, None, None) for c in cols]
        self._rows, self.rowcount = list(rows), -1

    def fetchone(self):
        return self._rows.pop(0) if self._rows else None

    def fetchall(self):
        rows, self._rows = self._rows, []
        return rows

    def fetchmany(self, n=1):
        rows, self._rows = self._rows[:n], self._rows[n:]
        return rows

    def nextset(self):
        return False

    def close(self):
        pass


def settings_on_mock_sql_server(monkeypatch, server: FakeSqlServer, password: str = "Pw;1"):
    from ic.settings import store as store_mod

    real = store_mod.create_engine
    monkeypatch.setattr(store_mod, "create_engine", lambda url, **kw: real(url, module=server.module(), **kw))
    url = cs.build_url(cs.ConnectionParams(server="db1", database="settings", username="ic", password=password,
                                           driver=MS18))
    return store_mod.SettingsStore(url)


# --- poisoned session details (from test_transfer_quarantine) -------------------------------------------------------
def poison(sim, lsid: str, change) -> list:
    """Serve ``change(xml bytes)`` instead of the session's details; returns a list to clear to heal it."""
    original = sim.store.session_xml
    active = [True]

    def serving(s):
        body = original(s)
        return change(body) if s.lsid == lsid and active else body

    sim.store.session_xml = serving
    return active


def time_out_of_range(body: bytes) -> bytes:
    return re.sub(rb'<start_time timestamp="\d+"', b'<start_time timestamp="999999999999999"', body)


def closed_middle(sim) -> str:
    closed = [s.lsid for s in sim.sessions if s.end_time]
    return closed[len(closed) // 2]


def quarantined_then_forgotten(store, sim, url: str):
    """Schedule G (site "sim" -> SQL destination "db" at ``url``) quarantines one closed session it cannot store
    (start time out of range), then the appliance forgets that session and G runs again; returns (its lsid, the
    second run's outcome)."""
    from ic.services.runs import run_schedule

    add_site(store, sim)
    add_sql(store, url)
    add_schedule(store, "G", ("sim", "db", ["session"]))
    victim = closed_middle(sim)
    poison(sim, victim, time_out_of_range)
    assert run_schedule(store, "G", raise_internal=True).ok
    sim.delete_session(victim)
    return victim, run_schedule(store, "G", raise_internal=True)


# --- a real SMTP server's inbox (from test_notify) ------------------------------------------------------------------
SMTP_PASSWORD = "smtp-Pa55-w0rd-XYZ"
SMTP_USER = "ic-mailer"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            self.logins.append((auth_data.login, auth_data.password))
            if auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode():
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def wait_for(self, n: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Windows stand-ins: schtasks.exe (from test_task_windows) and DPAPI (from test_windows_paths) -------------------
NS = {"t": TASK_NS}


class SchtasksStandIn:
    """Windows-only schtasks.exe stand-in: keeps one task's XML and enabled/running flags like Task Scheduler."""

    def __init__(self, fail: dict[str, RunResult] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.created_xml: bytes | None = None
        self.xml_path: str | None = None
        self.xml: str | None = None
        self.enabled = True
        self.running = False
        self.fail = fail or {}
        self.stdin: str | None = None
        self.script: str | None = None

    def _created(self, xml: bytes) -> RunResult:
        self.created_xml = xml
        self.xml = xml.decode("utf-16")
        self.enabled = True
        return RunResult(0, f'SUCCESS: The scheduled task "{TASK_NAME[1:]}" has successfully been created.\r\n')

    def _powershell(self, argv: list[str], stdin: str | None) -> RunResult:
        import base64
        import re

        assert argv[:-1] == ["powershell.exe", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass",
                             "-EncodedCommand"]
        self.script = base64.b64decode(argv[-1]).decode("utf-16-le")
        self.stdin = stdin
        self.xml_path = re.search(r"ReadAllText\('([^']*)'\)", self.script).group(1)
        if "/Create" in self.fail:
            return self.fail["/Create"]
        return self._created(Path(self.xml_path).read_bytes())

    def __call__(self, argv: list[str], input: str | None = None) -> RunResult:
        self.calls.append(list(argv))
        if argv[0] == "powershell.exe":  # Register-ScheduledTask with the password on stdin
            return self._powershell(argv, input)
        assert argv[0] == "schtasks" and input is None
        verb = argv[1]
        if "/XML" in argv and verb == "/Create":
            self.xml_path = argv[argv.index("/XML") + 1]
        if verb in self.fail:
            return self.fail[verb]
        if verb == "/Create":
            self.xml_path = argv[argv.index("/XML") + 1]
            return self._created(Path(self.xml_path).read_bytes())
        if self.xml is None:
            return RunResult(1, "", "ERROR: The system cannot find the file specified.\r\n")
        if verb == "/Query" and "/XML" in argv:
            state = "true" if self.enabled else "false"
            return RunResult(0, self.xml.replace("<Enabled>true</Enabled>\r\n    <Hidden>",
                                                 f"<Enabled>{state}</Enabled>\r\n    <Hidden>"))
        if verb == "/Query":
            word = "Disabled" if not self.enabled else ("Running" if self.running else "Ready")
            return RunResult(0, f'"{TASK_NAME}","N/A","{word}"\r\n')
        if verb == "/Change":
            self.enabled = "/ENABLE" in argv
            return RunResult(0, "SUCCESS\r\n")
        if verb == "/Run":
            self.running = True
            return RunResult(0, "SUCCESS\r\n")
        if verb == "/End":
            was, self.running = self.running, False
            return RunResult(0 if was else 1, "", "" if was else "ERROR: The task is not running.\r\n")
        if verb == "/Delete":
            self.xml = None
            return RunResult(0, "SUCCESS\r\n")
        raise AssertionError(f"unexpected schtasks call {argv}")


class _Lib:
    """Stands in for a ctypes.WinDLL: attributes are real ctypes function pointers to Python callbacks."""


def _dpapi_stand_in(fail_code: int = 0):
    """CryptProtectData/CryptUnprotectData/LocalFree stand-ins with the Win32 calling shape: out blob memory comes
    from malloc (LocalAlloc's role) and must be handed back to LocalFree exactly once."""
    libc = ctypes.CDLL("msvcrt") if os.name == "nt" else ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.restype, libc.free.argtypes = None, [ctypes.c_void_p]
    blob_p = ctypes.POINTER(secrets.DATA_BLOB)
    proto = ctypes.CFUNCTYPE(ctypes.c_int, blob_p, ctypes.c_void_p, blob_p, ctypes.c_void_p, ctypes.c_void_p,
                             ctypes.c_uint32, blob_p)
    calls: dict[str, list] = {"flags": [], "allocated": [], "freed": []}

    def transform(blob_in, descr, entropy, reserved, prompt, flags, blob_out):
        calls["flags"].append(flags)
        assert not descr and not entropy and not reserved and not prompt
        if fail_code:
            return 0
        data = ctypes.string_at(blob_in.contents.pbData, blob_in.contents.cbData)
        out = bytes(b ^ 0x5A for b in data)[::-1]  # an involution: protect == unprotect for the stand-in
        mem = libc.malloc(len(out))
        ctypes.memmove(mem, out, len(out))
        calls["allocated"].append(mem)
        blob_out.contents.cbData = len(out)
        blob_out.contents.pbData = ctypes.cast(mem, ctypes.POINTER(ctypes.c_char))
        return 1

    def local_free(ptr):
        calls["freed"].append(ptr)
        libc.free(ptr)
        return None

    keep = [proto(transform), ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)(local_free)]
    crypt32, kernel32 = _Lib(), _Lib()
    address = lambda cb: ctypes.cast(cb, ctypes.c_void_p).value  # noqa: E731
    crypt32.CryptProtectData = ctypes.CFUNCTYPE(ctypes.c_int)(address(keep[0]))
    crypt32.CryptUnprotectData = ctypes.CFUNCTYPE(ctypes.c_int)(address(keep[0]))
    kernel32.LocalFree = ctypes.CFUNCTYPE(ctypes.c_void_p)(address(keep[1]))
    api = (secrets._declare_dpapi(crypt32, kernel32), lambda: fail_code)
    return api, calls, (crypt32, kernel32, keep)


# --- a realistic configuration for the screenshots (test_gui_screenshots, gui_fit_probe) ----------------------------
def demo_settings(store, archive: Path, db: Path, first_schedule: str, **support_secrets) -> None:
    """Sites Support (RS) and Privileged Access (PRA), destinations Archive Share (folder ``archive``) and Reporting
    DB (SQLite file ``db``), and three schedules: ``first_schedule`` (session data of both sites every 15 minutes),
    Recordings hourly, Nightly backup (02:00)."""
    store.save_site(SiteConfig("Support", "support.example.com", "3f9c1e0b"), client_secret="x", **support_secrets)
    store.save_site(SiteConfig("Privileged Access", "pra.example.com", "77aa01", product="pra"), client_secret="x")
    store.save_destination(DestinationConfig("Archive Share", "folder", {"directory": str(archive)}))
    store.save_destination(DestinationConfig("Reporting DB", "sql", {"url": f"sqlite:///{db}"}, secret_fields=("url",)))
    store.save_schedule(ScheduleConfig(first_schedule, 900, [
        TransferConfig("Support", "Reporting DB", ["session"]),
        TransferConfig("Privileged Access", "Reporting DB", ["session"])]))
    store.save_schedule(ScheduleConfig("Recordings hourly", 3600, [
        TransferConfig("Support", "Archive Share", ["session", "recordings", "smsr", "shell"])]))
    store.save_schedule(ScheduleConfig("Nightly backup", 86400, [TransferConfig("Support", "Archive Share",
                                                                                ["backup"])], at_time="02:00"))


def demo_history(store, schedule: str) -> None:
    """30 hourly runs of ``schedule`` ending now, two of them failed (the status page's chart)."""
    from datetime import datetime, timedelta, timezone

    from ic.services.history import RunRecord, record_run

    now = datetime.now(timezone.utc)
    last = store.get_schedule(schedule).last_run
    end = last.replace(tzinfo=timezone.utc) if last is not None else now  # the newest bar is the schedule's last run
    for i in range(30):
        started = end - timedelta(hours=29 - i)
        failed = i in (7, 21)
        record_run(store, RunRecord(schedule, started, started + timedelta(minutes=2),
                                    status="failed" if failed else "ok", trigger="slot",
                                    sessions=0 if failed else 20 + (i * 37) % 60,
                                    recordings=0 if failed else (i * 13) % 25, failed=1 if failed else 0,
                                    message="Cannot find support.example.com: check the site's host name."
                                    if failed else ""))


# --- the window (from test_gui_wizard) ------------------------------------------------------------------------------
def make_app(**kw):
    from ic.gui.app import App
    from ic.gui.testing import pump

    app = App(**kw)
    pump(app, lambda: not app.wizard_pending)
    return app


def open_connection_builder(app):
    """Plugin Configuration with a new SQL Server destination and its connection builder open: (dialog, builder)."""
    from ic.gui.dialogs.plugin import PluginPanel
    from ic.gui.testing import pump

    d = app.open(PluginPanel)
    pump(app)
    d.panel.type_var.set("SQL Server")
    d.panel.add_button.invoke()
    pump(app)
    d.fields["url"].button.invoke()
    pump(app)
    return d, d.panel.connection_dialog


def press_site_test(app, sim):
    """The Site dialog filled in with the simulator's host, API account and CA (nothing saved), Test pressed and its
    answer in: returns the dialog (``d.panel.last_test``, ``d.panel.message``)."""
    from ic.gui.dialogs.site import SitePanel
    from ic.gui.testing import pump

    d = app.open(SitePanel)
    pump(app)
    for key, value in dict(name="Probe", host=sim.host, client_id=sim.client_id, client_secret=sim.client_secret,
                           ca_bundle=str(sim.ca_file)).items():
        d.fields[key].set(value)
    d.panel.test_button.invoke()
    assert pump(app, lambda: d.panel.last_test is not None, timeout=60)
    return d


def wizard_adds_a_folder(app, w, folder: Path) -> None:
    """In the wizard: Next from the site step to Plugins, a folder destination "Archive" in ``folder`` typed in,
    Next to the Schedule step."""
    from ic.gui.testing import pump, type_text

    w.next_button.invoke()
    pump(app)
    assert w.step_name == "Plugins"
    type_text(w.fields["name"], "Archive")
    type_text(w.fields["directory"], str(folder))
    w.next_button.invoke()
    pump(app)
    assert w.step_name == "Schedule"


def on_screen_problems(window) -> list[str]:
    """The window and each of its mapped buttons must lie on the screen (where the window manager put them); no
    widget is left without room and each list shows at least one row."""
    from tkinter import ttk

    from ic.gui.testing import _in_scroller, walk

    sw, sh = window.winfo_screenwidth(), window.winfo_screenheight()
    title = window.title() if hasattr(window, "title") else str(window)
    problems = []
    x, y, w, h = window.winfo_rootx(), window.winfo_rooty(), window.winfo_width(), window.winfo_height()
    if x < 0 or y < 0 or x + w > sw or y + h > sh:
        problems.append(f"{title}: the window at {x},{y} size {w}x{h} is not all on the {sw}x{sh} screen")
    for child in walk(window):
        if isinstance(child, ttk.Treeview) and child.winfo_ismapped():
            # a list given less room than its heading and one row shows nothing to choose from (scrolled or not)
            row = int(float(ttk.Style(child).lookup(child.cget("style") or "Treeview", "rowheight") or 20))
            if child.winfo_height() < 2 * row:
                problems.append(f"{title}: the list ({child}) is {child.winfo_height()} pixels high: it shows no row "
                                f"(a row takes {row})")
        if _in_scroller(child, window):
            continue  # a scrolled area shows part of its content on purpose
        if not child.winfo_ismapped():
            # laid out, its parent shown, yet not drawn: the geometry manager had no room left for it (a row of
            # buttons squeezed out of a window that is too short)
            if (child.winfo_manager() in ("pack", "grid") and child.master.winfo_ismapped()
                    and child.winfo_reqheight() > 1):
                problems.append(f"{title}: {type(child).__name__} {_text_of(child)}({child}) has no room left: it "
                                "is not shown")
            continue
        if not any(c.__name__ == "CTkButton" for c in type(child).__mro__):
            continue
        cx, cy, cw, ch = child.winfo_rootx(), child.winfo_rooty(), child.winfo_width(), child.winfo_height()
        if cx < 0 or cy < 0 or cx + cw > sw or cy + ch > sh:
            problems.append(f"{title}: the button {child.cget('text')!r} at {cx},{cy} size {cw}x{ch} is off the "
                            f"{sw}x{sh} screen")
    return problems


def _text_of(widget) -> str:
    try:
        text = widget.cget("text")
    except Exception:  # noqa: BLE001 - a frame has no text
        return ""
    return f"{text!r} " if text else ""


def start_xvfb(width: int, height: int):
    """A separate Xvfb screen of that size: (its process, display name); skips the test when Xvfb is not installed."""
    import shutil

    import pytest

    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb is not installed")
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", f"{width}x{height}x24", "-nolisten",
                             "tcp"], pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    if not number:
        xvfb.kill()
        pytest.fail("Xvfb did not start")
    return xvfb, f":{number}"


def start_screen(width: int, height: int):
    """An Xvfb screen of that size with openbox on it (a real window manager): (display name, processes); skips
    the test when either is not installed."""
    import shutil

    import pytest

    if not shutil.which("openbox"):
        pytest.skip("openbox is not installed (.ci/apt-packages.txt lists it)")
    xvfb, name = start_xvfb(width, height)
    wm = subprocess.Popen(["openbox", "--sm-disable"], env={**os.environ, "DISPLAY": name},
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return name, (wm, xvfb)


def stop_screen(processes) -> None:
    for p in processes:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def new_schedule_with_a_transfer(app, site: str = "Main", destination: str = "Files"):
    """Schedule Configuration with a new schedule "Nightly" and one transfer (``site`` -> ``destination``) added."""
    from ic.gui.dialogs.schedule import SchedulePanel
    from ic.gui.testing import pump

    d = app.open(SchedulePanel)
    pump(app)
    d.fields["name"].set("Nightly")
    d.fields["site"].set(site)
    d.fields["destination"].set(destination)
    pump(d)
    d.panel.add_button.invoke()
    pump(d)
    return d


def settle(window, timeout: float = 10.0) -> None:
    """Let ``window`` be drawn as a person sees it: its pending events run, shown by the window manager (which may
    take a moment under a real one), laid out again (the probes gui_walk_probe and gui_fit_probe)."""
    from ic.gui.testing import pump

    pump(window)
    pump(window, lambda: window.winfo_viewable(), timeout=timeout)
    pump(window)
    window.update()


class LsidCollector:
    """A stand-in destination for import-xml tests that only records the lsids handed to it, in order."""

    def __init__(self):
        self.stored = []

    def store_sessions(self, host, sessions):
        self.stored.extend(s.lsid for s in sessions)
        return len(sessions)
