"""A screenshot of the main window and of every dialog, filled with a realistic configuration
(test-artifacts/screenshots/*.png). IC_UPDATE_DOCS_SCREENSHOT=1 also refreshes docs/screenshot-main.png."""
from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image

from ic.gui.testing import SCREENSHOT_DIR, pump, screenshot
from tests.helpers import demo_history, demo_settings

pytestmark = pytest.mark.usefixtures("xvfb")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshot-main.png"


@pytest.fixture
def configured(store, tmp_path):
    demo_settings(store, tmp_path, tmp_path / "r.db", "Session data every 15 minutes")
    now = datetime.now(timezone.utc).replace(tzinfo=None, second=0, microsecond=0)
    store.mark_schedule_run("Session data every 15 minutes", now - timedelta(minutes=4), "ok")
    store.mark_schedule_run("Recordings hourly", now - timedelta(minutes=13), "ok")
    store.mark_schedule_run("Nightly backup", now.replace(hour=2, minute=0) - timedelta(days=0 if now.hour >= 2 else 1),
                            "ok")
    store.set_setting("last_program_run", (now - timedelta(minutes=1)).isoformat() + "Z")
    demo_history(store, "Recordings hourly")
    return store


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
