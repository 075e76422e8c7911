"""The SQL destination ("SQL Server" in the guide): session data into the storage tables of sql_schema.

Works on SQL Server (mssql+pyodbc, the guide's default), PostgreSQL (psycopg), MySQL/MariaDB and SQLite.
A batch of sessions is written in ONE transaction: rows already stored for the same (host_name, lsid) are deleted
and the new ones inserted, so storing a session again (or a session that has ended since) replaces it whole.
"""
from __future__ import annotations

import itertools
import logging
import os
from typing import Callable, Iterable, Iterator

from sqlalchemy import Engine, create_engine, delete, event, insert, inspect, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

from ic.dburl import LOGIN_TIMEOUT, engine_kwargs, error_reason, normalize_url, scrubbed_reason  # noqa: F401
from ic import connection_string as cs
from ic.destinations import sql_schema as t
from ic.destinations.base import Destination, FieldSpec
from ic.errors import ConfigError, DestinationError, DestinationUnavailable
from ic.sessions.model import Session
from ic.sessions.timeutil import from_unix

log = logging.getLogger(__name__)

BATCH_SIZE = 50  # sessions per transaction: all of a batch lands or none of it
TEST_OK = "Connected to DB; tables ready."

# DB-API module -> what to install
_DRIVER_PACKAGES = {
    "pyodbc": "pyodbc",
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "pymysql": "PyMySQL",
    "MySQLdb": "mysqlclient",
    "mariadb": "mariadb",
    "pymssql": "pymssql",
}


def driver_problem(url: str) -> str | None:
    """One sentence naming the Python driver to install when the URL's DB-API module cannot be imported."""
    u = make_url(url)
    try:
        dialect_cls = u.get_dialect()
    except Exception:  # noqa: BLE001 - unknown dialect name
        return f"The database type '{u.drivername}' is not supported; use mssql+pyodbc, postgresql+psycopg, mysql+pymysql or sqlite."
    try:
        dialect_cls.import_dbapi()
    except ImportError as exc:
        module = (getattr(exc, "name", None) or "").split(".")[0]
        package = _DRIVER_PACKAGES.get(module, module or u.get_driver_name())
        return (f"The Python database driver for {u.drivername} is not installed: install {package} "
                "(pip install " + package + ") or choose a URL whose driver is installed.")
    if u.get_backend_name() == "mssql" and u.get_driver_name() == "pyodbc":
        driver = cs.odbc_driver(u)
        installed = cs.installed_odbc_drivers()
        if driver and "/" not in driver and "\\" not in driver and installed and driver not in installed:
            return f"The ODBC driver '{driver}' is not installed on this computer; install it or pick one of: {', '.join(installed)}."
    return None


