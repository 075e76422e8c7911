"""Create Database (Setup > Settings Database, `settings create`): make the settings database when it is missing.

SQLite: the folder and the file. PostgreSQL / SQL Server: connect to the server's maintenance database (postgres,
else template1 / master) with the same account, look the database up and ``CREATE DATABASE`` it when missing. A
refusal says which right is missing: PostgreSQL CREATEDB (``ALTER ROLE name CREATEDB``), SQL Server CREATE ANY
DATABASE or the dbcreator server role. The tables are created afterwards by opening the store as usual.
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote_plus

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from ic.errors import ConfigError

_PG_DENIED = {"42501"}  # insufficient_privilege
_MSSQL_DENIED = re.compile(r"\b262\b|CREATE DATABASE permission denied|permission denied in database 'master'", re.I)
_ODBC_DB = re.compile(r"(?i)(^|;)\s*(database|initial catalog)\s*=\s*([^;]*)")


def _reason(exc: BaseException, url: URL) -> str:
    orig = getattr(exc, "orig", None) or exc
    message = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    if url.password:
        message = message.replace(str(url.password), "***")
    return message.rstrip(".")


def _odbc_database(odbc: str) -> str | None:
    match = _ODBC_DB.search(odbc)
    return match.group(3).strip().strip("{}") if match else None


def _with_database(url: URL, database: str) -> tuple[URL, str | None]:
    """(the same server and account with ``database``, the database the URL names)."""
    odbc = url.query.get("odbc_connect")
    if odbc:
        raw = unquote_plus(odbc if isinstance(odbc, str) else odbc[0])
        name = _odbc_database(raw)
        if name is None:
            replaced = raw.rstrip(";") + f";DATABASE={database}"
        else:
            replaced = _ODBC_DB.sub(lambda m: f"{m.group(1)}{m.group(2)}={database}", raw, count=1)
        return url.update_query_dict({"odbc_connect": replaced}), name
    return url.set(database=database), url.database


def quote_identifier(name: str, dialect: str) -> str:
    if dialect == "mssql":
        return "[" + name.replace("]", "]]") + "]"
    return '"' + name.replace('"', '""') + '"'


def create_statement(name: str, dialect: str) -> str:
    return f"CREATE DATABASE {quote_identifier(name, dialect)}"


def _who(url: URL) -> str:
    if url.username:
        return url.username
    odbc = url.query.get("odbc_connect")
    if odbc:
        found = re.search(r"(?i)(^|;)\s*(uid|user id)\s*=\s*([^;]*)", unquote_plus(odbc if isinstance(odbc, str)
                                                                                 else odbc[0]))
        if found:
            return found.group(3).strip()
        return "this Windows account"
    return "this account"


def ensure_database(url_text: str, *, engine_factory=create_engine) -> str:
    """Create the database the URL names if it does not exist; one sentence back. ConfigError names the missing
    right or the failure. ``engine_factory`` lets the SQL Server test use a stand-in."""
    try:
        url = make_url(url_text)
    except Exception:  # noqa: BLE001 - never echo the URL: it may hold a password
        raise ConfigError("The settings database URL is not a database URL.", field="settings") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            return "An in-memory database needs no creating."
        path = Path(url.database)
        existed = path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"The settings database file {path} {'already exists' if existed else 'will be created'}."
    if backend not in ("postgresql", "mssql"):
        raise ConfigError(f"Create Database works for SQLite, PostgreSQL and SQL Server, not {backend}.",
                          field="settings")
    maintenance = ("postgres", "template1") if backend == "postgresql" else ("master",)
    target_url, name = _with_database(url, maintenance[0])
    if not name:
        raise ConfigError("Name the database to create in the settings database URL.", field="settings")
    host = url.host or "the server"
    who = _who(url)
    last: Exception | None = None
    for db in maintenance:
        admin_url, _ = _with_database(url, db)
        engine = engine_factory(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=False)
        try:
            with engine.connect() as conn:
                if backend == "postgresql":
                    exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
                else:
                    exists = conn.execute(text("SELECT DB_ID(:n)"), {"n": name}).scalar() is not None
                if exists:
                    return f"The database {name} already exists on {host}."
                conn.execute(text(create_statement(name, "mssql" if backend == "mssql" else "postgresql")))
                return f"Database {name} created on {host}."
        except SQLAlchemyError as exc:
            last = exc
            if _denied(exc, backend):
                raise ConfigError(_denied_sentence(backend, who, host, name)) from None
            if backend == "postgresql" and db == "postgres" and _no_such_database(exc):
                continue  # a server without the postgres database: template1 is always there
            break
        finally:
            engine.dispose()
    raise ConfigError(f"Cannot create the database {name} on {host}: {_reason(last, url)}.") from None


def _no_such_database(exc: SQLAlchemyError) -> bool:
    return "does not exist" in str(getattr(exc, "orig", exc))


def _denied(exc: SQLAlchemyError, backend: str) -> bool:
    orig = getattr(exc, "orig", None)
    if backend == "postgresql":
        state = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None)
        return state in _PG_DENIED or "permission denied to create database" in str(orig)
    return bool(_MSSQL_DENIED.search(str(orig or exc)))


def _denied_sentence(backend: str, who: str, host: str, name: str) -> str:
    if backend == "postgresql":
        return (f"The PostgreSQL role {who} may not create databases on {host}: give it the CREATEDB right "
                f"(ALTER ROLE {quote_identifier(who, 'postgresql')} CREATEDB) or have an administrator create the "
                f"database {name}.")
    return (f"The SQL Server login {who} may not create databases on {host}: grant it CREATE ANY DATABASE or the "
            f"dbcreator server role, or have an administrator create the database {name}.")


__all__ = ["ensure_database", "create_statement", "quote_identifier"]
