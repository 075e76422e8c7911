"""A settings database named at start that is not there: the window refuses as the command line does (one sentence
naming the file, in a message window, nothing created), through ic.services.settings; a first start with no settings
at all still opens the window and its first-run wizard, which creates the per-user default."""
from __future__ import annotations

import pytest

import main as entry
from ic.gui import app as app_module
from ic.gui.testing import pump

pytestmark = pytest.mark.usefixtures("xvfb")


@pytest.fixture
def watched(monkeypatch):
    """The real start (main.main -> run_gui -> mainloop), watched: a refusal box is read when it is on screen and
    its OK pressed as a person would; a main window that opens is recorded and closed (so a test cannot hang)."""
    seen = {"refusals": [], "apps": []}
    show = app_module.show_refusal

    def show_and_press_ok(text, on_close=None):
        box = show(text, on_close)

        def when_visible():
            if box.winfo_viewable():
                x, w, sw = box.winfo_rootx(), box.winfo_width(), box.winfo_screenwidth()
                y, h, sh = box.winfo_rooty(), box.winfo_height(), box.winfo_screenheight()
                seen["placed"] = (abs(x + w // 2 - sw // 2) <= 2 and 0 < y and y + h < sh)  # middle, on screen
                seen["refusals"].append((text, box.text, box.kind))
                box.buttons["OK"].invoke()
            else:
                box.after(20, when_visible)

        box.after(20, when_visible)
        return box

    class RecordedApp(app_module.App):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seen["apps"].append({"store": self.ctx.store is not None, "wizard": self.wizard_pending,
                                 "message": self.main.message.text})
            self.after(50, self.close)

    monkeypatch.setattr(app_module, "show_refusal", show_and_press_ok)
    monkeypatch.setattr(app_module, "App", RecordedApp)
    return seen


def test_settings_option_naming_a_missing_file_is_refused_in_a_message_and_nothing_is_created(watched, tmp_path,
                                                                                             ic_home):
    typo = tmp_path / "IC" / "setings.db"
    assert entry.main(["--settings", f"sqlite:///{typo}"]) == 1
    assert watched["apps"] == []  # the main window never opened
    [(text, shown, kind)] = watched["refusals"]
    assert shown == text and kind == "error" and watched["placed"]
    assert text.startswith(f"The settings database file {typo} does not exist")
    assert text.endswith("; the settings database is set by the --settings option.")
    assert "\n" not in text and "Traceback" not in text and text.count(". ") == 0  # one sentence
    assert not typo.exists() and not typo.parent.exists()
    assert not (ic_home / "settings.db").exists()  # nor the default instead

    # the command line says the same sentence (the same service)
    import contextlib
    import io

    from ic.cli import run_cli

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert run_cli(["--settings", f"sqlite:///{typo}", "schedule", "list"]) == 1
    assert text.rstrip(".").split("; the settings")[0] in err.getvalue()


def test_ic_settings_naming_a_missing_file_is_refused_too(watched, tmp_path, monkeypatch):
    typo = tmp_path / "setings.db"
    monkeypatch.setenv("IC_SETTINGS", f"sqlite:///{typo}")
    assert entry.main([]) == 1
    assert watched["apps"] == []
    [(text, _shown, _kind)] = watched["refusals"]
    assert str(typo) in text and "the IC_SETTINGS environment variable" in text
    assert not typo.exists()


def test_settings_option_naming_an_existing_database_opens_the_window_on_it(watched, tmp_path):
    from ic.settings import SiteConfig, open_store

    there = tmp_path / "other.db"
    store = open_store(f"sqlite:///{there}")
    store.save_site(SiteConfig("Main", "main.example.com", "id"), client_secret="x")
    store.close()
    assert entry.main([f"--settings=sqlite:///{there}"]) == 0
    assert watched["refusals"] == [] and watched["apps"] == [{"store": True, "wizard": False, "message": ""}]


def test_first_start_with_no_settings_at_all_opens_the_window_and_the_wizard(watched, ic_home):
    assert entry.main([]) == 0
    assert watched["refusals"] == []
    assert watched["apps"] == [{"store": False, "wizard": True, "message": watched["apps"][0]["message"]}]
    # the wizard's first step (Next with the embedded default) opens the per-user default, creating it as before
    from ic.services.settings import open_existing_settings

    assert not (ic_home / "settings.db").exists()
    open_existing_settings().close()
    assert (ic_home / "settings.db").is_file()


def test_a_saved_location_that_is_gone_opens_the_window_which_says_so(tmp_path, ic_home):
    """bootstrap.json names a file that was moved: the window opens (Setup > Settings Database can fix it), says
    which file and where it is set, and creates nothing; choosing a database there clears the sentence."""
    from ic.settings import bootstrap

    gone = tmp_path / "moved" / "settings.db"
    bootstrap.write_url(f"sqlite:///{gone}")
    app = app_module.App(show_wizard=False)
    try:
        pump(app)
        assert app.ctx.store is None
        text = app.main.message.text
        assert str(gone) in text and "Setup > Settings Database (bootstrap.json)" in text
        assert app.main.message.kind == "error"
        assert not gone.exists() and not gone.parent.exists()
        assert app.ctx.open_store(f"sqlite:///{tmp_path / 'new.db'}")
        pump(app)
        assert app.main.message.text == ""
    finally:
        app.close()
