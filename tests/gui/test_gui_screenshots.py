"""A screenshot of the main window and of every dialog, filled with a realistic configuration
(test-artifacts/screenshots/*.png). IC_UPDATE_DOCS_SCREENSHOT=1 also refreshes docs/screenshot-main.png."""
from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image

from ic.gui.testing import SCREENSHOT_DIR, pump, running_app, screenshot
from ic.settings import DestinationConfig, ScheduleConfig, SiteConfig, TransferConfig

pytestmark = pytest.mark.usefixtures("xvfb")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshot-main.png"


@pytest.fixture
def app(store, tmp_path):
    store.save_site(SiteConfig("Support", "support.example.com", "3f9c1e0b"), client_secret="x")
    store.save_site(SiteConfig("Privileged Access", "pra.example.com", "77aa01", product="pra"), client_secret="x")
    store.save_destination(DestinationConfig("Archive Share", "folder", {"directory": str(tmp_path)}))
    store.save_destination(DestinationConfig("Reporting DB", "sql", {"url": f"sqlite:///{tmp_path / 'r.db'}"},
                                             secret_fields=("url",)))
    store.save_schedule(ScheduleConfig("Session data every 15 minutes", 900, [
        TransferConfig("Support", "Reporting DB", ["session"]),
        TransferConfig("Privileged Access", "Reporting DB", ["session"])]))
    store.save_schedule(ScheduleConfig("Recordings hourly", 3600, [
        TransferConfig("Support", "Archive Share", ["session", "recordings", "smsr", "shell"])]))
    store.save_schedule(ScheduleConfig("Nightly backup", 86400, [TransferConfig("Support", "Archive Share",
                                                                                ["backup"])], at_time="02:00"))
    now = datetime.now(timezone.utc).replace(tzinfo=None, second=0, microsecond=0)
    store.mark_schedule_run("Session data every 15 minutes", now - timedelta(minutes=4), "ok")
    store.mark_schedule_run("Recordings hourly", now - timedelta(minutes=13), "ok")
    store.mark_schedule_run("Nightly backup", now.replace(hour=2, minute=0) - timedelta(days=0 if now.hour >= 2 else 1),
                            "ok")
    store.set_setting("last_program_run", (now - timedelta(minutes=1)).isoformat() + "Z")
    from tests.gui.gui_fit_probe import configure_history

    configure_history(store, "Recordings hourly")
    with running_app() as a:
        yield a


def test_screenshot_of_the_main_window_and_every_dialog(app):
    from ic.gui.dialogs.api_tester import ApiTesterPanel
    from ic.gui.dialogs.app_settings import AppSettingsPanel
    from ic.gui.dialogs.log_viewer import LogViewerPanel
    from ic.gui.dialogs.notify import NotifyPanel
    from ic.gui.dialogs.plugin import PluginPanel
    from ic.gui.dialogs.schedule import SchedulePanel
    from ic.gui.dialogs.settings_db import SettingsDbPanel
    from ic.gui.dialogs.site import SitePanel

    app.main.schedules.select("Recordings hourly")
    assert pump(app, lambda: app.main.scheduler_state is not None, timeout=30)
    main = screenshot(app, "main-window")
    with Image.open(main) as img:
        assert img.size[0] >= 600 and img.size[1] >= 400
        assert len(img.convert("RGB").getcolors(1 << 24)) > 20  # drawn, not a blank window
    if os.environ.get("IC_UPDATE_DOCS_SCREENSHOT"):
        shutil.copyfile(main, DOCS)
    selections = {SitePanel: "Support", PluginPanel: "Reporting DB", SchedulePanel: "Recordings hourly"}
    for panel in (SitePanel, PluginPanel, SchedulePanel, AppSettingsPanel, NotifyPanel, LogViewerPanel,
                  ApiTesterPanel, SettingsDbPanel):
        d = app.open(panel, **({"select": selections[panel]} if panel in selections else {}))
        pump(app)
        path = screenshot(d, panel.title.lower().replace(" ", "-"))
        assert path.stat().st_size > 1000
        d.close()
    assert len(list(SCREENSHOT_DIR.glob("*.png"))) >= 9


def test_docs_screenshot_is_committed():
    with Image.open(DOCS) as img:
        assert img.size[0] >= 600


def test_dark_mode_restyles_the_lists(app):
    import customtkinter as ctk
    from tkinter import ttk

    try:
        ctk.set_appearance_mode("dark")
        pump(app)
        assert ttk.Style(app).lookup("IC.Treeview", "background") == "#2b2b2b"
        screenshot(app, "main-window-dark")
    finally:
        ctk.set_appearance_mode("system")
        pump(app)
    assert ttk.Style(app).lookup("IC.Treeview", "background") == (
        "#2b2b2b" if ctk.get_appearance_mode() == "Dark" else "#ffffff")
