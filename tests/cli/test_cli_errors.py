"""Command-line error paths, as a Windows admin meets them: one sentence naming what to fix, a non-zero exit code,
no traceback, no secret. Mostly in-process via run_cli (real settings DB, real key file, real files); the cases that
depend on the console's encoding, a closed stdin or a real port run the program in a subprocess."""
from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ic.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pw-Sekr3t-77"
SECRET = "Cl1ent-Secret-value-4242"


def run(*args: str, ic_home: Path, stdin=subprocess.DEVNULL, encoding: str = "utf-8",
        **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "IC_HOME": str(ic_home), **env}
    full_env.pop("IC_SETTINGS", None)
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=full_env, stdin=stdin,
                          capture_output=True, encoding=encoding, timeout=60)


def one_error(err: str) -> str:
    """The single `error: ...` line (and nothing that looks like a traceback)."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("IC_TEST_SECRET", SECRET)
    return "IC_TEST_SECRET"


def add_site(name: str = "demo", *extra: str) -> int:
    return run_cli(["site", "add", name, "--host", "support.example.com", "--client-id", "id",
                    "--client-secret-env", "IC_TEST_SECRET", *extra])


# --- secrets from standard input ---------------------------------------------------------------
def test_empty_stdin_for_a_secret_names_the_option_to_use(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert run_cli(["site", "add", "demo", "--host", "support.example.com", "--client-id", "id"]) == 1
    err = one_error(capsys.readouterr().err)
    assert "client secret for site demo" in err and "--client-secret-env" in err and "empty" in err


def test_binary_stdin_without_a_newline_is_refused_not_saved(monkeypatch, capsys, store):
    monkeypatch.setattr(sys, "stdin", io.StringIO("\x00" * 200_000))  # like `< /dev/zero`: no line ever ends
    assert run_cli(["site", "add", "demo", "--host", "support.example.com", "--client-id", "id"]) == 1
    assert "binary data" in one_error(capsys.readouterr().err)
    assert store.list_sites() == []


def test_smtp_password_prompt_on_empty_stdin_names_password_env(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert run_cli(["notify", "set", "--ask-password"]) == 1
    err = one_error(capsys.readouterr().err)
    assert "SMTP password" in err and "--password-env" in err and "--client-secret-env" not in err


def test_connection_string_prompt_on_empty_stdin_names_url_env(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert run_cli(["destination", "add", "db", "--type", "sql"]) == 1
    err = one_error(capsys.readouterr().err)
    assert "connection string of destination db" in err and "--url-env" in err


def test_closed_stdin_is_one_sentence(ic_home):
    result = run("site", "add", "demo", "--host", "support.example.com", "--client-id", "id", ic_home=ic_home,
                 stdin=None if sys.platform == "win32" else subprocess.DEVNULL)
    assert result.returncode == 1
    assert "--client-secret-env VAR or on standard input" in one_error(result.stderr)


# --- the settings database ----------------------------------------------------------------------
@pytest.mark.parametrize("url", ["notaurl", "C:/IC/settings.db"])
def test_settings_option_that_is_not_a_url(url, capsys):
    assert run_cli(["--settings", url, "site", "list"]) == 1  # was an internal error (exit 3)
    err = one_error(capsys.readouterr().err)
    assert "not a database URL" in err and "--settings option" in err and "sqlite:///" in err


def test_settings_url_with_an_unknown_driver_names_it_and_hides_the_password(capsys):
    assert run_cli(["--settings", f"postgresql+nosuchdrv://u:{PASSWORD}@127.0.0.1:1/x", "site", "list"]) == 1
    out, err = capsys.readouterr()
    line = one_error(err)
    assert "postgresql+nosuchdrv" in line and "not supported" in line and "NoSuchModuleError" not in line
    assert PASSWORD not in out + err


def test_settings_url_from_ic_settings_says_so(monkeypatch, capsys):
    monkeypatch.setenv("IC_SETTINGS", "not a url")
    assert run_cli(["site", "list"]) == 1
    assert "IC_SETTINGS environment variable" in one_error(capsys.readouterr().err)


def test_garbage_settings_file_is_named(ic_home, capsys):
    db = ic_home / "settings.db"
    db.write_bytes(b"this is not a database" * 300)
    assert run_cli(["site", "list"]) == 1
    err = one_error(capsys.readouterr().err)
    assert str(db) in err and "not a database" in err
    assert db.read_bytes() == b"this is not a database" * 300  # nothing overwritten


# --- the key file -------------------------------------------------------------------------------
def test_missing_key_file_is_named(secret_env, ic_home, capsys):
    assert add_site() == 0
    (ic_home / "secret.key").unlink()
    assert run_cli(["site", "test", "demo"]) == 1
    out, err = capsys.readouterr()
    assert "Re-enter the client secret for site demo" in out and "secret.key" in out and "missing" in out
    assert SECRET not in out + err


def test_damaged_key_file_says_to_delete_it(secret_env, ic_home, capsys):
    assert add_site() == 0
    (ic_home / "secret.key").write_bytes(b"0123456789")
    assert run_cli(["site", "test", "demo"]) == 1
    out = capsys.readouterr().out
    assert "secret.key is damaged: delete it, then re-enter the client secret for site demo" in out


def test_undecryptable_smtp_password_is_called_the_smtp_password(monkeypatch, ic_home, capsys):
    monkeypatch.setenv("SMTP_PW", PASSWORD)
    assert run_cli(["notify", "set", "--host", "127.0.0.1", "--port", "1", "--user", "bob", "--from", "a@b.com",
                    "--to", "c@d.com", "--password-env", "SMTP_PW"]) == 0
    (ic_home / "secret.key").unlink()
    assert run_cli(["notify", "test"]) == 1
    out, err = capsys.readouterr()
    assert "SMTP password in Notification Settings" in out and "notify.password" not in out + err
    assert "***" not in err  # the log line was not mangled by the password masker
    assert PASSWORD not in out + err


def test_undecryptable_sqlite_destination_is_its_connection_string(ic_home, tmp_path, capsys):
    assert run_cli(["destination", "add", "db", "--type", "sql", "--url", f"sqlite:///{tmp_path / 'x.db'}"]) == 0
    (ic_home / "secret.key").unlink()
    assert run_cli(["destination", "test", "db"]) == 1
    assert "Re-enter the connection string of destination db" in one_error(capsys.readouterr().err)
    assert run_cli(["destination", "list"]) == 0
    assert "stored connection string cannot be decrypted here" in capsys.readouterr().out


# --- wrong kind of path -------------------------------------------------------------------------
def test_ca_bundle_that_is_a_folder(secret_env, tmp_path, capsys):
    assert add_site("demo", "--ca-bundle", str(tmp_path)) == 1
    err = one_error(capsys.readouterr().err)
    assert "is a folder" in err and "site demo" in err


def test_log_dir_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert run_cli(["settings", "set", "log_dir", str(f)]) == 1
    err = one_error(capsys.readouterr().err)
    assert "is a file, not a folder" in err and str(f) in err


# --- notification settings wording --------------------------------------------------------------
def test_smtp_host_with_a_space_is_called_invalid_not_missing(capsys):
    assert run_cli(["notify", "set", "--host", "bad host", "--from", "a@b.com", "--to", "c@d.com"]) == 1
    err = one_error(capsys.readouterr().err)
    assert "'bad host' is not a valid SMTP host name" in err


def test_bad_to_address_names_the_to_field(capsys):
    assert run_cli(["notify", "set", "--to", "notanemail"]) == 1
    assert "'notanemail' is not a valid e-mail address in the To addresses" in one_error(capsys.readouterr().err)


# --- export / task / simulate -------------------------------------------------------------------
def test_export_refuses_lsid_together_with_start(capsys):
    assert run_cli(["export", "--site", "s", "--destination", "d", "--lsid", "x", "--start", "2026-11-24"]) == 1
    assert "not both" in one_error(capsys.readouterr().err)


def test_export_checks_duration_before_anything_else(capsys):
    assert run_cli(["export", "--site", "s", "--destination", "d", "--start", "2026-11-24", "--duration", "5x"]) == 1
    assert "--duration '5x'" in one_error(capsys.readouterr().err)


def test_whether_logged_on_on_linux_says_it_does_not_apply(monkeypatch, capsys):
    if sys.platform == "win32":
        pytest.skip("Windows asks for the password instead")
    from ic.scheduling import task

    monkeypatch.setattr(task, "register", lambda cb=None, settings_url=None: "Scheduler registered (stand-in).")
    assert run_cli(["task", "register", "--whether-logged-on"]) == 0
    assert "only applies on Windows" in capsys.readouterr().out


@pytest.mark.parametrize("args, expected", [
    (["--port", "99999"], "--port 99999 must be between 0"),
    (["--sessions", "-5"], "--sessions must be 0 or more"),
])
def test_simulate_bad_options(args, expected, capsys):
    assert run_cli(["simulate", *args]) == 1
    assert expected in one_error(capsys.readouterr().err)


def test_simulate_ca_out_folder_and_port_in_use(tmp_path, capsys):
    assert run_cli(["simulate", "--ca-out", str(tmp_path)]) == 1
    assert "is a folder; give a file name" in one_error(capsys.readouterr().err)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert run_cli(["simulate", "--port", str(port)]) == 1
    assert f"Port {port} is already in use" in one_error(capsys.readouterr().err)


# --- progress output ----------------------------------------------------------------------------
def test_plain_progress_does_not_repeat_the_failure_sentence():
    from ic.cli.run_cmd import TerminalProgress
    from ic.transfer.progress import ProgressEvent

    stream = io.StringIO()
    progress = TerminalProgress(stream=stream)
    progress(ProgressEvent("sim -> db", "failed", message="Cannot connect to SQL destination db."))
    assert stream.getvalue() == "sim -> db: failed\n"


# --- names the console cannot show --------------------------------------------------------------
def test_non_ascii_names_on_a_legacy_code_page_console(ic_home):
    env = {"IC_TEST_SECRET": SECRET, "PYTHONIOENCODING": "cp1252"}
    added = run("site", "add", "サイト é", "--host", "support.example.com", "--client-id", "id",
                "--client-secret-env", "IC_TEST_SECRET", ic_home=ic_home, encoding="cp1252", **env)
    assert added.returncode == 0, added.stderr
    listed = run("site", "list", ic_home=ic_home, encoding="cp1252", **env)
    assert listed.returncode == 0, listed.stderr  # was exit 3 after half the table
    assert "\\u30b5" in listed.stdout and "Traceback" not in listed.stderr


# --- help ---------------------------------------------------------------------------------------
def test_every_command_and_option_has_help():
    import argparse

    from ic.cli import build_parser

    missing: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help for a in action._choices_actions}
                for name, child in action.choices.items():
                    if not helps.get(name):
                        missing.append(" ".join(path + [name]))
                    walk(child, path + [name])
            elif action.dest != "help" and not action.help:
                missing.append(" ".join(path + [action.option_strings[0] if action.option_strings else action.dest]))

    walk(build_parser(), [])
    assert missing == []


def test_main_help_shows_examples(capsys):
    with pytest.raises(SystemExit):
        run_cli(["--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "schedule add Nightly" in out


def test_list_columns_line_up_with_wide_characters(secret_env, capsys):
    assert add_site("日本語") == 0 and add_site("plain") == 0
    capsys.readouterr()
    assert run_cli(["site", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    from ic.cli.common import display_width

    starts = {display_width(line[: line.index("support.example.com")]) for line in lines[1:]}
    assert len(starts) == 1 and display_width(lines[0][: lines[0].index("HOST")]) in starts


# --- relative paths: the scheduled task runs in another folder -----------------------------------
def test_relative_ca_bundle_and_sqlite_file_are_stored_as_full_paths(secret_env, tmp_path, monkeypatch, store):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    assert add_site("demo", "--ca-bundle", "ca.pem") == 0
    assert store.get_site("demo").ca_bundle == str(tmp_path / "ca.pem")
    assert run_cli(["destination", "add", "db", "--type", "sql", "--url", "sqlite:///sessions.db"]) == 0
    url = store.get_destination("db", reveal=True).config["url"]
    assert url == f"sqlite:///{tmp_path / 'sessions.db'}"


def test_unusable_log_folder_is_warned_about_once_per_command(ic_home, tmp_path):
    folder = tmp_path / "logs"
    assert run("settings", "set", "log_dir", str(folder), ic_home=ic_home).returncode == 0
    import shutil

    shutil.rmtree(folder)  # the drive went away: a file now stands where the folder was
    folder.write_text("now a file")
    for command in (["tick", "-q"], ["run", "nosuch", "-q"]):
        result = run(*command, ic_home=ic_home)
        assert result.stderr.count(f"The log folder {folder} is not writable") == 1, result.stderr


def test_removing_a_site_in_use_names_the_schedule_and_remove_transfer_frees_it(secret_env, tmp_path, capsys):
    assert add_site() == 0
    assert run_cli(["destination", "add", "files", "--type", "folder", "--dir", str(tmp_path / "out")]) == 0
    assert run_cli(["schedule", "add", "Nightly", "--site", "demo", "--destination", "files", "--every", "1d"]) == 0
    capsys.readouterr()
    assert run_cli(["site", "remove", "demo"]) == 1
    assert "used by a schedule (Nightly)" in one_error(capsys.readouterr().err)
    assert run_cli(["destination", "remove", "files"]) == 1
    assert "used by a schedule (Nightly)" in one_error(capsys.readouterr().err)
    assert run_cli(["schedule", "remove-transfer", "Nightly", "--site", "demo", "--destination", "other"]) == 1
    assert "has no transfer demo -> other" in one_error(capsys.readouterr().err)
    assert run_cli(["schedule", "remove-transfer", "Nightly", "--site", "demo", "--destination", "files"]) == 0
    assert run_cli(["site", "remove", "demo"]) == 0


def test_import_xml_progress_on_a_terminal_only(monkeypatch, capsys):
    from ic.cli import destination_cmd

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty, plain = Tty(), io.StringIO()
    for stream in (tty, plain):
        progress = destination_cmd._ImportProgress(stream=stream)
        progress(Path("a.xml"), 50)
        progress(Path("a.xml"), 100)
        progress.close()
    assert tty.getvalue() == "\ra.xml: 50 session(s) stored so far\ra.xml: 100 session(s) stored so far\n"
    assert plain.getvalue() == ""
    quiet = Tty()
    destination_cmd._ImportProgress(enabled=False, stream=quiet)(Path("a.xml"), 1)
    assert quiet.getvalue() == ""


def test_failed_notify_test_is_said_once_and_kept_in_the_log(ic_home):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    assert run("notify", "set", "--host", "127.0.0.1", "--port", port, "--from", "a@b.com", "--to", "c@d.com",
               ic_home=ic_home).returncode == 0
    r = run("notify", "test", ic_home=ic_home)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    said = (r.stdout + r.stderr).count(f"127.0.0.1:{port}")
    assert said == 1, r.stdout + r.stderr
    assert "Notification test failed" in (ic_home / "logs" / "ic.log").read_text()
