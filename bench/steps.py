"""The measured steps, each run in a fresh child process: floors (code that is not ours) and the program.

Every step gets a JSON config and returns ``common.child_result(seconds, ...)``; set-up outside the timed part.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

from common import child_result, libpq_url, timed

BATCH = 50  # the engine's lsids per detail request and sessions per destination call


# --- shared set-up (never timed) ---------------------------------------------------------------
def _documents(cfg: dict) -> list[Path]:
    return sorted(Path(cfg["xml_dir"]).glob("*.xml"))


def _parsed(cfg: dict) -> list:
    from ic.sessions.parser import iter_sessions

    out = []
    for path in _documents(cfg):
        out.extend(iter_sessions(path, product="rs"))
    return out


def _table_rows(sessions: list, system_info: bool = False) -> list[tuple[str, list[str], list[tuple]]]:
    """The rows our schema stores for these sessions, with ids given, in insert order: (table, columns, rows)."""
    from ic.destinations import sql_schema as t

    order = {tb.name: [] for tb in (t.session, t.user, t.team, t.endpoint, t.custom_attribute, t.session_event,
                                    t.session_event_data, t.system_information)}
    sid = eid = 1
    ids = {"session": 1, "user": 1, "team": 1, "endpoint": 1, "custom_attribute": 1, "session_event_data": 1,
           "system_information": 1}
    for s in sessions:
        row = t.session_row("bench-host", s)
        row["id"] = sid
        order["session"].append(row)
        for table, rows_of in t.SESSION_CHILD_ROWS:
            for r in rows_of(sid, s):
                r["id"] = ids[table.name]
                ids[table.name] += 1
                order[table.name].append(r)
        for e in s.events:
            er = t.event_row(sid, e)
            er["id"] = eid
            order["session_event"].append(er)
            for r in t.event_data_rows(eid, e):
                r["id"] = ids["session_event_data"]
                ids["session_event_data"] += 1
                order["session_event_data"].append(r)
            if system_info:
                for r in t.system_information_rows(eid, e):
                    r["id"] = ids["system_information"]
                    ids["system_information"] += 1
                    order["system_information"].append(r)
            eid += 1
        sid += 1
    tables = {tb.name: tb for tb in t.ALL_TABLES}
    out = []
    for name, dict_rows in order.items():
        if dict_rows:
            cols = [c.name for c in tables[name].columns]
            out.append((name, cols, [tuple(r.get(c) for c in cols) for r in dict_rows]))
    return out


def _create_tables(url: str) -> None:
    from sqlalchemy import create_engine

    from ic.destinations import sql_schema as t

    engine = create_engine(url)
    t.metadata.create_all(engine)
    engine.dispose()


# --- floors ------------------------------------------------------------------------------------
def floor_fetch(cfg: dict) -> dict:
    """requests alone: token, the listing, the same 50-lsid detail documents, paced at the program's request rate
    and closing the connection after each call as the appliance's API asks (bodies read, then dropped)."""
    import requests
    from lxml import etree

    interval = 1.0 / cfg["max_rps"] if cfg.get("max_rps") else 0.0
    http = requests.Session()
    http.trust_env = False
    http.verify = cfg["ca_file"]
    http.headers["Connection"] = "close"
    base = f"https://{cfg['host']}"
    state = {"next": 0.0, "requests": 0, "bytes": 0}

    def call(method, path, **kw):
        now = time.perf_counter()
        if now < state["next"]:
            time.sleep(state["next"] - now)
        state["next"] = max(now, state["next"]) + interval
        r = http.request(method, base + path, timeout=120, **kw)
        r.raise_for_status()
        state["requests"] += 1
        state["bytes"] += len(r.content)
        return r

    def work():
        tok = call("POST", "/oauth2/token", auth=(cfg["client_id"], cfg["client_secret"]),
                   data={"grant_type": "client_credentials"}).json()["access_token"]
        auth = {"Authorization": f"Bearer {tok}"}
        listing = call("GET", "/api/reporting", headers=auth,
                       params={"generate_report": "SupportSessionListing", "end_time": "0", "duration": "0"})
        lsids = [e.get("lsid") for e in etree.fromstring(listing.content).iter("{*}session_summary")]
        for i in range(0, len(lsids), BATCH):
            form = {"generate_report": "SupportSession", "lsids": ",".join(lsids[i:i + BATCH])}
            call("POST", "/api/reporting", headers=auth, data=form)
        return len(lsids)

    seconds, n = timed(work)
    return child_result(seconds, sessions=n, requests=state["requests"], bytes=state["bytes"])


