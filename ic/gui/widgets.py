"""Small reusable widgets: labelled fields with an error line, a styled list, a check list, message boxes."""
from __future__ import annotations

import sys
import tkinter
from datetime import datetime, timezone
from pathlib import Path
from tkinter import filedialog, ttk
from typing import Any, Callable, Iterable

import customtkinter as ctk

ERROR_COLOR = ("#b3261e", "#ff8a80")
OK_COLOR = ("#1b6e20", "#8bd98f")
WARN_COLOR = ("#8a5300", "#ffb74d")
HELP_COLOR = ("gray35", "gray65")


def format_when(value) -> str:
    """Stored times are UTC (naive or ISO with Z); show them in the computer's local time."""
    if value is None or value == "":
        return "Never"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


# the scheduler's state in words (main window and Application Settings)
STATUS_TEXT = {
    "running": "Running",
    "stopped": "Stopped",
    "not installed": "Not installed",
    "unknown": "Unknown",
}
DISABLED_FG = ("gray78", "gray30")
DISABLED_TEXT = ("gray48", "gray58")
SECONDARY_FG = ("gray45", "gray35")
SECONDARY_HOVER = ("gray35", "gray28")
DANGER_FG = ("#b3261e", "#b3261e")
DANGER_HOVER = ("#8c1d17", "#8c1d17")
FIELD_WIDTH = 260  # an input's requested width; inputs shrink or grow with the window
# a disabled check box's text in customtkinter's theme (gray60 on the light window, gray45 on the dark one) was hard
# to read; the same greys as a disabled button's text instead
for _kind in ("CTkCheckBox", "CTkRadioButton", "CTkSwitch"):
    if _kind in ctk.ThemeManager.theme:
        ctk.ThemeManager.theme[_kind]["text_color_disabled"] = list(DISABLED_TEXT)
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


FOCUS_RING = ("gray8", "gray94")  # the focus ring: near black on the light window, near white on the dark one
FOCUS_RING_WIDTH = 2


def _toplevel_binds_return(widget) -> bool:
    """The window binds Enter to its default action (a dialog's Save, a message's default button)."""
    try:
        top = widget.winfo_toplevel()
        return bool(top.bind("<Return>"))
    except tkinter.TclError:
        return False


class KeyboardFocus:
    """Keyboard access for customtkinter's canvas-drawn widgets (they take no focus by themselves): Tab reaches the
    widget's frame unless it is disabled or hidden, a ring is drawn while it has the focus, and keys press it.

    Subclasses call ``_ic_keyboard(keys)`` at the end of ``__init__`` (``keys``: key sequence -> action) and draw the
    ring in ``_ic_draw_ring(on)``."""

    _ic_focused = False

    def _ic_keyboard(self, keys: dict[str, Callable[[], Any]]) -> None:
        tkinter.Frame.configure(self, takefocus=self._ic_takes_focus)
        tkinter.Misc.bind(self, "<FocusIn>", lambda _e: self._ic_focus(True), "+")
        tkinter.Misc.bind(self, "<FocusOut>", lambda _e: self._ic_focus(False), "+")
        for sequence, action in keys.items():
            tkinter.Misc.bind(self, sequence, lambda _e, a=action: a(), "+")

    def _ic_takes_focus(self, _name: str = "") -> int:
        try:
            return int(self.cget("state") != "disabled" and bool(self.winfo_viewable()))
        except tkinter.TclError:
            return 0

    def _ic_focus(self, on: bool) -> None:
        self._ic_focused = on
        try:
            self._ic_draw_ring(on)
        except tkinter.TclError:
            pass  # closing

    def _ic_draw_ring(self, on: bool) -> None:
        raise NotImplementedError

    def has_focus_ring(self) -> bool:
        """Tab has put the keyboard focus here (the ring is drawn)."""
        return self._ic_focused

    # customtkinter sends the focus to the text label, which Tab traversal and the ring do not know about
    def focus_set(self) -> None:
        tkinter.Misc.focus_set(self)

    focus = focus_set

    def focus_force(self) -> None:
        tkinter.Misc.focus_force(self)


def tab_order(*widgets) -> None:
    """Tab visits these siblings in this order (Tk follows the order they were made in): buttons packed from the
    right, or a row packed at the bottom before the content above it, are visited as they are seen, left to right
    and top to bottom."""
    for before, after in zip(widgets, widgets[1:]):
        if before is not None and after is not None:
            tkinter.Misc.lift(after, before)


class Button(KeyboardFocus, ctk.CTkButton):
    """A CTkButton that looks disabled when it is (customtkinter keeps the blue fill and only greys the text), and
    that Tab reaches: Space presses it, and Enter too unless the window binds Enter to its default action.

    ``secondary=True``: the grey style of Back / Delete / Cancel; ``danger=True``: red (a destructive choice).
    """

    def __init__(self, master, *, secondary: bool = False, danger: bool = False, **kwargs: Any) -> None:
        if danger:
            kwargs.setdefault("fg_color", DANGER_FG)
            kwargs.setdefault("hover_color", DANGER_HOVER)
        elif secondary:
            kwargs.setdefault("fg_color", SECONDARY_FG)
            kwargs.setdefault("hover_color", SECONDARY_HOVER)
        kwargs.setdefault("text_color_disabled", DISABLED_TEXT)
        state = kwargs.pop("state", "normal")
        super().__init__(master, **kwargs)
        self._enabled_fg = self.cget("fg_color")
        self._ic_border = (self.cget("border_width"), self.cget("border_color"))
        if state == "disabled":
            self.configure(state="disabled")
        self._ic_keyboard({"<space>": self._ic_space, "<Return>": self._ic_return, "<KP_Enter>": self._ic_return})

    def _ic_space(self) -> str:
        self.invoke()
        return "break"

    def _ic_return(self) -> str | None:
        if _toplevel_binds_return(self):
            return None  # the window's Enter (its default action) runs
        self.invoke()
        return "break"

    def _ic_draw_ring(self, on: bool) -> None:
        width, colour = (FOCUS_RING_WIDTH, FOCUS_RING) if on else self._ic_border
        super().configure(border_width=width, border_color=colour)

    def configure(self, require_redraw: bool = False, **kwargs: Any) -> None:
        enabled_fg = getattr(self, "_enabled_fg", None)
        if enabled_fg is not None:
            if "fg_color" in kwargs:
                self._enabled_fg = kwargs["fg_color"]
                if kwargs.get("state", self.cget("state")) == "disabled":
                    kwargs["fg_color"] = DISABLED_FG
            if "state" in kwargs:
                kwargs["fg_color"] = DISABLED_FG if kwargs["state"] == "disabled" else self._enabled_fg
        super().configure(require_redraw, **kwargs)

    config = configure


