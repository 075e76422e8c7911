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
    part = directory / f".{name}.{os.getpid()}.png"  # then renamed: tests on other workers may write the same name
    try:
        from PIL import ImageGrab

        ImageGrab.grab(bbox=(x, y, x + w, y + h), xdisplay=os.environ.get("DISPLAY")).save(part)
    except Exception:  # noqa: BLE001 - e.g. a 16-bit display: fall back to ImageMagick's import
        subprocess.run(["import", "-window", "root", "-crop", f"{w}x{h}+{x}+{y}", "+repage", str(part)],
                       check=True, capture_output=True, timeout=30)
    os.replace(part, path)
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


# --- layout checks (a window that fits a small screen, nothing clipped) --------------------------------------------
SQUASH_CLASSES = ("CTkButton", "CTkCheckBox", "CTkOptionMenu", "CTkRadioButton", "CTkSwitch", "CTkSegmentedButton")


def walk(widget):
    """Every descendant of ``widget`` that belongs to the same toplevel (depth first)."""
    for child in widget.winfo_children():
        if child.winfo_toplevel() is not widget.winfo_toplevel():
            continue  # another window (a Toplevel made by this one)
        yield child
        yield from walk(child)


def _in_scroller(widget, top) -> bool:
    """Inside a scrolled area (a canvas or a text box shows part of it on purpose)."""
    import tkinter

    parent = widget.master
    while parent is not None and parent is not top:
        if isinstance(parent, (tkinter.Canvas, tkinter.Text)):
            return True
        parent = parent.master
    return False


def _name(widget) -> str:
    text = ""
    try:
        text = widget.cget("text")
    except Exception:  # noqa: BLE001
        pass
    return f"{type(widget).__name__}{f' {text!r}' if text else ''} ({widget})"


def layout_problems(window, budget: tuple[int, int] | None = None) -> list[str]:
    """What a person would see as broken on this screen: the window (or what it asks for) is larger than the screen
    less a taskbar and a title bar; a visible widget leaves its window or its parent; a button, check box or menu
    has less room than it needs (its text is cut)."""
    import tkinter

    from ic.gui.widgets import screen_budget

    window.update_idletasks()
    window.update()
    max_w, max_h = budget or screen_budget(window)
    title = window.title() if hasattr(window, "title") else str(window)
    problems = []
    w, h = window.winfo_width(), window.winfo_height()
    if w > max_w or h > max_h:
        problems.append(f"{title}: the window is {w}x{h}; the screen leaves {max_w}x{max_h}")
    rw, rh = window.winfo_reqwidth(), window.winfo_reqheight()
    if rw > max_w or rh > max_h:
        problems.append(f"{title}: the window asks for {rw}x{rh}; the screen leaves {max_w}x{max_h}")
    x0, y0 = window.winfo_rootx(), window.winfo_rooty()
    for child in walk(window):
        if not child.winfo_ismapped() or _in_scroller(child, window):
            continue
        cx, cy, cw, ch = child.winfo_rootx(), child.winfo_rooty(), child.winfo_width(), child.winfo_height()
        if cw <= 1 or ch <= 1:
            continue
        if cx < x0 - 1 or cy < y0 - 1 or cx + cw > x0 + w + 1 or cy + ch > y0 + h + 1:
            problems.append(f"{title}: {_name(child)} at {cx - x0},{cy - y0} size {cw}x{ch} leaves the {w}x{h} window")
            continue
        parent = child.master
        if parent is not None and not isinstance(parent, (tkinter.Tk, tkinter.Toplevel)):
            px, py, pw, ph = parent.winfo_rootx(), parent.winfo_rooty(), parent.winfo_width(), parent.winfo_height()
            if cx < px - 1 or cy < py - 1 or cx + cw > px + pw + 1 or cy + ch > py + ph + 1:
                problems.append(f"{title}: {_name(child)} is cut by its parent {_name(parent)}")
                continue
        if type(child).__name__ in SQUASH_CLASSES or any(c.__name__ in SQUASH_CLASSES for c in type(child).__mro__):
            if cw < child.winfo_reqwidth() - 2 or ch < child.winfo_reqheight() - 2:
                problems.append(f"{title}: {_name(child)} is squashed to {cw}x{ch} "
                                f"(needs {child.winfo_reqwidth()}x{child.winfo_reqheight()})")
    return problems
