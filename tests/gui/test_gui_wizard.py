"""First run: the wizard in the guide's order (settings database, sites, plugins, schedule), each step skippable;
the chosen settings database is remembered in bootstrap.json without a clear-text password."""
from __future__ import annotations

import json
import os

import pytest

from ic.gui.testing import pump, screenshot, type_text
from tests.helpers import make_app

pytestmark = pytest.mark.usefixtures("xvfb")


def test_first_run_opens_the_wizard_at_the_settings_database(ic_home):
    app = make_app()
    try:
        w = app.wizard
        assert w is not None and w.step_name == "Settings database"
        assert app.ctx.store is None and not (ic_home / "settings.db").exists()
        screenshot(w, "wizard-settings-database")
        type_text(w.fields["path"], str(ic_home / "elsewhere" / "mine.db"))
        pump(app)
        assert w.fields["connection_string"].get().endswith("elsewhere/mine.db")
        w.next_button.invoke()
        pump(app)
        assert w.step_name == "Sites"
        assert app.ctx.store is not None and app.ctx.store.url.endswith("elsewhere/mine.db")
        assert (ic_home / "elsewhere" / "mine.db").exists()
        assert json.loads((ic_home / "bootstrap.json").read_text())["settings_url"].endswith("mine.db")
        screenshot(w, "wizard-sites")
        # the wizard hosts the real Site Configuration panel
        w.fields["name"].set("First")
        w.fields["host"].set("first.example.com")
        w.fields["client_id"].set("id")
        w.fields["client_secret"].set("secret")
        w.panel.save()
        w.next_button.invoke()
        pump(app)
        assert w.step_name == "Plugins"
        w.skip_button.invoke()
        pump(app)
        assert w.step_name == "Schedule" and w.next_button.cget("text") == "Finish"
        w.back_button.invoke()
        pump(app)
        assert w.step_name == "Plugins"
        w.skip_button.invoke()
        w.next_button.invoke()
        pump(app)
        assert not w.winfo_exists()
    finally:
        app.close()
    # next start: the program finds the chosen database through bootstrap.json, no wizard (a site exists)
    app = make_app()
    try:
        assert app.wizard is None
        assert app.ctx.store.url.endswith("elsewhere/mine.db")
        assert [s.name for s in app.ctx.store.list_sites()] == ["First"]
    finally:
        app.close()


def test_skipping_the_database_step_uses_the_embedded_default(ic_home):
    app = make_app()
    try:
        app.wizard.skip_button.invoke()
        pump(app)
        assert app.wizard.step_name == "Sites"
        assert app.ctx.store is not None and (ic_home / "settings.db").exists()
        app.wizard.close()
        pump(app)
        assert "First-Run Wizard…" in [app.menus["Setup"].entrycget(i, "label")
                                       for i in range(app.menus["Setup"].index("end") + 1)
                                       if app.menus["Setup"].type(i) == "command"]
    finally:
        app.close()


def test_existing_settings_without_sites_still_offers_the_wizard_from_the_sites_step(store):
    app = make_app()
    try:
        assert app.wizard is not None and app.wizard.step_name == "Sites"
    finally:
        app.close()


def test_postgresql_settings_database_is_remembered_with_the_password_encrypted(ic_home, pg_url):
    from sqlalchemy.engine import make_url

    u = make_url(pg_url)
    app = make_app()
    try:
        w = app.wizard
        w.fields["kind"].set("PostgreSQL")
        w.fields["server"].set(f"{u.host}:{u.port}")
        w.fields["database"].set(u.database)
        w.fields["username"].set(u.username)
        w.fields["password"].set(u.password or "pw-not-needed-by-trust")
        w.fields["params"].set("connect_timeout=10")
        w.panel.conn.update()
        shown = w.fields["connection_string"].get()
        assert shown.startswith("postgresql+psycopg://") and "***" in shown
        w.panel.create_button.invoke()
        assert pump(app, lambda: not w.panel.busy, timeout=60)
        assert w.panel.message.kind == "ok", w.panel.message.text
        w.next_button.invoke()
        pump(app)
        assert w.step_name == "Sites", w.panel.message.text
        assert app.ctx.store.url.startswith("postgresql+psycopg://")
    finally:
        app.close()
    text = (ic_home / "bootstrap.json").read_text()
    assert "pw-not-needed-by-trust" not in text and "settings_url_encrypted" in text
    from ic.settings.store import settings_url

    assert settings_url() == make_url(settings_url()).render_as_string(hide_password=False)
    assert make_url(settings_url()).database == u.database


def test_ic_settings_environment_variable_still_wins(ic_home, monkeypatch, tmp_path):
    from ic.settings import bootstrap
    from ic.settings.store import settings_url

    bootstrap.write_url(f"sqlite:///{tmp_path / 'boot.db'}")
    assert settings_url().endswith("boot.db")
    monkeypatch.setenv("IC_SETTINGS", f"sqlite:///{tmp_path / 'env.db'}")
    assert settings_url().endswith("env.db")
    bootstrap.write_url(None)
    monkeypatch.delenv("IC_SETTINGS")
    assert settings_url() == f"sqlite:///{(ic_home / 'settings.db').as_posix()}"
    assert not os.path.exists(bootstrap.bootstrap_path())


def test_sql_server_connection_fields_follow_the_authentication_type(ic_home):
    from urllib.parse import unquote_plus

    app = make_app()
    try:
        w = app.wizard
        f = w.fields
        f["kind"].set("SQL Server")
        pump(app)
        assert not f["path"].label.winfo_ismapped() and f["server"].label.winfo_ismapped()
        f["server"].set("SQLHOST\\SQLEXPRESS")
        f["database"].set("IntegrationSettings")
        f["auth"].set("Windows authentication")
        f["params"].set("Encrypt=yes")
        w.panel.conn.update()
        assert f["username"].widget.cget("state") == "disabled"
        url = unquote_plus(w.panel.conn.url())
        assert "SERVER=SQLHOST\\SQLEXPRESS" in url and "Trusted_Connection=yes" in url and "Encrypt=yes" in url
        f["auth"].set("SQL Server authentication")
        f["username"].set("ic")
        f["password"].set("Secr3t;x")
        w.panel.conn.update()
        assert "Secr3t" not in w.fields["connection_string"].get()  # shown masked
        assert "Secr3t" in unquote_plus(w.panel.conn.url())
        screenshot(w, "wizard-sql-server")
    finally:
        app.close()