class OptionMenu(KeyboardFocus, ctk.CTkOptionMenu):
    """A CTkOptionMenu that looks disabled when it is (customtkinter keeps the blue fill, in dark mode the greyed
    text on it is hard to tell from an enabled menu), and keeps its width: a 200-character site name is cut in the
    menu (its list shows all of it) instead of widening the window past the screen.

    Tab reaches it: Space opens its list (arrows and Enter choose there), Down / Up choose the next / previous value
    without opening it."""

    def __init__(self, master, **kwargs: Any) -> None:
        kwargs.setdefault("text_color_disabled", DISABLED_TEXT)
        kwargs.setdefault("dynamic_resizing", False)
        state = kwargs.pop("state", "normal")
        super().__init__(master, **kwargs)
        self._enabled_colors = {k: self.cget(k) for k in ("fg_color", "button_color")}
        if state == "disabled":
            self.configure(state="disabled")
        self._ic_keyboard({"<space>": self._ic_open, "<Down>": lambda: self._ic_step(1),
                           "<Up>": lambda: self._ic_step(-1)})

    def _ic_open(self) -> str:
        if self.cget("state") != "disabled" and self._values:
            self._open_dropdown_menu()
        return "break"

    def _ic_step(self, step: int) -> str:
        values = list(self._values)
        if self.cget("state") != "disabled" and values:
            current = self.get()
            index = values.index(current) + step if current in values else 0
            if 0 <= index < len(values) and values[index] != current:
                self._dropdown_callback(values[index])  # as if chosen from the list: the variable and command follow
        return "break"

    def _ic_draw_ring(self, on: bool) -> None:
        canvas = self._canvas
        canvas.delete("ic_focus_ring")
        if on:
            inset = FOCUS_RING_WIDTH // 2
            canvas.create_rectangle(inset, inset, canvas.winfo_width() - inset - 1, canvas.winfo_height() - inset - 1,
                                    outline=self._apply_appearance_mode(FOCUS_RING), width=FOCUS_RING_WIDTH,
                                    tags="ic_focus_ring")

    def _draw(self, no_color_updates: bool = False) -> None:
        super()._draw(no_color_updates)
        if self._ic_focused:
            self._ic_draw_ring(True)  # resized, or light / dark changed

    def configure(self, require_redraw: bool = False, **kwargs: Any) -> None:
        enabled = getattr(self, "_enabled_colors", None)
        if enabled is not None:
            for key in ("fg_color", "button_color"):
                if key in kwargs:
                    enabled[key] = kwargs[key]
            state = kwargs.get("state", self.cget("state"))
            if "state" in kwargs or any(k in kwargs for k in enabled):
                for key, colour in enabled.items():
                    kwargs[key] = DISABLED_FG if state == "disabled" else colour
        super().configure(require_redraw, **kwargs)

    config = configure


class _Toggle(KeyboardFocus):
    """Keyboard access for a check box, radio button or switch: Space toggles (a radio button: selects) it; the ring
    is drawn around its text (and its box takes the ring's colour), as Windows marks a focused check box. The
    text's frame is always there (in the window's colour when not focused), so the focus never moves anything."""

    def _ic_toggle_keys(self) -> None:
        label = getattr(self, "_text_label", None)
        if label is not None:
            label.configure(highlightthickness=FOCUS_RING_WIDTH, bd=0)
        self._ic_box_border = self.cget("border_color")
        self._ic_keyboard({"<space>": self._ic_space})
        self._ic_draw_ring(False)

    def _ic_space(self) -> str:
        if self.cget("state") != "disabled":
            (self.invoke if isinstance(self, ctk.CTkRadioButton) else self.toggle)()
        return "break"

    def _ic_draw_ring(self, on: bool) -> None:
        label = getattr(self, "_text_label", None)
        if label is not None:
            colour = FOCUS_RING if on else self._bg_color
            label.configure(highlightbackground=self._apply_appearance_mode(colour),
                            highlightcolor=self._apply_appearance_mode(colour))
        box = FOCUS_RING if on else self._ic_box_border
        if self.cget("border_color") != box:
            super().configure(border_color=box)

    def _draw(self, no_color_updates: bool = False) -> None:
        super()._draw(no_color_updates)
        if hasattr(self, "_ic_box_border"):
            self._ic_draw_ring(self._ic_focused)  # light / dark changed: the ring's (or the window's) colour


class CheckBox(_Toggle, ctk.CTkCheckBox):
    """A CTkCheckBox that Tab reaches; Space ticks it."""

    def __init__(self, master, **kwargs: Any) -> None:
        super().__init__(master, **kwargs)
        self._ic_toggle_keys()


class RadioButton(_Toggle, ctk.CTkRadioButton):
    """A CTkRadioButton that Tab reaches; Space selects it."""

    def __init__(self, master, **kwargs: Any) -> None:
        super().__init__(master, **kwargs)
        self._ic_toggle_keys()


