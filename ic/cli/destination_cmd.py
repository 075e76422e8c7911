"""`destination add|edit|list|test|remove|types` and `import-xml FILE... --destination NAME`."""
from __future__ import annotations

import argparse
import sys

from ic.cli.common import LiveLine, add_action, print_table, read_secret, remove_named, store_from
from ic.destinations.base import Destination, FieldSpec
from ic.errors import ConfigError, ICError


NAME_HELP = "destination name (see `destination list`)"
ADD_EXAMPLES = ("destination add files --type folder --dir D:\\IC\\Sessions --conflict Skip",
                "destination add warehouse --type sql --url-env IC_DB_URL --system-info",
                "destination add local --type sql --url sqlite:///C:/IC/sessions.db")
EDIT_EXAMPLES = ("destination edit files --conflict Overwrite --retention 5",
                 "destination edit warehouse --url-env IC_DB_URL --no-system-info",
                 "destination edit local --rename archive")


def register(sub: argparse._SubParsersAction) -> None:
    actions = sub.add_parser("destination", help="plugin instances that receive the data (folder, SQL database, ...)"
                             ).add_subparsers(dest="destination_command", metavar="ACTION", required=True)
    add = add_action(actions, "add", "add a destination", examples=ADD_EXAMPLES,
                     description="Folder: --dir DIR [--name-format F] [--conflict C] [--retention N]. "
                     "SQL: --url URL | --url-env VAR (else read from standard input) [--system-info]. "
                     "Any plugin: --set KEY=VALUE.")
    add.add_argument("name", help="destination name (your choice; used by schedules and other commands)")
    add.add_argument("--type", required=True, help="plugin type: folder, sql, or an installed plugin's name")
    _add_plugin_options(add, editing=False)
    add.set_defaults(func=_add)

    edit = add_action(actions, "edit", "change a destination; omitted options keep their value (the stored "
                      "connection string too)", examples=EDIT_EXAMPLES,
                      description="The options of `destination add` (without --type), plus --rename NEW.")
    edit.add_argument("name", help=NAME_HELP)
    edit.add_argument("--rename", metavar="NEW", help="new name (schedules using it follow)")
    _add_plugin_options(edit, editing=True)
    edit.set_defaults(func=_edit)

    for action, helptext, func, named in (
        ("list", "list destinations (passwords are never shown)", _list, False),
        ("test", "prove the destination is writable, leaving nothing behind", _test, True),
        ("remove", "delete a destination", _remove, True),
        ("types", "list installed destination plugins and their settings", _types, False),
    ):
        parser = actions.add_parser(action, help=helptext)
        if named:
            parser.add_argument("name", help=NAME_HELP)
        parser.set_defaults(func=func)

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


# --- add / edit --------------------------------------------------------------------------------
_ALIASES = {"dir": "directory", "name_format": "name_format", "conflict": "conflict", "retention": "retention"}


def _add_plugin_options(p: argparse.ArgumentParser, editing: bool) -> None:
    p.add_argument("--dir", help="folder: Destination Directory (a local path or a UNC path, not a mapped drive)")
    p.add_argument("--name-format", help="folder: File Name Format, e.g. %%SUPPORT_SITE_HOST%%-%%LSID%%.%%EXTENSION%%")
    p.add_argument("--conflict", choices=("AppendNumber", "Overwrite", "Skip"), help="folder: file name conflict handling")
    p.add_argument("--retention", type=int, metavar="N", help="folder: number of prior backups to keep")
    p.add_argument("--url", help="sql: connection string (a password here is visible to other users: prefer --url-env)")
    p.add_argument("--url-env", metavar="VAR", help="sql: read the connection string from this environment variable")
    if editing:
        p.add_argument("--system-info", action=argparse.BooleanOptionalAction, default=None,
                       help="sql: Should Store System Information (--no-system-info turns it off)")
    else:
        p.add_argument("--system-info", action="store_true", help="sql: Should Store System Information = True")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any plugin setting by its key")


