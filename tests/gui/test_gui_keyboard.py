"""Keyboard access in the real windows (under Xvfb): Tab reaches customtkinter's canvas-drawn buttons, check boxes
and option menus in top-to-bottom order, skips disabled ones, draws a focus ring, and Space presses / toggles."""
from __future__ import annotations

import pytest

from ic.gui.testing import pump, screenshot
from ic.settings import DestinationConfig, SiteConfig
from tests.helpers import new_schedule_with_a_transfer, settle

pytestmark = pytest.mark.usefixtures("xvfb")


@pytest.fixture
def configured(store, tmp_path):
    store.save_site(SiteConfig("Main", "main.example.com", "id"), client_secret="secret")
    store.save_destination(DestinationConfig("Files", "folder", {"directory": str(tmp_path / "files")}))
    return store


def focus_on(window, widget) -> None:
    """Give ``widget`` the keyboard focus as a click into it would (the window first)."""
    settle(window)
    assert pump(window, lambda: (widget.focus_force(), window.focus_get() is widget)[1], timeout=10)


def tab(window, shift: bool = False):
    """Press Tab (Shift+Tab) where the focus is; returns the widget that has the focus then."""
    window.focus_get().event_generate("<Shift-Tab>" if shift else "<Tab>")
    pump(window)
    return window.focus_get()


def tab_until(window, target, limit: int = 60) -> list:
    """Tab from the focused widget until ``target`` has the focus: every widget passed on the way (target last)."""
    seen = []
    for _ in range(limit):
        widget = tab(window)
        seen.append(widget)
        if widget is target:
            return seen
    raise AssertionError(f"Tab never reached {target}: {[str(w) for w in seen]}")


def key(window, keysym: str) -> None:
    window.focus_get().event_generate(f"<{keysym}>")
    pump(window)


def ring_colour(button) -> tuple:
    """What the button's border draws (its width and colour on the canvas) as a person sees it."""
    canvas = button._canvas
    items = canvas.find_withtag("border_parts")
    return button.cget("border_width"), tuple(canvas.itemcget(i, "fill") for i in items[:1])


def test_tab_reaches_site_test_and_save_skips_disabled_delete_and_space_presses(app):
    from ic.gui.dialogs.site import SitePanel

    d = app.open(SitePanel)
    settle(d)
    panel = d.panel
    assert panel.delete_button.cget("state") == "disabled"  # a new site: nothing to delete
    focus_on(d, d.fields["name"].widget._entry)
    before = ring_colour(panel.save_button)
    seen = tab_until(d, panel.save_button)
    assert panel.test_button in seen and seen.index(panel.test_button) < seen.index(panel.save_button)  # left first
    assert panel.delete_button not in seen
    # the Remove check box beside the backup password is disabled while no backup password is saved: skipped too
    assert panel.clear_backup.cget("state") == "disabled" and panel.clear_backup not in seen
    # top to bottom: every field's input before the buttons under the form
    inputs = [d.fields[k].widget._entry for k in ("host", "client_id", "client_secret", "backup_password")]
    assert [seen.index(w) for w in inputs] == sorted(seen.index(w) for w in inputs)
    assert d.fields["product"].widget in seen
    assert seen.index(d.fields["product"].widget) < seen.index(panel.test_button)
    # the focus is drawn: the ring differs from the unfocused border, and goes when the focus leaves
    assert panel.save_button.has_focus_ring()
    assert ring_colour(panel.save_button) != before
    assert ring_colour(panel.save_button)[0] > 0
    back = tab(d, shift=True)
    assert back is panel.test_button and not panel.save_button.has_focus_ring()
    assert ring_colour(panel.save_button) == before
    # Space presses the focused button: Test with an empty form says what is missing
    key(d, "space")
    assert panel.message.kind == "error" and panel.message.text
    # Space on Save runs the save (the same checks)
    panel.message.clear()
    tab(d)
    key(d, "space")
    assert panel.message.kind == "error" and panel.message.text


def test_enter_on_a_focused_button_keeps_the_dialogs_default_action(app, configured):
    """Enter in a dialog still runs its default action (Save), wherever the focus is."""
    from ic.gui.dialogs.site import SitePanel

    d = app.open(SitePanel)
    settle(d)
    panel = d.panel
    calls = []
    panel.default_action = lambda: calls.append("default")
    panel.test = lambda: calls.append("test")
    panel.test_button.configure(command=lambda: calls.append("test"))
    focus_on(d, panel.test_button)
    key(d, "Return")
    assert calls == ["default"]
    key(d, "space")
    assert calls == ["default", "test"]


