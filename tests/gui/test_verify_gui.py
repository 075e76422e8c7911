"""The Verify window (real Tk under Xvfb) against the simulator: it names what was deleted from the archive,
Verify and Repair restores it, a second Verify is clean; opened for a schedule and for a destination."""
from __future__ import annotations

import csv

import pytest

from ic.gui.testing import pump, running_app, screenshot
from tests.helpers import add_folder, add_schedule, add_site, archived

pytestmark = pytest.mark.usefixtures("xvfb")


def _wait(app, panel, timeout=180):
    assert pump(app, lambda: panel.worker is not None and not panel.running, timeout=timeout), panel.summary_text()


def test_verify_window_names_the_damage_repairs_it_and_is_clean_after(store, simulator, tmp_path):
    archived(store, simulator, tmp_path / "files", ["session", "recordings"], "Nightly")
    gone = next(s for s in simulator.sessions if s.recording and s.end_time)
    for p in (tmp_path / "files").iterdir():
        if gone.lsid in p.name:
            p.unlink()
    ended = next(s for s in simulator.sessions if s.end_time is None)
    simulator.end_session(ended.lsid)
    from ic.gui.dialogs.verify import VerifyPanel

    with running_app() as app:
        d = app.open(VerifyPanel, schedule="Nightly")
        pump(app)
        p = d.panel
        assert p.schedule_var.get() == "Nightly" and p.verify_button.cget("state") == "normal"
        p.verify_button.invoke()
        pump(app)
        _wait(app, p)
        screenshot(d, "verify-incomplete")
        assert p.error is None, p.error
        assert "NOT complete" in p.summary_text()
        problems = {k: p.results.row(k)[1] for k in p.results.keys() if p.results.row(k)[1] != "present"}
        assert problems == {gone.lsid: "missing", ended.lsid: "pending"}  # pending: the next run stores it
        assert p.results.keys()[0] == gone.lsid  # problems first
        p.save_csv(str(tmp_path / "found.csv"))
        rows = list(csv.DictReader((tmp_path / "found.csv").open(encoding="utf-8-sig")))
        assert {r["lsid"]: r["status"] for r in rows}[gone.lsid] == "missing"

        p.repair_button.invoke()
        pump(app)
        _wait(app, p)
        assert "the archive is complete" in p.summary_text() and "repair fetched" in p.summary_text()
        p.verify_button.invoke()
        pump(app)
        _wait(app, p)
        screenshot(d, "verify-complete")
        assert "the archive is complete" in p.summary_text()
        assert {p.results.row(k)[1] for k in p.results.keys()} == {"present"}
        assert p.message.text == "The archive is complete."
        # verify it weekly from the scheduler, repairing too
        p.plan_var.set("Every week")
        p.plan_repair.select()
        p.plan_button.invoke()
        pump(app)
        from ic.services.verify import get_verify_plan

        plan = get_verify_plan(store, "Nightly")
        assert plan.every_seconds == 7 * 86400 and plan.repair and "verified every week" in p.message.text
        d.close()
        pump(app)

        d = app.open(VerifyPanel, destination="files")  # the destination's Verify button
        pump(app)
        assert d.panel.mode.get() == "A site and a destination" and d.panel.site_var.get() == "sim"
        d.panel.verify_button.invoke()
        pump(app)
        _wait(app, d.panel)
        assert "sim -> files: the archive is complete" in d.panel.summary_text()


def test_verify_buttons_of_the_main_window_and_plugin_configuration(store, simulator, tmp_path):
    from ic.gui.dialogs.plugin import PluginPanel
    from ic.gui.dialogs.verify import VerifyPanel

    add_site(store, simulator)
    add_folder(store, tmp_path / "files")
    add_schedule(store, "Nightly", ("sim", "files", ["session"]))
    with running_app() as app:
        if not hasattr(app.main, "verify_button"):
            pytest.skip("the main window's Verify button is not in this build yet")
        app.main.schedules.select("Nightly")
        pump(app)
        app.main.verify_button.invoke()
        pump(app)
        d = app.ctx.dialogs[VerifyPanel]
        assert d.panel.schedule_var.get() == "Nightly" and d.panel.mode.get() == "A schedule's transfers"
        d.close()
        pump(app)
        plugins = app.open(PluginPanel, select="files")
        pump(app)
        plugins.panel.verify_button.invoke()
        pump(app)
        d = app.ctx.dialogs[VerifyPanel]
        assert d.panel.destination_var.get() == "files" and d.panel.site_var.get() == "sim"
