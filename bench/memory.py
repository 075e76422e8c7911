"""Memory figures of issue 10 item 7, each the peak RSS of a fresh child process (target: under 200 MiB each):
a listing of --listing-rows sessions, one --huge-mb session parsed and stored (SQLite and folder), and import-xml of
a --huge-mb document (one huge session, and a document whose bulk lies outside any session).

    python bench/memory.py [--listing-rows 1000000] [--huge-mb 200] [--parts huge,import,listing,run]

(``bench/bench_transfer.py --steps memory`` prints the same figures.) --parts picks figures: huge (one huge session
parsed and stored), import (import-xml of both documents), listing (the client reading the listing alone), run
(`run` listing, planning and storing the first batch of the listing; the figure of issue 10 item 7; the listing is
planned in slices of 5,000 rows, so this run reads only the first slice), window (`run` through the whole listing to
the completed window, with the details stubbed: every session marked done as after a store)."""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common import child_result, run_child

NS = "http://www.bomgar.com/namespaces/API/reporting"
TARGET_MB = 200


# --- documents (written by the parent, streamed: never whole in memory) ---------------------------------------------
def write_huge_session(path: Path, mb: int) -> int:
    """One session whose chat holds ``mb`` MiB: 10 KiB message bodies plus one 8 MiB system-information value."""
    body = ("All work and no play makes Jack a dull boy. " * 240)[:10_000]
    head = (f'<?xml version="1.0" encoding="UTF-8"?>\n<session_list xmlns="{NS}">\n<session lsid="huge-1">\n'
            "<session_type>support</session_type><lseq>1</lseq>\n"
            '<start_time timestamp="1700000000">2023-11-14T22:13:20+00:00</start_time>\n'
            '<end_time timestamp="1700003600">2023-11-14T23:13:20+00:00</end_time>\n<duration>01:00:00</duration>\n'
            '<primary_customer gsnumber="2">Customer</primary_customer><primary_rep gsnumber="1" id="1">Rep</primary_rep>\n'
            '<customer_list><customer gsnumber="2"><primary_cust>1</primary_cust><info><name>Customer</name></info>'
            '</customer></customer_list>\n<rep_list><representative gsnumber="1" id="1"><primary_rep>1</primary_rep>'
            "<display_name>Rep</display_name></representative></rep_list>\n<session_details>\n")
    big_value = "x" * (8 * 1024 * 1024)
    sysinfo = ('<event timestamp="1700000001" event_type="System Information Retrieved"><system_information>'
               f'<category name="Memory"><description><field name="f">F</field></description><data><row>'
               f'<field name="f">{big_value}</field></row></data></category></system_information></event>\n')
    size = 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(head)
        fh.write(sysinfo)
        size += len(head) + len(sysinfo)
        i = 0
        while size < mb * 1024 * 1024:
            ev = (f'<event timestamp="{1700000002 + i}" event_type="Chat Message"><performed_by type="representative"'
                  f' gsnumber="1">Rep</performed_by><body>{i} {body}</body></event>\n')
            fh.write(ev)
            size += len(ev)
            i += 1
        tail = "</session_details>\n</session>\n</session_list>\n"
        fh.write(tail)
    return i


