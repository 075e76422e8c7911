"""API Tester > XML Files: "or a host and API account typed in" (the guide's API tester, step 8).

When a host is typed here, the XML files are imported with that host as their site host, and recordings and
backups are fetched with the typed-in Client ID and Secret (ic.services.xml_fetch). Nothing is saved: the secret
stays in memory for this download only. A small hook in api_tester.py builds the fields, asks ``filled()`` and
hands ``site()`` to the same XML import as a configured site (ic.services.api_tester.import_xml_many).
"""
from __future__ import annotations

import customtkinter as ctk

from ic.gui import services_adapter as services


class AdHocSiteFields(ctk.CTkFrame):
    def __init__(self, master) -> None:
        super().__init__(master, fg_color="transparent")
        ctk.CTkLabel(self, text="or a host not configured as a site:", anchor="w").grid(row=0, column=0,
                                                                                     columnspan=4, sticky="w")
        self.host = ctk.CTkEntry(self, width=200, placeholder_text="Host (support.example.com)")
        self.client_id = ctk.CTkEntry(self, width=170, placeholder_text="Client ID")
        self.client_secret = ctk.CTkEntry(self, width=170, show="•", placeholder_text="Client Secret")
        self.ca_bundle = ctk.CTkEntry(self, width=170, placeholder_text="CA file (optional)")
        for i, widget in enumerate((self.host, self.client_id, self.client_secret, self.ca_bundle)):
            widget.grid(row=1, column=i, sticky="w", padx=(0, 6), pady=2)

    def filled(self) -> bool:
        return bool(self.host.get().strip())

    def site(self):
        """The typed-in host and account, checked now: one sentence for a bad host or missing credentials."""
        return services.adhoc_site(self.host.get().strip(), self.client_id.get().strip(), self.client_secret.get(),
                                   self.ca_bundle.get().strip() or None)
