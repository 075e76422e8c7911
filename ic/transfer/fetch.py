"""Fetch: session details from the appliance, with every detail-level retry rule in one place.

The client (ic/appliance/client.py) retries one HTTP call (429, 5xx, dropped or short bodies, 401). Everything above
one call lives here:

* a truncated or malformed document is asked for again for the sessions it did not deliver (``PARSE_RETRIES``);
* lsids the appliance did not return are asked for again until a request brings none (an answer may be capped);
* a batch the appliance refuses whole because one session is unknown (``UnknownSession``, "Invalid lsid.") is asked
  for session by session; the unknown one is reported as missing;
* a batch whose answer keeps breaking off on the way (the client's retries ran out) is asked for session by session:
  one whose answer alone keeps breaking off while others arrive whole comes back as :class:`Poisoned` (no XML);
  when none arrives whole the error is raised (appliance or network down);
* a session that cannot be read (a value out of range, nesting too deep, XML broken in the middle of the document
  rather than cut short at its end) is isolated by asking for the rest one by one: it comes back as
  :class:`Poisoned` with its raw XML for the quarantine, while the others are returned. Documents that keep
  arriving cut short (``PARSE_RETRIES`` + 1 times) are the appliance's fault: the batch fails as "malformed" and the
  run stops (it continues from there next time), as before.

Documents are downloaded by a small thread pool (several batches in flight: hides appliance latency; the client is
thread-safe and rate-limits itself) into the run's temp folder; parsing happens in the caller's thread.
"""
from __future__ import annotations

import itertools
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ic.errors import ApplianceAPIError, ApplianceUnreachable, ParseError, SessionValueError, UnknownSession
from ic.sessions.model import Session

log = logging.getLogger("ic.transfer")

PARSE_RETRIES = 2  # a truncated detail document is asked for again (remaining lsids only) this many times


@dataclass
class Poisoned:
    """A session whose details cannot be read; ``raw`` is its document as sent (a temp file the caller consumes)."""

    lsid: str
    reason: str
    field: str | None = None
    raw: bytes | Path | None = None


@dataclass
class Details:
    sessions: list[Session] = field(default_factory=list)  # in the order of the lsids asked for
    missing: list[str] = field(default_factory=list)  # asked for, not returned (deleted meanwhile)
    poisoned: list[Poisoned] = field(default_factory=list)
    error: ParseError | None = None  # the appliance keeps sending malformed XML: stop the run (sessions: what came)


def is_unknown_session(exc: BaseException) -> bool:
    """The appliance does not know a session asked for ("Invalid lsid."): the client raises UnknownSession."""
    return isinstance(exc, UnknownSession)


def cut_short(path: Path) -> bool:
    """Does this document break only where its bytes end (a transfer cut short: ask again), rather than in the
    middle (one session's XML is broken: asking again gives the same)? Streams the file through libxml2's push
    parser: an error while feeding is in the middle; an error only at close is at the end."""
    from lxml import etree

    parser = etree.XMLPullParser(events=("end",), resolve_entities=False, no_network=True, load_dtd=False)
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 16), b""):
                parser.feed(chunk)
                for _, elem in parser.read_events():
                    elem.clear()
    except etree.XMLSyntaxError:
        return False
    except OSError:
        return True
    try:
        parser.close()
    except etree.XMLSyntaxError:
        return True
    return False


