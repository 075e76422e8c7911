"""The measured steps, each run in a fresh child process: floors (code that is not ours) and the program.

Every step gets a JSON config and returns ``common.child_result(seconds, ...)``. Set-up is never timed. A step that
needs parsed sessions parses them one document (50 sessions, one detail answer) at a time between its timed parts
(``common.Stopwatch``), so its memory stays flat at 100,000 sessions. After the timed part each step reports what it
produced (sessions, rows per table, files and bytes): the parent checks that floor and program produced the same.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import shutil
import sqlite3
import subprocess
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Iterator

from common import Stopwatch, child_result, libpq_url, timed

BATCH = 50  # the engine's lsids per detail request and sessions per destination call
FLOOR_CHUNK = 2000  # sessions per executemany / COPY round of the floors (one round at 2,000 sessions)


# --- the complete model ----------------------------------------------------------------------------------------------
# A parser may leave part of its work for later (a lazily built list, a property that parses on access, a session
# spilled to disk whose events are read back when iterated). The parser step must still pay for the complete model:
# a session that is not "plain" (every value already there) is walked inside the timed part, which builds the rest.
_LEAVES = frozenset((str, int, float, bool, bytes, type(None), datetime))
_DERIVED = {"in_progress", "has_recording", "report", "start_datetime", "end_datetime", "raw", "spilled",
            "event_time"}  # properties of the model that only derive from values already held
_PLAIN_FIELDS: dict[type, tuple[str, ...] | None] = {}
_NAME_SETS: dict[type, frozenset[str]] = {}


def _plain_fields(cls: type) -> tuple[str, ...] | None:
    """The field names of a model class that holds all of its values as attributes; None when the class could
    compute a value on access (a property or descriptor other than the known derived ones, __getattr__, ...)."""
    if cls not in _PLAIN_FIELDS:
        names: tuple[str, ...] | None = None
        if (dataclasses.is_dataclass(cls) and cls.__getattribute__ is object.__getattribute__
                and not hasattr(cls, "__getattr__")):
            names = tuple(f.name for f in dataclasses.fields(cls))
            for name in dir(cls):
                attr = inspect.getattr_static(cls, name, None)
                computed = isinstance(attr, (property, functools.cached_property)) or (
                    hasattr(type(attr), "__get__") and not isinstance(attr, (types.FunctionType, staticmethod,
                                                                             classmethod, types.MemberDescriptorType,
                                                                             types.WrapperDescriptorType,
                                                                             types.MethodDescriptorType,
                                                                             types.ClassMethodDescriptorType,
                                                                             types.BuiltinFunctionType,
                                                                             types.GetSetDescriptorType)))
                if computed and name not in _DERIVED:
                    names = None
                    break
        _PLAIN_FIELDS[cls] = names
    return _PLAIN_FIELDS[cls]


def is_plain(obj: object) -> bool:
    """True when nothing of this model object is left to build (every value held as a plain Python value)."""
    t = type(obj)
    if t in _LEAVES:
        return True
    if t is list or t is tuple:
        return all(type(x) in _LEAVES or is_plain(x) for x in obj)
    if isinstance(obj, tuple) and not obj:  # an empty tuple of any type (the model's shared EMPTY) holds nothing
        return True
    if t.__name__ == "RawXml":  # the session's bytes, in memory: nothing to build (on disk: walked)
        return bool(getattr(obj, "in_memory", False))
    names = _plain_fields(t)
    if names is None:
        return False
    held = getattr(obj, "__dict__", None)
    if held is None:  # slots
        try:
            values = [object.__getattribute__(obj, name) for name in names]
        except AttributeError:
            return False
    elif held.keys() >= _NAME_SETS.setdefault(t, frozenset(names)):
        values = held.values()
    else:
        return False
    return all(type(v) in _LEAVES or is_plain(v) for v in values)


@functools.cache
def _all_fields(cls: type) -> tuple[str, ...]:
    """Every field and public property of a model class."""
    names = {f.name for f in dataclasses.fields(cls)}
    names |= {n for n in dir(cls) if not n.startswith("_")
              and isinstance(inspect.getattr_static(cls, n, None), (property, functools.cached_property))}
    return tuple(sorted(names))


def complete(obj: object) -> None:
    """Build whatever is left of the model: read every field and property, iterate every collection."""
    if type(obj) in _LEAVES or isinstance(obj, (str, int, float, bytes, bytearray, memoryview)):
        return
    if type(obj).__name__ == "RawXml":
        if not getattr(obj, "in_memory", True):
            for _ in obj.chunks():  # a spilled session's bytes: read once, as a writer would
                pass
        return
    if dataclasses.is_dataclass(obj):
        for name in _all_fields(type(obj)):
            complete(getattr(obj, name))
        return
    if isinstance(obj, dict):
        for v in obj.values():
            complete(v)
        return
    try:
        items = iter(obj)  # type: ignore[call-overload]
    except TypeError:
        return
    for x in items:
        complete(x)


def _completed(sessions: list) -> tuple[list, int]:
    """The sessions with nothing left to build, and how many had something left (built here)."""
    lazy = [s for s in sessions if not is_plain(s)]
    for s in lazy:
        complete(s)
    return sessions, len(lazy)


# --- shared set-up (never timed) -------------------------------------------------------------------------------------
def _documents(cfg: dict) -> list[Path]:
    return sorted(Path(cfg["xml_dir"]).glob("*.xml"))


def _batches(cfg: dict) -> Iterator[list]:
    """Each document's sessions (one detail answer, 50 sessions), parsed by our parser and completed."""
    from ic.sessions.parser import iter_sessions

    for path in _documents(cfg):
        yield _completed(list(iter_sessions(path, product="rs")))[0]


