"""One run per slot across hosts: a lease row per schedule in the settings database.

Hosts that share one settings database (SQL Server or PostgreSQL, as the guide allows) take a schedule's lease
before running it. Taking it is ONE conditional UPDATE (atomic on SQLite, PostgreSQL and SQL Server alike):

    UPDATE ic_lease SET holder = me, token = T, expires = now + ttl
     WHERE name = 'schedule:X' AND (holder IS NULL OR expires < now OR holder = me)

followed by reading the token back (SQL Server with NOCOUNT ON reports no row count). A thread renews the lease while
the run goes on; the run releases it at the end. A host that dies keeps it only until it expires; another host then
takes it and resumes from the saved transfer state. "now" is the database server's clock (PostgreSQL, SQL Server),
so hosts whose clocks differ agree on expiry; SQLite is one machine's file, its clock is the host's.

The lease is in addition to the per-machine OS lock (ic.transfer.lock), never instead of it.
"""
from __future__ import annotations

import logging
import os
import re
import socket
import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from ic import paths
from ic.settings import schema as s

log = logging.getLogger("ic.scheduling.lease")

DEFAULT_TTL = 120.0  # seconds; renewed every ttl/3
Clock = Callable[[], datetime]  # naive or aware UTC


def _naive(value: datetime) -> datetime:
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def install_id() -> str:
    """A random id made once per install (data folder), so two machines cloned from one image still differ by
    hostname and two installs on one host differ by this."""
    path = paths.data_dir() / "install-id"
    try:
        value = path.read_text(encoding="ascii").strip()
        if re.fullmatch(r"[0-9a-f]{12}", value):
            return value
    except OSError:
        pass
    value = uuid.uuid4().hex[:12]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(value, encoding="ascii")
        os.replace(tmp, path)
    except OSError:  # read-only data folder: an id per process is still unique, only less stable
        pass
    return value


def host_id() -> str:
    """hostname/install-id (IC_HOST_ID overrides it: tests, or a cluster that names its nodes)."""
    return os.environ.get("IC_HOST_ID") or f"{socket.gethostname()}/{install_id()}"


def host_name(holder: str | None) -> str | None:
    """The hostname part of a host id, for display."""
    return holder.rsplit("/", 1)[0] if holder and "/" in holder else holder


def db_now(conn) -> datetime:
    """The database server's UTC clock (naive); the host's for SQLite and anything else."""
    dialect = conn.dialect.name
    try:
        if dialect == "postgresql":
            return _naive(conn.execute(text("SELECT timezone('utc', now())")).scalar())
        if dialect == "mssql":
            return _naive(conn.execute(text("SELECT SYSUTCDATETIME()")).scalar())
    except Exception:  # noqa: BLE001 - fall back to the host clock
        log.debug("Could not read the database clock; using the host clock.", exc_info=True)
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Lease:
    """``lease = Lease(store, "schedule:Nightly"); if lease.acquire(): ... lease.release()``."""

    def __init__(self, store, name: str, holder: str | None = None, *, ttl: float = DEFAULT_TTL,
                 clock: Clock | None = None) -> None:
        self.store, self.name = store, name[:250]
        self.holder = holder or host_id()
        self.ttl = timedelta(seconds=ttl)
        self.clock = clock
        self.token: str | None = None

    def _now(self, conn) -> datetime:
        return _naive(self.clock()) if self.clock else db_now(conn)

    def acquire(self) -> bool:
        """Take the lease if it is free, expired or already ours. Never blocks."""
        token = uuid.uuid4().hex
        lt = s.leases
        try:
            with self.store.engine.begin() as conn:
                if conn.execute(select(lt.c.name).where(lt.c.name == self.name)).first() is None:
                    conn.execute(insert(lt).values(name=self.name, holder=None))
        except IntegrityError:  # another host inserted the row at the same moment: fine, compete below
            pass
        with self.store.engine.begin() as conn:
            now = self._now(conn)
            conn.execute(
                update(lt)
                .where(lt.c.name == self.name,
                       or_(lt.c.holder.is_(None), lt.c.expires.is_(None), lt.c.expires < now, lt.c.holder == self.holder))
                .values(holder=self.holder, token=token, host=host_name(self.holder)[:200], acquired=now,
                        expires=now + self.ttl)
            )
        with self.store.engine.connect() as conn:
            got = conn.execute(select(lt.c.token).where(lt.c.name == self.name)).scalar() == token
        self.token = token if got else None
        return got

    def renew(self) -> bool:
        """Extend the lease; False when it was lost (expired and taken by another host)."""
        if self.token is None:
            return False
        lt = s.leases
        with self.store.engine.begin() as conn:
            now = self._now(conn)
            conn.execute(update(lt).where(lt.c.name == self.name, lt.c.token == self.token)
                         .values(expires=now + self.ttl))
        with self.store.engine.connect() as conn:
            ok = conn.execute(select(lt.c.token).where(lt.c.name == self.name)).scalar() == self.token
        if not ok:
            self.token = None
        return ok

    def release(self) -> None:
        if self.token is None:
            return
        lt = s.leases
        try:
            with self.store.engine.begin() as conn:
                conn.execute(update(lt).where(lt.c.name == self.name, lt.c.token == self.token)
                             .values(holder=None, token=None, expires=None))
        except Exception as exc:  # noqa: BLE001 - the lease then simply expires
            log.warning("Could not release the lease %s (it expires by itself): %s", self.name, exc)
        self.token = None

    @property
    def held(self) -> bool:
        return self.token is not None


class LeaseKeeper:
    """Renews a lease from a thread while a run goes on; ``on_lost`` is called once if it is lost (cancel the run:
    another host may have taken over)."""

    def __init__(self, lease: Lease, on_lost: Callable[[], None] | None = None, every: float | None = None) -> None:
        self.lease, self.on_lost = lease, on_lost
        self.every = every if every is not None else max(0.05, lease.ttl.total_seconds() / 3)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease {lease.name}", daemon=True)
        self.lost = False

    def __enter__(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        import time

        renewed = time.monotonic()
        while not self._stop.wait(self.every):
            try:
                ok = self.lease.renew()
            except Exception as exc:  # noqa: BLE001 - a database hiccup: try again while the lease is still ours
                ok = time.monotonic() - renewed < self.lease.ttl.total_seconds() - self.every
                log.warning("Could not renew the lease %s: %s", self.lease.name, exc)
                if ok:
                    continue
            else:
                renewed = time.monotonic()
            if not ok:
                self.lost = True
                log.error("Lost the lease %s (it expired; another host may run it now); stopping this run.",
                          self.lease.name)
                if self.on_lost:
                    self.on_lost()
                return


def holders(store, prefix: str = "schedule:", now: datetime | None = None) -> dict[str, tuple[str, datetime]]:
    """{lease name without prefix: (hostname, expires)} for the leases held now."""
    lt = s.leases
    with store.engine.connect() as conn:
        current = _naive(now) if now else db_now(conn)
        rows = conn.execute(select(lt.c.name, lt.c.holder, lt.c.expires)
                            .where(lt.c.holder.is_not(None), lt.c.expires >= current)).all()
    return {name[len(prefix):]: (host_name(holder), expires) for name, holder, expires in rows
            if name.startswith(prefix)}
