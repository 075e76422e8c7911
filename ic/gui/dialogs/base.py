"""Panel base class and the single-instance dialog window that hosts a panel (Enter saves, Escape closes)."""
from __future__ import annotations

import gc
import logging
import tkinter
from typing import Any, Callable

import customtkinter as ctk

from ic.errors import ConfigError, ICError
from ic.gui.context import AppContext
from ic.gui.widgets import Field, MessageLabel, apply_icon, ask_yes_no
from ic.gui.worker import Worker

log = logging.getLogger("ic.gui")


def user_message(exc: BaseException) -> str:
    """One sentence for the window; unexpected errors are logged with their traceback."""
    if isinstance(exc, ICError):
        return str(exc)
    log.error("unexpected error in the window", exc_info=(type(exc), exc, exc.__traceback__))
    return f"Something unexpected went wrong ({type(exc).__name__}); the details are in the IC log."


class Panel(ctk.CTkFrame):
    """A configuration page. Subclasses fill ``self.body`` and set ``fields``; Enter runs ``default_action``."""

    title = "Integration Client"
    size = "760x520"

    def __init__(self, master, ctx: AppContext, **kwargs: Any) -> None:
        super().__init__(master, fg_color="transparent")
        self.ctx = ctx
        self.fields: dict[str, Field] = {}
        self.workers: list[Worker] = []
        self.message = MessageLabel(self)
        self.message.pack(side="bottom", fill="x", padx=12, pady=(4, 8))
        ctx.subscribe(self._changed)

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

        def failed(exc):
            self.ctx.commands.refresh()
            (on_error or self.show_exception)(exc)

        worker = Worker(self, target, on_done=done, on_error=failed, on_event=on_event)
        self.workers = [w for w in self.workers if w.running] + [worker]
        worker.start()
        self.ctx.commands.refresh()
        return worker

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
        self.message.show(f"{self.noun.capitalize()} {name} saved.", "ok")
        self.ctx.changed(self.changed_key)

    def on_changed(self, what: str) -> None:
        if what == "store":  # another settings database was chosen
            self.current = None
            self.reload()

    def reopen(self, select: str | None = None) -> None:
        self.reload(select)

    def _on_select(self, name: str | None) -> None:
        if name and (self.current is None or self.current.name != name):
            self._load(name)

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

        self.confirm = ask_yes_no(self, f"Delete {self.noun} {name}?", really)


class PanelDialog(ctk.CTkToplevel):
    """A window holding one Panel. Open through :func:`open_dialog` so there is only ever one of each."""

    def __init__(self, ctx: AppContext, panel_class: type[Panel], **panel_kwargs: Any) -> None:
        super().__init__(ctx.root)
        apply_icon(self)
        self.ctx = ctx
        self.panel_class = panel_class
        self.title(panel_class.title)
        self.geometry(panel_class.size)
        self.minsize(480, 300)
        try:
            self.transient(ctx.root)
        except tkinter.TclError:
            pass
        self.panel = panel_class(self, ctx, **panel_kwargs)
        self.panel.pack(fill="both", expand=True)
        self.bind("<Return>", self._on_return)
        self.bind("<KP_Enter>", self._on_return)
        self.bind("<Escape>", lambda _e: self.close())
        self.protocol("WM_DELETE_WINDOW", self.close)
        self._raise_id = self.after(60, self._raise)

    @property
    def fields(self):
        return self.panel.fields

    def _raise(self) -> None:
        self._raise_id = None
        try:
            self.lift()
            self.focus_force()
        except tkinter.TclError:
            pass

    def _on_return(self, event) -> str | None:
        if isinstance(event.widget, tkinter.Text):
            return None  # a newline in a multi-line box, not "save"
        self.panel.default_action()
        return "break"

    def close(self) -> None:
        if self._raise_id is not None:
            self.after_cancel(self._raise_id)
            self._raise_id = None
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