class SqlDestination(Destination):
    type_name = "sql"
    display_name = "SQL Server"
    accepts_files = False

    def __init__(self, name: str, config: dict) -> None:
        super().__init__(name, config)
        self._engine: Engine | None = None
        self._tables_ready = False

    # --- configuration ------------------------------------------------------------------------
    @classmethod
    def fields(cls) -> list[FieldSpec]:
        return [
            FieldSpec("url", "Connection String", kind="connection_string", required=True, secret=True,
                      help="SQLAlchemy URL of the storage database, e.g. mssql+pyodbc:///?odbc_connect=… "
                           "(use the […] button), postgresql+psycopg://user@host/db or sqlite:///C:/data/ic.db"),
            FieldSpec("system_info", "Should Store System Information", kind="bool", default=False,
                      help="Store the System Information collected during a remote session (large; off by default)."),
        ]

    @classmethod
    def validate(cls, config: dict) -> dict[str, str]:
        problems = super().validate(config)
        if problems:
            return problems
        try:
            url = normalize_url(str(config["url"]))
        except ConfigError as exc:
            return {"url": str(exc)}
        except Exception:  # noqa: BLE001 - never echo the URL: it may hold a password
            return {"url": "The connection string is not a valid database URL."}
        problem = driver_problem(url)
        if problem:
            return {"url": problem}
        return {}

    @property
    def store_system_info(self) -> bool:
        value = self.config.get("system_info", False)
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)

    # --- connection ---------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            problems = self.validate(self.config)
            if problems:
                raise ConfigError(f"Destination {self.name}: {next(iter(problems.values()))}", field="url")
            url = normalize_url(str(self.config["url"]))
            u = make_url(url)
            if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
                folder = os.path.dirname(os.path.abspath(u.database))
                try:
                    os.makedirs(folder, exist_ok=True)
                except OSError as exc:  # a file in the way, no permission, no such drive: the user's to fix
                    raise ConfigError(
                        f"Destination {self.name}: cannot create the folder {folder} for its SQLite file "
                        f"({exc.strerror or exc}); choose another file in the connection string.",
                        field="url",
                    ) from None
            # No ping per checkout (a round trip per batch on a server): a connection the server dropped meanwhile
            # fails the batch's first statement, and the batch runs again on a new one (_write_with_retry).
            self._engine = create_engine(url, **{**engine_kwargs(url), "pool_pre_ping": False})
            if u.get_backend_name() == "sqlite":
                event.listen(self._engine, "connect", _sqlite_connect)
                event.listen(self._engine, "begin", _sqlite_begin)
        return self._engine

    def _url(self) -> str:
        raw = str(self.config.get("url", ""))
        try:
            return normalize_url(raw)
        except Exception:  # noqa: BLE001 - only used to describe / scrub
            return raw

    def _where(self) -> str:
        return f"SQL destination {self.name} ({cs.describe(self._url())})"

    def _fail(self, exc: SQLAlchemyError, doing: str) -> DestinationError:
        """One sentence naming the destination, with the driver's first line, passwords scrubbed."""
        reason = scrubbed_reason(exc, self._url(), limit=300)  # ic.dburl: the settings store says it the same way
        unavailable = isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)
        cls = DestinationUnavailable if unavailable else DestinationError
        return cls(f"Cannot {doing} {self._where()}: {reason}.")

    def _ensure_tables(self, conn: Connection) -> None:
        if _all_columns_there(conn):
            return
        existing = {name.lower() for name in inspect(conn).get_table_names()}
        t.metadata.create_all(conn, checkfirst=True)
        added = add_missing_columns(conn, [tb for tb in t.ALL_TABLES if tb.name.lower() in existing])
        if added:
            log.info("Destination %s: added columns %s to its existing tables.", self.name, ", ".join(added))

    # --- Destination API ----------------------------------------------------------------------
    def test(self) -> str:
        def check() -> None:
            with self.engine.connect() as conn:
                trans = conn.begin()
                try:
                    self._ensure_tables(conn)
                    conn.execute(select(t.session.c.id).limit(1)).all()
                finally:
                    if not conn.invalidated:  # a dropped connection: its error is raised (and retried) instead
                        trans.rollback()

        try:
            self._once_more_if_dropped(check)
        except SQLAlchemyError as exc:
            raise self._fail(exc, "connect to") from None
        return TEST_OK

    def store_sessions(self, site_host: str, sessions: Iterable[Session]) -> int:
        if not site_host:
            raise ConfigError(f"Sessions for destination {self.name} need the site host name they came from.")
        stored = 0
        try:
            if not self._tables_ready:
                self._once_more_if_dropped(self._ensure_tables_now)
                self._tables_ready = True
            for batch in _batches(sessions, BATCH_SIZE):
                stored += self._write_with_retry(site_host, batch)
        except SQLAlchemyError as exc:
            raise self._fail(exc, "write sessions to") from None
        return stored

    def _ensure_tables_now(self) -> None:
        with self.engine.begin() as conn:
            self._ensure_tables(conn)

    def _once_more_if_dropped(self, work):
        """``work()``, and once more on a new connection when the pooled one had been dropped by the server (a
        restart, an idle timeout): its first statement failed, so nothing of it was written."""
        try:
            return work()
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            log.info("Destination %s: the database had closed the connection; connecting again.", self.name)
        return work()

    def _write_with_retry(self, site_host: str, batch: list[Session]) -> int:
        """One transaction per batch; once more if another writer stored one of these sessions meanwhile
        (the unique (host_name, lsid) key refused our insert: the retry deletes and replaces its rows), if the
        database chose it as a deadlock victim, or if the pooled connection had been dropped (replacing is
        idempotent: a batch written twice is stored once)."""
        def write() -> int:
            with self.engine.begin() as conn:
                return write_batch(conn, site_host, batch, self.store_system_info)

        try:
            return self._once_more_if_dropped(write)
        except IntegrityError:
            log.info("Destination %s: a session was stored concurrently; writing the batch again.", self.name)
        except DBAPIError as exc:
            if not _is_deadlock(exc):
                raise
            log.info("Destination %s: the database chose this batch as a deadlock victim; writing it again.", self.name)
        return write()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _all_columns_there(conn: Connection) -> bool:
    """True when every storage table and column already exists (one catalogue query on SQLite and PostgreSQL; the
    usual case after the first run): create_all's and the inspector's query per table are then not needed."""
    name = conn.dialect.name
    if name == "sqlite":
        sql = ("SELECT m.name, p.name FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p "
               "WHERE m.type = 'table'")
    elif name == "postgresql":
        sql = ("SELECT table_name, column_name FROM information_schema.columns "
               "WHERE table_schema = current_schema()")
    else:
        return False
    try:
        have = {(tb.lower(), col.lower()) for tb, col in conn.exec_driver_sql(sql)}
    except DBAPIError as exc:  # an old SQLite without table-valued pragmas: the inspector's way
        if name != "sqlite" or exc.connection_invalidated:
            raise
        return False
    return all((tb.name.lower(), c.name.lower()) in have for tb in t.ALL_TABLES for c in tb.columns)


