"""Walks through every window as an admin would, on the display in $DISPLAY (a real window manager on Xvfb in the
test), at that screen's size, light or dark: the main window, Site (an entry, a new one, a Test error), Plugin
Configuration (folder and SQL, the connection string builder), Schedule (a saved one; a new one with a transfer added,
which shows where its first run starts), Application Settings (and Advanced), Notifications, Log File, API Tester
(both tabs), Settings Database, Verify (by schedule, by site and destination), Run as, Install Scheduler, About, an
error message, Delete?, Unsaved changes, and each step of the first-run wizard.

Then it drives the windows as an admin setting up would: a site filled in and tested (nothing answers), saved; a
folder destination added and saved; a schedule with a transfer saved; the wizard's Next pressed on a site form that
cannot be saved; Escape on a window with unsaved changes; every window shrunk to its smallest size.

For each it checks ic.gui.testing.layout_problems, plus what the window manager did: the window (its title bar too),
and every button in it, lies on the screen (a button half below the screen's edge cannot be pressed); what the window
asks for (with its title and menu bars) fits the screen less a taskbar; its action buttons (Save, Test, Next, OK,
Cancel...) are shown outside any scrolled area, so they are on screen without scrolling; nothing is drawn without a
place in the layout. Saves a screenshot of each.
Run by tests/gui/test_gui_walk.py (and test_gui_scaled_walk, test_gui_fit_everywhere) as
``python -m tests.gui.gui_walk_probe --mode light|dark --tag NAME --out DIR [--scaling 1.25]``; prints one JSON
object: {"problems": ["[window-name] problem", ...], "screenshots": [...], "screen": [w, h], "windows": [{"name",
"requested": [w, h], "size": [w, h], "at": [x, y], "outer": [x, y], "menu": h}, ...]}. IC_HOME must be a fresh folder.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path


TASKBAR = 40  # pixels at the screen's bottom that a Windows taskbar takes
# the buttons that finish or leave a window: each must be on screen without scrolling
ACTIONS = {"Save", "OK", "Cancel", "Test", "Next", "Finish", "Back", "Skip", "Install", "Discard", "Delete",
           "Create Database", "Download", "Verify", "Verify and Repair", "Run Now", "Stay", "Go On Without Saving"}


def configure(store, folder: Path) -> None:
    from tests.helpers import demo_settings

    demo_settings(store, folder / "archive", folder / "r.db", "Quarter-hourly session data from both sites",
                  backup_password="b")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    store.mark_schedule_run("Recordings hourly", now - timedelta(minutes=20), "ok")
    store.mark_schedule_run("Nightly backup", now - timedelta(hours=7), "failed: Cannot find pra.example.com: "
                                                                         "check the site's host name.")
    store.set_setting("last_program_run", (now - timedelta(minutes=1)).isoformat() + "Z")


def fill_home(history: bool = False) -> Path:
    """The settings database in IC_HOME (a fresh folder) filled as an admin's would be: two sites, two destinations,
    three schedules; ``history``: 30 runs of Recordings hourly for the status page's chart."""
    from ic.settings import open_store
    from tests.helpers import demo_history

    home = Path(os.environ["IC_HOME"])
    store = open_store()
    try:
        configure(store, home)
        if history:
            demo_history(store, "Recordings hourly")
    finally:
        store.close()
    return home


def geometry(window) -> dict:
    """Where the window is and what it asks for, in real pixels; ``outer``: its frame's corner as the window manager
    placed it, ``above``: the pixels above the client area (title bar, and the menu bar on X11)."""
    import re

    outer = re.search(r"[+-](-?\d+)[+-](-?\d+)$", window.wm_geometry())
    ox, oy = (int(outer.group(1)), int(outer.group(2))) if outer else (window.winfo_rootx(), window.winfo_rooty())
    return {"requested": [window.winfo_reqwidth(), window.winfo_reqheight()],
            "size": [window.winfo_width(), window.winfo_height()],
            "at": [window.winfo_rootx(), window.winfo_rooty()], "outer": [ox, oy],
            "above": max(0, window.winfo_rooty() - oy), "screen": [window.winfo_screenwidth(),
                                                                   window.winfo_screenheight()]}


