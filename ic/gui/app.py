"""The application window: one CTk root, a tkinter menu bar driven by commands, the main panel, the dialogs."""
from __future__ import annotations

import gc
import logging
import os
import sys
import tkinter

import customtkinter as ctk

from ic import __version__
from ic.errors import ICError
from ic.gui import services_adapter as services
from ic.gui.commands import Command
from ic.gui.context import AppContext
from ic.gui.dialogs.base import PanelDialog, open_dialog
from ic.gui.main_window import MainPanel
from ic.gui.widgets import (MessageBox, apply_icon, ask_unsaved, fit_geometry, fit_minsize, show_error,
                             style_menu)

log = logging.getLogger("ic.gui")
MENU_BAR_HEIGHT = 30  # real pixels above the window's client area (a tkinter menu bar is not scaled)


class App(ctk.CTk):
    """``show_wizard``: None = decide (first run: no settings database or no sites), True/False = force.
    ``settings_url``: the settings database named by ``--settings`` (else IC_SETTINGS, bootstrap.json, default)."""

    def __init__(self, show_wizard: bool | None = None, settings_url: str | None = None) -> None:
        ctk.set_appearance_mode("system")
        super().__init__()
        apply_icon(self)
        self.title(f"Integration Client {__version__}")
        fit_geometry(self, 960, 660, reserve_height=MENU_BAR_HEIGHT)
        fit_minsize(self, 720, 520)
        self.last_error: str | None = None
        self.error_box: MessageBox | None = None
        self.ctx = AppContext(self)
        first_run = not settings_url and not services.settings_db_exists()
        self.ctx.subscribe(self._on_change)
        if not first_run:  # a named SQLite file that is gone is not created: the main window says which and why
            self.ctx.open_store(settings_url, must_exist=True)
        self._register_commands()
        self._build_menu()
        self.main = MainPanel(self, self.ctx)
        self.main.pack(fill="both", expand=True)
        self.ctx.commands.refresh()
        self.bind_all("<Control-q>", lambda _e: self.request_close())
        self.protocol("WM_DELETE_WINDOW", self.request_close)
        if show_wizard is None:
            show_wizard = first_run or (self.ctx.store is not None and not self.ctx.store.list_sites())
        self.wizard = None
        self.wizard_pending = bool(show_wizard)
        if show_wizard:
            self._wizard_id = self.after(100, lambda: self.open_wizard(start_at_database=first_run))

    # --- commands and menus -----------------------------------------------------------------------
    def _register_commands(self) -> None:
        from ic.gui.dialogs.api_tester import ApiTesterPanel
        from ic.gui.dialogs.app_settings import AppSettingsPanel
        from ic.gui.dialogs.log_viewer import LogViewerPanel
        from ic.gui.dialogs.notify import NotifyPanel
        from ic.gui.dialogs.plugin import PluginPanel
        from ic.gui.dialogs.schedule import SchedulePanel
        from ic.gui.dialogs.settings_db import SettingsDbPanel
        from ic.gui.dialogs.site import SitePanel

        c = self.ctx.commands
        has_store = lambda: self.ctx.store is not None  # noqa: E731

        def opener(panel):
            return lambda: self.open(panel)

        c.add(Command("settings_db", "Settings Database…", opener(SettingsDbPanel)))
        c.add(Command("sites", "Site Configuration…", opener(SitePanel), has_store))
        c.add(Command("plugins", "Plugin Configuration…", opener(PluginPanel), has_store))
        c.add(Command("schedules", "Schedule Configuration…", self._open_schedules, has_store))
        c.add(Command("app_settings", "Application Settings…", opener(AppSettingsPanel), has_store))
        c.add(Command("notify", "Notification Settings…", opener(NotifyPanel), has_store))
        c.add(Command("wizard", "First-Run Wizard…", lambda: self.open_wizard(start_at_database=False)))
        c.add(Command("api_tester", "API Tester…", opener(ApiTesterPanel), has_store))
        c.add(Command("log", "Log File…", opener(LogViewerPanel)))
        c.add(Command("run_now", "Run Selected Schedule Now",
                      lambda: self.main.run_selected(),
                      lambda: has_store() and self.main.selected_schedule() is not None
                      and not (self.main.run_worker and self.main.run_worker.running)))
        c.add(Command("exit", "Exit", self.request_close, accelerator="Ctrl+Q"))
        c.add(Command("about", "About", self.show_about))

    def _build_menu(self) -> None:
        c = self.ctx.commands
        bar = tkinter.Menu(self)
        self.menus: dict[str, tkinter.Menu] = {}
        layout = {
            "File": ["run_now", None, "exit"],
            "Setup": ["settings_db", "sites", "plugins", "schedules", None, "app_settings", "notify", None, "wizard"],
            "Tools": ["api_tester", "log"],
            "Help": ["about"],
        }
        for title, ids in layout.items():
            menu = tkinter.Menu(bar, tearoff=False)
            menu.configure(postcommand=lambda m=menu: c.refresh_menu(m))
            for cmd_id in ids:
                if cmd_id is None:
                    menu.add_separator()
                else:
                    c.add_to_menu(menu, cmd_id)
            bar.add_cascade(label=title, menu=menu)
            self.menus[title] = menu
        self.configure(menu=bar)
        self.menubar = bar
        self._style_menus()

    def _style_menus(self) -> None:
        for menu in (self.menubar, *self.menus.values()):
            style_menu(menu)

    def _set_appearance_mode(self, mode_string: str) -> None:
        """customtkinter calls this when light/dark changes: the tkinter menu bar follows."""
        super()._set_appearance_mode(mode_string)
        if getattr(self, "menubar", None) is not None:
            self._style_menus()

    def show_about(self) -> MessageBox:
        store = self.ctx.store
        where = _describe_location(store.url) if store is not None else "not chosen yet"
        text = (f"Integration Client {__version__}\n\n"
                "Copies BeyondTrust Remote Support and Privileged Remote Access session data, recordings and site "
                "backups to a folder or a database, on a schedule.\n\n"
                f"Settings database: {where}\nLog folder: {services.log_folder(store)}")
        self.about_box = MessageBox(self, "About Integration Client", text)
        return self.about_box

    def _on_change(self, what: str) -> None:
        if what in ("store", "settings"):
            try:
                services.setup_gui_logging(self.ctx.store)
            except Exception:  # noqa: BLE001 - logging must never stop the window
                log.debug("logging setup failed", exc_info=True)

    def open(self, panel_class, **kwargs) -> PanelDialog:
        return open_dialog(self.ctx, panel_class, **kwargs)

    def _open_schedules(self) -> None:
        from ic.gui.dialogs.schedule import SchedulePanel

        self.open(SchedulePanel, select=self.main.selected_schedule())

    def open_wizard(self, start_at_database: bool = True):
        from ic.gui.dialogs.wizard import WizardDialog

        self.wizard_pending = False
        if self.wizard is not None and self.wizard.winfo_exists():
            self.wizard.lift()
            return self.wizard
        self.wizard = WizardDialog(self.ctx, start_at_database=start_at_database, on_finish=self.offer_scheduler)
        return self.wizard

    def offer_scheduler(self) -> None:
        """End of the setup: without the scheduler no schedule runs by itself, so offer to install it."""
        def ask(state: str) -> None:
            if state != "not installed" or self.ctx.store is None:
                return
            has_schedule = bool(self.ctx.store.list_schedules())
            text = ("Your setup is saved. " if has_schedule else "") + (
                "Install the scheduler now? It checks every minute whether a schedule is due and runs it, also "
                "when this window is closed. (Later: the Install Scheduler button in the main window, or "
                "Setup > Application Settings.)")
            self.scheduler_offer = MessageBox(self, "Install the scheduler?", text, kind="question",
                                              buttons=("Install", "Not Now"), default="Install",
                                              on_choice=lambda c: self.main.install_scheduler() if c == "Install"
                                              else None)

        self.main.refresh_scheduler_status(then=ask)

    # --- closing --------------------------------------------------------------------------------
    def request_close(self) -> None:
        """The window's close box, File > Exit, Ctrl+Q: ask before losing unsaved changes in an open dialog."""
        dirty = [d for d in self.ctx.dialogs.values() if d.winfo_exists() and d.panel.has_changes()]
        wizard_dirty = (self.wizard is not None and self.wizard.winfo_exists() and self.wizard.panel is not None
                        and self.wizard.step > 0 and self.wizard.panel.has_changes())
        if not dirty and not wizard_dirty:
            self.close()
            return
        what = dirty[0].panel.describe_changes() if dirty else self.wizard.panel.describe_changes()
        more = f" (and {len(dirty) + wizard_dirty - 1} more window(s))" if len(dirty) + wizard_dirty > 1 else ""

        def save_all() -> None:
            panels = [d.panel for d in dirty] + ([self.wizard.panel] if wizard_dirty else [])
            if all(p.save() for p in panels):
                self.close()

        self.unsaved_prompt = ask_unsaved(self, f"Save the changes to {what}{more} before quitting?", save_all,
                                          self.close)

    # --- errors ---------------------------------------------------------------------------------
    def report_callback_exception(self, exc_type, exc, tb) -> None:  # noqa: D401 - Tk hook
        """Any uncaught error in a callback: one sentence in a message window, the traceback in the log."""
        if isinstance(exc, ICError):
            text = str(exc)
        else:
            log.error("unexpected error in the window", exc_info=(exc_type, exc, tb))
            text = f"Something unexpected went wrong ({exc_type.__name__}); the details are in the IC log."
        self.last_error = text
        try:
            self.error_box = show_error(self, text)
        except tkinter.TclError:
            pass

    def close(self) -> None:
        if self.wizard_pending:
            self.after_cancel(self._wizard_id)
        for dialog in list(self.ctx.dialogs.values()):
            try:
                dialog.close(force=True)
            except tkinter.TclError:
                pass
        if self.wizard is not None and self.wizard.winfo_exists():
            self.wizard.close(force=True)
        self.main.destroy()
        self.ctx.close()
        services.shutdown_gui_logging()
        for pending in self.tk.splitlist(self.tk.call("after", "info")):
            try:  # customtkinter's own timers (text box scrollbars, tab switching) would fire on dead widgets
                self.after_cancel(pending)
            except tkinter.TclError:
                pass
        self.quit()
        self.destroy()
        gc.collect()  # in the Tk thread (see PanelDialog.close)


