"""Seeded soak of a misbehaving appliance (issue 10): poisoned sessions (a time out of range, nesting too deep, a
control character mid-document, a count too big for PostgreSQL, a session claiming to end in 2100), appliance clock
steps back (beyond the overlap: 10 minutes, a day) and forward, sessions added / ended / deleted, fault switches, all
mixed over several runs into a folder (session + recordings), SQLite and PostgreSQL.

After every run: no schedule stuck (the run is ok, or failed by an injected fault and fine on the next one).
At the end: every ordinary session is stored exactly once in each destination; a session is missing from a
destination only if it is quarantined there and was poisoned; nothing innocent is quarantined; every quarantine was
reported (ERROR logged once, warnings in the results). Once the appliance sends the poisoned sessions readable again,
one run brings every one of them, empties the quarantine, and a further run stores nothing.

Real parts throughout: HTTPS simulator, real files, real SQLite and PostgreSQL. ``IC_SOAK=1``: more seeds and runs.
"""
from __future__ import annotations

import os
import random
import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ic.appliance import client_for_site
from ic.services.runs import run_schedule
from ic.transfer import quarantine
from ic.transfer.engine import TransferEngine
from tests.helpers import add_folder, add_schedule, add_site, add_sql

SOAK = os.environ.get("IC_SOAK") == "1"
SEEDS = list(range(1, 9)) if SOAK else [1, 2]
RUNS = 10 if SOAK else 5
YEAR_2100 = 4102444800

POISONS = {
    "time": lambda b: re.sub(rb'<start_time timestamp="\d+"', b'<start_time timestamp="999999999999999"', b, 1),
    "deep": lambda b: b.replace(b"<session_type>", b"<x>" * 5000 + b"</x>" * 5000 + b"<session_type>", 1),
    "char": lambda b: b.replace(b"<session_type>", b"<session_type>\x01", 1),
    "int": lambda b: re.sub(rb"<file_transfer_count>\d+<", b"<file_transfer_count>99999999999<", b, 1),
}


