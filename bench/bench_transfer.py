"""How close the program runs to the physical floor: each step of ours next to code that is not ours, measured in
the same run on the same data, every figure taken in a fresh child process (its own seconds and its own peak RSS).

    python bench/bench_transfer.py [--sessions 2000] [--repeats 3] [--pg URL] [--max-rps 20]
                                   [--recording-mb 200] [--memory | --no-memory] [--listing-rows 1000000]
                                   [--huge-mb 200]

Floors (not our code): HTTPS fetch of the same documents with requests (token, listing, 50-lsid detail requests,
paced at the same request rate as the program and closing each connection, as the appliance's API asks), lxml
iterparse of the same bytes, sqlite3 executemany of the same rows in one transaction, psycopg COPY of the same rows
(PostgreSQL from --pg or IC_TEST_PG_URL; skipped with a note when absent), the same bytes written to the same number
of files with the same durability as the folder destination (per batch of 50: one syncfs, renames, one fsync of the
folder), and curl + fsync of one large recording.

The program: our parser, our SQL destination (SQLite, PostgreSQL), our folder destination, end to end (`run_schedule`
into SQLite and PostgreSQL) and our recording download into the folder destination.

Each ratio is program / floor taken within the same repeat; the table shows its median and (min–max) over repeats.
Memory (issue 10): peak RSS of listing --listing-rows sessions, of one --huge-mb session (parsed and stored), and of
import-xml of a --huge-mb document; each target is under 200 MB.

Runs with any environment: an exported IC_SETTINGS/IC_HOME is ignored (children get a private settings database).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import fresh_pg, run_child, spread  # noqa: E402

TARGETS = {"parser": 1.5, "SQL SQLite": 1.5, "SQL PostgreSQL": 1.5, "folder": 1.5, "e2e SQLite": 2.0,
           "e2e PostgreSQL": 2.0, "recording": 1.3}


def _child_main(kind: str) -> int:
    cfg = json.loads(sys.stdin.read())
    if kind.startswith("mem_"):
        import memory

        result = memory.STEPS[kind](cfg)
    else:
        import steps

        result = steps.STEPS[kind](cfg)
    print(json.dumps(result))
    return 0


def _fetch_documents(sim, xml_dir: Path) -> int:
    """The session documents exactly as the engine asks for them (50 lsids per request), kept for every step."""
    from ic.appliance import ApplianceClient

    with ApplianceClient(sim.host, sim.client_id, sim.client_secret, sim.ca_file, "rs", max_rps=1000) as client:
        lsids = [s.lsid for s in client.list_sessions(end_time=0)]
        for i in range(0, len(lsids), 50):
            client.fetch_sessions_to_file(xml_dir / f"batch-{i // 50:06d}.xml", lsids=lsids[i:i + 50])
    return len(lsids)


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.rows: dict[str, list[dict]] = {}

    def step(self, label: str, kind: str, cfg: dict, pg: bool = False) -> dict:
        home = self.work / f"home-{uuid.uuid4().hex[:8]}"
        cfg = {**cfg, "home": str(home)}
        drop = None
        if pg:
            cfg["url"], drop = fresh_pg(self.args.pg)
        elif "url" in cfg and cfg["url"] == "sqlite":
            cfg["url"] = f"sqlite:///{home / 'bench.db'}"
        try:
            result = run_child(kind, cfg, home)
        finally:
            if drop:
                drop()
            shutil.rmtree(home, ignore_errors=True)
        self.rows.setdefault(label, []).append(result)
        return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=2000, help="simulated sessions (100000 for the big figure)")
    ap.add_argument("--repeats", type=int, default=3, help="paired repeats of every step (median and spread shown)")
    ap.add_argument("--pg", "--pg-url", dest="pg", default=os.environ.get("IC_TEST_PG_URL"),
                    help="PostgreSQL server URL (a fresh database is made per step); default IC_TEST_PG_URL")
    ap.add_argument("--max-rps", type=float, default=20.0,
                    help="request rate of the program AND of the fetch floor (the appliance allows 20/s)")
    ap.add_argument("--recording-mb", type=int, default=200, help="size of the recording for the download figure")
    ap.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True,
                    help="also print the memory figures (1M-row listing, one huge session, import-xml)")
    ap.add_argument("--listing-rows", type=int, default=1_000_000)
    ap.add_argument("--huge-mb", type=int, default=200)
    ap.add_argument("--only", help="comma list of groups to run: transfer,recording,memory")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return _child_main(args.child)

    groups = set((args.only or "transfer,recording,memory").split(","))
    if not args.memory:
        groups.discard("memory")
    work = Path(tempfile.mkdtemp(prefix="ic-bench-"))
    try:
        if "transfer" in groups:
            transfer_bench(args, work)
        if "recording" in groups:
            recording_bench(args, work)
        if "memory" in groups:
            import memory

            memory.memory_bench(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def transfer_bench(args: argparse.Namespace, work: Path) -> None:
    from ic.simulator import Simulator

    bench = Bench(args, work)
    sim = Simulator(sessions=args.sessions, seed=5, in_progress=0, rate_per_second=max(20, int(args.max_rps) + 1),
                    rate_per_hour=10**9).start()
    try:
        xml_dir = work / "xml"
        xml_dir.mkdir()
        n = _fetch_documents(sim, xml_dir)
        docs = sorted(xml_dir.glob("*.xml"))
        size = sum(p.stat().st_size for p in docs)
        print(f"{n} sessions, {size / 1048576:.1f} MiB of session XML in {len(docs)} documents; "
              f"{args.repeats} paired repeats; request rate {args.max_rps:g}/s for the program and the fetch floor")
        if not args.pg:
            print("PostgreSQL: no --pg and no IC_TEST_PG_URL: its rows are skipped.")
        base = {"xml_dir": str(xml_dir), "host": sim.host, "ca_file": sim.ca_file, "client_id": sim.client_id,
                "client_secret": sim.client_secret, "max_rps": args.max_rps}
        ratios: dict[str, list[float]] = {k: [] for k in TARGETS if k != "recording"}
        for _ in range(args.repeats):
            before = sim.stats["requests"]
            fetch = bench.step("fetch (requests)", "floor_fetch", base)
            fetch["requests"] = sim.stats["requests"] - before
            it = bench.step("lxml iterparse", "floor_iterparse", base)
            ex = bench.step("sqlite3 executemany", "floor_sqlite", {**base, "url": "sqlite"})
            files = bench.step("files + fsync", "floor_files", {**base, "out_dir": str(work / f"f-{uuid.uuid4().hex}")})
            parse = bench.step("our parser", "prog_parse", base)
            sql = bench.step("our SQL dest (SQLite)", "prog_sql", {**base, "url": "sqlite"})
            folder = bench.step("our folder dest", "prog_folder", {**base, "out_dir": str(work / f"d-{uuid.uuid4().hex}")})
            before = sim.stats["requests"]
            e2e = bench.step("end to end (SQLite)", "prog_e2e", {**base, "url": "sqlite"})
            e2e["requests"] = sim.stats["requests"] - before
            ratios["parser"].append(parse["seconds"] / it["seconds"])
            ratios["SQL SQLite"].append(sql["seconds"] / ex["seconds"])
            ratios["folder"].append(folder["seconds"] / files["seconds"])
            ratios["e2e SQLite"].append(e2e["seconds"] / (fetch["seconds"] + it["seconds"] + ex["seconds"]))
            if args.pg:
                cp = bench.step("psycopg COPY", "floor_copy", base, pg=True)
                sqlpg = bench.step("our SQL dest (PostgreSQL)", "prog_sql", base, pg=True)
                before = sim.stats["requests"]
                e2epg = bench.step("end to end (PostgreSQL)", "prog_e2e", base, pg=True)
                e2epg["requests"] = sim.stats["requests"] - before
                ratios["SQL PostgreSQL"].append(sqlpg["seconds"] / cp["seconds"])
                ratios["e2e PostgreSQL"].append(e2epg["seconds"] / (fetch["seconds"] + it["seconds"] + cp["seconds"]))
            print("  repeat: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in ratios.items() if v), flush=True)
        print_steps(bench.rows, n)
        print_ratios(ratios)
    finally:
        sim.stop()


def recording_bench(args: argparse.Namespace, work: Path) -> None:
    from ic.simulator import Simulator

    bench = Bench(args, work)
    sim = Simulator(sessions=3, seed=5, in_progress=0, recording_size=args.recording_mb * 1024 * 1024).start()
    try:
        import requests

        lsid = next(s.lsid for s in sim.sessions if s.has_recording)
        tok = requests.post(f"{sim.base_url}/oauth2/token", auth=(sim.client_id, sim.client_secret),
                            data={"grant_type": "client_credentials"}, verify=sim.ca_file, timeout=30).json()
        cfg = {"host": sim.host, "ca_file": sim.ca_file, "client_id": sim.client_id,
               "client_secret": sim.client_secret, "lsid": lsid, "token": tok["access_token"]}
        ratios: dict[str, list[float]] = {"recording": []}
        tool = "curl"
        for _ in range(args.repeats):
            floor = bench.step("curl + fsync", "floor_curl", {**cfg, "out_dir": str(work / f"c-{uuid.uuid4().hex}")})
            tool = floor["tool"]
            ours = bench.step("our recording download", "prog_recording",
                              {**cfg, "out_dir": str(work / f"r-{uuid.uuid4().hex}"),
                               "spool_dir": str(work / f"s-{uuid.uuid4().hex}")})
            ratios["recording"].append(ours["seconds"] / floor["seconds"])
            for d in work.glob("[cr]-*"):
                shutil.rmtree(d, ignore_errors=True)
        print(f"\nOne {args.recording_mb} MiB recording ({tool} is the floor):")
        print_steps(bench.rows, None)
        print_ratios(ratios)
    finally:
        sim.stop()


def print_steps(rows: dict[str, list[dict]], sessions: int | None) -> None:
    print(f"\n{'step':<28}{'seconds median (min–max)':>28}{'per s':>9}{'peak RSS MiB':>14}{'written MiB':>13}"
          f"{'requests':>10}")
    for label, results in rows.items():
        secs = [r["seconds"] for r in results]
        med = statistics.median(secs)
        rate = ""
        if sessions and med:
            rate = f"{sessions / med:.0f}"
        elif results and results[0].get("bytes") and med:
            rate = f"{results[0]['bytes'] / med / 1048576:.0f}MiB"
        peak = statistics.median(r["peak_mb"] for r in results)
        written = [r["written"] for r in results if r.get("written") is not None]
        wtxt = f"{statistics.median(written) / 1048576:.1f}" if written else "-"
        req = results[0].get("requests", "")
        print(f"{label:<28}{spread(secs):>28}{rate:>9}{peak:>14.0f}{wtxt:>13}{req!s:>10}")


def print_ratios(ratios: dict[str, list[float]]) -> None:
    floors = {"parser": "lxml iterparse", "SQL SQLite": "sqlite3 executemany", "SQL PostgreSQL": "psycopg COPY",
              "folder": "files + fsync", "e2e SQLite": "fetch + iterparse + executemany",
              "e2e PostgreSQL": "fetch + iterparse + COPY", "recording": "curl + fsync"}
    print(f"\n{'ratio (ours / floor)':<22}{'floor':<34}{'median (min–max)':>22}{'target':>8}  ok")
    for key, values in ratios.items():
        if not values:
            continue
        ok = "yes" if statistics.median(values) <= TARGETS[key] else "NO"
        print(f"{key:<22}{floors[key]:<34}{spread(values):>22}{TARGETS[key]:>7.1f}x  {ok}")


if __name__ == "__main__":
    sys.exit(main())
