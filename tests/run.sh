#!/usr/bin/env bash
# The test command: sets up .venv, starts a throwaway PostgreSQL on loopback, runs pytest. Exit code = pytest's.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
missing=$(for p in $(grep -v '^#' .ci/apt-packages.txt); do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
  echo "Installing system packages: $missing"
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt

if [ -z "${IC_TEST_PG_URL:-}" ]; then
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  PGDIR=$(mktemp -d /tmp/ic-pg.XXXXXX)
  PGPORT=${IC_TEST_PG_PORT:-54329}
  RUN=""; if [ "$(id -u)" = 0 ]; then chown postgres "$PGDIR"; RUN="runuser -u postgres --"; fi
  $RUN "$PGBIN/initdb" -D "$PGDIR/data" -A trust -U postgres >/dev/null
  $RUN "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
       -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  trap '$RUN "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1; rm -rf "$PGDIR"' EXIT
  export IC_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$PGPORT/postgres"
fi
.venv/bin/python -m pytest -q "$@"