class Switch(_Toggle, ctk.CTkSwitch):
    """A CTkSwitch that Tab reaches; Space switches it."""

    def __init__(self, master, **kwargs: Any) -> None:
        super().__init__(master, **kwargs)
        self._ic_toggle_keys()


class Field:
    """One labelled input on a grid form, with a help line (optional) and its own error line underneath.

    kind: text | password | int | choice | bool | directory | file | connection_string | multiline
    ``get()`` returns str (bool for kind bool); ``set_error(None)`` clears the message (and the red frame).
    ``required`` puts " *" after the label; ``save_dialog`` (kind file) browses with a Save dialog (a new file can
    be chosen) filtered by ``filetypes``.
    """

    def __init__(self, form: "Form", key: str, label: str, kind: str = "text", *, choices: Iterable[str] = (),
                 help: str = "", on_button: Callable[["Field"], None] | None = None, width: int = FIELD_WIDTH,
                 required: bool = False, save_dialog: bool = False,
                 filetypes: list[tuple[str, str]] | None = None) -> None:
        self.form, self.key, self.kind = form, key, kind
        self.required = required
        self.save_dialog, self.filetypes = save_dialog, filetypes
        self.label = ctk.CTkLabel(form, text=label + (" *" if required else ""), anchor="w")
        self.container = ctk.CTkFrame(form, fg_color="transparent")
        self.button: ctk.CTkButton | None = None
        self.has_saved_secret = False
        self._masked: tuple[str, str] | None = None  # (real value, what the box shows)
        choices = tuple(choices)
        if kind == "choice":
            self.var = ctk.StringVar(value=choices[0] if choices else "")
            self.widget = OptionMenu(self.container, values=list(choices) or [""], variable=self.var,
                                     width=min(width, 200), dynamic_resizing=False)
        elif kind == "bool":
            self.var = ctk.BooleanVar(value=False)
            self.widget = CheckBox(self.container, text="", variable=self.var, onvalue=True, offvalue=False)
        elif kind == "multiline":
            self.widget = ctk.CTkTextbox(self.container, width=width, height=70)
        else:
            self.widget = ctk.CTkEntry(self.container, width=width, show="•" if kind == "password" else "")
        self.widget.pack(side="left", fill="x", expand=True)
        self._border = self.widget.cget("border_color") if isinstance(self.widget, ctk.CTkEntry) else None
        if kind in ("directory", "file", "connection_string"):
            text = "..." if kind == "connection_string" else "Browse…"
            self.button = Button(self.container, text=text, width=36 if text == "..." else 80,
                                 command=lambda: (on_button or _default_browse)(self))
            self.add_extra(self.button)
        self.error = ctk.CTkLabel(form, text="", text_color=ERROR_COLOR, anchor="w", justify="left",
                                  wraplength=width + 80, height=0, font=ctk.CTkFont(size=12))
        self.help = help
        self.help_label = (ctk.CTkLabel(form, text=help, text_color=HELP_COLOR, anchor="w", justify="left",
                                        wraplength=width + 80, height=0, font=ctk.CTkFont(size=12))
                           if help else None)
        if kind not in ("choice", "bool"):
            self.widget.bind("<KeyRelease>", lambda _e: self._edited(), add=True)

    def add_extra(self, widget, padx: tuple[int, int] = (6, 0)) -> None:
        """A widget at the right of the input (a Browse… button, a unit menu, a check box). It is packed before the
        input, so a narrow window shrinks the input, never the extra."""
        widget.pack(side="right", padx=padx, before=self.widget)

    def grid(self, row: int) -> int:
        self.label.grid(row=row, column=0, sticky="nw", padx=(10, 8), pady=(8, 0))
        self.container.grid(row=row, column=1, sticky="ew", padx=(0, 10), pady=(8, 0))
        row += 1
        if self.help_label is not None:
            self.help_label.grid(row=row, column=1, sticky="w", padx=(2, 10))
            row += 1
        self.error.grid(row=row, column=1, sticky="w", padx=(2, 10))
        return row + 1

    def _edited(self) -> None:
        """The user typed: an error shown for the old value is no longer true (validators may set a new one)."""
        old = self.error_text
        if old:
            self.set_error(None)
            self.form.edited(self, old)

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
            state = self.widget.cget("state")
            if state != "normal":
                self.widget.configure(state="normal")
            self.widget.delete(0, "end")
            if value not in (None, ""):
                self.widget.insert(0, str(value))
            if state != "normal":
                self.widget.configure(state=state)

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
        """Hide or show the whole row (label, input, help, error line) keeping its place in the grid."""
        for widget in (self.label, self.container, self.error, self.help_label):
            if widget is not None:
                widget.grid() if visible else widget.grid_remove()

    def set_enabled(self, enabled: bool) -> None:
        state = "normal" if enabled else "disabled"
        self.widget.configure(state=state)
        if self.button is not None:
            self.button.configure(state=state)

    def set_error(self, message: str | None) -> None:
        self.error.configure(text=message or "")
        if self._border is not None:
            self.widget.configure(border_color=ERROR_COLOR if message else self._border)

    @property
    def error_text(self) -> str:
        return self.error.cget("text")

    @property
    def marked_invalid(self) -> bool:
        return self._border is not None and self.widget.cget("border_color") == ERROR_COLOR

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
    elif field.save_dialog:  # a file that may not exist yet (a new SQLite database)
        current = Path(field.get()) if field.get() else None
        path = filedialog.asksaveasfilename(
            parent=field.form, confirmoverwrite=False,
            initialdir=str(current.parent) if current else None, initialfile=current.name if current else None,
            filetypes=field.filetypes or [("All files", "*")],
            defaultextension=(field.filetypes or [("", "")])[0][1].split()[0].lstrip("*") or None)
    else:
        path = filedialog.askopenfilename(parent=field.form, initialdir=None,
                                          filetypes=field.filetypes or [("All files", "*")])
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
        self._edit_listeners: list[Callable[[Field, str], None]] = []
        self.grid_columnconfigure(1, weight=1)
        self._rewrap_id: str | None = None
        self.bind("<Configure>", self._rewrap_later, add=True)

    def _rewrap_later(self, _event=None) -> None:
        if self._rewrap_id is None:
            self._rewrap_id = self.after_idle(self._rewrap)

    def _rewrap(self) -> None:
        """Help and error lines wrap at the width of their input (they wrapped at a fixed 340 pixels: a wide window
        left half of it empty and made a long help text three times as tall)."""
        self._rewrap_id = None
        try:
            scale = widget_scaling(self)
            for field in self.fields.values():
                width = field.container.winfo_width()
                if width < 100:
                    continue  # not laid out yet, or hidden
                wrap = max(150, int(width / scale) - 4)  # customtkinter multiplies a wrap length by the scaling
                for label in (field.help_label, field.error):
                    if label is not None and abs(int(label.cget("wraplength")) - wrap) > 8:
                        label.configure(wraplength=wrap)
        except tkinter.TclError:
            pass  # closing

    def destroy(self) -> None:
        if self._rewrap_id is not None:
            try:
                self.after_cancel(self._rewrap_id)
            except tkinter.TclError:
                pass
        super().destroy()

    def on_edited(self, callback: Callable[[Field, str], None]) -> None:
        """``callback(field, old_error)`` when typing clears the error shown at a field."""
        self._edit_listeners.append(callback)

    def edited(self, field: Field, old_error: str) -> None:
        for callback in list(self._edit_listeners):
            callback(field, old_error)

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


