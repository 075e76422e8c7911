"""Shared fixtures: every test gets its own IC_HOME (settings DB, key file, logs) in a temp dir; the simulator
fixtures (``simulator``, ``make_simulator``) come from tests/sim_fixtures.py. Tests never import a fixture by name."""
from __future__ import annotations

import os
import uuid

import pytest

pytest_plugins = ["tests.sim_fixtures"]


def pytest_collection_modifyitems(config, items):
    """The slow tests first (in their own order): with two workers (tests/run.sh: pytest-xdist --dist loadfile, one
    test file on one worker), the long ones start at once and the quick ones fill in behind them, instead of one long
    test running alone at the end. Tests that share something outside their own IC_HOME and temp dir (the frozen
    build, the user's crontab) stay in one file."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def ic_home(tmp_path, monkeypatch):
    home = tmp_path / "ic-home"
    home.mkdir()
    monkeypatch.setenv("IC_HOME", str(home))
    monkeypatch.delenv("IC_SETTINGS", raising=False)
    monkeypatch.delenv("IC_KEY_FILE", raising=False)
    return home


@pytest.fixture
def store(ic_home):
    from ic.settings import open_store

    s = open_store()
    yield s
    s.close()


@pytest.fixture
def restore_logging():
    """The CLI configures the "ic" logger (files, console, propagate=False): undo it for the next tests. A module
    whose tests call the CLI in-process says ``pytestmark = pytest.mark.usefixtures("restore_logging")``."""
    import logging

    from ic.logs import shutdown_logging

    yield
    shutdown_logging()
    logging.getLogger("ic").propagate = True
    logging.getLogger("ic").setLevel(logging.NOTSET)


@pytest.fixture
def sim_db(store, simulator, tmp_path) -> str:
    """Site "sim" (the ``simulator``) and SQL destination "db" (a SQLite file) saved; returns the database URL."""
    from tests.helpers import add_site, add_sql

    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, simulator)
    add_sql(store, url)
    return url


@pytest.fixture
def plain_smtp():
    """A real SMTP server on 127.0.0.1 (no TLS, no login): yields (controller, tests.helpers.Inbox)."""
    from aiosmtpd.controller import Controller

    from tests.helpers import Inbox, free_port

    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=free_port())
    ctl.start()
    yield ctl, inbox
    ctl.stop()


@pytest.fixture
def pg_url():
    """A fresh empty PostgreSQL database on the server tests/run.sh started (IC_TEST_PG_URL)."""
    base = os.environ.get("IC_TEST_PG_URL")
    if not base:
        if os.environ.get("CI"):
            pytest.fail("IC_TEST_PG_URL is not set: tests/run.sh starts PostgreSQL for CI.")
        pytest.skip("no PostgreSQL server (run the tests with tests/run.sh)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"ic_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
