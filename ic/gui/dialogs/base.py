"""Panel base class and the single-instance dialog window that hosts a panel (Enter saves, Escape closes)."""
from __future__ import annotations

import gc
import logging
import tkinter
from typing import Any, Callable

import customtkinter as ctk

from ic.errors import ConfigError, ICError
from ic.gui.context import AppContext
from ic.gui.widgets import (ERROR_COLOR, Button, Field, Form, ListView, MessageLabel, apply_icon, ask_unsaved,
                            ScrollFrame, confirm_delete, fit_geometry, fit_minsize, tab_order)
from ic.gui.worker import Worker

log = logging.getLogger("ic.gui")


def user_message(exc: BaseException) -> str:
    """One sentence for the window; unexpected errors are logged with their traceback."""
    if isinstance(exc, ICError):
        return str(exc)
    log.error("unexpected error in the window", exc_info=(type(exc), exc, exc.__traceback__))
    return f"Something unexpected went wrong ({type(exc).__name__}); the details are in the IC log."


def own_window(window: tkinter.Toplevel, owner, title: str, *, size: tuple[int, int] | None = None,
               min_size: tuple[int, int] | None = None) -> None:
    """A new window's icon, title and size (fitted to the screen), kept above ``owner``."""
    apply_icon(window)
    window.title(title)
    if size is not None:
        fit_geometry(window, *size)
    if min_size is not None:
        fit_minsize(window, *min_size)
    try:
        window.transient(owner)
    except tkinter.TclError:
        pass


def ask_save_then_close(window, panel: "Panel", question: str):
    """Save / Discard / Cancel before ``window`` closes: Save closes only once ``panel`` saved."""
    def save_then_close():
        if panel.save():
            window.close(force=True)

    return ask_unsaved(window, question, save_then_close, lambda: window.close(force=True))


class FitOrScroll(ScrollFrame):
    """Holds a form in ``content``: the content fills the frame when there is room and scrolls, with a scroll bar,
    when the window is shorter than the content (125 % display scaling on a 1366 x 768 laptop): no field is cut off.

    It asks for only ``height`` units itself, so a long form never makes its window ask for more than the screen.
    """

    def __init__(self, master, height: int = 160, **kwargs: Any) -> None:
        kwargs.setdefault("fg_color", "transparent")
        super().__init__(master, height=height, corner_radius=0, **kwargs)
        self.grid_columnconfigure(0, weight=1)
        self.grid_rowconfigure(0, weight=1)
        self.content = ctk.CTkFrame(self, fg_color="transparent", corner_radius=0)
        self.content.grid(row=0, column=0, sticky="nsew")
        # the window sees the focus events of all its widgets: Tab onto a field out of view scrolls to it
        self.winfo_toplevel().bind("<FocusIn>", self._see_focus, add=True)

    def _see_focus(self, event) -> None:
        try:
            if not self.winfo_exists() or not self._scrolling:
                return
            widget = self.nametowidget(str(event.widget))
        except (tkinter.TclError, KeyError):
            return  # this frame is gone (a wizard step shown before) or the widget is not a Python one
        if not str(widget).startswith(str(self.content) + "."):
            return
        canvas = self._parent_canvas
        total = max(1, self.winfo_height())
        top = widget.winfo_rooty() - self.winfo_rooty()  # within the scrolled content
        bottom, view_top, view_height = top + widget.winfo_height(), canvas.canvasy(0), canvas.winfo_height()
        if top < view_top:
            canvas.yview_moveto(top / total)
        elif bottom > view_top + view_height:
            canvas.yview_moveto((bottom - view_height) / total)

    def _fit_frame_dimensions_to_canvas(self, event) -> None:
        # the content is as wide as the visible area and at least as high (its row's minimum): a content that
        # grows (an error under a field) still makes this frame ask for more and so scroll
        canvas = self._parent_canvas
        canvas.itemconfigure(self._create_window_id, width=canvas.winfo_width())
        self.grid_rowconfigure(0, minsize=canvas.winfo_height())
        self._show_bar()

    def _content_height(self) -> int:
        return self.content.winfo_reqheight()  # this frame itself is at least as high as the visible area


class RaisedWhenShown(ctk.CTkToplevel):
    """A window brought to the front once it is drawn (some window managers open a new one behind its owner).
    Call ``cancel_raise()`` when it closes, or the pending call would touch a destroyed window."""

    _raise_id: str | None = None

    def raise_when_shown(self, focus: bool = False) -> None:
        self._raise_id = self.after(60, lambda: self._raise_now(focus))

    def _raise_now(self, focus: bool) -> None:
        self._raise_id = None
        try:
            self.lift()
            if focus:
                self.focus_force()
        except tkinter.TclError:
            pass

    def cancel_raise(self) -> None:
        if self._raise_id is not None:
            self.after_cancel(self._raise_id)
            self._raise_id = None


