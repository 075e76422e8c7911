"""Database URLs, shared by the settings store and the SQL destination (neither imports the other).

- :func:`normalize_url`: what the user typed (a SQLAlchemy URL, or an old ODBC / ADO.NET string) -> a URL to store;
  :func:`absolute_sqlite` makes a relative SQLite path absolute (the scheduled task runs in another folder).
- :func:`engine_kwargs`: ``create_engine`` options decided from the URL text (pool_pre_ping, login timeouts).
- :func:`error_reason` / :func:`scrubbed_reason`: the driver's first line for a message, passwords masked.
- :func:`same_database`: IDENTITY, NOT SPELLING. Two URLs name one database when they are the same file (device and
  inode: a hard link, a symbolic link or ``./`` spelling is caught) or when the server itself reports the same
  identity for both (PostgreSQL ``localhost`` and ``127.0.0.1`` are one server).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import URL, Connection, Engine, make_url

from ic import connection_string as cs  # neutral too: imports nothing of ic but ic.errors

__all__ = [
    "LOGIN_TIMEOUT",
    "IDENTITY_TIMEOUT",
    "ServerIdentity",
    "absolute_sqlite",
    "engine_kwargs",
    "error_reason",
    "file_identity",
    "normalize_url",
    "same_database",
    "scrubbed_reason",
    "server_identity",
    "identity_query",
    "spelled_identity",
]

LOGIN_TIMEOUT = 30  # seconds to wait for a database server to accept the connection
IDENTITY_TIMEOUT = 5  # the settings-vs-storage check asks the server; it must not hang a Save button


# --- normalising --------------------------------------------------------------------------------------------------
def normalize_url(url: str) -> str:
    """Accept ODBC/ADO.NET strings; a bare postgresql:// means psycopg 3 (the driver this program ships)."""
    url = cs.normalize(url)
    u = make_url(url)
    if u.drivername == "postgresql":
        url = u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def absolute_sqlite(url: str) -> str:
    """sqlite:///rel.db means rel.db in the current folder; the scheduled task runs elsewhere, so store the full path."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - the plugin's validate() names the problem
        return url
    db = parsed.database
    if parsed.get_backend_name() != "sqlite" or not db or db == ":memory:" or db.startswith("file:") \
            or os.path.isabs(db):
        return url
    return parsed.set(database=os.path.abspath(db)).render_as_string(hide_password=False)


# --- engines and their errors -------------------------------------------------------------------------------------
def engine_kwargs(url: str | URL, login_timeout: int = LOGIN_TIMEOUT) -> dict[str, Any]:
    """create_engine options for this URL (pure: decided from the URL text alone)."""
    u = make_url(url) if isinstance(url, str) else url
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    backend = u.get_backend_name()
    if backend == "sqlite":
        kwargs["connect_args"] = {"timeout": 30}
    elif backend == "mssql" and u.get_driver_name() == "pyodbc":
        kwargs["connect_args"] = {"timeout": login_timeout}  # pyodbc: the ODBC login timeout
        if cs.use_fast_executemany(u):
            kwargs["fast_executemany"] = True
    elif backend == "postgresql" and u.get_driver_name() in ("psycopg", "psycopg2") and "connect_timeout" not in u.query:
        kwargs["connect_args"] = {"connect_timeout": login_timeout}  # libpq waits for TCP's own timeout otherwise
    return kwargs


def error_reason(exc: BaseException) -> str:
    """The first line of the driver's message, without a final full stop (may still hold a password: scrub it)."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    args = getattr(orig, "args", ())
    if len(args) == 2 and all(isinstance(a, str) for a in args) and re.fullmatch(r"[0-9A-Z]{5}", args[0]):
        text = args[1].strip()  # pyodbc: ('08001', '[08001] [Microsoft][ODBC Driver 18 ...]...'): the message
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return first.rstrip(".")[:300]


def scrubbed_reason(exc: BaseException, url: str | None = None, limit: int = 200) -> str:
    """:func:`error_reason` with the URL's passwords masked and, for a SQL Server refusing its TLS certificate, the
    setting that fixes it."""
    text = error_reason(exc)[:limit]
    if url:
        for secret in cs.url_secrets(url):
            text = text.replace(secret, cs.MASK)
        text += cs.encryption_hint(url, text)
    return text


# --- identity -----------------------------------------------------------------------------------------------------
def file_identity(path: str) -> tuple:
    """What makes a SQLite file itself: (device, inode) when it exists; for a file not made yet, the identity of
    the folder it will be made in plus its name (so two spellings of one new file are still one)."""
    try:
        st = os.stat(path)
        return ("file", st.st_dev, st.st_ino)
    except OSError:
        pass
    folder, name = os.path.split(os.path.abspath(path))
    try:
        st = os.stat(folder)
        return ("new", st.st_dev, st.st_ino, os.path.normcase(name))
    except OSError:
        return ("path", os.path.normcase(os.path.realpath(path)))


def spelled_identity(url: str) -> tuple[str, str, int | None, str]:
    """(backend, server, port, database) as written (case-folded; SQL Server "host,port" split)."""
    u = make_url(url)
    p = cs.parse_url(url)  # knows ODBC strings inside mssql URLs
    server, port = (p.server or "localhost").lower(), p.port
    if "," in server:  # SQL Server "host,port"
        server, _, port_text = server.partition(",")
        port = int(port_text) if port_text.strip().isdigit() else port
    return u.get_backend_name(), server.strip(), port, (p.database or "").lower()