def _values(args: argparse.Namespace, cls: type[Destination], name: str, editing: bool) -> dict:
    """The settings the options give (only those given); the connection string from --url, --url-env or stdin."""
    from ic.services.destinations import parse_value

    specs = {f.key: f for f in cls.fields()}
    config: dict = {}
    for option, key in _ALIASES.items():
        value = getattr(args, option)
        if value is not None:
            config[_key_for(cls, specs, key, option)] = value
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in specs:
            raise ConfigError(f"--set needs KEY=VALUE with KEY one of: {', '.join(specs)}.")
        config[key.strip()] = parse_value(specs[key.strip()], value)
    url_spec = next((f for f in specs.values() if f.kind == "connection_string"), None)
    if url_spec is None:
        if args.url is not None or args.url_env:
            kind = getattr(args, "type", None) or getattr(cls, "type_name", cls.display_name)
            raise ConfigError(f"Destination type {kind} has no connection string; see `destination types`.")
        return config
    if args.url is not None and args.url_env:
        raise ConfigError("Give the connection string with --url or --url-env, not both.")
    if args.url is not None:
        _warn_if_password(args.url)
        config[url_spec.key] = args.url
    elif args.url_env or (not editing and url_spec.key not in config):
        config[url_spec.key] = read_secret(args.url_env, "Connection string: ",
                                           f"the connection string of destination {name}", option="--url-env")
    if "system_info" in specs and args.system_info is not None and (editing or args.system_info):
        config["system_info"] = bool(args.system_info)
    return config


def _add(args: argparse.Namespace) -> int:
    from ic.services.destinations import plugin_class, save_destination

    cls = plugin_class(args.type)
    defaults = {f.key: f.default for f in cls.fields() if f.default is not None}
    config = {**defaults, **_values(args, cls, args.name, False)}
    saved = save_destination(store_from(args), args.name, args.type, config)
    print(f"Destination {saved.name} saved ({cls.display_name}).")
    _warn_if_on_share(config)
    return 0


def _warn_if_on_share(config: dict) -> None:
    from ic.netshare import url_warning  # a SQLite file on a network share: no write-ahead log there

    warning = url_warning(str(config.get("url") or ""))
    if warning:
        print(f"warning: {warning}", file=sys.stderr)


def _edit(args: argparse.Namespace) -> int:
    from ic.services.destinations import edit_destination, plugin_class

    store = store_from(args)
    current = store.get_destination(args.name, reveal=False)
    cls = plugin_class(current.type)
    changes = _values(args, cls, args.name, True)
    if not changes and not args.rename:
        raise ConfigError(f"Nothing to change for destination {current.name}: give an option such as --dir, --url-env, "
                          "--set KEY=VALUE or --rename.")
    saved = edit_destination(store, current.name, changes, rename=args.rename)
    print(f"Destination {saved.name} saved ({cls.display_name}).")
    _warn_if_on_share(changes)
    return 0


def _key_for(cls: type[Destination], specs: dict[str, FieldSpec], key: str, option: str) -> str:
    if key in specs:
        return key
    if option == "dir":
        found = next((k for k, f in specs.items() if f.kind == "directory"), None)
        if found:
            return found
    raise ConfigError(f"--{option.replace('_', '-')} does not apply to {cls.display_name} destinations.")


def _warn_if_password(url: str) -> None:
    from ic.dburl import normalize_url
    from ic.destinations.connection_string import url_secrets

    try:
        has_password = bool(url_secrets(normalize_url(url)))
    except ICError:
        has_password = False
    if has_password:
        print("warning: the connection string holds a password and was typed on the command line, where other "
              "users of this computer can see it; next time use --url-env VAR or standard input.", file=sys.stderr)


# --- list / test / remove / types ---------------------------------------------------------------
def _list(args: argparse.Namespace) -> int:
    from ic.services.destinations import describe

    store = store_from(args)
    dests = store.list_destinations()
    print_table(["NAME", "TYPE", "SETTINGS"], [[d.name, d.type, describe(store, d)] for d in dests],
                empty="No destinations yet: add one with `destination add NAME --type folder --dir DIR` "
                      "or `destination add NAME --type sql --url-env VAR`.")
    return 0


def _test(args: argparse.Namespace) -> int:
    from ic.services.destinations import test_destination

    result = test_destination(store_from(args), args.name)
    if not result.ok:
        from ic.cli.wording import for_command_line

        print(f"error: {for_command_line(result.message)}", file=sys.stderr)
        return 1
    print(result.message)
    return 0


def _remove(args: argparse.Namespace) -> int:
    from ic.services.destinations import remove_destination

    return remove_named(args, "Destination", remove_destination)


def _types(args: argparse.Namespace) -> int:
    from ic.services.destinations import plugin_types

    rows = []
    for name, cls in plugin_types().items():
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


class _ImportProgress(LiveLine):
    """import-xml progress: a live line on a terminal (stderr); nothing when output goes to a file or a pipe,
    where only the errors and the summary belong."""

    def __call__(self, path, sessions: int) -> None:
        if self.tty:
            self.show(f"{path}: {sessions} session(s) stored so far")
