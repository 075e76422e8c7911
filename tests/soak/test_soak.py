"""Soak test of the central promise: a schedule never loses or duplicates a session, whatever the appliance does.

For several seeds, one schedule (simulator -> File System folder with session + recordings + shell + smsr, and
simulator -> SQLite with session) is run again and again while, between runs and DURING runs (from the progress
listener), a seeded random generator: adds sessions, ends sessions in progress, deletes sessions (also with
``strict_lsids``), moves the appliance clock (forward by minutes, backward by less than the overlap; each seed also
starts with the host clock ahead of or behind the appliance), flips the simulator's fault switches, cancels a run,
aborts a run (a BaseException from the listener, which unwinds everything) or crashes it (an exception from a
destination wrapper before/after the destination committed: "internal error"), and SIGKILLs one real
``python main.py run`` subprocess per seed. Every 4th seed is a Privileged Remote Access appliance; some seeds use an
initial look-back of 30 days, and the folder's File Name Conflict Handling is AppendNumber, Overwrite or Skip. A final clean run (faults off) must then leave exactly the right data (``Soak.check``):

* SQL lsids == the simulator's sessions + deleted sessions that were already stored when deleted (a deleted session
  that was served before its deletion may be there too); ended sessions have end_time, running ones none;
* exactly one XML file per stored session (none numbered x.1.xml), showing the same end time as the simulator;
* exactly one file per (session, kind, instance) the simulator has and never answered "expired", bytes equal to
  ``recording_bytes``; no numbered duplicates; no ``.part`` files; no leftover engine temp folders;
* after every successful run the done maps are pruned to the overlap and nothing stays in ``partial`` after the
  final run (state JSON stays bounded); a second clean run stores nothing.

The plan (which action, when) is a pure function of the seed; thread timing can still move an action by an event.
Default: 4 seeds x 8 runs, well under a minute. ``IC_SOAK=1``: 12 seeds x 16 runs with more sessions (minutes);
``IC_SOAK_SEEDS=4,5`` picks the seeds (e.g. to replay a failure).
"""
from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ic import paths
from ic.appliance import client_for_site
from ic.services.runs import run_schedule
from ic.sessions.parser import iter_sessions
from ic.simulator import recordings as sim_recordings
from ic.simulator.reports import recording_key
from ic.transfer.engine import TransferEngine, default_destination_factory
from ic.transfer.state import DEFAULT_OVERLAP, TransferState
from tests.helpers import add_schedule, add_site, add_sql, cli
from ic.settings.models import DestinationConfig

SOAK = os.environ.get("IC_SOAK") == "1"
SEEDS = [int(x) for x in os.environ.get("IC_SOAK_SEEDS", "").split(",") if x.strip()] or (
    list(range(1, 13)) if SOAK else [1, 2, 3, 4])
RUNS = 16 if SOAK else 8
SESSIONS = 80 if SOAK else 30
MAX_BACK = DEFAULT_OVERLAP - 30  # the appliance clock never goes back further than this below its maximum
FILE_TYPES = ["session", "recordings", "smsr", "shell"]
REC_NAME = re.compile(r"-(?P<lsid>[0-9a-f]{32})(?:-(?P<kind>shell|smsr)-(?P<inst>\d+))?\.flv")
KINDS = ("recordings", "smsr", "shell")


class SoakCrash(Exception):
    """A simulated crash (an unexpected exception inside the run): the run ends as "internal error"."""


class SoakAbort(BaseException):
    """A simulated abrupt end raised from the progress listener (which swallows an Exception by design: a broken
    progress display must not break a transfer): unwinds through the engine and run_schedule like SystemExit."""


@dataclass
class Plan:
    kind: str = "normal"  # normal | cancel | abort_listener | crash_dest_before | crash_dest_after
    at: int = 0  # listener event / destination call number the cancel or crash happens at
    fired: bool = False


@dataclass
class Deleted:
    sql: bool  # stored in SQL when it was deleted: must stay
    folder: bool
    served: bool  # the simulator had served its details before: may be stored


