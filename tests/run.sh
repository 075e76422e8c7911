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

PGDIR=""; TESTTMP=""
cleanup() {
  if [ -n "$PGDIR" ]; then $RUN "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1; rm -rf "$PGDIR"; fi
  if [ -n "$TESTTMP" ]; then rm -rf "$TESTTMP"; fi
}
trap cleanup EXIT
if [ -z "${IC_TEST_PG_URL:-}" ]; then
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  PGDIR=$(mktemp -d /tmp/ic-pg.XXXXXX)
  PGPORT=${IC_TEST_PG_PORT:-54329}
  RUN=""; if [ "$(id -u)" = 0 ]; then chown postgres "$PGDIR"; RUN="runuser -u postgres --"; fi
  $RUN "$PGBIN/initdb" -D "$PGDIR/data" -A trust -U postgres >/dev/null
  $RUN "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
       -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  export IC_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$PGPORT/postgres"
fi
# The tests' temporary files (IC_HOME, SQLite files, destination folders, the frozen build's copy) on tmpfs when the
# machine has one: the same real files and calls, without a disk flush for every SQLite commit and stored file.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  TESTTMP=$(mktemp -d /dev/shm/ic-tests.XXXXXX)
  export TMPDIR="$TESTTMP"
fi
# Two workers (pytest-xdist; CI has two cores), each test file on one worker: tests that share something outside
# their own temp dir sit in one file. Files are handed out in collection order, where tests/conftest.py puts the
# slow ones first. `bash tests/run.sh -n 0 ...` runs in one process.
.venv/bin/python -m pytest -q -n "${IC_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
