"""Site Test checks each permission the guide's API account needs: reporting, recordings and backup, a line each."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from ic.appliance import api_info as ai
from ic.services.sites import test_site, test_site_config
from ic.settings import SiteConfig

ROOT = Path(__file__).resolve().parents[2]


def _save(store, sim, name="demo"):
    store.save_site(SiteConfig(name, sim.host, sim.client_id, sim.ca_file), client_secret=sim.client_secret)


def _backup_sentence(host):
    return (f"Backup: no. The API account on {host} lacks permission to download site backups (Allow Backup); "
            "enable it on the appliance.")


def test_all_rights_three_lines_without_downloading_a_backup(simulator, store):
    _save(store, simulator)
    result = test_site(store, "demo")
    assert result.ok, result.message
    lines = result.message.splitlines()
    assert len(lines) == 3
    assert lines[1].startswith("Recordings: yes") and lines[2].startswith("Backup: yes")
    assert "backup" not in [e.get("report") for e in simulator.log]  # get_api_info said so: no backup request


def test_account_without_backup_rights_fails_test_with_that_sentence(simulator, store):
    _save(store, simulator)
    simulator.permissions["backup"] = False
    result = test_site(store, "demo")
    assert not result.ok and result.field == "client_id"
    # the failing check comes first (the window shows two lines); `lines` keep the reporting/recordings/backup order
    assert result.message.splitlines()[0] == _backup_sentence(simulator.host)
    assert result.lines[2] == _backup_sentence(simulator.host) and result.lines[1].startswith("Recordings: yes")


def test_backup_probed_when_the_command_api_is_refused(simulator, store):
    """No command API access: get_api_info answers 403, so a backup request is started and hung up."""
    _save(store, simulator)
    simulator.permissions["command"] = False
    ok = test_site(store, "demo")
    assert ok.ok and ok.message.splitlines()[2].startswith("Backup: yes, the appliance started a backup download")
    simulator.permissions["backup"] = False
    bad = test_site(store, "demo")
    assert not bad.ok and bad.lines[2] == _backup_sentence(simulator.host)


def test_wrong_backup_password_is_reported_on_the_backup_line(simulator, store):
    store.save_site(SiteConfig("demo", simulator.host, simulator.client_id, simulator.ca_file),
                    client_secret=simulator.client_secret, backup_password="wrong-one")
    simulator.backup_password = "right-one"
    simulator.permissions["command"] = False
    result = test_site(store, "demo")
    assert not result.ok and result.field == "backup_password"
    line = result.lines[2]
    assert line.startswith("Backup: no.") and "Invalid backup password" in line and "backup password" in line
    assert "wrong-one" not in result.message and "right-one" not in result.message


def test_account_without_recording_rights(simulator, store):
    _save(store, simulator)
    simulator.permissions["recordings"] = False
    result = test_site(store, "demo")
    assert not result.ok
    assert result.lines[1].startswith(f"Recordings: no. The API account on {simulator.host} lacks")
    assert result.message.splitlines()[0] == result.lines[1]


def test_pra_and_the_dialog_service(make_simulator, store):
    sim = make_simulator(product="pra")
    sim.permissions["backup"] = False
    result = test_site_config(SiteConfig("new", sim.host, sim.client_id, sim.ca_file), sim.client_secret)
    assert not result.ok and result.message.splitlines()[0] == _backup_sentence(sim.host)


def test_cli_site_test_fails_without_backup_rights(make_simulator, ic_home):
    sim = make_simulator()
    sim.permissions["backup"] = False
    env = {**os.environ, "IC_HOME": str(ic_home), "S": sim.client_secret}
    env.pop("IC_SETTINGS", None)
    run = lambda *a: subprocess.run([sys.executable, "main.py", *a], cwd=ROOT, env=env, capture_output=True,  # noqa: E731
                                    text=True, timeout=60)
    added = run("site", "add", "demo", "--host", sim.host, "--client-id", sim.client_id, "--client-secret-env", "S",
                "--ca-bundle", sim.ca_file)
    assert added.returncode == 0, added.stderr
    out = run("site", "test", "demo")
    assert out.returncode == 1
    assert _backup_sentence(sim.host) in out.stdout.splitlines()


# --- get_api_info shapes: [U] which one the appliance sends, so all are read -------------------------------------
@pytest.mark.parametrize("doc", [
    b'<api_info xmlns="http://www.beyondtrust.com/namespaces/API/command"><api_version>1.24.1</api_version>'
    b"<timestamp>1718700000</timestamp><permissions><perm_backup>0</perm_backup>"
    b"<perm_command>full_access</perm_command></permissions></api_info>",
    b'<?xml version="1.0"?>\n\n<get_api_info><timestamp>1718700000</timestamp><permissions>'
    b'<permission name="perm_backup" value="0"/><permission name="perm_command" value="read_only"/>'
    b"</permissions></get_api_info>",
    b'<api_info><timestamp>1718700000</timestamp><permissions><permission name="perm_backup">0</permission>'
    b'<permission name="perm_command">full_access</permission></permissions></api_info>',
    b'{"api_version": "1.24.1", "timestamp": 1718700000, "permissions": {"perm_backup": false, "perm_command": '
    b'"full_access"}}',
    b'{"timestamp": "1718700000", "permissions": [{"name": "perm_backup", "value": 0}, {"name": "perm_command", '
    b'"value": "read_only"}]}',
    b'{"api_info": {"timestamp": 1718700000, "perm_backup": "0", "perm_command": "full_access"}}',
])
def test_api_info_shapes(doc):
    info = ai.parse(doc, None, "h")
    assert info.allows("perm_backup") is False
    assert info.allows("perm_command") is True
    assert info.timestamp == 1718700000
    assert info.allows("perm_nothing") is None


def test_api_info_absurd_values_are_not_trusted():
    info = ai.from_xml(etree.fromstring(b"<api_info><timestamp>1e400</timestamp><permissions>"
                                        b"<perm_backup>maybe</perm_backup></permissions></api_info>"))
    assert info.timestamp is None and info.allows("perm_backup") is None
