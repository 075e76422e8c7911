"""Destinations: what `destination add|edit|list|test|remove|types` and the GUI's Plugin Configuration both call.

Validation and secret handling are decided here, once, from what each plugin declares (:class:`FieldSpec`):
- secret keys: fields with ``secret=True`` or ``kind="password"`` (encrypted by the settings store, never listed);
- a secret left empty when editing keeps the stored one (and is not "missing");
- ``connection_string`` fields are stored as full SQLAlchemy URLs (an old ODBC / ADO.NET string is accepted; a
  relative SQLite path is made absolute, because the scheduled task runs in another folder);
- the plugin's own ``validate()`` has the last word; its first problem is raised as a ConfigError naming the field.
"""
from __future__ import annotations

from typing import Any, Iterable

from ic.dburl import absolute_sqlite, normalize_url, same_database
from ic.destinations.base import Destination, FieldSpec
from ic.connection_string import MASK, mask_url
from ic.destinations.registry import available_types, create_destination, destination_class, secret_fields_of
from ic.errors import ConfigError, ICError, SecretUnavailable
from ic.services.results import TestResult
from ic.settings.models import DataType, DestinationConfig

__all__ = [
    "accepted_data_types",
    "check_config",
    "describe",
    "edit_destination",
    "parse_value",
    "plugin_class",
    "plugin_types",
    "prepare",
    "problems",
    "refuse_settings_database",
    "refused_data_types",
    "remove_destination",
    "save_destination",
    "secret_keys",
    "test_destination",
    "test_destination_config",
]


# --- what the plugins declare -------------------------------------------------------------------------------------
def plugin_types() -> dict[str, type[Destination]]:
    """Installed plugins: type name -> class (built-ins first)."""
    return available_types()


def plugin_class(type_name: str) -> type[Destination]:
    return destination_class(type_name)


def secret_keys(cls: type[Destination]) -> tuple[str, ...]:
    """The config keys the settings store encrypts and nothing ever shows."""
    return secret_fields_of(cls)


def accepted_data_types(cls: type[Destination] | None, data_types: Iterable[str]) -> list[str]:
    """The data types this plugin takes: session data always; recordings and backups only if it accepts files.
    An unknown plugin (None) is taken at its word: everything."""
    takes_files = True if cls is None else cls.accepts_files
    return [t for t in data_types if t == DataType.SESSION or takes_files]


def refused_data_types(cls: type[Destination] | None, data_types: Iterable[str]) -> list[str]:
    kept = accepted_data_types(cls, data_types)
    return [t for t in data_types if t not in kept]


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def parse_value(spec: FieldSpec, text: str) -> object:
    """A setting typed as text (CLI --set KEY=VALUE) -> the value the plugin expects."""
    if spec.kind == "int":
        if not text.strip():
            return None
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{spec.label} must be a whole number.", field=spec.key) from None
    if spec.kind == "bool":
        return _truthy(text)
    if spec.kind == "choice" and spec.choices and text not in spec.choices:
        raise ConfigError(f"{spec.label} must be one of {', '.join(spec.choices)}.", field=spec.key)
    return text


def prepare(cls: type[Destination], config: dict) -> dict:
    """The config as it is stored: connection strings as full URLs, booleans as booleans."""
    out = dict(config)
    for spec in cls.fields():
        value = out.get(spec.key)
        if spec.kind == "connection_string" and isinstance(value, str) and value.strip():
            try:
                out[spec.key] = absolute_sqlite(normalize_url(value))
            except ICError:
                pass  # the plugin's validate() names the problem
        elif spec.kind == "bool" and isinstance(value, str):
            out[spec.key] = _truthy(value)
    return out


def problems(cls: type[Destination], config: dict, saved_secrets: Iterable[str] = ()) -> dict[str, str]:
    """Field key -> one sentence; a secret left empty that is already saved is kept, so it is not missing."""
    errors = dict(cls.validate(config) or {})
    saved = set(saved_secrets)
    for key in secret_keys(cls):
        if not config.get(key) and key in saved:
            errors.pop(key, None)
    return errors


def refuse_settings_database(store, name: str, cls: type[Destination], config: dict) -> None:
    """The guide keeps settings and storage apart: a connection string that IS the settings database (the same file
    or the same server and database, whatever the spelling: ic.dburl) is refused, naming the field."""
    if store is None or not getattr(store, "url", None):
        return
    for spec in cls.fields():
        value = config.get(spec.key)
        if spec.kind == "connection_string" and isinstance(value, str) and value.strip() and same_database(
                value, store.url, engine_b=getattr(store, "engine", None)):
            raise ConfigError(f"Destination {name} points at the settings database; the guide requires a separate "
                              "storage database.", field=spec.key)


