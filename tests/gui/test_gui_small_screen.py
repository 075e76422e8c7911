"""Every window fits a 1024x768 screen less a taskbar and a title bar, light and dark, with and without a window
manager: a separate Xvfb at 1024x768 (plus openbox, a small real window manager, when installed) runs
tests/gui/gui_fit_probe.py, which opens the main window and every dialog, fails on any window larger than the screen
budget or any widget outside its window or squashed, and saves a screenshot of each
(test-artifacts/screenshots/1024x768-*.png)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import start_xvfb

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=["plain", "openbox"])
def display(request):
    proc, name = start_xvfb(1024, 768)
    wm = None
    if request.param == "openbox":
        if not shutil.which("openbox"):
            proc.terminate()
            proc.wait()
            pytest.skip("openbox is not installed (.ci/apt-packages.txt lists it)")
        wm = subprocess.Popen(["openbox", "--sm-disable"], env={**os.environ, "DISPLAY": name},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield request.param, name
    finally:
        for p in (wm, proc):
            if p is not None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["light", "dark"])
def test_every_window_fits_1024x768_and_nothing_is_cut(display, mode, tmp_path):
    wm, name = display
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "DISPLAY": name, "IC_HOME": str(home)}
    env.pop("IC_SETTINGS", None)
    run = subprocess.run([sys.executable, "-m", "tests.gui.gui_fit_probe", "--mode", mode, "--tag", f"1024x768-{wm}"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["problems"] == []
    assert len(report["screenshots"]) >= 20
    for path in report["screenshots"]:
        assert Path(path).stat().st_size > 2000, path


def test_the_checker_sees_a_window_too_large_and_a_cut_button(xvfb):
    """The check itself: a window wider than the screen budget, and a button pushed out of its window."""
    import customtkinter as ctk

    from ic.gui.testing import layout_problems, pump
    from ic.gui.widgets import Button

    root = ctk.CTk()
    try:
        root.geometry("300x200+0+0")
        frame = ctk.CTkFrame(root, width=600, height=100)
        frame.pack_propagate(False)
        frame.pack(anchor="w")
        Button(frame, text="Far right", width=120).place(x=500, y=10)
        pump(root)
        problems = layout_problems(root, budget=(1024, 698))
        assert any("Far right" in p and "leaves" in p for p in problems), problems
        assert any("asks for" in p for p in layout_problems(root, budget=(250, 698)))
    finally:
        root.destroy()
