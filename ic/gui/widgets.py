"""Small reusable widgets: labelled fields with an error line, a styled list, a check list, message boxes."""
from __future__ import annotations

import sys
import tkinter
from pathlib import Path
from tkinter import filedialog, ttk
from typing import Any, Callable, Iterable

import customtkinter as ctk

ERROR_COLOR = ("#b3261e", "#ff8a80")
OK_COLOR = ("#1b6e20", "#8bd98f")
SAVED_SECRET_PLACEHOLDER = "(saved — type to replace)"


def assets_dir() -> Path:
    """assets/ next to the code, or inside the one-file executable (PyInstaller unpacks it to _MEIPASS)."""
    base = getattr(sys, "_MEIPASS", None)
    return Path(base) / "assets" if base else Path(__file__).resolve().parents[2] / "assets"


ICON_REAPPLY_MS = 250  # customtkinter (5.2.x CTkToplevel) sets ITS icon 200 ms after creating a window on Windows


def apply_icon(window) -> None:
    """The program's icon on a window. On Windows each CTkToplevel needs iconbitmap, else customtkinter puts its
    own icon there; elsewhere one iconphoto on the root covers every window.

    Windows: set at once, and again after ICON_REAPPLY_MS, because customtkinter 5.2.x schedules an unconditional
    ``iconbitmap(<its own .ico>)`` 200 ms after a CTkToplevel is created (newer versions skip that once
    iconbitmap was called; the second call is then harmless)."""
    try:
        if sys.platform == "win32":
            ico = assets_dir() / "icon.ico"
            if ico.is_file():
                window.iconbitmap(str(ico))

                def again() -> None:
                    try:
                        if window.winfo_exists():
                            window.iconbitmap(str(ico))
                    except tkinter.TclError:
                        pass  # closed within the 250 ms

                window.after(ICON_REAPPLY_MS, again)
        elif isinstance(window, tkinter.Tk):
            png = assets_dir() / "icon.png"
            if png.is_file():
                window._ic_icon = tkinter.PhotoImage(master=window, file=str(png))  # keep a reference
                window.iconphoto(True, window._ic_icon)
    except tkinter.TclError:
        pass  # an icon is decoration: never stop the window for it


