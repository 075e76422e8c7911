"""The window at its edges, as a person meets them: a disabled button looks disabled (grey, not blue), in the Verify
window and on the Schedule window's Estimate button (real Tk under Xvfb, the simulator for the estimate)."""
from __future__ import annotations

import customtkinter as ctk
import pytest

from ic.gui.testing import pump, running_app
from ic.gui.widgets import DISABLED_FG
from ic.settings import DestinationConfig
from tests.helpers import add_site

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
    from ic.gui.dialogs.schedule import SchedulePanel

    add_site(store, simulator, "Main")
    store.save_destination(DestinationConfig("Files", "folder", {"directory": str(tmp_path / "files")}))
    with running_app() as app:
        d = app.open(SchedulePanel)
        pump(app)
        p = d.panel
        d.fields["name"].set("Nightly")
        d.fields["site"].set("Main")
        d.fields["destination"].set("Files")
        pump(d)
        p.add_button.invoke()
        pump(d)
        button = p.first_pull.estimate_button
        assert button.cget("state") == "normal" and drawn_fill(button) != grey()
        button.invoke()  # the listing runs in a worker; its answer comes back through the Tk loop, not yet pumped
        assert button.cget("state") == "disabled" and drawn_fill(button) == grey()
        assert pump(app, lambda: "Main:" in p.first_pull.estimate_label.cget("text"), timeout=60)
        assert button.cget("state") == "normal" and drawn_fill(button) != grey()


def _site(name):
    from ic.settings import SiteConfig

    return SiteConfig(name, "main.example.com", "id")