_DRAWN_FONTS: dict[tuple[str, int], Any] = {}


class MessageLabel(ctk.CTkFrame):
    """The message line of a dialog: errors in red, success in green, warnings in amber, info in the normal colour.

    Its height is fixed (two lines) and its text wraps at its own width, so a long message never pushes the
    buttons around; a longer text is cut with "… (more)" (``text`` keeps all of it) and a click on it shows the
    whole message in a message window (``full_box``).
    """

    LINES = 2
    MORE = " … (more)"

    def __init__(self, master, **kwargs) -> None:
        font = _font(master, "list")
        self._font = font
        # the font is in real pixels, the frame's height in customtkinter's units (it multiplies them by the scaling)
        height = round(font.metrics("linespace") * self.LINES / widget_scaling(master)) + 8
        super().__init__(master, fg_color="transparent", height=height)
        self.pack_propagate(False)
        self.label = ctk.CTkLabel(self, text="", anchor="nw", justify="left", wraplength=560, **kwargs)
        self.label.pack(fill="both", expand=True)
        self._default_color = self.label.cget("text_color")
        self._text = ""
        self.kind = "info"
        self.clipped = False
        self.full_box: MessageBox | None = None
        self.bind("<Configure>", lambda _e: self._fit(), add=True)
        self.label.bind("<Button-1>", lambda _e: self.show_all(), add=True)

    def show(self, text: str, kind: str = "info") -> None:
        color = {"error": ERROR_COLOR, "ok": OK_COLOR, "warn": WARN_COLOR}.get(kind, self._default_color)
        self._text = text
        self.kind = kind
        self.label.configure(text_color=color)
        self._fit()

    def _fit(self) -> None:
        # customtkinter multiplies the wrap length (and the font) by the display scaling; the frame's width is in
        # real pixels: wrap in its units, measure with the font as drawn, in real pixels
        scale = widget_scaling(self)
        real = max(200, self.winfo_width() - round(8 * scale))
        self.label.configure(wraplength=int(real / scale))
        shown = _clip(self._text, self._drawn_font(), real, self.LINES, self.MORE)
        self.clipped = shown != self._text
        self.label.configure(text=shown, cursor="hand2" if self.clipped else "")

    def _drawn_font(self):
        """The label's font as Tk draws it (customtkinter's size times the display scaling)."""
        import tkinter.font

        spec = str(self.label._label.cget("font")) if hasattr(self.label, "_label") else ""
        if not spec:
            return self._font
        font = _DRAWN_FONTS.get((spec, id(self._root())))
        if font is None:
            font = _DRAWN_FONTS[(spec, id(self._root()))] = tkinter.font.Font(root=self._root(), font=spec)
        return font

    def show_all(self) -> "MessageBox | None":
        """The whole of a message that was cut, in a message window (none when it fits)."""
        if not self.clipped:
            return None
        kind = {"error": "error", "warn": "warning"}.get(self.kind, "info")
        self.full_box = MessageBox(self.winfo_toplevel(), "Message", self._text, kind=kind)
        return self.full_box

    def clear(self) -> None:
        self.show("")

    @property
    def text(self) -> str:
        return self._text

    @property
    def shown(self) -> str:
        return self.label.cget("text")


def _clip(text: str, font, width: int, lines: int, more: str = " …") -> str:
    """Cut ``text`` so that, wrapped at word ends as Tk wraps a label at ``width`` pixels, it takes at most
    ``lines`` lines, ending with ``more`` when cut."""
    # Tk lays a label's text out glyph by glyph (no kerning: a few % wider than font.measure) and keeps the space
    # after a line's last word within the wrap length
    width = int(width * 0.95) - font.measure(" ")
    out_lines: list[str] = []
    line = ""
    for word in text.split(" "):
        trial = f"{line} {word}" if line else word
        if line and font.measure(trial) > width:
            out_lines.append(line)
            line = word
            if len(out_lines) == lines:  # this word would begin one line too many
                break
        else:
            line = trial
    else:
        return text
    last = out_lines[-1]
    while last and font.measure(last + more) > width:
        last = last.rsplit(" ", 1)[0] if " " in last else ""
    return " ".join(out_lines[:-1] + [last]).strip() + more


