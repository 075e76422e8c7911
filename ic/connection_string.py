"""Build, parse and mask database connection strings (SQLAlchemy URLs): the SQL destination's and the settings
database's (neutral: imports nothing of ic but ic.errors; the settings store and the plugins both use it).

The GUI's [...] dialog edits a :class:`ConnectionParams`; :func:`build_url` turns it into a URL and
:func:`parse_url` turns a stored URL back into the form. SQL Server URLs use pyodbc with an ``odbc_connect``
query holding a complete ODBC connection string, so every ODBC option ("Other Connection Params") is kept.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote_plus

from sqlalchemy.engine import URL, make_url

from ic.errors import ConfigError

__all__ = [
    "DEFAULT_SQLSERVER_DRIVER", "KINDS", "KIND_LABELS", "MASK", "ConnectionParams", "build_url",
    "default_sqlserver_driver", "describe", "encryption_hint", "format_odbc", "installed_odbc_drivers", "mask_url", "normalize", "odbc_driver",
    "odbc_quote", "odbc_string", "parse_odbc", "parse_url", "url_secrets", "use_fast_executemany",
]

KINDS = ("sqlserver", "postgresql", "mysql", "sqlite")
KIND_LABELS = {"sqlserver": "SQL Server", "postgresql": "PostgreSQL", "mysql": "MySQL / MariaDB", "sqlite": "SQLite file"}
DEFAULT_SQLSERVER_DRIVER = "ODBC Driver 18 for SQL Server"
_MS_DRIVER = re.compile(r"^\{?ODBC Driver \d+ for SQL Server\}?$", re.IGNORECASE)
_PASSWORD_KEYS = ("pwd", "password")
MASK = "***"


@dataclass
class ConnectionParams:
    """What the connection string dialog shows. ``auth`` is "windows" or "sql" (SQL Server only)."""

    kind: str = "sqlserver"
    server: str = ""  # SQL Server: host, host\\instance or host,port; others: host name
    port: int | None = None
    database: str = ""  # SQLite: the file path
    auth: str = "sql"
    username: str = ""
    password: str = ""
    driver: str = ""  # SQL Server ODBC driver name; empty -> the newest Microsoft driver installed
    other: str = ""  # SQL Server: extra ODBC "key=value;..." ; others: extra URL query "key=value&..."
    extra: dict = field(default_factory=dict)

    def __repr__(self) -> str:  # never print the password
        return f"ConnectionParams(kind={self.kind!r}, server={self.server!r}, database={self.database!r})"


# --- ODBC connection strings ------------------------------------------------------------------
def odbc_quote(value: str) -> str:
    """Quote an ODBC attribute value when it holds characters that would end or confuse it."""
    if value and (any(c in value for c in ";{}=") or value != value.strip()):
        return "{" + value.replace("}", "}}") + "}"
    return value


def parse_odbc(conn_str: str) -> list[tuple[str, str]]:
    """Split "K=V;K={V;x}" into (key, value) pairs, honouring {braced} values with doubled }}."""
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(conn_str)
    while i < n:
        while i < n and conn_str[i] in "; \t\r\n":
            i += 1
        if i >= n:
            break
        eq = conn_str.find("=", i)
        if eq < 0:
            raise ConfigError("The connection string is neither a database URL (such as mssql+pyodbc://…) "
                              "nor a list of key=value pairs.", field="url")
        key = conn_str[i:eq].strip()
        i = eq + 1
        if i < n and conn_str[i] == "{":
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise ConfigError(f"The value of {key} in the connection string has an unclosed '{{'.")
                if conn_str[j] == "}":
                    if j + 1 < n and conn_str[j + 1] == "}":
                        buf.append("}")
                        j += 2
                        continue
                    break
                buf.append(conn_str[j])
                j += 1
            value, i = "".join(buf), j + 1
            while i < n and conn_str[i] != ";":
                i += 1
        else:
            end = conn_str.find(";", i)
            end = n if end < 0 else end
            value, i = conn_str[i:end].strip(), end
        pairs.append((key, value))
    return pairs


def format_odbc(pairs: list[tuple[str, str]]) -> str:
    return ";".join(f"{k}={odbc_quote(v)}" for k, v in pairs)


def installed_odbc_drivers() -> list[str]:
    try:
        import pyodbc

        return list(pyodbc.drivers())
    except Exception:  # noqa: BLE001 - no pyodbc / no driver manager: nothing installed
        return []


def default_sqlserver_driver(installed: list[str] | None = None) -> str:
    """The newest "ODBC Driver NN for SQL Server" installed, else ODBC Driver 18 (what to install)."""
    installed = installed_odbc_drivers() if installed is None else installed
    ms = [d for d in installed if _MS_DRIVER.match(d)]
    if not ms:
        return DEFAULT_SQLSERVER_DRIVER
    return max(ms, key=lambda d: int(re.search(r"\d+", d).group()))  # type: ignore[union-attr]


# --- building and parsing URLs ----------------------------------------------------------------
def build_url(p: ConnectionParams) -> str:
    """The SQLAlchemy URL (with password) for the dialog's values; raises ConfigError naming a missing field."""
    if p.kind not in KINDS:
        raise ConfigError(f"Database type must be one of {', '.join(KINDS)}.", field="kind")
    if p.kind == "sqlite":
        if not p.database.strip():
            raise ConfigError("Enter the path of the SQLite database file.", field="database")
        return URL.create("sqlite", database=p.database.strip()).render_as_string(hide_password=False)
    if not p.server.strip():
        raise ConfigError(f"Enter the {KIND_LABELS[p.kind]} server name.", field="server")
    if not p.database.strip():
        raise ConfigError("Enter the database name.", field="database")
    if p.kind == "sqlserver":
        return _build_sqlserver(p)
    if not p.username.strip():
        raise ConfigError("Enter the database username.", field="username")
    driver = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}[p.kind]
    query = _parse_query(p.other)
    url = URL.create(
        driver,
        username=p.username.strip(),
        password=p.password or None,
        host=p.server.strip(),
        port=p.port,
        database=p.database.strip(),
        query=query,
    )
    return url.render_as_string(hide_password=False)


