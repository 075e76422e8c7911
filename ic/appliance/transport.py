"""HTTP plumbing for the appliance client: verified TLS, a thread-safe rate limiter, backoff, failure wording.

TLS is always verified: against the site's CA bundle when one is set, otherwise against the operating system's trust
store through ``truststore`` (injected per session with an adapter, never globally). requests' own certificate
choices (certifi, REQUESTS_CA_BUNDLE, ``verify=False``) are ignored on purpose.
"""
from __future__ import annotations

import os
import random
import socket
import ssl
import threading
import time
from collections import deque
from email.utils import parsedate_to_datetime
from typing import Callable

import requests
import truststore
from requests.adapters import HTTPAdapter

from ic.errors import ApplianceUnreachable, TLSFailure


def make_ssl_context(ca_bundle: str | None, host: str) -> ssl.SSLContext:
    """A verifying context: the CA bundle alone when given, else the OS trust store."""
    if not ca_bundle:
        return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not os.path.isfile(ca_bundle):
        raise TLSFailure(
            f"The CA bundle file {ca_bundle} for {host} does not exist; set the site's CA bundle to an existing PEM file."
        )
    try:
        ctx = ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError, ValueError):
        raise TLSFailure(
            f"The CA bundle file {ca_bundle} for {host} cannot be read as PEM certificates; "
            "set the site's CA bundle to a valid PEM file."
        ) from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class VerifiedTLSAdapter(HTTPAdapter):
    """HTTPAdapter that always uses our SSL context and never lets requests loosen or extend it."""

    def __init__(self, ssl_context: ssl.SSLContext, **kwargs) -> None:
        self._ssl_context = ssl_context
        super().__init__(**kwargs)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        pool_kwargs["ssl_context"] = self._ssl_context
        return super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        proxy_kwargs["ssl_context"] = self._ssl_context
        return super().proxy_manager_for(proxy, **proxy_kwargs)

    def cert_verify(self, conn, url, verify, cert) -> None:  # noqa: ARG002 - verify is deliberately ignored
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None


def build_session(base_url: str, ca_bundle: str | None, host: str, pool_size: int = 16) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no netrc or env CA bundles; proxies are taken from the environment below
    session.proxies = requests.utils.get_environ_proxies(base_url)
    adapter = VerifiedTLSAdapter(make_ssl_context(ca_bundle, host), pool_connections=2, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", _RefuseHTTP())
    session.headers.update({"Connection": "close", "User-Agent": "IntegrationClient"})
    return session


class _RefuseHTTP(HTTPAdapter):
    def send(self, request, **kwargs):  # pragma: no cover - defensive: the client only builds https URLs
        raise requests.exceptions.InvalidURL("plain HTTP is not allowed")


class RateLimiter:
    """Spaces calls evenly (no bursts) a little below ``max_rps`` and keeps at most ``per_hour`` in a rolling hour.

    The 5 % margin absorbs scheduling jitter, so no one-second window on the appliance sees more than ``max_rps``.
    Thread-safe: each caller reserves its slot under the lock and sleeps outside it.
    """

    MARGIN = 1.05

    def __init__(self, max_rps: float, per_hour: int | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = self.MARGIN / max_rps if max_rps and max_rps > 0 else 0.0
        self.per_hour = per_hour
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._hour: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Block until this caller may send; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            if self.per_hour:
                while self._hour and self._hour[0] <= slot - 3600:
                    self._hour.popleft()
                if len(self._hour) >= self.per_hour:
                    slot = max(slot, self._hour[0] + 3600)
                    self._hour.popleft()
                self._hour.append(slot)
            self._next = slot + self.interval
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date. None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(failures: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter; a server's Retry-After wins when it asks for longer."""
    expo = min(cap, base * (2 ** max(0, failures - 1)))
    delay = random.uniform(expo / 2, expo)
    if retry_after is not None:
        delay = max(delay, min(retry_after, max(cap, 300.0)))
    return delay


def _chain(exc: BaseException):
    seen = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack.extend([e.__cause__, e.__context__, getattr(e, "reason", None)])
        stack.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))


_DNS_HINTS = ("name or service not known", "nodename nor servname", "getaddrinfo failed", "failed to resolve",
              "temporary failure in name resolution", "no address associated", "name resolution")


def is_dns_failure(exc: BaseException) -> bool:
    for e in _chain(exc):
        if isinstance(e, socket.gaierror) or type(e).__name__ == "NameResolutionError":
            return True
    text = str(exc).lower()
    return any(h in text for h in _DNS_HINTS)


def is_refused(exc: BaseException) -> bool:
    return any(isinstance(e, ConnectionRefusedError) for e in _chain(exc)) or "connection refused" in str(exc).lower()


def dns_error(host: str) -> ApplianceUnreachable:
    err = ApplianceUnreachable(f"Cannot find {host_name(host)}: check the site's host name.")
    err.dns = True  # type: ignore[attr-defined]
    return err


def tls_error(exc: BaseException, host: str, ca_bundle: str | None) -> TLSFailure:
    text = " ".join(str(e) for e in _chain(exc)).lower()
    if any(w in text for w in ("wrong version number", "record layer failure", "http_request", "http request",
                               "packet length too long", "unknown protocol")):
        return TLSFailure(  # the port speaks plain HTTP (or something else), not TLS
            f"{host} answered in plain HTTP, not HTTPS; check the host and port (the appliance's API uses HTTPS).")
    if "ip address mismatch" in text:
        return TLSFailure(
            f"The certificate presented by {host} is not issued for that IP address; use the host name printed on "
            "the appliance's certificate instead of the address."
        )
    if "hostname mismatch" in text or "doesn't match" in text or "does not match" in text:
        return TLSFailure(
            f"The certificate presented by {host} is not issued for that name; "
            "use the host name printed on the appliance's certificate."
        )
    if "expired" in text:
        return TLSFailure(f"The certificate presented by {host} has expired; renew it on the appliance.")
    if ca_bundle:
        return TLSFailure(
            f"The certificate of {host} is not trusted by the CA bundle {ca_bundle}: "
            "set the site's CA bundle to the CA that issued the appliance's certificate."
        )
    return TLSFailure(
        f"The certificate of {host} is not trusted by this computer: "
        "set the site's CA bundle to the CA that issued it, or install that CA in the system trust store."
    )


def unreachable_error(exc: BaseException, host: str, timeout: float) -> ApplianceUnreachable:
    if isinstance(exc, requests.exceptions.Timeout):
        return ApplianceUnreachable(f"The appliance at {host} did not answer within {timeout:g} seconds; check the network or try later.")
    if is_refused(exc):
        return ApplianceUnreachable(f"Cannot connect to {host}: the connection was refused; check the host and port.")
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return ApplianceUnreachable(f"The connection to {host} kept dropping in the middle of a download; try again later.")
    return ApplianceUnreachable(f"Cannot connect to {host}: the network connection failed; check the host and network.")


def host_name(host: str) -> str:
    """'name:port' -> 'name' (IPv6 brackets kept)."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
