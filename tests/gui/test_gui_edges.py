"""The window at its edges, as a person meets them: a disabled button looks disabled (grey, not blue), in the Verify
window and on the Schedule window's Estimate button (real Tk under Xvfb, the simulator for the estimate)."""
from __future__ import annotations

import customtkinter as ctk
import pytest

from ic.gui.testing import pump, running_app
from ic.gui.widgets import DISABLED_FG
from ic.settings import DestinationConfig
from tests.helpers import add_site, new_schedule_with_a_transfer

pytestmark = pytest.mark.usefixtures("xvfb")


def drawn_fill(button) -> str:
    """The colour the button's face is painted in now (what a person sees), in the current light/dark mode."""
    return button._canvas.itemcget("inner_parts", "fill")


def grey() -> str:
    return DISABLED_FG[1] if ctk.get_appearance_mode() == "Dark" else DISABLED_FG[0]


def test_verify_window_greys_the_buttons_it_cannot_use(store, tmp_path):
    """Nothing to verify yet: Verify, Verify and Repair, Cancel, Save CSV and the plan's Save are grey, not blue."""
    from ic.gui.dialogs.verify import VerifyPanel

    with running_app() as app:
        d = app.open(VerifyPanel)
        pump(app)
        p = d.panel
        buttons = (p.verify_button, p.repair_button, p.cancel_button, p.csv_button, p.plan_button)
        assert [b.cget("state") for b in buttons] == ["disabled"] * 5
        assert [drawn_fill(b) for b in buttons] == [grey()] * 5

        store.save_destination(DestinationConfig("Files", "folder", {"directory": str(tmp_path / "files")}))
        store.save_site(_site("Main"), client_secret="x")
        app.ctx.changed("sites")  # another window saved a site: a site and a destination can now be verified
        p.mode.set("A site and a destination")
        p._update_buttons()
        pump(app)
        assert p.verify_button.cget("state") == "normal" and drawn_fill(p.verify_button) != grey()
        assert p.repair_button.cget("state") == "normal" and drawn_fill(p.repair_button) != grey()
        assert drawn_fill(p.cancel_button) == grey() and drawn_fill(p.csv_button) == grey()


def test_estimate_button_is_grey_while_its_listing_runs(store, simulator, tmp_path):
    add_site(store, simulator, "Main")
    store.save_destination(DestinationConfig("Files", "folder", {"directory": str(tmp_path / "files")}))
    with running_app() as app:
        d = new_schedule_with_a_transfer(app)
        p = d.panel
        button = p.first_pull.estimate_button
        assert button.cget("state") == "normal" and drawn_fill(button) != grey()
        button.invoke()  # the listing runs in a worker; its answer comes back through the Tk loop, not yet pumped
        assert button.cget("state") == "disabled" and drawn_fill(button) == grey()
        assert pump(app, lambda: "Main:" in p.first_pull.estimate_label.cget("text"), timeout=60)
        assert button.cget("state") == "normal" and drawn_fill(button) != grey()


def _site(name):
    from ic.settings import SiteConfig

    return SiteConfig(name, "main.example.com", "id")


def test_a_disabled_choice_menu_is_grey_too(store, tmp_path):
    """Verify by schedule greys the site and destination menus (and by site and destination the schedule's): in
    dark mode customtkinter's own disabled menu is the same blue with a slightly dimmer text."""
    from ic.gui.dialogs.verify import BY_PAIR, BY_SCHEDULE, VerifyPanel

    store.save_site(_site("Main"), client_secret="x")
    store.save_destination(DestinationConfig("Files", "folder", {"directory": str(tmp_path / "files")}))
    add_schedule_row(store)
    with running_app() as app:
        for mode in ("light", "dark"):
            ctk.set_appearance_mode(mode)
            d = app.open(VerifyPanel, schedule="Nightly")
            pump(app)
            p = d.panel
            assert p.mode.get() == BY_SCHEDULE
            assert menu_fill(p.site_menu) == grey() and menu_fill(p.destination_menu) == grey()
            assert menu_fill(p.schedule_menu) != grey() and menu_fill(p.plan_menu) != grey()
            p.mode.set(BY_PAIR)
            p._update_buttons()
            pump(app)
            assert menu_fill(p.schedule_menu) == grey() and menu_fill(p.plan_menu) == grey()
            assert menu_fill(p.site_menu) != grey() and menu_fill(p.destination_menu) != grey()
            d.close(force=True)
            pump(app)
        ctk.set_appearance_mode("system")


