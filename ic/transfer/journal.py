"""State journal: what a transfer marked done since its state was last saved whole, appended line by line.

Why: saving the whole state after every batch rewrites the whole ``done`` map, so a first window of 100k sessions
writes gigabytes. With the journal, a batch appends only its own changes (a few dozen bytes per session); the whole
state is saved again (and the journal emptied) when a window completes, when the run ends or fails, and when the
journal has grown larger than the state itself (amortised: bytes written per session stay constant).

File: ``<data dir>/state/<store digest>-<site id>-<destination id>-<data type>.jsonl``, one JSON array per line:
``["d", lsid, end]`` (done), ``["i", lsid, start]`` (in progress), ``["p", lsid, instance]`` (shell/smsr instance).
The store digest is a hash of the settings database URL (never the URL itself), so two settings databases on one
machine never share a journal. A line cut short by a kill is ignored; replaying a line twice changes nothing.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from ic import paths

log = logging.getLogger("ic.transfer")


def path_for(store, site_id: int, destination_id: int, data_type: str) -> Path:
    url = str(getattr(store, "url", "") or "")
    digest = hashlib.sha1(url.encode("utf-8")).hexdigest()[:16]
    return paths.data_dir() / "state" / f"{digest}-{site_id}-{destination_id}-{data_type}.jsonl"


def read(path: Path) -> tuple[list[list], int]:
    """The journal's operations and its size in bytes (([], 0) when there is none)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    except OSError as exc:
        log.warning("Could not read the transfer journal %s: %s", path, exc)
        return [], 0
    ops: list[list] = []
    for line in data.splitlines():
        try:
            op = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill
        if isinstance(op, list) and len(op) == 3 and op[0] in ("d", "i", "p") and isinstance(op[1], str):
            ops.append(op)
    return ops, len(data)


def append(path: Path, ops: list[tuple]) -> int:
    """Append operations; returns the bytes written."""
    if not ops:
        return 0
    data = "".join(json.dumps(list(op), separators=(",", ":")) + "\n" for op in ops).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as fh:
        fh.write(data)
    return len(data)


def reset(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("Could not empty the transfer journal %s: %s", path, exc)
