"""`simulate`: run the simulated BeyondTrust appliance until Ctrl+C (for demos, manual tests and bench)."""
from __future__ import annotations

import argparse
import errno
import os
import shlex
import sys
import time

from ic.errors import ConfigError


# fault switches: (option, type, metavar, attribute of Simulator.faults, help)
FAULTS = (
    ("--rate-limit", int, "N", "rate_limit", "answer 429 to every Nth API request"),
    ("--error-5xx-burst", int, "N", "error_5xx_burst", "answer 503 to the next N requests"),
    ("--slow-seconds", float, "S", "slow_seconds", "delay every answer"),
    ("--latency", float, "S", "latency_seconds",
     "every API answer waits S seconds first (concurrent requests overlap)"),
    ("--drop-mid-body", int, "N", "drop_mid_body", "cut the next N bodies mid-way"),
    ("--evict-tokens", bool, None, "evict_tokens", "revoke all tokens at the next API request"),
    ("--expired-recordings", bool, None, "expired_recordings", "recordings answer the 'expired' error"),
    ("--error-documents", bool, None, "error_documents", "empty results answer <error>No sessions found…"),
    ("--truncated-xml", int, "N", "truncated_xml", "truncate the next N XML documents"),
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="serve a simulated appliance over HTTPS on 127.0.0.1 (for testing)")
    p.add_argument("--port", type=int, default=0, help="TCP port (0 = any free port)")
    p.add_argument("--sessions", type=int, default=200, help="number of sessions to generate")
    p.add_argument("--seed", type=int, default=7, help="data seed: the same seed gives the same sessions")
    p.add_argument("--product", choices=("rs", "pra"), default="rs", help="Remote Support or Privileged Remote Access")
    p.add_argument("--recording-size", type=int, default=64_000, metavar="BYTES", help="size of every recording")
    p.add_argument("--clock-offset", type=float, default=0, metavar="S",
                   help="appliance clock minus host clock in seconds (negative = appliance behind)")
    p.add_argument("--in-progress", type=int, default=5, metavar="N", help="sessions still in progress")
    p.add_argument("--ca-out", metavar="FILE", help="also write the CA certificate (PEM) to this file")
    p.add_argument("--client-id", default="ic-simulator", help="OAuth client ID the simulator accepts")
    p.add_argument("--token-lifetime", type=int, default=3600, metavar="S", help="seconds an access token stays valid")
    p.add_argument("--token-type", default="Bearer", help='token_type to send, e.g. "bearer"')
    p.add_argument("--namespace", help="XML namespace of reporting documents")
    p.add_argument("--gzip", action="store_true", help="gzip XML answers for clients that accept it")
    f = p.add_argument_group("fault switches")
    for option, kind, metavar, _attr, helptext in FAULTS:
        if kind is bool:
            f.add_argument(option, action="store_true", help=helptext)
        else:
            f.add_argument(option, type=kind, default=0, metavar=metavar, help=helptext)
    p.set_defaults(func=_simulate)


def _check(args: argparse.Namespace) -> None:
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port} must be between 0 (any free port) and 65535.")
    for option in ("sessions", "in_progress", "recording_size", "token_lifetime"):
        if getattr(args, option) < 0:
            raise ConfigError(f"--{option.replace('_', '-')} must be 0 or more.")
    if args.ca_out and os.path.isdir(args.ca_out):
        example = os.path.join(args.ca_out, "ca.pem")
        raise ConfigError(f"--ca-out {args.ca_out} is a folder; give a file name such as {example}.")


def _simulate(args: argparse.Namespace) -> int:
    from ic.simulator import Simulator

    _check(args)
    sim = Simulator(
        sessions=args.sessions, seed=args.seed, product=args.product, recording_size=args.recording_size,
        clock_offset=args.clock_offset, in_progress=args.in_progress, token_lifetime=args.token_lifetime,
        token_type=args.token_type, namespace=args.namespace, client_id=args.client_id, ca_out=args.ca_out,
        gzip_xml=args.gzip,
    )
    for option, _kind, _metavar, attr, _help in FAULTS:
        setattr(sim.faults, attr, getattr(args, option[2:].replace("-", "_")))
    sim.faults.latency_seconds = max(0.0, args.latency)
    try:
        sim.start(args.port)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
            raise ConfigError(f"Port {args.port} is already in use; choose another --port (0 = any free port).") from None
        if args.ca_out:
            raise ConfigError(f"Cannot write the CA file {args.ca_out} ({exc.strerror or exc}); check --ca-out.") from None
        raise
    try:
        cmd = (f"IC_SIM_SECRET={shlex.quote(sim.client_secret)} python main.py site add sim --host {sim.host} "
               f"--client-id {shlex.quote(sim.client_id)} --client-secret-env IC_SIM_SECRET "
               f"--ca-bundle {shlex.quote(sim.ca_file)} --product {sim.product}")
        print(f"Simulated BeyondTrust appliance ({sim.product.upper()}, {args.sessions} sessions, seed {args.seed})")
        print(f"  host:          {sim.host}")
        print(f"  client id:     {sim.client_id}")
        print(f"  client secret: {sim.client_secret}")
        print(f"  CA file:       {sim.ca_file}")
        print("Add it as a site:")
        print(f"  {cmd}")
        print("Serving until Ctrl+C.", flush=True)
        sys.stdout.flush()
        while True:  # sleep in short steps so Ctrl+C is seen at once, on Windows too
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("Stopped.", flush=True)
    finally:
        sim.stop()
    return 0
