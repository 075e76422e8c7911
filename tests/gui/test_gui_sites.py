"""Site Configuration driven through the real window (Xvfb): save, reopen, secrets never shown, errors by field."""
from __future__ import annotations

import pytest

from ic.gui.testing import press, pump, screenshot

pytestmark = pytest.mark.usefixtures("xvfb")


def open_sites(app):
    from ic.gui.dialogs.site import SitePanel

    dialog = app.open(SitePanel)
    pump(app)
    return dialog


def fill(dialog, **values):
    for key, value in values.items():
        dialog.fields[key].set(value)


def test_site_saved_then_reopened_shows_values_but_never_the_secret(app, store, tmp_path):
    d = open_sites(app)
    fill(d, name="Main", host="support.example.com", client_id="abc", client_secret="s3cret-value",
         backup_password="bk-pass", product="Privileged Remote Access")
    d.panel.save_button.invoke()
    pump(app)
    assert d.panel.message.text == "Site Main saved."
    saved = store.get_site("Main")
    assert (saved.host, saved.client_id, saved.product) == ("support.example.com", "abc", "pra")
    assert store.site_credentials("Main").client_secret == "s3cret-value"
    d.close()

    d = open_sites(app)
    assert d.panel.list.keys() == ["Main"]
    d.panel.list.select("Main")
    pump(app)
    assert d.fields["host"].get() == "support.example.com"
    assert d.fields["product"].get() == "Privileged Remote Access"
    secret = d.fields["client_secret"]
    assert secret.get() == ""  # the stored secret never comes back into the window
    assert secret.widget.cget("placeholder_text") == "(saved — type to replace)"
    assert "s3cret" not in secret.widget._entry.get()
    # saving without retyping keeps the secret; typing replaces it
    fill(d, client_id="abc2")
    d.panel.save()
    pump(app)
    assert store.site_credentials("Main").client_secret == "s3cret-value"
    fill(d, client_secret="new-secret")
    d.panel.save()
    assert store.site_credentials("Main").client_secret == "new-secret"
    assert store.get_site("Main").client_id == "abc2"
    screenshot(d, "site-configuration")
    # the saved backup password can be removed (the box is there only when one is saved)
    assert d.panel.clear_backup.cget("state") == "normal"
    d.panel.clear_backup.select()
    d.panel.save()
    assert store.get_site("Main").has_backup_password is False
    assert store.site_credentials("Main").backup_password is None
    assert d.panel.clear_backup.cget("state") == "disabled"


def test_invalid_host_shows_the_message_next_to_the_field(app, store):
    d = open_sites(app)
    fill(d, name="Bad", host="https://support.example.com/", client_id="x", client_secret="y")
    d.panel.save_button.invoke()
    pump(app)
    assert "without 'https://'" in d.fields["host"].error_text
    assert d.panel.message.text.startswith("Not saved")
    assert store.list_sites() == []
    fill(d, host="support.example.com", ca_bundle="/no/such/ca.pem")
    d.panel.save()
    pump(app)
    assert d.fields["host"].error_text == ""
    assert "/no/such/ca.pem" in d.fields["ca_bundle"].error_text
    fill(d, ca_bundle="")
    d.fields["client_secret"].set("")
    d.panel.save()
    assert "Client Secret" in d.fields["client_secret"].error_text
    screenshot(d, "site-configuration-error")


def test_enter_saves_and_escape_closes(app, store):
    d = open_sites(app)
    fill(d, name="Keys", host="keys.example.com", client_id="id", client_secret="sec")
    press(d, "Return")
    pump(app)
    assert [s.name for s in store.list_sites()] == ["Keys"]
    press(d, "Escape")
    pump(app)
    assert not d.winfo_exists()


def test_one_instance_per_dialog(app):
    first = open_sites(app)
    second = open_sites(app)
    assert first is second


def test_delete_asks_then_deletes(app, store):
    d = open_sites(app)
    fill(d, name="Gone", host="gone.example.com", client_id="id", client_secret="sec")
    d.panel.save()
    d.panel.delete_button.invoke()
    pump(app)
    d.panel.confirm.buttons["Delete"].invoke()
    pump(app)
    assert store.list_sites() == []
    assert d.panel.list.keys() == []
