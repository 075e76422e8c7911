"""Recording and backup bodies: deterministic bytes of any size, produced in chunks (never whole in memory)."""
from __future__ import annotations

import random
from collections.abc import Iterator

FLV_HEADER = b"FLV\x01\x05\x00\x00\x00\x09" + b"\x00\x00\x00\x00"  # header + PreviousTagSize0
BLOCK = 64 * 1024
CHUNK = 256 * 1024


def _block(key: str) -> bytes:
    return random.Random(key).randbytes(BLOCK)


def chunks(key: str, size: int, header: bytes = FLV_HEADER) -> Iterator[bytes]:
    """``size`` bytes: ``header`` then a repeating pseudo-random block derived from ``key``."""
    head = header[:size]
    if head:
        yield head
    remaining = size - len(head)
    if remaining <= 0:
        return
    block = _block(key)
    big = block * (CHUNK // BLOCK)
    while remaining > 0:
        piece = big if remaining >= len(big) else big[:remaining]
        yield piece
        remaining -= len(piece)


def content(key: str, size: int, header: bytes = FLV_HEADER) -> bytes:
    """The whole body at once (tests, small sizes only)."""
    return b"".join(chunks(key, size, header))