class Field:
    """One labelled input on a grid form, with its own error line underneath.

    kind: text | password | int | choice | bool | directory | file | connection_string | multiline
    ``get()`` returns str (bool for kind bool); ``set_error(None)`` clears the message.
    """

    def __init__(self, form: "Form", key: str, label: str, kind: str = "text", *, choices: Iterable[str] = (),
                 help: str = "", on_button: Callable[["Field"], None] | None = None, width: int = 320) -> None:
        self.form, self.key, self.kind = form, key, kind
        self.label = ctk.CTkLabel(form, text=label, anchor="w")
        self.container = ctk.CTkFrame(form, fg_color="transparent")
        self.button: ctk.CTkButton | None = None
        self.has_saved_secret = False
        self._masked: tuple[str, str] | None = None  # (real value, what the box shows)
        choices = tuple(choices)
        if kind == "choice":
            self.var = ctk.StringVar(value=choices[0] if choices else "")
            self.widget = ctk.CTkOptionMenu(self.container, values=list(choices) or [""], variable=self.var,
                                            width=width, dynamic_resizing=False)
        elif kind == "bool":
            self.var = ctk.BooleanVar(value=False)
            self.widget = ctk.CTkCheckBox(self.container, text="", variable=self.var, onvalue=True, offvalue=False)
        elif kind == "multiline":
            self.widget = ctk.CTkTextbox(self.container, width=width, height=70)
        else:
            self.widget = ctk.CTkEntry(self.container, width=width, show="•" if kind == "password" else "")
        self.widget.pack(side="left", fill="x", expand=True)
        if kind in ("directory", "file", "connection_string"):
            text = "..." if kind == "connection_string" else "Browse…"
            self.button = ctk.CTkButton(self.container, text=text, width=36 if text == "..." else 80,
                                        command=lambda: (on_button or _default_browse)(self))
            self.button.pack(side="left", padx=(6, 0))
        self.error = ctk.CTkLabel(form, text="", text_color=ERROR_COLOR, anchor="w", justify="left",
                                  wraplength=width + 80, height=0, font=ctk.CTkFont(size=12))
        self.help = help
        if help:
            self.label.configure(text=label)

    def grid(self, row: int) -> int:
        self.label.grid(row=row, column=0, sticky="nw", padx=(10, 8), pady=(6, 0))
        self.container.grid(row=row, column=1, sticky="ew", padx=(0, 10), pady=(6, 0))
        self.error.grid(row=row + 1, column=1, sticky="w", padx=(0, 10))
        return row + 2

    # --- value -------------------------------------------------------------------------------
    def get(self) -> Any:
        if self.kind == "bool":
            return bool(self.var.get())
        if self.kind == "choice":
            return self.var.get()
        if self.kind == "multiline":
            return self.widget.get("1.0", "end-1c")
        text = self.widget.get()
        if self._masked is not None and text == self._masked[1]:
            return self._masked[0]
        return text

    def set_masked(self, value: str, shown: str) -> None:
        """Hold ``value`` but show ``shown`` (a connection string with its password as ***)."""
        self.set(shown)
        self._masked = (value, shown)

    def set(self, value: Any) -> None:
        self._masked = None
        if self.kind == "bool":
            self.var.set(bool(value) and str(value).lower() not in ("false", "0", "no"))
        elif self.kind == "choice":
            self.var.set("" if value is None else str(value))
        elif self.kind == "multiline":
            self.widget.delete("1.0", "end")
            self.widget.insert("1.0", "" if value is None else str(value))
        else:
            self.widget.delete(0, "end")
            if value not in (None, ""):
                self.widget.insert(0, str(value))

    def set_saved_secret(self, saved: bool) -> None:
        """Password fields never show a stored secret: an empty box with a placeholder saying one is saved."""
        self.has_saved_secret = saved
        self.set("")
        self.widget.configure(placeholder_text=SAVED_SECRET_PLACEHOLDER if saved else "")

    def set_choices(self, choices: Iterable[str]) -> None:
        values = list(choices) or [""]
        self.widget.configure(values=values)
        if self.var.get() not in values:
            self.var.set(values[0])

    def set_visible(self, visible: bool) -> None:
        """Hide or show the whole row (label, input, error line) keeping its place in the grid."""
        for widget in (self.label, self.container, self.error):
            widget.grid() if visible else widget.grid_remove()

    def set_enabled(self, enabled: bool) -> None:
        state = "normal" if enabled else "disabled"
        self.widget.configure(state=state)
        if self.button is not None:
            self.button.configure(state=state)

    def set_error(self, message: str | None) -> None:
        self.error.configure(text=message or "")

    @property
    def error_text(self) -> str:
        return self.error.cget("text")

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call back on key release and focus-out (text kinds) or on selection (choice/bool)."""
        if self.kind in ("choice", "bool"):
            self.var.trace_add("write", lambda *_: callback())
        else:
            self.widget.bind("<KeyRelease>", lambda _e: callback(), add=True)
            self.widget.bind("<FocusOut>", lambda _e: callback(), add=True)


def native_path(path: str, windows: bool | None = None) -> str:
    """Tk's file dialogs answer ``C:/Data/IC`` and ``//server/share`` on Windows: show and store the form a Windows
    admin types and recognises (``C:\\Data\\IC``, ``\\\\server\\share``)."""
    import ntpath

    if windows is None:
        windows = sys.platform == "win32"
    return ntpath.normpath(path) if windows and path else path


def _default_browse(field: Field) -> None:
    if field.kind == "directory":
        path = filedialog.askdirectory(parent=field.form, initialdir=field.get() or None, mustexist=False)
    else:
        path = filedialog.askopenfilename(parent=field.form, initialdir=None)
    if path:
        field.set(native_path(path))
        field.form.notify(field)


class Form(ctk.CTkFrame):
    """A grid of Fields; ``fields[key]`` reaches each one (tests use it too)."""

    def __init__(self, master, **kwargs) -> None:
        kwargs.setdefault("fg_color", "transparent")
        super().__init__(master, **kwargs)
        self.fields: dict[str, Field] = {}
        self._row = 0
        self._listeners: list[Callable[[Field], None]] = []
        self.grid_columnconfigure(1, weight=1)

    def listen(self, callback: Callable[[Field], None]) -> None:
        """Called when a field changes by other means than typing (a Browse… or [...] dialog)."""
        self._listeners.append(callback)

    def notify(self, field: Field) -> None:
        for callback in list(self._listeners):
            callback(field)

    def add(self, key: str, label: str, kind: str = "text", **kw) -> Field:
        field = Field(self, key, label, kind, **kw)
        self.fields[key] = field
        self._row = field.grid(self._row)
        return field

    def add_widget(self, widget, label: str | None = None) -> None:
        if label:
            ctk.CTkLabel(self, text=label, anchor="w").grid(row=self._row, column=0, sticky="w", padx=(10, 8), pady=6)
            widget.grid(row=self._row, column=1, sticky="ew", padx=(0, 10), pady=6)
        else:
            widget.grid(row=self._row, column=0, columnspan=2, sticky="ew", padx=10, pady=6)
        self._row += 1

    def values(self) -> dict[str, Any]:
        return {k: f.get() for k, f in self.fields.items()}

    def clear_errors(self) -> None:
        for f in self.fields.values():
            f.set_error(None)

    def show_errors(self, errors: dict[str, str]) -> list[str]:
        """Put each message next to its field; return the messages that have no field here."""
        self.clear_errors()
        orphans = []
        for key, message in errors.items():
            if key in self.fields:
                self.fields[key].set_error(message)
            else:
                orphans.append(message)
        return orphans


class MessageLabel(ctk.CTkLabel):
    """One line at the bottom of a dialog: errors in red, success in green, info in the normal colour."""

    def __init__(self, master, **kwargs) -> None:
        super().__init__(master, text="", anchor="w", justify="left", wraplength=560, **kwargs)
        self._default_color = self.cget("text_color")

    def show(self, text: str, kind: str = "info") -> None:
        color = {"error": ERROR_COLOR, "ok": OK_COLOR}.get(kind, self._default_color)
        self.configure(text=text, text_color=color)
        self.kind = kind

    def clear(self) -> None:
        self.show("")

    @property
    def text(self) -> str:
        return self.cget("text")


def style_treeview(widget) -> ttk.Style:
    """Colour ttk.Treeview like the surrounding CTk frames for the current appearance mode."""
    style = ttk.Style(widget)
    if style.theme_use() != "default" and "default" in style.theme_names():
        style.theme_use("default")
    dark = ctk.get_appearance_mode() == "Dark"
    bg, fg, sel, head = ("#2b2b2b", "#dce4ee", "#1f538d", "#3a3a3a") if dark else ("#ffffff", "#1a1a1a", "#3b8ed0", "#e5e5e5")
    style.configure("IC.Treeview", background=bg, foreground=fg, fieldbackground=bg, rowheight=26, borderwidth=0)
    style.map("IC.Treeview", background=[("selected", sel)], foreground=[("selected", "#ffffff")])
    style.configure("IC.Treeview.Heading", background=head, foreground=fg, relief="flat")
    style.map("IC.Treeview.Heading", background=[("active", sel)])
    return style


class ListView(ctk.CTkFrame):
    """A styled ttk.Treeview in a CTk frame. ``rows`` are tuples; the first column is the row's key."""

    def __init__(self, master, columns: list[tuple[str, str, int]], height: int = 8,
                 on_select: Callable[[str | None], None] | None = None, selectmode: str = "browse") -> None:
        super().__init__(master)
        style_treeview(self)
        ids = [c[0] for c in columns]
        self.tree = ttk.Treeview(self, columns=ids, show="headings", height=height, style="IC.Treeview",
                                 selectmode=selectmode)
        for cid, heading, width in columns:
            self.tree.heading(cid, text=heading, anchor="w")
            self.tree.column(cid, width=width, anchor="w", stretch=True)
        bar = ctk.CTkScrollbar(self, command=self.tree.yview)
        self.tree.configure(yscrollcommand=bar.set)
        self.tree.pack(side="left", fill="both", expand=True, padx=(4, 0), pady=4)
        bar.pack(side="right", fill="y")
        self._on_select = on_select
        self.tree.bind("<<TreeviewSelect>>", lambda _e: on_select and on_select(self.selected()))

    def _set_appearance_mode(self, mode_string: str) -> None:
        """customtkinter calls this when light/dark changes (the system setting): restyle the ttk list too."""
        super()._set_appearance_mode(mode_string)
        style_treeview(self)

    def set_rows(self, rows: list[tuple], keep_selection: bool = True) -> None:
        previous = self.selected()
        self.tree.delete(*self.tree.get_children())
        for row in rows:
            self.tree.insert("", "end", iid=str(row[0]), values=[("" if v is None else v) for v in row])
        if keep_selection and previous and self.tree.exists(previous):
            self.tree.selection_set(previous)

    def keys(self) -> list[str]:
        return list(self.tree.get_children())

    def row(self, key: str) -> tuple:
        return tuple(self.tree.item(key, "values"))

    def selected(self) -> str | None:
        sel = self.tree.selection()
        return sel[0] if sel else None

    def select(self, key: str | None) -> None:
        if key is None:
            self.tree.selection_remove(*self.tree.selection())
        elif self.tree.exists(key):
            self.tree.selection_set(key)
            self.tree.see(key)


