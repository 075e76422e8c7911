"""Helpers for tests that drive the real windows (under Xvfb): pump the event loop, take screenshots."""
from __future__ import annotations

import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

SCREENSHOT_DIR = Path(os.environ.get("IC_SCREENSHOT_DIR", Path(__file__).resolve().parents[2] / "test-artifacts" /
                                     "screenshots"))


def pump(root, until: Callable[[], bool] | None = None, timeout: float = 20.0) -> bool:
    """Process Tk events until ``until()`` is true (or once when None); False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        root.update()
        if until is None or until():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)  # let worker threads run; this is an event-loop tick, not a timing assumption


def screenshot(window, name: str, directory: Path | None = None) -> Path:
    """Save a PNG of ``window`` (a Tk/Toplevel) as ``<directory>/<name>.png``."""
    directory = Path(directory or SCREENSHOT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    window.update_idletasks()
    window.lift()
    pump(window, None)
    x, y = window.winfo_rootx(), window.winfo_rooty()
    w, h = window.winfo_width(), window.winfo_height()
    menu = window.cget("menu") if "menu" in window.keys() else ""
    if menu:  # a tkinter menu bar sits above the client area on X11, inside the wrapper window: include it
        top = _wrapper_top(window)
        h, y = h + (y - top), top
    try:
        from PIL import ImageGrab

        ImageGrab.grab(bbox=(x, y, x + w, y + h), xdisplay=os.environ.get("DISPLAY")).save(path)
    except Exception:  # noqa: BLE001 - e.g. a 16-bit display: fall back to ImageMagick's import
        subprocess.run(["import", "-window", "root", "-crop", f"{w}x{h}+{x}+{y}", "+repage", str(path)],
                       check=True, capture_output=True, timeout=30)
    return path


def type_text(field, text: str, timeout: float = 10.0) -> None:
    """Replace a Field's text as a user would and fire the key-release event validators listen to."""
    inner = getattr(field.widget, "_entry", field.widget)
    top = inner.winfo_toplevel()
    pump(top, lambda: inner.winfo_viewable(), timeout)
    # Tk delivers key events to the focused widget only
    pump(top, lambda: (inner.focus_force(), inner.focus_get() is inner)[1], timeout)
    field.set(text)
    inner.event_generate("<KeyRelease>", keysym="a")
    inner.update()


def press(window, key: str, timeout: float = 10.0) -> None:
    """Send a key (e.g. "Return", "Escape") to a window as the keyboard would."""
    pump(window, lambda: window.winfo_viewable(), timeout)
    pump(window, lambda: (window.focus_force(), window.focus_get() is not None)[1], timeout)
    target = window.focus_get() or window
    target.event_generate(f"<{key}>")


def _wrapper_top(window) -> int:
    """Screen y of the toplevel's wrapper, where its menu bar starts (``wm geometry`` reports the wrapper)."""
    import re

    match = re.search(r"[+-](-?\d+)[+-](-?\d+)$", window.wm_geometry())
    return int(match.group(2)) if match else window.winfo_rooty()


@contextmanager
def running_app():
    """The main window without the first-run wizard, drawn once; closed when the block ends."""
    from ic.gui.app import App

    app = App(show_wizard=False)
    pump(app)
    try:
        yield app
    finally:
        app.close()