def add_missing_columns(conn: Connection, tables) -> list[str]:
    """Storage tables made by the original Integration Client (the guide's columns only) get this program's extra
    nullable columns (session.jump_*), else every insert would fail with "Invalid column name 'jump_group_id'"."""
    added = []
    insp = inspect(conn)
    for table in tables:
        have = {c["name"].lower() for c in insp.get_columns(table.name)}
        for col in table.columns:
            if col.name.lower() not in have and col.nullable and not col.primary_key:
                conn.execute(text(add_column_sql(conn.dialect, col)))
                added.append(f"{table.name}.{col.name}")
    return added


def add_column_sql(dialect, col) -> str:
    """ALTER TABLE t ADD c TYPE NULL: the one spelling SQL Server, PostgreSQL, MySQL and SQLite all accept."""
    prep = dialect.identifier_preparer
    return f"ALTER TABLE {prep.format_table(col.table)} ADD {prep.format_column(col)} {col.type.compile(dialect=dialect)} NULL"


# --- the write protocol (inside one transaction) ------------------------------------------------
CHUNK_ROWS = 5000  # events (and their data rows) per statement of the bulk writers: never all of a huge session
SYSINFO_CHUNK_ROWS = 100  # system information rows are large (a category's XML each)
RETURNING_CHUNK_ROWS = 10_000  # SQL Server / MySQL: fewer, larger statements (OUTPUT ids; still bounded)
ID_BLOCK = 20_000  # PostgreSQL: event ids drawn per query (a batch's events in one draw, a huge session's in a few)


def write_batch(conn: Connection, host_name: str, sessions: list[Session], system_info: bool) -> int:
    """Replace the rows of these sessions: delete what (host_name, lsid) already has, then bulk insert.

    Every session is checked against the storage types first (t.check_storable): one that cannot be stored raises
    SessionValueError naming its lsid and field before anything is written, so the caller can set it aside and
    store the others. An event's time is checked as the event is written (a session's events are gone through
    once: a huge session reads them back from disk); a bad one raises the same error and the transaction is rolled
    back, so nothing of the batch is written either way. The same checked host name and lsids are used for the
    delete and for the insert.
    """
    latest: dict[str, Session] = {}
    for s in sessions:  # the same lsid twice in a batch: the later one wins
        latest.pop(s.lsid, None)
        latest[s.lsid] = s
    batch = list(latest.values())
    if not batch:
        return 0
    for s in batch:
        t.check_storable(s, events=False)
    host_name = t.storable_host(host_name)
    _delete_sessions(conn, host_name, [s.lsid for s in batch])
    writer = _writer(conn)
    if isinstance(writer, _BulkWriter):
        writer.write(host_name, batch, system_info)
    else:
        _write_returning(writer, host_name, batch, system_info)
    return len(batch)