class PoisonSoak:
    def __init__(self, store, sim, base: Path, pg_url: str, seed: int) -> None:
        self.store, self.sim, self.rng = store, sim, random.Random(seed)
        self.folder = base / "files"
        self.lite = f"sqlite:///{base / 'out.db'}"
        self.pg = pg_url
        add_site(store, sim)
        add_sql(store, self.lite, "lite")
        add_sql(store, self.pg, "pg")
        add_folder(store, self.folder)
        add_schedule(store, "P", ("sim", "files", ["session", "recordings"]), ("sim", "lite", ["session"]),
                     ("sim", "pg", ["session"]))
        store.set_setting("transfer_batch_size", str(self.rng.choice((4, 7, 50))))
        self.poisoned: dict[str, str] = {}  # lsid -> poison name
        self.healed = False
        original = sim.store.session_xml

        def serving(s):
            body = original(s)
            kind = self.poisoned.get(s.lsid)
            return POISONS[kind](body) if kind and not self.healed else body

        sim.store.session_xml = serving
        self.log: list[str] = []
        self.reported: set[tuple[str, str]] = set()  # (lsid, transfer) named in a result warning

    def engine(self, store_, **kw):
        def client(s, site):
            return client_for_site(s, site, max_rps=300, base_delay=0.01, max_delay=0.05)

        return TransferEngine(store_, client_factory=client, **kw)

    def mutate(self) -> None:
        r, sim = self.rng, self.sim
        op = r.choices(("add", "end", "delete", "poison", "liar", "back", "forward", "fault"),
                       weights=(4, 2, 1, 3, 1, 2, 1, 2))[0]
        if op == "add":
            added = sim.add_sessions(r.randint(1, 4))
            self.log.append(f"add {len(added)}")
        elif op == "end":
            running = [s.lsid for s in sim.sessions if s.end_time is None]
            if running:
                sim.end_session(r.choice(running))
                self.log.append("end")
        elif op == "delete" and len(sim.sessions) > 10:
            lsid = r.choice([s.lsid for s in sim.sessions])
            sim.delete_session(lsid)
            self.poisoned.pop(lsid, None)
            self.log.append(f"delete {lsid[:6]}")
        elif op == "poison":
            fresh = sim.add_sessions(1)[0]  # a new session the appliance cannot describe properly
            self.poisoned[fresh.lsid] = r.choice(sorted(POISONS))
            sim.store._xml.pop(fresh.lsid, None)
            self.log.append(f"poison {fresh.lsid[:6]} {self.poisoned[fresh.lsid]}")
        elif op == "liar":
            running = [s.lsid for s in sim.sessions if s.end_time is None]
            if running:
                sim.store.end_session(running[0], when=YEAR_2100)
                self.log.append(f"liar {running[0][:6]}")
        elif op == "back":
            step = r.choice((600, 3600, 86400))
            sim.clock_offset -= step
            self.log.append(f"clock back {step}")
        elif op == "forward":
            sim.clock_offset += r.choice((300, 3600, 86400))
            self.log.append("clock forward")
        else:
            f = sim.faults
            f.reset()
            name = r.choice(("rate_limit", "error_5xx_burst", "drop_mid_body", "truncated_xml", "strict_lsids", "off"))
            if name == "rate_limit":
                f.rate_limit = 5
            elif name in ("error_5xx_burst", "drop_mid_body", "truncated_xml"):
                setattr(f, name, r.randint(1, 2))
            elif name == "strict_lsids":
                f.strict_lsids = True
            f.retry_after = 0
            self.log.append(f"fault {name}")

    def run(self):
        out = run_schedule(self.store, "P", engine_factory=self.engine)
        self.log.append(f"run: {out.status} {out.errors[:1]}")
        assert out.status in ("ok", "failed"), out.message()
        for result in out.results:
            for w in result.warnings:
                for lsid in set(self.poisoned) | self.liars():
                    if lsid in w:
                        self.reported.add((lsid, result.transfer.split(" -> ")[1]))
        return out

    # --- what landed -------------------------------------------------------------------------------------------
    def sql(self, url) -> list[str]:
        eng = create_engine(url)
        try:
            with eng.connect() as conn:
                return [r[0] for r in conn.execute(text("SELECT lsid FROM session"))]
        finally:
            eng.dispose()

    def files(self) -> list[str]:
        names = [p.name for p in self.folder.glob("*.xml")]
        assert not [n for n in names if re.search(r"\.\d+\.xml$", n)], f"numbered duplicates: {names}"
        return [lsid for lsid in self.all_lsids() if any(lsid in n for n in names)] + \
            [n for n in names if not any(lsid in n for lsid in self.all_lsids())]

    def all_lsids(self) -> set[str]:
        return {s.lsid for s in self.sim.sessions}

    def check(self, healed: bool) -> None:
        everyone = self.all_lsids()
        held = {}
        for e in quarantine.list_quarantined(self.sim.host):
            held.setdefault(e.destination, set()).add(e.lsid)
        for name, stored in (("lite", self.sql(self.lite)), ("pg", self.sql(self.pg)), ("files", self.files())):
            assert len(stored) == len(set(stored)), f"{name}: a session stored twice"
            q = held.get(name, set()) & everyone
            missing = everyone - set(stored)
            assert missing <= q, f"{name}: lost {sorted(missing - q)}"
            innocent = q - set(self.poisoned) - self.liars()
            assert not innocent, f"{name}: innocent sessions quarantined {sorted(innocent)}"
            both = (q & set(stored)) - self.liars()  # a liar's row may be its in-progress version (refused once ended)
            assert not both, f"{name}: stored but still quarantined {sorted(both)}"
            for lsid in q:
                assert (lsid, name) in self.reported, f"{name}: quarantine of {lsid} not reported"
            if healed:  # a session claiming 74 years may stay refused by SQL (seconds_involved out of range)
                assert not missing - self.liars(), f"{name}: healed sessions not stored {sorted(missing)}"

    def liars(self) -> set[str]:
        return {s.lsid for s in self.sim.sessions if s.end_time == YEAR_2100}


@pytest.mark.parametrize("seed", SEEDS)
def test_poisoned_sessions_and_clock_steps_never_wedge_or_lose(store, make_simulator, tmp_path, pg_url, seed):
    sim = make_simulator(sessions=25, seed=seed, in_progress=4, recording_size=1500, rate_per_second=500)
    soak = PoisonSoak(store, sim, tmp_path, pg_url, seed)
    try:
        for lsid in soak.rng.sample([s.lsid for s in sim.sessions if s.end_time], 2):  # poisoned from the start
            soak.poisoned[lsid] = soak.rng.choice(sorted(POISONS))
        for _ in range(RUNS):
            for _ in range(soak.rng.randint(1, 3)):
                soak.mutate()
            soak.run()
        sim.faults.reset()
        sim.add_sessions(2)
        final = soak.run()
        assert final.ok, final.message()
        soak.check(healed=False)
        soak.healed = True
        sim.store._xml.clear()
        assert soak.run().ok
        soak.check(healed=True)
        assert not [e for e in quarantine.list_quarantined()
                    if not e.gone and e.lsid in soak.all_lsids() - soak.liars()]
        again = soak.run()
        assert again.ok and all(r.sessions_stored == 0 for r in again.results), again.message()
    except AssertionError as exc:
        raise AssertionError(f"seed {seed}: {exc}\n" + "\n".join(soak.log[-40:])) from None
