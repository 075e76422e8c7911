"""VENDOR hooks in the window: where new transfers start (Schedule dialog / wizard)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import sys

import pytest

from ic.gui.testing import pump, running_app
from ic.settings import DestinationConfig
from tests.helpers import add_site, new_schedule_with_a_transfer, press_site_test

pytestmark = pytest.mark.usefixtures("xvfb")


@pytest.fixture
def configured(store, simulator, tmp_path):
    add_site(store, simulator, "Main")
    store.save_destination(DestinationConfig("Files", "folder", {"directory": str(tmp_path / "files")}))
    return store


def test_schedule_dialog_asks_where_new_transfers_start(app, store, simulator):
    d = new_schedule_with_a_transfer(app)
    p = d.panel
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


def test_application_settings_run_as_via_mock_windows_stand_in(app, store, monkeypatch):
    """The "Run as…" hook: the account and password typed once go to ic.services.run_as (stand-in for the Windows
    registration here); the default per-user settings database is refused in one sentence."""
    from ic.gui.dialogs.app_settings import AppSettingsPanel
    from ic.services import run_as

    p = app.open(AppSettingsPanel).panel
    pump(app)
    p.run_as_button.invoke()
    pump(app)
    prompt = p.run_as_prompt
    prompt.account.delete(0, "end")
    prompt.account.insert(0, 'bad"name')
    prompt.ok()
    assert "like DOMAIN\\svc-ic" in prompt.error.cget("text")
    prompt.account.delete(0, "end")
    prompt.account.insert(0, "CORP\\svc-ic")
    prompt.ok()
    assert "Enter the Windows password of CORP\\svc-ic." == prompt.error.cget("text")
    prompt.password.insert(0, "pw-typed-once")
    prompt.ok()
    # Linux: one sentence saying it is a Windows option; Windows: the per-user settings database is refused
    expected = "Windows option" if sys.platform != "win32" else "CORP\\svc-ic cannot read"
    assert pump(app, until=lambda: expected in p.message.text), p.message.text

    seen = {}

    def stand_in(account, password_cb, *, settings_url):
        seen.update(account=account, password=password_cb(account), url=settings_url)
        return f"Scheduler task registered: runs every minute as {account}."

    monkeypatch.setattr(run_as, "register_run_as", stand_in)
    p.run_as_button.invoke()
    pump(app)
    p.run_as_prompt.account.delete(0, "end")
    p.run_as_prompt.account.insert(0, "CORP\\svc-ic")
    p.run_as_prompt.password.insert(0, "pw-typed-once")
    p.run_as_prompt.ok()
    assert pump(app, until=lambda: "runs every minute as CORP\\svc-ic" in p.message.text), p.message.text
    assert seen == {"account": "CORP\\svc-ic", "password": "pw-typed-once", "url": store.url}


def test_xml_files_tab_with_a_host_and_credentials_typed_in(store, simulator, tmp_path):
    """API tester step 8: no configured site; host, Client ID and Secret typed on the XML Files tab."""
    from ic.appliance import ApplianceClient
    from ic.gui.dialogs.api_tester import ApiTesterPanel

    picked = [s for s in simulator.sessions if s.has_recording and not s.in_progress][:2]
    client = ApplianceClient(simulator.host, simulator.client_id, simulator.client_secret, simulator.ca_file, "rs")
    saved = client.fetch_sessions_to_file(tmp_path / "saved.xml", lsids=[s.lsid for s in picked])
    client.close()
    (tmp_path / "out").mkdir()
    store.save_destination(DestinationConfig("Out", "folder", {"directory": str(tmp_path / "out")}))
    with running_app() as app:
        d = app.open(ApiTesterPanel)
        pump(app)
        p = d.panel
        p.tabs.set("XML Files")
        p.add_files([str(saved)])
        p.xml_destinations.set_selected(["Out"])
        p.xml_operations["recordings"].select()
        p.xml_adhoc.host.insert(0, simulator.host)
        p.xml_adhoc.client_id.insert(0, simulator.client_id)
        p.xml_adhoc.client_secret.insert(0, simulator.client_secret)
        p.xml_adhoc.ca_bundle.insert(0, str(simulator.ca_file))
        p.download_button.invoke()
        assert pump(app, lambda: p.worker is not None and not p.running, timeout=120), p.log_text()
        assert p.error is None, p.error
        assert "Out: 2 recording file(s) for 2 session(s)." in p.log_text()
    assert len(list((tmp_path / "out").rglob("*.flv"))) == 2
    assert len(list((tmp_path / "out").rglob("*.xml"))) == 2
    assert store.list_sites() == [s for s in store.list_sites() if s.name == "Main"]  # nothing new saved


def test_create_database_button_creates_a_missing_postgresql_database(ic_home, pg_url):
    """Setup > Settings Database > Create Database on a PostgreSQL database that does not exist yet."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from tests.helpers import make_app

    u = make_url(pg_url)
    name = f"icgui_{uuid.uuid4().hex[:10]}"
    app = make_app()
    try:
        w = app.wizard
        w.fields["kind"].set("PostgreSQL")
        w.fields["server"].set(f"{u.host}:{u.port}")
        w.fields["database"].set(name)
        w.fields["username"].set(u.username)
        w.fields["password"].set(u.password or "pw-not-needed-by-trust")
        w.panel.conn.update()
        w.panel.create_button.invoke()
        assert pump(app, lambda: not w.panel.busy, timeout=60)
        assert w.panel.message.kind == "ok", w.panel.message.text
        assert w.panel.message.text.startswith(f"Database {name} created on {u.host}.")
    finally:
        app.close()
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_notification_settings_warn_when_the_password_goes_in_clear(store):
    from ic.gui.dialogs.notify import NotifyPanel

    with running_app() as app:
        d = app.open(NotifyPanel)
        pump(app)
        f = d.fields
        f["host"].set("127.0.0.1")
        f["port"].set("2525")
        f["security"].set("None")
        f["username"].set("ic")
        f["password"].set("mail-secret-2")
        f["sender"].set("ic@example.com")
        f["recipients"].set("ops@example.com")
        assert d.panel.save(), d.panel.message.text
        assert d.panel.message.kind == "warn"
        assert "the SMTP password of ic goes to 127.0.0.1 in clear text" in d.panel.message.text
        f["security"].set("STARTTLS")
        assert d.panel.save()
        assert d.panel.message.kind == "ok" and d.panel.message.text == "Notification settings saved."


def test_site_dialog_test_fails_without_backup_rights_with_that_sentence(store, simulator):
    """Done-when of issue 14: the Site dialog's Test (the service the window uses) fails on missing backup rights,
    and the sentence is what the two-line message shows first."""
    simulator.permissions["backup"] = False
    with running_app() as app:
        d = press_site_test(app, simulator)
        assert not d.panel.last_test.ok
        assert d.panel.message.kind == "error"
        assert d.panel.message.text.splitlines()[0] == (
            f"Backup: no. The API account on {simulator.host} lacks permission to download site backups "
            "(Allow Backup); enable it on the appliance.")