# --- SQLite and PostgreSQL: ids drawn by us, each row built once as the tuple the driver sends -----------------
_SESSION_COLUMNS = ("id",) + t.SHAPES["session"].columns()
_EVENT_COLUMNS = ("id",) + t.SHAPES["session_event"].columns()
_CHILD_COLUMNS = {tb.name: t.SHAPES[tb.name].columns() for tb in t.ALL_TABLES}  # given parent id first, no id


class _BulkWriter:
    """Rows of a batch go out a table at a time (parents before their children), each row made by the table's row
    maker (t.Shape.maker: one tuple, times as text) with the ids this writer drew: a session's and an event's id is
    known before its row is made, so an event's data rows are made in the same pass over the events. Only session
    and session_event ids are drawn (their children need them); the other tables number their own rows."""

    chunk_rows = CHUNK_ROWS
    session_row = staticmethod(t.SHAPES["session"].maker("id", "host_name"))
    event_row = staticmethod(t.SHAPES["session_event"].maker("id", "session_id"))
    child_rows = tuple((table, attr, t.SHAPES[table.name].maker("session_id")) for table, attr in t.SESSION_ITEMS)
    data_row = staticmethod(t.SHAPES["session_event_data"].maker("session_event_id"))
    info_row = staticmethod(t.SHAPES["system_information"].maker("session_event_id"))

    def ids(self, sessions: int, events: int) -> tuple[Iterable[int], Callable[[], int]]:
        """Ids for ``sessions`` session rows and a function handing out the next event id (``events`` expected)."""
        raise NotImplementedError

    def insert(self, table, columns: tuple[str, ...], rows: list[tuple]) -> None:
        raise NotImplementedError

    def write(self, host_name: str, batch: list[Session], system_info: bool) -> None:
        session_ids, next_event_id = self.ids(len(batch), sum(len(s.events) for s in batch))
        pairs = list(zip(session_ids, batch))
        make = self.session_row
        self.insert(t.session, _SESSION_COLUMNS, [make(sid, host_name, s) for sid, s in pairs])
        for table, attr, make in self.child_rows:
            rows = [make(sid, item) for sid, s in pairs for item in getattr(s, attr)]
            if rows:
                self.insert(table, _CHILD_COLUMNS[table.name], rows)
        self._write_events(pairs, next_event_id, system_info)

    def _write_events(self, pairs, next_event_id, system_info: bool) -> None:
        """Each session's events gone through once (a huge one is read back from disk), at most a chunk of rows
        held: event rows, their data rows and system information rows, inserted a chunk at a time."""
        event_row, data_row, info_row = self.event_row, self.data_row, self.info_row
        lo, hi = t.TIME_RANGE
        chunk = self.chunk_rows
        events: list[tuple] = []
        data: list[tuple] = []
        info: list[tuple] = []
        for sid, s in pairs:
            for e in s.events:
                ts = e.timestamp
                if ts is not None and not lo <= ts <= hi:
                    t.check_event_time(s, ts)
                eid = next_event_id()
                events.append(event_row(eid, sid, e))
                if e.data:
                    data += [data_row(eid, d) for d in e.data]
                if system_info and e.system_information:
                    info += [info_row(eid, c) for c in e.system_information]
                if len(events) >= chunk or len(data) >= chunk or len(info) >= SYSINFO_CHUNK_ROWS:
                    self._flush(events, data, info)
                    events, data, info = [], [], []
        if events:
            self._flush(events, data, info)

    def _flush(self, events: list[tuple], data: list[tuple], info: list[tuple]) -> None:
        self.insert(t.session_event, _EVENT_COLUMNS, events)
        if data:
            self.insert(t.session_event_data, _CHILD_COLUMNS["session_event_data"], data)
        if info:
            self.insert(t.system_information, _CHILD_COLUMNS["system_information"], info)


