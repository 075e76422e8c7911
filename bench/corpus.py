"""The bench's session documents, made once per (sessions, seed, simulator code) and kept on disk between runs.

At 100,000 sessions the simulator would spend about two minutes making the session XML on every run and hold ~1 GB
of it in memory; here it is made once, streamed to disk, and served from disk afterwards.

``<cache>/<key>/`` holds
  docs/batch-NNNNNN.xml  50 sessions each, the exact bytes the appliance answers to the engine's 50-lsid detail call;
  sessions.xml + index.json  every ``<session>`` element as the simulator serves it, back to back, and where each is;
  done.json  written last (a folder without it was cut short and is made again).
Before use the cache is checked against the simulator of this run (the order of its sessions, three sessions' XML
and the first document, byte for byte); documents a changed simulator would make otherwise are made again.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = 5
ANCHOR = 1_760_000_000  # fixed appliance "now" of the data: the XML must not depend on the day it was made
BATCH = 50  # the engine's lsids per detail request


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ic-bench"


def key(sessions: int) -> str:
    return f"rs-{sessions}-seed{SEED}-anchor{ANCHOR}"


class DiskXml:
    """Stands in for the simulator store's in-memory XML cache (lsid -> bytes), backed by sessions.xml.
    Writable while the cache is made (what the simulator makes is appended), read-only afterwards."""

    def __init__(self, path: Path, index: dict[str, list[int]] | None = None, writable: bool = False) -> None:
        self.path, self.index, self.writable = path, dict(index or {}), writable
        self._lock = threading.Lock()
        self._fd = os.open(path, (os.O_RDWR | os.O_CREAT | os.O_APPEND) if writable else os.O_RDONLY, 0o644)
        self._end = os.fstat(self._fd).st_size

    def get(self, lsid: str, default=None):
        where = self.index.get(lsid)
        if where is None:
            return default
        return os.pread(self._fd, where[1], where[0])

    def __setitem__(self, lsid: str, xml: bytes) -> None:
        if not self.writable:
            raise RuntimeError("the cached session XML is read-only")
        with self._lock:
            if lsid in self.index:
                return
            os.write(self._fd, xml)
            self.index[lsid] = [self._end, len(xml)]
            self._end += len(xml)

    def pop(self, lsid: str, default=None):  # an ended / deleted session: the bench never changes sessions
        return self.get(lsid, default)

    def __contains__(self, lsid: object) -> bool:
        return lsid in self.index

    def __len__(self) -> int:
        return len(self.index)

    def close(self) -> None:
        os.close(self._fd)


@dataclass
class Corpus:
    folder: Path
    sessions: int
    documents: int
    bytes: int
    index: dict[str, list[int]]

    @property
    def xml_dir(self) -> Path:
        return self.folder / "docs"

    def xml_map(self) -> DiskXml:
        return DiskXml(self.folder / "sessions.xml", self.index)

    @classmethod
    def load(cls, folder: Path) -> Corpus:
        done = json.loads((folder / "done.json").read_text())
        index = json.loads((folder / "index.json").read_text())
        return cls(folder, done["sessions"], done["documents"], done["bytes"], index)


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # two benches making the same documents: one makes, one waits
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def make_simulator(sessions: int, rate_per_second: float, rate_per_hour: int):
    from ic.simulator import Simulator

    return Simulator(sessions=sessions, seed=SEED, in_progress=0, anchor=ANCHOR, rate_per_second=rate_per_second,
                     rate_per_hour=rate_per_hour)


def attach(sim, corpus: Corpus) -> bool:
    """Serve the cached XML instead of making it, once it is known to be what this simulator makes (the same
    sessions in the same order, and three of them the same to the byte); False otherwise."""
    store = sim.store
    if not isinstance(getattr(store, "_xml", None), dict):
        return False
    lsids = [s.lsid for s in store.sessions]
    if lsids != list(corpus.index):  # the documents were fetched in listing order: the index has that order
        return False
    cached = corpus.xml_map()
    for lsid in {lsids[0], lsids[len(lsids) // 2], lsids[-1]}:
        if sim.session_xml(lsid) != cached.get(lsid):
            cached.close()
            return False
    store._xml = cached
    return True


def same_first_document(sim, corpus: Corpus) -> bool:
    """The running simulator answers the first document's request with the cached bytes (the wrapper too)."""
    import requests

    lsids = list(corpus.index)[:BATCH]
    with requests.Session() as http:
        http.trust_env = False
        http.verify = sim.ca_file
        tok = http.post(f"{sim.base_url}/oauth2/token", auth=(sim.client_id, sim.client_secret),
                        data={"grant_type": "client_credentials"}, timeout=60).json()["access_token"]
        r = http.post(f"{sim.base_url}/api/reporting", headers={"Authorization": f"Bearer {tok}"},
                      data={"generate_report": "SupportSession", "lsids": ",".join(lsids)}, timeout=60)
    first = sorted(corpus.xml_dir.glob("*.xml"))[0]
    return r.status_code == 200 and r.content == first.read_bytes()


