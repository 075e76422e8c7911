"""VENDOR hooks in the window: where new transfers start (Schedule dialog / wizard)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from ic.gui.testing import pump, running_app
from ic.settings import DestinationConfig
from tests.sim_fixtures import make_simulator, simulator  # noqa: F401 - fixtures
from tests.test_transfer_engine import add_site

pytestmark = pytest.mark.usefixtures("xvfb")


@pytest.fixture
def app(store, simulator, tmp_path):
    add_site(store, simulator, "Main")
    store.save_destination(DestinationConfig("Files", "folder", {"directory": str(tmp_path / "files")}))
    with running_app() as a:
        yield a


def test_schedule_dialog_asks_where_new_transfers_start(app, store, simulator):
    from ic.gui.dialogs.schedule import SchedulePanel

    d = app.open(SchedulePanel)
    pump(app)
    p = d.panel
    d.fields["name"].set("Nightly")
    d.fields["site"].set("Main")
    d.fields["destination"].set("Files")
    pump(d)
    p.add_button.invoke()
    pump(d)
    day = date.today() - timedelta(days=10)
    p.first_pull.set("date", day)
    p.first_pull.estimate()
    assert pump(app, until=lambda: "at the appliance's rate limit" in p.first_pull.estimate_label.cget("text"))
    n = len({s.lsid for s in simulator.sessions if s.end_time and s.end_time >= datetime.combine(
        day, datetime.min.time()).timestamp()})
    assert p.first_pull.estimate_label.cget("text").startswith(f"Main: about {n} session")

    p.first_pull.set("date", date.today() + timedelta(days=3))
    assert not p.save()
    assert "is in the future" in p.message.text
    assert store.list_schedules() == []  # nothing saved with a bad start

    p.first_pull.set("date", day)
    assert p.save(), p.message.text
    pump(app)
    site, dest = store.get_site("Main"), store.get_destination("Files", reveal=False)
    state = store.load_state(site.id, dest.id, "session")
    since = int(datetime.combine(day, datetime.min.time()).timestamp())
    assert state["cursor"] - 120 == since and state["start_cursor"] - 120 == since
    assert f"since {day.isoformat()} 00:00" in p.first_pull.estimate_label.cget("text")