def style_treeview(widget) -> ttk.Style:
    """Colour ttk.Treeview like the surrounding CTk frames for the current appearance mode, in the same font as the
    form labels; headings have separators so their words never run together."""
    style = ttk.Style(widget)
    if style.theme_use() != "default" and "default" in style.theme_names():
        style.theme_use("default")
    dark = ctk.get_appearance_mode() == "Dark"
    bg, fg, sel, head, line = (("#2b2b2b", "#dce4ee", "#1f538d", "#3a3a3a", "#555555") if dark else
                               ("#ffffff", "#1a1a1a", "#3b8ed0", "#e5e5e5", "#b8b8b8"))
    font = list_font(widget)
    rowheight = font.metrics("linespace") + round(10 * widget_scaling(widget))
    style.configure("IC.Treeview", background=bg, foreground=fg, fieldbackground=bg, rowheight=rowheight,
                    borderwidth=0, font=font)
    style.map("IC.Treeview", background=[("selected", sel)], foreground=[("selected", "#ffffff")])
    style.configure("IC.Treeview.Heading", background=head, foreground=fg, relief="raised", borderwidth=1,
                    bordercolor=line, lightcolor=head, darkcolor=line, padding=(6, 3), font=heading_font(widget))
    style.map("IC.Treeview.Heading", background=[("active", sel)])
    return style


_FONTS: dict[tuple[str, int, float], Any] = {}


def _font(widget, name: str, weight: str = "normal"):
    """customtkinter's label font (family and size from its theme) in ``widget``'s Tk interpreter, as large as the
    labels are drawn: at 125 % display scaling the lists' rows were smaller than every other text."""
    import tkinter.font

    root = widget._root()
    scale = widget_scaling(widget)
    key = (name, id(root), scale)
    font = _FONTS.get(key)
    if font is None or getattr(font, "_ic_root", None) is not root:
        theme = ctk.ThemeManager.theme["CTkFont"]
        font = _FONTS[key] = tkinter.font.Font(root=root, family=theme["family"],
                                               size=-round(abs(theme["size"]) * scale), weight=weight)
        font._ic_root = root
    return font


def list_font(widget):
    """The font of the form labels (customtkinter's), shared by list rows."""
    return _font(widget, "list")


def heading_font(widget):
    return _font(widget, "heading", weight="bold")


class ListView(ctk.CTkFrame):
    """A styled ttk.Treeview in a CTk frame. ``rows`` are tuples; the first column is the row's key.

    Column widths are minimums: after ``set_rows`` each column widens to its longest text (up to ``max_width``),
    so nothing is cut ("Quarter-hourly I"); a horizontal scroll bar appears when the list is wider than its room.
    """

    MAX_ASK = (560, 6)  # at most this wide (pixels) and tall (rows) a list asks to be; given more, it fills it

    def __init__(self, master, columns: list[tuple[str, str, int]], height: int = 8,
                 on_select: Callable[[str | None], None] | None = None, selectmode: str = "browse",
                 max_width: int = 320) -> None:
        super().__init__(master)
        style_treeview(self)
        ids = [c[0] for c in columns]
        self.columns = columns
        self.max_width = max_width
        self.scale = scale = widget_scaling(self)  # the tree's sizes are real pixels, the frame's are scaled
        self.tree = ttk.Treeview(self, columns=ids, show="headings", height=height, style="IC.Treeview",
                                 selectmode=selectmode)
        for cid, heading, width in columns:
            self.tree.heading(cid, text=heading, anchor="w")
            self.tree.column(cid, width=round(width * scale), minwidth=40, anchor="w", stretch=cid == ids[-1])
        self.ybar = ctk.CTkScrollbar(self, command=self.tree.yview)
        self.xbar = ctk.CTkScrollbar(self, command=self.tree.xview, orientation="horizontal", height=12)
        self.tree.configure(yscrollcommand=self._yscroll, xscrollcommand=self._xscroll)
        self.grid_columnconfigure(0, weight=1)
        self.grid_rowconfigure(0, weight=1)
        self.tree.grid(row=0, column=0, sticky="nsew", padx=(4, 0), pady=4)
        self.ybar.grid(row=0, column=1, sticky="ns")
        self._on_select = on_select
        self.tree.bind("<<TreeviewSelect>>", lambda _e: on_select and on_select(self.selected()))
        # made shorter (a small window): the selected row stays in view
        self.tree.bind("<Configure>", lambda _e: self._see_selection(), add=True)
        self._fit_columns([])
        # the list asks for the room of its first column widths and rows, whatever its content: a long text
        # scrolls it sideways instead of making the whole window ask for more than the screen has
        rowheight = list_font(self).metrics("linespace") + round(10 * scale)
        self.configure(width=min(sum(c[2] for c in columns) + 24, self.MAX_ASK[0]),
                       height=round(rowheight * (min(height, self.MAX_ASK[1]) + 1) / scale) + 14)
        self.grid_propagate(False)
        self._ic_wheel = self.tree  # the wheel over the list's frame scrolls the list

    def _yscroll(self, first, last) -> None:
        """The vertical scroll bar only when there are more rows than the list shows."""
        self.ybar.set(first, last)
        show_scrollbar(self.ybar, not (float(first) <= 0.0 and float(last) >= 1.0), row=0, column=1, sticky="ns")

    def _see_selection(self) -> None:
        selection = self.tree.selection()
        if selection:
            self.tree.see(selection[0])

    def _xscroll(self, first, last) -> None:
        self.xbar.set(first, last)
        show_scrollbar(self.xbar, not (float(first) <= 0.0 and float(last) >= 1.0), row=1, column=0, sticky="ew",
                       padx=(4, 0))

    def _fit_columns(self, rows: list[tuple]) -> None:
        font, bold, scale = list_font(self), heading_font(self), self.scale
        most = round(self.max_width * scale)
        for i, (cid, heading, width) in enumerate(self.columns):
            need = bold.measure(heading) + round(24 * scale)
            for row in rows:
                if i < len(row) and row[i] is not None:
                    need = max(need, font.measure(str(row[i])) + round(16 * scale))
            self.tree.column(cid, width=max(round(width * scale), min(need, most)), minwidth=min(need, most))

    def _set_appearance_mode(self, mode_string: str) -> None:
        """customtkinter calls this when light/dark changes (the system setting): restyle the ttk list too."""
        super()._set_appearance_mode(mode_string)
        style_treeview(self)

    def set_rows(self, rows: list[tuple], keep_selection: bool = True) -> None:
        previous = self.selected()
        self.tree.delete(*self.tree.get_children())
        for row in rows:
            self.tree.insert("", "end", iid=str(row[0]), values=[("" if v is None else v) for v in row])
        self._fit_columns(rows)
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


