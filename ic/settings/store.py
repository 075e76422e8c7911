"""Read and write the settings database (SQLite file by default, or any SQLAlchemy URL)."""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from typing import Any, Iterator

from sqlalchemy import Engine, create_engine, delete, event, insert, literal, select, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ic import paths
from ic.dburl import engine_kwargs, same_database, scrubbed_reason
from ic.errors import ConfigError, NotFound
from ic.secrets import SecretBox
from ic.settings import schema as s
from ic.settings.models import (
    DATA_TYPES,
    PRODUCTS,
    DataType,
    DestinationConfig,
    ScheduleConfig,
    SiteConfig,
    SiteCredentials,
    TransferConfig,
)
from ic.settings.validation import validate_at_time, validate_host, validate_name


def settings_url(explicit: str | None = None) -> str:
    """Explicit URL, else IC_SETTINGS, else the URL the first-run wizard saved (bootstrap.json), else the default."""
    from ic.settings import bootstrap

    return explicit or os.environ.get("IC_SETTINGS") or bootstrap.read_url() or paths.default_settings_url()


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class SettingsStore:
    """The one object that reads and writes settings. Thread-safe for separate calls (a connection each)."""

    def __init__(self, url: str, secret_box: SecretBox | None = None) -> None:
        self.url = url
        self.secrets = secret_box or SecretBox()
        try:
            backend = make_url(url).get_backend_name()
        except Exception:  # noqa: BLE001 - never echo the URL: it may hold a password
            raise ConfigError(
                "The settings database URL is not a database URL; use one like sqlite:///C:/IC/settings.db or "
                "mssql+pyodbc://@server/database?driver=ODBC+Driver+18+for+SQL+Server."
            ) from None
        kwargs: dict[str, Any] = {"future": True}
        if backend == "sqlite":
            db = make_url(url).database
            if db and db != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(db)), exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:  # a settings server (SQL Server, PostgreSQL): the storage destination's options (pool_pre_ping so a
            # restarted server means a reconnect, not a failure; login timeouts)
            try:
                kwargs.update({k: v for k, v in engine_kwargs(url).items() if k != "fast_executemany"})
            except Exception:  # noqa: BLE001 - create_engine below names the problem
                kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(_url_unusable(url, exc)) from None
        if backend == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._migrate()

    # --- infrastructure -------------------------------------------------------------------
    def _migrate(self) -> None:
        try:
            s.metadata.create_all(self.engine)
            with self.engine.begin() as conn:
                row = conn.execute(select(s.meta.c.value).where(s.meta.c.key == "schema_version")).first()
                version = int(row[0]) if row else 0
                if version == 0:
                    conn.execute(insert(s.meta).values(key="schema_version", value=str(s.SCHEMA_VERSION)))
                    return
                if version > s.SCHEMA_VERSION:
                    raise ConfigError(
                        f"The settings database was written by a newer Integration Client (schema {version}); "
                        "upgrade this program."
                    )
                while version < s.SCHEMA_VERSION:
                    s.MIGRATIONS[version](conn)  # type: ignore[operator]
                    version += 1
                conn.execute(update(s.meta).where(s.meta.c.key == "schema_version").values(value=str(version)))
        except SQLAlchemyError as exc:
            where, reason = _where(self.url), _db_reason(exc, self.url)
            raise ConfigError(f"Cannot open the settings database{where}: {reason}.") from None

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(s.meta.c.value).where(s.meta.c.key == "schema_version")).scalar_one())

    def close(self) -> None:
        self.engine.dispose()

    # --- sites ------------------------------------------------------------------------------
    def save_site(
        self,
        site: SiteConfig,
        client_secret: str | None = None,
        backup_password: str | None = None,
        *,
        clear_backup_password: bool = False,
    ) -> SiteConfig:
        """Insert (no id) or update (id set). A None secret keeps the stored one."""
        name = validate_name(site.name, "site")
        host = validate_host(site.host)
        if not (site.client_id or "").strip():
            raise ConfigError(f"Enter the OAuth Client ID for site {name}.", field="client_id")
        if site.product not in PRODUCTS:
            raise ConfigError(f"Product must be one of {', '.join(PRODUCTS)}.", field="product")
        if site.ca_bundle and os.path.isdir(site.ca_bundle):
            raise ConfigError(f"The CA bundle {site.ca_bundle} for site {name} is a folder; choose the PEM file in it.",
                              field="ca_bundle")
        if site.ca_bundle and not os.path.isfile(site.ca_bundle):
            raise ConfigError(f"The CA bundle file {site.ca_bundle} for site {name} does not exist.", field="ca_bundle")
        values: dict[str, Any] = {
            "name": name,
            "host": host,
            "client_id": site.client_id.strip(),
            "ca_bundle": site.ca_bundle or None,
            "product": site.product,
        }
        if client_secret:
            values["client_secret_enc"] = self.secrets.encrypt(client_secret, "site.client_secret")
        elif site.id is None:
            raise ConfigError(f"Enter the OAuth Client Secret for site {name}.", field="client_secret")
        if backup_password:
            values["backup_password_enc"] = self.secrets.encrypt(backup_password, "site.backup_password")
        elif clear_backup_password:
            values["backup_password_enc"] = None
        with self._begin(f"site {name}") as conn:
            site_id = _write(conn, s.sites, site.id, values)
        return self.get_site(site_id)

    def get_site(self, name_or_id: str | int) -> SiteConfig:
        with self.engine.connect() as conn:
            row = _named_row(conn, s.sites, name_or_id, "site", "Site Configuration")
        return _site_from_row(row)

    def list_sites(self) -> list[SiteConfig]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.sites).order_by(s.sites.c.name)).mappings().all()
        return [_site_from_row(r) for r in rows]

    def delete_site(self, name: str) -> None:
        self._delete_unused("Site", name, s.sites, self.get_site(name).id, "site_id")

    def _delete_unused(self, noun: str, name: str, table, item_id: int, column: str) -> None:
        """Delete a site or destination with its transfer state; refused while a schedule's transfer uses it."""
        with self._begin(f"{noun.lower()} {name}") as conn:
            used = conn.execute(
                select(s.schedules.c.name)
                .select_from(s.transfers.join(s.schedules, s.transfers.c.schedule_id == s.schedules.c.id))
                .where(s.transfers.c[column] == item_id)
            ).first()
            if used:
                raise ConfigError(f"{noun} {name} is used by a schedule ({used[0]}); remove it from that schedule first.")
            conn.execute(delete(s.transfer_state).where(s.transfer_state.c[column] == item_id))
            conn.execute(delete(table).where(table.c.id == item_id))

    def site_credentials(self, site: SiteConfig | str) -> SiteCredentials:
        """Decrypt the site's secrets; raises SecretUnavailable naming the site when the key cannot open them."""
        name = site if isinstance(site, str) else site.name
        with self.engine.connect() as conn:
            row = conn.execute(select(s.sites).where(s.sites.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"There is no site named '{name}'.")
        if not row["client_secret_enc"]:
            raise ConfigError(f"Enter the client secret for site {name}.", field="client_secret")
        secret = self.secrets.decrypt(row["client_secret_enc"], "site.client_secret", f"the client secret for site {name}")
        password = None
        if row["backup_password_enc"]:
            password = self.secrets.decrypt(
                row["backup_password_enc"], "site.backup_password", f"the backup password for site {name}"
            )
        return SiteCredentials(client_secret=secret, backup_password=password)

    # --- destinations -----------------------------------------------------------------------
    def save_destination(self, dest: DestinationConfig) -> DestinationConfig:
        """Insert or update. Fields named in ``secret_fields`` are encrypted; an empty secret keeps the stored one."""
        name = validate_name(dest.name, "destination")
        url = dest.config.get("url")
        if url and same_database(str(url), self.url, engine_b=self.engine):
            raise ConfigError(
                f"Destination {name} points at the settings database; the guide requires a separate storage database.",
                field="url",
            )
        public = {k: v for k, v in dest.config.items() if k not in dest.secret_fields}
        secrets = {k: dest.config[k] for k in dest.secret_fields if dest.config.get(k)}
        values: dict[str, Any] = {
            "name": name,
            "type": dest.type,
            "config_json": json.dumps({**public, "__secret_fields__": list(dest.secret_fields)}, sort_keys=True),
        }
        with self._begin(f"destination {name}") as conn:
            if dest.id is not None and not secrets:
                pass  # keep stored secrets
            elif dest.id is not None:
                old = conn.execute(select(s.destinations.c.secrets_enc).where(s.destinations.c.id == dest.id)).scalar()
                merged = {**(self._open_dest_secrets(old, name) if old else {}), **secrets}
                values["secrets_enc"] = self.secrets.encrypt(json.dumps(merged), "destination.secrets")
            else:
                values["secrets_enc"] = self.secrets.encrypt(json.dumps(secrets), "destination.secrets") if secrets else None
            dest_id = _write(conn, s.destinations, dest.id, values)
        return self.get_destination(dest_id, reveal=False)

    def get_destination(self, name_or_id: str | int, reveal: bool = True) -> DestinationConfig:
        """The destination; with ``reveal`` its secret fields are decrypted into ``config``."""
        with self.engine.connect() as conn:
            row = _named_row(conn, s.destinations, name_or_id, "destination", "Plugin Configuration")
        config = json.loads(row["config_json"])
        secret_fields = tuple(config.pop("__secret_fields__", ()))
        if reveal and row["secrets_enc"]:
            config.update(self._open_dest_secrets(row["secrets_enc"], row["name"], secret_fields))
        return DestinationConfig(row["name"], row["type"], config, row["id"], secret_fields)

    def _open_dest_secrets(self, token: str, name: str, fields: tuple[str, ...] = ()) -> dict:
        what = "connection string" if tuple(fields) == ("url",) else "password"
        return json.loads(self.secrets.decrypt(token, "destination.secrets", f"the {what} of destination {name}"))

    def list_destinations(self) -> list[DestinationConfig]:
        with self.engine.connect() as conn:
            names = conn.execute(select(s.destinations.c.id).order_by(s.destinations.c.name)).scalars().all()
        return [self.get_destination(i, reveal=False) for i in names]

    def delete_destination(self, name: str) -> None:
        self._delete_unused("Destination", name, s.destinations, self.get_destination(name, reveal=False).id,
                            "destination_id")

    # --- schedules --------------------------------------------------------------------------
    def save_schedule(self, sched: ScheduleConfig, *, now: datetime | None = None) -> ScheduleConfig:
        """Insert (no id) or update. A schedule with a time of day that has served no slot yet waits for its first
        slot after ``now`` (default: the current time; kept in ``created``), never because of a Run Now."""
        name = validate_name(sched.name, "schedule")
        if not 60 <= sched.every_seconds <= 7 * 86400:
            raise ConfigError("Run Every must be between 1 minute and 7 days.", field="every")
        at_time = validate_at_time(sched.at_time)
        if at_time and sched.every_seconds % 86400:
            raise ConfigError("A time of day can only be set when Run Every is a whole number of days.", field="at_time")
        rows = []
        for pos, tr in enumerate(sched.transfers):
            site = self.get_site(tr.site)
            dest = self.get_destination(tr.destination, reveal=False)
            types = [t.strip() for t in tr.data_types if t.strip()]
            if not types:
                raise ConfigError(f"Choose at least one data type for the transfer {site.name} -> {dest.name}.")
            for t in types:
                if t not in DATA_TYPES:
                    raise ConfigError(f"Unknown data type '{t}'; use one of {', '.join(DATA_TYPES)}.", field="data")
            if DataType.SMSR in types and site.product == "pra":  # VENDOR: PRA has no Show My Screen recordings
                raise ConfigError(f"Site {site.name} is a Privileged Remote Access site, which has no Show My Screen "
                                  f"recordings; untick Show My Screen in the transfer {site.name} -> {dest.name}.",
                                  field="data")
            rows.append({"position": pos, "site_id": site.id, "destination_id": dest.id, "data_types": ",".join(types)})
        values = {"name": name, "every_seconds": sched.every_seconds, "at_time": at_time, "enabled": sched.enabled}
        created = (now.astimezone(timezone.utc).replace(tzinfo=None) if now and now.tzinfo else now) or _utcnow()
        with self._begin(f"schedule {name}") as conn:
            if at_time:
                current = None if sched.id is None else conn.execute(
                    select(s.schedules.c.last_slot).where(s.schedules.c.id == sched.id)).scalar()
                if current is None:
                    values["created"] = created.replace(microsecond=0)
            sched_id = _write(conn, s.schedules, sched.id, values)
            if sched.id is not None:  # its transfers are written again below
                conn.execute(delete(s.transfers).where(s.transfers.c.schedule_id == sched_id))
            for r in rows:
                conn.execute(insert(s.transfers).values(schedule_id=sched_id, **r))
        return self.get_schedule(sched_id)

    def get_schedule(self, name_or_id: str | int) -> ScheduleConfig:
        with self.engine.connect() as conn:
            row = _named_row(conn, s.schedules, name_or_id, "schedule", "Schedule Configuration")
            trs = conn.execute(_transfer_rows().where(s.transfers.c.schedule_id == row["id"])).all()
        return _schedule_from_row(row, trs)

    def list_schedules(self) -> list[ScheduleConfig]:
        """Every schedule, by name: two queries whatever their number (the resident scheduler asks every minute)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.schedules).order_by(s.schedules.c.name)).mappings().all()
            trs = conn.execute(_transfer_rows()).all() if rows else []
        by_schedule: dict[int, list] = {}
        for t in trs:
            by_schedule.setdefault(t[4], []).append(t)
        return [_schedule_from_row(row, by_schedule.get(row["id"], [])) for row in rows]

    def delete_schedule(self, name: str) -> None:
        sched = self.get_schedule(name)
        with self._begin(f"schedule {name}") as conn:
            conn.execute(delete(s.transfers).where(s.transfers.c.schedule_id == sched.id))
            conn.execute(delete(s.schedules).where(s.schedules.c.id == sched.id))

    def set_schedule_created(self, name: str, when: datetime) -> None:
        """Move a never-run schedule's waiting point (its creation time was ahead of the clock now in use)."""
        value = when.astimezone(timezone.utc).replace(tzinfo=None) if when.tzinfo else when
        with self._begin(f"schedule {name}") as conn:
            conn.execute(update(s.schedules).where(s.schedules.c.name == name, s.schedules.c.last_slot.is_(None))
                         .values(created=value.replace(microsecond=0)))

    def mark_schedule_run(self, name: str, when: datetime | None, status: str, *, slot: datetime | None = None) -> None:
        """Record the outcome; ``when`` None leaves last_run unchanged (the guide's rule for internal errors).
        ``slot``: the slot this run served (scheduled runs only; Run Now and exports never move the slots)."""
        values: dict[str, Any] = {"last_status": status}
        if when is not None:
            values["last_run"] = when
        if slot is not None:
            values["last_slot"] = slot.astimezone(timezone.utc).replace(tzinfo=None) if slot.tzinfo else slot
        with self._begin(f"schedule {name}") as conn:
            conn.execute(update(s.schedules).where(s.schedules.c.name == name).values(**values))

    # --- incremental transfer state (content owned by ic.transfer.state) -------------------------
    def load_state(self, site_id: int, destination_id: int, data_type: str) -> dict | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(s.transfer_state.c.state_json).where(
                    s.transfer_state.c.site_id == site_id,
                    s.transfer_state.c.destination_id == destination_id,
                    s.transfer_state.c.data_type == data_type,
                )
            ).scalar()
        return json.loads(value) if value else None

    def save_state(self, site_id: int, destination_id: int, data_type: str, state: dict) -> None:
        key = dict(site_id=site_id, destination_id=destination_id, data_type=data_type)
        payload = json.dumps(state, sort_keys=True)
        with self._begin("transfer state") as conn:
            cond = [getattr(s.transfer_state.c, k) == v for k, v in key.items()]
            if _exists(conn, s.transfer_state, cond):
                conn.execute(update(s.transfer_state).where(*cond).values(state_json=payload, updated_at=_utcnow()))
            else:
                conn.execute(insert(s.transfer_state).values(**key, state_json=payload, updated_at=_utcnow()))

    # --- application / notification settings -----------------------------------------------
    def get_setting(self, key: str, default: str | None = None) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(s.app_settings.c.value).where(s.app_settings.c.key == key)).first()
        return default if value is None else value[0]

    def set_setting(self, key: str, value: str | None) -> None:
        with self._begin(f"setting {key}") as conn:
            cond = [s.app_settings.c.key == key]
            if _exists(conn, s.app_settings, cond):
                conn.execute(update(s.app_settings).where(*cond).values(value=value))
            else:
                conn.execute(insert(s.app_settings).values(key=key, value=value))

    def get_secret_setting(self, key: str) -> str | None:
        token = self.get_setting(key)
        what = _SECRET_SETTING_NAMES.get(key, f"the {key.replace('_', ' ')}")
        return self.secrets.decrypt(token, f"setting.{key}", what) if token else None

    def set_secret_setting(self, key: str, value: str | None) -> None:
        self.set_setting(key, self.secrets.encrypt(value, f"setting.{key}") if value else None)

    def all_settings(self) -> Iterator[tuple[str, str | None]]:
        with self.engine.connect() as conn:
            yield from conn.execute(select(s.app_settings.c.key, s.app_settings.c.value)).all()

    # --- helpers ----------------------------------------------------------------------------
    def _begin(self, what: str):
        return _Txn(self.engine, what, self.url)