def _describe_location(url: str) -> str:
    """Where the settings live, without a password: the file for SQLite, else the kind and server."""
    if url.startswith("sqlite"):
        return url.split("///", 1)[-1] or "in memory"
    try:
        return services.connection_module().mask_url(url)
    except Exception:  # noqa: BLE001
        return url.split("://", 1)[0]


def startup_refusal(settings_url: str | None = None) -> str | None:
    """The sentence that stops the window from opening, or None. A settings database named on purpose at start
    (``--settings``, IC_SETTINGS) that is a SQLite file which does not exist is a typo: refused as the command line
    refuses it (ic.services.settings), nothing is created. The per-user default (a first start) is created as
    before; a location saved under Setup that is gone opens the window, which says so (Setup can fix it)."""
    if not settings_url and not os.environ.get("IC_SETTINGS"):
        return None
    try:
        services.require_existing_settings(settings_url)
    except ICError as exc:
        return str(exc)
    return None


def show_refusal(text: str, on_close=None) -> MessageBox:
    """The refusal in a message window of its own (the main window does not open); ``on_close`` after OK."""
    root = ctk.CTk()
    apply_icon(root)
    root.withdraw()  # only the message shows; it is not transient (a withdrawn master would hide it on Windows)
    box = MessageBox(root, "Integration Client", text, kind="error", transient=False,
                     on_choice=lambda _c: (on_close or root.quit)())
    box.root = root
    # in the middle of the screen (no window to centre it over; Windows would put it top left): measured while
    # withdrawn and shown once placed, so it is never first drawn in the corner and then moved
    box.withdraw()
    box.update_idletasks()
    width, height = box.winfo_reqwidth(), box.winfo_reqheight()
    x, y = (box.winfo_screenwidth() - width) // 2, (box.winfo_screenheight() - height) // 3
    box.geometry(f"+{max(0, x)}+{max(0, y)}")
    box.deiconify()
    return box


def run_gui(settings_url: str | None = None) -> int:
    services.setup_gui_logging(None)  # the default log folder until the settings database says otherwise
    refusal = startup_refusal(settings_url)
    if refusal is not None:
        log.error("The window did not open: %s", refusal)
        try:
            box = show_refusal(refusal)
        except tkinter.TclError:
            print(refusal, file=sys.stderr)
            return 1
        box.root.mainloop()
        try:
            box.root.destroy()
        except tkinter.TclError:
            pass
        return 1
    try:
        app = App(settings_url=settings_url)
    except tkinter.TclError as exc:
        print(f"The window cannot open here ({exc}); use the command line (--help).")
        return 2
    app.mainloop()
    return 0
