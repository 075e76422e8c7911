"""API Tester > XML Files: "or a host and API account typed in" (the guide's API tester, step 8).

When a host is typed here, the XML files are imported with that host as their site host, and recordings and
backups are fetched with the typed-in Client ID and Secret (ic.services.xml_fetch). Nothing is saved: the secret
stays in memory for this download only. A small hook in api_tester.py builds the fields and asks ``filled()``.
"""
from __future__ import annotations

import customtkinter as ctk

from ic.errors import Cancelled, ConfigError


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
        from ic.services.xml_fetch import AdHocSite

        adhoc = AdHocSite(self.host.get().strip(), self.client_id.get().strip(), self.client_secret.get(),
                          self.ca_bundle.get().strip() or None)
        adhoc.config()  # one sentence now for a bad host or missing credentials
        return adhoc

    def job(self, panel, store):
        """The worker function for the API Tester: import, then fetch recordings/backups with the typed account."""
        from ic.gui import services_adapter as services

        files = panel.xml_files.keys()
        dests = panel.xml_destinations.selected()
        types = [dt for dt, b in panel.xml_operations.items() if b.get()]
        if not files:
            raise ConfigError("Add one or more XML files first (Add…).")
        if not dests:
            raise ConfigError("Select at least one destination.")
        if not types:
            raise ConfigError("Select at least one operation.")
        adhoc = self.site()
        line_class = getattr(services, "JobLine", None)

        def work(emit, cancel):
            from ic.services.import_xml import import_xml_to_destination
            from ic.services.xml_fetch import fetch_for_xml

            lines: list[str] = []

            def say(text: str) -> None:
                lines.append(text)
                emit(line_class(text) if line_class else text)

            for dest in dests:
                if cancel.is_set():
                    raise Cancelled("The import was cancelled.")
                if "session" in types:
                    result = import_xml_to_destination(store, files, dest, site_host=adhoc.host, cancel=cancel)
                    for text in [result.summary(dest), *result.errors]:
                        say(text)
                file_types = [t for t in types if t != "session"]
                if file_types:
                    fetched = fetch_for_xml(store, files, dest, file_types, adhoc=adhoc, cancel=cancel,
                                            progress=lambda text: emit(line_class(text) if line_class else text))
                    for text in [fetched.summary(adhoc.host, dest), *fetched.errors]:
                        say(text)
            return lines

        return work