def shrink_scrollbar(scrollable, height: int) -> None:
    """customtkinter's scroll bar asks for 200 px whatever the frame's height: a short scrolled frame would grow."""
    bar = getattr(scrollable, "_scrollbar", None)
    if bar is not None:
        try:
            bar.configure(height=max(20, height))
        except Exception:  # noqa: BLE001 - another customtkinter version: keep its default
            pass


def show_scrollbar(bar, show: bool, **grid: Any) -> None:
    """Grid a scroll bar (``grid``: where, the first time) or take it out of the grid, and keep it so: customtkinter's
    scroll bar redraws itself with update_idletasks() while the list it serves is being laid out, and Tk then drew a
    bar taken out of the grid anyway (a bar in the middle of the XML Files list, over an empty list)."""
    bar._ic_show = show
    if not getattr(bar, "_ic_watched", False):
        bar._ic_watched = True
        tkinter.Misc.bind(bar, "<Map>", lambda _e: bar.after_idle(lambda: _keep_hidden(bar)), "+")
    gridded = bool(bar.grid_info())
    if show and not gridded:
        bar.grid(**grid) if grid else bar.grid()
    elif not show:
        _keep_hidden(bar)


def _keep_hidden(bar) -> None:
    try:
        if getattr(bar, "_ic_show", True) or not bar.winfo_exists():
            return
        if not bar.grid_info():
            if not bar.winfo_ismapped():
                return
            tkinter.Grid.grid_configure(bar)  # back in the grid (where it was), so that removing it unmaps it
        bar.grid_remove()
    except tkinter.TclError:
        pass  # closing


# --- the mouse wheel: only the innermost scrollable thing under the pointer scrolls ---------------------------------
WHEEL_SEQUENCES = ("<MouseWheel>", "<Button-4>", "<Button-5>")
SHIFT_MASK = 0x0001


def _overflows(view: tuple[float, float]) -> bool:
    """Its content is larger than what it shows (else there is nothing to scroll and the wheel goes outward)."""
    first, last = (float(v) for v in view)
    return first > 0.0 or last < 1.0


def _scrolls(widget):
    """What ``widget`` scrolls with the wheel, or None: a text box, a list, a scrolled frame's canvas."""
    if isinstance(widget, (tkinter.Text, tkinter.Listbox, ttk.Treeview)):
        return widget
    if isinstance(widget, ctk.CTkTextbox):  # its scroll bars' master: the text box inside
        return getattr(widget, "_textbox", None)
    return getattr(widget, "_ic_wheel", None)  # a ScrollFrame (and its canvas and frame), a ListView


def wheel_target(widget, horizontal: bool = False):
    """The innermost scrollable thing at ``widget`` (where the pointer is) whose content does not fit: a list in a
    scrolled page, not the page. None over a scroll bar (it scrolls what it belongs to by itself) or when nothing
    around the pointer has more to show."""
    while widget is not None:
        if isinstance(widget, ctk.CTkScrollbar):
            return None
        target = _scrolls(widget)
        if target is not None:
            try:
                view = target.xview() if horizontal else target.yview()
            except tkinter.TclError:
                view = (0.0, 1.0)
            if _overflows(view):
                return target
        widget = getattr(widget, "master", None)
    return None


def wheel_steps(event) -> int:
    """Units to scroll for one wheel event (negative: up), as customtkinter counts them on each system."""
    if event.num == 4:
        return -1
    if event.num == 5:
        return 1
    try:
        delta = int(event.delta or 0)
    except (TypeError, ValueError):
        return 0
    if sys.platform.startswith("win"):
        return -int(delta / 6) or (-1 if delta > 0 else 1 if delta < 0 else 0)  # canvas unit: one pixel
    if sys.platform == "darwin":
        return -delta
    return -1 if delta > 0 else 1 if delta < 0 else 0  # X11 (Tk 8.7 sends MouseWheel there): one notch


def install_wheel(widget) -> None:
    """One handler per Tk interpreter for the wheel on every scrolled frame (instead of customtkinter's one per
    frame, which scrolled a page and the list under the pointer together). Lists and text boxes scroll by their own
    class bindings; this scrolls a ScrollFrame only when it is the innermost scrollable thing under the pointer."""
    root = widget._root()
    if getattr(root, "_ic_wheel_installed", False):
        return
    root._ic_wheel_installed = True

    def on_wheel(event) -> None:
        target_widget = event.widget
        if isinstance(target_widget, str):
            try:
                target_widget = root.nametowidget(target_widget)
            except (KeyError, tkinter.TclError):
                return
        horizontal = bool(int(event.state or 0) & SHIFT_MASK) if isinstance(event.state, int) else False
        target = wheel_target(target_widget, horizontal)
        if target is None or not getattr(target, "_ic_scroll_canvas", False):
            return  # nothing to scroll, or a list / text box: its own binding scrolled it
        steps = wheel_steps(event)
        if steps:
            (target.xview_scroll if horizontal else target.yview_scroll)(steps, "units")

    for sequence in WHEEL_SEQUENCES:
        root.bind_all(sequence, on_wheel, add=True)


