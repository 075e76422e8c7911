"""The SQL destination ("SQL Server" in the guide): session data into the storage tables of sql_schema.

Works on SQL Server (mssql+pyodbc, the guide's default), PostgreSQL (psycopg), MySQL/MariaDB and SQLite.
A batch of sessions is written in ONE transaction: rows already stored for the same (host_name, lsid) are deleted
and the new ones inserted, so storing a session again (or a session that has ended since) replaces it whole.
"""
from __future__ import annotations

import logging
import os
from operator import itemgetter
from typing import Any, Iterable, Iterator

from sqlalchemy import DateTime, Engine, create_engine, delete, event, insert, inspect, select, text
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
def write_batch(conn: Connection, host_name: str, sessions: list[Session], system_info: bool) -> int:
    """Replace the rows of these sessions: delete what (host_name, lsid) already has, then bulk insert.

    Every session is checked against the storage types first (t.check_storable): one that cannot be stored raises
    SessionValueError naming its lsid and field before anything is written, so the caller can set it aside and
    store the others. The same checked host name and lsids are used for the delete and for the insert.
    """
    latest: dict[str, Session] = {}
    for s in sessions:  # the same lsid twice in a batch: the later one wins
        latest.pop(s.lsid, None)
        latest[s.lsid] = s
    batch = list(latest.values())
    if not batch:
        return 0
    for s in batch:
        t.check_storable(s)
    host_name = t.storable_host(host_name)
    _delete_sessions(conn, host_name, [s.lsid for s in batch])
    writer = _fast_writer(conn)
    if writer is None:
        return _write_returning(conn, host_name, batch, system_info)
    session_ids = writer.ids(t.session, len(batch))
    if session_ids is None:
        return _write_returning(conn, host_name, batch, system_info)
    session_rows = [t.session_row(host_name, s) for s in batch]
    for sid, row in zip(session_ids, session_rows):
        row["id"] = sid
    writer.insert(t.session, session_rows, with_id=True)
    child_rows: dict[Any, list[dict]] = {table: [] for table, _ in t.SESSION_CHILD_ROWS}
    for sid, s in zip(session_ids, batch):
        for table, rows_of in t.SESSION_CHILD_ROWS:
            child_rows[table].extend(rows_of(sid, s))
    for table, rows in child_rows.items():
        if rows:
            writer.insert(table, rows)
    count = sum(len(s.events) for s in batch)
    if count:
        event_ids = iter(writer.ids(t.session_event, count))
        stamp, event_values, data_values = writer.stamp, t.event_values, t.event_data_values
        events, data, sysinfo = [], [], []
        for sid, s in zip(session_ids, batch):
            for e in s.events:
                eid = next(event_ids)
                events.append(event_values(eid, sid, e, stamp))
                if e.data:
                    data.extend(data_values(eid, e))
                if system_info and e.system_information:
                    sysinfo.extend(t.system_information_rows(eid, e))
        writer.insert_values(t.session_event, t.EVENT_COLUMNS, events, (4, 6))
        if data:
            writer.insert_values(t.session_event_data, t.EVENT_DATA_COLUMNS, data, (1, 2))
        if sysinfo:
            writer.insert(t.system_information, sysinfo)
    return len(batch)


def _write_returning(conn: Connection, host_name: str, batch: list[Session], system_info: bool) -> int:
    """SQL Server, MySQL and any other dialect: ids come back from the inserts (OUTPUT / RETURNING in bulk where the
    dialect keeps the order, else a row at a time)."""
    session_ids = _insert_returning_ids(conn, t.session, [t.session_row(host_name, s) for s in batch])
    child_rows: dict[Any, list[dict]] = {table: [] for table, _ in t.SESSION_CHILD_ROWS}
    events, event_objs = [], []
    for sid, s in zip(session_ids, batch):
        for table, rows_of in t.SESSION_CHILD_ROWS:
            child_rows[table].extend(rows_of(sid, s))
        for e in s.events:
            events.append(t.event_row(sid, e))
            event_objs.append(e)
    for table, rows in child_rows.items():
        if rows:
            conn.execute(insert(table), _storable(conn, rows))
    if events:
        event_ids = _insert_returning_ids(conn, t.session_event, events)
        data, sysinfo = [], []
        for eid, e in zip(event_ids, event_objs):
            data.extend(t.event_data_rows(eid, e))
            if system_info:
                sysinfo.extend(t.system_information_rows(eid, e))
        if data:
            conn.execute(insert(t.session_event_data), _storable(conn, data))
        if sysinfo:
            conn.execute(insert(t.system_information), _storable(conn, sysinfo))
    return len(batch)


