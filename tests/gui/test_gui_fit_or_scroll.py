"""A form in a window too short for it (125 % display scaling on a 768-pixel-high screen, the wizard's intro above
it) scrolls instead of hiding its last fields: the Site form's scroll bar appears only when the window is short, a
field reached with Tab is scrolled into view, and a tall window shows the whole form without a scroll bar."""
from __future__ import annotations

from ic.gui.dialogs.base import FitOrScroll
from ic.gui.dialogs.site import SitePanel
from ic.gui.testing import pump


def _visible(widget, scroller) -> bool:
    """The widget lies inside the visible part of the scrolled area."""
    canvas = scroller._parent_canvas
    top, bottom = widget.winfo_rooty(), widget.winfo_rooty() + widget.winfo_height()
    return canvas.winfo_rooty() - 1 <= top and bottom <= canvas.winfo_rooty() + canvas.winfo_height() + 1


def test_a_short_site_window_scrolls_its_form_and_tab_brings_a_hidden_field_into_view(app):
    d = app.open(SitePanel)
    pump(app)
    scroller = d.panel.form.master.master
    assert isinstance(scroller, FitOrScroll)
    d.minsize(200, 200)
    d.geometry("900x300")
    pump(app, lambda: d.winfo_height() <= 310)
    pump(app)
    assert scroller._scrolling and scroller._scrollbar.winfo_ismapped()
    entry = d.fields["ca_bundle"].widget
    assert not _visible(entry, scroller)  # below the visible part: the window is far too short
    entry._entry.focus_force()
    pump(app, lambda: _visible(entry, scroller))
    assert _visible(entry, scroller)

    d.geometry("900x700")
    pump(app, lambda: d.winfo_height() >= 690)
    pump(app)
    assert not scroller._scrolling and not scroller._scrollbar.winfo_ismapped()
    assert scroller._parent_canvas.yview() == (0.0, 1.0)
    product = d.fields["product"].widget
    assert _visible(product, scroller)
    d.close(force=True)