@dataclass(frozen=True)
class ServerIdentity:
    """What a database server says about itself. ``None`` fields are unknown (e.g. no permission to ask)."""

    server: str | None  # PostgreSQL system_identifier, SQL Server @@SERVERNAME, MySQL @@server_uuid/@@hostname
    started: str | None  # PostgreSQL pg_postmaster_start_time() (tells a replica from its primary)
    port: str | None
    database: str | None

    def same_as(self, other: "ServerIdentity") -> bool:
        """Proven the same: the database matches and every field both sides know agrees (at least one of them)."""
        if not self.database or self.database != other.database:
            return False
        strong = [(a, b) for a, b in ((self.server, other.server), (self.started, other.started))
                  if a is not None and b is not None]
        port_agrees = self.port is None or other.port is None or self.port == other.port
        return bool(strong) and all(a == b for a, b in strong) and port_agrees


_IDENTITY_SQL = {
    "postgresql": "SELECT NULL, CAST(pg_postmaster_start_time() AS text), current_setting('port'), current_database()",
    "mssql": "SELECT CAST(@@SERVERNAME AS nvarchar(256)), NULL, NULL, CAST(DB_NAME() AS nvarchar(256))",
    "mysql": "SELECT COALESCE(@@server_uuid, @@hostname), NULL, CAST(@@port AS char), DATABASE()",
}
_PG_SYSTEM_ID = "SELECT CAST(system_identifier AS text) FROM pg_control_system()"


def identity_query(backend: str) -> str | None:
    """The SQL that asks a server who it is (None: this backend cannot be asked)."""
    return _IDENTITY_SQL.get("mysql" if backend == "mariadb" else backend)


def server_identity(conn: Connection) -> ServerIdentity | None:
    """Ask the server behind ``conn`` who it is; None when it cannot be asked."""
    from sqlalchemy import text

    backend = conn.dialect.name
    sql = identity_query(backend)
    if sql is None:
        return None
    if backend == "mysql" or backend == "mariadb":
        try:
            row = conn.execute(text(sql)).first()
        except Exception:  # noqa: BLE001 - MariaDB has no @@server_uuid
            conn.rollback()
            row = conn.execute(text(sql.replace("COALESCE(@@server_uuid, @@hostname)", "@@hostname"))).first()
    else:
        row = conn.execute(text(sql)).first()
    if row is None:
        return None
    server = row[0]
    if backend == "postgresql":
        try:
            with conn.begin_nested():
                server = conn.execute(text(_PG_SYSTEM_ID)).scalar()
        except Exception:  # noqa: BLE001 - pg_control_system() may be closed to this user: start time + port remain
            server = None
    as_text = [None if v is None else str(v) for v in (server, row[1], row[2], row[3])]
    return ServerIdentity(*as_text)


def _identity_of(url: str, engine: Engine | None) -> ServerIdentity | None:
    from sqlalchemy import create_engine

    own = engine is None
    try:
        if own:
            engine = create_engine(url, **{k: v for k, v in engine_kwargs(url, IDENTITY_TIMEOUT).items()
                                           if k != "fast_executemany"})
        with engine.connect() as conn:
            return server_identity(conn)
    except Exception:  # noqa: BLE001 - unreachable, no driver, no permission: unknown, not "the same"
        return None
    finally:
        if own and engine is not None:
            engine.dispose()


def same_database(url_a: str, url_b: str, *, ask_server: bool = True, engine_b: Engine | None = None) -> bool:
    """True when two SQLAlchemy URLs are one database (the guide keeps settings and storage apart).

    SQLite: the same file (device and inode). Servers: the same spelling, or, when only the spelling of the server
    differs, the same identity as the servers themselves report (``ask_server``; ``engine_b`` is an open engine for
    ``url_b``, e.g. the settings store's). An unreachable server counts as "not proven the same".
    """
    try:
        url_a, url_b = normalize_url(url_a), normalize_url(url_b)  # an ODBC string is a URL here
        a, b = make_url(url_a), make_url(url_b)
    except Exception:  # noqa: BLE001 - an unparsable URL is simply not the same database
        return False
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        da, db = a.database or "", b.database or ""
        if not da or not db or ":memory:" in (da, db) or da.startswith("file:") or db.startswith("file:"):
            return bool(da) and da == db and da != ":memory:"
        return file_identity(da) == file_identity(db)
    try:
        spelled_a, spelled_b = spelled_identity(url_a), spelled_identity(url_b)
    except Exception:  # noqa: BLE001 - an unparsable URL is simply not the same database
        return False
    if spelled_a == spelled_b:
        return True
    if not ask_server or (spelled_a[3] and spelled_b[3] and spelled_a[3] != spelled_b[3]):
        return False  # two database names on any servers are two databases
    ident_a = _identity_of(url_a, None)
    ident_b = _identity_of(url_b, engine_b) if ident_a is not None else None
    return ident_a is not None and ident_b is not None and ident_a.same_as(ident_b)
