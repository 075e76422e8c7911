"""Nothing typed is lost: the wizard's Next/Back/Finish save a filled-in form (or say why not and ask), Skip and
Escape ask first, closing a dialog with changes asks Save / Discard / Cancel, switching to another item in a list
asks too, and the wizard ends by offering to install the scheduler. Driven through the real windows."""
from __future__ import annotations

import pytest

from ic.gui import services_adapter
from ic.gui.testing import press, pump, running_app, screenshot, type_text
from ic.settings import DestinationConfig, SiteConfig
from tests.helpers import make_app, wizard_adds_a_folder

pytestmark = pytest.mark.usefixtures("xvfb")


def fill_site(fields, name="Main", host="support.example.com"):
    for key, value in dict(name=name, host=host, client_id="abc", client_secret="s3cret").items():
        type_text(fields[key], value)


def test_next_saves_a_filled_in_site_and_back_shows_it_again(store):
    app = make_app()
    try:
        w = app.wizard
        assert w.step_name == "Sites"
        fill_site(w.fields)
        w.next_button.invoke()  # never clicked Save
        pump(app)
        assert w.step_name == "Plugins"
        assert [s.name for s in store.list_sites()] == ["Main"]
        w.back_button.invoke()
        pump(app)
        assert w.step_name == "Sites"
        assert w.fields["name"].get() == "Main" and w.fields["host"].get() == "support.example.com"
        assert w.fields["client_secret"].widget.cget("placeholder_text") == "(saved — type to replace)"
    finally:
        app.close()


def test_next_with_a_form_that_cannot_be_saved_asks_and_stay_keeps_the_input(store):
    app = make_app()
    try:
        w = app.wizard
        fill_site(w.fields, host="https://support.example.com/")  # not a host name
        w.next_button.invoke()
        pump(app)
        assert w.prompt is not None and w.prompt.winfo_exists()
        assert "not saved" in w.prompt.text and "https://" in w.prompt.text
        assert "without 'https://'" in w.fields["host"].error_text and w.fields["host"].marked_invalid
        screenshot(w.prompt, "wizard-not-saved-prompt")
        w.prompt.buttons["Stay"].invoke()
        pump(app)
        assert w.step_name == "Sites" and w.fields["name"].get() == "Main"
        type_text(w.fields["host"], "support.example.com")
        assert w.fields["host"].error_text == "" and not w.fields["host"].marked_invalid  # no stale message
        w.next_button.invoke()
        pump(app)
        assert w.step_name == "Plugins" and [s.name for s in store.list_sites()] == ["Main"]
    finally:
        app.close()


def test_finish_saves_a_valid_schedule_and_offers_to_install_the_scheduler_os_scheduler_stand_in(store, tmp_path,
                                                                                                  monkeypatch):
    # the OS scheduler is replaced by a stand-in here (installing would edit this machine's crontab)
    installed = []
    monkeypatch.setattr(services_adapter, "scheduler_state", lambda: ("not installed", ""))
    monkeypatch.setattr(services_adapter, "scheduler_action",
                        lambda action, url=None, password=None: installed.append(action) or "Scheduler installed.")
    store.save_site(SiteConfig("Main", "main.example.com", "id"), client_secret="x")
    store.save_destination(DestinationConfig("Files", "folder", {"directory": str(tmp_path / "files")}))
    app = make_app(show_wizard=False)
    try:
        w = app.open_wizard(start_at_database=False)
        pump(app)
        w.skip()
        w.skip()
        pump(app)
        assert w.step_name == "Schedule" and w.next_button.cget("text") == "Finish"
        type_text(w.fields["name"], "Nightly")
        w.panel.add_button.invoke()
        pump(app)
        w.next_button.invoke()  # Finish without Save
        pump(app)
        assert not w.winfo_exists()
        assert [s.name for s in store.list_schedules()] == ["Nightly"]
        assert pump(app, lambda: getattr(app, "scheduler_offer", None) is not None, timeout=30)
        offer = app.scheduler_offer
        assert "Install the scheduler" in offer.text and offer.default == "Install"
        screenshot(offer, "wizard-offers-the-scheduler")
        offer.buttons["Install"].invoke()
        assert pump(app, lambda: installed == ["register"], timeout=30)
        assert pump(app, lambda: "installed" in app.main.message.text, timeout=30)
    finally:
        app.close()