class CheckList(ctk.CTkScrollableFrame):
    """A multi-select list of check boxes; ``checks[name]`` reaches each box."""

    def __init__(self, master, items: Iterable[str] = (), height: int = 110, **kwargs) -> None:
        super().__init__(master, height=height, **kwargs)
        self.checks: dict[str, ctk.CTkCheckBox] = {}
        self.set_items(items)

    def set_items(self, items: Iterable[str], labels: dict[str, str] | None = None) -> None:
        chosen = set(self.selected())
        for box in self.checks.values():
            box.destroy()
        self.checks = {}
        for item in items:
            box = ctk.CTkCheckBox(self, text=(labels or {}).get(item, item))
            box.pack(anchor="w", pady=2, padx=4)
            if item in chosen:
                box.select()
            self.checks[item] = box

    def selected(self) -> list[str]:
        return [k for k, box in self.checks.items() if box.get()]

    def set_selected(self, items: Iterable[str]) -> None:
        wanted = set(items)
        for k, box in self.checks.items():
            box.select() if k in wanted else box.deselect()


class MessageBox(ctk.CTkToplevel):
    """A small non-blocking message window (error / info / question). ``buttons[label]`` reaches each button."""

    def __init__(self, master, title: str, text: str, kind: str = "info",
                 buttons: tuple[str, ...] = ("OK",), on_choice: Callable[[str], None] | None = None) -> None:
        super().__init__(master)
        apply_icon(self)
        self.title(title)
        self.resizable(False, False)
        try:
            self.transient(master.winfo_toplevel())
        except tkinter.TclError:
            pass
        self.text = text
        self.choice: str | None = None
        self._on_choice = on_choice
        color = ERROR_COLOR if kind == "error" else None
        label = ctk.CTkLabel(self, text=text, wraplength=420, justify="left", anchor="w",
                             **({"text_color": color} if color else {}))
        label.pack(padx=20, pady=(20, 12), fill="x")
        row = ctk.CTkFrame(self, fg_color="transparent")
        row.pack(padx=20, pady=(0, 16), anchor="e")
        self.buttons: dict[str, ctk.CTkButton] = {}
        for i, name in enumerate(buttons):
            b = ctk.CTkButton(row, text=name, width=90, command=lambda n=name: self._choose(n),
                              **({} if i == 0 else {"fg_color": "gray40"}))
            b.pack(side="left", padx=(0 if i == 0 else 8, 0))
            self.buttons[name] = b
        self.bind("<Return>", lambda _e: self._choose(buttons[0]))
        self.bind("<Escape>", lambda _e: self._choose(buttons[-1]))
        self._lift_id = self.after(50, self._lift)

    def _lift(self) -> None:
        self._lift_id = None
        try:
            self.lift()
            self.focus_force()
        except tkinter.TclError:
            pass

    def _choose(self, name: str) -> None:
        self.choice = name
        callback = self._on_choice
        if self._lift_id is not None:
            self.after_cancel(self._lift_id)
        self.destroy()
        if callback:
            callback(name)


def show_error(master, text: str, title: str = "Integration Client") -> MessageBox:
    return MessageBox(master, title, text, kind="error")


def show_info(master, text: str, title: str = "Integration Client") -> MessageBox:
    return MessageBox(master, title, text)


def ask_yes_no(master, text: str, on_yes: Callable[[], None], title: str = "Please confirm") -> MessageBox:
    return MessageBox(master, title, text, kind="question", buttons=("Yes", "No"),
                      on_choice=lambda c: on_yes() if c == "Yes" else None)
