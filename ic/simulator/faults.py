"""Fault switches of the simulator: set any attribute while the simulator runs; counters count down as used."""
from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields


@dataclass
class Faults:
    rate_limit: int = 0  # answer 429 (with Retry-After) to every Nth /api request; 0 = off
    error_5xx_burst: int = 0  # the next N requests (any path) get 503
    slow_seconds: float = 0.0  # sleep this long before answering every request
    drop_mid_body: int = 0  # the next N /api 200 bodies are cut after half of Content-Length (socket closed)
    evict_tokens: bool = False  # the next /api request finds every token revoked (401); switches itself off
    expired_recordings: bool = False  # recordings answer the B4 "expired" <error>
    error_documents: bool = False  # empty results -> <error>No sessions found for the given search criteria.</error>
    truncated_xml: int = 0  # the next N XML reporting bodies are cut short (HTTP complete, XML malformed)
    strict_lsids: bool = False  # an lsids= batch naming any unknown session is refused whole: <error>Invalid lsid.</error> [U]
    retry_after: int = 1  # seconds sent in Retry-After on 429
    latency_seconds: float = 0.0  # every /api answer waits this long first (appliance latency; requests overlap)
    # one recording that always fails: key "LSID" (every recording of the session) or "LSID:KIND" or
    # "LSID:KIND:INSTANCE" (KIND recordings | smsr | shell) -> "cut" (the body breaks off half way, every time) or
    # "error" (an appliance <error> that is neither "expired" nor "no recording", every time)
    broken_recordings: dict[str, str] = field(default_factory=dict)
    # recordings far larger than recording_size: same keys as broken_recordings -> body size in bytes
    big_recordings: dict[str, int] = field(default_factory=dict)
    # lsids whose session details break off half way (socket closed) in every answer that includes them, as a proxy
    # cutting one huge session's document would
    broken_details: set[str] = field(default_factory=set)
    # what the token answer claims as expires_in (None: the real lifetime); absurd ones: 0, -5, "soon", float("nan")
    token_expires_in: object = None

    def reset(self) -> None:
        for f in fields(self):
            setattr(self, f.name, f.default_factory() if f.default is MISSING else f.default)  # type: ignore[misc]