def cached(sessions: int, cache_root: Path) -> bool:
    name = key(sessions)
    return (cache_root / name / "done.json").exists() or any(cache_root.glob(f"{name}-sim*/done.json"))


def ensure(sessions: int, cache_root: Path, say=print, remake: bool = False) -> Corpus:
    """The cached documents of ``sessions`` sessions, made now (streamed to disk) when missing or ``remake``."""
    name = key(sessions)
    folder = cache_root / name
    if not remake and (folder / "done.json").exists():
        return Corpus.load(folder)
    with _locked(cache_root / f".{name}.lock"):
        older = sorted(cache_root.glob(f"{name}-sim*/done.json"))  # named by an earlier version of this module
        if not remake and not (folder / "done.json").exists() and older:
            os.replace(older[-1].parent, folder)
        if not remake and (folder / "done.json").exists():
            return Corpus.load(folder)
        for stale in [folder, *cache_root.glob(f"{name}-sim*")]:
            shutil.rmtree(stale, ignore_errors=True)
        tmp = cache_root / f".{name}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "docs").mkdir(parents=True)
        say(f"making the documents of {sessions} sessions once (kept in {folder}) ...")
        start = time.monotonic()
        done = _make(sessions, tmp, say)
        (tmp / "done.json").write_text(json.dumps(done))
        os.replace(tmp, folder)
        say(f"  made in {time.monotonic() - start:.0f} s: {done['bytes'] / 1048576:.0f} MiB in {done['documents']} "
            "documents")
    return Corpus.load(folder)


def _make(sessions: int, tmp: Path, say) -> dict:
    from ic.appliance import ApplianceClient

    sim = make_simulator(sessions, rate_per_second=10**6, rate_per_hour=10**12)
    xml = DiskXml(tmp / "sessions.xml", writable=True)
    sim.store._xml = xml  # what the simulator makes goes to disk, not into its memory
    sim.start()
    try:
        with ApplianceClient(sim.host, sim.client_id, sim.client_secret, sim.ca_file, "rs", max_rps=10_000) as client:
            lsids = [s.lsid for s in client.list_sessions(end_time=0)]
            step = max(1, len(lsids) // BATCH // 10)
            for i in range(0, len(lsids), BATCH):
                client.fetch_sessions_to_file(tmp / "docs" / f"batch-{i // BATCH:06d}.xml", lsids=lsids[i:i + BATCH])
                if (i // BATCH) % step == step - 1:
                    say(f"  {min(i + BATCH, len(lsids))} of {len(lsids)} sessions", flush=True)
    finally:
        sim.stop()
        xml.close()
    (tmp / "index.json").write_text(json.dumps(xml.index))
    docs = sorted((tmp / "docs").glob("*.xml"))
    return {"sessions": len(lsids), "documents": len(docs), "bytes": sum(p.stat().st_size for p in docs)}