def floor_iterparse(cfg: dict) -> dict:
    """lxml iterparse of the same bytes: each top-level session built, then cleared (what any streaming parser
    must at least do)."""
    from lxml import etree

    docs = _documents(cfg)

    def work():
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
    """sqlite3 executemany of the same rows (ids given), one transaction, default durability."""
    tables = _table_rows(_parsed(cfg))
    _create_tables(cfg["url"])
    path = cfg["url"].split("sqlite:///", 1)[1]
    conn = sqlite3.connect(path, isolation_level=None)
    prepared = []
    for name, cols, rows in tables:
        # sqlite3 has no adapter for datetime in 3.12+; SQLAlchemy stores this text form
        rows = [tuple(v.isoformat(" ") if hasattr(v, "isoformat") else v for v in r) for r in rows]
        sql = f'INSERT INTO "{name}" ({", ".join(cols)}) VALUES ({", ".join("?" * len(cols))})'
        prepared.append((sql, rows))

    def work():
        conn.execute("BEGIN")
        for sql, rows in prepared:
            conn.executemany(sql, rows)
        conn.execute("COMMIT")
        return sum(len(r) for _, r in prepared)

    seconds, n = timed(work)
    conn.close()
    return child_result(seconds, rows=n)


def floor_copy(cfg: dict) -> dict:
    """psycopg COPY of the same rows (ids given) into PostgreSQL, one transaction."""
    import psycopg

    tables = _table_rows(_parsed(cfg))
    _create_tables(cfg["url"])
    conn = psycopg.connect(libpq_url(cfg["url"]))

    def work():
        with conn.transaction():
            with conn.cursor() as cur:
                for name, cols, rows in tables:
                    with cur.copy(f'COPY "{name}" ({", ".join(cols)}) FROM STDIN') as cp:
                        for r in rows:
                            cp.write_row(r)
        return sum(len(r) for _, _, r in tables)

    seconds, n = timed(work)
    conn.close()
    return child_result(seconds, rows=n)


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
    bodies = [s.raw_xml for s in _parsed(cfg)]
    out = Path(cfg["out_dir"])
    out.mkdir(parents=True, exist_ok=True)

    def work():
        for b0 in range(0, len(bodies), BATCH):
            temps = []
            for i in range(b0, min(b0 + BATCH, len(bodies))):
                tmp = out / f".{i}.part"
                with open(tmp, "xb") as fh:
                    fh.write(bodies[i])
                temps.append((tmp, out / f"{i}.xml"))
            if not _syncfs(out):
                for tmp, _ in temps:
                    with open(tmp, "rb+") as fh:
                        os.fsync(fh.fileno())
            for tmp, final in temps:
                os.rename(tmp, final)
            _fsync_dir(out)
        return len(bodies)

    seconds, n = timed(work)
    return child_result(seconds, files=n, bytes=sum(map(len, bodies)))


def floor_curl(cfg: dict) -> dict:
    """One large recording: curl (or a raw requests stream when curl is missing) to a file, then fsync."""
    url = f"https://{cfg['host']}/api/reporting?generate_report=SupportSessionRecording&lsid={cfg['lsid']}"
    target = Path(cfg["out_dir"]) / "curl.flv"
    target.parent.mkdir(parents=True, exist_ok=True)
    curl = shutil.which("curl")

    def work():
        if curl:
            subprocess.run([curl, "-sS", "-f", "--cacert", cfg["ca_file"], "-H", f"Authorization: Bearer {cfg['token']}",
                            "-H", "Connection: close", "-o", str(target), url], check=True)
        else:
            import requests

            with requests.get(url, headers={"Authorization": f"Bearer {cfg['token']}"}, verify=cfg["ca_file"],
                              stream=True, timeout=120) as r, open(target, "wb") as fh:
                for chunk in r.iter_content(1024 * 1024):
                    fh.write(chunk)
        with open(target, "rb+") as fh:
            os.fsync(fh.fileno())
        return target.stat().st_size

    seconds, size = timed(work)
    return child_result(seconds, bytes=size, tool="curl" if curl else "requests")