class TaskPrompt(ctk.CTkToplevel):
    """A small window asking what installing the scheduler task needs (Install / Cancel; Enter / Escape).

    Subclasses build their content, then call ``add_buttons()``; ``ok()`` checks it and calls back."""

    def __init__(self, master, title: str, on_ok: Callable[..., None]) -> None:
        super().__init__(master)
        own_window(self, master.winfo_toplevel(), title)
        self.resizable(False, False)
        self._on_ok = on_ok

    def add_buttons(self, padx: int = 20) -> None:
        """The error line (aligned with the content at ``padx``), then Install and Cancel."""
        self.error = ctk.CTkLabel(self, text="", text_color=ERROR_COLOR, anchor="w")
        self.error.pack(fill="x", padx=padx)
        row = ctk.CTkFrame(self, fg_color="transparent")
        row.pack(fill="x", padx=20, pady=(6, 16))
        self.install_button = Button(row, text="Install", width=90, command=self.ok)
        self.install_button.pack(side="right")
        cancel = Button(row, text="Cancel", width=90, secondary=True, command=self.destroy)
        cancel.pack(side="right", padx=8)
        tab_order(cancel, self.install_button)
        self.bind("<Return>", lambda _e: self.ok())
        self.bind("<Escape>", lambda _e: self.destroy())

    def ok(self) -> None:
        raise NotImplementedError

    def finish(self, *answer: Any) -> None:
        """Close, then hand the answer to the caller."""
        callback = self._on_ok
        self.destroy()
        callback(*answer)


class Panel(ctk.CTkFrame):
    """A configuration page. Subclasses fill ``self.body`` and set ``fields``; Enter runs ``default_action``."""

    title = "Integration Client"
    size = "760x520"
    min_size = (560, 380)
    noun = "settings"

    def __init__(self, master, ctx: AppContext, **kwargs: Any) -> None:
        super().__init__(master, fg_color="transparent")
        self.ctx = ctx
        self.fields: dict[str, Field] = {}
        self.workers: list[Worker] = []
        self._baseline: Any = None
        self.message = MessageLabel(self)
        self.message.pack(side="bottom", fill="x", padx=12, pady=(4, 6))
        ctx.subscribe(self._changed)

    # --- unsaved changes ----------------------------------------------------------------------
    def snapshot(self) -> Any:
        """What the user can change, as a comparable value (None: this panel has nothing to save)."""
        return None

    def mark_clean(self) -> None:
        """The form now shows what is saved (after load, new, save)."""
        try:
            self._baseline = self.snapshot()
        except Exception:  # noqa: BLE001 - a half-built form: compare later
            self._baseline = None

    def has_changes(self) -> bool:
        try:
            now = self.snapshot()
        except Exception:  # noqa: BLE001
            return False
        return now is not None and now != self._baseline

    def describe_changes(self) -> str:
        """Names what would be lost, for the question: "the site Main", "the new schedule"."""
        current = getattr(self, "current", None)
        name = getattr(current, "name", None)
        return f"the {self.noun} {name}" if name else f"the new {self.noun}"

    def save(self) -> bool:
        """Save the form; False (with the reason on screen) when it cannot be saved."""
        return True

    def watch_form(self, form: Form) -> None:
        """A message about a field goes away once the user edits that field."""
        form.on_edited(self._field_edited)

    def _field_edited(self, _field: Field, old_error: str) -> None:
        if self.message.kind == "error" and old_error and old_error in self.message.text:
            self.message.clear()

    def _changed(self, what: str) -> None:
        try:
            if self.winfo_exists():
                self.on_changed(what)
        except Exception as exc:  # noqa: BLE001 - another window's save must not break this one
            self.show_exception(exc)

    def on_changed(self, what: str) -> None:
        """Another window saved something (``sites``, ``destinations``, ``schedules``, ``settings``, ``store``)."""

    # --- actions ------------------------------------------------------------------------------
    def default_action(self) -> None:
        """Enter key."""

    def on_close(self) -> None:
        self.ctx.unsubscribe(self._changed)
        for w in self.workers:
            w.stop_polling()
        self.workers = []

    @property
    def busy(self) -> bool:
        return any(w.running for w in self.workers)

    # --- feedback -----------------------------------------------------------------------------
    def show_exception(self, exc: BaseException, prefix: str = "") -> None:
        field = getattr(exc, "field", None) if isinstance(exc, ConfigError) else None
        text = user_message(exc)
        if field and field in self.fields:
            self.fields[field].set_error(text)
            self.message.show(f"{prefix}{text}", "error")
        else:
            self.message.show(f"{prefix}{text}", "error")

    def clear_errors(self) -> None:
        for f in self.fields.values():
            f.set_error(None)
        self.message.clear()

    def run_in_worker(self, target: Callable, on_done: Callable[[Any], None], *, busy_text: str = "Working…",
                      on_event: Callable[[Any], None] | None = None,
                      on_error: Callable[[BaseException], None] | None = None) -> Worker:
        self.message.show(busy_text)

        def done(result):
            self.ctx.commands.refresh()
            on_done(result)
            self._after_work()

        def failed(exc):
            self.ctx.commands.refresh()
            (on_error or self.show_exception)(exc)
            self._after_work()

        worker = Worker(self, target, on_done=done, on_error=failed, on_event=on_event)
        self.workers = [w for w in self.workers if w.running] + [worker]
        worker.start()
        self.ctx.commands.refresh()
        return worker

    def _after_work(self) -> None:
        """A worker finished (well or not): buttons that waited for it follow the new state."""
        update = getattr(self, "_update_buttons", None)
        if update is not None:
            try:
                update()
            except Exception:  # noqa: BLE001 - the window may be closing
                log.debug("button update after work failed", exc_info=True)

    def store(self):
        return self.ctx.require_store()