def test_escape_in_the_wizard_asks_before_dropping_a_typed_site(store):
    app = make_app()
    try:
        w = app.wizard
        type_text(w.fields["name"], "Half typed")
        press(w, "Escape")
        pump(app)
        assert w.winfo_exists() and w.prompt is not None and w.prompt.winfo_exists()
        w.prompt.buttons["Cancel"].invoke()
        pump(app)
        assert w.winfo_exists() and w.fields["name"].get() == "Half typed"
        w.skip_button.invoke()  # skipping asks too
        pump(app)
        assert w.step_name == "Sites" and w.prompt.winfo_exists()
        w.prompt.buttons["Skip"].invoke()
        pump(app)
        assert w.step_name == "Plugins" and store.list_sites() == []
    finally:
        app.close()


def test_closing_a_dialog_with_changes_asks_and_save_keeps_them(app, store):
    from ic.gui.dialogs.site import SitePanel

    d = app.open(SitePanel)
    pump(app)
    fill_site(d.fields, name="Typed")
    press(d, "Escape")
    pump(app)
    assert d.winfo_exists() and d.unsaved_prompt.winfo_exists()
    assert "Save the changes to the new site" in d.unsaved_prompt.text
    d.unsaved_prompt.buttons["Cancel"].invoke()
    pump(app)
    assert d.winfo_exists() and d.fields["name"].get() == "Typed"
    d.close()
    pump(app)
    d.unsaved_prompt.buttons["Save"].invoke()
    pump(app)
    assert not d.winfo_exists() and [s.name for s in store.list_sites()] == ["Typed"]


def test_closing_with_discard_drops_the_changes_and_an_unchanged_dialog_closes_at_once(app, store):
    from ic.gui.dialogs.notify import NotifyPanel
    from ic.gui.dialogs.site import SitePanel

    store.save_site(SiteConfig("Kept", "kept.example.com", "id"), client_secret="x")
    d = app.open(SitePanel, select="Kept")
    pump(app)
    type_text(d.fields["host"], "other.example.com")
    d.close()
    pump(app)
    d.unsaved_prompt.buttons["Discard"].invoke()
    pump(app)
    assert not d.winfo_exists() and store.get_site("Kept").host == "kept.example.com"
    n = app.open(NotifyPanel)
    pump(app)
    press(n, "Escape")
    pump(app)
    assert not n.winfo_exists()


def test_choosing_another_site_in_the_list_asks_before_replacing_the_form(app, store):
    from ic.gui.dialogs.site import SitePanel

    store.save_site(SiteConfig("A", "a.example.com", "id"), client_secret="x")
    store.save_site(SiteConfig("B", "b.example.com", "id"), client_secret="x")
    d = app.open(SitePanel, select="A")
    pump(app)
    type_text(d.fields["client_id"], "changed-id")
    d.panel.list.select("B")
    pump(app)
    prompt = d.panel.unsaved_prompt
    assert prompt.winfo_exists() and "the site A" in prompt.text
    prompt.buttons["Cancel"].invoke()
    pump(app)
    assert d.panel.current.name == "A" and d.fields["client_id"].get() == "changed-id"
    assert d.panel.list.selected() == "A"
    d.panel.list.select("B")
    pump(app)
    d.panel.unsaved_prompt.buttons["Save"].invoke()
    pump(app)
    assert store.get_site("A").client_id == "changed-id"
    assert d.panel.current.name == "B"


def test_quitting_with_unsaved_changes_asks(app, store):
    from ic.gui.dialogs.site import SitePanel

    d = app.open(SitePanel)
    pump(app)
    type_text(d.fields["name"], "Unsaved")
    app.request_close()
    pump(app)
    assert app.unsaved_prompt.winfo_exists() and "before quitting" in app.unsaved_prompt.text
    app.unsaved_prompt.buttons["Cancel"].invoke()
    pump(app)
    assert d.winfo_exists()


def test_next_saves_a_filled_in_destination_too(store, tmp_path):
    store.save_site(SiteConfig("Main", "main.example.com", "id"), client_secret="x")
    app = make_app(show_wizard=False)
    try:
        w = app.open_wizard(start_at_database=False)
        pump(app)
        wizard_adds_a_folder(app, w, tmp_path / "archive")  # the site step: a new, empty form, nothing to save
        assert [d.name for d in store.list_destinations()] == ["Archive"]
        assert "Archive" in w.fields["destination"].widget.cget("values")
    finally:
        app.close()


def test_the_chart_follows_dark_mode(store):
    import customtkinter as ctk

    with running_app() as app:
        try:
            ctk.set_appearance_mode("dark")
            pump(app)
            assert app.main.chart.cget("bg") == app.main.chart.COLORS["bg"][1]
        finally:
            ctk.set_appearance_mode("light")
            pump(app)
        assert app.main.chart.cget("bg") == app.main.chart.COLORS["bg"][0]