# --- the program -------------------------------------------------------------------------------
def prog_parse(cfg: dict) -> dict:
    from ic.sessions.parser import iter_sessions

    docs = _documents(cfg)

    def work():
        n = 0
        for path in docs:  # streaming, like the engine: one batch document at a time
            for _ in iter_sessions(path, product="rs"):
                n += 1
        return n

    seconds, n = timed(work)
    return child_result(seconds, sessions=n)


def prog_sql(cfg: dict) -> dict:
    """Our SQL destination storing the same parsed sessions, 50 per call as the engine does (tables made first)."""
    from ic.destinations.sql import SqlDestination

    sessions = _parsed(cfg)
    dest = SqlDestination("bench", {"url": cfg["url"]})
    dest.test()
    _create_tables(cfg["url"])

    def work():
        n = 0
        for i in range(0, len(sessions), BATCH):
            n += dest.store_sessions("bench-host", sessions[i:i + BATCH])
        return n

    seconds, n = timed(work)
    dest.close()
    return child_result(seconds, sessions=n)


def prog_folder(cfg: dict) -> dict:
    from ic.destinations.folder import FolderDestination

    sessions = _parsed(cfg)
    Path(cfg["out_dir"]).mkdir(parents=True, exist_ok=True)
    dest = FolderDestination("bench", {"directory": cfg["out_dir"]})

    def work():
        n = 0
        for i in range(0, len(sessions), BATCH):
            n += dest.store_sessions("bench-host", sessions[i:i + BATCH])
        return n

    seconds, n = timed(work)
    dest.close()
    files = sum(1 for p in Path(cfg["out_dir"]).rglob("*.xml"))
    return child_result(seconds, sessions=n, files=files)


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
    return child_result(seconds, sessions=stored)


def prog_recording(cfg: dict) -> dict:
    """Our client downloading the same recording, handed to the folder destination as the engine does."""
    from ic.appliance import ApplianceClient
    from ic.destinations.base import FileItem
    from ic.destinations.folder import FolderDestination

    out = Path(cfg["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    dest = FolderDestination("bench", {"directory": str(out)})
    client = ApplianceClient(cfg["host"], cfg["client_id"], cfg["client_secret"], cfg["ca_file"], "rs", max_rps=1000)
    client._tokens.get()  # the token and the session's details are not part of the download
    spool = Path(cfg["spool_dir"])
    spool.mkdir(parents=True, exist_ok=True)
    from ic.sessions.parser import iter_sessions

    session = next(iter(iter_sessions(client.fetch_sessions_to_file(spool / "s.xml", lsid=cfg["lsid"]))))

    def work():
        dl = client.download_recording("recordings", cfg["lsid"], spool / cfg["lsid"])
        stored = dest.store_file(FileItem("recordings", dl.path, cfg["host"], dl.extension, session,
                                          suggested_name=dl.filename))
        if dl.path.exists():
            dl.path.unlink()
        return stored

    seconds, stored = timed(work)
    client.close()
    return child_result(seconds, bytes=Path(stored).stat().st_size if stored else 0)


STEPS = {
    "floor_fetch": floor_fetch, "floor_iterparse": floor_iterparse, "floor_sqlite": floor_sqlite,
    "floor_copy": floor_copy, "floor_files": floor_files, "floor_curl": floor_curl,
    "prog_parse": prog_parse, "prog_sql": prog_sql, "prog_folder": prog_folder, "prog_e2e": prog_e2e,
    "prog_recording": prog_recording,
}
