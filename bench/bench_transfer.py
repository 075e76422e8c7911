"""End-to-end transfer speed and peak memory, next to a floor measured in the same run.

    python bench/bench_transfer.py [--sessions 2000] [--pg-url postgresql+psycopg://...] [--max-rps 20]

For N simulated sessions (session data only) it measures, each in a fresh subprocess (so peak RSS is that step's):

* e2e     -- `run_schedule` of one transfer: listing, 50-lsid detail requests over HTTPS to the simulator,
             streaming parse, destination writes, state saves (the simulator runs in this parent process);
* parse   -- parse-only of the same session XML documents (already on disk) with ic.sessions.parser;
* insert  -- bulk insert only of the same parsed sessions (parsed before the clock starts) with the SQL destination;

into SQLite, and into PostgreSQL when IC_TEST_PG_URL or --pg-url is given. It prints sessions/s, peak RSS and the
ratios e2e / (parse + insert) -- how much the engine, HTTP and the rate limiter add over the unavoidable work.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# --- children ---------------------------------------------------------------------------------------------------
def child_e2e(cfg: dict) -> dict:
    os.environ["IC_HOME"] = cfg["home"]
    from ic.services.runs import run_schedule
    from ic.settings import open_store
    from ic.settings.models import DestinationConfig, ScheduleConfig, SiteConfig, TransferConfig

    store = open_store()
    store.save_site(SiteConfig("sim", cfg["host"], cfg["client_id"], cfg["ca_file"], "rs"),
                    client_secret=cfg["client_secret"])
    store.save_destination(DestinationConfig("db", "sql", {"url": cfg["url"]}, secret_fields=("url",)))
    store.save_schedule(ScheduleConfig("Bench", 900, [TransferConfig("sim", "db", ["session"])]))
    if cfg.get("max_rps"):
        store.set_setting("appliance_max_rps", str(cfg["max_rps"]))
    start = time.perf_counter()
    outcome = run_schedule(store, "Bench", raise_internal=True)
    seconds = time.perf_counter() - start
    if not outcome.ok:
        raise SystemExit(outcome.message())
    stored = sum(r.sessions_stored + r.in_progress_stored for r in outcome.results)
    return {"seconds": seconds, "sessions": stored, "peak_mb": _peak_rss_mb()}


def _parse_all(xml_dir: str) -> list:
    from ic.sessions.parser import iter_sessions

    out = []
    for path in sorted(Path(xml_dir).glob("*.xml")):
        out.extend(iter_sessions(path))
    return out


def child_parse(cfg: dict) -> dict:
    from ic.sessions.parser import iter_sessions

    start = time.perf_counter()
    count = 0
    for path in sorted(Path(cfg["xml_dir"]).glob("*.xml")):
        for _ in iter_sessions(path):  # streaming, like the engine: one batch document at a time
            count += 1
    return {"seconds": time.perf_counter() - start, "sessions": count, "peak_mb": _peak_rss_mb()}


def child_insert(cfg: dict) -> dict:
    from ic.destinations.sql import SqlDestination

    sessions = _parse_all(cfg["xml_dir"])  # not timed
    dest = SqlDestination("bench", {"url": cfg["url"]})
    start = time.perf_counter()
    for i in range(0, len(sessions), 50):  # the engine's batch size
        dest.store_sessions(cfg["host"], sessions[i : i + 50])
    seconds = time.perf_counter() - start
    dest.close()
    return {"seconds": seconds, "sessions": len(sessions), "peak_mb": _peak_rss_mb()}


CHILDREN = {"e2e": child_e2e, "parse": child_parse, "insert": child_insert}


# --- parent -----------------------------------------------------------------------------------------------------
def run_child(kind: str, cfg: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind],
        input=json.dumps(cfg),
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=3600,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fresh_pg(base: str) -> tuple[str, callable]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"ic_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(base).set(database=name).render_as_string(hide_password=False), drop


def fetch_xml(sim, xml_dir: Path) -> int:
    """The session documents exactly as the engine asks for them (50 lsids per request), saved for the floor."""
    from ic.appliance import ApplianceClient

    client = ApplianceClient(sim.host, sim.client_id, sim.client_secret, sim.ca_file, "rs", max_rps=1000)
    lsids = [s.lsid for s in client.list_sessions(end_time=0)]
    for i in range(0, len(lsids), 50):
        client.fetch_sessions_to_file(xml_dir / f"batch-{i // 50:05d}.xml", lsids=lsids[i : i + 50])
    client.close()
    return len(lsids)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=2000)
    ap.add_argument("--pg-url", default=os.environ.get("IC_TEST_PG_URL"))
    ap.add_argument("--max-rps", type=float, default=None, help="client request rate (default: the documented 20/s)")
    ap.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](json.loads(sys.stdin.read()))))
        return 0

    from ic.simulator import Simulator

    work = Path(tempfile.mkdtemp(prefix="ic-bench-"))
    sim = Simulator(sessions=args.sessions, seed=5, in_progress=0, rate_per_second=max(20, args.max_rps or 20)).start()
    try:
        xml_dir = work / "xml"
        xml_dir.mkdir()
        n = fetch_xml(sim, xml_dir)
        size = sum(p.stat().st_size for p in xml_dir.glob("*.xml"))
        print(f"{n} sessions, {size / 1048576:.1f} MB of session XML in {len(list(xml_dir.glob('*.xml')))} documents; "
              f"client rate limit {args.max_rps or 20:g} req/s")
        targets = [("SQLite", None)] + ([("PostgreSQL", args.pg_url)] if args.pg_url else [])
        parse = run_child("parse", {"xml_dir": str(xml_dir)})
        print(f"\n{'step':<28}{'seconds':>9}{'sessions/s':>12}{'peak RSS MB':>13}")
        print(f"{'parse only':<28}{parse['seconds']:>9.2f}{n / parse['seconds']:>12.0f}{parse['peak_mb']:>13.0f}")
        summary = []
        for label, pg in targets:
            results = {}
            for kind in ("insert", "e2e"):
                drop = None
                if pg:
                    url, drop = fresh_pg(pg)
                else:
                    url = f"sqlite:///{work / f'{kind}-{uuid.uuid4().hex[:6]}.db'}"
                home = work / f"home-{uuid.uuid4().hex[:6]}"
                cfg = {"url": url, "xml_dir": str(xml_dir), "host": sim.host, "home": str(home),
                       "client_id": sim.client_id, "client_secret": sim.client_secret, "ca_file": sim.ca_file,
                       "max_rps": args.max_rps}
                try:
                    results[kind] = run_child(kind, cfg)
                finally:
                    if drop:
                        drop()
                r = results[kind]
                assert r["sessions"] == n, f"{kind} handled {r['sessions']} of {n} sessions"
                name = f"{'bulk insert only' if kind == 'insert' else 'end to end'} ({label})"
                print(f"{name:<28}{r['seconds']:>9.2f}{n / r['seconds']:>12.0f}{r['peak_mb']:>13.0f}")
            floor = parse["seconds"] + results["insert"]["seconds"]
            summary.append((label, results["e2e"]["seconds"] / floor, results["e2e"]["peak_mb"]))
        print()
        for label, ratio, peak in summary:
            print(f"{label}: end to end takes {ratio:.2f}x the floor (parse + bulk insert); peak RSS {peak:.0f} MB")
    finally:
        sim.stop()
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