class _SqliteWriter(_BulkWriter):
    """Ids handed out in this transaction (it holds SQLite's write lock from BEGIN IMMEDIATE: nobody else can take
    the same ids): max(id) of session and session_event read in one statement per batch, rows sent with one
    executemany per table and chunk, on the driver's own cursor (no SQLAlchemy statement set-up per chunk) unless
    someone listens to the statements (SQLAlchemy's cursor events: they then go through SQLAlchemy and are seen)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._sql: dict[tuple[str, tuple[str, ...]], str] = {}
        watched = conn.dispatch.before_cursor_execute or conn.dispatch.after_cursor_execute
        self._cursor = None if watched else conn.connection.dbapi_connection.cursor()

    def write(self, host_name: str, batch: list[Session], system_info: bool) -> None:
        try:
            super().write(host_name, batch, system_info)
        finally:
            if self._cursor is not None:
                self._cursor.close()

    def ids(self, sessions: int, events: int) -> tuple[Iterable[int], Callable[[], int]]:
        top_session, top_event = self.conn.exec_driver_sql(
            f"SELECT (SELECT max(id) FROM {_quoted(self.conn, t.session)}), "
            f"(SELECT max(id) FROM {_quoted(self.conn, t.session_event)})").one()
        first = (top_session or 0) + 1
        return range(first, first + sessions), itertools.count((top_event or 0) + 1).__next__

    def insert(self, table, columns: tuple[str, ...], rows: list[tuple]) -> None:
        sql = self._sql.get((table.name, columns))
        if sql is None:
            sql = self._sql[table.name, columns] = (f"INSERT INTO {_quoted(self.conn, table)} ({', '.join(columns)}) "
                                                    f"VALUES ({', '.join('?' * len(columns))})")
        if self._cursor is None:
            self.conn.exec_driver_sql(sql, rows)
            return
        try:
            self._cursor.executemany(sql, rows)
        except self.conn.dialect.loaded_dbapi.Error as exc:
            raise _driver_error(self.conn, sql, exc) from None


class _PostgresWriter(_BulkWriter):
    """Ids drawn from the columns' own sequences (nextval over generate_series, so other writers and later default
    ids never collide): the batch's session ids and its events' ids in one query; rows sent with COPY (psycopg 3).
    PostgreSQL refuses NUL (U+0000) in text ("cannot contain NUL (0x00) bytes"), and a base64 chat body can hold
    one: the row makers turn it into U+FFFD, as undecodable bytes already are (see _storable)."""

    session_row = staticmethod(t.SHAPES["session"].maker("id", "host_name", nul_free=True))
    event_row = staticmethod(t.SHAPES["session_event"].maker("id", "session_id", nul_free=True))
    child_rows = tuple((table, attr, t.SHAPES[table.name].maker("session_id", nul_free=True))
                       for table, attr in t.SESSION_ITEMS)
    data_row = staticmethod(t.SHAPES["session_event_data"].maker("session_event_id", nul_free=True))
    info_row = staticmethod(t.SHAPES["system_information"].maker("session_event_id", nul_free=True))

    def __init__(self, conn: Connection, sequences: dict[str, str]) -> None:
        self.conn = conn
        self.raw = conn.connection.dbapi_connection
        self.sequences = sequences
        self._cur = self.raw.cursor()

    def write(self, host_name: str, batch: list[Session], system_info: bool) -> None:
        try:
            super().write(host_name, batch, system_info)
        finally:
            self._cur.close()

    @staticmethod
    def sequences_of(conn: Connection) -> dict[str, str] | None:
        """The sequences behind session.id and session_event.id (cached per database connection); None when a
        table has none we may draw from (GENERATED ALWAYS refuses given ids: RETURNING then)."""
        cache = conn.connection.info.setdefault("ic_id_sequences", {})
        for table in (t.session, t.session_event):
            if table.name not in cache:
                seq, always = conn.execute(text(
                    "SELECT pg_get_serial_sequence(:t, 'id'), (SELECT attidentity = 'a' FROM pg_attribute "
                    "WHERE attrelid = CAST(:t AS regclass) AND attname = 'id')"), {"t": _quoted(conn, table)}).one()
                cache[table.name] = None if always else seq
        if not all(cache.get(tb.name) for tb in (t.session, t.session_event)):
            return None
        return cache

    def _draw(self, sessions: int, events: int) -> tuple[list[int], list[int]]:
        draw = "array(SELECT nextval(%s) FROM generate_series(1, %s))"
        try:
            self._cur.execute(f"SELECT {draw}, {draw}", (self.sequences["session"], sessions,
                                                         self.sequences["session_event"], events))
        except self.conn.dialect.loaded_dbapi.Error as exc:
            raise _driver_error(self.conn, "SELECT nextval", exc) from None
        return self._cur.fetchone()

    def ids(self, sessions: int, events: int) -> tuple[Iterable[int], Callable[[], int]]:
        first = min(events, ID_BLOCK)
        session_ids, event_ids = self._draw(sessions, first)

        def more():  # a session that has more events than it said (or more than ID_BLOCK): draw on
            left = events - first
            while True:
                block = min(max(left, 100), ID_BLOCK)
                left -= block
                yield from self._draw(0, block)[1]

        return session_ids, itertools.chain(event_ids, more()).__next__

    def insert(self, table, columns: tuple[str, ...], rows: list[tuple]) -> None:
        statement = f"COPY {_quoted(self.conn, table)} ({', '.join(columns)}) FROM STDIN"
        try:
            with self._cur.copy(statement) as copy:
                write = copy.write_row
                for row in rows:
                    write(row)
        except self.conn.dialect.loaded_dbapi.Error as exc:
            raise _driver_error(self.conn, statement, exc) from None


# --- SQL Server, MySQL and any other dialect: ids returned by the inserts ---------------------------------------------
def _write_returning(writer, host_name: str, batch: list[Session], system_info: bool) -> None:
    stamp = writer.stamp
    shape = t.SHAPES["session"]
    host = (host_name,)
    session_ids = writer.insert_numbered(t.session, shape.columns(), [shape.row(host, s, stamp) for s in batch])
    for table, attr in t.SESSION_ITEMS:
        shape = t.SHAPES[table.name]
        rows: list[tuple] = []
        for sid, s in zip(session_ids, batch):
            items = getattr(s, attr)
            if items:
                rows += shape.rows((sid,), items, stamp)
        if rows:
            writer.insert(table, shape.columns(), rows)
    _write_events(writer, zip(session_ids, batch), system_info)


def _write_events(writer, pairs, system_info: bool) -> None:
    """The events of (session id, session) pairs with their data and system information rows, a chunk of rows at
    a time: each session's events are iterated once, and at most a chunk of rows is held."""
    shape = t.SHAPES["session_event"]
    columns, row, stamp = shape.columns(), shape.row, writer.stamp
    lo, hi = t.TIME_RANGE
    chunk = writer.chunk_rows
    rows: list[tuple] = []
    events: list = []
    data = sysinfo = 0
    for sid, s in pairs:
        lead = (sid,)
        for e in s.events:
            ts = e.timestamp
            if ts is not None and not lo <= ts <= hi:
                t.check_event_time(s, ts)
            rows.append(row(lead, e, stamp))
            events.append(e)
            if e.data:
                data += len(e.data)
            if system_info and e.system_information:
                sysinfo += len(e.system_information)
            if len(rows) >= chunk or data >= chunk or sysinfo >= SYSINFO_CHUNK_ROWS:
                _flush_events(writer, columns, rows, events, system_info)
                rows, events, data, sysinfo = [], [], 0, 0
    if rows:
        _flush_events(writer, columns, rows, events, system_info)