def geometry_problems(window, where: dict) -> list[str]:
    """What the window asks for, with its title and menu bars, fits the screen less a taskbar; where it is, title bar
    included, lies on the screen."""
    title = window.title()
    sw, sh = where["screen"]
    rw, rh = where["requested"]
    problems = []
    if rw > sw or rh + where["above"] > sh - TASKBAR:
        problems.append(f"{title}: the window asks for {rw}x{rh} below {where['above']} pixels of title and menu "
                        f"bars; the screen is {sw}x{sh} with a {TASKBAR}-pixel taskbar")
    (ox, oy), (x, y), (w, h) = where["outer"], where["at"], where["size"]
    if ox < 0 or oy < 0 or x + w > sw or y + h > sh:
        problems.append(f"{title}: the window (frame at {ox},{oy}, {w}x{h} at {x},{y}) is not all on the screen")
    return problems


def stray_problems(window) -> list[str]:
    """A widget drawn on the window without a place in its layout (taken out of the grid, yet still shown: a scroll
    bar left in the middle of a list)."""
    import tkinter

    from ic.gui.testing import _name, walk

    title = window.title()
    return [f"{title}: {_name(child)} is drawn but has no place in the layout" for child in walk(window)
            if child.winfo_ismapped() and not child.winfo_manager() and not isinstance(child, tkinter.Toplevel)
            and child.master.winfo_ismapped()]