def _raise_first(errors: dict[str, str]) -> None:
    if errors:
        raise ConfigError(" ".join(errors.values()), field=next(iter(errors)))


# --- saving ------------------------------------------------------------------------------------------------------
def save_destination(store, name: str, type_name: str, config: dict[str, Any], *,
                     id: int | None = None) -> DestinationConfig:  # noqa: A002 - the store's own word
    """Add (``id`` None) or change a destination. An empty secret keeps the stored one."""
    cls = plugin_class(type_name)
    secrets = secret_keys(cls)
    saved_secrets: tuple[str, ...] = ()
    if id is not None:
        saved_secrets = store.get_destination(id, reveal=False).secret_fields
    config = prepare(cls, {k: v for k, v in config.items() if not (k in secrets and not v)})
    _raise_first(problems(cls, config, saved_secrets))
    refuse_settings_database(store, name, cls, config)
    saved = store.save_destination(DestinationConfig(name, type_name, config, id, secret_fields=secrets))
    if id is not None:
        _quarantine_follows(store, saved)
    return saved


def _quarantine_follows(store, dest: DestinationConfig) -> None:
    """A renamed destination keeps its quarantined sessions and recordings (verify lists them at once, not only
    after the next run moved them)."""
    from ic.transfer.quarantine import follow_rename

    for host in {site.host for site in store.list_sites()}:
        follow_rename(host, dest.name, dest.id)


def edit_destination(store, name: str, changes: dict[str, Any] | None = None, *,
                     rename: str | None = None) -> DestinationConfig:
    """Change some settings of a stored destination; the others (secrets included) keep their value."""
    current = store.get_destination(name, reveal=False)
    config = {**current.config, **(changes or {})}
    return save_destination(store, (rename or current.name).strip(), current.type, config, id=current.id)


def remove_destination(store, name: str) -> None:
    """Refused (ConfigError naming the schedule) while a schedule uses it."""
    store.delete_destination(name)


# --- showing -----------------------------------------------------------------------------------------------------
def describe(store, dest: DestinationConfig) -> str:
    """"key=value, ..." for a list: passwords as ***, connection strings with their password masked."""
    config = dict(dest.config)
    note = ""
    if dest.secret_fields:
        try:
            config = dict(store.get_destination(dest.name, reveal=True).config)
        except SecretUnavailable:
            what = "connection string" if tuple(dest.secret_fields) == ("url",) else "password"
            note = f" (stored {what} cannot be decrypted here: re-enter it)"
    cls = available_types().get(dest.type)
    specs = {f.key: f for f in cls.fields()} if cls else {}
    parts = []
    for key, value in config.items():
        spec = specs.get(key)
        if key in dest.secret_fields or (spec and spec.secret):
            kind = spec.kind if spec else ("connection_string" if key == "url" else "password")
            value = mask_url(str(value)) if kind == "connection_string" else MASK
        if value is None or value == "":
            continue
        parts.append(f"{key}={value}")
    return ", ".join(parts) + note


# --- testing -----------------------------------------------------------------------------------------------------
def _test(dest: Destination) -> str:
    try:
        return dest.test()
    finally:
        dest.close()


def check_config(store, name: str, type_name: str, config: dict[str, Any], stored_name: str | None = None) -> str:
    """Test values not saved yet (a secret left empty: the one saved under ``stored_name``); raises ICError."""
    cls = plugin_class(type_name)
    config = dict(config)
    if stored_name and store is not None:
        missing = [k for k in secret_keys(cls) if not config.get(k)]
        if missing:
            saved = store.get_destination(stored_name, reveal=True).config
            config.update({k: saved[k] for k in missing if saved.get(k)})
    config = prepare(cls, config)
    refuse_settings_database(store, name, cls, config)
    return _test(create_destination(name, type_name, config))


def test_destination(store, name: str) -> TestResult:
    """Prove a stored destination is writable, leaving nothing behind."""
    try:
        dest = store.get_destination(name, reveal=True)
        cls = available_types().get(dest.type)
        if cls is not None:  # saved before the identity check, or a hard link made since
            refuse_settings_database(store, dest.name, cls, dest.config)
        return TestResult(True, _test(create_destination(dest.name, dest.type, dict(dest.config))))
    except ICError as exc:
        return TestResult.failed(exc)


def test_destination_config(store, name: str, type_name: str, config: dict[str, Any],
                            stored_name: str | None = None) -> TestResult:
    try:
        return TestResult(True, check_config(store, name, type_name, config, stored_name))
    except ICError as exc:
        return TestResult.failed(exc)


# the names start with "test_": keep pytest from collecting them when a test module imports them
test_destination.__test__ = False  # type: ignore[attr-defined]
test_destination_config.__test__ = False  # type: ignore[attr-defined]