class ListEditorPanel(Panel):
    """A list of named items on the left and the selected item's form on the right (sites, plugins, schedules).

    Subclasses set ``noun`` (shown in messages) and ``changed_key`` (announced after a delete), and provide
    ``reload(select)``, ``_load(name)`` and ``_remove(name)``.
    """

    noun = "item"
    changed_key = ""
    current: Any = None

    # --- layout shared by the list editors ---------------------------------------------------
    def _build_body(self, pady: tuple[int, int] = (10, 0)) -> ctk.CTkFrame:
        """The body: the list in column 0, the form in column 1 (which takes the spare width)."""
        body = ctk.CTkFrame(self, fg_color="transparent")
        body.pack(fill="both", expand=True, padx=10, pady=pady)
        body.grid_columnconfigure(1, weight=1)
        body.grid_rowconfigure(0, weight=1)
        return body

    def _build_list(self, body: ctk.CTkFrame, width: int, columns: list, max_width: int, new_text: str) -> None:
        """``self.list`` with its New button under it, in a column of fixed ``width``."""
        left = ctk.CTkFrame(body, fg_color="transparent", width=width)
        left.grid(row=0, column=0, sticky="nsew", padx=(0, 10))
        left.pack_propagate(False)  # a long name scrolls the list sideways instead of squeezing the form
        self.list = ListView(left, columns, height=9, on_select=self._on_select, max_width=max_width)
        self.list.pack(fill="both", expand=True)
        self.new_button = Button(left, text=new_text, command=lambda: self.guard(self.new))
        self.new_button.pack(fill="x", pady=(8, 0))

    def _open_or_new(self, select: str | None) -> None:
        """After the list is refilled: open ``select`` when listed, else keep the form (an empty one if none)."""
        if select and select in self.list.keys():
            self.list.select(select)
            self._load(select)
        elif self.current is None:
            self.new()
        self._update_buttons()

    def _build_buttons(self, body: ctk.CTkFrame, test: Callable[[], None] | None = None) -> ctk.CTkFrame:
        """Delete on the left, Save (and Test) on the right; packed before ``body`` so they are never cut."""
        buttons = ctk.CTkFrame(self, fg_color="transparent")
        buttons.pack(side="bottom", fill="x", padx=10, pady=(6, 0), before=body)
        self.delete_button = Button(buttons, text="Delete", secondary=True, command=self.delete)
        self.delete_button.pack(side="left")
        self.save_button = Button(buttons, text="Save", command=self.save)
        self.save_button.pack(side="right")
        if test is not None:
            self.test_button = Button(buttons, text="Test", command=test)
            self.test_button.pack(side="right", padx=(0, 8))
            tab_order(self.test_button, self.save_button)
        return buttons

    def reload(self, select: str | None = None) -> None:
        raise NotImplementedError

    def _load(self, name: str) -> None:
        raise NotImplementedError

    def _remove(self, name: str) -> None:
        """Delete ``name`` from the settings database."""
        raise NotImplementedError

    def _forget_current(self) -> None:
        """Drop the form of the deleted item."""
        self.current = None

    def _saved(self, name: str) -> None:
        """After a successful save: show the saved item selected, say so, and tell the other windows."""
        self.current = None
        self.reload(select=name)
        self.mark_clean()
        self.message.show(f"{self.noun.capitalize()} {name} saved.", "ok")
        self.ctx.changed(self.changed_key)

    def guard(self, then: Callable[[], None], undo: Callable[[], None] | None = None) -> None:
        """Run ``then`` (it replaces the form) now, or after asking to save or discard unsaved changes."""
        if not self.has_changes():
            then()
            return

        def save_first():
            if self.save():
                then()
            elif undo:
                undo()

        self.unsaved_prompt = ask_unsaved(self, f"Save the changes to {self.describe_changes()}?", save_first, then,
                                          undo)

    def on_changed(self, what: str) -> None:
        if what == "store":  # another settings database was chosen
            self.current = None
            self.reload()

    def reopen(self, select: str | None = None) -> None:
        self.reload(select)

    def _on_select(self, name: str | None) -> None:
        if name and (self.current is None or self.current.name != name):
            previous = self.current.name if self.current is not None else None
            def load() -> None:
                self.list.select(name)  # a save in between reloads the list with the saved item selected
                self._load(name)

            self.guard(load, undo=lambda: self.list.select(previous))

    def delete(self) -> None:
        if self.current is None:
            return
        name = self.current.name

        def really():
            try:
                self._remove(name)
            except Exception as exc:  # noqa: BLE001
                self.show_exception(exc)
                return
            self._forget_current()
            self.reload()
            self.message.show(f"{self.noun.capitalize()} {name} deleted.", "ok")
            self.ctx.changed(self.changed_key)

        self.confirm = confirm_delete(self, f"Delete {self.noun} {name}? This cannot be undone.", really,
                                      title=f"Delete {self.noun}")


