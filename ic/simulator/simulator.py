"""The simulated BeyondTrust appliance (RS or PRA): public API used by tests, bench and `simulate`."""
from __future__ import annotations

import gzip
import json
import secrets
import shutil
import ssl
import tempfile
import threading
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from ic.simulator import certs, recordings, reports, xmlout
from ic.simulator.auth import RateLimiter, TokenStore, parse_basic
from ic.simulator.data import SimSession
from ic.simulator.faults import Faults
from ic.simulator.response import ACCESS_DENIED, Response, json_response
from ic.simulator.server import TLSServer, serve_in_thread
from ic.simulator.store import SessionStore


class Simulator:
    """Serve ``sessions`` deterministic sessions over HTTPS on 127.0.0.1 (see docs/CONTRACTS.md)."""

    def __init__(
        self,
        sessions: int = 200,
        seed: int = 7,
        product: str = "rs",
        recording_size: int = 64_000,
        clock_offset: float = 0,
        in_progress: int = 5,
        token_lifetime: int = 3600,
        token_type: str = "Bearer",
        namespace: str | None = None,
        *,
        anchor: int | None = None,
        client_id: str = "ic-simulator",
        client_secret: str | None = None,
        site_hostname: str = "support.example.com",
        backup_size: int = 50_000,
        rate_per_second: float = 20,
        rate_per_hour: int = 15_000,
        ca_out: str | Path | None = None,
        gzip_xml: bool = False,
    ) -> None:
        if product not in ("rs", "pra"):
            raise ValueError("product must be 'rs' or 'pra'")
        self.product = product
        self.seed = seed
        self.recording_size = recording_size
        self.backup_size = backup_size
        self.clock_offset = clock_offset
        self.token_type = token_type
        self.namespace = namespace or (reports.RS_NAMESPACE if product == "rs" else reports.PRA_NAMESPACE)
        self.site_hostname = site_hostname
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        # settable: False -> 403 (and 0 in get_api_info). "recordings": recording reports only; "command": the
        # command API (get_api_info) itself
        self.permissions = {"reporting": True, "recordings": True, "backup": True, "command": True}
        self.backup_password: str | None = None  # set to require `password` on /api/backup
        self.gzip_xml = gzip_xml  # settable: gzip XML answers when the client accepts gzip (B7.10)
        self.faults = Faults()
        self.anchor = int(anchor if anchor is not None else self.now())
        self.store = SessionStore(sessions, seed, product, self.anchor, in_progress, site_hostname, self.now)
        self.tokens = TokenStore(token_lifetime)
        self.limiter = RateLimiter(rate_per_second, rate_per_hour)
        self.log: deque[dict[str, Any]] = deque(maxlen=10_000)  # one entry per request (no secrets)
        self.errors: list[str] = []  # tracebacks of simulator bugs (answered 500)
        self._stats_lock = threading.Lock()
        self._stats: dict[str, Any] = {"requests": 0, "tokens_minted": 0, "bytes_sent": 0, "by_report": Counter(),
                                       "status": Counter(), "faults": Counter(),
                                       "events": Counter()}
        self._in_flight = 0
        self._api_counter = 0
        self._ca_out = Path(ca_out) if ca_out else None
        self._dir: Path | None = None
        self._certs: certs.CertFiles | None = None
        self._server: TLSServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None
        self.ca_file: str | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------------
    def start(self, port: int = 0) -> Simulator:
        """Listen on 127.0.0.1:``port`` (0 = any). After stop(keep_certs=True) the same CA is reused."""
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        if self._certs is None:
            self._dir = Path(tempfile.mkdtemp(prefix="ic-sim-"))
            self._certs = certs.generate(self._dir, self._ca_out)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self._certs.cert_file, self._certs.key_file)
        self.ca_file = str(self._certs.ca_file)
        self._server = TLSServer(("127.0.0.1", port), self, ctx)
        self.port = self._server.server_address[1]
        self._thread = serve_in_thread(self._server)
        return self

    def stop(self, keep_certs: bool = False) -> None:
        """Stop listening and cut open connections; ``keep_certs`` allows start() again with the same CA and data."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.drop_connections()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if not keep_certs and self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
            self._certs = None

    def __enter__(self) -> Simulator:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"https://{self.host}"

    # --- clock, data ---------------------------------------------------------------------------------------------
    def now_float(self) -> float:
        return time.time() + self.clock_offset

    def now(self) -> int:
        """The appliance clock in unix seconds (host clock + clock_offset)."""
        return int(self.now_float())

    @property
    def sessions(self) -> list[SimSession]:
        return list(self.store.sessions)

    def session(self, lsid: str) -> SimSession:
        s = self.store.get(lsid)
        if s is None:
            raise KeyError(lsid)
        return s

    def end_session(self, lsid: str) -> SimSession:
        """End an in-progress session now (appliance clock)."""
        return self.store.end_session(lsid)

    def delete_session(self, lsid: str) -> None:
        """Remove a session (aged out on the appliance): it vanishes from listings and detail answers."""
        self.store.delete_session(lsid)

    def add_sessions(self, n: int) -> list[SimSession]:
        """Add ``n`` new closed sessions ending now (appliance clock)."""
        return self.store.add_sessions(n)

    def recording_bytes(self, kind: str, lsid: str, instance: int = 0) -> bytes:
        """The exact body a recording download returns (kind: recordings | smsr | shell). Small sizes only."""
        key = reports.recording_key(self.store, kind, self.session(lsid), instance)
        return recordings.content(key, self.recording_size)

    def recording_expired(self, kind: str, lsid: str, instance: int = 0) -> bool:
        """Was this recording ever answered "expired" (faults.expired_recordings)? It then stays expired."""
        return reports.recording_key(self.store, kind, self.session(lsid), instance) in self.store.expired

    def session_xml(self, lsid: str) -> bytes:
        """The <session> element the appliance sends for ``lsid`` (UTF-8 bytes)."""
        return self.store.session_xml(self.session(lsid))

    # --- accounts ---------------------------------------------------------------------------------------------------
    def rotate_secret(self, new_secret: str | None = None) -> str:
        """Regenerate the client secret: every token of the account is revoked (B2)."""
        self.client_secret = new_secret or secrets.token_urlsafe(24)
        self.tokens.revoke_all(self.client_id)
        return self.client_secret

    def expire_tokens(self) -> None:
        """Make every issued token expired (as if its lifetime had passed)."""
        self.tokens.expire_all()

    @property
    def live_tokens(self) -> int:
        return self.tokens.live_count(self.client_id)

    # --- stats -----------------------------------------------------------------------------------------------------
    @property
    def stats(self) -> dict[str, Any]:
        with self._stats_lock:
            return {k: (dict(v) if isinstance(v, Counter) else v) for k, v in self._stats.items()}

    def _count(self, name: str) -> None:
        """Count a fault that fired (name of a Faults field) or another notable event."""
        with self._stats_lock:
            group = "faults" if name in Faults.__dataclass_fields__ else "events"
            self._stats.setdefault(group, Counter())[name] += 1

    def _internal_error(self, trace: str) -> None:
        """A bug in the simulator itself: counted in stats["events"]["internal_error"], kept in self.errors."""
        self.errors.append(trace)
        self._count("internal_error")

    def _count_bytes(self, n: int) -> None:
        with self._stats_lock:
            self._stats["bytes_sent"] += n

    def _take(self, name: str) -> bool:
        """Consume one unit of a counting fault (int > 0) or a one-shot bool fault; count it."""
        with self._stats_lock:
            value = getattr(self.faults, name)
            if not value:
                return False
            setattr(self.faults, name, False if isinstance(value, bool) else value - 1)
            self._stats["faults"][name] += 1
            return True

    # --- request handling (called by server.Handler in a worker thread) ---------------------------------------------
    def _handle(self, method: str, path: str, query: str, headers, body: bytes) -> tuple[Response, bool]:
        entry: dict[str, Any] = {"method": method, "path": path, "connection_close":
                                 (headers.get("Connection") or "").lower() == "close"}
        with self._stats_lock:
            self._stats["requests"] += 1
        if self.faults.slow_seconds:
            self._count("slow_seconds")
            time.sleep(self.faults.slow_seconds)
        latency = self.faults.latency_seconds
        if latency and path.startswith("/api/"):
            self._count("latency_seconds")
            with self._stats_lock:  # requests waiting at once: shows whether a client overlaps its calls
                self._in_flight += 1
                events = self._stats["events"]
                events["max_in_flight"] = max(events["max_in_flight"], self._in_flight)
            try:
                time.sleep(latency)  # in this request's own thread: concurrent calls overlap, as on an appliance
            finally:
                with self._stats_lock:
                    self._in_flight -= 1
        drop = False
        if self._take("error_5xx_burst"):
            resp = Response(503, "text/html; charset=UTF-8", b"<html><body>503 Service Unavailable</body></html>")
        elif path == "/oauth2/token":
            resp = self._token(method, headers, body)
        elif path.startswith("/api/"):
            resp = self._api(method, path, query, headers, body, entry)
            if resp.status == 200 and resp.xml and path == "/api/reporting" and self._take("truncated_xml"):
                resp.body = resp.body[: max(1, len(resp.body) * 2 // 3)]
            if resp.xml and self.gzip_xml and "gzip" in (headers.get("Accept-Encoding") or "").lower():
                resp.body = gzip.compress(resp.body, compresslevel=1)
                resp.headers.append(("Content-Encoding", "gzip"))
            if resp.status == 200 and resp.content_length > 1 and self._take("drop_mid_body"):
                drop = True
            elif resp.status == 200 and not resp.xml and self._broken_cut(entry):
                drop = True  # faults.broken_recordings "cut": this recording's body breaks off every time
            elif resp.status == 200 and self.faults.broken_details and self._details_cut(entry):
                drop = True  # faults.broken_details: an answer holding this session breaks off every time
        else:
            resp = Response(404, "text/html; charset=UTF-8", b"<html><body>404 Not Found</body></html>")
        account = self.client_id
        resp.headers += [("X-RateLimit-Limit", str(self.limiter.per_hour)),
                         ("X-RateLimit-Remaining", str(entry.pop("remaining", self.limiter.remaining(account))))]
        entry["status"] = resp.status
        with self._stats_lock:
            self._stats["status"][resp.status] += 1
            if entry.get("report"):
                self._stats["by_report"][entry["report"]] += 1
        self.log.append(entry)
        return resp, drop

    def _broken_cut(self, entry: dict) -> bool:
        kind = reports.REPORTS.get(str(entry.get("report")), (None, None))[1]
        params = entry.get("params") or {}
        if kind not in reports.RECORDING_NAMES or reports.broken_recording(
                self.faults, kind, params.get("lsid", "").strip(), params.get("instance")) != "cut":
            return False
        self._count("broken_recordings")
        return True

    def _details_cut(self, entry: dict) -> bool:
        if reports.REPORTS.get(str(entry.get("report")), (None, None))[1] != "sessions":
            return False
        params = entry.get("params") or {}
        asked = {x.strip() for x in f"{params.get('lsid', '')},{params.get('lsids', '')}".split(",")}
        if not asked & self.faults.broken_details:
            return False
        self._count("broken_details")
        return True

    def _token(self, method: str, headers, body: bytes) -> Response:
        if method != "POST":
            return json_response(405, {"error": "invalid_request", "message": "Use POST."}, [("Allow", "POST")])
        creds = parse_basic(headers.get("Authorization"))
        if creds is None or creds[0] != self.client_id or not secrets.compare_digest(
            creds[1].encode(), self.client_secret.encode()
        ):
            return json_response(401, {"error": "invalid_client", "message": "Client authentication failed."},
                                 [("WWW-Authenticate", 'Basic realm="oauth2"')])
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        form = parse_qs(body.decode("utf-8", "replace")) if ctype == "application/x-www-form-urlencoded" else {}
        if form.get("grant_type", [""])[0] != "client_credentials":
            return json_response(400, {"error": "unsupported_grant_type",
                                       "message": "grant_type must be client_credentials."})
        token = self.tokens.mint(self.client_id)
        with self._stats_lock:
            self._stats["tokens_minted"] += 1
        return json_response(200, {"access_token": token, "token_type": self.token_type,
                                   "expires_in": self.tokens.lifetime if self.faults.token_expires_in is None
                                   else self.faults.token_expires_in}, [("Cache-Control", "no-store")])

    def _api(self, method: str, path: str, query: str, headers, body: bytes, entry: dict) -> Response:
        if self._take("evict_tokens"):
            self.tokens.revoke_all()
        auth = headers.get("Authorization") or ""
        account = self.tokens.account_of(auth[7:].strip()) if auth[:7].lower() == "bearer " else None
        if account is None:
            return json_response(401, ACCESS_DENIED)
        with self._stats_lock:
            self._api_counter += 1
            every = self.faults.rate_limit
            forced = bool(every) and self._api_counter % every == 0
            if forced:
                self._stats["faults"]["rate_limit"] += 1
        if forced:
            return json_response(429, {"error": "rate_limited", "message": "Too many requests."},
                                 [("Retry-After", str(self.faults.retry_after))])
        allowed, remaining, retry = self.limiter.check(account)
        entry["remaining"] = remaining
        if not allowed:
            self._count("rate_limited")
            return json_response(429, {"error": "rate_limited", "message": "Too many requests."},
                                 [("Retry-After", str(retry))])
        if method not in ("GET", "POST", "HEAD"):
            return json_response(405, {"error": "invalid_request", "message": "Use GET or POST."},
                                 [("Allow", "GET, POST")])
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        ns = self.namespace
        if method == "POST" and ctype.startswith("multipart/"):
            return Response(400, body=xmlout.error_document(
                ns, "Multipart requests are not supported; send application/x-www-form-urlencoded."), xml=True)
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        if method == "POST" and ctype == "application/x-www-form-urlencoded":
            params.update({k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"),
                                                          keep_blank_values=True).items()})
        elif method == "POST" and ctype == "application/json" and path == "/api/backup":
            try:  # the backup API doc shows {"password": "..."} [U]
                doc = json.loads(body or b"{}")
            except ValueError:
                doc = {}
            if isinstance(doc, dict):
                params.update({k: v for k, v in doc.items() if isinstance(v, str)})
        entry["params"] = {k: v for k, v in params.items() if k != "password"}
        ctx = reports.Context(self.store, self.product, ns, self.faults, self.recording_size, self._count)
        if path == "/api/reporting":
            if not self.permissions.get("reporting", True):
                return json_response(403, ACCESS_DENIED)
            if (params.get("generate_report", "").endswith("Recording")
                    and not self.permissions.get("recordings", True)):
                return json_response(403, ACCESS_DENIED)
            resp, report = reports.reporting(params, ctx)
            entry["report"] = report
            return resp
        if path == "/api/backup":
            entry["report"] = "backup"
            if not self.permissions.get("backup", True):
                return json_response(403, ACCESS_DENIED)
            if self.backup_password is not None and params.get("password") != self.backup_password:
                return reports.error(ns, "Invalid backup password.")
            return reports.backup(ctx, self.site_hostname, self.backup_size, self.now())
        if path == "/api/command":
            entry["report"] = f"command:{params.get('action', '')}"
            if not self.permissions.get("command", True):
                return json_response(403, ACCESS_DENIED)
            return reports.command(params, ctx, self.now(), self.permissions)
        return Response(404, "text/html; charset=UTF-8", b"<html><body>404 Not Found</body></html>")
