"""The SQL destination ("SQL Server" in the guide): session data into the storage tables of sql_schema.

Works on SQL Server (mssql+pyodbc, the guide's default), PostgreSQL (psycopg), MySQL/MariaDB and SQLite.
A batch of sessions is written in ONE transaction: rows already stored for the same (host_name, lsid) are deleted
and the new ones inserted, so storing a session again (or a session that has ended since) replaces it whole.
"""
from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Iterable, Iterator

from sqlalchemy import Engine, Unicode, UnicodeText, create_engine, delete, event, insert, inspect, select, text
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
            self._engine = create_engine(url, **engine_kwargs(url))
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
        existing = {name.lower() for name in inspect(conn).get_table_names()}
        t.metadata.create_all(conn, checkfirst=True)
        added = add_missing_columns(conn, [tb for tb in t.ALL_TABLES if tb.name.lower() in existing])
        if added:
            log.info("Destination %s: added columns %s to its existing tables.", self.name, ", ".join(added))

    # --- Destination API ----------------------------------------------------------------------
    def test(self) -> str:
        try:
            with self.engine.connect() as conn:
                trans = conn.begin()
                try:
                    self._ensure_tables(conn)
                    conn.execute(select(t.session.c.id).limit(1)).all()
                finally:
                    trans.rollback()
        except SQLAlchemyError as exc:
            raise self._fail(exc, "connect to") from None
        return TEST_OK

    def store_sessions(self, site_host: str, sessions: Iterable[Session]) -> int:
        if not site_host:
            raise ConfigError(f"Sessions for destination {self.name} need the site host name they came from.")
        stored = 0
        try:
            if not self._tables_ready:
                with self.engine.begin() as conn:
                    self._ensure_tables(conn)
                self._tables_ready = True
            for batch in _batches(sessions, BATCH_SIZE):
                stored += self._write_with_retry(site_host, batch)
        except SQLAlchemyError as exc:
            raise self._fail(exc, "write sessions to") from None
        return stored

    def _write_with_retry(self, site_host: str, batch: list[Session]) -> int:
        """One transaction per batch; once more if another writer stored one of these sessions meanwhile
        (the unique (host_name, lsid) key refused our insert: the retry deletes and replaces its rows)."""
        try:
            with self.engine.begin() as conn:
                return write_batch(conn, site_host, batch, self.store_system_info)
        except IntegrityError:
            log.info("Destination %s: a session was stored concurrently; writing the batch again.", self.name)
        except DBAPIError as exc:
            if not _is_deadlock(exc):
                raise
            log.info("Destination %s: the database chose this batch as a deadlock victim; writing it again.", self.name)
        with self.engine.begin() as conn:
            return write_batch(conn, site_host, batch, self.store_system_info)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


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
CHUNK_ROWS = 1000  # events (and their data rows) per statement of the bulk writers: never all of a huge session
SYSINFO_CHUNK_ROWS = 100  # system information rows are large (a category's XML each)
RETURNING_CHUNK_ROWS = 10_000  # SQL Server / MySQL: fewer, larger statements (OUTPUT ids; still bounded)


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
    return len(batch)


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
    """Insert event rows (ids drawn in one step, or returned by the database), then their children."""
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


_DAYS: dict[int, str] = {}
_MINUTES = tuple(f"{m // 60:02d}:{m % 60:02d}:" for m in range(1440))
_SECONDS = tuple(f"{second:02d}.000000" for second in range(60))
_EPOCH = from_unix(0)


def text_stamp(ts: int) -> str:
    """Unix seconds as SQLAlchemy's DateTime text on SQLite ("YYYY-MM-DD HH:MM:SS.000000"), which PostgreSQL also
    reads for a timestamp: the date part is remembered per day, the time of day taken from tables (no datetime)."""
    day, second = divmod(ts, 86400)
    head = _DAYS.get(day)
    if head is None:
        if len(_DAYS) > 100_000:
            _DAYS.clear()
        head = _DAYS[day] = (_EPOCH + timedelta(days=day)).date().isoformat() + " "
    minute, second = divmod(second, 60)
    return head + _MINUTES[minute] + _SECONDS[second]


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