def test_closing_verify_with_a_changed_automatic_verify_asks_and_save_keeps_it(store, tmp_path):
    """The automatic verify has its own Save button: choosing "Every week" and closing must not lose it."""
    from ic.gui.dialogs.verify import VerifyPanel
    from ic.services.verify import get_verify_plan

    store.save_site(_site("Main"), client_secret="x")
    store.save_destination(DestinationConfig("Files", "folder", {"directory": str(tmp_path / "files")}))
    add_schedule_row(store)
    with running_app() as app:
        d = app.open(VerifyPanel, schedule="Nightly")
        pump(app)
        d.close()  # nothing changed: closes at once
        pump(app)
        assert not d.winfo_exists()

        d = app.open(VerifyPanel, schedule="Nightly")
        pump(app)
        d.panel.plan_var.set("Every week")
        d.panel.plan_repair.select()
        d.close()
        pump(app)
        assert d.winfo_exists() and d.unsaved_prompt.winfo_exists()
        assert "automatic verify of schedule Nightly" in d.unsaved_prompt.text
        d.unsaved_prompt.buttons["Save"].invoke()
        pump(app)
        assert not d.winfo_exists()
        plan = get_verify_plan(store, "Nightly")
        assert (plan.every_seconds, plan.repair) == (7 * 86400, True)

        d = app.open(VerifyPanel, schedule="Nightly")  # shows the saved plan, unchanged: closes at once
        pump(app)
        assert d.panel.plan_var.get() == "Every week"
        d.close()
        pump(app)
        assert not d.winfo_exists()


def test_status_page_shows_a_last_run_recorded_before_history_was_kept(store):
    """The list says when the schedule last ran; the status page under it must not say "Not run yet."."""
    from datetime import datetime, timedelta, timezone

    from ic.gui.widgets import format_when

    add_schedule_row(store)
    when = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0) - timedelta(minutes=20)
    store.mark_schedule_run("Nightly", when, "ok")
    with running_app() as app:
        app.main.schedules.select("Nightly")
        pump(app)
        words = app.main.last_words.cget("text")
        assert words.startswith(f"{format_when(when)}: OK") and "Not run yet" not in words
        assert "No runs yet" not in app.main.chart.empty_text  # the empty chart does not contradict it
        assert app.main.schedules.row("Nightly")[3] == format_when(when)


def menu_fill(menu) -> str:
    return menu._canvas.itemcget("inner_parts_left", "fill")


def add_schedule_row(store):
    """Schedule Nightly: Main -> Files (both made when missing)."""
    from ic.errors import NotFound
    from ic.settings import ScheduleConfig, TransferConfig

    try:
        store.get_site("Main")
    except NotFound:
        store.save_site(_site("Main"), client_secret="x")
        store.save_destination(DestinationConfig("Files", "folder", {"directory": "files"}))
    store.save_schedule(ScheduleConfig("Nightly", 86400, [TransferConfig("Main", "Files", ["session"])]))


def test_a_message_cut_to_two_lines_says_so_and_a_click_shows_all_of_it(store):
    """A long sentence under a form is cut (the buttons must not move); the person can still read all of it."""
    from ic.gui.dialogs.site import SitePanel

    long = ("Cannot connect to support.example.com: the appliance's certificate is not trusted by this computer "
            "(self-signed certificate in certificate chain); add the appliance's CA certificate as the site's CA "
            "Bundle under Site Configuration, or install it in the Windows certificate store, then click Test. ") * 3
    with running_app() as app:
        d = app.open(SitePanel)
        pump(app)
        m = d.panel.message
        m.show("Site Main saved.", "ok")
        pump(app)
        assert not m.clipped and m.show_all() is None
        m.show(long, "error")
        pump(app)
        assert m.clipped and m.shown.endswith("… (more)") and long.startswith(m.shown[:-len("… (more)")].strip())
        m.label._label.event_generate("<Button-1>")  # the person clicks the cut sentence
        pump(app)
        assert m.full_box is not None and m.full_box.winfo_exists()
        assert m.full_box.text == long and m.full_box.kind == "error"
        m.full_box.buttons["OK"].invoke()


