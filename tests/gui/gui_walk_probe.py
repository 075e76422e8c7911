"""Walks through every window as an admin would, on the display in $DISPLAY (a real window manager on Xvfb in the
test), at that screen's size, light or dark: the main window, Site (an entry, a new one, a Test error), Plugin
Configuration (folder and SQL, the connection string builder), Schedule (a saved one; a new one with a transfer added,
which shows where its first run starts), Application Settings (and Advanced), Notifications, Log File, API Tester
(both tabs), Settings Database, Verify (by schedule, by site and destination), Run as, Install Scheduler, About, an
error message, Delete?, Unsaved changes, and each step of the first-run wizard.

For each it checks ic.gui.testing.layout_problems, plus what the window manager did: the window, and every button in
it, lies on the screen (a button half below the screen's edge cannot be pressed). Saves a screenshot of each.
Run by tests/gui/test_gui_walk.py as ``python -m tests.gui.gui_walk_probe --mode light|dark --tag NAME --out DIR``;
prints one JSON object: {"problems": ["[window-name] problem", ...], "screenshots": [...], "screen": [w, h]}.
IC_HOME must be a fresh folder.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path


def configure(store, folder: Path) -> None:
    from tests.helpers import demo_settings

    demo_settings(store, folder / "archive", folder / "r.db", "Quarter-hourly session data from both sites",
                  backup_password="b")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    store.mark_schedule_run("Recordings hourly", now - timedelta(minutes=20), "ok")
    store.mark_schedule_run("Nightly backup", now - timedelta(hours=7), "failed: Cannot find pra.example.com: "
                                                                         "check the site's host name.")
    store.set_setting("last_program_run", (now - timedelta(minutes=1)).isoformat() + "Z")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("light", "dark"), default="light")
    parser.add_argument("--tag", default="screen")
    parser.add_argument("--out", required=True)
    parser.add_argument("--scaling", type=float, default=1.0, help="display scaling, as Windows sets it (1.25 ...)")
    args = parser.parse_args()

    import customtkinter as ctk

    if args.scaling != 1.0:
        ctk.set_window_scaling(args.scaling)
        ctk.set_widget_scaling(args.scaling)

    from ic.gui.app import App
    from ic.gui.dialogs.api_tester import ApiTesterPanel
    from ic.gui.dialogs.app_settings import AppSettingsPanel, InstallPrompt
    from ic.gui.dialogs.log_viewer import LogViewerPanel
    from ic.gui.dialogs.notify import NotifyPanel
    from ic.gui.dialogs.plugin import PluginPanel
    from ic.gui.dialogs.run_as import RunAsPrompt
    from ic.gui.dialogs.schedule import SchedulePanel
    from ic.gui.dialogs.settings_db import SettingsDbPanel
    from ic.gui.dialogs.site import SitePanel
    from ic.gui.dialogs.verify import VerifyPanel
    from ic.gui.testing import layout_problems, pump, screenshot
    from ic.gui.widgets import show_error
    from tests.helpers import on_screen_problems
    from ic.settings import open_store

    out = Path(args.out)
    home = Path(os.environ["IC_HOME"])
    store = open_store()
    configure(store, home)
    store.close()
    problems: list[str] = []
    shots: list[str] = []

    def check(window, name: str) -> None:
        pump(window)
        pump(window, lambda: window.winfo_viewable(), timeout=10)
        pump(window)
        window.update()
        found = layout_problems(window) + on_screen_problems(window)
        problems.extend(f"[{name}] {p}" for p in found)  # which step of the walk (a wizard's steps share a title)
        shots.append(str(screenshot(window, f"{args.tag}-{args.mode}-{name}", out)))

    app = App(show_wizard=False)
    ctk.set_appearance_mode(args.mode)
    pump(app)
    pump(app, lambda: app.main.scheduler_state is not None, timeout=30)
    app.main.schedules.select("Recordings hourly")
    check(app, "main-window")

    d = app.open(SitePanel, select="Support")
    check(d, "site")
    d.panel.new_button.invoke()
    check(d, "site-new")
    d.fields["name"].set("New site")
    d.fields["host"].set("https://support.example.com/")
    d.panel.save()
    check(d, "site-error")
    d.close()
    pump(app)
    check(d.unsaved_prompt, "site-unsaved-changes")
    d.unsaved_prompt.buttons["Discard"].invoke()
    pump(app)

    d = app.open(PluginPanel, select="Archive Share")
    check(d, "plugin-folder")
    d.panel.list.select("Reporting DB")
    pump(app)
    check(d, "plugin-sql")
    d.fields["url"].button.invoke()
    pump(app)
    check(d.panel.connection_dialog, "connection-string")
    d.panel.connection_dialog.destroy()
    d.panel.delete()
    pump(app)
    check(d.panel.confirm, "delete-confirmation")
    d.panel.confirm.buttons["Cancel"].invoke()
    d.close(force=True)
    pump(app)

    d = app.open(SchedulePanel, select="Recordings hourly")
    check(d, "schedule")
    d.panel.new_button.invoke()
    pump(app)
    d.fields["name"].set("Weekly recordings")
    d.fields["site"].set("Privileged Access")
    d.fields["destination"].set("Archive Share")
    pump(app)
    d.panel.add_button.invoke()
    d.panel.first_pull.set("date")
    check(d, "schedule-new-transfer")
    d.close(force=True)
    pump(app)

    d = app.open(AppSettingsPanel)
    check(d, "application-settings")
    d.panel.toggle_advanced(True)
    check(d, "application-settings-advanced")
    run_as = RunAsPrompt(d, "CORP\\svc-ic", lambda _a, _p: None)
    check(run_as, "run-as")
    run_as.destroy()
    prompt = InstallPrompt(d, "CORP\\svc-ic", lambda _p: None)
    check(prompt, "install-scheduler")
    prompt.destroy()
    d.close(force=True)
    pump(app)

    for panel, name in ((NotifyPanel, "notifications"), (LogViewerPanel, "log-file"),
                        (SettingsDbPanel, "settings-database")):
        d = app.open(panel)
        check(d, name)
        d.close(force=True)
        pump(app)

    d = app.open(ApiTesterPanel)
    check(d, "api-tester")
    d.panel.tabs.set("XML Files")
    check(d, "api-tester-xml-files")
    d.close(force=True)
    pump(app)

    d = app.open(VerifyPanel, schedule="Recordings hourly")
    check(d, "verify")
    d.panel.mode.set("A site and a destination")
    d.panel._update_buttons()
    check(d, "verify-site-and-destination")
    d.close(force=True)
    pump(app)

    about = app.show_about()
    check(about, "about")
    about.destroy()
    box = show_error(app, "Cannot find support.example.com: check the site's host name under Site Configuration.")
    check(box, "error-message")
    box.destroy()

    w = app.open_wizard(start_at_database=True)
    for step in range(4):
        check(w, f"wizard-step-{step + 1}")
        text, room = w.intro._label.winfo_reqwidth(), w.intro.winfo_width()
        if text > room + 2:  # wrapped wider than the label: the words run past the window's edge
            problems.append(f"[wizard-step-{step + 1}] the intro is {text} pixels wide in a {room}-pixel label")
        if step < 3:
            w.skip()
            pump(app)
    w.close(force=True)
    pump(app)
    screen = [app.winfo_screenwidth(), app.winfo_screenheight()]
    app.close()
    print(json.dumps({"problems": problems, "screenshots": shots, "screen": screen}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