def _flush_events(writer, columns, rows: list[tuple], events: list, system_info: bool) -> None:
    """Insert event rows (ids returned by the database), then their children."""
    event_ids = writer.insert_numbered(t.session_event, columns, rows)
    data_shape, info_shape = t.SHAPES["session_event_data"], t.SHAPES["system_information"]
    data_row, info_row, stamp = data_shape.row, info_shape.row, writer.stamp
    data: list[tuple] = []
    sysinfo: list[tuple] = []
    for eid, e in zip(event_ids, events):
        if e.data:
            lead = (eid,)
            data += [data_row(lead, d, stamp) for d in e.data]
        if system_info and e.system_information:
            sysinfo += info_shape.rows((eid,), e.system_information, stamp)
    if data:
        writer.insert(t.session_event_data, data_shape.columns(), data)
    if sysinfo:
        writer.insert(t.system_information, info_shape.columns(), sysinfo)


text_stamp = t.text_stamp  # unix seconds as SQLAlchemy's DateTime text (SQLite; PostgreSQL reads it too)


class _ReturningWriter:
    """SQL Server, MySQL and any other dialect: ids come back from the inserts (OUTPUT / RETURNING in bulk where the
    dialect keeps the order, else a row at a time); rows go through SQLAlchemy's insert() (executemany, with
    pyodbc's fast_executemany on SQL Server)."""

    stamp = staticmethod(from_unix)
    chunk_rows = property(lambda self: RETURNING_CHUNK_ROWS)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(self, table, columns: tuple[str, ...], rows: list[tuple]) -> None:
        self.conn.execute(insert(table), _storable(self.conn, [dict(zip(columns, r)) for r in rows]))

    def insert_numbered(self, table, columns: tuple[str, ...], rows: list[tuple]) -> list[int]:
        return _insert_returning_ids(self.conn, table, [dict(zip(columns, r)) for r in rows])