class _SqliteWriter:
    """Ids handed out in this transaction (it holds SQLite's write lock from BEGIN IMMEDIATE: nobody else can take
    the same ids): max(id) read once per table and batch, rows sent with one executemany per table and chunk.
    DateTime columns get SQLAlchemy's text form."""

    stamp = staticmethod(text_stamp)
    chunk_rows = property(lambda self: CHUNK_ROWS)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._next: dict[str, int] = {}

    def insert(self, table, columns: tuple[str, ...], rows: list[tuple]) -> None:
        self.conn.exec_driver_sql(f"INSERT INTO {_quoted(self.conn, table)} ({', '.join(columns)}) "
                                  f"VALUES ({', '.join('?' * len(columns))})", rows)

    def insert_numbered(self, table, columns: tuple[str, ...], rows: list[tuple]) -> list[int]:
        first = self._next.get(table.name)
        if first is None:
            top = self.conn.exec_driver_sql(f"SELECT max(id) FROM {_quoted(self.conn, table)}").scalar()
            first = (top or 0) + 1
        ids = range(first, first + len(rows))
        self._next[table.name] = first + len(rows)
        self.insert(table, ("id",) + columns, [(i, *r) for i, r in zip(ids, rows)])
        return list(ids)


class _PostgresWriter:
    """Ids drawn from the column's own sequence in one query per table and chunk (nextval over generate_series, so
    other writers and later default ids never collide), rows sent with COPY (psycopg 3)."""

    stamp = staticmethod(text_stamp)
    chunk_rows = property(lambda self: CHUNK_ROWS)

    def __init__(self, conn: Connection, sequences: dict[str, str]) -> None:
        self.conn = conn
        self.raw = conn.connection.dbapi_connection
        self.sequences = sequences

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

    def insert(self, table, columns: tuple[str, ...], rows: list[tuple]) -> None:
        text_at = _TEXT_AT[table.name, columns]
        for i, row in enumerate(rows):  # PostgreSQL refuses NUL in text: see _storable
            for at in text_at:
                v = row[at]
                if type(v) is str and "\x00" in v:
                    rows[i] = tuple(x.replace("\x00", "\ufffd") if isinstance(x, str) else x for x in row)
                    break
        statement = f"COPY {_quoted(self.conn, table)} ({', '.join(columns)}) FROM STDIN"
        try:
            with self.raw.cursor() as cur:
                with cur.copy(statement) as copy:
                    write = copy.write_row
                    for row in rows:
                        write(row)
        except self.conn.dialect.loaded_dbapi.Error as exc:
            raise _driver_error(self.conn, statement, exc) from None

    def insert_numbered(self, table, columns: tuple[str, ...], rows: list[tuple]) -> list[int]:
        ids = self.conn.execute(text("SELECT array(SELECT nextval(:s) FROM generate_series(1, :n))"),
                                {"s": self.sequences[table.name], "n": len(rows)}).scalar_one()  # one row back
        self.insert(table, ("id",) + columns, [(i, *r) for i, r in zip(ids, rows)])
        return ids


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


class _TextPositions(dict):
    """(table name, columns) -> positions of the text columns in such a row (computed once)."""

    def __missing__(self, key):
        name, columns = key
        table = next(tb for tb in t.ALL_TABLES if tb.name == name)
        texts = {c.name for c in table.columns if isinstance(c.type, (Unicode, UnicodeText))}
        self[key] = value = tuple(i for i, c in enumerate(columns) if c in texts)
        return value


_TEXT_AT = _TextPositions()


def _quoted(conn: Connection, table) -> str:
    return conn.dialect.identifier_preparer.format_table(table)


def _delete_sessions(conn: Connection, host_name: str, lsids: list[str]) -> None:
    old = conn.execute(
        select(t.session.c.id).where(t.session.c.host_name == host_name, t.session.c.lsid.in_(lsids))
    ).scalars().all()
    if not old:
        return
    event_ids = select(t.session_event.c.id).where(t.session_event.c.session_id.in_(old))
    for table in t.EVENT_CHILDREN:
        conn.execute(delete(table).where(table.c.session_event_id.in_(event_ids)))
    conn.execute(delete(t.session_event).where(t.session_event.c.session_id.in_(old)))
    for table in t.SESSION_CHILDREN:
        conn.execute(delete(table).where(table.c.session_id.in_(old)))
    conn.execute(delete(t.session).where(t.session.c.id.in_(old)))


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
    """Real transactions on SQLite (DDL included, so test() leaves nothing behind), enforced foreign keys, and the
    write-ahead log with full durability: a commit is one append and one fsync of the log (a rollback journal costs
    several), and readers (Verify, other tools) never block the writer. synchronous stays FULL: a commit survives a
    power cut, which the transfer state saved after it relies on. A database that cannot switch (in memory, busy,
    read-only folder) keeps its journal mode."""
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
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

