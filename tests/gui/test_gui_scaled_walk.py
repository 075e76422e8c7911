"""The walk through every window (tests/gui/gui_walk_probe.py) at 125 % display scaling on a 1366x768 laptop screen,
under openbox on its own Xvfb, light (dark: test_gui_fit_everywhere): no window asks for more than the screen (the
main window, Schedule, Verify and the wizard's first and last steps did), every field shows or scrolls into view (the
wizard's Sites step hid its Product field, the API Tester's XML file list showed no row), the wizard's intro wraps
inside the window, and the action buttons stay on screen outside any scrolled area.
Screenshots go to test-artifacts/screenshots/walk/1366x768-x1.25-<mode>-<window>.png."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import start_screen, stop_screen

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-artifacts" / "screenshots" / "walk"


def test_every_window_fits_and_shows_every_field_at_125_percent_on_1366x768(tmp_path):
    name, processes = start_screen(1366, 768)
    try:
        home = tmp_path / "home"
        home.mkdir()
        env = {**os.environ, "DISPLAY": name, "IC_HOME": str(home)}
        env.pop("IC_SETTINGS", None)
        run = subprocess.run([sys.executable, "-m", "tests.gui.gui_walk_probe", "--mode", "light", "--scaling", "1.25",
                              "--tag", "1366x768-x1.25", "--out", str(OUT)], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=400)
    finally:
        stop_screen(processes)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["screen"] == [1366, 768]
    assert report["problems"] == []
    tall = {w["name"]: w["requested"][1] for w in report["windows"]}
    for window in ("main-window", "schedule", "verify", "wizard-step-1", "wizard-step-4"):
        assert tall[window] <= 768 - 70, (window, tall[window])  # they asked for 700 to 793 pixels
