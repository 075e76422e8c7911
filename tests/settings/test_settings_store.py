"""Settings database: sites, destinations, schedules, secrets at rest, refusal to share with storage."""
from __future__ import annotations

import subprocess
import sys

import pytest

from ic.errors import ConfigError, SecretUnavailable
from ic.settings import DestinationConfig, ScheduleConfig, SiteConfig, TransferConfig, open_store

SECRET = "s3cr3t-Client-Secret-xyz"


def test_site_roundtrip_and_secret_encrypted_at_rest(store, ic_home):
    store.save_site(SiteConfig("demo", "support.example.com:8443", "cid"), client_secret=SECRET, backup_password="bpw")
    site = store.get_site("demo")
    assert (site.host, site.client_id, site.has_backup_password) == ("support.example.com:8443", "cid", True)
    creds = store.site_credentials("demo")
    assert creds.client_secret == SECRET and creds.backup_password == "bpw"
    assert SECRET not in repr(creds)
    for f in ic_home.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f
            assert b"bpw" not in f.read_bytes() or f.name.endswith(".key"), f


@pytest.mark.parametrize(
    "host, fragment",
    [("https://support.example.com", "without 'https://'"), ("", "Enter the site's host"), ("a b", "not a valid host"),
     ("host:99999", "between 1 and 65535"), ("support.example.com/login", "without a path")],
)
def test_bad_host_is_one_clear_sentence(store, host, fragment):
    with pytest.raises(ConfigError) as err:
        store.save_site(SiteConfig("x", host, "cid"), client_secret="s")
    assert fragment in str(err.value)


def test_duplicate_site_name_is_a_clear_error(store):
    store.save_site(SiteConfig("a", "h1", "cid"), client_secret="s")
    with pytest.raises(ConfigError, match="already used"):
        store.save_site(SiteConfig("a", "h2", "cid"), client_secret="s")


def test_key_from_another_machine_names_the_site(store, ic_home):
    store.save_site(SiteConfig("prod", "h", "cid"), client_secret=SECRET)
    (ic_home / "secret.key").unlink()
    fresh = open_store()
    with pytest.raises(SecretUnavailable, match="re-enter the client secret for site prod|Re-enter the client secret for site prod"):
        fresh.site_credentials("prod")
    assert [s.name for s in fresh.list_sites()] == ["prod"]  # listing still works


def test_key_file_is_private(store, ic_home):
    store.save_site(SiteConfig("a", "h", "cid"), client_secret="s")
    if sys.platform != "win32":
        assert (ic_home / "secret.key").stat().st_mode & 0o077 == 0


def test_destination_secret_fields_encrypted_and_settings_db_refused(store, tmp_path):
    cfg = {"url": "postgresql+psycopg://u:pw-zz9@db/ic", "system_info": True}
    store.save_destination(DestinationConfig("pg", "sql", cfg, secret_fields=("url",)))
    assert store.get_destination("pg", reveal=False).config == {"system_info": True}
    assert store.get_destination("pg").config["url"].endswith("pw-zz9@db/ic")
    with pytest.raises(ConfigError, match="settings database"):
        store.save_destination(DestinationConfig("bad", "sql", {"url": store.url}, secret_fields=("url",)))


def test_schedule_with_transfers_and_period_rules(store, tmp_path):
    store.save_site(SiteConfig("s", "h", "cid"), client_secret="x")
    store.save_destination(DestinationConfig("f", "folder", {"directory": str(tmp_path)}))
    sched = store.save_schedule(
        ScheduleConfig("nightly", 86400, [TransferConfig("s", "f", ["session", "recordings"])], at_time="2:00")
    )
    assert sched.at_time == "02:00" and sched.transfers[0].data_types == ["session", "recordings"]
    with pytest.raises(ConfigError, match="whole number of days"):
        store.save_schedule(ScheduleConfig("bad", 3600, [], at_time="02:00"))
    with pytest.raises(ConfigError, match="between 1 minute and 7 days"):
        store.save_schedule(ScheduleConfig("bad", 8 * 86400, []))
    with pytest.raises(ConfigError, match="used by a schedule"):
        store.delete_site("s")


def test_schema_is_versioned(store):
    from ic.settings.schema import SCHEMA_VERSION

    assert store.schema_version() == SCHEMA_VERSION
    assert open_store().schema_version() == SCHEMA_VERSION  # reopening does not re-create