def _build_sqlserver(p: ConnectionParams) -> str:
    server = p.server.strip()
    if p.port and "," not in server:
        server = f"{server},{p.port}"
    pairs = [("DRIVER", "{" + (p.driver.strip().strip("{}") or default_sqlserver_driver()) + "}"),
             ("SERVER", server), ("DATABASE", p.database.strip())]
    if p.auth == "windows":
        pairs.append(("Trusted_Connection", "yes"))
    elif p.auth == "sql":
        if not p.username.strip():
            raise ConfigError("Enter the SQL Server username, or choose Windows authentication.", field="username")
        pairs += [("UID", p.username.strip()), ("PWD", p.password)]
    else:
        raise ConfigError("Authentication must be Windows or SQL Server.", field="auth")
    known = {k.lower() for k, _ in pairs} | {"trusted_connection", "uid", "pwd"}
    other = [(k, v) for k, v in parse_odbc(p.other) if k.lower() not in known]
    other_keys = {k.lower() for k, _ in other}
    if _driver_version(pairs[0][1]) >= 18 and "encrypt" not in other_keys:
        # Driver 18's defaults, spelled out so the Connection String shows the knob: a server with a self-signed
        # certificate needs TrustServerCertificate=yes in Other Connection Params (see encryption_hint).
        pairs.append(("Encrypt", "yes"))
        if "trustservercertificate" not in other_keys:
            pairs.append(("TrustServerCertificate", "no"))
    pairs += other
    # DRIVER keeps its braces verbatim; other values are quoted only when needed
    odbc = ";".join([f"DRIVER={pairs[0][1]}"] + [f"{k}={odbc_quote(v)}" for k, v in pairs[1:]])
    return "mssql+pyodbc:///?odbc_connect=" + quote_plus(odbc)