def _chunks(cfg: dict, size: int = FLOOR_CHUNK) -> Iterator[list]:
    chunk: list = []
    for batch in _batches(cfg):
        chunk.extend(batch)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _raw_bytes(session) -> bytes:
    raw = session.raw_xml
    return raw if isinstance(raw, bytes) else bytes(raw)


class _Rows:
    """The rows our schema stores for sessions, ids given (counting on from chunk to chunk), in insert order."""

    def __init__(self, system_info: bool = False) -> None:
        from ic.destinations import sql_schema as t

        self.t, self.system_info = t, system_info
        self.next_id = {tb.name: 1 for tb in t.ALL_TABLES}
        self.columns = {tb.name: [c.name for c in tb.columns] for tb in t.ALL_TABLES}

    def _take(self, table: str) -> int:
        self.next_id[table] += 1
        return self.next_id[table] - 1

    def of(self, sessions: list) -> list[tuple[str, list[str], list[tuple]]]:
        t = self.t
        order: dict[str, list[dict]] = {tb.name: [] for tb in (t.session, t.user, t.team, t.endpoint,
                                                                t.custom_attribute, t.session_event,
                                                                t.session_event_data, t.system_information)}
        for s in sessions:
            sid = self._take("session")
            order["session"].append({**t.session_row("bench-host", s), "id": sid})
            for table, rows_of in t.SESSION_CHILD_ROWS:
                order[table.name].extend({**r, "id": self._take(table.name)} for r in rows_of(sid, s))
            for e in s.events:
                eid = self._take("session_event")
                order["session_event"].append({**t.event_row(sid, e), "id": eid})
                order["session_event_data"].extend({**r, "id": self._take("session_event_data")}
                                                   for r in t.event_data_rows(eid, e))
                if self.system_info:
                    order["system_information"].extend({**r, "id": self._take("system_information")}
                                                       for r in t.system_information_rows(eid, e))
        out = []
        for name, dict_rows in order.items():
            if dict_rows:
                cols = self.columns[name]
                out.append((name, cols, [tuple(r.get(c) for c in cols) for r in dict_rows]))
        return out


