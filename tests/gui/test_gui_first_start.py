"""The issue's "done when": a person who has never seen the program goes from the first start to a scheduled nightly
job and a finished test download, through the windows only, losing nothing typed (no Save button is ever clicked:
Next and Finish save). The appliance is the simulator; the OS scheduler is a stand-in (installing the real one
would edit this machine's crontab)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ic.gui import services_adapter
from ic.gui.testing import pump, screenshot, type_text
from tests.helpers import wizard_adds_a_folder

pytestmark = pytest.mark.usefixtures("xvfb")


def test_first_start_to_a_nightly_schedule_and_a_test_download_os_scheduler_stand_in(ic_home, simulator, tmp_path,
                                                                                     monkeypatch):
    from ic.gui.app import App
    from ic.gui.dialogs.api_tester import ApiTesterPanel
    from ic.settings import open_store

    installed: list[str] = []
    monkeypatch.setattr(services_adapter, "scheduler_state",
                        lambda: ("running", "") if installed else ("not installed", ""))
    monkeypatch.setattr(services_adapter, "scheduler_action",
                        lambda action, url=None, password=None: installed.append(action) or "Scheduler installed.")
    app = App()
    try:
        assert pump(app, lambda: app.wizard is not None and app.wizard.winfo_exists(), timeout=30)
        w = app.wizard
        assert w.step_name == "Settings database"
        w.next_button.invoke()  # the embedded default
        pump(app)
        assert w.step_name == "Sites"
        for key, value in dict(name="Support", host=simulator.host, client_id=simulator.client_id,
                               client_secret=simulator.client_secret, ca_bundle=str(simulator.ca_file)).items():
            type_text(w.fields[key], value)
        w.panel.test_button.invoke()
        assert pump(app, lambda: getattr(w.panel, "last_test", None) is not None, timeout=60)
        assert w.panel.last_test.ok, w.panel.last_test.message
        wizard_adds_a_folder(app, w, tmp_path / "archive")
        type_text(w.fields["name"], "Nightly")
        w.panel.add_button.invoke()
        pump(app)
        w.panel.rows[-1].checks["recordings"].select()
        w.panel.every_entry.delete(0, "end")
        w.panel.every_entry.insert(0, "1")
        w.panel.unit_var.set("days")
        w.panel._unit_changed()
        w.panel.at_entry.insert(0, "02:00")
        screenshot(w, "first-start-schedule-step")
        w.next_button.invoke()  # Finish
        pump(app)
        assert not w.winfo_exists()
        assert pump(app, lambda: getattr(app, "scheduler_offer", None) is not None, timeout=30)
        app.scheduler_offer.buttons["Install"].invoke()
        assert pump(app, lambda: installed == ["register"] and app.main.scheduler_state == "running", timeout=30)

        store = open_store()
        try:
            nightly = store.get_schedule("Nightly")
            assert (nightly.every_seconds, nightly.at_time) == (86400, "02:00")
            assert [(t.site, t.destination, t.data_types) for t in nightly.transfers] == [
                ("Support", "Archive", ["session", "recordings"])]
        finally:
            store.close()
        pump(app)
        assert app.main.schedules.keys() == ["Nightly"]
        assert "02:00" in app.main.schedules.row("Nightly")[4] or app.main.schedules.row("Nightly")[4] == "Now"

        # then the test download the guide recommends (Tools > API Tester)
        app.ctx.commands["api_tester"].run()
        pump(app)
        tester = app.ctx.dialogs[ApiTesterPanel].panel
        assert tester.sites.selected() == ["Support"]
        tester.destinations.set_selected(["Archive"])
        tester.fields["start"].set((datetime.now() - timedelta(days=70)).strftime("%Y-%m-%d %H:%M"))
        tester.fields["duration"].set("71")
        tester.download_button.invoke()
        assert pump(app, lambda: tester.worker is not None and not tester.running, timeout=180), tester.log_text()
        assert tester.error is None, tester.error
        assert "Finished." in tester.log_text() and tester.message.kind == "ok"
        assert list((tmp_path / "archive").rglob("*.xml"))
        screenshot(app.ctx.dialogs[ApiTesterPanel], "first-start-test-download")
    finally:
        app.close()