def _writer(conn: Connection):
    name = conn.dialect.name
    if name == "sqlite":
        return _SqliteWriter(conn)
    if name == "postgresql" and conn.dialect.driver == "psycopg":
        sequences = _PostgresWriter.sequences_of(conn)
        if sequences:
            return _PostgresWriter(conn, sequences)
    return _ReturningWriter(conn)


def _driver_error(conn: Connection, statement: str, exc: Exception) -> DBAPIError:
    """The driver's own error as SQLAlchemy's class, as Connection.execute would raise it."""
    dialect = conn.dialect
    return DBAPIError.instance(statement, None, exc, dialect.loaded_dbapi.Error, dialect=dialect)


def _quoted(conn: Connection, table) -> str:
    return conn.dialect.identifier_preparer.format_table(table)


def _delete_sessions(conn: Connection, host_name: str, lsids: list[str]) -> None:
    """Delete what is stored for these lsids of this host: one query finds their session ids (usually none: then
    nothing else is sent), then each table's rows go in one statement."""
    old = _stored_ids(conn, host_name, lsids)
    if not old:
        return
    event_ids = select(t.session_event.c.id).where(t.session_event.c.session_id.in_(old))
    for table in t.EVENT_CHILDREN:
        conn.execute(delete(table).where(table.c.session_event_id.in_(event_ids)))
    conn.execute(delete(t.session_event).where(t.session_event.c.session_id.in_(old)))
    for table in t.SESSION_CHILDREN:
        conn.execute(delete(table).where(table.c.session_id.in_(old)))
    conn.execute(delete(t.session).where(t.session.c.id.in_(old)))