class CrashingDestination:
    """Wraps a real destination; raises SoakCrash at the planned call, before or after the real store."""

    def __init__(self, real, soak: "Soak") -> None:
        self.real, self.soak = real, soak

    def __getattr__(self, name):
        return getattr(self.real, name)

    def _call(self, fn, *args):
        plan = self.soak.plan
        self.soak.dest_calls += 1
        hit = plan.kind.startswith("crash_dest") and not plan.fired and self.soak.dest_calls >= plan.at
        if hit and plan.kind == "crash_dest_before":
            plan.fired = True
            raise SoakCrash("crash before the destination stored")
        out = fn(*args)
        if hit:
            plan.fired = True
            raise SoakCrash("crash after the destination stored")
        return out

    def store_sessions(self, site_host, sessions):
        return self._call(self.real.store_sessions, site_host, list(sessions))

    def store_file(self, item):
        return self._call(self.real.store_file, item)


class Soak:
    def __init__(self, store, sim, base: Path, seed: int, lookback_days: int = 0) -> None:
        self.store, self.sim, self.seed = store, sim, seed
        self.rng = random.Random(seed)
        self.folder = base / "files"
        self.url = f"sqlite:///{base / 'out.db'}"
        add_site(store, sim)
        add_sql(store, self.url, "db")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.conflict = self.rng.choice(("AppendNumber", "AppendNumber", "Overwrite", "Skip"))
        store.save_destination(DestinationConfig("files", "folder", {"directory": str(self.folder),
                                                                     "conflict": self.conflict}))
        # PRA has no Show My Screen: ticking it for a PRA site is refused at save (issue 14 item 7)
        self.types = [t for t in FILE_TYPES if not (t == "smsr" and sim.product == "pra")]
        add_schedule(store, "Soak", ("sim", "files", self.types), ("sim", "db", ["session"]))
        store.set_setting("transfer_batch_size", str(self.rng.choice((3, 5, 8))))
        store.set_setting("transfer_download_workers", "3")
        store.set_setting("appliance_max_rps", "300")  # the subprocess run; in-process runs use fast_client
        self.lookback_days = lookback_days
        if lookback_days:
            store.set_setting("initial_lookback_days", str(lookback_days))
        self.site_id = store.get_site("sim").id
        self.dest_ids = {n: store.get_destination(n).id for n in ("files", "db")}
        self.served: set[str] = set()
        original = sim.store.session_xml

        def serving(s):  # every session whose details the simulator sent
            self.served.add(s.lsid)
            return original(s)

        sim.store.session_xml = serving
        self.deleted: dict[str, Deleted] = {}
        self.max_offset = sim.clock_offset
        self.plan = Plan()
        self.dest_calls = 0
        self.events = 0
        self.cancel = None
        self.kills = 0
        self.quiet = False  # True: the final runs (no actions during them)
        self.log: list[str] = []  # what happened, for the failure message
        self.db = create_engine(self.url)

    # --- observing the destinations -----------------------------------------------------------------------------
    def sql_rows(self) -> dict[str, object]:
        try:
            with self.db.connect() as conn:
                found = conn.execute(text("SELECT lsid, end_time FROM session")).all()
        except Exception:  # noqa: BLE001 - no table before the first store
            return {}
        return {lsid: datetime.fromisoformat(end) if isinstance(end, str) else end for lsid, end in found}

    def folder_xml(self) -> dict[str, list[tuple[str, object]]]:
        """lsid -> [(file name, parsed end_time)] of every session XML in the folder."""
        out: dict[str, list] = {}
        for p in sorted(self.folder.glob("*.xml")):
            for s in iter_sessions(p):
                out.setdefault(s.lsid, []).append((p.name, s.end_time))
        return out

    # --- random actions -----------------------------------------------------------------------------------------
    def mutate(self, where: str) -> None:
        r, sim = self.rng, self.sim
        op = r.choices(("add", "end", "delete", "clock", "fault", "strict"), weights=(4, 3, 2, 3, 5, 1))[0]
        if op == "add":
            n = r.randint(1, 4)
            added = sim.add_sessions(n)
            self.log.append(f"{where}: add {[s.lsid[:6] for s in added]}")
        elif op == "end":
            running = [s.lsid for s in sim.sessions if s.end_time is None]
            if running:
                lsid = r.choice(running)
                sim.end_session(lsid)
                self.log.append(f"{where}: end {lsid[:6]}")
        elif op == "delete":
            everyone = [s.lsid for s in sim.sessions]
            if len(everyone) > 5:
                lsid = r.choice(everyone)
                rec = Deleted(lsid in self.sql_rows(), any(lsid in p.name for p in self.folder.glob("*.xml")),
                              lsid in self.served)
                sim.delete_session(lsid)
                self.deleted[lsid] = rec
                self.log.append(f"{where}: delete {lsid[:6]} {rec}")
        elif op == "clock":
            delta = r.choice((-MAX_BACK, -60, -30, -5, 30, 120, 300, 600))
            new = max(sim.clock_offset + delta, self.max_offset - MAX_BACK)
            sim.clock_offset = new
            self.max_offset = max(self.max_offset, new)
            self.log.append(f"{where}: clock offset {new}")
        elif op == "strict":
            sim.faults.strict_lsids = not sim.faults.strict_lsids
            self.log.append(f"{where}: strict_lsids {sim.faults.strict_lsids}")
        else:
            f = sim.faults
            name = r.choice(("rate_limit", "error_5xx_burst", "drop_mid_body", "evict_tokens", "truncated_xml",
                             "error_documents", "expired_recordings", "slow_seconds", "off"))
            if name == "off":
                strict = f.strict_lsids
                f.reset()
                f.strict_lsids = strict
            elif name == "rate_limit":
                f.rate_limit = r.choice((0, 4, 9))
            elif name in ("error_5xx_burst", "drop_mid_body", "truncated_xml"):
                setattr(f, name, r.randint(1, 3))
            elif name == "slow_seconds":
                f.slow_seconds = r.choice((0.0, 0.005, 0.02))
            else:
                setattr(f, name, not getattr(f, name))
            f.retry_after = 0
            self.log.append(f"{where}: fault {name}")

    def listener(self, ev) -> None:
        self.events += 1
        plan = self.plan
        if not plan.fired and self.events >= plan.at:
            if plan.kind == "cancel":
                plan.fired = True
                self.cancel.set()
            elif plan.kind == "abort_listener":
                plan.fired = True
                raise SoakAbort("abort from the listener")
        if not self.quiet and self.rng.random() < 0.12:
            self.mutate(f"during (event {self.events}, {ev.phase})")

    # --- runs ---------------------------------------------------------------------------------------------------
    def engine_factory(self, store_, **kw):
        def client(s, site):
            return client_for_site(s, site, max_rps=300, base_delay=0.01, max_delay=0.05)

        def destination(cfg):
            return CrashingDestination(default_destination_factory(cfg), self)

        return TransferEngine(store_, client_factory=client, destination_factory=destination, **kw)

    def run(self, kind: str):
        self.plan = Plan(kind, self.rng.randint(1, 40) if kind in ("cancel", "abort_listener") else
                         self.rng.randint(1, 12))
        self.events = self.dest_calls = 0
        self.cancel = threading.Event()
        try:
            out = run_schedule(self.store, "Soak", self.listener, self.cancel, engine_factory=self.engine_factory)
        except SoakAbort:
            assert kind == "abort_listener"
            self.log.append(f"run {kind}@{self.plan.at}: aborted")
            return None
        self.log.append(f"run {kind}@{self.plan.at} fired={self.plan.fired}: {out.status} {out.errors}")
        if self.plan.fired and kind.startswith("crash"):
            assert out.status == "internal error", out.message()
        elif self.plan.fired and kind == "cancel":
            assert out.status in ("cancelled", "ok"), out.message()  # set after the last check: finishes
        else:
            assert out.status in ("ok", "failed"), out.message()
        if out.ok:
            self.check_state_pruned()
        return out

    def kill_run(self) -> bool:
        """A real `python main.py run` SIGKILLed once it stored a few more files (or it finished first)."""
        f = self.sim.faults
        f.rate_limit, f.error_5xx_burst = 0, 0  # the default client backs off for seconds: keep it quick
        f.expired_recordings, f.slow_seconds = False, 0.01  # files to write, and time to write them: a kill lands
        self.sim.add_sessions(self.rng.randint(8, 16))
        before = len(list(self.folder.iterdir())) if self.folder.exists() else 0
        target = before + self.rng.randint(1, 10)
        proc = cli("run", "Soak", "--quiet", wait=False)
        mutated = False
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if len(list(self.folder.iterdir())) >= target:
                break
            if not mutated and len(list(self.folder.iterdir())) > before:
                mutated = True
                self.mutate("during subprocess")
            time.sleep(0.005)
        killed = proc.poll() is None
        if killed:
            proc.kill()
            self.kills += 1
        out, err = proc.communicate(timeout=60)
        self.log.append(f"subprocess run {'SIGKILLed' if killed else f'exited {proc.returncode}'}")
        if not killed:
            assert proc.returncode in (0, 1), err
            return False
        # what a kill leaves (temp files younger than a day are kept: another run may be writing them) is
        # cleaned once it is old: make it old, the final checks require it gone
        old = time.time() - 3 * 86400
        for p in [*self.folder.glob(".~ic-*.part"), *(paths.data_dir() / "tmp").glob("*")]:
            os.utime(p, (old, old))
        return True

    # --- invariants ---------------------------------------------------------------------------------------------
    def states(self) -> dict[str, TransferState]:
        out = {}
        for t in self.types:
            out[f"files/{t}"] = self.store.load_state(self.site_id, self.dest_ids["files"], t)
        out["db/session"] = self.store.load_state(self.site_id, self.dest_ids["db"], "session")
        return {k: TransferState.from_json(v) for k, v in out.items()}

    def check_state_pruned(self) -> None:
        known = {s.lsid for s in self.sim.sessions} | set(self.deleted)
        for name, st in self.states().items():
            assert st.cursor is not None, name
            stale = {k: v for k, v in st.done.items() if v is None or v < st.cursor - DEFAULT_OVERLAP}
            assert not stale, f"{name}: done map not pruned: {stale}"
            assert set(st.in_progress) <= known, name
            shape = {k: v for k, v in st.to_json().items() if k != "recent"}  # recent: capped (RECENT_MAX)
            assert len(json.dumps(shape)) < 200 * (len(st.done) + len(st.in_progress) + len(st.partial) + 2)

    def check(self) -> None:
        sim = self.sim
        now = {s.lsid: s for s in sim.sessions}
        oldest = sim.now() - self.lookback_days * 86400 if self.lookback_days else 0  # older: may be left out
        must = {k for k, s in now.items() if s.end_time is None or s.end_time >= oldest}
        keep_sql = {k for k, d in self.deleted.items() if d.sql}
        keep_folder = {k for k, d in self.deleted.items() if d.folder}
        may = {k for k, d in self.deleted.items() if d.served}

        sql = self.sql_rows()
        assert must | keep_sql <= set(sql), f"lost in SQL: {sorted(must | keep_sql - set(sql))}"
        extra = set(sql) - set(now) - keep_sql - may
        assert not extra, f"SQL has sessions the appliance never served: {sorted(extra)}"
        for lsid, s in now.items():
            if lsid not in sql:
                continue
            assert (sql[lsid] is None) == (s.end_time is None), f"SQL end_time of {lsid}: {sql[lsid]} vs {s.end_time}"
            if s.end_time is not None:
                assert sql[lsid] == datetime.fromtimestamp(s.end_time, timezone.utc).replace(tzinfo=None)

        xml = self.folder_xml()
        dupes = {k: v for k, v in xml.items() if len(v) > 1}
        assert not dupes, f"sessions with more than one XML file: {dupes}"
        assert must | keep_folder <= set(xml), f"lost in the folder: {sorted(must | keep_folder - set(xml))}"
        assert not set(xml) - set(now) - keep_folder - may, "the folder has sessions the appliance never served"
        for lsid, s in now.items():
            if lsid not in xml:
                continue
            assert xml[lsid][0][1] == s.end_time, f"XML of {lsid} shows end_time {xml[lsid][0][1]}, not {s.end_time}"

        names = [p.name for p in self.folder.iterdir()]
        assert not [n for n in names if n.endswith(".part")], "temporary .part files left"
        assert not [n for n in names if re.search(r"\.\d+\.(xml|flv)$", n)], f"numbered duplicates: {names}"
        leftovers = list((paths.data_dir() / "tmp").glob("*"))
        assert not leftovers, f"engine temp folders left: {leftovers}"

        files: dict[tuple[str, str, int], bytes] = {}
        for p in self.folder.glob("*.flv"):
            m = REC_NAME.search(p.name)
            assert m, p.name
            key = (m["kind"] or "recordings", m["lsid"], int(m["inst"] or 0))
            assert key not in files, f"two files for {key}"
            files[key] = p.read_bytes()
        stored_sessions = set(xml)
        for (kind, lsid, inst), body in files.items():
            assert lsid in stored_sessions, f"recording of a session that is not stored: {lsid}"
            expect = sim_recordings.content(f"{sim.seed}:{sim.product}:{kind}:{lsid}:{inst}", sim.recording_size)
            assert body == expect, f"bytes of {kind} {lsid} #{inst}"
        for lsid, s in now.items():
            if lsid not in xml:
                continue
            for kind in KINDS:
                for inst in range(s.recording_instances(kind)):
                    expired = recording_key(sim.store, kind, s, inst) in sim.store.expired
                    if not expired:
                        assert (kind, lsid, inst) in files, f"missing {kind} {lsid} #{inst}"
        for (kind, lsid, inst) in files:
            if lsid in now:
                assert inst < now[lsid].recording_instances(kind), f"recording that does not exist: {kind} {lsid}"