LONG = ("Quarterly archive of the support site for the compliance team in the Frankfurt data centre " * 3)[:180]


def _inside(widget, outer) -> bool:
    x, y, w, h = widget.winfo_rootx(), widget.winfo_rooty(), widget.winfo_width(), widget.winfo_height()
    ox, oy, ow, oh = outer.winfo_rootx(), outer.winfo_rooty(), outer.winfo_width(), outer.winfo_height()
    return w > 1 and h > 1 and ox - 1 <= x and oy - 1 <= y and x + w <= ox + ow + 1 and y + h <= oy + oh + 1


def test_names_of_the_longest_allowed_kind_never_push_a_window_past_the_screen_or_hide_a_button(store, tmp_path):
    """180-character site, destination and schedule names (200 are allowed): the main window, Verify and the
    Schedule window keep their size; Verify's menus keep their width (the plan's Save stays in the window); a
    transfer's Remove button stays visible (the names wrap)."""
    from ic.gui.dialogs.schedule import SchedulePanel
    from ic.gui.dialogs.verify import VerifyPanel
    from ic.gui.testing import layout_problems
    from ic.settings import ScheduleConfig, SiteConfig, TransferConfig

    store.save_site(SiteConfig(LONG + " site", "main.example.com", "id"), client_secret="x")
    store.save_destination(DestinationConfig(LONG + " folder", "folder", {"directory": str(tmp_path / "f")}))
    store.save_schedule(ScheduleConfig(LONG + " schedule", 900, [TransferConfig(LONG + " site", LONG + " folder",
                                                                                ["session"])]))
    budget = (1024, 768 - 70)
    with running_app() as app:
        app.geometry("960x660")
        pump(app)
        assert layout_problems(app, budget) == []
        title = app.main.details_title
        assert title.cget("text") == LONG + " schedule" and title.winfo_reqwidth() <= app.winfo_width()

        d = app.open(VerifyPanel, schedule=LONG + " schedule")
        pump(app)
        assert layout_problems(d, budget) == []
        assert _inside(d.panel.plan_button, d) and d.panel.destination_menu.winfo_width() < 300

        s = app.open(SchedulePanel, select=LONG + " schedule")
        pump(app)
        assert layout_problems(s, budget) == []
        [row] = s.panel.rows
        assert row.remove_button.winfo_ismapped() and _inside(row.remove_button, row)
        assert _inside(row.title_label, row)


def test_two_sites_named_alike_can_be_told_apart_in_the_api_testers_lists(store, tmp_path):
    """Their long names differ at the end: each wraps inside the list instead of being cut at its edge."""
    from ic.gui.dialogs.api_tester import ApiTesterPanel
    from ic.settings import SiteConfig

    for town in ("Frankfurt", "Munich"):
        store.save_site(SiteConfig(f"{LONG} {town}", f"{town.lower()}.example.com", "id"), client_secret="x")
    with running_app() as app:
        d = app.open(ApiTesterPanel)
        pump(app)
        sites = d.panel.sites
        canvas = sites._parent_canvas
        right = canvas.winfo_rootx() + canvas.winfo_width()
        for name, box in sites.checks.items():
            label = box._text_label
            assert label.cget("text") == name
            # all it needs is inside the list (a label wider than its room is drawn cut)
            assert label.winfo_rootx() + label.winfo_reqwidth() <= right, name