class ScrollFrame(ctk.CTkScrollableFrame):
    """customtkinter's scrolled frame, but the wheel scrolls it only when the pointer is not over a scrollable thing
    inside it (a list, a text box, another scrolled frame) that has more to show (see install_wheel), and its scroll
    bar shows only when there is something to scroll."""

    def __init__(self, master, **kwargs: Any) -> None:
        super().__init__(master, **kwargs)
        canvas = self._parent_canvas
        canvas._ic_scroll_canvas = True
        for part in (self, canvas, self._parent_frame):
            part._ic_wheel = canvas
        install_wheel(self)
        self._scrolling = True
        self.bind("<Configure>", self._show_bar, add=True)
        canvas.bind("<Configure>", self._show_bar, add=True)

    def _content_height(self) -> int:
        return self.winfo_reqheight()

    def _show_bar(self, _event=None) -> None:
        """The scroll bar when the content is taller than the visible area, else none (and the view at the top)."""
        try:
            canvas = self._parent_canvas
            need = self._content_height() > canvas.winfo_height() + 1
            self._scrolling = need
            show_scrollbar(self._scrollbar, need)
            if not need:
                canvas.yview_moveto(0)
        except tkinter.TclError:
            pass  # closing

    def _create_grid(self) -> None:
        """customtkinter lays its parts out again (on a change of scaling or style), scroll bar included."""
        super()._create_grid()
        if not getattr(self, "_scrolling", True):
            self._scrollbar.grid_remove()

    def _mouse_wheel_all(self, event) -> None:
        """customtkinter's own handler (bound for every frame on "all"): left to install_wheel's one handler."""


class CheckList(ScrollFrame):
    """A multi-select list of check boxes; ``checks[name]`` reaches each box. A long name wraps at the list's width
    (two sites named alike differ at the end of their names: a name cut at the edge would hide which is which)."""

    def __init__(self, master, items: Iterable[str] = (), height: int = 110, **kwargs) -> None:
        super().__init__(master, height=height, **kwargs)
        shrink_scrollbar(self, height)
        self.checks: dict[str, ctk.CTkCheckBox] = {}
        self.wrap = 0
        canvas = getattr(self, "_parent_canvas", None)
        if canvas is not None:
            canvas.bind("<Configure>", lambda _e: self._rewrap(), add=True)
        self.set_items(items)

    def _rewrap(self) -> None:
        wrap = max(120, self._parent_canvas.winfo_width() - 48)  # less the box and its padding
        if wrap != self.wrap:
            self.wrap = wrap
            for box in self.checks.values():
                self._wrap_box(box)

    def _wrap_box(self, box) -> None:
        label = getattr(box, "_text_label", None)  # customtkinter's text of the check box (a tkinter Label)
        if label is not None and self.wrap:
            try:
                label.configure(wraplength=self.wrap, justify="left")
            except tkinter.TclError:
                pass

    def set_items(self, items: Iterable[str], labels: dict[str, str] | None = None) -> None:
        chosen = set(self.selected())
        for box in self.checks.values():
            box.destroy()
        self.checks = {}
        for item in items:
            box = CheckBox(self, text=(labels or {}).get(item, item))
            box.pack(anchor="w", pady=2, padx=4)
            self._wrap_box(box)
            if item in chosen:
                box.select()
            self.checks[item] = box

    def selected(self) -> list[str]:
        return [k for k, box in self.checks.items() if box.get()]

    def set_selected(self, items: Iterable[str]) -> None:
        wanted = set(items)
        for k, box in self.checks.items():
            box.select() if k in wanted else box.deselect()


ICONS = {"error": ("✖", ERROR_COLOR), "warning": ("⚠", WARN_COLOR), "question": ("?", ("#1f6aa5", "#90caf9")),
         "info": ("i", ("#1f6aa5", "#90caf9"))}


class MessageBox(ctk.CTkToplevel):
    """A small non-blocking message window (error / warning / question / info) with an icon.

    ``buttons[label]`` reaches each button. ``default`` is the button Enter chooses (drawn as the main button);
    Escape chooses ``cancel`` (default: the last button). ``danger`` names a destructive button (drawn red).
    ``transient=False``: a window of its own (its master is hidden, e.g. the refusal before the window opens).
    """

    def __init__(self, master, title: str, text: str, kind: str = "info",
                 buttons: tuple[str, ...] = ("OK",), on_choice: Callable[[str], None] | None = None,
                 default: str | None = None, cancel: str | None = None, danger: str | None = None,
                 transient: bool = True) -> None:
        super().__init__(master)
        apply_icon(self)
        self.title(title)
        self.resizable(False, False)
        if transient:  # kept above its window; False when that window is hidden (it would hide the message too)
            try:
                self.transient(master.winfo_toplevel())
            except tkinter.TclError:
                pass
        self.text = text
        self.kind = kind
        self.choice: str | None = None
        self._on_choice = on_choice
        self.default = default or buttons[0]
        cancel = cancel or buttons[-1]
        body = ctk.CTkFrame(self, fg_color="transparent")
        body.pack(padx=20, pady=(20, 12), fill="x")
        symbol, symbol_color = ICONS.get(kind, ICONS["info"])
        self.icon = ctk.CTkLabel(body, text=symbol, text_color=symbol_color, width=36,
                                 font=ctk.CTkFont(size=26, weight="bold"))
        self.icon.pack(side="left", anchor="n", padx=(0, 12))
        color = ERROR_COLOR if kind == "error" else None
        label = ctk.CTkLabel(body, text=text, wraplength=420, justify="left", anchor="w",
                             **({"text_color": color} if color else {}))
        label.pack(side="left", fill="x", expand=True)
        # the title bar cuts a long title: the window is at least as wide as its title
        ctk.CTkFrame(self, fg_color="transparent", height=1,
                     width=min(560, 140 + 9 * len(title))).pack()
        row = ctk.CTkFrame(self, fg_color="transparent")
        row.pack(padx=20, pady=(0, 16), anchor="e")
        self.buttons: dict[str, ctk.CTkButton] = {}
        for i, name in enumerate(buttons):
            b = Button(row, text=name, width=90, command=lambda n=name: self._choose(n),
                       danger=name == danger, secondary=name not in (danger, self.default))
            b.pack(side="left", padx=(0 if i == 0 else 8, 0))
            self.buttons[name] = b
        self.bind("<Return>", lambda _e: self._choose(self.default))
        self.bind("<Escape>", lambda _e: self._choose(cancel))
        self.protocol("WM_DELETE_WINDOW", lambda: self._choose(cancel))
        self._lift_id = self.after(50, self._lift)

    def _lift(self) -> None:
        self._lift_id = None
        try:
            self.lift()
            self.focus_force()
            self.buttons[self.default].focus_set()
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