def _create_tables(url: str) -> None:
    from sqlalchemy import create_engine

    from ic.destinations import sql_schema as t

    engine = create_engine(url)
    t.metadata.create_all(engine)
    engine.dispose()


def count_rows(url: str) -> dict[str, int]:
    """Rows per table of our schema in the database at ``url`` (counted after the timed part)."""
    from sqlalchemy import create_engine, func, select

    from ic.destinations import sql_schema as t

    engine = create_engine(url)
    with engine.connect() as conn:
        counts = {tb.name: conn.execute(select(func.count()).select_from(tb)).scalar_one() for tb in t.ALL_TABLES}
    engine.dispose()
    return counts


def _our_durability(url: str) -> dict[str, str]:
    """The durability our SQL destination runs with on this database (SQLite journal_mode and synchronous,
    PostgreSQL synchronous_commit): the floor takes the same, so it is never a floor only by being less durable."""
    from ic.destinations.sql import SqlDestination

    dest = SqlDestination("probe", {"url": url})
    try:
        with dest.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                return {"journal_mode": conn.exec_driver_sql("PRAGMA journal_mode").scalar(),
                        "synchronous": str(conn.exec_driver_sql("PRAGMA synchronous").scalar())}
            return {"synchronous_commit": conn.exec_driver_sql("SHOW synchronous_commit").scalar()}
    finally:
        dest.close()


def _sqlite_text(rows: list[tuple]) -> list[tuple]:
    # sqlite3 has no adapter for datetime in 3.12+; SQLAlchemy stores this text form (as our destination does)
    return [tuple(v.isoformat(" ", "microseconds") if isinstance(v, datetime) else v for v in r) for r in rows]


# --- floors ----------------------------------------------------------------------------------------------------------
def floor_fetch(cfg: dict) -> dict:
    """requests alone: token, the listing, the same 50-lsid detail documents. Started at the program's request rate,
    as many in flight as the engine, each call closing its connection as the appliance's API asks; bodies
    read whole, then dropped."""
    import requests
    from lxml import etree

    try:  # as many detail requests in flight as the engine allows itself
        from ic.transfer.engine import DEFAULT_DETAIL_WORKERS as in_flight
    except ImportError:
        in_flight = 6
    interval = 1.0 / cfg["max_rps"] if cfg.get("max_rps") else 0.0
    base = f"https://{cfg['host']}"
    local = threading.local()
    lock = threading.Lock()
    state = {"next": 0.0, "requests": 0, "bytes": 0}

    def http() -> requests.Session:
        if not hasattr(local, "http"):
            local.http = s = requests.Session()
            s.trust_env = False
            s.verify = cfg["ca_file"]
            s.headers["Connection"] = "close"
        return local.http

    def pace() -> None:
        with lock:
            now = time.perf_counter()
            start = max(now, state["next"])
            state["next"] = start + interval
        if start > now:
            time.sleep(start - now)

    def call(method: str, path: str, **kw) -> bytes:
        pace()
        r = http().request(method, base + path, timeout=120, **kw)
        r.raise_for_status()
        body = r.content
        with lock:
            state["requests"] += 1
            state["bytes"] += len(body)
        return body

    def work() -> int:
        tok = call("POST", "/oauth2/token", auth=(cfg["client_id"], cfg["client_secret"]),
                   data={"grant_type": "client_credentials"})
        import json

        auth = {"Authorization": f"Bearer {json.loads(tok)['access_token']}"}
        listing = call("GET", "/api/reporting", headers=auth,
                       params={"generate_report": "SupportSessionListing", "end_time": "0", "duration": "0"})
        lsids = [e.get("lsid") for e in etree.fromstring(listing).iter("{*}session_summary")]
        del listing
        with ThreadPoolExecutor(max_workers=in_flight) as pool:
            futures = [pool.submit(call, "POST", "/api/reporting", headers=auth,
                                   data={"generate_report": "SupportSession", "lsids": ",".join(lsids[i:i + BATCH])})
                       for i in range(0, len(lsids), BATCH)]
            for f in futures:
                f.result()
        return len(lsids)

    seconds, n = timed(work)
    return child_result(seconds, sessions=n, requests=state["requests"], bytes=state["bytes"])


