"""The bench's tables: steps, paired ratios, per-session figures across sizes, and the time budget."""
from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

from common import spread


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def print_steps(rows: dict[str, list[dict]], sessions: int | None) -> None:
    print(f"\n{'step':<28}{'seconds median (min–max)':>28}{'CPU s':>7}{'per s':>9}{'peak RSS MiB':>14}"
          f"{'written MiB':>13}{'requests':>10}")
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
        cpu = [r["cpu"] for r in results if r.get("cpu") is not None]
        ctxt = f"{statistics.median(cpu):.2f}" if cpu else "-"
        print(f"{label:<28}{spread(secs):>28}{ctxt:>7}{rate:>9}{peak:>14.0f}{wtxt:>13}{req!s:>10}")


def print_ratios(ratios: dict[str, list[float]], floors: dict[str, str], targets: dict[str, float]) -> None:
    if not any(ratios.values()):
        return
    print(f"\n{'ratio (ours / floor)':<22}{'floor':<34}{'median (min–max)':>22}{'target':>8}  met")
    for key, values in ratios.items():
        if not values:
            continue
        ok = "yes" if statistics.median(values) <= targets[key] else "NO"
        print(f"{key:<22}{floors[key]:<34}{spread(values):>22}{targets[key]:>7.1f}x  {ok}")


def print_cpu_ratios(ratios: dict[str, list[float]]) -> None:
    shown = {k: v for k, v in ratios.items() if v}
    if shown:
        print("  the same, in CPU seconds of the measured process (not slowed by waiting for a core): "
              + ", ".join(f"{k} {spread(v)}" for k, v in shown.items()))


def per_session(results: list[dict], sessions: int) -> tuple[float | None, float]:
    """(median bytes written per session, median peak RSS MiB) of one step's repeats."""
    written = [r["written"] / sessions for r in results if r.get("written") is not None]
    return (statistics.median(written) if written else None), statistics.median(r["peak_mb"] for r in results)


def print_per_session(by_size: dict[int, dict[str, list[dict]]]) -> None:
    """Bytes written per session and peak RSS of every step, one column pair per size, and last / first."""
    sizes = sorted(by_size)
    labels = list(dict.fromkeys(label for size in sizes for label in by_size[size]))
    head = "".join(f"{f'{size:,} sessions':>27}" for size in sizes)
    print("\nPer session, by size (bytes this process wrote to storage per session; peak RSS of the fresh process):")
    print(f"{'':<28}{head}" + (f"{f'{sizes[-1]:,} / {sizes[0]:,}':>22}" if len(sizes) > 1 else ""))
    print(f"{'step':<28}" + f"{'written B/session':>18}{'peak MiB':>9}" * len(sizes)
          + (f"{'written':>11}{'peak':>11}" if len(sizes) > 1 else ""))
    for label in labels:
        cells, figures = [], []
        for size in sizes:
            results = by_size[size].get(label)
            if not results:
                cells.append(f"{'-':>18}{'-':>9}")
                figures.append(None)
                continue
            written, peak = per_session(results, size)
            cells.append(f"{'-' if written is None else f'{written:,.0f}':>18}{peak:>9.0f}")
            figures.append((written, peak))
        tail = ""
        if len(sizes) > 1 and figures[0] and figures[-1]:
            (w0, p0), (w1, p1) = figures[0], figures[-1]
            wr = f"{w1 / w0:.2f}x" if w0 and w1 is not None else "-"
            tail = f"{wr:>11}{p1 / p0:>10.2f}x"
        print(f"{label:<28}" + "".join(cells) + tail)
    print("(PostgreSQL's own writes happen in the server and are not in 'written'.)")


# --- time budget -------------------------------------------------------------------------------------------------
# Wall seconds per session of each step (set-up included) on this 2-core machine, unloaded; replaced by what the
# last run here measured (timings.json in the cache folder).
DEFAULT_WALL = {"fetch": 0.0003, "iterparse": 0.0002, "executemany": 0.0012, "copy": 0.0016, "files": 0.0012,
                "parser": 0.0008, "sql-sqlite": 0.0016, "sql-pg": 0.0016, "folder": 0.0016, "e2e-sqlite": 0.0012,
                "e2e-pg": 0.0016}
RATE_BOUND = {"fetch", "e2e-sqlite", "e2e-pg"}  # paced at --max-rps: at least (documents + 2) / rate
MAKE_WALL = 0.0015  # making the cached documents, per session


def _timings_file(cache: Path) -> Path:
    return cache / "timings.json"


def estimate(steps: list[str], sizes: list[int], repeats: int, max_rps: float, cache: Path,
             missing: list[int]) -> tuple[float, dict[str, float]]:
    try:
        known = json.loads(_timings_file(cache).read_text())
    except (OSError, ValueError):
        known = {}
    per_step: dict[str, float] = {}
    total = sum(MAKE_WALL * n for n in missing)
    for n in sizes:
        for step in steps:
            wall = known.get(step, DEFAULT_WALL.get(step, 0.001)) * n + 2.0
            if step in RATE_BOUND and max_rps:
                wall = max(wall, (n / 50 + 2) / max_rps + 2.0)
            per_step[step] = per_step.get(step, 0.0) + wall * repeats
            total += wall * repeats
    return total, per_step


def remember(cache: Path, by_size: dict[int, dict[str, list[dict]]], names: dict[str, str]) -> None:
    """Keep each step's wall seconds per session for the next run's budget."""
    path = _timings_file(cache)
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    for size, rows in sorted(by_size.items()):  # the largest size last: its figure is kept
        for label, results in rows.items():
            step = names.get(label)
            if step and results:
                known[step] = statistics.median(r["wall"] for r in results if "wall" in r) / size
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")  # several benches may finish at once
    tmp.write_text(json.dumps(known, indent=1, sort_keys=True))
    os.replace(tmp, path)