class DetailFetcher:
    def __init__(self, client, tmp: Path, site_host: str, *, workers: int = 1,
                 check_cancel: Callable[[], None] = lambda: None,
                 parse: Callable[[Path, str, str], Iterable[Session]] | None = None) -> None:
        self.client = client
        self.tmp = tmp
        self.site_host = site_host
        self.check_cancel = check_cancel
        self._parse = parse or _iter_sessions
        self._names = itertools.count()  # next() is atomic: used from several threads
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="ic-details")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "DetailFetcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- download (pool threads: only the thread-safe client is used) --------------------------------------------
    def submit(self, lsids: list[str]) -> Future:
        """Start downloading the documents of a batch; hand the future to :meth:`get`."""
        return self._pool.submit(self.download, list(lsids))

    def download(self, lsids: list[str]) -> list[Path]:
        """Documents holding the details of ``lsids`` (one, or one per lsid when the appliance refused the batch
        because of an unknown session; an unknown single lsid gives none)."""
        path = self._new_path()
        try:
            self.client.fetch_sessions_to_file(path, lsids=lsids)
            return [path]
        except ApplianceAPIError as exc:
            path.unlink(missing_ok=True)
            if not is_unknown_session(exc):
                raise
            if len(lsids) == 1:
                return []
            log.warning("The appliance %s refused a batch of %d session(s) (%s); asking for each one.",
                        self.site_host, len(lsids), exc)
        paths: list[Path] = []
        for lsid in lsids:
            one = self._new_path()
            try:
                self.client.fetch_sessions_to_file(one, lsids=[lsid])
                paths.append(one)
            except ApplianceAPIError as exc:
                one.unlink(missing_ok=True)
                if not is_unknown_session(exc):
                    for p in paths:
                        p.unlink(missing_ok=True)
                    raise
        return paths

    def _new_path(self) -> Path:
        return self.tmp / f"details-{next(self._names)}.xml"

    # --- get (caller's thread) -----------------------------------------------------------------------------------
    def get(self, lsids: list[str], first: Future | None = None) -> Details:
        """Details of ``lsids`` (``first``: their document already submitted), with every retry rule applied."""
        out = Details()
        got: dict[str, Session] = {}
        poisoned: dict[str, Poisoned] = {}
        try:
            error = self._collect(lsids, first, got, poisoned)
        except ApplianceUnreachable as exc:  # may be one session's document breaking off every time
            if len(lsids) < 2:
                raise
            error = self._split_after_break(lsids, got, poisoned, exc)
        missing = [x for x in lsids if x not in got and x not in poisoned]
        while missing and error is None:
            # not returned: maybe the appliance capped the answer; ask again until a request brings none
            before = len(got) + len(poisoned)
            error = self._collect(missing, None, got, poisoned)
            if len(got) + len(poisoned) == before:
                break
            missing = [x for x in missing if x not in got and x not in poisoned]
        out.sessions = [got[x] for x in lsids if x in got]  # sessions not asked for are ignored
        out.poisoned = list(poisoned.values())
        out.missing = [] if error is not None else [x for x in lsids if x not in got and x not in poisoned]
        out.error = error
        return out

    def _collect(self, lsids: list[str], first: Future | None, got: dict[str, Session],
                 poisoned: dict[str, Poisoned]) -> ParseError | None:
        remaining = list(lsids)
        attempt = 0
        while remaining:
            paths = first.result() if first is not None and attempt == 0 else self.download(remaining)
            failure, cut, _ = self._parse_into(paths, len(remaining), got)
            remaining = [x for x in remaining if x not in got]
            if failure is None or not remaining:
                return None
            self.check_cancel()
            if not cut:
                log.warning("A session in the details from %s cannot be read (%s); asking for the other %d one by "
                            "one.", self.site_host, _reason(failure), len(remaining))
                return self._one_by_one(remaining, got, poisoned)
            attempt += 1
            if attempt > PARSE_RETRIES:
                return self._malformed(failure, attempt)
            log.warning("Session details from %s were cut short (%s); asking again for %d session(s).",
                        self.site_host, failure, len(remaining))
        return None

    def _malformed(self, failure: BaseException, attempts: int) -> ParseError:
        return ParseError(
            f"The appliance {self.site_host} sent malformed session details {attempts} times in a row ({failure}); "
            "the run continues from here next time.",
            getattr(failure, "source", None), getattr(failure, "line", None))

    def _split_after_break(self, lsids: list[str], got: dict[str, Session], poisoned: dict[str, Poisoned],
                           exc: ApplianceUnreachable) -> ParseError | None:
        """The batch's answer kept breaking off (the client's retries ran out): ask for each session alone. A session
        whose answer alone keeps breaking off while others come whole is poisoned (set aside, tried again at later
        runs); when none comes whole the appliance or the network is at fault and ``exc`` is raised."""
        log.warning("Session details from %s kept breaking off (%s); asking for the %d session(s) one by one.",
                    self.site_host, exc, len(lsids))
        broken: list[str] = []
        whole = 0
        for lsid in lsids:
            if lsid in got or lsid in poisoned:
                continue
            self.check_cancel()
            try:
                outcome = self._alone(lsid, got)
            except ApplianceUnreachable:
                broken.append(lsid)
                continue
            if isinstance(outcome, ParseError):
                return outcome
            if isinstance(outcome, Poisoned):
                poisoned[lsid] = outcome
            whole += 1
        if broken and not whole:
            raise exc
        for lsid in broken:
            poisoned[lsid] = Poisoned(lsid, f"its details from {self.site_host} keep breaking off on the way while "
                                            f"other sessions arrive whole ({str(exc).rstrip('.')})")
        return None

    def _one_by_one(self, lsids: list[str], got: dict[str, Session],
                    poisoned: dict[str, Poisoned]) -> ParseError | None:
        """Ask for each session alone: one that is unreadable alone (not merely cut short) is poisoned; documents
        that keep arriving cut short are the appliance's fault (returned error: the run stops)."""
        for lsid in lsids:
            self.check_cancel()
            outcome = self._alone(lsid, got)
            if isinstance(outcome, ParseError):
                return outcome
            if isinstance(outcome, Poisoned):
                poisoned[lsid] = outcome
        return None

    def _alone(self, lsid: str, got: dict[str, Session]) -> Poisoned | ParseError | None:
        """Fetch one session alone (a cut-short answer is asked for again)."""
        failure: BaseException | None = None
        for attempt in range(PARSE_RETRIES + 1):
            paths = self.download([lsid])
            if not paths:
                return None  # unknown to the appliance now: missing
            failure, cut, raw = self._parse_into(paths, 1, got, keep_raw=True)
            if failure is None or lsid in got:
                return None
            if not cut:
                return Poisoned(lsid, _reason(failure), getattr(failure, "field", None), raw)
            if attempt < PARSE_RETRIES:
                log.warning("Session %s from %s was cut short (%s); asking again.", lsid, self.site_host, failure)
        assert failure is not None
        return self._malformed(failure, PARSE_RETRIES + 1)

    def _parse_into(self, paths: list[Path], count: int, got: dict[str, Session], keep_raw: bool = False
                    ) -> tuple[BaseException | None, bool, Path | None]:
        """Parse the documents into ``got``. Returns (first failure or None, was that document only cut short,
        the failing document, kept aside, when ``keep_raw`` and it is not merely cut short). An ``<error>`` inside a
        document is raised."""
        failure: BaseException | None = None
        cut = False
        raw: Path | None = None
        try:
            for path in paths:
                try:
                    for s in self._parse(path, f"session details ({count} lsids)", self.client.product):
                        got[s.lsid] = s
                except ApplianceAPIError:
                    raise
                except (ParseError, ValueError, ArithmeticError, RecursionError, LookupError, TypeError,
                        AttributeError) as exc:
                    if failure is None:
                        failure = exc
                        cut = (isinstance(exc, ParseError) and not isinstance(exc, SessionValueError)
                               and cut_short(path))
                        if keep_raw and not cut:
                            kept = path.with_name(path.name + ".poisoned")
                            try:
                                path.replace(kept)  # moved into the quarantine later, never read into memory
                                raw = kept
                            except OSError:
                                raw = None
        finally:
            for path in paths:
                path.unlink(missing_ok=True)
        return failure, cut, raw


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, ParseError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _iter_sessions(path: Path, name: str, product: str) -> Iterable[Session]:
    from ic.sessions.parser import iter_sessions

    return iter_sessions(path, name, product)
