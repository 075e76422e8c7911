"""Verify window, by schedule, with one of the schedule's destinations down (a PostgreSQL server that is not there):
the other transfer is still checked and shown, and the failed one says that its check failed and why (it used to
stop at the first failed transfer and show nothing of the others). Real Tk under Xvfb, real simulator."""
from __future__ import annotations

import socket

import pytest

from ic.gui.testing import pump, running_app
from ic.services.runs import run_schedule
from tests.helpers import add_folder, add_schedule, add_site, add_sql

pytestmark = pytest.mark.usefixtures("xvfb")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_destination_down_does_not_hide_the_other_transfers_of_the_schedule(store, simulator, tmp_path):
    add_site(store, simulator)
    add_folder(store, tmp_path / "files")
    add_sql(store, f"sqlite:///{tmp_path / 'db' / 'out.db'}")
    add_schedule(store, "Nightly", ("sim", "files", ["session"]), ("sim", "db", ["session"]))
    assert run_schedule(store, "Nightly", raise_internal=True).ok
    # the database destination is now a server that is not there
    db = store.get_destination("db")
    db.config["url"] = f"postgresql+psycopg://nobody@127.0.0.1:{_closed_port()}/gone"
    store.save_destination(db)
    from ic.gui.dialogs.verify import VerifyPanel

    with running_app() as app:
        d = app.open(VerifyPanel, schedule="Nightly")
        pump(app)
        p = d.panel
        p.verify_button.invoke()
        pump(app)
        assert pump(app, lambda: p.worker is not None and not p.running, timeout=180), p.summary_text()
        assert p.error is None, p.error
        statuses = {p.results.row(k)[1] for k in p.results.keys()}
        assert "present" in statuses, "the folder transfer was not shown"
        assert "check failed" in statuses
        assert "sim -> files: the archive is complete" in p.summary_text()
        assert "sim -> db: the check failed" in p.summary_text()
        assert p.message.text.startswith("The check of sim -> db failed")
        d.close()
        pump(app)
