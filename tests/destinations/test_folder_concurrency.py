"""Several real processes write one folder at once (two schedules, Run Now, export and a tick): no duplicate.

Each round every process stores every session; half of the processes see the appliance one round late, so a
running version of a session can arrive after another process already wrote its ended version. In the end every
session has ended: exactly one file each, holding the ended version, and no in-progress index entry left.
"""
from __future__ import annotations

import multiprocessing
import os
import random
from pathlib import Path

import pytest

from ic.destinations.folder import INDEX_NAME, FolderDestination
from ic.destinations.folder_lock import LOCK_NAME, STAGING_NAME
from ic.sessions.model import Session

HOST = "access.example.com"
LSIDS = [f"s{i:02d}" for i in range(12)]
ROUNDS = 6
PROCESSES = 4


def _end_round(i: int) -> int:
    return i % (ROUNDS - 1)  # every session has ended by the last round, even for a process one round late


def _version(lsid: str, view: int) -> Session:
    i = LSIDS.index(lsid)
    if view >= _end_round(i):
        raw = f"<session_list><session lsid='{lsid}'><end_time timestamp='1700000000'/>ended</session></session_list>"
        return Session(lsid=lsid, start_time=1_699_999_000, end_time=1_700_000_000, raw_xml=raw.encode())
    raw = f"<session_list><session lsid='{lsid}'><end_time/>running {view}</session></session_list>"
    return Session(lsid=lsid, start_time=1_699_999_000, end_time=None, raw_xml=raw.encode())


def _worker(directory: str, conflict: str, worker: int, barrier, errors) -> None:
    rng = random.Random(worker)
    try:
        for r in range(ROUNDS):
            barrier.wait(timeout=60)
            dest = FolderDestination("Shared", {"directory": directory, "conflict": conflict})
            view = r - (worker % 2)  # odd workers see the appliance one round late
            batch = [_version(lsid, view) for lsid in LSIDS]
            rng.shuffle(batch)
            while batch:  # batches of varying size: the lock is taken and released many times
                n = rng.randint(1, 5)
                dest.store_sessions(HOST, batch[:n])
                batch = batch[n:]
            dest.close()
        barrier.wait(timeout=60)
        dest = FolderDestination("Shared", {"directory": directory, "conflict": conflict})
        dest.store_sessions(HOST, [_version(lsid, ROUNDS) for lsid in LSIDS])  # the last run of each schedule
        dest.close()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        errors.put(f"worker {worker}: {exc!r}")
        barrier.abort()


@pytest.mark.parametrize("conflict", ["AppendNumber", "Overwrite", "Skip"])
def test_processes_sharing_a_folder_write_each_session_once(tmp_path, conflict):
    d = tmp_path / "shared"
    d.mkdir()
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    barrier = ctx.Barrier(PROCESSES)
    errors = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(d), conflict, w, barrier, errors)) for w in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert not found, found
    assert all(p.exitcode == 0 for p in procs)

    names = sorted(n for n in os.listdir(d) if n not in (LOCK_NAME, STAGING_NAME))
    assert names == [f"{HOST}-support-{lsid}.xml" for lsid in LSIDS], names  # no x.1.xml, no index left
    for lsid in LSIDS:
        assert (d / f"{HOST}-support-{lsid}.xml").read_bytes() == _version(lsid, ROUNDS).raw_xml
    assert not (d / INDEX_NAME).exists()
    left = [p for p in (d / STAGING_NAME).rglob("*")] if (d / STAGING_NAME).exists() else []
    assert not left, left  # every process closed its staging folder


def test_running_version_never_replaces_the_ended_one(tmp_path):
    """A process one round late brings a running version after the ended one was written: it is kept out."""
    d = tmp_path / "f"
    d.mkdir()
    for conflict in ("AppendNumber", "Overwrite", "Skip"):
        sub = d / conflict
        sub.mkdir()
        cfg = {"directory": str(sub), "conflict": conflict}
        FolderDestination("A", cfg).store_sessions(HOST, [_version("s03", 9)])
        late = FolderDestination("B", cfg)
        assert late.store_sessions(HOST, [_version("s03", 0)]) == 0
        assert late.stats["kept"] == 1
        assert sorted(n for n in os.listdir(sub) if not n.startswith(".ic-")) == [f"{HOST}-support-s03.xml"]
        assert (sub / f"{HOST}-support-s03.xml").read_bytes() == _version("s03", 9).raw_xml
        assert not (sub / INDEX_NAME).exists()


def test_folder_lock_nests_in_one_thread_and_excludes_other_threads(tmp_path):
    import threading

    from ic.destinations.folder_lock import FolderLock
    from ic.errors import DestinationUnavailable

    got = []

    def other() -> None:
        try:
            with FolderLock(tmp_path, timeout=0.2):
                got.append("other")
        except DestinationUnavailable as exc:
            got.append(str(exc))

    with FolderLock(tmp_path):
        with FolderLock(tmp_path):  # nested: no self-deadlock
            t = threading.Thread(target=other)
            t.start()
            t.join()
        assert len(got) == 1 and "stayed locked by another Integration Client process" in got[0]
        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert len(got) == 2 and got[1] != "other"  # still held after the nested exit
    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert got[2] == "other"


@pytest.mark.skipif(os.name == "nt", reason="fcntl stand-in: POSIX")
def test_folder_without_file_locks_still_works_with_a_warning(tmp_path, monkeypatch, caplog):
    """Some network shares refuse locks (ENOLCK): the run goes on, says so once, and sweeps nothing it cannot judge."""
    import errno
    import fcntl
    import logging

    from ic.destinations import folder_lock

    real = fcntl.flock

    def no_locks(fd, op):
        if op & fcntl.LOCK_UN:
            return real(fd, op)
        raise OSError(errno.ENOLCK, "No locks available")

    other = tmp_path / STAGING_NAME / "999999-dead"
    other.mkdir(parents=True)
    (other / ".alive").write_bytes(b"")
    monkeypatch.setattr(fcntl, "flock", no_locks)
    folder_lock._warned.clear()
    with caplog.at_level(logging.WARNING, logger="ic.destinations.folder_lock"):
        dest = FolderDestination("F", {"directory": str(tmp_path)})
        assert dest.store_sessions(HOST, [_version("s01", 9), _version("s02", 9)]) == 2
        dest.close()
    warnings = [r.getMessage() for r in caplog.records if "does not support file locks" in r.getMessage()]
    assert len(warnings) == 1
    assert other.is_dir()  # cannot tell whether its owner lives: left alone
