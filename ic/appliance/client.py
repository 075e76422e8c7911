"""BeyondTrust Remote Support / Privileged Remote Access appliance client (reporting, recordings, backup).

One client per site, shared by every worker thread of a transfer: one cached OAuth token, one rate limiter, one set of
counters. Every failure surfaces as an ``ic.errors.ApplianceError`` subclass whose message is one sentence naming
the host; neither the client secret, the backup password nor a token ever appears in a message or a log line.
"""
from __future__ import annotations

import base64
import logging
import math
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlencode

import requests

from ic.appliance import documents as docs
from ic.appliance import files
from ic.appliance.auth import TokenCache
from ic.appliance.transport import (
    RateLimiter,
    backoff_delay,
    build_session,
    dns_error,
    is_dns_failure,
    parse_retry_after,
    tls_error,
    unreachable_error,
)
from ic.errors import (
    ApplianceAPIError,
    ApplianceError,
    AuthenticationFailed,
    ConfigError,
    MalformedResponse,
    PermissionDenied,
    RateLimited,
    RecordingUnavailable,
    ServerError,
)

log = logging.getLogger("ic.appliance")

PRODUCT_LABELS = {"rs": "Remote Support", "pra": "Privileged Remote Access"}
RECORDING_KINDS = ("recordings", "smsr", "shell", "user")
_REPORTS = {
    ("listing", "rs"): "SupportSessionListing",
    ("listing", "pra"): "AccessSessionListing",
    ("session", "rs"): "SupportSession",
    ("session", "pra"): "AccessSession",
    ("recordings", "rs"): "SupportSessionRecording",
    ("recordings", "pra"): "AccessSessionRecording",
    ("smsr", "rs"): "ShowMyScreenRecording",
    ("shell", "rs"): "CommandShellRecording",
    ("shell", "pra"): "CommandShellRecording",
    ("user", "pra"): "UserRecording",
}
_PERM_REPORTING = "to read session reports and recordings (Allow Access to Reporting)"
_PERM_BACKUP = "to download site backups (Allow Backup)"
_PERM_COMMAND = "to use the command API"
_PERM_RECORDINGS = "to download session recordings (Allow Access to Reports and Recordings)"
_SMALL_XML = 64 * 1024  # session lists this small are parsed whole to look for an <error> child
_MAX_QUERY = 1800  # longer reporting queries (big lsids batches) go as a POST form


@dataclass(frozen=True)
class SessionSummary:
    lsid: str
    has_recording: bool
    external_key: str | None = None


@dataclass(frozen=True)
class Download:
    path: Path  # final file (renamed into place only when complete)
    size: int
    content_type: str | None
    filename: str | None  # as the appliance named it (Content-Disposition), unsanitised
    extension: str


