"""The mouse wheel scrolls only the innermost scrollable thing under the pointer: over the XML file list of the API
Tester's scrolled tab it scrolls the list, not the tab; over the tab outside its lists it scrolls the tab; over a list
with nothing more to show it scrolls the tab. Real wheel clicks (buttons 4 and 5, through xdotool when installed) and
Windows-style <MouseWheel> events, under Xvfb; each check reads the yview of the list and of the tab."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from ic.gui.dialogs.api_tester import ApiTesterPanel
from ic.gui.testing import pump
from ic.settings import SiteConfig


@pytest.fixture
def configured(store):
    for i in range(14):  # more sites than the Sites list shows
        store.save_site(SiteConfig(f"Site {i:02}", f"s{i}.example.com", "id"), client_secret="x")
    return store


def _short_tester(app, height: int = 380, tab: str = "XML Files"):
    """The API Tester made short enough that its tab scrolls; 40 XML files in a list that shows a few."""
    d = app.open(ApiTesterPanel)
    pump(app)
    d.minsize(200, 200)
    d.geometry(f"900x{height}+0+0")
    pump(app, lambda: abs(d.winfo_height() - height) <= 2 and d.winfo_viewable())
    d.panel.xml_files.set_rows([(f"/data/export-{i:03}.xml",) for i in range(40)])
    if tab != d.panel.tabs.get():
        d.panel.tabs.set(tab)
    pump(app)
    d.lift()
    d.update()
    return d


def _page(widget):
    """The FitOrScroll of the tab ``widget`` is on."""
    from ic.gui.dialogs.base import FitOrScroll

    while not isinstance(widget, FitOrScroll):
        widget = widget.master
    return widget


def _wheel(widget, button: int) -> None:
    """One notch of the wheel (4: up, 5: down) with the pointer in the middle of ``widget``: a real click of the X
    server's wheel button through xdotool, else the same event generated at that point."""
    top = widget.winfo_toplevel()
    x, y = widget.winfo_rootx() + widget.winfo_width() // 2, widget.winfo_rooty() + widget.winfo_height() // 2
    under = top.winfo_containing(x, y)
    assert under is not None and str(under).startswith(str(widget)), (under, widget)  # the pointer is over it
    if shutil.which("xdotool"):
        subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", str(button)], check=True, timeout=10,
                       env={**os.environ})
    else:
        under.event_generate(f"<Button-{button}>", x=x - under.winfo_rootx(), y=y - under.winfo_rooty(), warp=True)


def _heading(tree):
    """The tab's "Destinations" heading: on the tab, outside its lists, in view at the top."""
    return _page(tree).content.grid_slaves(row=0, column=1)[0]


def _mouse_wheel(widget, delta: int) -> None:
    """A Windows/macOS-style wheel event (delta 120 a notch) at the middle of ``widget``."""
    x, y = widget.winfo_width() // 2, widget.winfo_height() // 2
    target = widget.winfo_toplevel().winfo_containing(widget.winfo_rootx() + x, widget.winfo_rooty() + y)
    target.event_generate("<MouseWheel>", delta=delta, x=x, y=y)


def test_the_wheel_over_a_list_in_a_scrolled_tab_scrolls_the_list_and_not_the_tab(app):
    d = _short_tester(app)
    tree = d.panel.xml_files.tree
    page = _page(tree)
    canvas = page._parent_canvas
    assert page._scrolling and canvas.yview()[1] < 1.0  # the tab has more to show: it scrolls
    assert tree.yview()[1] < 1.0
    _wheel(tree, 5)
    assert pump(app, lambda: tree.yview()[0] > 0.0, timeout=10)
    pump(app)
    assert canvas.yview()[0] == 0.0  # the tab stayed where it was
    _wheel(tree, 4)
    assert pump(app, lambda: tree.yview()[0] == 0.0, timeout=10)
    assert canvas.yview()[0] == 0.0
    d.close(force=True)


def test_the_wheel_over_the_tab_outside_its_lists_scrolls_the_tab_only(app):
    d = _short_tester(app)
    tree = d.panel.xml_files.tree
    canvas = _page(tree)._parent_canvas
    _wheel(_heading(tree), 5)
    assert pump(app, lambda: canvas.yview()[0] > 0.0, timeout=10)
    pump(app)
    assert tree.yview()[0] == 0.0
    d.close(force=True)


def test_the_wheel_over_a_list_that_shows_everything_scrolls_the_tab(app):
    d = _short_tester(app)
    d.panel.xml_files.set_rows([("/data/one.xml",)])
    pump(app)
    tree = d.panel.xml_files.tree
    canvas = _page(tree)._parent_canvas
    assert tree.yview() == (0.0, 1.0)
    _wheel(tree, 5)
    assert pump(app, lambda: canvas.yview()[0] > 0.0, timeout=10)
    d.close(force=True)


def test_a_check_list_in_a_scrolled_tab_scrolls_by_itself(app):
    """The Sites check list (14 sites, a few shown) on the Sessions tab: its boxes and the gaps between them."""
    d = _short_tester(app, tab="Sessions")
    sites = d.panel.sites
    inner, canvas = sites._parent_canvas, _page(sites)._parent_canvas
    assert inner.yview()[1] < 1.0
    _wheel(inner, 5)  # the list's canvas itself (where customtkinter scrolled the tab as well)
    assert pump(app, lambda: inner.yview()[0] > 0.0, timeout=10)
    pump(app)
    assert canvas.yview()[0] == 0.0
    d.close(force=True)


def test_windows_style_mouse_wheel_events_scroll_the_innermost_too(app):
    d = _short_tester(app)
    tree = d.panel.xml_files.tree
    canvas = _page(tree)._parent_canvas
    _mouse_wheel(tree, -120)
    assert pump(app, lambda: tree.yview()[0] > 0.0, timeout=10)
    pump(app)
    assert canvas.yview()[0] == 0.0
    _mouse_wheel(_heading(tree), -120)
    assert pump(app, lambda: canvas.yview()[0] > 0.0, timeout=10)
    tree_first = tree.yview()[0]
    pump(app)
    assert tree.yview()[0] == tree_first
    d.close(force=True)


def test_the_wheel_target_is_the_innermost_scrollable_with_more_to_show(app):
    """The rule itself, without events: a list with more rows than it shows, else the page, else nothing."""
    from ic.gui.widgets import wheel_target

    d = _short_tester(app)
    tree = d.panel.xml_files.tree
    page = _page(tree)
    assert wheel_target(tree) is tree
    assert wheel_target(_heading(tree)) is page._parent_canvas
    d.panel.xml_files.set_rows([])
    pump(app)
    assert wheel_target(tree) is page._parent_canvas
    d.geometry("900x900")
    pump(app, lambda: not page._scrolling, timeout=10)
    assert wheel_target(tree) is None
    d.close(force=True)
