"""Idle cost per day of each way of checking the schedules every minute (nothing due), on this machine:

* `tick` of the one-file build (build/dist/IntegrationClient, if built): a process per minute that unpacks itself;
* `tick` from source (what a one-folder build costs, roughly: an interpreter start and the imports);
* the resident scheduler (`IntegrationClient scheduler`): one check inside the running process.

CPU seconds and bytes written per check are measured, then multiplied by 1440 checks a day. Bytes written are
the bytes handed to write() (``wchar``, so a temp folder on tmpfs counts too) and, where the kernel reports it,
the bytes that reached storage (``write_bytes``). The settings database is a real SQLite file with three schedules,
none due in the measured window.

    python bench/bench_scheduler_idle.py [--ticks 5] [--checks 600]
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
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from common import child_env  # noqa: E402  (any environment: no IC_SETTINGS, proxy or CA bundle of the caller's)

CHECKS_PER_DAY = 1440

LAUNCHER = """
import json, resource, sys
code = 0
try:
    from main import main
    code = main(["tick", "--quiet"])
except SystemExit as exc:
    code = exc.code
io = dict(line.split(": ") for line in open("/proc/self/io").read().splitlines())
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"cpu": ru.ru_utime + ru.ru_stime, "wchar": int(io["wchar"]), "write_bytes": int(io["write_bytes"]),
                  "code": code}))
"""


def _io(pid: int | str = "self") -> dict[str, int]:
    try:
        return {k: int(v) for k, v in (line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())}
    except (OSError, ValueError):
        return {}


def _settings(home: Path) -> str:
    os.environ["IC_HOME"] = str(home)
    from ic.settings.models import ScheduleConfig
    from ic.settings.store import SettingsStore

    url = f"sqlite:///{home / 'settings.db'}"
    store = SettingsStore(url)
    now = datetime.now(timezone.utc)
    for name, every, at in (("Nightly", 86400, "02:00"), ("Weekly", 7 * 86400, "03:00"), ("Daily", 86400, "04:00")):
        store.save_schedule(ScheduleConfig(name, every, at_time=at), now=now)  # waiting for their first slot
    store.close()
    return url


def tick_from_source(home: Path, ticks: int) -> tuple[float, float, float]:
    env = child_env(home)
    cpu = wchar = wbytes = 0.0
    for _ in range(ticks):
        out = subprocess.run([sys.executable, "-c", LAUNCHER], env=env, cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
        data = json.loads(out.stdout.strip().splitlines()[-1])
        cpu, wchar, wbytes = cpu + data["cpu"], wchar + data["wchar"], wbytes + data["write_bytes"]
    return cpu / ticks, wchar / ticks, wbytes / ticks


def tick_one_file(exe: Path, home: Path, ticks: int) -> tuple[float, float, float] | None:
    """CPU of the bootloader and its child (rusage of reaped children); bytes: the processes' io counters sampled
    until they exit (the unpacking happens in the bootloader before the program starts)."""
    if not exe.exists():
        return None
    env = child_env(home)
    cpu = wchar = wbytes = 0.0
    for _ in range(ticks):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.Popen([str(exe), "tick", "--quiet"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        last: dict[int, dict[str, int]] = {}
        while proc.poll() is None:
            pids = [proc.pid]
            try:
                pids += [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
            except OSError:
                pass
            for pid in pids:
                sample = _io(pid)
                if sample:
                    last[pid] = sample
            time.sleep(0.005)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu += (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        wchar += sum(s.get("wchar", 0) for s in last.values())
        wbytes += sum(s.get("write_bytes", 0) for s in last.values())
    return cpu / ticks, wchar / ticks, wbytes / ticks


def resident(home: Path, checks: int) -> tuple[float, float, float]:
    """One process, `checks` minutes of a fake clock (sleep advances it: the stop-flag polls are included)."""
    os.environ["IC_HOME"] = str(home)
    from ic.scheduling.resident import FakeClock, ResidentScheduler
    from ic.settings.store import SettingsStore

    store = SettingsStore(f"sqlite:///{home / 'settings.db'}")
    clock = FakeClock(datetime.now(timezone.utc))  # the schedules wait for 02:00-04:00: nothing runs
    warm = ResidentScheduler(store, clock=clock, sleep=clock.sleep, host_id="bench/1", lock_dir=home)
    warm.run(max_checks=20)  # imports, caches, first connections
    io0, t0 = _io(), time.process_time()
    ResidentScheduler(store, clock=clock, sleep=clock.sleep, host_id="bench/1", lock_dir=home).run(max_checks=checks)
    io1, t1 = _io(), time.process_time()
    store.close()
    return ((t1 - t0) / checks, (io1.get("wchar", 0) - io0.get("wchar", 0)) / checks,
            (io1.get("write_bytes", 0) - io0.get("write_bytes", 0)) / checks)


def _mb(n: float) -> str:
    return f"{n / 1048576:,.2f} MB" if n >= 1048576 else f"{n / 1024:,.1f} kB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks", type=int, default=5, help="tick processes measured per way (default 5)")
    parser.add_argument("--checks", type=int, default=600, help="resident checks measured (default 600)")
    parser.add_argument("--exe", default=str(ROOT / "build" / "dist" / "IntegrationClient"),
                        help="the one-file build (default build/dist/IntegrationClient)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ic-bench-idle-") as tmp:
        home = Path(tmp)
        env = child_env(home)  # this process measures the resident scheduler itself: the same clean environment
        os.environ.clear()
        os.environ.update(env)
        _settings(home)
        one_file = tick_one_file(Path(args.exe), home, args.ticks)
        if one_file:
            rows.append(("tick, one-file build", *one_file))
        rows.append(("tick, from source (~one-folder)", *tick_from_source(home, args.ticks)))
        rows.append(("resident scheduler, one check", *resident(home, args.checks)))
    print(f"Idle cost of checking the schedules every minute ({CHECKS_PER_DAY} checks a day), nothing due:")
    print(f"{'way':34} {'CPU/check':>11} {'written/check':>14} {'CPU/day':>11} {'written/day':>14} "
          f"{'to disk/day':>13}")
    for name, cpu, wchar, wbytes in rows:
        print(f"{name:34} {cpu * 1000:9.2f} ms {_mb(wchar):>14} {cpu * CHECKS_PER_DAY:9.1f} s "
              f"{_mb(wchar * CHECKS_PER_DAY):>14} {_mb(wbytes * CHECKS_PER_DAY):>13}")
    if not Path(args.exe).exists():
        print(f"(no one-file build at {args.exe}: build it with pyinstaller build.spec to measure that row)")


if __name__ == "__main__":
    main()