def test_saving_the_settings_database_location_says_it_is_connecting_before_the_window_waits(store, tmp_path,
                                                                                             monkeypatch):
    """Setup > Settings Database > Save opens the database in the window's thread (a silent server holds it up to
    the 30-second login timeout): the message line says so first, drawn before the wait."""
    from ic.gui import services_adapter
    from ic.gui.dialogs.settings_db import SettingsDbPanel

    seen = []
    real = services_adapter.open_settings

    def watching(url=None):  # the real call; it only notes what the window showed at that moment
        seen.append(d.panel.message.text)
        seen.append(d.panel.message.label._label.cget("text"))  # what Tk has drawn, not only what was asked
        return real(url)

    monkeypatch.setattr(services_adapter, "open_settings", watching)
    with running_app() as app:
        d = app.open(SettingsDbPanel)
        pump(app)
        d.fields["path"].set(str(tmp_path / "other.db"))
        assert d.panel.save(), d.panel.message.text
        assert seen and seen[0].startswith("Connecting to the settings database") and seen[1].startswith("Connecting")
        assert d.panel.message.text.startswith("Settings database saved")


def test_windows_fit_the_screen_at_150_percent_display_scaling(store, tmp_path):
    """On Windows customtkinter multiplies every window size by the display's scaling (1.25, 1.5 on laptops): the
    main window and a dialog with a large minimum size still fit the screen budget, and lie on the screen."""
    from ic.gui.dialogs.schedule import SchedulePanel
    from ic.gui.widgets import screen_budget

    add_schedule_row(store)
    ctk.set_window_scaling(1.5)
    ctk.set_widget_scaling(1.5)
    try:
        with running_app() as app:
            d = app.open(SchedulePanel, select="Nightly")
            pump(app)
            max_w, max_h = screen_budget(app)
            for window in (app, d):
                window.update_idletasks()
                x, y, w, h = (window.winfo_x(), window.winfo_y(), window.winfo_width(), window.winfo_height())
                assert w <= max_w and h <= max_h, (window.title(), w, h, max_w, max_h)
                assert 0 <= x and x + w <= max_w and 0 <= y and y + h <= max_h, (window.title(), x, y, w, h)
            d.close(force=True)
            pump(app)
    finally:
        ctk.set_window_scaling(1.0)
        ctk.set_widget_scaling(1.0)


def test_at_150_percent_scaling_a_long_message_and_the_status_page_stay_inside_the_window(store):
    """customtkinter multiplies wrap lengths by the display scaling while windows measure real pixels: wrapped at
    the real width, a message ran past the window's edge and below its two lines without "(more)"."""
    from ic.gui.dialogs.site import SitePanel

    add_schedule_row(store)
    ctk.set_window_scaling(1.5)
    ctk.set_widget_scaling(1.5)
    try:
        with running_app() as app:
            app.main.schedules.select("Nightly")
            pump(app)
            d = app.open(SitePanel)
            pump(app)
            m = d.panel.message
            m.show("The appliance answered with an error the client cannot use; " * 12, "error")
            pump(app)
            inner = m.label._label
            assert m.shown.endswith("… (more)")
            assert inner.winfo_reqwidth() <= m.winfo_width() + 2 and inner.winfo_reqheight() <= m.winfo_height() + 2
            app.main.details_title.configure(text=LONG)
            app.main.chart_caption.configure(text=LONG)
            pump(app)
            for label in (app.main.details_title, app.main.chart_caption):
                assert label._label.winfo_reqwidth() <= app.main.details.winfo_width(), label.cget("text")[:20]
    finally:
        ctk.set_window_scaling(1.0)
        ctk.set_widget_scaling(1.0)


def test_at_150_percent_scaling_the_api_testers_xml_files_tab_keeps_its_add_button(store):
    """A short window (a 1366x768 laptop at 125 % has about 560 scaled pixels of height): the file list shrinks,
    the Add…/Remove buttons under it stay (they were squeezed out: no way to add a file)."""
    from ic.gui.dialogs.api_tester import ApiTesterPanel

    ctk.set_window_scaling(1.5)
    ctk.set_widget_scaling(1.5)
    try:
        with running_app() as app:
            d = app.open(ApiTesterPanel)
            pump(app)
            d.panel.tabs.set("XML Files")
            pump(app)
            add = d.panel.xml_add_button
            assert add.winfo_ismapped() and _inside(add, d)
    finally:
        ctk.set_window_scaling(1.0)
        ctk.set_widget_scaling(1.0)