def _stored_ids(conn: Connection, host_name: str, lsids: list[str]) -> list[int]:
    """Ids of the session rows of these lsids: on SQLite and psycopg one plain statement (no SQLAlchemy compile of an
    IN list per batch), elsewhere SQLAlchemy's select."""
    dialect = conn.dialect
    if dialect.name == "sqlite" and len(lsids) <= 30_000:
        sql = (f"SELECT id FROM {_quoted(conn, t.session)} WHERE host_name = ? "
               f"AND lsid IN ({', '.join('?' * len(lsids))})")
        return [r[0] for r in conn.exec_driver_sql(sql, (host_name, *lsids))]
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        sql = f"SELECT id FROM {_quoted(conn, t.session)} WHERE host_name = %s AND lsid = ANY(%s)"
        return [r[0] for r in conn.exec_driver_sql(sql, (host_name, list(lsids)))]
    return list(conn.execute(
        select(t.session.c.id).where(t.session.c.host_name == host_name, t.session.c.lsid.in_(lsids))
    ).scalars().all())


def _insert_returning_ids(conn: Connection, table, rows: list[dict]) -> list[int]:
    """Insert rows and return their generated ids in row order: one bulk RETURNING/OUTPUT statement where the
    dialect guarantees the order (SQLite, PostgreSQL, SQL Server, MariaDB), else a row at a time (MySQL).
    SQL Server: INSERT ... OUTPUT inserted.id SELECT ... FROM (VALUES ...) ORDER BY, in statements of at most 2099
    parameters; SQLAlchemy sorts the OUTPUT rows by the IDENTITY values (assigned in ORDER BY order)."""
    rows = _storable(conn, rows)
    if conn.dialect.insert_executemany_returning_sort_by_parameter_order:
        stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(conn.execute(stmt, rows).scalars().all())
    return [conn.execute(insert(table), row).inserted_primary_key[0] for row in rows]


def _storable(conn: Connection, rows: list[dict]) -> list[dict]:
    """PostgreSQL refuses NUL (U+0000) in text ("cannot contain NUL (0x00) bytes"), and a base64 chat body can hold
    one: it becomes U+FFFD there, as undecodable bytes already do. SQL Server, MySQL and SQLite store it as is."""
    if conn.dialect.name != "postgresql":
        return rows
    for row in rows:
        for key, value in row.items():
            if isinstance(value, str) and "\x00" in value:
                row[key] = value.replace("\x00", "\ufffd")
    return rows


def _batches(items: Iterable[Session], size: int) -> Iterator[list[Session]]:
    batch: list[Session] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _is_deadlock(exc: DBAPIError) -> bool:
    """SQL Server error 1205 (SQLSTATE 40001, "chosen as the deadlock victim. Rerun the transaction") or
    PostgreSQL's 40P01: the transaction was rolled back and may simply run again."""
    orig = exc.orig
    args = getattr(orig, "args", ())
    state = getattr(orig, "sqlstate", None) or (args[0] if args and isinstance(args[0], str) else "")
    return state in ("40001", "40P01") or "deadlock" in str(orig).lower()


def _sqlite_connect(dbapi_conn, _record) -> None:
    """Real transactions on SQLite (DDL included, so test() leaves nothing behind) and the write-ahead log with full
    durability: a commit is one append and one fsync of the log (a rollback journal costs several), and readers
    (Verify, other tools) never block the writer. synchronous stays FULL: a commit survives a power cut, which the
    transfer state saved after it relies on. A database that cannot switch (in memory, busy, read-only folder) keeps
    its journal mode. Foreign keys stay declared but are not checked on this connection (a parent lookup per child
    row, about a sixth of SQLite's insert work): every child row gets the id of a parent written in the same
    transaction under the write lock, and replaced sessions are deleted children first (_delete_sessions)."""
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=OFF")
    try:
        from ic.netshare import journal_mode_for_connection  # WAL, but the rollback journal on a network share

        cur.execute(f"PRAGMA journal_mode={journal_mode_for_connection(dbapi_conn, 'SQLite destination')}")
    except Exception as exc:  # noqa: BLE001 - the driver's OperationalError; the database works as it is
        log.debug("SQLite destination keeps its journal mode: %s", exc)
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    """IMMEDIATE: the write lock from the start, so ids handed out in this transaction are ours alone (and two
    writers wait for each other on the busy timeout instead of failing to upgrade a read lock)."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")

