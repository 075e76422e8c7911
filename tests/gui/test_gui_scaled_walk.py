"""The walk through every window (tests/gui/gui_walk_probe.py) at 125 % display scaling on a 1366x768 laptop screen,
under openbox on its own Xvfb: the windows that once lost fields there (the wizard's Sites step hid its Product field,
the API Tester's XML file list showed no row, the wizard's intro ran past the window's right edge) show everything.
Screenshots go to test-artifacts/screenshots/walk/1366x768-x1.25-<mode>-<window>.png."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import start_screen, stop_screen

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-artifacts" / "screenshots" / "walk"
# the windows this test answers for; the others (main window, Schedule, Verify) ask for more than a 768-pixel
# screen at 125 % and are listed by the walk, not checked here
CHECKED = re.compile(r"^\[(site[^\]]*|plugin[^\]]*|api-tester[^\]]*|wizard-step-[23])\] ")


def test_the_wizard_site_step_and_the_api_tester_show_every_field_at_125_percent_on_1366x768(tmp_path):
    name, processes = start_screen(1366, 768)
    try:
        home = tmp_path / "home"
        home.mkdir()
        env = {**os.environ, "DISPLAY": name, "IC_HOME": str(home)}
        env.pop("IC_SETTINGS", None)
        run = subprocess.run([sys.executable, "-m", "tests.gui.gui_walk_probe", "--mode", "light", "--scaling", "1.25",
                              "--tag", "1366x768-x1.25", "--out", str(OUT)], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=300)
    finally:
        stop_screen(processes)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["screen"] == [1366, 768]
    mine = [p for p in report["problems"] if CHECKED.match(p) or "the intro is" in p]
    assert mine == []
