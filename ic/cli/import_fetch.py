"""`import-xml` options for the API tester's second half: fetch the recordings and backups of the imported sessions
from a configured site (--site) or a host and API account typed in (--host, --client-id, secret from
--client-secret-env or standard input). Registered by a small hook in destination_cmd.py."""
from __future__ import annotations

import argparse
import sys

from ic.cli.common import full_path, read_secret, store_from
from ic.errors import ConfigError
from ic.settings.models import FILE_ONLY_DATA_TYPES, DataType


def add_fetch_options(imp: argparse.ArgumentParser, who, session_import) -> None:
    who.add_argument("--host", metavar="HOST",
                     help="appliance to fetch recordings/backups from, not configured as a site (with --client-id)")
    imp.add_argument("--client-id", metavar="ID", help="with --host: OAuth Client ID of the API account")
    imp.add_argument("--client-secret-env", metavar="VAR",
                     help="with --host: read the client secret from this environment variable (else standard input)")
    imp.add_argument("--ca-bundle", metavar="FILE", type=full_path, help="with --host: PEM file of a private CA")
    imp.add_argument("--product", choices=("rs", "pra", "detect"), default="detect", help="with --host: rs or pra")
    imp.add_argument("--data", default="session", metavar="TYPES",
                     help="what to store, comma separated: session (the XML itself, default), recordings, smsr, "
                          "shell, backup; recordings and backups are fetched from --site or --host")
    imp.set_defaults(func=lambda args: run(args, session_import))


def run(args: argparse.Namespace, session_import) -> int:
    from ic.services.runs import parse_data_types

    types = parse_data_types(args.data)
    file_types = [t for t in types if t in FILE_ONLY_DATA_TYPES]
    host = getattr(args, "host", None)
    if host and not args.client_id:
        raise ConfigError("Give --client-id (and the secret) with --host, or use --site for a configured site.",
                          field="client_id")
    if file_types and not (args.site or host):
        raise ConfigError("Recordings and backups are fetched from the appliance: give --site NAME, or --host with "
                          "--client-id.", field="site")
    adhoc = None
    if host:
        from ic.services.xml_fetch import AdHocSite

        secret = read_secret(args.client_secret_env, "Client secret: ", f"the client secret for {host}")
        adhoc = AdHocSite.typed_in(host, args.client_id, secret or "", args.ca_bundle, args.product)
        args.site_host = host  # the sessions are labelled with it
    code = 0
    if DataType.SESSION in types:
        code = session_import(args)
    if file_types:
        from ic.services.xml_fetch import fetch_for_xml

        store = store_from(args)
        result = fetch_for_xml(store, args.files, args.destination, file_types, site=args.site, adhoc=adhoc)
        for error in result.errors:
            print(f"error: {error}", file=sys.stderr)
        print(result.summary(args.site or host, args.destination))
        code = code or (1 if result.errors else 0)
    return code