def _driver_version(driver: str) -> int:
    """18 for "{ODBC Driver 18 for SQL Server}", 0 for any other driver."""
    match = _MS_DRIVER.match(driver.strip())
    return int(re.search(r"\d+", driver).group()) if match else 0  # type: ignore[union-attr]


_CERT_WORDS = ("certificate", "ssl provider", "tls handshake")


def encryption_hint(url: str, reason: str) -> str:
    """For a SQL Server connection refused over its TLS certificate (ODBC Driver 18 encrypts and verifies by
    default; most servers have a self-signed one): the sentence to add to the error, else ""."""
    try:
        backend = _make(url).get_backend_name()
    except ConfigError:
        return ""
    if backend != "mssql" or not any(w in reason.lower() for w in _CERT_WORDS):
        return ""
    return ("; if the server uses a self-signed certificate, add TrustServerCertificate=yes to Other Connection "
            "Params (or install a certificate the computer trusts)")


def parse_url(url: str) -> ConnectionParams:
    """A stored URL back into dialog values (what build_url would turn into the same connection)."""
    u = _make(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        return ConnectionParams(kind="sqlite", database=u.database or "")
    if backend == "mssql":
        odbc = odbc_string(u)
        if odbc is None:  # mssql+pyodbc://user:pw@host/db?driver=...
            return ConnectionParams(
                kind="sqlserver", server=u.host or "", port=u.port, database=u.database or "",
                auth="sql" if u.username else "windows", username=u.username or "", password=u.password or "",
                driver=str(u.query.get("driver", "")),
                other=";".join(f"{k}={v}" for k, v in u.query.items() if k != "driver"),
            )
        p = ConnectionParams(kind="sqlserver", auth="sql")
        other = []
        for k, v in parse_odbc(odbc):
            key = k.lower()
            if key == "driver":
                p.driver = v
            elif key in ("server", "data source", "address", "addr"):
                p.server = v
            elif key in ("database", "initial catalog"):
                p.database = v
            elif key in ("uid", "user id"):
                p.username = v
            elif key in _PASSWORD_KEYS:
                p.password = v
            elif key in ("trusted_connection", "integrated security") and v.lower() in ("yes", "true", "sspi"):
                p.auth = "windows"
            else:
                other.append((k, v))
        p.other = format_odbc(other)
        return p
    kind = {"postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql"}.get(backend)
    if kind is None:
        raise ConfigError(f"The connection dialog does not know '{backend}' URLs; edit the connection string directly.")
    return ConnectionParams(
        kind=kind, server=u.host or "", port=u.port, database=u.database or "", username=u.username or "",
        password=u.password or "", other="&".join(f"{k}={v}" for k, v in u.query.items()),
    )


def normalize(text: str) -> str:
    """Accept a SQLAlchemy URL, or a bare ODBC / ADO.NET SQL Server connection string (as the old client stored)."""
    text = (text or "").strip()
    if not text:
        raise ConfigError("Enter the connection string of the storage database.", field="url")
    if "://" in text:
        _make(text)
        return text
    pairs = parse_odbc(text)
    keys = {k.lower() for k, _ in pairs}
    if not keys & {"server", "data source", "address", "addr", "dsn"}:
        raise ConfigError("The connection string names no server: use a URL such as mssql+pyodbc://… or SERVER=…;DATABASE=….")
    ado = {"data source": "SERVER", "address": "SERVER", "addr": "SERVER", "initial catalog": "DATABASE",
           "user id": "UID", "password": "PWD", "integrated security": "Trusted_Connection"}
    out = []
    for k, v in pairs:
        key = ado.get(k.lower(), k)
        if key == "Trusted_Connection":
            v = "yes" if v.lower() in ("yes", "true", "sspi") else "no"
        if k.lower() in ("provider", "persist security info"):
            continue  # OLE DB / ADO.NET only
        out.append((key, v))
    if "driver" not in keys and "dsn" not in keys:
        out.insert(0, ("DRIVER", default_sqlserver_driver()))
    odbc = ";".join(f"{k}={'{' + v.strip('{}') + '}' if k.upper() == 'DRIVER' else odbc_quote(v)}" for k, v in out)
    return "mssql+pyodbc:///?odbc_connect=" + quote_plus(odbc)


def odbc_string(u: URL) -> str | None:
    value = u.query.get("odbc_connect")
    if isinstance(value, tuple):
        value = value[0]
    return value or None


def odbc_driver(url: str | URL) -> str | None:
    """The ODBC driver a mssql+pyodbc URL names (odbc_connect DRIVER= or ?driver=), else None."""
    u = _make(url) if isinstance(url, str) else url
    odbc = odbc_string(u)
    if odbc:
        for k, v in parse_odbc(odbc):
            if k.lower() == "driver":
                return v.strip("{}")
        return None
    value = u.query.get("driver")
    return str(value) if value else None


def use_fast_executemany(url: str | URL) -> bool:
    """pyodbc's fast_executemany only for Microsoft's own driver: FreeTDS and the old "SQL Server" driver misbehave."""
    u = _make(url) if isinstance(url, str) else url
    if u.get_backend_name() != "mssql" or u.get_driver_name() != "pyodbc":
        return False
    driver = odbc_driver(u)
    return bool(driver and _MS_DRIVER.match(driver))


def mask_url(url: str) -> str:
    """For display: the URL with every password replaced by *** (URL password, PWD=/Password= in odbc_connect)."""
    try:
        u = _make(url)
    except ConfigError:
        return "<invalid connection string>"
    odbc = odbc_string(u)
    if odbc:
        try:
            pairs = [(k, MASK if k.lower() in _PASSWORD_KEYS else v) for k, v in parse_odbc(odbc)]
        except ConfigError:
            pairs = [("odbc_connect", MASK)]
        shown = ";".join(f"{k}={v}" for k, v in pairs)  # readable, for display only
        rest = u.difference_update_query(["odbc_connect"])
        sep = "&" if rest.query else "?"
        return f"{rest.render_as_string(hide_password=True)}{sep}odbc_connect={shown}"
    return u.render_as_string(hide_password=True)


def url_secrets(url: str) -> list[str]:
    """Every password in the URL: text that must never reach a log line or message."""
    try:
        u = _make(url)
    except ConfigError:
        return []
    found = [u.password] if u.password else []
    odbc = odbc_string(u)
    if odbc:
        try:
            found += [v for k, v in parse_odbc(odbc) if k.lower() in _PASSWORD_KEYS and v]
        except ConfigError:
            pass
    return [str(s) for s in found]


def describe(url: str) -> str:
    """Short words for messages: "SQL Server MYHOST\\SQLEXPRESS / IntegrationData" (no user, no password)."""
    try:
        p = parse_url(url)
    except ConfigError:
        return "the database"
    if p.kind == "sqlite":
        return f"SQLite file {p.database}"
    return f"{KIND_LABELS[p.kind]} {p.server or 'localhost'}/{p.database}"


def _make(url: str) -> URL:
    try:
        return make_url(url)
    except Exception:  # noqa: BLE001 - never echo the text: it may hold a password
        raise ConfigError("The connection string is not a valid database URL (e.g. mssql+pyodbc://…, sqlite:///path).",
                          field="url") from None


def _parse_query(text: str) -> dict[str, str]:
    query: dict[str, str] = {}
    for part in re.split(r"[&;]", text or ""):
        if part.strip():
            k, sep, v = part.partition("=")
            if not sep:
                raise ConfigError(f"The extra parameter '{part.strip()}' needs the form key=value.", field="other")
            query[k.strip()] = v.strip()
    return query
