"""What `verify` costs: appliance requests and seconds per 10,000 sessions verified (simulator over HTTPS).

    python bench/bench_verify.py [--sessions 10000] [--seed 7] [--pg URL] [--damage 100]

The destinations are filled locally from the simulator's own session XML (no transfer is measured here): a folder
with the session XML and every recording (tiny placeholder bodies: verify never reads recordings), a SQLite
database and, with --pg URL or IC_TEST_PG_URL, a PostgreSQL database. Then, on the same appliance:

* verify folder  (session, recordings, smsr, shell): listing requests only;
* verify SQLite / PostgreSQL (session);
* verify folder for shell recordings WITHOUT session data (details needed: one request per 50 sessions);
* --damage N sessions' files deleted, then verify --repair: the requests a repair costs per session.

The appliance allows 20 requests/s and 15,000 requests/h per API account; the client paces itself below both.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PER = 10_000


def _session_values(host: str, session, instance=None) -> dict:
    return {"SUPPORT_SITE_HOST": host, "INSTANCE": "" if instance is None else instance,
            "LSEQ": "" if session.lseq is None else session.lseq, "LSID": session.lsid,
            "EXTERNAL_KEY": session.external_key or "", "SESSION_TYPE": session.session_type or ""}


def _fill(sim, folder: Path, sql_dests, host: str) -> None:
    """Session XML and placeholder recordings under the default File Name Format (written directly: the folder
    destination's fsync per file is the transfer's cost, not verify's), rows through the SQL destination."""
    from ic.destinations import naming
    from ic.sessions.parser import iter_sessions

    fmt = naming.DEFAULT_NAME_FORMAT
    ns = sim.namespace
    batch = []
    for s in sim.sessions:
        doc = (f'<?xml version="1.0" encoding="UTF-8"?>\n<session_list xmlns="{ns}">'.encode()
               + sim.session_xml(s.lsid) + b"</session_list>")
        session = next(iter(iter_sessions(doc, "bench", sim.product)))
        raw = session.raw_xml if isinstance(session.raw_xml, bytes) else session.raw_xml.encode()
        (folder / naming.render(fmt, _session_values(host, session), "xml")).write_bytes(raw)
        if s.end_time is not None:
            for kind in ("recordings", "smsr", "shell"):
                for i in range(s.recording_instances(kind)):
                    inst = None if kind == "recordings" else i
                    name = naming.render(naming.format_for(fmt, kind, inst), _session_values(host, session, inst), "flv")
                    (folder / name).write_bytes(b"FLV\x01placeholder")
        batch.append(session)
        if len(batch) >= 500:
            for d in sql_dests:
                d.store_sessions(host, batch)
            batch = []
    for d in sql_dests:
        d.store_sessions(host, batch)


def _row(label: str, n: int, requests: int, seconds: float, extra: str = "") -> str:
    scale = PER / max(1, n)
    return (f"{label:<44} {n:>7} {requests:>9} {requests * scale:>12.1f} {seconds:>9.2f} {seconds * scale:>12.2f}"
            + (f"  {extra}" if extra else ""))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=PER)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--pg", default=os.environ.get("IC_TEST_PG_URL"))
    ap.add_argument("--damage", type=int, default=100, help="sessions whose files are deleted before --repair")
    args = ap.parse_args()
    import logging

    logging.getLogger("ic").setLevel(logging.ERROR)  # the table says it all (an incomplete archive is a warning)

    work = Path(tempfile.mkdtemp(prefix="ic-bench-verify-"))
    from common import child_env

    env = child_env(work / "home")  # any environment: no IC_SETTINGS, proxy or CA bundle of the caller's
    os.environ.clear()
    os.environ.update(env)
    from ic.destinations.sql import SqlDestination
    from ic.services import verify as V
    from ic.settings import open_store
    from ic.settings.models import DestinationConfig, SiteConfig
    from ic.simulator import Simulator

    pg_db = None
    sim = Simulator(sessions=args.sessions, seed=args.seed, in_progress=20, recording_size=1000).start(0)
    try:
        store = open_store()
        store.save_site(SiteConfig("sim", sim.host, sim.client_id, sim.ca_file, sim.product),
                        client_secret=sim.client_secret)
        folder = work / "files"
        folder.mkdir()
        store.save_destination(DestinationConfig("files", "folder", {"directory": str(folder)}))
        dests = {"SQLite": f"sqlite:///{work / 'out.db'}"}
        if args.pg:
            from sqlalchemy import create_engine, text
            from sqlalchemy.engine import make_url

            pg_db = f"ic_bench_verify_{uuid.uuid4().hex[:8]}"
            admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{pg_db}"'))
            admin.dispose()
            dests["PostgreSQL"] = make_url(args.pg).set(database=pg_db).render_as_string(hide_password=False)
        for name, url in dests.items():
            store.save_destination(DestinationConfig(name, "sql", {"url": url}, secret_fields=("url",)))
        t0 = time.monotonic()
        sqls = [SqlDestination(n, {"url": u}) for n, u in dests.items()]
        _fill(sim, folder, sqls, sim.host)
        for d in sqls:
            d.close()
        print(f"filled the destinations with {len(sim.sessions)} sessions in {time.monotonic() - t0:.1f} s "
              f"({sum(1 for _ in folder.iterdir())} files)\n")
        n = len(sim.sessions)
        print(f"{'check':<44} {'sessions':>7} {'requests':>9} {'req/10k':>12} {'seconds':>9} {'s/10k':>12}")
        def seen() -> int:
            return sim.stats["requests"]

        before = seen()
        r = V.verify(store, "sim", "files", ["session", "recordings", "smsr", "shell"])
        assert r.complete, r.summary()
        print(_row("verify folder (session+recordings+smsr+shell)", n, seen() - before, r.seconds))
        for name in dests:
            before = seen()
            r = V.verify(store, "sim", name, ["session"])
            assert r.complete, r.summary()
            print(_row(f"verify {name} (session)", n, seen() - before, r.seconds))
        aside = work / "xml-aside"  # a destination holding recordings only: instances come from session details
        aside.mkdir()
        for p in list(folder.glob("*.xml")):
            p.rename(aside / p.name)
        before = seen()
        r = V.verify(store, "sim", "files", ["shell"])
        assert r.complete, r.summary()
        used = seen() - before
        for p in list(aside.iterdir()):
            p.rename(folder / p.name)
        print(_row("verify folder (shell only: needs details)", n, used, r.seconds,
                   f"{used / r.seconds:.1f} req/s" if r.seconds else ""))
        if args.damage:
            ended = [s for s in sim.sessions if s.end_time is not None][: args.damage]
            for s in ended:
                for p in folder.iterdir():
                    if s.lsid in p.name:
                        p.unlink()
            before, t1 = seen(), time.monotonic()
            r = V.verify_and_repair(store, "sim", "files", ["session", "recordings", "smsr", "shell"], do_repair=True)
            assert r.complete, r.summary()
            used, took = seen() - before, time.monotonic() - t1
            fixed = r.repair
            print(_row(f"verify --repair folder ({len(ended)} sessions deleted)", n, used, took,
                       f"{fixed.attempted} sessions and {fixed.files_stored} files fetched: "
                       f"{(used - 2 * r.requests // 2) / max(1, fixed.attempted):.1f} requests per repaired session"))
        stats = sim.stats
        print(f"\nappliance saw {stats['requests']} requests in total; rate limited: "
              f"{stats['events'].get('rate_limited', 0)} (limits: 20 req/s, 15,000 req/h)")
    finally:
        sim.stop()
        if pg_db and args.pg:
            from sqlalchemy import create_engine, text

            admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