def _soak(store, make_simulator, tmp_path, seed: int) -> Soak:
    rng = random.Random(seed * 7919)
    offset = rng.choice((0, -900, 900, -3600, 3600))  # host clock ahead of / behind the appliance
    product = "pra" if seed % 4 == 2 else "rs"  # Privileged Remote Access: no Show My Screen, other reports
    sim = make_simulator(sessions=SESSIONS, seed=seed, in_progress=rng.randint(3, 8), recording_size=1500,
                         clock_offset=offset, rate_per_second=500, product=product)
    soak = Soak(store, sim, tmp_path, seed, lookback_days=rng.choice((0, 0, 30)))
    kill_at = rng.randrange(1, RUNS)
    try:
        for i in range(RUNS):
            for _ in range(soak.rng.randint(0, 4)):
                soak.mutate(f"before run {i}")
            if i == kill_at:
                for _ in range(3):  # until one run really was killed mid-way (it may finish first)
                    if soak.kill_run():
                        break
                continue
            kind = soak.rng.choice(("normal", "normal", "cancel", "abort_listener", "crash_dest_before",
                                    "crash_dest_after"))
            soak.run(kind)
        sim.faults.reset()
        soak.quiet = True
        sim.add_sessions(1)  # something to write: the folder removes old .part files at its first write of a run
        final = soak.run("normal")
        assert final.ok, final.message()
        soak.check()
        assert not any(st.partial for st in soak.states().values()), "shell/smsr instances left pending"
        again = soak.run("normal")
        assert again.ok and all(r.sessions_stored == 0 and r.files_stored == 0 for r in again.results), again.message()
        soak.check()
    except AssertionError as exc:
        raise AssertionError(f"seed {seed}: {exc}\n" + "\n".join(soak.log[-60:])) from None
    finally:
        soak.db.dispose()
    return soak


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_soak_never_loses_or_duplicates(store, make_simulator, tmp_path, seed):
    soak = _soak(store, make_simulator, tmp_path, seed)
    seen = {what: sum(what in line for line in soak.log) for what in
            ("SIGKILLed", "aborted", "internal error", "cancelled", "failed", "delete", "end ", "add ", "clock",
             "fault", "strict_lsids True")}
    print(f"soak seed {seed} ({soak.sim.product}, {soak.conflict}, look-back {soak.lookback_days} d): {seen}, {soak.sim.stats['faults']}")
    for line in soak.log:
        if ": failed" in line:
            print("  ", line[:300])
    assert seen["add "] and seen["fault"] and seen["clock"] and seen["SIGKILLed"]