def confirm_delete(master, text: str, on_yes: Callable[[], None], title: str = "Delete?") -> MessageBox:
    """A warning icon, a red Delete button, and Cancel as the default (Enter does not delete)."""
    return MessageBox(master, title, text, kind="warning", buttons=("Delete", "Cancel"), default="Cancel",
                      danger="Delete", on_choice=lambda c: on_yes() if c == "Delete" else None)


def ask_unsaved(master, text: str, on_save: Callable[[], None], on_discard: Callable[[], None],
                on_cancel: Callable[[], None] | None = None, title: str = "Unsaved changes") -> MessageBox:
    """Save / Discard / Cancel for changes that would otherwise be lost. Enter saves; Escape cancels."""

    def chosen(choice: str) -> None:
        if choice == "Save":
            on_save()
        elif choice == "Discard":
            on_discard()
        elif on_cancel:
            on_cancel()

    return MessageBox(master, title, text, kind="warning", buttons=("Save", "Discard", "Cancel"), default="Save",
                      cancel="Cancel", on_choice=chosen)


def style_menu(menu: tkinter.Menu) -> None:
    """A tkinter menu (bar or drop-down) in the colours of the current light/dark mode."""
    dark = ctk.get_appearance_mode() == "Dark"
    bg, fg, active, disabled = (("#2b2b2b", "#dce4ee", "#1f538d", "#777777") if dark else
                                ("#f0f0f0", "#1a1a1a", "#3b8ed0", "#a0a0a0"))
    try:
        menu.configure(background=bg, foreground=fg, activebackground=active, activeforeground="#ffffff",
                       disabledforeground=disabled, relief="flat", borderwidth=0)
    except tkinter.TclError:
        pass


def screen_budget(window) -> tuple[int, int]:
    """The room a window may take: the screen less a taskbar (40 px) and a title bar (30 px)."""
    return window.winfo_screenwidth(), window.winfo_screenheight() - 70


def widget_scaling(widget) -> float:
    """customtkinter's widget scaling (the display's scaling on Windows): it multiplies a label's wrap length and
    font by it, while winfo_width() answers in real pixels."""
    try:
        return float(widget._get_widget_scaling()) or 1.0
    except Exception:  # noqa: BLE001 - a plain tkinter widget: no scaling
        return 1.0


def window_scaling(window) -> float:
    """customtkinter's window scaling (the display's scaling on Windows: 1.25 at 125 %). ``geometry()`` and
    ``minsize()`` multiply the sizes they are given by it; the screen is measured in real pixels."""
    try:
        return float(window._get_window_scaling()) or 1.0
    except Exception:  # noqa: BLE001 - a plain tkinter window: no scaling
        return 1.0


def fit_geometry(window, width: int, height: int, reserve_height: int = 0) -> tuple[int, int]:
    """Give ``window`` its wanted size, shrunk to the screen budget, centred over its master, never off screen.

    Sizes are in customtkinter's units (multiplied by the display scaling: 960 x 660 takes 1200 x 825 real pixels
    at 125 %, more than a 1366 x 768 laptop has); the budget and the position are in real pixels.
    ``reserve_height``: real pixels the window has above its client area (a menu bar)."""
    scale = window_scaling(window)
    max_w, max_h = screen_budget(window)
    max_h -= reserve_height
    width, height = min(width, int(max_w / scale)), min(height, int(max_h / scale))
    real_w, real_h = round(width * scale), round(height * scale)
    try:
        master = window.master.winfo_toplevel() if window.master is not None else None
        if master is not None and master.winfo_viewable():
            x = master.winfo_rootx() + (master.winfo_width() - real_w) // 2
            y = master.winfo_rooty() + (master.winfo_height() - real_h) // 2
        else:
            x, y = (max_w - real_w) // 2, (max_h - real_h) // 2
    except tkinter.TclError:
        x, y = 0, 0
    x = max(0, min(x, max_w - real_w))
    y = max(0, min(y, max_h - real_h))
    window.geometry(f"{width}x{height}+{x}+{y}")
    return width, height


def fit_minsize(window, width: int, height: int) -> None:
    """``window.minsize``, but never more than the screen budget (at 150 % a 940 x 600 minimum is 1410 x 900 real
    pixels: the window could not be made small enough for the screen)."""
    scale = window_scaling(window)
    max_w, max_h = screen_budget(window)
    window.minsize(min(width, int(max_w / scale)), min(height, int(max_h / scale)))
