"""Database connection fields (server, database, Windows/SQL authentication, user, password, other params) and
the dialog behind the [...] button of a SQL destination's Connection String."""
from __future__ import annotations

from typing import Callable

import customtkinter as ctk

from ic.errors import ConfigError, ICError
from ic.gui import services_adapter as services
from ic.gui.dialogs.base import RaisedWhenShown, own_window
from ic.gui.widgets import Button, Form, MessageLabel, ask_unsaved, tab_order

AUTH_SQL, AUTH_WINDOWS = "SQL Server authentication", "Windows authentication"


class ConnectionFields:
    """Adds the guide's connection fields to a Form and keeps a live (password-masked) connection string.

    Values map onto ic.destinations.connection_string.ConnectionParams; its build_url makes the URL.
    """

    def __init__(self, form: Form, kinds: dict[str, str], on_change: Callable[[], None] | None = None) -> None:
        self.form = form
        self.kinds = kinds  # label -> kind key ("sqlite", "sqlserver", "postgresql", "mysql")
        self.cs = services.connection_module()
        f = form
        f.add("kind", "Database Type", "choice", choices=list(kinds))
        f.add("path", "SQLite File", "file", save_dialog=True,
              filetypes=[("SQLite database", "*.db *.sqlite *.sqlite3"), ("All files", "*")])
        f.add("server", "Server")
        f.add("database", "Database Name")
        f.add("auth", "Authentication Type", "choice", choices=[AUTH_SQL, AUTH_WINDOWS])
        f.add("username", "Username")
        f.add("password", "Password", "password")
        f.add("params", "Other Connection Params")
        f.add("connection_string", "Connection String")
        f.fields["connection_string"].widget.configure(state="readonly")
        self._on_change = on_change
        for key in ("kind", "path", "server", "database", "auth", "username", "password", "params"):
            f.fields[key].on_change(self.update)
        form.listen(lambda _f: self.update())
        self.update()

    @property
    def fields(self):
        return self.form.fields

    def kind(self) -> str:
        return self.kinds.get(self.fields["kind"].get(), "sqlite")

    def params(self):
        v = self.form.values()
        kind = self.kind()
        server, port = v["server"].strip(), None
        if kind in ("postgresql", "mysql") and server.count(":") == 1:
            host, _, number = server.partition(":")
            if number.isdigit():
                server, port = host, int(number)
        return self.cs.ConnectionParams(
            kind=kind, server=server, port=port,
            database=v["path"].strip() if kind == "sqlite" else v["database"].strip(),
            auth="windows" if v["auth"] == AUTH_WINDOWS and kind == "sqlserver" else "sql",
            username=v["username"].strip(), password=v["password"], other=v["params"].strip())

    def url(self, hide_password: bool = False) -> str:
        """The URL; raises ConfigError whose ``field`` names one of this form's fields."""
        try:
            url = self.cs.build_url(self.params())
        except ConfigError as exc:
            field = "path" if exc.field == "database" and self.kind() == "sqlite" else exc.field
            raise ConfigError(str(exc), field=field) from None
        return self.cs.mask_url(url) if hide_password else url

    def set_url(self, url: str) -> None:
        p = self.cs.parse_url(url)
        label = next((lbl for lbl, k in self.kinds.items() if k == p.kind), next(iter(self.kinds)))
        self.fields["kind"].set(label)
        server = p.server + (f":{p.port}" if p.port and p.kind != "sqlserver" else (f",{p.port}" if p.port else ""))
        values = {"server": server, "database": "" if p.kind == "sqlite" else p.database,
                  "path": p.database if p.kind == "sqlite" else "", "username": p.username, "password": p.password,
                  "params": p.other}
        for key, value in values.items():
            self.fields[key].set(value)
        self.fields["auth"].set(AUTH_WINDOWS if p.auth == "windows" else AUTH_SQL)
        self.update()

    def update(self) -> None:
        kind = self.kind()
        sql = kind != "sqlite"
        for key in ("server", "database", "username", "password", "params"):
            self.fields[key].set_visible(sql)
        self.fields["auth"].set_visible(kind == "sqlserver")
        self.fields["path"].set_visible(not sql)
        if kind != "sqlserver" and self.fields["auth"].get() == AUTH_WINDOWS:
            self.fields["auth"].set(AUTH_SQL)
        windows = kind == "sqlserver" and self.fields["auth"].get() == AUTH_WINDOWS
        self.fields["username"].set_enabled(sql and not windows)
        self.fields["password"].set_enabled(sql and not windows)
        try:
            text = self.url(hide_password=True)
        except ICError:
            text = ""
        cs = self.fields["connection_string"].widget
        cs.configure(state="normal")
        cs.delete(0, "end")
        cs.insert(0, text)
        cs.configure(state="readonly")
        if self._on_change:
            self._on_change()

    @property
    def connection_string(self) -> str:
        """What the Connection String box shows (password masked)."""
        return self.fields["connection_string"].widget.get()


class ConnectionStringDialog(RaisedWhenShown):
    """Modal-less builder: OK hands the full URL to ``on_ok`` (a SQL destination's Connection String field)."""

    KINDS = {"SQL Server": "sqlserver", "PostgreSQL": "postgresql", "MySQL / MariaDB": "mysql", "SQLite file": "sqlite"}

    def __init__(self, master, on_ok: Callable[[str], None], url: str | None = None) -> None:
        super().__init__(master)
        own_window(self, master.winfo_toplevel(), "Connection String", size=(640, 560), min_size=(520, 420))
        row = ctk.CTkFrame(self, fg_color="transparent")
        row.pack(side="bottom", fill="x", padx=12, pady=(4, 12))  # packed first: never cut
        self.message = MessageLabel(self)
        self.message.pack(side="bottom", fill="x", padx=12)
        self.form = Form(self)
        self.form.pack(fill="both", expand=True, padx=10, pady=10)
        self.conn = ConnectionFields(self.form, self.KINDS)
        self.fields = self.form.fields
        if url:
            try:
                self.conn.set_url(url)
            except ICError:
                pass  # not something the dialog can show: start empty
        self._opened_with = self._snapshot()
        self.ok_button = Button(row, text="OK", width=90, command=self.ok)
        self.ok_button.pack(side="right")
        cancel = Button(row, text="Cancel", width=90, secondary=True, command=self.cancel)
        cancel.pack(side="right", padx=8)
        tab_order(cancel, self.ok_button)
        self._on_ok = on_ok
        self.bind("<Return>", lambda _e: self.ok())
        self.bind("<Escape>", lambda _e: self.cancel())
        self.protocol("WM_DELETE_WINDOW", self.cancel)
        self.raise_when_shown()

    def destroy(self) -> None:
        self.cancel_raise()
        super().destroy()

    def _snapshot(self):
        return tuple((k, str(v)) for k, v in self.form.values().items() if k != "connection_string")

    def cancel(self) -> None:
        """Cancel, Escape, the close box: typed connection details are not dropped without asking."""
        if self._snapshot() == self._opened_with:
            self.destroy()
            return
        self.unsaved_prompt = ask_unsaved(self, "Use the connection details you typed?", self.ok, self.destroy,
                                          title="Connection String")

    def ok(self) -> None:
        self.form.clear_errors()
        try:
            url = self.conn.url()
        except ICError as exc:
            field = getattr(exc, "field", None)
            if field in self.fields:
                self.fields[field].set_error(str(exc))
            self.message.show(str(exc), "error")
            return
        self._on_ok(url)
        self.destroy()
