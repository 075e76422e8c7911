"""How close the program runs to the physical floor: each step of ours next to code that is not ours, measured in
the same run on the same data, every figure taken in a fresh child process (its own seconds and its own peak RSS).

    python bench/bench_transfer.py [--sessions 2000[,100000]] [--repeats 3] [--pg URL] [--steps LIST]
                                   [--max-rps 20] [--recording-mb 200] [--memory | --no-memory]
                                   [--listing-rows 1000000] [--huge-mb 200] [--cache DIR] [--no-floors]

--steps (default all): a comma list of ratios (parser, sql-sqlite, sql-pg, folder, e2e-sqlite, e2e-pg: each runs
its program step and its floors), single steps (fetch, iterparse, executemany, copy, files), or groups (transfer =
every ratio above, recording, memory). --only is the older spelling of the groups. --no-floors keeps only the
program's steps (bytes written and peak RSS per session at a large size, without ratios).

Floors (not our code): HTTPS fetch of the same documents with requests (token, listing, 50-lsid detail requests,
started at the program's request rate with as many in flight as the engine, each closing its connection, as the
appliance's API asks), lxml iterparse of the same bytes, sqlite3 executemany of the same rows in one transaction,
psycopg COPY of the same rows (PostgreSQL from --pg or IC_TEST_PG_URL; skipped with a note when absent) - both with
the durability our destination runs with - the same bytes written to the same number of files with the same
durability as the folder destination (per batch of 50: one syncfs, renames, one fsync of the folder), and curl +
fsync of one large recording.

The program: our parser (to the complete model: anything a lazy model leaves for later is built in the timed part),
our SQL destination (SQLite, PostgreSQL), our folder destination, end to end (`run_schedule` into SQLite and
PostgreSQL) and our recording download into the folder destination. After each repeat the bench checks that floor
and program produced the same sessions, rows per table, files and bytes; a difference is printed as CHECK FAILED.

Each ratio is program / floor taken within the same repeat (the order of the steps is reversed every other repeat);
the table shows its median and (min–max) over repeats. With several sizes (--sessions 2000,100000) the bench also
prints bytes written per session and peak RSS of every step side by side. The session documents are made once per
size and kept in --cache (default ~/.cache/ic-bench) for the next run; the plan and a time budget are printed first.
Memory (issue 10): peak RSS of listing --listing-rows sessions, of one --huge-mb session (parsed and stored), and of
import-xml of a --huge-mb document; each target is under 200 MB.

Runs with any environment: IC_*, PYTHON*, proxy and CA-bundle variables are dropped (children get a private
settings database and IC_HOME).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import report  # noqa: E402
from common import clean_environment, fresh_pg, run_child  # noqa: E402

# step name: (label, child kind, database: None | "sqlite" | "pg" | "folder")
STEPS = {
    "fetch": ("fetch (requests)", "floor_fetch", None),
    "iterparse": ("lxml iterparse", "floor_iterparse", None),
    "executemany": ("sqlite3 executemany", "floor_sqlite", "sqlite"),
    "copy": ("psycopg COPY", "floor_copy", "pg"),
    "files": ("files + fsync", "floor_files", "folder"),
    "parser": ("our parser", "prog_parse", None),
    "sql-sqlite": ("our SQL dest (SQLite)", "prog_sql", "sqlite"),
    "sql-pg": ("our SQL dest (PostgreSQL)", "prog_sql", "pg"),
    "folder": ("our folder dest", "prog_folder", "folder"),
    "e2e-sqlite": ("end to end (SQLite)", "prog_e2e", "sqlite"),
    "e2e-pg": ("end to end (PostgreSQL)", "prog_e2e", "pg"),
}
# ratio: (program step, floor steps (summed), target, how the floor is named)
RATIOS = {
    "parser": ("parser", ["iterparse"], 1.5, "lxml iterparse"),
    "sql-sqlite": ("sql-sqlite", ["executemany"], 1.5, "sqlite3 executemany"),
    "sql-pg": ("sql-pg", ["copy"], 1.5, "psycopg COPY"),
    "folder": ("folder", ["files"], 1.5, "files + fsync"),
    "e2e-sqlite": ("e2e-sqlite", ["fetch", "iterparse", "executemany"], 2.0, "fetch + iterparse + executemany"),
    "e2e-pg": ("e2e-pg", ["fetch", "iterparse", "copy"], 2.0, "fetch + iterparse + COPY"),
}
RECORDING_TARGET = 1.3
# ratios whose both sides do all their work in the measured process: their CPU-seconds ratio is shown too (on a
# loaded machine it is steadier than the wall-clock one; fsync, the network and PostgreSQL's server are not CPU here)
CPU_RATIOS = ("parser", "sql-sqlite")
# what must come out the same (checked per repeat): rows per table, and files + bytes
SAME_ROWS = (("executemany", "sql-sqlite", "e2e-sqlite"), ("copy", "sql-pg", "e2e-pg"))
SAME_FILES = (("files", "folder"),)
GROUPS = {"transfer", "recording", "memory", "all"}


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


def parse_selection(text: str) -> tuple[list[str], set[str]]:
    """The transfer steps to run (in STEPS order) and the other groups (recording, memory) of --steps."""
    chosen: set[str] = set()
    groups: set[str] = set()
    for item in (x.strip() for x in text.split(",")):
        if item in ("all", "transfer"):
            chosen |= {s for prog, floors, _, _ in RATIOS.values() for s in (prog, *floors)}
        if item == "all":
            groups |= {"recording", "memory"}
        elif item in ("recording", "memory"):
            groups.add(item)
        elif item in RATIOS:
            chosen |= {RATIOS[item][0], *RATIOS[item][1]}
        elif item in STEPS:
            chosen.add(item)
        elif item not in ("", "transfer"):
            names = sorted(set(RATIOS) | set(STEPS) | GROUPS)
            raise SystemExit(f"--steps: unknown step {item!r}; choose from {', '.join(names)}.")
    return [s for s in STEPS if s in chosen], groups


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", default="2000",
                    help="simulated sessions; a comma list (2000,100000) runs each size and compares them")
    ap.add_argument("--repeats", type=int, default=3, help="paired repeats of every step (median and spread shown)")
    ap.add_argument("--pg", "--pg-url", dest="pg", default=os.environ.get("IC_TEST_PG_URL"),
                    help="PostgreSQL server URL (a fresh database is made per step); default IC_TEST_PG_URL")
    ap.add_argument("--max-rps", type=float, default=20.0,
                    help="request rate of the program AND of the fetch floor (the appliance allows 20/s)")
    ap.add_argument("--steps", help="comma list of ratios, steps or groups to run (default: all); see above")
    ap.add_argument("--no-floors", action="store_true",
                    help="run only the program's steps of the chosen ratios (per-session figures, no ratios)")
    ap.add_argument("--only", help="comma list of groups to run: transfer,recording,memory (older spelling)")
    ap.add_argument("--cache", type=Path, help="folder keeping the session documents between runs")
    ap.add_argument("--recording-mb", type=int, default=200, help="size of the recording for the download figure")
    ap.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True,
                    help="also print the memory figures (1M-row listing, one huge session, import-xml)")
    ap.add_argument("--listing-rows", type=int, default=1_000_000)
    ap.add_argument("--huge-mb", type=int, default=200)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return _child_main(args.child)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped bench still removes its work folder
    clean = clean_environment(dict(os.environ))  # this process serves and fetches too: no proxy, no CA bundle
    os.environ.clear()
    os.environ.update(clean)

    import corpus

    try:
        sizes = sorted({int(x.replace("_", "")) for x in args.sessions.split(",") if x.strip()})
    except ValueError:
        raise SystemExit("--sessions: a number of sessions, or a comma list of them (2000,100000).") from None
    steps, groups = parse_selection(args.steps or args.only or "all")
    if args.no_floors:
        steps = [s for s in steps if STEPS[s][1].startswith("prog_")]
    if not args.memory:
        groups.discard("memory")
    if not args.pg and any(STEPS[s][2] == "pg" for s in steps):
        print("PostgreSQL: no --pg and no IC_TEST_PG_URL: its steps are skipped.")
        steps = [s for s in steps if STEPS[s][2] != "pg"]
    cache = args.cache or corpus.default_cache()
    missing = [n for n in sizes if steps and not corpus.cached(n, cache)]
    total, per_step = report.estimate(steps, sizes, args.repeats, args.max_rps, cache, missing)
    print(f"Plan: {', '.join(f'{n:,}' for n in sizes)} sessions; steps {', '.join(steps) or '-'}"
          f"{' + ' + ', '.join(sorted(groups)) if groups else ''}; {args.repeats} paired repeats; "
          f"request rate {args.max_rps:g}/s for the program and the fetch floor; documents in {cache}")
    if steps:
        print(f"Time budget for the transfer steps: about {total / 60:.0f} min "
              f"({', '.join(f'{s} {v / 60:.1f}' for s, v in per_step.items())} min"
              f"{'; making documents for ' + ', '.join(map(str, missing)) + ' sessions' if missing else ''})"
              f"{'; ' + ' and '.join(sorted(groups)) + ' figures come on top (a few minutes)' if groups else ''}.")
    else:
        print(f"Time budget: a few minutes ({' and '.join(sorted(groups))} figures).")
    print(f"Machine at start: {report.load()}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="ic-bench-"))
    try:
        by_size: dict[int, dict[str, list[dict]]] = {}
        for n in sizes:
            if steps:
                by_size[n] = transfer_bench(args, work, n, cache, steps)
        if len(by_size) > 1:
            report.print_per_session(by_size)
        if by_size:
            report.remember(cache, by_size, {label: name for name, (label, _, _) in STEPS.items()})
        if "recording" in groups:
            recording_bench(args, work)
        if "memory" in groups:
            import memory

            memory.memory_bench(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nMachine at end: {report.load()}")
    return 0


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.rows: dict[str, list[dict]] = {}

    def step(self, label: str, kind: str, cfg: dict, db: str | None = None) -> dict:
        home = self.work / f"home-{uuid.uuid4().hex[:8]}"
        cfg = {**cfg, "home": str(home)}
        drop = None
        if db == "pg":
            cfg["url"], drop = fresh_pg(self.args.pg)
        elif db == "sqlite":
            cfg["url"] = f"sqlite:///{home / 'bench.db'}"
        elif db == "folder":
            cfg["out_dir"] = str(home / "out")
        try:
            result = run_child(kind, cfg, home)
        finally:
            if drop:
                drop()
            shutil.rmtree(home, ignore_errors=True)
        self.rows.setdefault(label, []).append(result)
        return result


def serving(args: argparse.Namespace, sessions: int, cache: Path):
    """A started simulator serving the cached documents, and those documents; made again when this simulator
    would make other documents than the cached ones (its code changed since)."""
    import corpus

    for remake in (False, True):
        docs = corpus.ensure(sessions, cache, remake=remake)
        sim = corpus.make_simulator(sessions, rate_per_second=max(20, int(args.max_rps) + 1), rate_per_hour=10**9)
        attached = corpus.attach(sim, docs)
        if not attached and isinstance(getattr(sim.store, "_xml", None), dict) and not remake:
            print("the cached documents differ from what this simulator makes: making them again")
            continue
        if not attached:
            print("note: the simulator's store has changed shape: it makes its XML itself (warmed up before measuring)")
            for s in sim.sessions:
                sim.session_xml(s.lsid)
        sim.start()
        if corpus.same_first_document(sim, docs):
            return sim, docs
        sim.stop()
        if remake:
            raise SystemExit("the simulator does not answer the documents it just made the same way twice")
        print("the simulator wraps its documents differently from the cached ones: making them again")
    raise AssertionError("unreachable")


def transfer_bench(args: argparse.Namespace, work: Path, sessions: int, cache: Path,
                   steps: list[str]) -> dict[str, list[dict]]:
    bench = Bench(args, work)
    sim, docs = serving(args, sessions, cache)
    n = docs.sessions
    try:
        print(f"\n{n:,} sessions, {docs.bytes / 1048576:.1f} MiB of session XML in {docs.documents} documents; "
              f"{args.repeats} paired repeats", flush=True)
        base = {"xml_dir": str(docs.xml_dir), "host": sim.host, "ca_file": sim.ca_file, "client_id": sim.client_id,
                "client_secret": sim.client_secret, "max_rps": args.max_rps}
        ratios: dict[str, list[float]] = {k: [] for k, (prog, floors, _, _) in RATIOS.items()
                                          if prog in steps and all(f in steps for f in floors)}
        cpu_ratios: dict[str, list[float]] = {k: [] for k in CPU_RATIOS if k in ratios}
        problems: list[str] = []
        for rep in range(args.repeats):
            order = steps if rep % 2 == 0 else steps[::-1]
            got: dict[str, dict] = {}
            for name in order:
                label, kind, db = STEPS[name]
                before = sim.stats["requests"]
                got[name] = bench.step(label, kind, base, db)
                if name in ("fetch", "e2e-sqlite", "e2e-pg"):
                    got[name]["requests"] = sim.stats["requests"] - before
            for key in ratios:
                prog, floors, _, _ = RATIOS[key]
                ratios[key].append(got[prog]["seconds"] / sum(got[f]["seconds"] for f in floors))
                if key in cpu_ratios and all(got[s].get("cpu") for s in (prog, *floors)):
                    cpu_ratios[key].append(got[prog]["cpu"] / sum(got[f]["cpu"] for f in floors))
            problems += check(got, n, rep + 1)
            done = ", ".join(f"{k} {v[-1]:.2f}" for k, v in ratios.items() if v) or "done"
            print(f"  repeat {rep + 1}: {done}  ({report.load()})", flush=True)
        print(f"\n{n:,} sessions:")
        report.print_steps(bench.rows, n)
        report.print_ratios(ratios, {k: v[3] for k, v in RATIOS.items()}, {k: v[2] for k, v in RATIOS.items()})
        report.print_cpu_ratios(cpu_ratios)
        notes(bench.rows)
        for p in problems:
            print(f"CHECK FAILED: {p}")
        if not problems:
            print("checks: every step handled all sessions"
                  + ("; floor and program wrote the same rows, files and bytes" if ratios else ""))
    finally:
        sim.stop()
    return bench.rows


def check(got: dict[str, dict], sessions: int, rep: int) -> list[str]:
    """What the floor and the program produced must be the same, and complete."""
    out = []
    for name, r in got.items():
        if "sessions" in r and r["sessions"] != sessions:
            out.append(f"repeat {rep}: {name} handled {r['sessions']} of {sessions} sessions")
    for group in SAME_ROWS:
        have = [(g, got[g]["rows"]) for g in group if g in got]
        for g, rows in have[1:]:
            if rows != have[0][1]:
                diff = {t: (have[0][1].get(t), rows.get(t)) for t in set(rows) | set(have[0][1])
                        if rows.get(t) != have[0][1].get(t)}
                out.append(f"repeat {rep}: {g} wrote other rows than {have[0][0]}: {diff}")
    for group in SAME_FILES:
        have = [(g, (got[g]["files"], got[g]["bytes"])) for g in group if g in got]
        for g, figures in have[1:]:
            if figures != have[0][1]:
                out.append(f"repeat {rep}: {g} wrote {figures} (files, bytes), {have[0][0]} {have[0][1]}")
    return out


def notes(rows: dict[str, list[dict]]) -> None:
    for label, results in rows.items():
        durability = results[0].get("durability")
        if durability:
            print(f"  {label}: {', '.join(f'{k}={v}' for k, v in durability.items())}")
        lazy = max((r.get("lazy") or 0) for r in results)
        if lazy:
            print(f"  {label}: {lazy} sessions had parts left to build; building them was timed")


def recording_bench(args: argparse.Namespace, work: Path) -> None:
    from ic.simulator import Simulator

    bench = Bench(args, work)
    sim = Simulator(sessions=3, seed=5, in_progress=0, recording_size=args.recording_mb * 1024 * 1024).start()
    try:
        import requests

        lsid = next(s.lsid for s in sim.sessions if s.has_recording)
        with requests.Session() as http:
            http.trust_env = False
            tok = http.post(f"{sim.base_url}/oauth2/token", auth=(sim.client_id, sim.client_secret),
                            data={"grant_type": "client_credentials"}, verify=sim.ca_file, timeout=30).json()
        cfg = {"host": sim.host, "ca_file": sim.ca_file, "client_id": sim.client_id,
               "client_secret": sim.client_secret, "lsid": lsid, "token": tok["access_token"]}
        ratios: dict[str, list[float]] = {"recording": []}
        tool, renamed = "curl", []
        for rep in range(args.repeats):
            def floor() -> dict:
                return bench.step("curl + fsync", "floor_curl", {**cfg, "out_dir": str(work / f"c-{uuid.uuid4().hex}")})

            def ours() -> dict:
                return bench.step("our recording download", "prog_recording",
                                  {**cfg, "out_dir": str(work / f"r-{uuid.uuid4().hex}"),
                                   "spool_dir": str(work / f"s-{uuid.uuid4().hex}")})

            if rep % 2 == 0:
                f = floor()
                o = ours()
            else:
                o = ours()
                f = floor()
            tool = f["tool"]
            renamed.append(o["renamed"])
            ratios["recording"].append(o["seconds"] / f["seconds"])
            for d in work.glob("[crs]-*"):
                shutil.rmtree(d, ignore_errors=True)
        print(f"\nOne {args.recording_mb} MiB recording ({tool} is the floor; ours "
              f"{'renamed into place' if all(renamed) else 'COPIED into place'}):")
        report.print_steps(bench.rows, None)
        report.print_ratios(ratios, {"recording": f"{tool} + fsync"}, {"recording": RECORDING_TARGET})
    finally:
        sim.stop()


if __name__ == "__main__":
    sys.exit(main())
