"""Run the scheduler task as a service account (DOMAIN\\svc-ic) with the secrets readable by it alone.

Windows parts run against stand-ins named as such (``mock_windows``/``stand_in``): schtasks/PowerShell
(tests.helpers.SchtasksStandIn), DPAPI (tests.helpers._dpapi_stand_in), win32security and
icacls. Everything else (key files, the settings store, the task XML) is real.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from lxml import etree

from ic import secrets
from ic.errors import ConfigError, SecretUnavailable
from ic.services.run_as import register_run_as
from ic.settings import SiteConfig, open_store
from tests.helpers import NS, SchtasksStandIn, _dpapi_stand_in

ACCOUNT = "CORP\\svc-ic"
PASSWORD = "Svc-Passw0rd!-never-stored"
ROOT = Path(__file__).resolve().parents[2]


class AclStandIn:
    """Records the access list asked for; checks it is set before the key bytes arrive."""

    def __init__(self) -> None:
        self.calls: list[tuple[Path, str, int]] = []

    def __call__(self, path: Path, account: str) -> None:
        self.calls.append((path, account, path.stat().st_size))


@pytest.fixture
def shared(tmp_path, monkeypatch):
    """A settings database in a shared folder, a secret saved with the per-user key, DPAPI stand-in."""
    api, calls, keep = _dpapi_stand_in()
    monkeypatch.setattr(secrets, "_windows_dpapi", lambda: api)
    url = f"sqlite:///{tmp_path / 'shared' / 'settings.db'}"
    (tmp_path / "shared").mkdir()
    store = open_store(url)
    store.save_site(SiteConfig("demo", "support.example.com", "id"), client_secret="site-secret-123")
    yield SimpleNamespace(url=url, store=store, api=api, calls=calls, keep=keep,
                          target=tmp_path / "ProgramData" / "BeyondTrust" / "IntegrationClient" / "secret.key")
    store.close()


def test_register_run_as_via_mock_windows_schtasks_dpapi_and_acl_stand_in(shared, monkeypatch):
    schtasks, acl = SchtasksStandIn(), AclStandIn()
    asked = []
    message = register_run_as(ACCOUNT, lambda user: asked.append(user) or PASSWORD, settings_url=shared.url,
                              runner=schtasks, acl=acl, dpapi_api=shared.api, key_target=shared.target, windows=True)
    assert message.startswith("Scheduler task \\IntegrationClient\\Scheduler registered")
    assert f"as {ACCOUNT} whether or not the user is logged on" in message
    assert f"can be read only by {ACCOUNT}, SYSTEM and Administrators" in message
    assert asked == [ACCOUNT]  # asked once
    # the password went through the pipe only, never an argument, and is nowhere on disk
    assert schtasks.stdin == PASSWORD + "\n"
    assert all(PASSWORD not in " ".join(argv) for argv in schtasks.calls)
    root = etree.fromstring(schtasks.created_xml)
    assert root.xpath("t:Principals/t:Principal/t:UserId", namespaces=NS)[0].text == ACCOUNT
    assert root.xpath("t:Principals/t:Principal/t:LogonType", namespaces=NS)[0].text == "Password"
    args = root.xpath("t:Actions/t:Exec/t:Arguments", namespaces=NS)[0].text
    assert f"--settings {shared.url}" in args  # the account finds no bootstrap file of ours
    # machine-scope DPAPI key file, ACL limited before the key bytes were written
    [(path, account, size)] = acl.calls
    assert account == ACCOUNT and size == 0 and path.parent == shared.target.parent
    raw = shared.target.read_bytes()
    assert raw.startswith(b"DPAPIM")
    assert secrets.CRYPTPROTECT_UI_FORBIDDEN | secrets.CRYPTPROTECT_LOCAL_MACHINE in shared.calls["flags"]
    # the service account's process finds the machine key by itself and reads the secrets stored before
    monkeypatch.setattr(secrets, "machine_key_path", lambda: shared.target)
    store = open_store(shared.url)
    try:
        assert store.secrets.key_path == shared.target
        assert store.site_credentials("demo").client_secret == "site-secret-123"
    finally:
        store.close()


def test_run_as_refusals_change_nothing_via_mock_windows_stand_in(shared, tmp_path):
    schtasks, acl = SchtasksStandIn(), AclStandIn()
    kw = dict(runner=schtasks, acl=acl, dpapi_api=shared.api, key_target=shared.target, windows=True)
    with pytest.raises(ConfigError, match=r"like DOMAIN\\svc-ic"):
        register_run_as('bad"name', lambda u: PASSWORD, settings_url=shared.url, **kw)
    with pytest.raises(ConfigError, match="password of CORP.svc-ic is needed once"):
        register_run_as(ACCOUNT, None, settings_url=shared.url, **kw)
    per_user = f"sqlite:///{Path(os.environ['IC_HOME']) / 'settings.db'}"
    with pytest.raises(ConfigError, match="is in your user profile, which CORP.svc-ic cannot read"):
        register_run_as(ACCOUNT, lambda u: PASSWORD, settings_url=per_user, **kw)
    with pytest.raises(ConfigError, match="contains a password"):
        register_run_as(ACCOUNT, lambda u: PASSWORD, settings_url="postgresql://u:pw@db/ic", **kw)
    with pytest.raises(ConfigError, match=r"Enter the Windows password of CORP\\svc-ic"):
        register_run_as(ACCOUNT, lambda u: "", settings_url=shared.url, **kw)
    with pytest.raises(ConfigError, match="Windows option"):
        register_run_as(ACCOUNT, lambda u: PASSWORD, settings_url=shared.url, **{**kw, "windows": False})
    assert schtasks.calls == [] and acl.calls == [] and not shared.target.exists()


def test_acl_with_pywin32_stand_in(tmp_path):
    f = tmp_path / "k"
    f.write_bytes(b"")
    log = []

    class ACL:
        def AddAccessAllowedAce(self, rev, mask, sid):
            log.append(("ace", mask, sid))

    ws = SimpleNamespace(
        ACL=ACL, ACL_REVISION=2, SE_FILE_OBJECT=1, DACL_SECURITY_INFORMATION=4,
        PROTECTED_DACL_SECURITY_INFORMATION=0x80000000,
        LookupAccountName=lambda system, name: (f"SID({name})", "CORP", 1),
        ConvertStringSidToSid=lambda s: f"SID({s})",
        SetNamedSecurityInfo=lambda *a: log.append(("set", a)),
    )
    con = SimpleNamespace(FILE_GENERIC_READ=0x120089, FILE_ALL_ACCESS=0x1F01FF)
    secrets.restrict_to_account(f, ACCOUNT, win32=(ws, con))
    aces = [x for x in log if x[0] == "ace"]
    assert aces == [("ace", 0x120089, f"SID({ACCOUNT})"), ("ace", 0x1F01FF, "SID(S-1-5-18)"),
                    ("ace", 0x1F01FF, "SID(S-1-5-32-544)")]
    [(_, args)] = [x for x in log if x[0] == "set"]
    assert args[0] == str(f) and args[2] == 4 | 0x80000000  # protected: nothing inherited

    def unknown(system, name):
        raise RuntimeError("No mapping between account names and security IDs was done.")

    ws.LookupAccountName = unknown
    with pytest.raises(ConfigError, match=r"Windows does not know the account CORP\\svc-ic"):
        secrets.restrict_to_account(f, ACCOUNT, win32=(ws, con))


def test_acl_with_icacls_stand_in(tmp_path):
    seen = []
    ok = secrets.restrict_to_account(tmp_path / "k", ACCOUNT,
                                     runner=lambda argv: seen.append(argv) or SimpleNamespace(returncode=0))
    assert ok is None
    assert seen == [["icacls", str(tmp_path / "k"), "/inheritance:r", "/grant:r", f"{ACCOUNT}:(R)",
                     "*S-1-5-18:(F)", "*S-1-5-32-544:(F)"]]
    with pytest.raises(ConfigError, match="could not limit the key file"):
        secrets.restrict_to_account(tmp_path / "k", ACCOUNT, runner=lambda argv: SimpleNamespace(
            returncode=1332, stdout="", stderr="No mapping between account names and security IDs was done."))


def test_unreadable_machine_key_says_run_as_administrator(tmp_path, monkeypatch):
    key = tmp_path / "secret.key"
    key.write_bytes(b"DPAPIM" + b"x" * 40)

    def denied(self):
        raise PermissionError(13, "Access is denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(SecretUnavailable, match="Run as administrator"):
        secrets.SecretBox(key).decrypt("v1:AAAA", "p")


@pytest.mark.skipif(sys.platform == "win32", reason="would register a real task on Windows")
def test_task_register_run_as_on_linux_is_one_sentence(ic_home, tmp_path):
    env = {**os.environ, "IC_HOME": str(ic_home)}
    out = subprocess.run([sys.executable, "main.py", "--settings", f"sqlite:///{tmp_path / 's.db'}", "task",
                          "register", "--run-as", ACCOUNT], cwd=ROOT, env=env, capture_output=True, text=True,
                         input=PASSWORD + "\n", timeout=60)
    assert out.returncode == 1, out.stderr
    assert "Running the task as another account is a Windows option" in out.stderr
    assert PASSWORD not in out.stdout + out.stderr


# --- key file: a folder, readable by others (issue 10 item 9) ---------------------------------------------------------
def test_key_path_that_is_a_folder_is_one_sentence(ic_home, tmp_path):
    folder = tmp_path / "keydir"
    folder.mkdir()
    env = {**os.environ, "IC_HOME": str(ic_home), "IC_KEY_FILE": str(folder), "S": "x"}
    out = subprocess.run([sys.executable, "main.py", "site", "add", "demo", "--host", "h.example.com",
                          "--client-id", "i", "--client-secret-env", "S"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1, (out.returncode, out.stderr)
    assert f"The key file {folder} is a folder" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.skipif(os.name != "posix", reason="mode bits: POSIX")
def test_key_file_readable_by_others_warns_once(tmp_path, caplog):
    key = tmp_path / "secret.key"
    box = secrets.SecretBox(key)
    token = box.encrypt("v", "p")
    key.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="ic.secrets"):
        assert secrets.SecretBox(key).decrypt(token, "p") == "v"
        assert secrets.SecretBox(key).decrypt(token, "p") == "v"
    warnings = [r.getMessage() for r in caplog.records if r.name == "ic.secrets"]
    assert warnings == [f"The key file {key} can be read by other users (mode 0644); run chmod 600 {key} so only "
                        "you can read it."]
    key2 = tmp_path / "private.key"
    secrets.SecretBox(key2).encrypt("v", "p")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ic.secrets"):
        secrets.SecretBox(key2).decrypt(secrets.SecretBox(key2).encrypt("v", "p"), "p")
    assert not [r for r in caplog.records if r.name == "ic.secrets"]


def test_machine_key_with_pywin32_win32crypt_stand_in(tmp_path, monkeypatch):
    """pywin32 is preferred for machine-scope DPAPI when installed (stand-in module here)."""
    calls = []

    class Win32CryptStandIn:
        @staticmethod
        def CryptProtectData(data, descr, entropy, reserved, prompt, flags):  # noqa: N802 - pywin32 names
            calls.append(("protect", flags))
            return bytes(b ^ 0x33 for b in data)

        @staticmethod
        def CryptUnprotectData(data, entropy, reserved, prompt, flags):  # noqa: N802
            calls.append(("unprotect", flags))
            return ("", bytes(b ^ 0x33 for b in data))

    monkeypatch.setattr(secrets, "_win32crypt", lambda: Win32CryptStandIn)
    user_key = tmp_path / "user.key"
    source = secrets.SecretBox(user_key)
    token = source.encrypt("value", "purpose")
    target = tmp_path / "machine" / "secret.key"
    secrets.share_key_with(ACCOUNT, target=target, acl=AclStandIn(), source=source)
    assert target.read_bytes().startswith(b"DPAPIM")
    assert secrets.SecretBox(target).decrypt(token, "purpose") == "value"
    flags = secrets.CRYPTPROTECT_UI_FORBIDDEN | secrets.CRYPTPROTECT_LOCAL_MACHINE
    assert calls == [("protect", flags), ("unprotect", flags)]


def test_run_as_password_from_a_pipe_is_one_line(monkeypatch):
    import io

    from ic.cli import task_cmd

    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\r\nnext line is not read\n"))
    assert task_cmd._read_run_as_password(ACCOUNT) == PASSWORD
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert task_cmd._read_run_as_password(ACCOUNT) is None  # register_run_as then refuses: no password