def test_settings_on_postgresql(pg_url, ic_home):
    s = open_store(pg_url)
    s.save_site(SiteConfig("pgsite", "h", "cid"), client_secret=SECRET)
    assert s.site_credentials("pgsite").client_secret == SECRET
    s.close()


def test_version_does_not_import_tk():
    code = "import sys, main; main.main(['--version']); print('tkinter' in sys.modules, 'customtkinter' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("Integration Client ") and out.strip().endswith("False False")


def test_cli_site_add_list_never_prints_secret(ic_home):
    env_cmd = [sys.executable, str(__import__("pathlib").Path(__file__).resolve().parents[2] / "main.py")]
    import os

    env = {**os.environ, "IC_HOME": str(ic_home), "MY_SECRET": SECRET}
    r = subprocess.run(env_cmd + ["site", "add", "demo", "--host", "h.example.com", "--client-id", "cid",
                                  "--client-secret-env", "MY_SECRET"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(env_cmd + ["site", "list"], capture_output=True, text=True, env=env)
    assert "demo" in r.stdout and SECRET not in r.stdout + r.stderr
    r = subprocess.run(env_cmd + ["site", "add", "x", "--host", "https://h", "--client-id", "c"], input="s\n",
                       capture_output=True, text=True, env=env)
    assert r.returncode == 1 and r.stderr.strip() == "error: Enter the host without 'https://': type h instead."


def test_same_database_sees_inside_sql_server_odbc_connect():
    """The spelling part of the check (ic.dburl; the server is asked only when the spelling differs: see
    tests/settings/test_house_identity.py)."""
    from urllib.parse import quote_plus

    from ic.dburl import same_database

    def odbc(server: str, db: str) -> str:
        return "mssql+pyodbc:///?odbc_connect=" + quote_plus(f"DRIVER={{ODBC Driver 18 for SQL Server}};SERVER={server};DATABASE={db};Trusted_Connection=yes")

    assert same_database(odbc("sql01", "ICSettings"), odbc("SQL01", "icsettings"))
    assert not same_database(odbc("sql01", "ICSettings"), odbc("sql01", "ICStorage"))
    assert not same_database(odbc("sql01", "ICSettings"), odbc("sql02", "ICSettings"), ask_server=False)
    assert same_database("postgresql+psycopg://u@db:5432/ic", "postgresql+psycopg://other:pw@DB:5432/ic")
    assert not same_database("postgresql+psycopg://u@db/ic", "postgresql+psycopg://u@db/ic2")


def test_two_processes_creating_the_key_at_once_share_one_key(ic_home):
    """Both encrypt before any key exists; each must decrypt the other's value afterwards."""
    import os

    script = (
        "import sys; from ic.secrets import SecretBox; b = SecretBox();"
        "t = b.encrypt('v' + sys.argv[1], 'p'); open(sys.argv[2], 'w').write(t)"
    )
    env = {**os.environ, "IC_HOME": str(ic_home)}
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(i), str(ic_home / f"tok{i}")], env=env)
        for i in range(6)
    ]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    from ic.secrets import SecretBox

    box = SecretBox()
    assert [box.decrypt((ic_home / f"tok{i}").read_text(), "p") for i in range(6)] == [f"v{i}" for i in range(6)]
    assert not list(ic_home.glob("*.tmp"))


def test_settings_and_state_saved_when_the_driver_reports_no_rowcount_like_sql_server_nocount_stand_in(
        store, monkeypatch):
    """A SQL Server with NOCOUNT ON reports rowcount -1; saving must still insert new keys and update old ones."""
    from sqlalchemy.engine import CursorResult

    monkeypatch.setattr(CursorResult, "rowcount", property(lambda self: -1))
    store.set_setting("log_removal_days", "14")
    store.set_setting("log_removal_days", "21")
    assert store.get_setting("log_removal_days") == "21"
    store.save_site(SiteConfig("s", "h", "cid"), client_secret="x")
    store.save_destination(DestinationConfig("d", "folder", {"directory": "/tmp"}))
    site, dest = store.get_site("s"), store.get_destination("d", reveal=False)
    store.save_state(site.id, dest.id, "session", {"cursor": 1})
    store.save_state(site.id, dest.id, "session", {"cursor": 2})
    assert store.load_state(site.id, dest.id, "session") == {"cursor": 2}
