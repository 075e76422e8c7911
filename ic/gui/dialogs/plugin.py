"""Plugin Configuration: destination instances (File System, SQL Server, third-party plugins).

The form is generated from the plugin's FieldSpec list; its ``validate()`` messages appear next to each field as
the user types (key release / focus out) and again on Save.
"""
from __future__ import annotations

import customtkinter as ctk

from ic.errors import ConfigError
from ic.gui import services_adapter as services
from ic.gui.dialogs.base import ListEditorPanel
from ic.gui.dialogs.connection_string import ConnectionStringDialog
from ic.gui.widgets import Button, Field, Form, ListView, OptionMenu, ScrollFrame, tab_order
from ic.settings import DestinationConfig

_GUI_KIND = {"text": "text", "password": "password", "choice": "choice", "bool": "bool", "int": "text",
             "directory": "directory", "connection_string": "connection_string", "file": "file"}


class PluginPanel(ListEditorPanel):
    title = "Plugin Configuration"
    noun = "destination"
    changed_key = "destinations"
    size = "960x640"
    min_size = (760, 480)

    def __init__(self, master, ctx, select: str | None = None) -> None:
        super().__init__(master, ctx)
        self.types = services.destination_types()  # type name -> class
        self.type_labels = {getattr(cls, "display_name", name) or name: name for name, cls in self.types.items()}
        self.current: DestinationConfig | None = None
        self.editing_type: str | None = None
        self.specs: list = []
        self.touched: set[str] = set()

        top = ctk.CTkFrame(self, fg_color="transparent")
        top.pack(fill="x", padx=10, pady=(10, 4))
        ctk.CTkLabel(top, text="Plugin type").pack(side="left", padx=(0, 8))
        self.type_var = ctk.StringVar(value=next(iter(self.type_labels), ""))
        self.type_menu = OptionMenu(top, values=list(self.type_labels) or ["(no plugins installed)"],
                                     variable=self.type_var, width=220, dynamic_resizing=True)
        self.type_menu.pack(side="left")
        self.add_button = Button(top, text="Add", width=80, command=lambda: self.guard(self.add))
        self.add_button.pack(side="left", padx=8)

        body = self._build_body(pady=(0, 0))
        self.list = ListView(body, [("name", "Destination", 130), ("type", "Plugin", 100)], height=9,
                             on_select=self._on_select, max_width=220)
        self.list.grid(row=0, column=0, sticky="nsew", padx=(0, 10))
        self.form_host = ScrollFrame(body)
        self.form_host.grid(row=0, column=1, sticky="nsew")
        self.form: Form | None = None

        buttons = self._build_buttons(body, test=self.test)
        self.verify_button = Button(buttons, text="Verify…", secondary=True, command=self.verify)
        self.verify_button.pack(side="right", padx=(0, 8))  # is every session the appliance holds in it?
        tab_order(self.verify_button, self.test_button, self.save_button)
        if not self.types:
            self.message.show("No destination plugins are installed in this build.", "error")
        self.reload(select)

    # --- list -------------------------------------------------------------------------------
    def reload(self, select: str | None = None) -> None:
        dests = self.store().list_destinations()
        names = {name: label for label, name in self.type_labels.items()}
        self.list.set_rows([(d.name, names.get(d.type, d.type)) for d in dests], keep_selection=False)
        if select is None and self.form is None and self.list.keys():
            select = self.list.keys()[0]  # open on the existing destinations, not on a blank form
        if select and select in self.list.keys():
            self.list.select(select)
            self._load(select)
        elif self.form is None and self.types:
            self.add()
        self._update_buttons()

    def _remove(self, name: str) -> None:
        services.remove_destination(self.store(), name)

    def _forget_current(self) -> None:
        self.current = None
        if self.form is not None:
            self.form.destroy()
            self.form = None

    def _load(self, name: str) -> None:
        dest = self.store().get_destination(name, reveal=False)
        shown_kinds = {s.key for s in self._specs_of(dest.type) if s.kind == "connection_string"}
        revealed = {}
        if shown_kinds & set(dest.secret_fields):  # a connection string is shown, its password as ***
            revealed = self.store().get_destination(name, reveal=True).config
        self.current = dest
        self._build_form(dest.type)
        self.fields["name"].set(dest.name)
        for spec in self.specs:
            field = self.fields[spec.key]
            if spec.key in shown_kinds and revealed.get(spec.key):
                self._show_connection_string(field, str(revealed[spec.key]))
            elif spec.key in self._secret_keys():
                field.set_saved_secret(spec.key in dest.secret_fields)
            else:
                field.set(dest.config.get(spec.key, spec.default))
        self._select_type(dest.type)
        self.message.clear()
        self._update_buttons()
        self.mark_clean()

    def _specs_of(self, type_name: str) -> list:
        cls = self.types.get(type_name)
        return list(cls.fields()) if cls is not None else []

    def _select_type(self, type_name: str) -> None:
        label = next((lbl for lbl, n in self.type_labels.items() if n == type_name), None)
        if label is not None:
            self.type_var.set(label)

    def snapshot(self):
        if self.form is None:
            return None
        return self.editing_type, tuple((k, str(v)) for k, v in self.form.values().items())

    def describe_changes(self) -> str:
        return f"the destination {self.current.name}" if self.current is not None else "the new destination"

    def add(self) -> None:
        """Start a new destination of the type chosen in the dropdown."""
        type_name = self.type_labels.get(self.type_var.get())
        if type_name is None:
            return
        self.current = None
        self.list.select(None)
        self._build_form(type_name)
        for spec in self.specs:
            self.fields[spec.key].set(spec.default)
        self.message.show(f"New {self.type_var.get()} destination: fill in the fields and click Save.")
        self._update_buttons()
        self.mark_clean()

    def _build_form(self, type_name: str) -> None:
        if self.form is not None:
            self.form.destroy()
        self.editing_type = type_name
        cls = self.types.get(type_name)
        if cls is None:
            raise ConfigError(f"The plugin '{type_name}' is not installed; reinstall it to edit this destination.")
        self.specs = list(cls.fields())
        self.touched = set()
        self.form = Form(self.form_host)
        self.form.pack(fill="both", expand=True)
        label = next((lbl for lbl, n in self.type_labels.items() if n == type_name), type_name)
        ctk.CTkLabel(self.form, text=label, font=ctk.CTkFont(size=15, weight="bold"), anchor="w").grid(
            row=0, column=0, columnspan=2, sticky="w", padx=10, pady=(6, 0))
        self.form._row = 1
        self.form.add("name", "Destination Name", required=True).on_change(lambda: self._validate_field("name"))
        for spec in self.specs:
            kind = _GUI_KIND.get(spec.kind, "text")
            if spec.secret and kind == "text":
                kind = "password"
            on_button = self._open_connection_builder if kind == "connection_string" else None
            field = self.form.add(spec.key, spec.label, kind, choices=[str(c) for c in spec.choices],
                                  on_button=on_button, required=spec.required, help=spec.help)
            field.on_change(lambda key=spec.key: self._validate_field(key))
        self.fields = self.form.fields
        self.form.listen(lambda f: self._validate_field(f.key))
        self.watch_form(self.form)

    def _open_connection_builder(self, field: Field) -> None:
        existing = getattr(self, "connection_dialog", None)
        if existing is not None and existing.winfo_exists():
            existing.lift()
            return
        self.connection_dialog = ConnectionStringDialog(self, on_ok=lambda url: self._set_from_builder(field, url),
                                                        url=field.get() or None)

    def _set_from_builder(self, field: Field, url: str) -> None:
        """The [...] dialog's OK: hold the full URL, show it with the password as ***."""
        self._show_connection_string(field, url)
        self._validate_field(field.key)

    @staticmethod
    def _show_connection_string(field: Field, url: str) -> None:
        field.has_saved_secret = False
        field.widget.configure(placeholder_text="")
        try:
            shown = services.connection_module().mask_url(url)
        except Exception:  # noqa: BLE001
            shown = url
        if shown != url:
            field.set_masked(url, shown)
        else:
            field.set(url)

    # --- values and validation ------------------------------------------------------------------
    def _config(self) -> dict:
        config: dict = {}
        for spec in self.specs:
            value = self.fields[spec.key].get()
            if spec.kind == "int":
                text = str(value).strip()
                value = int(text) if text.lstrip("-").isdigit() else (text or None)
            elif spec.kind == "bool":
                value = bool(value)
            elif isinstance(value, str):
                value = value.strip() if spec.kind != "password" and not spec.secret else value
                if value == "" and not spec.required:
                    value = None if spec.default is None else value
            config[spec.key] = value
        return config

    def _secret_keys(self) -> tuple[str, ...]:
        return services.secret_keys(self.editing_type)

    def _errors(self) -> dict[str, str]:
        cls = self.types[self.editing_type]
        config = self._config()
        errors = dict(cls.validate(config) or {})
        for key in self._secret_keys():  # a saved secret left empty is kept, not missing
            if not config.get(key) and self.fields[key].has_saved_secret:
                errors.pop(key, None)
        if not self.fields["name"].get().strip():
            errors["name"] = "Enter a name for this destination."
        return errors

    def _validate_field(self, key: str) -> None:
        self.touched.add(key)
        try:
            errors = self._errors()
        except Exception as exc:  # noqa: BLE001 - a plugin's validate() failing is shown, not raised
            self.show_exception(exc)
            return
        self.fields[key].set_error(errors.get(key))

    def _validate_all(self, only_touched: bool = False) -> dict[str, str]:
        errors = self._errors()
        for key, field in self.fields.items():
            if not only_touched or key in self.touched:
                field.set_error(errors.get(key))
        return errors

    def default_action(self) -> None:
        self.save()

    def save(self) -> bool:
        if self.form is None:
            return False
        self.message.clear()
        errors = self._validate_all()
        if errors:
            orphans = [m for k, m in errors.items() if k not in self.fields]
            self.message.show("Not saved: " + (orphans[0] if orphans else "fix the fields marked in red."), "error")
            return False
        secret_keys = self._secret_keys()
        config = {k: v for k, v in self._config().items() if not (k in secret_keys and not v)}
        dest = DestinationConfig(self.fields["name"].get().strip(), self.editing_type, config,
                                 self.current.id if self.current else None, secret_fields=secret_keys)
        try:
            saved = services.save_destination(self.store(), dest)
        except Exception as exc:  # noqa: BLE001
            self.show_exception(exc, prefix="Not saved: ")
            return False
        self._saved(saved.name)
        return True

    def test(self) -> None:
        if self.form is None:
            return
        errors = self._validate_all()
        if errors:
            self.message.show("Fix the fields marked in red before testing.", "error")
            return
        config = self._config()
        name = self.fields["name"].get().strip()
        type_name = self.editing_type
        stored = self.current.name if self.current else None
        store = self.store()
        secret_keys = self._secret_keys()

        def work(_emit, _cancel):
            if stored:
                saved = store.get_destination(stored, reveal=True).config
                for key in secret_keys:
                    if not config.get(key) and saved.get(key):
                        config[key] = saved[key]
            return services.check_destination(name, type_name, config)

        def done(text):
            self.message.show(str(text) or f"Destination {name} works.", "ok")
            self._update_buttons()

        def failed(exc):
            self.show_exception(exc)
            field = getattr(exc, "field", None)
            if field not in self.fields:  # the test names no field: it is about where the data goes
                main = next((s.key for s in self.specs if s.kind in ("directory", "connection_string")), None)
                if main is not None:
                    self.fields[main].set_error(self.message.text)

        self.run_in_worker(work, done, busy_text=f"Testing destination {name}…", on_error=failed)
        self._update_buttons()

    def verify(self) -> None:
        """The Verify window (ic/gui/dialogs/verify.py) for this destination."""
        if self.current is None:
            return
        from ic.gui.dialogs.base import open_dialog
        from ic.gui.dialogs.verify import VerifyPanel

        open_dialog(self.ctx, VerifyPanel, destination=self.current.name)

    def _update_buttons(self) -> None:
        self.delete_button.configure(state="normal" if self.current is not None else "disabled")
        if hasattr(self, "verify_button"):
            self.verify_button.configure(state="normal" if self.current is not None else "disabled")
        state = "normal" if self.form is not None and not self.busy else "disabled"
        self.test_button.configure(state=state)
        self.save_button.configure(state="normal" if self.form is not None else "disabled")