def test_space_toggles_a_data_type_and_disabled_boxes_are_skipped(app):
    from ic.settings.models import DataType

    d = new_schedule_with_a_transfer(app)
    settle(d)
    panel = d.panel
    row = panel.rows[-1]
    focus_on(d, d.fields["name"].widget._entry)
    session = row.checks[DataType.SESSION]
    assert session.get()
    seen = tab_until(d, session)
    assert panel.add_button in seen and row.remove_button in seen
    assert seen.index(panel.add_button) < seen.index(row.remove_button) < seen.index(session)
    # the ring around the box's text: in the ring colour while focused, in the window's colour (unseen) after
    label = session._text_label
    assert session.has_focus_ring() and int(label.cget("highlightthickness")) > 0
    assert label.cget("highlightbackground") != label.cget("bg")
    key(d, "space")
    assert not session.get()
    key(d, "space")
    assert session.get()
    seen = tab_until(d, panel.save_button)
    assert not session.has_focus_ring() and label.cget("highlightbackground") == label.cget("bg")
    disabled = [b for b in row.checks.values() if b.cget("state") == "disabled"]
    enabled = [b for b in row.checks.values() if b.cget("state") != "disabled" and b is not session]
    assert all(b in seen for b in enabled)
    assert not any(b in seen for b in disabled)
    assert panel.unit_menu in seen and panel.every_entry._entry in seen
    # top to bottom: the transfer's boxes, Run Every, its unit, then the first-pull choice, then Save
    assert seen.index(enabled[-1]) < seen.index(panel.every_entry._entry) < seen.index(panel.unit_menu)
    radios = list(panel.first_pull.radios.values())
    assert seen.index(panel.unit_menu) < seen.index(radios[0]) < seen.index(panel.save_button)


def test_down_and_up_choose_the_next_unit_and_space_opens_the_list(app):
    d = new_schedule_with_a_transfer(app)
    panel = d.panel
    menu = panel.unit_menu
    values = list(menu.cget("values"))
    focus_on(d, panel.every_entry._entry)
    assert tab(d) is menu and menu.has_focus_ring()
    assert d.nametowidget(str(menu._canvas)).find_withtag("ic_focus_ring")  # the ring drawn on the menu
    start = menu.get()
    key(d, "Down")
    assert menu.get() == values[values.index(start) + 1] == panel.unit_var.get()
    key(d, "Up")
    assert menu.get() == start
    opened = []
    menu._open_dropdown_menu = lambda: opened.append(True)  # the real list grabs the pointer: only the call is checked
    key(d, "space")
    assert opened == [True]
    tab(d)
    assert not menu.has_focus_ring() and not menu._canvas.find_withtag("ic_focus_ring")


def test_a_message_box_focuses_its_default_button_enter_chooses_it_and_space_the_focused_one(app):
    from ic.gui.widgets import MessageBox

    chosen = []
    box = MessageBox(app, "Unsaved changes", "Save the changes?", kind="warning",
                     buttons=("Save", "Discard", "Cancel"), default="Save", on_choice=chosen.append)
    settle(box)
    assert pump(box, lambda: box.focus_get() is box.buttons["Save"], timeout=10)
    assert box.buttons["Save"].has_focus_ring()
    assert tab(box) is box.buttons["Discard"]
    key(box, "Return")  # Enter is the window's default (Save), wherever the focus is
    assert chosen == ["Save"]

    box = MessageBox(app, "Unsaved changes", "Save the changes?", kind="warning",
                     buttons=("Save", "Discard", "Cancel"), default="Save", on_choice=chosen.append)
    settle(box)
    assert pump(box, lambda: box.focus_get() is box.buttons["Save"], timeout=10)
    tab(box)
    key(box, "space")
    assert chosen == ["Save", "Discard"]


