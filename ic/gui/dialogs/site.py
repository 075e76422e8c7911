"""Site Configuration: appliance sites (name, host, OAuth client, backup password, CA bundle, product)."""
from __future__ import annotations

import customtkinter as ctk

from ic.errors import ConfigError
from ic.gui import services_adapter as services
from ic.gui.dialogs.base import FitOrScroll, ListEditorPanel
from ic.gui.widgets import CheckBox, Form
from ic.settings import SiteConfig

PRODUCT_LABELS = {"detect": "Detect automatically", "rs": "Remote Support", "pra": "Privileged Remote Access"}
_LABEL_TO_PRODUCT = {v: k for k, v in PRODUCT_LABELS.items()}


class SitePanel(ListEditorPanel):
    title = "Site Configuration"
    noun = "site"
    changed_key = "sites"
    size = "900x560"
    min_size = (720, 560)

    def __init__(self, master, ctx, select: str | None = None) -> None:
        super().__init__(master, ctx)
        self.current: SiteConfig | None = None
        body = self._build_body()
        self._build_list(body, 300, [("name", "Site", 110), ("host", "Host", 140)], 220, "New")

        scroller = FitOrScroll(body)  # a short window (125 % scaling, the wizard's intro above) scrolls the form
        scroller.grid(row=0, column=1, sticky="nsew")
        self.form = Form(scroller.content)
        self.form.pack(fill="both", expand=True)
        f = self.form
        f.add("name", "Site Name", required=True)
        f.add("host", "Host", required=True, help="The site's host name without https://, e.g. support.example.com")
        f.add("client_id", "Client ID", required=True)
        f.add("client_secret", "Client Secret", "password", required=True)
        f.add("backup_password", "Backup Password", "password", help="Optional: protects the site backups.")
        self.clear_backup = CheckBox(f.fields["backup_password"].container, text="Remove")
        f.fields["backup_password"].add_extra(self.clear_backup, padx=(8, 0))
        f.add("ca_bundle", "CA Bundle", "file", help="Optional: a PEM file for an appliance with a private CA.",
              filetypes=[("Certificates", "*.pem *.crt *.cer"), ("All files", "*")])
        f.add("product", "Product", "choice", choices=list(PRODUCT_LABELS.values()))
        self.fields = f.fields
        self.watch_form(f)

        self._build_buttons(body, test=self.test)
        self.reload(select)

    # --- list -------------------------------------------------------------------------------
    def reload(self, select: str | None = None) -> None:
        sites = self.store().list_sites() if self.ctx.store is not None else []
        self.list.set_rows([(s.name, s.host) for s in sites], keep_selection=False)
        self._open_or_new(select)

    def _remove(self, name: str) -> None:
        services.remove_site(self.store(), name)

    def _load(self, name: str) -> None:
        site = self.store().get_site(name)
        self.current = site
        self.clear_errors()
        self.fields["name"].set(site.name)
        self.fields["host"].set(site.host)
        self.fields["client_id"].set(site.client_id)
        self.fields["client_secret"].set_saved_secret(site.has_client_secret)
        self.fields["backup_password"].set_saved_secret(site.has_backup_password)
        self.clear_backup.deselect()
        self.clear_backup.configure(state="normal" if site.has_backup_password else "disabled")
        self.fields["ca_bundle"].set(site.ca_bundle or "")
        self.fields["product"].set(PRODUCT_LABELS.get(site.product, PRODUCT_LABELS["detect"]))
        self.message.clear()
        self._update_buttons()
        self.mark_clean()

    def new(self) -> None:
        self.current = None
        self.list.select(None)
        self.clear_errors()
        for key in ("name", "host", "client_id", "ca_bundle"):
            self.fields[key].set("")
        self.fields["client_secret"].set_saved_secret(False)
        self.fields["backup_password"].set_saved_secret(False)
        self.clear_backup.deselect()
        self.clear_backup.configure(state="disabled")
        self.fields["product"].set(PRODUCT_LABELS["detect"])
        self._update_buttons()
        self.mark_clean()

    def snapshot(self):
        return (tuple(sorted((k, str(v)) for k, v in self.form.values().items())), bool(self.clear_backup.get()))

    def _update_buttons(self) -> None:
        self.delete_button.configure(state="normal" if self.current is not None else "disabled")
        self.test_button.configure(state="disabled" if self.busy else "normal")

    # --- form -> model ------------------------------------------------------------------------
    def _form_site(self) -> tuple[SiteConfig, str | None, str | None]:
        v = self.form.values()
        site = SiteConfig(
            name=v["name"].strip(),
            host=v["host"].strip(),
            client_id=v["client_id"].strip(),
            ca_bundle=v["ca_bundle"].strip() or None,
            product=_LABEL_TO_PRODUCT.get(v["product"], "detect"),
            id=self.current.id if self.current else None,
        )
        return site, v["client_secret"] or None, v["backup_password"] or None

    def default_action(self) -> None:
        self.save()

    def save(self) -> bool:
        self.clear_errors()
        site, secret, backup = self._form_site()
        try:
            saved = services.save_site(self.store(), site, client_secret=secret, backup_password=backup,
                                           clear_backup_password=bool(self.clear_backup.get()) and not backup)
        except Exception as exc:  # noqa: BLE001 - shown next to the field or in the message line
            self.show_exception(exc, prefix="Not saved: ")
            return False
        self._saved(saved.name)
        return True

    def test(self) -> None:
        """Test the values in the form (saved or not) in a worker thread; the window stays responsive."""
        self.clear_errors()
        site, secret, _backup = self._form_site()
        stored_name = self.current.name if self.current is not None else None
        if not secret and stored_name is None:
            self.show_exception(ConfigError(f"Enter the Client Secret to test site {site.name or '(new)'}.",
                                            field="client_secret"))
            return
        store = self.store()

        def work(_emit, _cancel):
            return services.check_site(store, site, secret, stored_name=stored_name)

        def done(result):
            self.message.show(result.message, "ok" if result.ok else "error")
            if not result.ok:
                field = services.site_error_field(result)
                if field in self.fields:
                    self.fields[field].set_error(result.message)
            self.last_test = result
            self._update_buttons()

        self.last_test = None
        self.run_in_worker(work, done, busy_text=f"Testing {site.host or 'the site'}…")
        self._update_buttons()