def floor_iterparse(cfg: dict) -> dict:
    """lxml iterparse of the same bytes: each top-level session built, then cleared (what any streaming parser
    must at least do)."""
    from lxml import etree

    docs = _documents(cfg)

    def work() -> int:
        n = 0
        for path in docs:
            for _, elem in etree.iterparse(str(path), events=("end",), tag="{*}session", resolve_entities=False,
                                           no_network=True):
                n += 1
                elem.clear(keep_tail=False)
                while elem.getprevious() is not None:
                    del elem.getparent()[0]
        return n

    seconds, n = timed(work)
    return child_result(seconds, sessions=n)


def floor_sqlite(cfg: dict) -> dict:
    """sqlite3 executemany of the same rows (ids given), all in one transaction, with our destination's durability;
    rows made between the timed rounds (FLOOR_CHUNK sessions a round)."""
    _create_tables(cfg["url"])
    durability = _our_durability(cfg["url"])
    conn = sqlite3.connect(cfg["url"].split("sqlite:///", 1)[1], isolation_level=None)
    for name, value in durability.items():
        conn.execute(f"PRAGMA {name}={value}")
    rows, watch, n = _Rows(), Stopwatch(), 0
    with watch:
        conn.execute("BEGIN")
    for chunk in _chunks(cfg):
        prepared = [(f'INSERT INTO "{name}" ({", ".join(cols)}) VALUES ({", ".join("?" * len(cols))})',
                     _sqlite_text(values)) for name, cols, values in rows.of(chunk)]
        n += len(chunk)
        with watch:
            for sql, values in prepared:
                conn.executemany(sql, values)
    with watch:
        conn.execute("COMMIT")
        conn.close()
    return child_result(watch.seconds, sessions=n, rows=count_rows(cfg["url"]), durability=durability)


def floor_copy(cfg: dict) -> dict:
    """psycopg COPY of the same rows (ids given) into PostgreSQL, one transaction, our destination's
    synchronous_commit; rows made between the timed rounds (one COPY per table and FLOOR_CHUNK sessions)."""
    import psycopg

    _create_tables(cfg["url"])
    durability = _our_durability(cfg["url"])
    conn = psycopg.connect(libpq_url(cfg["url"]), autocommit=True)
    conn.execute(f"SET synchronous_commit TO '{durability['synchronous_commit']}'")
    rows, watch, n = _Rows(), Stopwatch(), 0
    with watch:
        conn.execute("BEGIN")
        cur = conn.cursor()
    for chunk in _chunks(cfg):
        tables = rows.of(chunk)
        n += len(chunk)
        with watch:
            for name, cols, values in tables:
                with cur.copy(f'COPY "{name}" ({", ".join(cols)}) FROM STDIN') as cp:
                    for r in values:
                        cp.write_row(r)
    with watch:
        conn.execute("COMMIT")
        conn.close()
    return child_result(watch.seconds, sessions=n, rows=count_rows(cfg["url"]), durability=durability)


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _syncfs(path: Path) -> bool:
    """One syncfs(2) of the file system holding ``path`` (Linux); False where it is not available."""
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        return fn(fd) == 0
    finally:
        os.close(fd)


