"""Schedule Configuration and the main window's schedules list, driven through the real windows."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ic.gui.testing import pump, running_app, screenshot
from ic.settings import DestinationConfig, SiteConfig

pytestmark = pytest.mark.usefixtures("xvfb")


@pytest.fixture
def configured(store, tmp_path):
    store.save_site(SiteConfig("Main", "main.example.com", "id"), client_secret="secret")
    store.save_site(SiteConfig("Lab", "lab.example.com", "id"), client_secret="secret")
    store.save_destination(DestinationConfig("Files", "folder", {"directory": str(tmp_path / "files")}))
    store.save_destination(DestinationConfig("Warehouse", "sql", {"url": f"sqlite:///{tmp_path / 'w.db'}"},
                                             secret_fields=("url",)))
    return store


def open_schedules(app):
    from ic.gui.dialogs.schedule import SchedulePanel

    d = app.open(SchedulePanel)
    pump(app)
    return d


def add_transfer(d, site, dest):
    d.fields["site"].set(site)
    d.fields["destination"].set(dest)
    pump(d)
    d.panel.add_button.invoke()
    pump(d)
    return d.panel.rows[-1]


def test_schedule_with_two_transfers_saved_and_reopened(app, configured):
    d = open_schedules(app)
    p = d.panel
    d.fields["name"].set("Nightly")
    files = add_transfer(d, "Main", "Files")
    files.checks["recordings"].select()
    files.checks["backup"].select()
    sql = add_transfer(d, "Lab", "Warehouse")
    # a database takes session data only: recordings and backups are disabled for it
    assert all(sql.checks[t].cget("state") == "disabled" for t in ("recordings", "smsr", "shell", "backup"))
    assert sql.checks["session"].cget("state") == "normal"
    p.every_entry.delete(0, "end")
    p.every_entry.insert(0, "2")
    p.unit_var.set("days")
    p._unit_changed()
    p.at_entry.insert(0, "02:30")
    screenshot(d, "schedule-configuration")
    p.save_button.invoke()
    pump(app)
    assert p.message.text == "Schedule Nightly saved.", p.message.text
    s = configured.get_schedule("Nightly")
    assert s.every_seconds == 2 * 86400 and s.at_time == "02:30"
    assert [(t.site, t.destination, t.data_types) for t in s.transfers] == [
        ("Main", "Files", ["session", "recordings", "backup"]), ("Lab", "Warehouse", ["session"])]
    d.close()
    pump(app)
    # the main window lists it with the guide's summary columns
    assert app.main.schedules.row("Nightly")[:4] == ("Nightly", "2", "2 days at 02:30", "Never")
    d = open_schedules(app)
    d.panel.list.select("Nightly")
    pump(app)
    assert d.fields["name"].get() == "Nightly"
    assert [r.data_types() for r in d.panel.rows] == [["session", "recordings", "backup"], ["session"]]
    assert (d.panel.every_entry.get(), d.panel.unit_var.get(), d.panel.at_entry.get()) == ("2", "days", "02:30")


def test_run_every_limits_and_time_of_day_rules_are_shown(app, configured):
    d = open_schedules(app)
    p = d.panel
    d.fields["name"].set("Bad")
    add_transfer(d, "Main", "Files")
    p.every_entry.delete(0, "end")
    p.every_entry.insert(0, "8")
    p.unit_var.set("days")
    p._unit_changed()
    assert not p.save()
    assert "between 1 minute and 7 days" in p.every_error.cget("text")
    p.every_entry.delete(0, "end")
    p.every_entry.insert(0, "x")
    assert not p.save()
    assert "whole number" in p.every_error.cget("text")
    p.every_entry.delete(0, "end")
    p.every_entry.insert(0, "1")
    p.at_entry.insert(0, "25:00")
    assert not p.save()
    assert "25:00" in p.every_error.cget("text")
    # time of day only for day-based periods: the box is disabled for hours
    p.unit_var.set("hours")
    p._unit_changed()
    assert p.at_entry.cget("state") == "disabled" and p.at_entry.get() == ""
    assert p.save(), p.message.text
    assert configured.get_schedule("Bad").every_seconds == 3600


def test_no_transfer_and_missing_name_are_refused(app, configured):
    d = open_schedules(app)
    p = d.panel
    d.fields["name"].set("Empty")
    assert not p.save()
    assert "Add at least one transfer" in p.transfers_error.cget("text")
    add_transfer(d, "Main", "Files")
    d.fields["name"].set("")
    assert not p.save()
    assert "name" in d.fields["name"].error_text.lower()
    assert configured.list_schedules() == []


def test_delete_schedule_updates_the_main_window(app, configured):
    d = open_schedules(app)
    d.fields["name"].set("Temp")
    add_transfer(d, "Main", "Files")
    assert d.panel.save()
    pump(app)
    assert app.main.schedules.keys() == ["Temp"]
    d.panel.delete_button.invoke()
    pump(app)
    d.panel.confirm.buttons["Delete"].invoke()
    pump(app)
    assert configured.list_schedules() == []
    assert app.main.schedules.keys() == []


def test_main_window_shows_last_program_run_and_last_run(app, configured):
    from ic.settings import ScheduleConfig, TransferConfig

    configured.save_schedule(ScheduleConfig("Hourly", 3600, [TransferConfig("Main", "Files", ["session"])]))
    configured.mark_schedule_run("Hourly", datetime(2024, 5, 1, 8, 30), "ok")
    configured.set_setting("last_program_run", "2024-05-01T08:31:00Z")
    app.main.refresh()
    pump(app)
    local = lambda *t: datetime(*t, tzinfo=timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M")  # noqa: E731
    assert app.main.last_run_label.cget("text") == local(2024, 5, 1, 8, 31)
    row = app.main.schedules.row("Hourly")
    assert row[:4] == ("Hourly", "1", "1 hour", local(2024, 5, 1, 8, 30))
    assert row[4] == "Now" and row[5] == "OK"  # owed since 2024: due at the next check; "ok" said as "OK"
    # the status page shows a schedule from the start; Run Now follows the selection (Thonny-style predicate)
    assert app.main.selected_schedule() == "Hourly"
    assert app.main.run_button.cget("state") == "normal"
    app.main.schedules.select(None)
    pump(app)
    assert app.main.run_button.cget("state") == "disabled"
    assert pump(app, lambda: app.main.scheduler_state is not None, timeout=30)
    assert app.main.scheduler_state in ("running", "stopped", "not installed", "unknown")


def test_status_page_says_the_last_run_in_words_the_next_run_and_charts_30_runs(app, configured):
    from datetime import timedelta

    from ic.services.history import RunRecord, record_run
    from ic.settings import ScheduleConfig, TransferConfig

    configured.save_schedule(ScheduleConfig("Nightly", 86400, [TransferConfig("Main", "Files", ["session"])],
                                            at_time="02:00"))
    now = datetime.now(timezone.utc)
    for i in range(35):  # more than the chart shows
        started = now - timedelta(days=35 - i)
        failed = i == 33
        record_run(configured, RunRecord("Nightly", started, started + timedelta(minutes=3), trigger="slot",
                                         status="failed" if failed else "ok", sessions=0 if failed else 100 + i,
                                         recordings=0 if failed else 7, failed=int(failed),
                                         message="Cannot find main.example.com: check the site's host name."
                                         if failed else ""))
    last = now - timedelta(minutes=5)
    record_run(configured, RunRecord("Nightly", last, last + timedelta(minutes=2), trigger="slot", sessions=412,
                                     recordings=37, backups=1))
    app.main.refresh()
    app.main.schedules.select("Nightly")
    pump(app)
    words = app.main.last_words.cget("text")
    assert "412 sessions, 37 recordings and 1 backup copied; nothing failed" in words, words
    assert words.startswith(("Today", "Yesterday"))
    nxt = app.main.next_words.cget("text")
    assert "02:00" in nxt or "Due now" in nxt, nxt
    chart = app.main.chart
    assert len(chart.bars) == 30
    assert [k for *_x, k in chart.bars].count("failed") == 1
    assert chart.find_withtag("failed-mark")
    assert chart.bars[-1][2] == "ok"  # newest on the right
    # pointing at the failed bar says that run in words
    x0, x1, _ = next(b for b in chart.bars if b[2] == "failed")
    # warp: the X pointer really moves there, so a pointer left elsewhere by an earlier test cannot send a <Leave>
    chart.event_generate("<Motion>", x=(x0 + x1) // 2, y=40, warp=True)
    pump(app)
    assert "failed" in app.main.chart_caption.cget("text") and "main.example.com" in app.main.chart_caption.cget(
        "text")
    screenshot(app, "main-window-status-page")


def test_an_empty_main_window_says_how_to_start(store):
    with running_app() as app:
        assert app.main.empty.winfo_ismapped()
        assert "No schedules yet" in app.main.empty_label.cget("text")
        app.main.setup_button.invoke()
        pump(app)
        assert app.wizard is not None and app.wizard.winfo_exists()
        screenshot(app, "main-window-empty")


def test_a_site_saved_in_another_window_appears_in_the_open_schedule_and_api_tester(app, configured):
    from ic.gui.dialogs.api_tester import ApiTesterPanel
    from ic.gui.dialogs.site import SitePanel

    sched = open_schedules(app)
    sched.fields["name"].set("Being edited")
    tester = app.open(ApiTesterPanel)
    sites = app.open(SitePanel)
    pump(app)
    for key, value in dict(name="Branch", host="branch.example.com", client_id="id", client_secret="s").items():
        sites.fields[key].set(value)
    assert sites.panel.save()
    pump(app)
    assert "Branch" in sched.fields["site"].widget.cget("values")
    assert sched.fields["name"].get() == "Being edited"  # the edit in progress is kept
    assert "Branch" in tester.panel.sites.checks


def test_list_columns_are_as_wide_as_their_texts(app, configured):
    from ic.gui.widgets import heading_font, list_font
    from ic.settings import ScheduleConfig, TransferConfig

    name = "Quarter-hourly session data from both sites"
    configured.save_schedule(ScheduleConfig(name, 900, [TransferConfig("Main", "Files", ["session"])]))
    d = open_schedules(app)
    tree = d.panel.list.tree
    assert tree.column("name", "width") >= list_font(tree).measure(name)
    assert tree.column("transfers", "width") >= heading_font(tree).measure("Transfers")
    app.main.refresh()
    pump(app)
    assert app.main.schedules.tree.column("name", "width") >= list_font(tree).measure(name)
