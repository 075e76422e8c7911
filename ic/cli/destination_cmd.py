"""`destination add|list|test|remove` and `import-xml FILE... --destination NAME`."""
from __future__ import annotations

import argparse
import os
import sys

from ic.cli.common import print_table, read_secret, store_from
from ic.destinations.base import Destination, FieldSpec
from ic.errors import ConfigError, ICError


def register(sub: argparse._SubParsersAction) -> None:
    dest = sub.add_parser("destination", help="plugin instances that receive the data (folder, SQL database, ...)")
    dsub = dest.add_subparsers(dest="destination_command", metavar="ACTION", required=True)

    add = dsub.add_parser(
        "add",
        help="add a destination",
        description="Folder: --dir DIR [--name-format F] [--conflict C] [--retention N]. "
        "SQL: --url URL | --url-env VAR (else read from standard input) [--system-info]. "
        "Any plugin: --set KEY=VALUE.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  destination add files --type folder --dir D:\\IC\\Sessions --conflict Skip\n"
               "  destination add warehouse --type sql --url-env IC_DB_URL --system-info\n"
               "  destination add local --type sql --url sqlite:///C:/IC/sessions.db",
    )
    add.add_argument("name", help="destination name (your choice; used by schedules and other commands)")
    add.add_argument("--type", required=True, help="plugin type: folder, sql, or an installed plugin's name")
    add.add_argument("--dir", help="folder: Destination Directory (a local path or a UNC path, not a mapped drive)")
    add.add_argument("--name-format", help="folder: File Name Format, e.g. %%SUPPORT_SITE_HOST%%-%%LSID%%.%%EXTENSION%%")
    add.add_argument("--conflict", choices=("AppendNumber", "Overwrite", "Skip"), help="folder: file name conflict handling")
    add.add_argument("--retention", type=int, metavar="N", help="folder: number of prior backups to keep")
    add.add_argument("--url", help="sql: connection string (a password here is visible to other users: prefer --url-env)")
    add.add_argument("--url-env", metavar="VAR", help="sql: read the connection string from this environment variable")
    add.add_argument("--system-info", action="store_true", help="sql: Should Store System Information = True")
    add.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any plugin setting by its key")
    add.set_defaults(func=_add)

    lst = dsub.add_parser("list", help="list destinations (passwords are never shown)")
    lst.set_defaults(func=_list)
    test = dsub.add_parser("test", help="prove the destination is writable, leaving nothing behind")
    test.add_argument("name", help="destination name (see `destination list`)")
    test.set_defaults(func=_test)
    rm = dsub.add_parser("remove", help="delete a destination")
    rm.add_argument("name", help="destination name (see `destination list`)")
    rm.set_defaults(func=_remove)
    types = dsub.add_parser("types", help="list installed destination plugins and their settings")
    types.set_defaults(func=_types)

    imp = sub.add_parser("import-xml", help="store previously downloaded session XML files in a destination")
    imp.add_argument("files", nargs="+", metavar="FILE", help="session XML file(s) saved from the appliance")
    imp.add_argument("--destination", required=True, metavar="NAME", help="destination to store the sessions in")
    who = imp.add_mutually_exclusive_group()
    who.add_argument("--site-host", metavar="HOST", help="site host name the sessions came from")
    who.add_argument("--site", metavar="NAME", help="configured site the sessions came from (its host is used)")
    imp.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    imp.set_defaults(func=_import_xml)
    from ic.cli.import_fetch import add_fetch_options  # VENDOR hook: recordings/backups, --host (API tester parity)

    add_fetch_options(imp, who, _import_xml)


# --- add -----------------------------------------------------------------------------------------
_ALIASES = {"dir": "directory", "name_format": "name_format", "conflict": "conflict", "retention": "retention"}


def _add(args: argparse.Namespace) -> int:
    from ic.destinations.registry import destination_class, secret_fields_of
    from ic.settings.models import DestinationConfig

    cls = destination_class(args.type)
    specs = {f.key: f for f in cls.fields()}
    config: dict = {k: f.default for k, f in specs.items() if f.default is not None}
    for option, key in _ALIASES.items():
        value = getattr(args, option)
        if value is not None:
            config[_key_for(cls, specs, key, option)] = value
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in specs:
            raise ConfigError(f"--set needs KEY=VALUE with KEY one of: {', '.join(specs)}.")
        config[key.strip()] = _convert(specs[key.strip()], value)
    url_spec = next((f for f in specs.values() if f.kind == "connection_string"), None)
    if url_spec is not None:
        if args.url is not None and args.url_env:
            raise ConfigError("Give the connection string with --url or --url-env, not both.")
        if args.url is not None:
            url = args.url
            _warn_if_password(url)
        elif url_spec.key in config:
            url = config[url_spec.key]
        else:
            url = read_secret(args.url_env, "Connection string: ", f"the connection string of destination {args.name}",
                              option="--url-env")
        config[url_spec.key] = _normalized(cls, url)
        if "system_info" in specs:
            config["system_info"] = bool(args.system_info) or _truthy(config.get("system_info"))
    elif args.url is not None or args.url_env:
        raise ConfigError(f"Destination type {args.type} has no connection string; see `destination types`.")
    problems = cls.validate(config)
    if problems:
        key = next(iter(problems))
        raise ConfigError(" ".join(problems.values()), field=key)
    saved = store_from(args).save_destination(
        DestinationConfig(args.name, args.type, config, secret_fields=secret_fields_of(cls))
    )
    print(f"Destination {saved.name} saved ({cls.display_name}).")
    return 0