def action_problems(window) -> list[str]:
    """Every shown action button lies in the window, outside any scrolled area (no scrolling to reach it)."""
    from ic.gui.testing import _in_scroller, walk

    title = window.title()
    x0, y0, w, h = window.winfo_rootx(), window.winfo_rooty(), window.winfo_width(), window.winfo_height()
    problems = []
    for child in walk(window):
        if not any(c.__name__ == "CTkButton" for c in type(child).__mro__) or not child.winfo_ismapped():
            continue
        text = child.cget("text")
        if text not in ACTIONS:
            continue
        if _in_scroller(child, window):
            problems.append(f"{title}: the {text!r} button is in a scrolled area: it can scroll out of sight")
            continue
        cx, cy, cw, ch = child.winfo_rootx(), child.winfo_rooty(), child.winfo_width(), child.winfo_height()
        if cx < x0 or cy < y0 or cx + cw > x0 + w or cy + ch > y0 + h:
            problems.append(f"{title}: the {text!r} button at {cx - x0},{cy - y0} is not all inside the {w}x{h} "
                            "window")
    return problems


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
    from ic.gui.testing import layout_problems, pump, screenshot, type_text
    from ic.gui.widgets import show_error
    from tests.helpers import on_screen_problems, settle

    out = Path(args.out)
    home = fill_home()
    problems: list[str] = []
    shots: list[str] = []
    windows: list[dict] = []

    def check(window, name: str, shot: bool = True) -> None:
        settle(window)
        where = geometry(window)
        windows.append({"name": name, **where})
        found = (layout_problems(window) + on_screen_problems(window) + geometry_problems(window, where)
                 + action_problems(window) + stray_problems(window))
        problems.extend(f"[{name}] {p}" for p in found)  # which step of the walk (a wizard's steps share a title)
        if shot:
            shots.append(str(screenshot(window, f"{args.tag}-{args.mode}-{name}", out)))

    def at_minimum(window, name: str, shot: bool = False) -> None:
        """Shrunk to its smallest size, as a person drags its corner: still nothing cut, buttons in view."""
        from ic.gui.widgets import window_scaling

        def resize(width: int, height: int) -> None:
            """To this size (customtkinter's units, as geometry() takes them), once the window manager made it so."""
            scale = window_scaling(window)
            window.geometry(f"{width}x{height}")
            pump(window, lambda: abs(window.winfo_width() - round(width * scale)) <= 2
                 and abs(window.winfo_height() - round(height * scale)) <= 2, timeout=10)

        size = [int(n) for n in window.geometry().split("+")[0].split("x")]
        resize(window._min_width, window._min_height)
        check(window, f"{name}-at-minimum", shot)
        resize(*size)

    app = App(show_wizard=False)
    ctk.set_appearance_mode(args.mode)
    pump(app)
    pump(app, lambda: app.main.scheduler_state is not None, timeout=30)
    app.main.schedules.select("Recordings hourly")
    check(app, "main-window")
    at_minimum(app, "main-window", shot=True)

    d = app.open(SitePanel, select="Support")
    check(d, "site")
    at_minimum(d, "site", shot=True)
    d.panel.new_button.invoke()
    check(d, "site-new")
    for key, value in (("name", "Branch office"), ("host", "127.0.0.1:9"), ("client_id", "3f9c1e0b"),
                       ("client_secret", "not-a-real-secret")):
        type_text(d.fields[key], value)
    d.panel.test_button.invoke()
    pump(app, lambda: d.panel.last_test is not None, timeout=60)
    check(d, "site-test-failed")
    d.panel.save()
    pump(app)
    check(d, "site-saved")
    d.panel.new_button.invoke()
    pump(app)
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
    at_minimum(d, "plugin-folder", shot=True)
    d.panel.type_var.set("File System")
    d.panel.add_button.invoke()
    pump(app)
    type_text(d.fields["name"], "Branch archive")
    type_text(d.fields["directory"], str(home / "branch"))
    check(d, "plugin-new-folder")
    d.panel.save()
    pump(app)
    check(d, "plugin-saved")
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
    at_minimum(d, "schedule-new-transfer", shot=True)
    d.panel.first_pull.set("all")
    d.panel.save()
    pump(app)
    check(d, "schedule-saved")
    d.fields["name"].set("Weekly recordings (renamed)")
    d.event_generate("<Escape>")  # Cancel with unsaved changes: Save / Discard / Cancel
    pump(app, lambda: getattr(d, "unsaved_prompt", None) is not None, timeout=10)
    check(d.unsaved_prompt, "schedule-unsaved-changes")
    d.unsaved_prompt.buttons["Cancel"].invoke()
    pump(app)
    d.close(force=True)
    pump(app)

    d = app.open(AppSettingsPanel)
    check(d, "application-settings")
    at_minimum(d, "application-settings")
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
        at_minimum(d, name)
        if panel is SettingsDbPanel:  # a server's fields: the most the form shows
            d.fields["kind"].set("SQL Server")
            pump(app)
            check(d, "settings-database-sql-server")
            at_minimum(d, "settings-database-sql-server", shot=True)
        d.close(force=True)
        pump(app)

    d = app.open(ApiTesterPanel)
    check(d, "api-tester")
    at_minimum(d, "api-tester", shot=True)
    d.panel.tabs.set("XML Files")
    check(d, "api-tester-xml-files")
    d.close(force=True)
    pump(app)

    d = app.open(VerifyPanel, schedule="Recordings hourly")
    check(d, "verify")
    at_minimum(d, "verify", shot=True)
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
        at_minimum(w, f"wizard-step-{step + 1}", shot=step in (1, 3))
        if step == 1:  # Next before the site can be saved (no Client Secret): stay, or go on without saving?
            w.panel.new_button.invoke()
            pump(app)
            type_text(w.fields["name"], "Half-filled site")
            type_text(w.fields["host"], "support2.example.com")
            w.next_button.invoke()
            pump(app, lambda: w.prompt is not None and w.prompt.winfo_exists(), timeout=10)
            check(w.prompt, "wizard-next-not-saved")
            check(w, "wizard-site-not-saved")
            w.prompt.buttons["Go On Without Saving"].invoke()
            pump(app)
        elif step < 3:
            w.skip()
            pump(app)
    w.close(force=True)
    pump(app)
    screen = [app.winfo_screenwidth(), app.winfo_screenheight()]
    app.close()
    print(json.dumps({"problems": problems, "screenshots": shots, "screen": screen, "windows": windows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
