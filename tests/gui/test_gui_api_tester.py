"""API Tester through the real window against the simulator: Sessions tab into a folder and a SQLite database,
XML Files tab back into another database, Cancel, and the Site dialog's Test button."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import pytest

from ic.gui.testing import pump, screenshot, type_text
from ic.settings import DestinationConfig, SiteConfig
from tests.helpers import press_site_test

pytestmark = pytest.mark.usefixtures("xvfb")


@pytest.fixture
def configured(store, simulator, tmp_path):
    (tmp_path / "files").mkdir()
    store.save_site(SiteConfig("Sim", simulator.host, simulator.client_id, str(simulator.ca_file), "rs"),
                    client_secret=simulator.client_secret)
    store.save_destination(DestinationConfig("Files", "folder", {"directory": str(tmp_path / "files")}))
    store.save_destination(DestinationConfig("DB", "sql", {"url": f"sqlite:///{tmp_path / 'data.db'}"},
                                             secret_fields=("url",)))
    store.save_destination(DestinationConfig("Imported", "sql", {"url": f"sqlite:///{tmp_path / 'imported.db'}"},
                                             secret_fields=("url",)))
    return store


def open_tester(app):
    from ic.gui.dialogs.api_tester import ApiTesterPanel

    d = app.open(ApiTesterPanel)
    pump(app)
    return d


def session_rows(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT COUNT(*) FROM session").fetchone()[0]


def wait_done(app, panel, timeout=180):
    assert pump(app, lambda: panel.worker is not None and not panel.running, timeout=timeout), panel.log_text()


def test_sessions_tab_downloads_into_a_folder_and_a_database(app, simulator, tmp_path):
    d = open_tester(app)
    p = d.panel
    assert p.sites.selected() == ["Sim"]  # the only site is preselected
    p.destinations.set_selected(["Files", "DB"])
    p.operations["recordings"].select()
    start = datetime.now() - timedelta(days=70)
    p.fields["start"].set(start.strftime("%Y-%m-%d %H:%M"))
    p.fields["duration"].set("71")
    p.duration_unit.set("days")
    p.download_button.invoke()
    pump(app)
    assert p.running and p.cancel_button.cget("state") == "normal"
    wait_done(app, p)
    screenshot(d, "api-tester-sessions")
    assert p.error is None, p.error
    ended = [s for s in simulator.sessions if s.end_time is not None]
    xml = list((tmp_path / "files").rglob("*.xml"))
    assert len(xml) >= len(ended)
    recordings = [f for f in (tmp_path / "files").rglob("*") if f.is_file() and f.suffix not in (".xml",)
                  and not f.name.startswith(".")]
    assert recordings, "recordings were selected and the folder takes files"
    assert session_rows(tmp_path / "data.db") >= len(ended)
    assert "Sim to DB" in p.log_text() and "Finished." in p.log_text()
    assert p.progress.get() == 1
    assert p.download_button.cget("state") == "normal"


def test_one_session_id_only(app, simulator, tmp_path):
    d = open_tester(app)
    p = d.panel
    lsid = next(s.lsid for s in simulator.sessions if s.end_time is not None)
    p.destinations.set_selected(["DB"])
    p.fields["lsid"].set(lsid)
    p.download()
    wait_done(app, p)
    assert p.error is None, p.error
    with sqlite3.connect(tmp_path / "data.db") as conn:
        assert conn.execute("SELECT lsid FROM session").fetchall() == [(lsid,)]
    # the guide: "test, then check the log" — the run is in the IC Log, in words
    from ic.logs import read_log_tail

    log = read_log_tail("app")
    assert "API Tester: download started" in log and "API Tester: Sim to DB: 1 session(s)" in log, log[-2000:]
    assert "API Tester: download finished." in log


def test_xml_files_tab_parses_saved_files_into_a_database(app, simulator, tmp_path):
    d = open_tester(app)
    p = d.panel
    p.destinations.set_selected(["Files"])
    p.fields["start"].set((datetime.now() - timedelta(days=70)).strftime("%Y-%m-%d %H:%M"))
    p.fields["duration"].set("71")
    p.download()
    wait_done(app, p)
    files = sorted(str(f) for f in (tmp_path / "files").rglob("*.xml"))
    assert files
    p.tabs.set("XML Files")
    p.add_files(files)
    p.xml_destinations.set_selected(["Imported"])
    p.xml_form.fields["site"].set("Sim")
    p.download_button.invoke()
    wait_done(app, p)
    screenshot(d, "api-tester-xml-files")
    assert p.error is None, p.error
    assert session_rows(tmp_path / "imported.db") == len(files)
    # recordings and a backup for the sessions in the files: the tester connects back to the chosen site
    some = files[:8]
    p.xml_files.set_rows([(f,) for f in some])
    p.xml_destinations.set_selected(["Files", "Imported"])
    p.xml_operations["session"].deselect()
    p.xml_operations["recordings"].select()
    p.xml_operations["backup"].select()
    p.download()
    wait_done(app, p, timeout=300)
    assert p.error is None, p.error
    recordings = [f for f in (tmp_path / "files").rglob("*.flv")]
    chosen = {s.lsid for s in simulator.sessions if any(s.lsid in f for f in some)}
    with_recording = {s.lsid for s in simulator.sessions if s.has_recording and s.lsid in chosen}
    assert len(chosen) == len(some) and with_recording
    assert {lsid for lsid in with_recording if any(lsid in f.name for f in recordings)} == with_recording
    assert list((tmp_path / "files").rglob("*.nsb"))
    assert "Sim to Imported: recordings and backups skipped" in p.log_text()


def test_missing_choices_are_explained_not_started(app):
    d = open_tester(app)
    p = d.panel
    p.download()
    assert p.worker is None and p.message.text == "Select at least one destination."
    p.destinations.set_selected(["DB"])
    p.fields["start"].set("yesterday")
    p.download()
    assert p.worker is None and "2024-01-31 08:00" in p.fields["start"].error_text
    p.tabs.set("XML Files")
    p.download()
    assert p.message.text == "Add one or more XML files first (Add…)."


def test_xml_files_tab_site_host_label_and_its_error(app, tmp_path):
    sample = tmp_path / "one.xml"
    sample.write_text('<?xml version="1.0"?><session_list><session lsid="abc123"><start_time timestamp="1700000000">'
                      '2023-11-14T22:13:20+00:00</start_time><end_time timestamp="1700000100">2023-11-14T22:15:00+00:00'
                      '</end_time><duration>00:01:40</duration><lseq>7</lseq></session></session_list>')
    d = open_tester(app)
    p = d.panel
    p.tabs.set("XML Files")
    p.add_files([str(sample)])
    p.xml_destinations.set_selected(["Imported"])
    p.xml_form.fields["site_host"].set("https://support.example.com/")
    p.download()
    wait_done(app, p)
    assert "without 'https://'" in p.xml_form.fields["site_host"].error_text
    p.xml_form.fields["site_host"].set("support.example.com")
    p.download()
    wait_done(app, p)
    assert p.error is None, p.error
    with sqlite3.connect(tmp_path / "imported.db") as conn:
        assert conn.execute("SELECT lsid, host_name FROM session").fetchall() == [("abc123", "support.example.com")]


def test_cancel_stops_the_download_and_the_window_stays_responsive(app, simulator, tmp_path):
    simulator.faults.slow_seconds = 0.3
    d = open_tester(app)
    p = d.panel
    p.destinations.set_selected(["Files"])
    p.operations["recordings"].select()
    p.fields["start"].set((datetime.now() - timedelta(days=70)).strftime("%Y-%m-%d %H:%M"))
    p.fields["duration"].set("71")
    p.download()
    assert pump(app, lambda: p.events > 0 or not p.running, timeout=60)
    p.cancel_button.invoke()
    assert p.cancel_button.cget("state") == "disabled"
    wait_done(app, p)
    assert p.error is not None and "cancel" in p.error.lower()
    assert p.message.kind != "error" and p.message.text == "Download cancelled."  # asked for: not red
    assert p.download_button.cget("state") == "normal"
    simulator.faults.slow_seconds = 0


def test_site_test_button_reaches_the_simulator_without_saving(store, simulator):
    from ic.gui.app import App

    app = App(show_wizard=False)
    try:
        d = press_site_test(app, simulator)
        assert d.panel.last_test.ok, d.panel.last_test.message
        assert d.panel.message.kind == "ok"
        assert store.list_sites() == []  # testing does not save
        d.fields["client_secret"].set("wrong")
        d.panel.test()
        assert pump(app, lambda: d.panel.last_test is not None, timeout=60)
        assert not d.panel.last_test.ok
        assert d.panel.message.kind == "error" and d.panel.message.text
        assert d.fields["client_secret"].error_text and d.fields["client_secret"].marked_invalid  # at the field
        type_text(d.fields["client_secret"], simulator.client_secret)  # fixed: the stale message goes
        assert d.fields["client_secret"].error_text == ""
    finally:
        app.close()


def test_run_now_runs_the_selected_schedule_and_updates_the_list(app, configured, tmp_path):
    from ic.settings import ScheduleConfig, TransferConfig

    configured.save_schedule(ScheduleConfig("Every hour", 3600, [TransferConfig("Sim", "DB", ["session"])]))
    app.main.refresh()
    pump(app)
    assert app.main.schedules.row("Every hour")[3] == "Never"
    app.main.schedules.select("Every hour")
    pump(app)
    seen: list[str] = []
    original = app.main._event
    app.main._event = lambda ev: (original(ev), seen.append(app.main.progress_text))
    app.main.run_button.invoke()
    pump(app)
    assert app.main.run_button.cget("state") == "disabled"  # one run at a time
    assert pump(app, lambda: not app.main.run_worker.running, timeout=180)
    assert "finished" in app.main.message.text, app.main.message.text
    assert session_rows(tmp_path / "data.db") > 0
    assert app.main.schedules.row("Every hour")[3] != "Never"
    assert app.main.schedules.row("Every hour")[5] == "OK"
    # progress in plain words, never a Python object; Last Program Run says the program ran
    assert seen and not any("ProgressEvent" in t for t in seen)
    assert any("Copied" in t and " of " in t and "sessions" in t for t in seen), seen
    assert app.main.progress_text == ""
    assert app.main.last_run_label.cget("text") != "Never"
    assert "Today" in app.main.last_words.cget("text") and "session" in app.main.last_words.cget("text")
    assert app.main.run_button.cget("state") == "normal"