class _SqliteWriter:
    """Ids handed out in this transaction (it holds SQLite's write lock from BEGIN IMMEDIATE: nobody else can take
    the same ids), rows sent with one executemany per table. DateTime columns get SQLAlchemy's text form."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @staticmethod
    def stamp(ts: int) -> str:
        return from_unix(ts).isoformat(" ", "microseconds")

    def insert_values(self, table, cols: tuple[str, ...], rows: list[tuple], _text: tuple[int, ...] = ()) -> None:
        sql = (f"INSERT INTO {_quoted(self.conn, table)} ({', '.join(cols)}) "
               f"VALUES ({', '.join('?' * len(cols))})")
        self.conn.exec_driver_sql(sql, rows)

    def ids(self, table, n: int) -> list[int]:
        top = self.conn.exec_driver_sql(f"SELECT max(id) FROM {_quoted(self.conn, table)}").scalar() or 0
        return list(range(top + 1, top + 1 + n))

    def insert(self, table, rows: list[dict], with_id: bool = False) -> None:
        cols = _columns(table, with_id)
        stamps = [c for c in cols if c in _DATETIME_COLUMNS[table.name]]
        for row in rows:
            for c in stamps:
                v = row[c]
                if v is not None:
                    row[c] = v.isoformat(" ", "microseconds")
        sql = (f"INSERT INTO {_quoted(self.conn, table)} ({', '.join(cols)}) "
               f"VALUES ({', '.join('?' * len(cols))})")
        get = _getter(table, with_id)
        self.conn.exec_driver_sql(sql, [get(r) for r in rows])


class _PostgresWriter:
    """Ids drawn from the column's own sequence in one query per table and batch (nextval over generate_series, so
    other writers and later default ids never collide), rows sent with COPY (psycopg 3)."""

    stamp = staticmethod(from_unix)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.raw = conn.connection.dbapi_connection

    def insert_values(self, table, cols: tuple[str, ...], rows: list[tuple], text_at: tuple[int, ...] = ()) -> None:
        """Tuples in ``cols`` order; the free-text positions ``text_at`` get NUL replaced (see _storable)."""
        for i, row in enumerate(rows):
            for at in text_at:
                v = row[at]
                if v and "\x00" in v:
                    rows[i] = row = tuple(x.replace("\x00", "\ufffd") if isinstance(x, str) else x for x in row)
                    break
        self._copy(table, cols, rows)

    def _copy(self, table, cols, rows) -> None:
        statement = f"COPY {_quoted(self.conn, table)} ({', '.join(cols)}) FROM STDIN"
        dialect = self.conn.dialect
        try:
            with self.raw.cursor() as cur:
                with cur.copy(statement) as copy:
                    for row in rows:
                        copy.write_row(row)
        except dialect.loaded_dbapi.Error as exc:  # the driver's own error: give it SQLAlchemy's class as execute does
            raise DBAPIError.instance(statement, None, exc, dialect.loaded_dbapi.Error, dialect=dialect) from None

    def ids(self, table, n: int) -> list[int] | None:
        cache = self.conn.connection.info.setdefault("ic_id_sequences", {})  # per database connection
        if table.name not in cache:
            name = _quoted(self.conn, table)
            seq, always = self.conn.execute(text(
                "SELECT pg_get_serial_sequence(:t, 'id'), (SELECT attidentity = 'a' FROM pg_attribute "
                "WHERE attrelid = CAST(:t AS regclass) AND attname = 'id')"), {"t": name}).one()
            cache[table.name] = None if always else seq  # GENERATED ALWAYS refuses given ids: RETURNING then
        seq = cache[table.name]
        if not seq:
            return None  # a table made without a sequence behind its id: let the database say
        return list(self.conn.execute(text("SELECT nextval(:s) FROM generate_series(1, :n)"),
                                      {"s": seq, "n": n}).scalars())

    def insert(self, table, rows: list[dict], with_id: bool = False) -> None:
        get = _getter(table, with_id)
        self._copy(table, _columns(table, with_id), [get(r) for r in _storable(self.conn, rows)])


def _fast_writer(conn: Connection):
    name = conn.dialect.name
    if name == "sqlite":
        return _SqliteWriter(conn)
    if name == "postgresql" and conn.dialect.driver == "psycopg":
        return _PostgresWriter(conn)
    return None


_DATETIME_COLUMNS = {tb.name: {c.name for c in tb.columns if isinstance(c.type, DateTime)} for tb in t.ALL_TABLES}
_GETTERS: dict[tuple[str, bool], Any] = {}


def _columns(table, with_id: bool) -> list[str]:
    return [c.name for c in table.columns if with_id or c.name != "id"]


def _getter(table, with_id: bool):
    key = (table.name, with_id)
    if key not in _GETTERS:
        cols = _columns(table, with_id)
        _GETTERS[key] = itemgetter(*cols) if len(cols) > 1 else (lambda r, c=cols[0]: (r[c],))
    return _GETTERS[key]


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
    """Real transactions on SQLite (DDL included, so test() leaves nothing behind) and enforced foreign keys."""
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    """IMMEDIATE: the write lock from the start, so ids handed out in this transaction are ours alone (and two
    writers wait for each other on the busy timeout instead of failing to upgrade a read lock)."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")

