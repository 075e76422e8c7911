"""`site add|edit|list|remove|test`."""
from __future__ import annotations

import argparse

from ic.cli.common import add_action, full_path, print_table, read_secret, remove_named, store_from
from ic.services.sites import remove_site, save_site
from ic.settings.models import SiteConfig


def register(sub: argparse._SubParsersAction) -> None:
    site = sub.add_parser("site", help="appliance sites to copy data from")
    ssub = site.add_subparsers(dest="site_command", metavar="ACTION", required=True)

    add = add_action(ssub, "add", "add a site (secret read from stdin or --client-secret-env)", examples=(
        "site add demo --host support.example.com --client-id ID    (then type the client secret)",
        "site add demo --host support.example.com --client-id ID --client-secret-env IC_SECRET"
        "    (secret taken from the environment variable IC_SECRET)"))
    edit = ssub.add_parser("edit", help="change a site; omitted options keep their value")
    for p, required in ((add, True), (edit, False)):
        p.add_argument("name", help="site name (your choice; used by schedules and other commands)")
        p.add_argument("--host", required=required, help="host name without https://, optionally host:port")
        p.add_argument("--client-id", required=required, help="OAuth Client ID of the appliance's API account")
        p.add_argument("--client-secret-env", metavar="VAR", help="read the client secret from this environment variable")
        p.add_argument("--backup-password-env", metavar="VAR", help="read the backup password from this variable")
        p.add_argument("--ca-bundle", metavar="FILE", type=full_path,
                       help='PEM file of a private CA (default: the system trust store; "" goes back to it)')
        p.add_argument("--product", choices=("rs", "pra", "detect"), default=None,
                       help="rs = Remote Support, pra = Privileged Remote Access, detect = ask the appliance (default)")
    add.set_defaults(func=_add)
    edit.add_argument("--new-secret", action="store_true", help="read a new client secret (stdin or --client-secret-env)")
    edit.set_defaults(func=_edit)

    lst = ssub.add_parser("list", help="list sites (secrets are never shown)")
    lst.set_defaults(func=_list)
    rm = ssub.add_parser("remove", help="delete a site")
    rm.add_argument("name", help="site name (see `site list`)")
    rm.set_defaults(func=_remove)
    test = ssub.add_parser("test", help="check the connection and the API account's reporting, recordings and backup "
                                        "rights (a line each; no backup is downloaded)")
    test.add_argument("name", help="site name (see `site list`)")
    test.set_defaults(func=_test)


def _add(args: argparse.Namespace) -> int:
    store = store_from(args)
    secret = read_secret(args.client_secret_env, "Client secret: ", f"the client secret for site {args.name}")
    backup = read_secret(args.backup_password_env, "", "the backup password", required=False,
                         option="--backup-password-env")
    site = SiteConfig(args.name, args.host, args.client_id, args.ca_bundle, args.product or "detect")
    saved = save_site(store, site, client_secret=secret, backup_password=backup)
    print(f"Site {saved.name} saved ({saved.host}).")
    return 0


def _edit(args: argparse.Namespace) -> int:
    store = store_from(args)
    site = store.get_site(args.name)
    for attr in ("host", "client_id", "ca_bundle", "product"):
        if getattr(args, attr) is not None:
            setattr(site, attr, getattr(args, attr))
    secret = None
    if args.new_secret or args.client_secret_env:
        secret = read_secret(args.client_secret_env, "Client secret: ", f"the client secret for site {args.name}")
    backup = read_secret(args.backup_password_env, "", "the backup password", required=False,
                         option="--backup-password-env")
    save_site(store, site, client_secret=secret, backup_password=backup)
    print(f"Site {site.name} saved.")
    return 0


def _list(args: argparse.Namespace) -> int:
    rows = [
        [s.name, s.host, s.client_id, s.product, "yes" if s.has_backup_password else "no", s.ca_bundle or "system"]
        for s in store_from(args).list_sites()
    ]
    print_table(["NAME", "HOST", "CLIENT ID", "PRODUCT", "BACKUP PASSWORD", "CA"], rows,
                empty="No sites yet: add one with `site add NAME --host HOST --client-id ID`.")
    return 0


def _remove(args: argparse.Namespace) -> int:
    return remove_named(args, "Site", remove_site)


def _test(args: argparse.Namespace) -> int:
    from ic.services.sites import test_site

    result = test_site(store_from(args), args.name)
    from ic.cli.wording import for_command_line

    lines = getattr(result, "lines", None) or [result.message]  # reporting, recordings, backup
    print(for_command_line("\n".join(lines)))
    return 0 if result.ok else 1