def write_outside_sessions(path: Path, mb: int) -> None:
    """A document of ``mb`` MiB whose bulk is an unknown element outside the sessions, then two small sessions."""
    small = ('<session lsid="small-{n}"><session_type>support</session_type><lseq>{n}</lseq>'
             '<start_time timestamp="1700000000">2023-11-14T22:13:20+00:00</start_time>'
             '<end_time timestamp="1700000100">2023-11-14T22:15:00+00:00</end_time></session>\n')
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<session_list xmlns="{NS}">\n')
        fh.write(small.format(n=1))
        fh.write("<appliance_notes>\n")
        line = "<note>" + "n" * 1000 + "</note>\n"
        for _ in range(mb * 1024 * 1024 // len(line)):
            fh.write(line)
        fh.write("</appliance_notes>\n")
        fh.write(small.format(n=2))
        fh.write("</session_list>\n")


# --- children -------------------------------------------------------------------------------------------------------
def mem_listing(cfg: dict) -> dict:
    from ic.appliance import ApplianceClient

    client = ApplianceClient(cfg["host"], cfg["client_id"], cfg["client_secret"], cfg["ca_file"], "rs", max_rps=1000)
    start = time.perf_counter()
    n = 0
    streaming = hasattr(client, "iter_sessions_listing")
    lister = client.iter_sessions_listing if streaming else client.list_sessions
    for _ in lister(end_time=0):
        n += 1
    seconds = time.perf_counter() - start
    client.close()
    return child_result(seconds, rows=n, streaming=streaming)


def _bench_schedule(cfg: dict):
    """A settings store in the child's home with site "sim", SQLite destination "db" and schedule "Bench" (session
    data from sim into db): what both run figures run."""
    from ic.settings import open_store
    from ic.settings.models import DestinationConfig, ScheduleConfig, SiteConfig, TransferConfig

    store = open_store(f"sqlite:///{Path(cfg['home']) / 'settings.db'}")
    store.save_site(SiteConfig("sim", cfg["host"], cfg["client_id"], cfg["ca_file"], "rs"),
                    client_secret=cfg["client_secret"])
    store.save_destination(DestinationConfig("db", "sql", {"url": f"sqlite:///{Path(cfg['home']) / 'out.db'}"},
                                             secret_fields=("url",)))
    store.save_schedule(ScheduleConfig("Bench", 900, [TransferConfig("sim", "db", ["session"])]))
    return store


def mem_run_listing(cfg: dict) -> dict:
    """`run_schedule` of a transfer into SQLite against an appliance of ``rows`` sessions, cancelled once the whole
    listing is read and planned and the first batch is stored: the memory the run needs for the listing."""
    import threading

    from ic.services.runs import run_schedule
    from ic.transfer import progress

    store = _bench_schedule(cfg)
    cancel = threading.Event()
    seen = {"found": 0, "done": 0}

    def listener(ev) -> None:
        seen["found"] = max(seen["found"], ev.sessions_found)
        seen["done"] = max(seen["done"], ev.sessions_done)
        if ev.phase == progress.SESSIONS and ev.sessions_found and ev.sessions_done >= 50:
            cancel.set()

    start = time.perf_counter()
    run_schedule(store, "Bench", listener, cancel)
    seconds = time.perf_counter() - start
    return child_result(seconds, rows=seen["found"], stored=seen["done"])


def mem_run_whole_listing(cfg: dict) -> dict:
    """`run_schedule` through the WHOLE listing of ``rows`` sessions to the completed window, with the detail fetch and
    store replaced by marking each session done (an end time spread over a year, the state saved per batch of 50, as
    after a store): the window's own memory (slices, done map, sealing, journal) and the client's over every row, in
    minutes instead of the hours that fetching a million sessions' details takes. One session's memory is the
    figures above."""
    import zlib

    from ic.services.runs import run_schedule
    from ic.transfer import engine

    def process(run, lsids, from_quarantine=False) -> None:
        now = run._appliance_now or int(time.time())
        for i, lsid in enumerate(lsids):
            end = now - zlib.crc32(lsid.encode()) % (365 * 86400)
            for st in run.states.values():
                if not st.handled(lsid):
                    st.mark_done(lsid, end)
            if i % 50 == 49 or i == len(lsids) - 1:
                for t in run.states:
                    run.apply.save(t)
                run.tracker.add(sessions_done=min(50, i % 50 + 1))

    engine._Run._process = process
    store = _bench_schedule(cfg)
    seen = {"found": 0, "done": 0}

    def listener(ev) -> None:
        seen["found"] = max(seen["found"], ev.sessions_found)
        seen["done"] = max(seen["done"], ev.sessions_done)

    start = time.perf_counter()
    outcome = run_schedule(store, "Bench", listener)
    seconds = time.perf_counter() - start
    state = store.load_state(store.get_site("sim").id, store.get_destination("db").id, "session") or {}
    return child_result(seconds, rows=seen["found"], done=seen["done"], ok=bool(outcome.ok),
                        kept=len(state.get("done") or {}) + len(state.get("recent") or {}))


def mem_huge_session(cfg: dict) -> dict:
    """Parse the one-session document and store it into SQLite and into a folder, as a transfer would."""
    from ic.destinations.folder import FolderDestination
    from ic.destinations.sql import SqlDestination
    from ic.sessions.parser import iter_sessions

    sql = SqlDestination("bench", {"url": f"sqlite:///{Path(cfg['home']) / 'huge.db'}"})
    folder = FolderDestination("bench", {"directory": str(Path(cfg["home"]) / "out")})
    (Path(cfg["home"]) / "out").mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    n = 0
    for s in iter_sessions(cfg["path"], product="rs"):
        sql.store_sessions("bench-host", [s])
        folder.store_sessions("bench-host", [s])
        getattr(s, "close", lambda: None)()  # a spilled session's temporary file goes now, as after a transfer
        n += 1
    seconds = time.perf_counter() - start
    sql.close()
    return child_result(seconds, sessions=n)


def mem_import(cfg: dict) -> dict:
    from ic.services.import_xml import import_xml_to_destination
    from ic.settings import open_store
    from ic.settings.models import DestinationConfig

    store = open_store(f"sqlite:///{Path(cfg['home']) / 'settings.db'}")
    out = Path(cfg["home"]) / "out"
    out.mkdir(parents=True, exist_ok=True)
    store.save_destination(DestinationConfig("out", "folder", {"directory": str(out)}))
    start = time.perf_counter()
    result = import_xml_to_destination(store, [cfg["path"]], "out", site_host="bench-host")
    seconds = time.perf_counter() - start
    return child_result(seconds, sessions=result.sessions, errors=result.errors)


STEPS = {"mem_listing": mem_listing, "mem_run_listing": mem_run_listing, "mem_huge_session": mem_huge_session,
         "mem_import": mem_import, "mem_run_whole_listing": mem_run_whole_listing}


# --- parent ---------------------------------------------------------------------------------------------------------
def memory_bench(args, work: Path) -> None:
    from ic.simulator import Simulator

    rows = []
    parts = set(getattr(args, "parts", None) or PARTS)
    print(f"\nMemory (peak RSS of a fresh process; target under {TARGET_MB} MiB each):")

    def run(label: str, kind: str, cfg: dict, what: str) -> None:
        home = work / f"home-{uuid.uuid4().hex[:8]}"
        r = run_child(kind, {**cfg, "home": str(home)}, home)
        rows.append((label, r, what(r)))
        print(f"  {label:<58}{r['peak_mb']:>8.0f} MiB  {r['seconds']:>7.1f} s  {what(r)}"
              f"  {'ok' if r['peak_mb'] < TARGET_MB else 'OVER'}", flush=True)

    if parts & {"huge", "import"}:
        huge = work / "huge-session.xml"
        events = write_huge_session(huge, args.huge_mb)
        outside = work / "outside.xml"
        write_outside_sessions(outside, args.huge_mb)
        mb = huge.stat().st_size / 1048576
        if "huge" in parts:
            run(f"one {mb:.0f} MiB session ({events} events): parse + SQLite + folder", "mem_huge_session",
                {"path": str(huge)}, lambda r: f"{r['sessions']} session")
        if "import" in parts:
            run(f"import-xml of that {mb:.0f} MiB document", "mem_import", {"path": str(huge)},
                lambda r: f"{r['sessions']} session {r['errors'] or ''}")
            run(f"import-xml, {outside.stat().st_size / 1048576:.0f} MiB outside sessions", "mem_import",
                {"path": str(outside)}, lambda r: f"{r['sessions']} sessions {r['errors'] or ''}")
        huge.unlink()
        outside.unlink()
    if not parts & {"listing", "run", "window"}:
        return
    print(f"  (making a simulator of {args.listing_rows} sessions for the listing ...)", flush=True)
    sim = Simulator(sessions=args.listing_rows, seed=5, in_progress=0).start()
    site = {"host": sim.host, "ca_file": sim.ca_file, "client_id": sim.client_id, "client_secret": sim.client_secret}
    try:
        if "listing" in parts:
            run(f"listing of {args.listing_rows} sessions (the client alone)", "mem_listing", site,
                lambda r: f"{r['rows']} rows{' (streamed)' if r['streaming'] else ' (list_sessions)'}")
        if "run" in parts:
            run(f"run: listing of {args.listing_rows} sessions, 1st batch", "mem_run_listing", site,
                lambda r: f"1st slice: {r['rows']} planned, {r['stored']} stored, then cancelled")
        if "window" in parts:
            run(f"run: whole window of {args.listing_rows} sessions (details stubbed)", "mem_run_whole_listing", site,
                lambda r: f"{r['done']} of {r['rows']} done, {'completed' if r['ok'] else 'FAILED'}, "
                          f"{r['kept']} lsids kept in the state")
    finally:
        sim.stop()


PARTS = ("huge", "import", "listing", "run", "window")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listing-rows", type=int, default=1_000_000, help="sessions of the listing figures")
    ap.add_argument("--huge-mb", type=int, default=200, help="MiB of the huge session and import-xml documents")
    ap.add_argument("--parts", type=lambda v: [p.strip() for p in v.split(",") if p.strip()], default=list(PARTS),
                    help=f"comma list of figures to print (default all: {','.join(PARTS)})")
    args = ap.parse_args()
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        ap.error(f"--parts: unknown {', '.join(sorted(unknown))}; choose from {','.join(PARTS)}")
    from common import clean_environment

    clean = clean_environment(dict(os.environ))  # this process serves too: no proxy, no CA bundle
    os.environ.clear()
    os.environ.update(clean)
    work = Path(tempfile.mkdtemp(prefix="ic-bench-memory-"))
    try:
        memory_bench(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
