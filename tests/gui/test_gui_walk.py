"""Every window walked through as an admin would (tests/gui/gui_walk_probe.py), under a real window manager (openbox)
on its own Xvfb screen, at 1024x768 in dark mode and 1280x800 in light mode: nothing larger than the screen, no
widget outside its window or squashed, every button on the screen where the window manager put it. Screenshots go to
test-artifacts/screenshots/walk/ (<size>-<mode>-<window>.png)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import start_screen, stop_screen

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-artifacts" / "screenshots" / "walk"


@pytest.mark.parametrize("width,height,mode", [(1024, 768, "dark"), (1280, 800, "light")])
def test_every_window_walked_through_fits_the_screen_under_a_window_manager(width, height, mode, tmp_path):
    name, processes = start_screen(width, height)
    try:
        home = tmp_path / "home"
        home.mkdir()
        env = {**os.environ, "DISPLAY": name, "IC_HOME": str(home)}
        env.pop("IC_SETTINGS", None)
        run = subprocess.run([sys.executable, "-m", "tests.gui.gui_walk_probe", "--mode", mode, "--tag",
                              f"{width}x{height}", "--out", str(OUT)], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=300)
    finally:
        stop_screen(processes)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["screen"] == [width, height]
    assert report["problems"] == []
    assert len(report["screenshots"]) >= 28
    for path in report["screenshots"]:
        assert Path(path).stat().st_size > 2000, path


def test_the_checker_sees_a_button_off_the_screen(xvfb):
    """The check itself: a window placed so that its button hangs over the screen's bottom edge."""
    import customtkinter as ctk

    from ic.gui.testing import pump
    from ic.gui.widgets import Button
    from tests.helpers import on_screen_problems

    root = ctk.CTk()
    try:
        sh = root.winfo_screenheight()
        root.geometry(f"300x120+10+{sh - 60}")
        Button(root, text="Save", width=120).pack(side="bottom", pady=10)
        pump(root)
        problems = on_screen_problems(root)
        assert any("'Save'" in p and "off the" in p for p in problems), problems
        assert any("is not all on the" in p for p in problems), problems
        root.geometry("300x120+10+10")
        pump(root, lambda: root.winfo_rooty() < sh - 200)
        assert on_screen_problems(root) == []
    finally:
        root.destroy()
