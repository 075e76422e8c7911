"""The simulator's sessions: generation, lookup, time-window queries and a per-session XML cache."""
from __future__ import annotations

import threading
from collections.abc import Callable

from ic.simulator import data, xmlout
from ic.simulator.data import DAY, SimSession


class SessionStore:
    def __init__(self, count: int, seed: int, product: str, anchor: int, in_progress: int, site: str,
                 clock: Callable[[], int]) -> None:
        self.seed, self.product, self.anchor, self.site, self.clock = seed, product, anchor, site, clock
        self._lock = threading.RLock()
        self.sessions: list[SimSession] = data.generate(count, seed, product, anchor, in_progress)
        self._by_lsid = {s.lsid: s for s in self.sessions}
        self._next_index = count
        self._xml: dict[str, bytes] = {}
        self.expired: set[str] = set()  # recording keys once answered "expired" (stay expired, as on an appliance)

    def get(self, lsid: str) -> SimSession | None:
        return self._by_lsid.get(lsid)

    # --- changes while running ------------------------------------------------------------------------------
    def end_session(self, lsid: str, when: int | None = None) -> SimSession:
        with self._lock:
            s = self._by_lsid.get(lsid)
            if s is None:
                raise KeyError(lsid)
            if s.end_time is None:
                s.end_time = max(s.start_time, when if when is not None else self.clock())
                self._xml.pop(lsid, None)
            return s

    def add_sessions(self, n: int, when: int | None = None) -> list[SimSession]:
        with self._lock:
            now = when if when is not None else self.clock()
            lseq = max((s.lseq for s in self.sessions), default=1000)
            added = []
            for _ in range(n):
                lseq += 1
                s = data.make_new(self.seed, self.product, self._next_index, now, lseq)
                self._next_index += 1
                added.append(s)
            self.sessions = sorted(self.sessions + added, key=lambda x: (x.start_time, x.index))
            self._by_lsid.update({s.lsid: s for s in added})
            return added

    def delete_session(self, lsid: str) -> None:
        """Forget a session, as the appliance does when its data ages out."""
        with self._lock:
            s = self._by_lsid.pop(lsid)
            self.sessions = [x for x in self.sessions if x is not s]
            self._xml.pop(lsid, None)

    # --- queries ----------------------------------------------------------------------------------------------
    def window(self, key: str, t: int, duration: int) -> list[SimSession]:
        """B3: start_* -> began at/after t (in-progress included); end_* -> closed at/after t. Bounds inclusive;
        duration in days for *_date, seconds for *_time; 0 = until now."""
        if key.endswith("_date"):
            hi = t + duration * DAY - 1 if duration else None
        else:
            hi = t + duration if duration else None
        by_start = key.startswith("start")
        out = []
        for s in list(self.sessions):
            v = s.start_time if by_start else s.end_time
            if v is None or v < t or (hi is not None and v > hi):
                continue
            out.append(s)
        return out

    def session_xml(self, s: SimSession) -> bytes:
        cached = self._xml.get(s.lsid)
        if cached is None:
            d = data.details(s, self.seed, self.anchor)
            cached = xmlout.session(s, d, self.site, self.anchor).encode()
            self._xml[s.lsid] = cached
        return cached
