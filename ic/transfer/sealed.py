"""A compact set of lsids (membership only): 16 bytes per lsid instead of ~160 for a dict entry with its string.

Holds the lsids a window finished that can no longer survive its completion (``TransferState.seal``): the run
must still skip them, but need not remember their names or end times. Each lsid is kept as a 128-bit BLAKE2b
digest (two 64-bit halves) in sorted ``array`` blocks that merge like a binary counter (O(log n) blocks, each
probed by bisection); the newest additions wait in a small set.
"""
from __future__ import annotations

import hashlib
import heapq
from array import array
from bisect import bisect_left

_PENDING_MAX = 4096


def _digest(lsid: str) -> tuple[int, int]:
    d = hashlib.blake2b(lsid.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return int.from_bytes(d[:8], "big", signed=True), int.from_bytes(d[8:], "big", signed=True)


class _Block:
    __slots__ = ("hi", "lo")

    def __init__(self, pairs) -> None:
        self.hi = array("q")
        self.lo = array("q")
        for h, lo in pairs:
            self.hi.append(h)
            self.lo.append(lo)

    def __len__(self) -> int:
        return len(self.hi)

    def __contains__(self, pair: tuple[int, int]) -> bool:
        h, lo = pair
        i = bisect_left(self.hi, h)
        n = len(self.hi)
        while i < n and self.hi[i] == h:
            if self.lo[i] == lo:
                return True
            i += 1
        return False

    def pairs(self):
        return zip(self.hi, self.lo)


class SealedSet:
    """Add and test lsids; no removal, no iteration over names (they are not kept)."""

    def __init__(self) -> None:
        self._pending: set[tuple[int, int]] = set()
        self._blocks: list[_Block] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __contains__(self, lsid: object) -> bool:
        if not self._count or not isinstance(lsid, str):
            return False
        pair = _digest(lsid)
        return pair in self._pending or any(pair in b for b in self._blocks)

    def add(self, lsid: str) -> None:
        pair = _digest(lsid)
        if pair in self._pending or any(pair in b for b in self._blocks):
            return
        self._pending.add(pair)
        self._count += 1
        if len(self._pending) >= _PENDING_MAX:
            self._flush()

    def clear(self) -> None:
        self._pending.clear()
        self._blocks.clear()
        self._count = 0

    def _flush(self) -> None:
        block = _Block(sorted(self._pending))
        self._pending.clear()
        # merge while the newest block is as large as the one before it: O(log n) blocks
        while self._blocks and len(self._blocks[-1]) <= len(block):
            block = _Block(heapq.merge(self._blocks.pop().pairs(), block.pairs()))
        self._blocks.append(block)