class PanelDialog(RaisedWhenShown):
    """A window holding one Panel. Open through :func:`open_dialog` so there is only ever one of each."""

    def __init__(self, ctx: AppContext, panel_class: type[Panel], **panel_kwargs: Any) -> None:
        super().__init__(ctx.root)
        self.ctx = ctx
        self.panel_class = panel_class
        width, height = (int(n) for n in panel_class.size.split("x"))
        own_window(self, ctx.root, panel_class.title, size=(width, height), min_size=panel_class.min_size)
        self.panel = panel_class(self, ctx, **panel_kwargs)
        self.panel.pack(fill="both", expand=True)
        self.panel.mark_clean()
        self.bind("<Return>", self._on_return)
        self.bind("<KP_Enter>", self._on_return)
        self.bind("<Escape>", lambda _e: self.close())
        self.protocol("WM_DELETE_WINDOW", self.close)
        self.raise_when_shown(focus=True)

    @property
    def fields(self):
        return self.panel.fields

    def _on_return(self, event) -> str | None:
        if isinstance(event.widget, tkinter.Text):
            return None  # a newline in a multi-line box, not "save"
        self.panel.default_action()
        return "break"

    def close(self, force: bool = False) -> None:
        """Close; with unsaved changes first ask Save / Discard / Cancel (``force``: close without asking)."""
        if not force and self.panel.has_changes():
            prompt = getattr(self, "unsaved_prompt", None)
            if prompt is not None and prompt.winfo_exists():
                prompt.lift()
                return

            self.unsaved_prompt = ask_save_then_close(self, self.panel, f"Save the changes to "
                                                      f"{self.panel.describe_changes()} before closing?")
            return
        self.cancel_raise()
        self.panel.on_close()
        if self.ctx.dialogs.get(self.panel_class) is self:
            del self.ctx.dialogs[self.panel_class]
        self.destroy()
        # Collect the closed window's reference cycles here, in the Tk thread: if a worker thread happened to
        # run the collector, tkinter.Variable.__del__ would touch Tk from the wrong thread.
        gc.collect()


def open_dialog(ctx: AppContext, panel_class: type[Panel], **panel_kwargs: Any) -> PanelDialog:
    """Open the dialog, or raise the one already open (customtkinter's single-instance Toplevel pattern)."""
    existing = ctx.dialogs.get(panel_class)
    if existing is not None and existing.winfo_exists():
        existing.deiconify()
        existing.lift()
        existing.focus()
        if panel_kwargs and hasattr(existing.panel, "reopen"):
            existing.panel.reopen(**panel_kwargs)
        return existing
    dialog = PanelDialog(ctx, panel_class, **panel_kwargs)
    ctx.dialogs[panel_class] = dialog
    return dialog
