"""Every window and dialog fits the screen on the laptops admins use, light and dark, under a real window manager
(openbox on its own Xvfb): 1024x768 at 100 % (light; dark is test_gui_walk's), 1280x800 (dark; light is
test_gui_walk's) and 1366x768 at 125 % display scaling (dark; light is test_gui_scaled_walk's).

The walk (tests/gui/gui_walk_probe.py) opens each window and drives them as an admin would (a site filled in, tested
and saved, a destination and a schedule added, Next pressed on a site that cannot be saved, Escape with unsaved
changes, each window shrunk to its smallest size). Here each window's requested size (with its title and menu bars)
and its actual place and size are checked against the screen from the walk's report, and the walk's own checks must
find nothing: no widget cut, no list without a row, every action button (Save, Test, Next, OK, Cancel...) on screen
and outside any scrolled area. Screenshots: test-artifacts/screenshots/walk/<size>-<mode>-<window>.png."""
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
TASKBAR = 40
# what an admin did on the way: each left a window checked and photographed
DRIVEN = {"site-test-failed", "site-saved", "plugin-new-folder", "plugin-saved", "schedule-saved",
          "schedule-unsaved-changes", "site-unsaved-changes", "wizard-next-not-saved", "wizard-site-not-saved",
          "main-window-at-minimum", "site-at-minimum", "schedule-new-transfer-at-minimum", "verify-at-minimum",
          "api-tester-at-minimum", "wizard-step-4-at-minimum"}


def _walk(width: int, height: int, mode: str, scaling: float, tmp_path: Path) -> dict:
    name, processes = start_screen(width, height)
    tag = f"{width}x{height}" + (f"-x{scaling:g}" if scaling != 1.0 else "")
    try:
        home = tmp_path / "home"
        home.mkdir()
        env = {**os.environ, "DISPLAY": name, "IC_HOME": str(home)}
        env.pop("IC_SETTINGS", None)
        run = subprocess.run([sys.executable, "-m", "tests.gui.gui_walk_probe", "--mode", mode, "--scaling",
                              str(scaling), "--tag", tag, "--out", str(OUT)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=400)
    finally:
        stop_screen(processes)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("width,height,scaling,mode", [(1024, 768, 1.0, "light"), (1280, 800, 1.0, "dark"),
                                                       (1366, 768, 1.25, "dark")])
def test_every_window_asks_for_and_takes_no_more_than_the_screen_and_keeps_its_buttons_in_view(
        width, height, scaling, mode, tmp_path):
    report = _walk(width, height, mode, scaling, tmp_path)
    assert report["screen"] == [width, height]
    assert report["problems"] == []
    names = {w["name"] for w in report["windows"]}
    assert DRIVEN <= names, DRIVEN - names
    assert len(report["windows"]) >= 45
    for w in report["windows"]:
        (rw, rh), (ww, wh), (x, y), (ox, oy) = w["requested"], w["size"], w["at"], w["outer"]
        assert rw <= width and rh + w["above"] <= height - TASKBAR, w  # what it asks for
        assert ox >= 0 and oy >= 0 and x + ww <= width and y + wh <= height, w  # where it is, title bar included
    for path in report["screenshots"]:
        assert Path(path).stat().st_size > 2000, path


def test_the_walk_sees_an_action_button_in_a_scrolled_area_and_a_window_too_tall(xvfb):
    """The checks themselves: Save inside a FitOrScroll (it could scroll out of sight), a window asking for more
    height than the screen, and a window whose title bar is above the screen's top."""
    import customtkinter as ctk

    from ic.gui.dialogs.base import FitOrScroll
    from ic.gui.testing import pump
    from ic.gui.widgets import Button
    from tests.gui.gui_walk_probe import action_problems, geometry, geometry_problems

    root = ctk.CTk()
    try:
        root.geometry("400x300+10+10")
        scroller = FitOrScroll(root, height=100)
        scroller.pack(fill="both", expand=True)
        Button(scroller.content, text="Save").pack()
        Button(root, text="Cancel").pack(side="bottom")
        pump(root)
        root.update()
        problems = action_problems(root)
        assert len(problems) == 1 and "'Save'" in problems[0] and "scrolled" in problems[0], problems
        assert geometry_problems(root, geometry(root)) == []
        ctk.CTkFrame(root, height=root.winfo_screenheight() + 50, width=50).pack()
        pump(root)
        root.update()
        assert any("asks for" in p for p in geometry_problems(root, geometry(root)))
        where = {**geometry(root), "outer": [10, -25]}
        assert any("not all on the screen" in p for p in geometry_problems(root, where))
    finally:
        root.destroy()