class _Txn:
    """Transaction context that turns duplicate names and DB failures into one-sentence ConfigErrors."""

    def __init__(self, engine: Engine, what: str, url: str | None = None) -> None:
        self.engine, self.what, self.url = engine, what, url
        self._cm = None

    def __enter__(self) -> Connection:
        self._cm = self.engine.begin()
        return self._cm.__enter__()

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._cm.__exit__(exc_type, exc, tb)
        if isinstance(exc, IntegrityError):
            raise ConfigError(f"Cannot save {self.what}: that name is already used.") from None
        if isinstance(exc, SQLAlchemyError):
            raise ConfigError(f"Cannot save {self.what}: {_db_reason(exc, self.url)}.") from None
        return False


_SECRET_SETTING_NAMES = {"notify.password": "the SMTP password in Notification Settings"}


def _where(url: str) -> str:
    """ " FILE" for SQLite, " HOST/DATABASE" for a server: which database, never the password."""
    try:
        u = make_url(url)
    except Exception:  # noqa: BLE001
        return ""
    if u.get_backend_name() == "sqlite":
        return f" {u.database}" if u.database and u.database != ":memory:" else ""
    place = "/".join(x for x in (u.host, u.database) if x)
    return f" {place}" if place else ""


def _url_unusable(url: str, exc: Exception) -> str:
    """The driver named in the URL is unknown or not installed: say which one and which ones work."""
    try:
        driver = make_url(url).drivername
    except Exception:  # noqa: BLE001
        driver = "?"
    if isinstance(exc, ImportError):
        return (f"The settings database driver {driver} is not installed in this program; use sqlite, "
                "mssql+pyodbc or postgresql+psycopg.")
    return (f"The settings database URL names the driver {driver}, which is not supported; use sqlite, "
            "mssql+pyodbc or postgresql+psycopg.")


