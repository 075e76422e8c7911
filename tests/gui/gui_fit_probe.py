"""Opens the main window and every dialog on the display in $DISPLAY (a 1024x768 screen in the test), checks each
with ic.gui.testing.layout_problems and saves a screenshot of each. Run by tests/gui/test_gui_small_screen.py as
``python -m tests.gui.gui_fit_probe --mode light|dark --tag NAME``; prints one JSON object: {"problems": [...],
"screenshots": [...]}. IC_HOME must point at a fresh folder (the probe fills its settings database)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("light", "dark"), default="light")
    parser.add_argument("--tag", default="1024x768")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    import customtkinter as ctk

    from ic.gui.app import App
    from ic.gui.dialogs.api_tester import ApiTesterPanel
    from ic.gui.dialogs.app_settings import AppSettingsPanel, InstallPrompt
    from ic.gui.dialogs.log_viewer import LogViewerPanel
    from ic.gui.dialogs.notify import NotifyPanel
    from ic.gui.dialogs.plugin import PluginPanel
    from ic.gui.dialogs.schedule import SchedulePanel
    from ic.gui.dialogs.settings_db import SettingsDbPanel
    from ic.gui.dialogs.site import SitePanel
    from ic.gui.testing import SCREENSHOT_DIR, layout_problems, pump, screenshot
    from tests.gui.gui_walk_probe import fill_home
    from tests.helpers import settle

    out = Path(args.out) if args.out else SCREENSHOT_DIR
    fill_home(history=True)

    problems: list[str] = []
    shots: list[str] = []

    def check(window, name: str) -> None:
        settle(window)
        problems.extend(layout_problems(window))
        shots.append(str(screenshot(window, f"{args.tag}-{args.mode}-{name}", out)))
        panel = getattr(window, "panel", None)
        if panel is not None and name == panel.title.lower().replace(" ", "-"):  # and shrunk to its smallest
            size = window.geometry()
            window.geometry("{}x{}".format(*panel.min_size))
            pump(window)
            window.update()
            problems.extend(f"(at its minimum size) {p}" for p in layout_problems(window))
            window.geometry(size.split("+")[0])
            pump(window)

    app = App(show_wizard=False)
    ctk.set_appearance_mode(args.mode)
    pump(app)
    pump(app, lambda: app.main.scheduler_state is not None, timeout=30)
    app.main.schedules.select("Recordings hourly")
    check(app, "main-window")
    size = app.geometry().split("+")[0]
    app.geometry("720x520")  # its minimum size
    pump(app)
    problems.extend(f"(at its minimum size) {p}" for p in layout_problems(app))
    app.geometry(size)
    pump(app)
    selections = {SitePanel: "Support", PluginPanel: "Archive Share", SchedulePanel: "Recordings hourly"}
    for panel in (SitePanel, PluginPanel, SchedulePanel, AppSettingsPanel, NotifyPanel, LogViewerPanel,
                  ApiTesterPanel, SettingsDbPanel):
        d = app.open(panel, **({"select": selections[panel]} if panel in selections else {}))
        name = panel.title.lower().replace(" ", "-")
        check(d, name)
        if panel is PluginPanel:
            d.panel.list.select("Reporting DB")
            pump(app)
            check(d, name + "-sql")
            d.fields["url"].button.invoke()
            pump(app)
            check(d.panel.connection_dialog, "connection-string")
            d.panel.connection_dialog.destroy()
        if panel is AppSettingsPanel:
            d.panel.toggle_advanced(True)
            check(d, name + "-advanced")
        if panel is ApiTesterPanel:
            d.panel.tabs.set("XML Files")
            check(d, name + "-xml-files")
        if panel is SitePanel:
            d.fields["host"].set("https://support.example.com/")
            d.panel.save()
            check(d, name + "-error")
            d.fields["host"].set("support.example.com")
            d.panel.delete()
            pump(app)
            check(d.panel.confirm, "delete-confirmation")
            d.panel.confirm.buttons["Cancel"].invoke()
            d.fields["client_id"].set("changed")
            d.close()
            pump(app)
            check(d.unsaved_prompt, "unsaved-changes")
            d.unsaved_prompt.buttons["Discard"].invoke()
            pump(app)
            continue
        d.close(force=True)
        pump(app)
    # the other helpers' windows too (Verify, run as a service account), when this build has them
    try:
        from ic.gui.dialogs.verify import VerifyPanel
    except ImportError:
        VerifyPanel = None
    if VerifyPanel is not None:
        d = app.open(VerifyPanel, schedule="Recordings hourly")
        check(d, "verify")
        d.close(force=True)
        pump(app)
    try:
        from ic.gui.dialogs.run_as import RunAsPrompt
    except ImportError:
        RunAsPrompt = None
    if RunAsPrompt is not None:
        run_as = RunAsPrompt(app, "CORP\\svc-ic", lambda _a, _p: None)
        check(run_as, "run-as")
        run_as.destroy()
    prompt = InstallPrompt(app, "CORP\\svc-ic", lambda _p: None)
    check(prompt, "install-scheduler")
    prompt.destroy()
    about = app.show_about()
    check(about, "about")
    about.destroy()
    w = app.open_wizard(start_at_database=True)
    for step in range(4):
        check(w, f"wizard-step-{step + 1}")
        if step < 3:
            w.skip()
            pump(app)
    w.close(force=True)
    pump(app)
    app.close()
    print(json.dumps({"problems": problems, "screenshots": shots}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