def _normalized(cls: type[Destination], url: str) -> str:
    """The SQL plugin stores a SQLAlchemy URL even when given an old ODBC / ADO.NET connection string."""
    from ic.destinations.sql import SqlDestination, normalize_url

    if issubclass(cls, SqlDestination):
        try:
            return _absolute_sqlite(normalize_url(url))
        except ICError:
            return url  # validate() names the problem
    return url


def _absolute_sqlite(url: str) -> str:
    """sqlite:///rel.db means rel.db in the current folder; the scheduled task runs elsewhere, so store the full path."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - validate() names the problem
        return url
    db = parsed.database
    if parsed.get_backend_name() != "sqlite" or not db or db == ":memory:" or db.startswith("file:") \
            or os.path.isabs(db):
        return url
    return parsed.set(database=os.path.abspath(db)).render_as_string(hide_password=False)


def _key_for(cls: type[Destination], specs: dict[str, FieldSpec], key: str, option: str) -> str:
    if key in specs:
        return key
    if option == "dir":
        found = next((k for k, f in specs.items() if f.kind == "directory"), None)
        if found:
            return found
    raise ConfigError(f"--{option.replace('_', '-')} does not apply to {cls.display_name} destinations.")


def _convert(spec: FieldSpec, value: str) -> object:
    if spec.kind == "int":
        if not value.strip():
            return None
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{spec.label} must be a whole number.", field=spec.key) from None
    if spec.kind == "bool":
        return _truthy(value)
    if spec.kind == "choice" and spec.choices and value not in spec.choices:
        raise ConfigError(f"{spec.label} must be one of {', '.join(spec.choices)}.", field=spec.key)
    return value


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _warn_if_password(url: str) -> None:
    from ic.destinations.connection_string import url_secrets

    try:
        from ic.destinations.sql import normalize_url

        has_password = bool(url_secrets(normalize_url(url)))
    except ICError:
        has_password = False
    if has_password:
        print("warning: the connection string holds a password and was typed on the command line, where other "
              "users of this computer can see it; next time use --url-env VAR or standard input.", file=sys.stderr)


# --- list / test / remove / types ---------------------------------------------------------------
def _list(args: argparse.Namespace) -> int:
    store = store_from(args)
    dests = store.list_destinations()
    if not dests:
        print("No destinations yet: add one with `destination add NAME --type folder --dir DIR` "
              "or `destination add NAME --type sql --url-env VAR`.")
        return 0
    print_table(["NAME", "TYPE", "SETTINGS"], [[d.name, d.type, _describe(store, d)] for d in dests])
    return 0


def _describe(store, dest) -> str:
    from ic.destinations.connection_string import MASK, mask_url
    from ic.destinations.registry import available_types
    from ic.errors import SecretUnavailable

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


def _test(args: argparse.Namespace) -> int:
    from ic.destinations.registry import destination_from_config

    dest = destination_from_config(store_from(args).get_destination(args.name, reveal=True))
    try:
        print(dest.test())
    finally:
        dest.close()
    return 0


def _remove(args: argparse.Namespace) -> int:
    store_from(args).delete_destination(args.name)
    print(f"Destination {args.name} removed.")
    return 0


def _types(args: argparse.Namespace) -> int:
    from ic.destinations.registry import available_types

    rows = []
    for name, cls in available_types().items():
        settings = ", ".join(f"{f.key}{'*' if f.required else ''}" for f in cls.fields())
        rows.append([name, cls.display_name, "yes" if cls.accepts_files else "no", settings])
    print_table(["TYPE", "NAME", "FILES", "SETTINGS (* required)"], rows)
    return 0


# --- import-xml ---------------------------------------------------------------------------------
def _import_xml(args: argparse.Namespace) -> int:
    from ic.services.import_xml import import_xml_to_destination

    progress = _ImportProgress(enabled=not args.quiet)
    try:
        result = import_xml_to_destination(
            store_from(args), args.files, args.destination, site_host=args.site_host, site=args.site,
            progress=progress,
        )
    finally:
        progress.close()
    for error in result.errors:
        print(f"error: {error}", file=sys.stderr)
    print(result.summary(args.destination))
    return 0 if result.ok else 1


class _ImportProgress:
    """import-xml progress: a live line on a terminal (stderr); nothing when output goes to a file or a pipe,
    where only the errors and the summary belong."""

    def __init__(self, enabled: bool = True, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream is not None
        self.tty = bool(self.enabled and hasattr(self.stream, "isatty") and self.stream.isatty())
        self._width = 0

    def __call__(self, path, sessions: int) -> None:
        if not self.tty:
            return
        line = f"{path}: {sessions} session(s) stored so far"
        self.stream.write("\r" + line + " " * max(0, self._width - len(line)))
        self._width = len(line)
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
