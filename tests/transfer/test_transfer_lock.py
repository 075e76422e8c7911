"""Schedule lock: a second runner (thread or process) gets ScheduleBusy; a killed holder frees the lock."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from ic.errors import ScheduleBusy
from ic.transfer.lock import ScheduleLock, lock_path


def test_second_acquire_in_same_process_is_busy(tmp_path):
    with ScheduleLock("Nightly", tmp_path):
        with pytest.raises(ScheduleBusy, match="Nightly is already running"):
            ScheduleLock("Nightly", tmp_path).acquire()
        ScheduleLock("Other", tmp_path).acquire().release()
    ScheduleLock("Nightly", tmp_path).acquire().release()  # free again after release


def test_names_map_to_distinct_safe_files(tmp_path):
    a, b = lock_path("a/b", tmp_path), lock_path("a:b", tmp_path)
    assert a != b and a.parent == tmp_path and "/" not in a.name[:-5]


def _holder(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from ic.transfer.lock import ScheduleLock
        lock = ScheduleLock("Nightly", Path({str(tmp_path)!r})).acquire()
        print("locked", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_other_process_holding_lock_makes_us_busy_until_it_is_killed(tmp_path):
    proc = _holder(tmp_path)
    try:
        with pytest.raises(ScheduleBusy):
            ScheduleLock("Nightly", tmp_path).acquire()
    finally:
        proc.kill()  # SIGKILL on POSIX
        proc.wait()
    ScheduleLock("Nightly", tmp_path).acquire().release()  # the OS released it with the dead process