def floor_files(cfg: dict) -> dict:
    """The same bytes (each session's XML as the folder destination writes it) to the same number of files with the
    same durability as the folder destination: per batch of 50, the temp files made durable together (one syncfs on
    Linux, else an fsync each), then renamed into place, then one fsync of the folder."""
    out = Path(cfg["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    watch, n, size = Stopwatch(), 0, 0
    for batch in _batches(cfg):
        bodies = [_raw_bytes(s) for s in batch]
        with watch:
            temps = []
            for body in bodies:
                tmp = out / f".{n}.part"
                with open(tmp, "xb") as fh:
                    fh.write(body)
                temps.append((tmp, out / f"{n}.xml"))
                n += 1
            if not _syncfs(out):
                for tmp, _ in temps:
                    with open(tmp, "rb+") as fh:
                        os.fsync(fh.fileno())
            for tmp, final in temps:
                os.rename(tmp, final)
            _fsync_dir(out)
        size += sum(map(len, bodies))
    return child_result(watch.seconds, sessions=n, files=n, bytes=size)


def floor_curl(cfg: dict) -> dict:
    """One large recording: curl (or a raw requests stream when curl is missing) to a file, then fsync."""
    url = f"https://{cfg['host']}/api/reporting?generate_report=SupportSessionRecording&lsid={cfg['lsid']}"
    target = Path(cfg["out_dir"]) / "curl.flv"
    target.parent.mkdir(parents=True, exist_ok=True)
    curl = shutil.which("curl")

    def work() -> int:
        if curl:
            subprocess.run([curl, "-sS", "-f", "--cacert", cfg["ca_file"], "-H", f"Authorization: Bearer {cfg['token']}",
                            "-H", "Connection: close", "-o", str(target), url], check=True)
        else:
            import requests

            with requests.Session() as http:
                http.trust_env = False
                with http.get(url, headers={"Authorization": f"Bearer {cfg['token']}"}, verify=cfg["ca_file"],
                              stream=True, timeout=120) as r, open(target, "wb") as fh:
                    for chunk in r.iter_content(1024 * 1024):
                        fh.write(chunk)
        with open(target, "rb+") as fh:
            os.fsync(fh.fileno())
        return target.stat().st_size

    seconds, size = timed(work)
    return child_result(seconds, bytes=size, tool="curl" if curl else "requests")


# --- the program -----------------------------------------------------------------------------------------------------
def prog_parse(cfg: dict) -> dict:
    """Our parser, streaming like the engine (one detail answer at a time), to the complete model: a session with
    anything left to build is built inside the timed part (see is_plain)."""
    from ic.sessions.parser import iter_sessions

    watch, n, lazy = Stopwatch(), 0, 0
    for path in _documents(cfg):
        with watch:
            batch = list(iter_sessions(path, product="rs"))
        left = [s for s in batch if not is_plain(s)]  # looking is not timed; building what is left is
        with watch:
            for s in left:
                complete(s)
        n += len(batch)
        lazy += len(left)
        del batch, left
    return child_result(watch.seconds, sessions=n, lazy=lazy)


def _store_documents(dest, cfg: dict) -> tuple[float, int]:
    """Our destination storing every document's sessions, 50 per call as the engine does, then closed: only the
    destination's calls are timed."""
    watch, n = Stopwatch(), 0
    for batch in _batches(cfg):
        with watch:
            n += dest.store_sessions("bench-host", batch)
    with watch:
        dest.close()
    return watch.seconds, n


def prog_sql(cfg: dict) -> dict:
    """Our SQL destination storing the same sessions (its tables made first, not timed)."""
    from ic.destinations.sql import SqlDestination

    dest = SqlDestination("bench", {"url": cfg["url"]})
    dest.test()
    _create_tables(cfg["url"])
    durability = _our_durability(cfg["url"])
    seconds, n = _store_documents(dest, cfg)
    return child_result(seconds, sessions=n, rows=count_rows(cfg["url"]), durability=durability)


def _folder_contents(out: Path) -> tuple[int, int]:
    files = [p for p in out.rglob("*.xml") if not any(part.startswith(".") for part in p.relative_to(out).parts)]
    return len(files), sum(p.stat().st_size for p in files)


def prog_folder(cfg: dict) -> dict:
    from ic.destinations.folder import FolderDestination

    out = Path(cfg["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    seconds, n = _store_documents(FolderDestination("bench", {"directory": str(out)}), cfg)
    files, size = _folder_contents(out)
    return child_result(seconds, sessions=n, files=files, bytes=size)


def prog_e2e(cfg: dict) -> dict:
    """`run_schedule` of one transfer (session data) with a private settings database in this child's IC_HOME."""
    from ic.services.runs import run_schedule
    from ic.settings import open_store
    from ic.settings.models import DestinationConfig, ScheduleConfig, SiteConfig, TransferConfig

    store = open_store(f"sqlite:///{Path(cfg['home']) / 'settings.db'}")
    store.save_site(SiteConfig("sim", cfg["host"], cfg["client_id"], cfg["ca_file"], "rs"),
                    client_secret=cfg["client_secret"])
    store.save_destination(DestinationConfig("db", "sql", {"url": cfg["url"]}, secret_fields=("url",)))
    store.save_schedule(ScheduleConfig("Bench", 900, [TransferConfig("sim", "db", ["session"])]))
    if cfg.get("max_rps"):
        store.set_setting("appliance_max_rps", str(cfg["max_rps"]))
    seconds, outcome = timed(lambda: run_schedule(store, "Bench", raise_internal=True))
    if not outcome.ok:
        raise SystemExit(outcome.message())
    stored = sum(r.sessions_stored + r.in_progress_stored for r in outcome.results)
    return child_result(seconds, sessions=stored, rows=count_rows(cfg["url"]))


def prog_recording(cfg: dict) -> dict:
    """Our client downloading the same recording into the folder destination's staging folder and handing it to
    the destination, as the engine does (renamed into place when on the same file system)."""
    from ic.appliance import ApplianceClient
    from ic.destinations.base import FileItem
    from ic.destinations.folder import FolderDestination
    from ic.sessions.parser import iter_sessions

    out = Path(cfg["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    dest = FolderDestination("bench", {"directory": str(out)})
    client = ApplianceClient(cfg["host"], cfg["client_id"], cfg["client_secret"], cfg["ca_file"], "rs", max_rps=1000)
    client.test()  # the token and the session's details are not part of the download
    spool = Path(cfg["spool_dir"])
    spool.mkdir(parents=True, exist_ok=True)
    session = next(iter(iter_sessions(client.fetch_sessions_to_file(spool / "s.xml", lsid=cfg["lsid"]))))
    staging = Path(dest.staging_dir() or spool)  # the engine's choice (TransferRun._staging_dir)
    staging.mkdir(parents=True, exist_ok=True)
    inode: list[int] = []

    def work():
        dl = client.download_recording("recordings", cfg["lsid"], staging / f"bench-{cfg['lsid']}")
        inode.append(os.stat(dl.path).st_ino)
        stored = dest.store_file(FileItem("recordings", dl.path, cfg["host"], dl.extension, session,
                                          suggested_name=dl.filename))
        if Path(dl.path).exists():
            Path(dl.path).unlink()
        return stored

    seconds, stored = timed(work)
    client.close()
    dest.close()
    renamed = bool(stored) and os.stat(stored).st_ino == inode[0]
    return child_result(seconds, bytes=Path(stored).stat().st_size if stored else 0, renamed=renamed)


STEPS = {
    "floor_fetch": floor_fetch, "floor_iterparse": floor_iterparse, "floor_sqlite": floor_sqlite,
    "floor_copy": floor_copy, "floor_files": floor_files, "floor_curl": floor_curl,
    "prog_parse": prog_parse, "prog_sql": prog_sql, "prog_folder": prog_folder, "prog_e2e": prog_e2e,
    "prog_recording": prog_recording,
}