def test_enter_presses_a_focused_button_where_the_window_has_no_default(app):
    import customtkinter as ctk

    from ic.gui.widgets import Button

    pressed = []
    top = ctk.CTkToplevel(app)
    try:
        first = Button(top, text="First", command=lambda: pressed.append("first"))
        first.pack(padx=20, pady=10)
        second = Button(top, text="Second", command=lambda: pressed.append("second"))
        second.pack(padx=20, pady=10)
        focus_on(top, first)
        assert tab(top) is second
        key(top, "Return")
        assert pressed == ["second"]
    finally:
        top.destroy()


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_screenshot_of_a_focused_button(app, mode):
    """test-artifacts/screenshots/keyboard-focus-<mode>.png: the Site dialog with Tab on Test (its ring), Save beside
    it without one."""
    import customtkinter as ctk

    from ic.gui.dialogs.site import SitePanel

    ctk.set_appearance_mode(mode)
    try:
        d = app.open(SitePanel)
        settle(d)
        focus_on(d, d.fields["product"].widget)
        assert tab(d) is d.panel.test_button
        ring = d.panel.test_button._canvas.itemcget(d.panel.test_button._canvas.find_withtag("border_parts")[0],
                                                    "fill")
        fill = d.panel.save_button._canvas.itemcget(d.panel.save_button._canvas.find_withtag("inner_parts")[0],
                                                    "fill")
        assert ring != fill
        path = screenshot(d, f"keyboard-focus-{mode}")
        assert path.stat().st_size > 2000
        d.close(force=True)
        # a data type check box and the unit menu with the ring (keyboard-focus-check-<mode>.png)
        from ic.settings.models import DataType

        d = new_schedule_with_a_transfer(app)
        settle(d)
        focus_on(d, d.panel.every_entry._entry)
        assert tab(d) is d.panel.unit_menu
        screenshot(d, f"keyboard-focus-menu-{mode}")
        focus_on(d, d.panel.rows[-1].remove_button)
        assert tab(d) is d.panel.rows[-1].checks[DataType.SESSION]
        assert screenshot(d, f"keyboard-focus-check-{mode}").stat().st_size > 2000
    finally:
        ctk.set_appearance_mode("system")


def tab_chain(window) -> list:
    """Every widget Tab visits in ``window``, in Tk's own order (tk_focusNext), once round."""
    chain, widget = [], window
    for _ in range(300):
        widget = widget.tk_focusNext()
        if widget is None or widget in chain:
            return chain
        chain.append(widget)
    raise AssertionError("Tab never came round")


def out_of_order(chain) -> list[str]:
    """Neighbours in the Tab order that sit in one row or column but are visited right to left or upwards."""
    wrong = []
    for a, b in zip(chain, chain[1:]):
        if a.master is not b.master:
            continue
        ax, ay, bx, by = a.winfo_rootx(), a.winfo_rooty(), b.winfo_rootx(), b.winfo_rooty()
        same_row = abs(ay - by) < min(a.winfo_height(), b.winfo_height()) // 2
        if (same_row and bx < ax) or (not same_row and by < ay):
            wrong.append(f"{a} -> {b}")
    return wrong


@pytest.mark.parametrize("panel", ["site.SitePanel", "schedule.SchedulePanel", "plugin.PluginPanel",
                                   "app_settings.AppSettingsPanel", "notify.NotifyPanel",
                                   "settings_db.SettingsDbPanel", "api_tester.ApiTesterPanel", "main window"])
def test_tab_goes_left_to_right_and_top_to_bottom(app, panel):
    import importlib

    if panel == "main window":
        window = app
    else:
        module, name = panel.split(".")
        window = app.open(getattr(importlib.import_module(f"ic.gui.dialogs.{module}"), name))
    settle(window)
    chain = tab_chain(window)
    assert any(type(w).__name__ in ("Button", "CheckBox", "OptionMenu", "RadioButton") for w in chain)
    assert out_of_order(chain) == []


def test_space_selects_a_radio_button_and_switches_a_switch_disabled_ones_are_skipped(app):
    import customtkinter as ctk

    from ic.gui.widgets import RadioButton, Switch

    top = ctk.CTkToplevel(app)
    try:
        var = ctk.StringVar(value="a")
        a = RadioButton(top, text="A", variable=var, value="a")
        off = RadioButton(top, text="Off", variable=var, value="off", state="disabled")
        b = RadioButton(top, text="B", variable=var, value="b")
        switch = Switch(top, text="On")
        for w in (a, off, b, switch):
            w.pack(anchor="w", padx=20, pady=4)
        focus_on(top, a)
        assert tab(top) is b and b.has_focus_ring() and not a.has_focus_ring()
        key(top, "space")
        assert var.get() == "b"
        assert tab(top) is switch and not switch.get()
        key(top, "space")
        assert switch.get()
    finally:
        top.destroy()
