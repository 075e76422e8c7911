"""Compact sets for millions of lsids (membership only): 16 bytes per lsid instead of ~80 for a set of 128-bit ints or
~160 for a dict entry with its string.

``DigestSet`` holds 128-bit digests (ints); ``SealedSet`` holds lsids by their BLAKE2b digest: the lsids a window
finished that can no longer survive its completion (``TransferState.seal``), which the run must still skip but need
not name; and the appliance client's check for lsids listed twice in one listing (``ic.appliance.client``), which
must stay flat for a listing of millions of rows. Digests are kept as two 64-bit halves in sorted ``array`` blocks that merge like a binary counter up to
BLOCK_MAX entries (a few dozen blocks for millions, each probed by bisection; a merge never holds more than one block's
worth twice); the newest additions wait in a small set. ``SealedSet`` first asks a 2 MiB bitmap of the lsids'
own hashes: most lsids a window asks about were never sealed, and that answer costs no digest and no probe.
"""
from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left
from itertools import chain

_PENDING_MAX = 4096
BLOCK_MAX = 1 << 16  # entries (1 MiB) above which blocks no longer merge
_BITS = 1 << 24  # SealedSet's bitmap of lsid hashes (2 MiB)
_MASK = (1 << 64) - 1


def lsid_digest(lsid: str) -> int:
    return int.from_bytes(hashlib.blake2b(lsid.encode("utf-8", "surrogatepass"), digest_size=16).digest(), "big")


def _halves(digest: int) -> tuple[int, int]:
    """Two signed 64-bit halves (array "q") of a 128-bit digest, ordered like the digest's high half."""
    hi, lo = (digest >> 64) & _MASK, digest & _MASK
    return hi - (1 << 64) if hi >= 1 << 63 else hi, lo - (1 << 64) if lo >= 1 << 63 else lo


class _Block:
    __slots__ = ("hi", "lo")

    def __init__(self, pairs: list[tuple[int, int]]) -> None:  # sorted
        self.hi = array("q", [p[0] for p in pairs])
        self.lo = array("q", [p[1] for p in pairs])

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
    """A set of 128-bit ints: ``add`` and ``in``; no removal, no iteration. ``len``: digests added (one added twice
    counts twice: callers add each once)."""

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
        self._pending.add(_halves(digest))
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
            block = _Block(sorted(chain(self._blocks.pop().pairs(), block.pairs())))
        self._blocks.append(block)


class SealedSet(DigestSet):
    """lsids by their digest (see module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._bits: bytearray | None = None

    def __contains__(self, lsid: object) -> bool:
        if not self._count or not isinstance(lsid, str):
            return False
        h = hash(lsid) & (_BITS - 1)
        if not self._bits[h >> 3] & (1 << (h & 7)):  # type: ignore[index]
            return False
        return self._has(_halves(lsid_digest(lsid)))

    def add(self, lsid: str) -> None:  # type: ignore[override]
        if self._bits is None:
            self._bits = bytearray(_BITS // 8)
        h = hash(lsid) & (_BITS - 1)
        self._bits[h >> 3] |= 1 << (h & 7)
        super().add(lsid_digest(lsid))

    def clear(self) -> None:
        super().clear()
        self._bits = None
