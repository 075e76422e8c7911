"""Shared plumbing of the benches: fresh child processes, their own peak RSS, fresh PostgreSQL databases."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "bench_transfer.py"


def own_peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). A child started by fork+exec gets a fresh address space, so unlike
    ``ru_maxrss`` (which keeps the pre-exec high-water mark, i.e. the parent's memory) this is the child's alone."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource  # not Linux: the best figure available (may include the parent's memory on some systems)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def own_written_bytes() -> int | None:
    """Bytes this process caused to be written to storage (Linux /proc/self/io write_bytes), or None."""
    try:
        with open("/proc/self/io", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


# Variables that would point a bench process at the user's settings, route 127.0.0.1 through a proxy, swap the CA
# bundle, or change how Python and malloc behave (and so the figures); the bench runs without them.
_DROPPED_PREFIXES = ("IC_", "PYTHON", "MALLOC_")
_DROPPED = {"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GLIBC_TUNABLES", "http_proxy", "https_proxy", "all_proxy",
            "no_proxy", "ftp_proxy"}


def clean_environment(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items()
            if not k.startswith(_DROPPED_PREFIXES) and k not in _DROPPED and k.lower() not in _DROPPED}


def child_env(home: Path) -> dict[str, str]:
    """The environment of a bench child: the caller's, minus anything that points at real settings or changes the
    figures (see clean_environment), with a private IC_HOME."""
    env = clean_environment(dict(os.environ))
    env["IC_HOME"] = str(home)
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_child(kind: str, cfg: dict, home: Path, timeout: float = 7200) -> dict:
    """Run one measured step in a fresh interpreter; it reports its own seconds and peak RSS as JSON."""
    home.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, str(BENCH), "--child", kind], input=json.dumps(cfg), capture_output=True,
                          text=True, env=child_env(home), timeout=timeout, cwd=str(home))
    if proc.returncode != 0:
        raise SystemExit(f"bench step {kind} failed:\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall"] = time.monotonic() - start  # set-up included: for the time budget of later runs
    return result


_CPU = [0.0]  # CPU seconds (all threads of this process) inside the timed parts: one step per process


def child_result(seconds: float, **extra) -> dict:
    return {"seconds": seconds, "cpu": _CPU[0], "peak_mb": own_peak_rss_mb(), "written": own_written_bytes(),
            **extra}


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    with Stopwatch() as watch:
        value = fn()
    return watch.seconds, value


class Stopwatch:
    """Adds up the timed parts of a step whose set-up (parsing the next batch, making rows) runs in between:
    ``with watch: ...``; ``watch.seconds`` is the sum (wall clock). The CPU seconds spent inside go to the step's
    ``cpu`` figure: on a loaded machine wall time also counts waiting for a core, CPU time does not."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = self._cpu = 0.0

    def __enter__(self) -> Stopwatch:
        self._start, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.perf_counter() - self._start
        _CPU[0] += time.process_time() - self._cpu


def fresh_pg(base: str) -> tuple[str, Callable[[], None]]:
    """A new empty PostgreSQL database on the server of ``base``; returns its URL and a drop function."""
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


def libpq_url(sqlalchemy_url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


def spread(values: list[float]) -> str:
    """median (min–max) of paired per-repeat figures."""
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.2f}"
    return f"{med:.2f} ({min(values):.2f}–{max(values):.2f})"
