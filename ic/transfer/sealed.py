"""Compact sets for millions of lsids (membership only): 16 bytes per lsid instead of ~80 for a set of 128-bit ints or
~160 for a dict entry with its string.

``DigestSet`` holds 128-bit digests (ints, as ``ic.appliance.documents.iter_summaries`` dedups a listing with);
``SealedSet`` holds lsids by their BLAKE2b digest: the lsids a window finished that can no longer survive its
completion (``TransferState.seal``), which the run must still skip but need not name. Digests are kept as two 64-bit
halves in sorted ``array`` blocks that merge like a binary counter up to BLOCK_MAX entries (a few blocks, each
probed by bisection; a merge never doubles the memory of the whole set); the newest additions wait in a small set.
"""
from __future__ import annotations

import hashlib
import heapq
from array import array
from bisect import bisect_left

_PENDING_MAX = 4096
BLOCK_MAX = 1 << 18  # entries (4 MiB) above which blocks no longer merge
_MASK = (1 << 64) - 1


def lsid_digest(lsid: str) -> int:
    return int.from_bytes(hashlib.blake2b(lsid.encode("utf-8", "surrogatepass"), digest_size=16).digest(), "big")


def _halves(digest: int) -> tuple[int, int]:
    """Two signed 64-bit halves (array "q") of a 128-bit digest, ordered like the digest's high half."""
    hi, lo = (digest >> 64) & _MASK, digest & _MASK
    return hi - (1 << 64) if hi >= 1 << 63 else hi, lo - (1 << 64) if lo >= 1 << 63 else lo


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

    def has(self, h: int, lo: int) -> bool:
        i = bisect_left(self.hi, h)
        n = len(self.hi)
        while i < n and self.hi[i] == h:
            if self.lo[i] == lo:
                return True
            i += 1
        return False

    def pairs(self):
        return zip(self.hi, self.lo)


class DigestSet:
    """A set of 128-bit ints: ``add`` and ``in``; no removal, no iteration."""

    def __init__(self) -> None:
        self._pending: set[tuple[int, int]] = set()
        self._blocks: list[_Block] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __contains__(self, digest: object) -> bool:
        if not self._count or not isinstance(digest, int):
            return False
        return self._has(_halves(digest))

    def add(self, digest: int) -> None:
        pair = _halves(digest)
        if self._has(pair):
            return
        self._pending.add(pair)
        self._count += 1
        if len(self._pending) >= _PENDING_MAX:
            self._flush()

    def clear(self) -> None:
        self._pending.clear()
        self._blocks.clear()
        self._count = 0

    def _has(self, pair: tuple[int, int]) -> bool:
        return pair in self._pending or any(b.has(*pair) for b in self._blocks)

    def _flush(self) -> None:
        block = _Block(sorted(self._pending))
        self._pending.clear()
        # merge while the newest block is as large as the one before it (binary counter), up to BLOCK_MAX
        while self._blocks and len(self._blocks[-1]) <= len(block) and len(block) < BLOCK_MAX:
            block = _Block(heapq.merge(self._blocks.pop().pairs(), block.pairs()))
        self._blocks.append(block)


class SealedSet(DigestSet):
    """lsids by their digest (see module docstring)."""

    def __contains__(self, lsid: object) -> bool:
        if not self._count or not isinstance(lsid, str):
            return False
        return self._has(_halves(lsid_digest(lsid)))

    def add(self, lsid: str) -> None:  # type: ignore[override]
        super().add(lsid_digest(lsid))