def _db_reason(exc: SQLAlchemyError, url: str | None = None) -> str:
    """The driver's message, passwords masked, with the TrustServerCertificate advice where it applies."""
    return scrubbed_reason(exc, url)


def _exists(conn: Connection, table, cond: list) -> bool:
    """Row present? Asked with SELECT, not an UPDATE's rowcount: a SQL Server set to NOCOUNT ON reports -1."""
    return conn.execute(select(literal(1)).select_from(table).where(*cond)).first() is not None


def _by(table, name_or_id: str | int):
    return table.c.id == name_or_id if isinstance(name_or_id, int) else table.c.name == name_or_id


def _write(conn: Connection, table, row_id: int | None, values: dict) -> int:
    """INSERT a new named item (``row_id`` None) or UPDATE the one with that id; returns its id."""
    if row_id is None:
        return conn.execute(insert(table).values(**values)).inserted_primary_key[0]
    conn.execute(update(table).where(table.c.id == row_id).values(**values))
    return row_id


def _named_row(conn: Connection, table, name_or_id: str | int, noun: str, dialog: str):
    """The row of a site, destination or schedule by name or id; NotFound says where to add it."""
    row = conn.execute(select(table).where(_by(table, name_or_id))).mappings().first()
    if row is None:
        raise NotFound(f"There is no {noun} named '{name_or_id}'; add it under {dialog}.")
    return row