class _Retry(Exception):
    """Internal: this attempt failed in a retryable way; ``error`` is raised once retries run out."""

    def __init__(self, error: ApplianceError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after

    @classmethod
    def after(cls, error: ApplianceError, resp: requests.Response) -> "_Retry":
        """Retried after the wait the appliance's Retry-After header asks for, when it gives one."""
        return cls(error, parse_retry_after(resp.headers.get("Retry-After")))


class ApplianceClient:
    def __init__(
        self,
        host: str,
        client_id: str,
        client_secret: str,
        ca_bundle: str | None = None,
        product: str = "detect",
        max_rps: float = 20.0,
        max_retries: int = 6,
        timeout: float = 60,
        *,
        backup_password: str | None = None,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        max_per_hour: int | None = 15_000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        host = (host or "").strip()
        if "://" in host:
            host = host.split("://", 1)[1]
        self.host = host.rstrip("/")
        if product not in ("rs", "pra", "detect"):
            raise ConfigError(f"Product must be rs, pra or detect for {self.host}.", field="product")
        self.client_id = client_id
        self._secret = client_secret
        self._backup_password = backup_password or None
        self.ca_bundle = ca_bundle or None
        self._product = product
        self.max_retries = max(0, int(max_retries))
        self.timeout = float(timeout)
        self.base_delay = base_delay
        self.on_retry: Callable[[str], None] | None = None  # told "… Trying again in N s" while waiting to retry
        self.max_delay = max_delay
        self._sleep = sleep
        self._base = f"https://{self.host}"
        self._session = build_session(self._base, self.ca_bundle, self.host)
        self._limiter = RateLimiter(max_rps, max_per_hour)
        self._tokens = TokenCache(self._mint)
        self._stats: dict[str, Any] = {
            "requests": 0, "retries": 0, "tokens_minted": 0, "reauth": 0, "bytes": 0, "waited": 0.0, "status": {},
        }
        self._stats_lock = threading.Lock()
        self._detect_lock = threading.Lock()
        self._clock_ref: tuple[float, float] | None = None  # (appliance unix time, our monotonic time)

    def __repr__(self) -> str:
        return f"ApplianceClient(host={self.host!r}, product={self._product!r})"

    # --- public API -------------------------------------------------------------------------
    @property
    def product(self) -> str:
        """'rs' or 'pra'; asks the appliance once when the site says 'detect'."""
        if self._product == "detect":
            with self._detect_lock:
                if self._product == "detect":
                    self._product = self._detect()
        return self._product

    @property
    def product_label(self) -> str:
        return PRODUCT_LABELS[self.product]

    @property
    def stats(self) -> dict:
        with self._stats_lock:
            out = dict(self._stats)
            out["status"] = dict(self._stats["status"])
        return out

    def test(self) -> str:
        """Mint a token and make one cheap reporting call; returns a one-sentence success message."""
        self._tokens.get()
        detecting = self._product == "detect"
        product = self.product
        if not detecting:
            self._listing(_REPORTS[("listing", product)], self._probe_window())
        return f"Connected to {self.host} ({PRODUCT_LABELS[product]}); the API account can read session reports."

    def appliance_time(self) -> int | None:
        """The appliance's clock (unix seconds) from the last response's Date header, asking it once if needed."""
        if self._clock_ref is None:
            try:
                self._api_info()
            except (ApplianceAPIError, PermissionDenied, MalformedResponse):
                pass
        ref = self._clock_ref
        if ref is None:
            return None
        return int(ref[0] + (time.monotonic() - ref[1]))

    def list_sessions(
        self, end_time: int | None = None, start_time: int | None = None, duration: int = 0
    ) -> list[SessionSummary]:
        """Session listing for a window (end_time = closed sessions ended at/after; start_time includes running)."""
        return list(self.iter_sessions_listing(end_time=end_time, start_time=start_time, duration=duration))

    def iter_sessions_listing(
        self, end_time: int | None = None, start_time: int | None = None, duration: int = 0
    ) -> Iterator[SessionSummary]:
        """The listing streamed: the answer goes to a temporary file (checked whole first: a cut-short or <error>
        answer raises, or is asked for again, before anything is yielded), then is read back one row at a time.
        Memory stays flat for millions of rows (duplicates are skipped by a 128-bit digest of the lsid)."""
        if end_time is None and start_time is None:
            end_time = 0
        params = self._window(end_time=end_time, start_time=start_time, duration=duration)
        report = _REPORTS[("listing", self.product)]

        def consume(resp: requests.Response) -> Path | None:
            fd, name = tempfile.mkstemp(prefix="ic-listing-", suffix=".xml")
            os.close(fd)
            tmp = Path(name)
            try:
                size, _head = self._stream(resp, tmp, report)
                if size == 0:
                    raise _Retry(MalformedResponse(f"The appliance at {self.host} sent an empty answer to {report}."))
                try:
                    root, err = docs.scan_listing(tmp, self.host, report)
                except MalformedResponse as exc:
                    raise _Retry(exc) from None
                if err:
                    if docs.is_no_data(err.message):
                        files.remove_quietly(tmp)
                        return None
                    docs.raise_api_error(err, self.host)
                if root != "session_summary_list":
                    raise MalformedResponse(
                        f"The appliance at {self.host} answered {report} with <{root}> instead of a session list."
                    )
                return tmp
            except BaseException:
                files.remove_quietly(tmp)
                raise

        path = self._reporting({"generate_report": report, **params}, consume, what=report, stream=True)
        if path is None:
            return
        try:
            for row in docs.iter_summaries(path):
                yield SessionSummary(*row)
        finally:
            files.remove_quietly(path)

    def fetch_sessions_to_file(
        self,
        path: str | os.PathLike,
        *,
        lsids: list[str] | None = None,
        lsid: str | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        duration: int = 0,
    ) -> Path:
        """Stream the raw <session_list> XML for the lsid(s) or window to ``path``.

        An <error> answer raises ApplianceAPIError and leaves no file, except "No ... found for the given search
        criteria", which is written as an empty <session_list/>. Truncated XML is left for the parser to report.
        """
        if lsids:
            params = {"lsids": ",".join(lsids)}
        elif lsid:
            params = {"lsid": lsid}
        elif start_time is not None or end_time is not None:
            params = self._window(end_time=end_time, start_time=start_time, duration=duration)
        else:
            raise ValueError("fetch_sessions_to_file needs lsids, lsid, start_time or end_time")
        report = _REPORTS[("session", self.product)]
        dest = Path(path)
        params = {"generate_report": report, **params}

        def consume(resp: requests.Response) -> Path:
            tmp = files.temp_path_for(dest)
            try:
                size, head = self._stream(resp, tmp, report)
                if size == 0:
                    raise _Retry(MalformedResponse(f"The appliance at {self.host} sent an empty answer to {report}."))
                root_name = docs.root_name_from_prefix(head)
                if root_name == "html":
                    raise MalformedResponse(
                        f"{self.host} answered {report} with a web page instead of XML; check the host name and any "
                        "proxy between this computer and the appliance."
                    )
                if root_name == "error":
                    try:
                        root = docs.parse(files.read_small(tmp), self.host, report)
                    except MalformedResponse as exc:  # an <error> cut short on the way: ask again
                        raise _Retry(exc) from None
                    err = docs.error_in(root)
                    if err and docs.is_no_data(err.message):
                        ns = root.nsmap.get(None)
                        xmlns = f' xmlns="{ns}"' if ns else ""
                        tmp.write_bytes(f'<?xml version="1.0" encoding="UTF-8"?>\n<session_list{xmlns}/>\n'.encode())
                    elif err:
                        docs.raise_api_error(err, self.host)
                elif size <= _SMALL_XML:
                    self._raise_error_child(tmp, report)
                os.replace(tmp, dest)
                return dest
            finally:
                files.remove_quietly(tmp if tmp.exists() else None)

        return self._reporting(params, consume, stream=True, what=report)

    def download_recording(
        self, kind: str, lsid: str, dest_path: str | os.PathLike, instance: int | str | None = None,
        *, retries: int | None = None,
    ) -> Download:
        """Stream one recording to ``dest_path`` + extension (or into ``dest_path`` if it is a folder).

        kind: "recordings" | "smsr" (Remote Support) | "shell" (needs ``instance``) | "user" (PRA).
        Raises RecordingUnavailable when the appliance says it expired or does not exist (no file is left).
        ``retries``: at most this many retries instead of ``max_retries`` (a recording that failed the same way on
        earlier runs and was set aside costs a second or two per run, not the whole backoff).
        """
        if kind not in RECORDING_KINDS:
            raise ValueError(f"unknown recording kind {kind!r}")
        report = _REPORTS.get((kind, self.product))
        if report is None:
            raise ConfigError(f"{PRODUCT_LABELS[self.product]} sites have no '{kind}' recordings; check the schedule's data types.")
        params: dict[str, str] = {"generate_report": report, "lsid": lsid}
        if kind == "shell" or instance is not None:
            params["instance"] = str(0 if instance is None else instance)
        stem = f"{lsid}-{params['instance']}" if "instance" in params else lsid
        return self._download(
            "GET", "/api/reporting", params, None, Path(dest_path), "flv", report, _PERM_REPORTING, stem, True,
            retries=retries,
        )

    def download_backup(self, dest_path: str | os.PathLike) -> Download:
        """Stream a site backup (.nsb) to ``dest_path`` + extension; the backup password (if any) goes as a form field."""
        data = {"password": self._backup_password} if self._backup_password else None
        method = "POST" if data else "GET"
        return self._download(method, "/api/backup", None, data, Path(dest_path), "nsb", "the backup", _PERM_BACKUP,
                              "backup", False)

    # --- permissions (Site Test; ic/services/site_permissions.py): nothing big is downloaded -------------------
    def api_info(self):
        """The API account's permissions (``ic.appliance.api_info.ApiInfo``) from get_api_info, XML or JSON v2 [U];
        None when the account may not use the command API (403) or the appliance does not answer it."""
        from ic.appliance import api_info as ai

        def consume(resp: requests.Response):
            return ai.parse(self._read_body(resp), resp.headers.get("Content-Type"), self.host)

        for path, params in (("/api/command", {"action": "get_api_info"}), (ai.JSON_V2_PATH, None)):
            try:
                return self._call("GET", path, params=params, consume=consume, what="get_api_info",
                                  permission=_PERM_COMMAND)
            except ApplianceAPIError as exc:
                if exc.code == "404":
                    continue  # no XML command API here: try the JSON one
                return None
            except (PermissionDenied, MalformedResponse):
                return None
        return None

    def probe_recordings(self) -> str | None:
        """Ask for the recording of a session that does not exist: a 403 raises PermissionDenied; an answer about the
        session means the account may read recordings (None). Returns the appliance's sentence when it refuses
        for another reason [U: a 200 <error> about permissions]."""
        report = _REPORTS[("recordings", self.product)]
        params = {"generate_report": report, "lsid": "0" * 32}

        def consume(resp: requests.Response) -> str | None:
            head = b""
            for chunk in resp.iter_content(16384):
                head += chunk
                if len(head) >= _SMALL_XML:
                    break
            return _permission_error(head, self.host)

        return self._call("GET", "/api/reporting", params=params, consume=consume, what=report,
                          permission=_PERM_RECORDINGS, stream=True)

    def probe_backup(self) -> str | None:
        """Start a backup download and hang up after the headers. None = the backup would come; a string = the
        appliance's own refusal (e.g. a wrong backup password); HTTP 403 raises PermissionDenied."""
        data = {"password": self._backup_password} if self._backup_password else None

        def consume(resp: requests.Response) -> str | None:
            ctype = (resp.headers.get("Content-Type") or "").lower()
            if "xml" not in ctype and "json" not in ctype and "html" not in ctype:
                return None  # a file is on its way: closing the response drops the connection, nothing is stored
            head = b""
            for chunk in resp.iter_content(16384):
                head += chunk
                if len(head) >= _SMALL_XML:
                    break
            if docs.root_name_from_prefix(head[:4096]) != "error":
                return None
            try:
                err = docs.error_in(docs.parse(head, self.host, "the backup"))
            except MalformedResponse:
                return None
            return err.message if err else None

        return self._call("POST" if data else "GET", "/api/backup", data=data, consume=consume, what="the backup",
                          permission=_PERM_BACKUP, stream=True)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "ApplianceClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- reports ----------------------------------------------------------------------------
    @staticmethod
    def _window(*, end_time: int | None, start_time: int | None, duration: int) -> dict[str, str]:
        if end_time is not None:
            return {"end_time": str(int(end_time)), "duration": str(int(duration or 0))}
        return {"start_time": str(int(start_time or 0)), "duration": str(int(duration or 0))}

    @staticmethod
    def _probe_window() -> dict[str, str]:
        # one second a day ago: cheap, and empty on almost every appliance
        return {"start_time": str(int(time.time()) - 86400), "duration": "1"}

    def _detect(self) -> str:
        probe = self._probe_window()
        try:
            self._listing("SupportSessionListing", probe)
            return "rs"
        except (ApplianceAPIError, PermissionDenied) as rs_err:
            if isinstance(rs_err, RecordingUnavailable):
                raise
            try:
                self._listing("AccessSessionListing", probe)
            except (ApplianceAPIError, PermissionDenied) as pra_err:
                if docs.looks_like_unknown_report(str(rs_err)):
                    raise pra_err from None
                raise rs_err from None
            log.info("Site %s is a Privileged Remote Access appliance.", self.host)
            return "pra"

    def _listing(self, report: str, params: dict[str, str]) -> list[tuple[str, bool, str | None]]:
        root = self._reporting({"generate_report": report, **params}, self._xml_consumer(report), what=report)
        err = docs.error_in(root)
        if err:
            if docs.is_no_data(err.message):
                return []
            docs.raise_api_error(err, self.host)
        if docs.local_name(root.tag) != "session_summary_list":
            raise MalformedResponse(
                f"The appliance at {self.host} answered {report} with <{docs.local_name(root.tag)}> instead of a session list."
            )
        return docs.summaries_from(root)

    def _raise_error_child(self, path: Path, what: str) -> None:
        """A small session list may carry an <error> child in the expected root; malformed XML is the parser's job."""
        try:
            root = docs.parse(files.read_small(path), self.host, what)
        except MalformedResponse:
            return
        err = docs.error_in(root)
        if err and not docs.is_no_data(err.message):
            docs.raise_api_error(err, self.host)

    def _api_info(self) -> None:
        root = self._call(
            "GET", "/api/command", params={"action": "get_api_info"}, consume=self._xml_consumer("get_api_info"),
            what="get_api_info", permission=_PERM_COMMAND,
        )
        err = docs.error_in(root)
        if err:
            docs.raise_api_error(err, self.host)
        for node in root.iter():
            if docs.local_name(node.tag) == "timestamp" and (node.text or "").strip().isdigit():
                if self._clock_ref is None:
                    self._clock_ref = (float(node.text.strip()), time.monotonic())
                return

    def _read_body(self, resp: requests.Response) -> bytes:
        """The whole answer, counted; a connection dropped while reading is retried like any unreachable call."""
        try:
            body = resp.content
        except requests.RequestException as exc:
            raise _Retry(unreachable_error(exc, self.host, self.timeout)) from None
        self._add_bytes(len(body))
        return body

    def _xml_consumer(self, what: str) -> Callable[[requests.Response], Any]:
        def consume(resp: requests.Response):
            body = self._read_body(resp)
            try:
                return docs.parse(body, self.host, what)
            except MalformedResponse as exc:
                raise _Retry(exc) from None

        return consume

    def _reporting(self, params: dict[str, str], consume, *, what: str, stream: bool = False):
        if len(urlencode(params)) > _MAX_QUERY:
            return self._call("POST", "/api/reporting", data=params, consume=consume, what=what,
                              permission=_PERM_REPORTING, stream=stream)
        return self._call("GET", "/api/reporting", params=params, consume=consume, what=what,
                          permission=_PERM_REPORTING, stream=stream)

    def _download(self, method, path, params, data, dest: Path, fallback_ext: str, what: str, permission: str,
                  default_stem: str, recording: bool, retries: int | None = None) -> Download:
        def consume(resp: requests.Response) -> Download:
            tmp = files.temp_path_for(dest)
            try:
                size, head = self._stream(resp, tmp, what)
                ctype = resp.headers.get("Content-Type")
                if docs.root_name_from_prefix(head) == "error":
                    try:
                        root = docs.parse(files.read_small(tmp), self.host, what)
                    except MalformedResponse as exc:
                        raise _Retry(exc) from None
                    err = docs.error_in(root)
                    if err:
                        docs.raise_api_error(err, self.host, recording=recording)
                server_name = files.filename_from_disposition(resp.headers.get("Content-Disposition"))
                ext = files.choose_extension(server_name, ctype, fallback_ext)
                final = files.final_path(dest, ext, server_name, default_stem)
                os.replace(tmp, final)
                return Download(final, size, ctype, server_name, ext)
            finally:
                files.remove_quietly(tmp if tmp.exists() else None)

        return self._call(method, path, params=params, data=data, consume=consume, what=what,
                          permission=permission, stream=True, retries=retries)

    def _stream(self, resp: requests.Response, tmp: Path, what: str) -> tuple[int, bytes]:
        try:
            return files.stream_to(resp, tmp, self._add_bytes)
        except files.BodyCut:
            raise _Retry(unreachable_error(requests.exceptions.ChunkedEncodingError(), self.host, self.timeout)) from None

    # --- token ------------------------------------------------------------------------------
    def _mint(self) -> tuple[str, float]:
        def consume(resp: requests.Response) -> tuple[str, float]:
            try:
                payload = resp.json()
            except (ValueError, requests.RequestException):
                raise _Retry(MalformedResponse(f"The appliance at {self.host} answered the token request without JSON.")) from None
            token = payload.get("access_token") if isinstance(payload, dict) else None
            if not token or not isinstance(token, str):
                raise AuthenticationFailed(
                    f"The appliance at {self.host} did not issue an access token; check the API account's credentials."
                )
            token_type = str(payload.get("token_type") or "Bearer")
            if token_type.lower() != "bearer":
                raise MalformedResponse(f"The appliance at {self.host} issued an unsupported token type ({token_type[:20]}).")
            try:
                expires_in = float(payload.get("expires_in") or 3600)
            except (TypeError, ValueError, OverflowError):
                expires_in = 3600.0
            if not math.isfinite(expires_in) or expires_in <= 0:
                expires_in = 3600.0  # an absurd lifetime: a token rejected early is re-minted on its 401 anyway
            expires_in = min(expires_in, 86400.0)
            return token, expires_in

        basic = base64.b64encode(f"{self.client_id}:{self._secret}".encode("utf-8")).decode("ascii")
        result = self._call(
            "POST", "/oauth2/token", data={"grant_type": "client_credentials"}, consume=consume,
            what="the token request", permission="", authorization=f"Basic {basic}",
        )
        self._count("tokens_minted")
        log.debug("New access token for %s (valid %ds).", self.host, int(result[1]))
        return result

    # --- one HTTP call with retries ----------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        consume: Callable[[requests.Response], Any],
        what: str,
        permission: str,
        params: dict | None = None,
        data: dict | None = None,
        stream: bool = False,
        authorization: str | None = None,
        retries: int | None = None,
    ) -> Any:
        """Send, retrying 429/5xx/dropped connections with backoff, re-minting once on 401. ``authorization``
        set means this is the token request itself (Basic auth, no Bearer). ``retries``: fewer than max_retries."""
        is_token_call = authorization is not None
        limit = self.max_retries if retries is None else max(0, min(self.max_retries, int(retries)))
        failures = 0
        reauthed = False
        while True:
            token = None if is_token_call else self._tokens.get()
            headers = {"Authorization": authorization if is_token_call else f"Bearer {token}"}
            try:
                return self._attempt(method, path, params, data, headers, stream, consume, what, permission,
                                     is_token_call, token, reauthed)
            except _Reauth:
                reauthed = True
                self._count("reauth")
                self._tokens.invalidate(token)
                continue
            except _Retry as r:
                failures += 1
                if failures > limit:
                    log.warning("Giving up on %s at %s: %s", what, self.host, r.error)
                    raise r.error from None
                delay = backoff_delay(failures, self.base_delay, self.max_delay, r.retry_after)
                self._count("retries")
                self._count("waited", delay)
                log.info("Retrying %s at %s in %.2fs (%d of %d): %s", what, self.host, delay, failures, limit,
                         r.error)
                self._tell_retry(f"{r.error} Trying again in {max(1, round(delay))} s ({failures} of {limit}).")
                self._sleep(delay)

    def _tell_retry(self, text: str) -> None:
        """Let a progress display say why nothing moves while the client waits to retry (never breaks the call)."""
        callback = self.on_retry
        if callback is not None:
            try:
                callback(text)
            except Exception:  # noqa: BLE001 - a broken display must not stop a transfer
                log.debug("on_retry callback failed", exc_info=True)

    def _attempt(self, method, path, params, data, headers, stream, consume, what, permission, is_token_call,
                 token, reauthed):
        self._limiter.acquire()
        self._count("requests")
        started = time.monotonic()
        try:
            resp = self._session.request(method, self._base + path, params=params, data=data, headers=headers,
                                         stream=stream, timeout=(min(self.timeout, 30.0), self.timeout),
                                         allow_redirects=False)
        except requests.exceptions.SSLError as exc:
            raise tls_error(exc, self.host, self.ca_bundle) from None
        except requests.RequestException as exc:
            if is_dns_failure(exc):
                raise dns_error(self.host) from None
            log.debug("%s %s at %s failed: %s", method, what, self.host, type(exc).__name__)
            raise _Retry(unreachable_error(exc, self.host, self.timeout)) from None
        with resp:
            status = resp.status_code
            self._note(resp, status)
            log.debug("%s %s at %s: HTTP %d in %.2fs", method, what, self.host, status, time.monotonic() - started)
            if 200 <= status < 300:
                return consume(resp)
            if is_token_call:
                self._token_failure(status, resp)
            if status == 401:
                if reauthed:
                    raise AuthenticationFailed(
                        f"The appliance at {self.host} rejected a freshly issued access token; "
                        "check that the API account is enabled and has API access."
                    )
                raise _Reauth()
            if status == 403:
                raise PermissionDenied(
                    f"The API account on {self.host} lacks permission {permission}; enable it on the appliance."
                )
            if status == 429:
                raise _Retry.after(RateLimited(
                    f"The appliance at {self.host} kept refusing requests over its API rate limit (HTTP 429); "
                    "try again later or lower the request rate."), resp)
            if status >= 500:
                raise _Retry.after(ServerError(
                    f"The appliance at {self.host} kept failing with HTTP {status}; try again later."), resp)
            raise ApplianceAPIError(
                f"The appliance at {self.host} answered {what} with HTTP {status}; check the host name and that the "
                "appliance's XML API is enabled.",
                str(status),
            )

    def _token_failure(self, status: int, resp: requests.Response) -> None:
        if status in (400, 401):
            raise AuthenticationFailed(
                f"The appliance at {self.host} rejected the client ID or secret; check the API account's credentials."
            )
        if status == 429 or status >= 500:
            label = "rate limit (HTTP 429)" if status == 429 else f"HTTP {status}"
            cls = RateLimited if status == 429 else ServerError
            raise _Retry.after(
                cls(f"The appliance at {self.host} kept refusing the token request ({label}); try again later."), resp)
        raise AuthenticationFailed(
            f"The appliance at {self.host} refused the token request (HTTP {status}); check the site's host name and "
            "the API account."
        )

    # --- bookkeeping ------------------------------------------------------------------------
    def _note(self, resp: requests.Response, status: int) -> None:
        with self._stats_lock:
            by = self._stats["status"]
            by[status] = by.get(status, 0) + 1
        date = resp.headers.get("Date")
        if date:
            try:
                self._clock_ref = (parsedate_to_datetime(date).timestamp(), time.monotonic())
            except (TypeError, ValueError, IndexError):
                pass

    def _count(self, key: str, amount: float = 1) -> None:
        with self._stats_lock:
            self._stats[key] += amount

    def _add_bytes(self, n: int) -> None:
        self._count("bytes", n)


def _permission_error(head: bytes, host: str) -> str | None:
    """The sentence of an <error> answer that speaks of permissions [U]; None for any other answer."""
    if docs.root_name_from_prefix(head[:4096]) != "error":
        return None
    try:
        err = docs.error_in(docs.parse(head, host, "a permission probe"))
    except MalformedResponse:
        return None
    if err and re.search(r"permission|not authori[sz]ed|access denied|not allowed|forbidden", err.message, re.I):
        return err.message
    return None


class _Reauth(Exception):
    """Internal: the appliance rejected our token (401); mint a new one and replay once."""