def _transfer_rows():
    """(id, site name, destination name, data types, schedule id) of transfers, in their schedule's order."""
    return (
        select(s.transfers.c.id, s.sites.c.name, s.destinations.c.name, s.transfers.c.data_types,
               s.transfers.c.schedule_id)
        .join(s.sites, s.sites.c.id == s.transfers.c.site_id)
        .join(s.destinations, s.destinations.c.id == s.transfers.c.destination_id)
        .order_by(s.transfers.c.schedule_id, s.transfers.c.position)
    )


def _schedule_from_row(row, trs) -> ScheduleConfig:
    transfers = [TransferConfig(site=t[1], destination=t[2], data_types=t[3].split(","), id=t[0]) for t in trs]
    return ScheduleConfig(
        name=row["name"],
        every_seconds=row["every_seconds"],
        transfers=transfers,
        at_time=row["at_time"],
        enabled=bool(row["enabled"]),
        last_run=row["last_run"],
        last_status=row["last_status"],
        id=row["id"],
        last_slot=row["last_slot"],
        created=row["created"],
    )


def _site_from_row(row) -> SiteConfig:
    return SiteConfig(
        name=row["name"],
        host=row["host"],
        client_id=row["client_id"],
        ca_bundle=row["ca_bundle"],
        product=row["product"],
        id=row["id"],
        has_client_secret=bool(row["client_secret_enc"]),
        has_backup_password=bool(row["backup_password_enc"]),
    )


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    from ic.netshare import journal_mode_for_connection  # WAL, but the rollback journal on a network share

    cur.execute(f"PRAGMA journal_mode={journal_mode_for_connection(dbapi_conn, 'settings database')}")
    cur.close()


def open_store(url: str | None = None) -> SettingsStore:
    return SettingsStore(settings_url(url))
