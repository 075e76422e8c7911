"""`site add` + `site test` end to end: the real program in a subprocess against the simulator over HTTPS."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
GOOD = "G00d-Secret-value-4242"
WRONG = "Wr0ng-Secret-value-9999"


def run(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def all_bytes_under(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_site_add_then_test_succeeds_and_fails_with_one_sentence(make_simulator, ic_home):
    sim = make_simulator(client_secret=GOOD)
    env = {**os.environ, "IC_HOME": str(ic_home), "DEMO_SECRET": GOOD, "BAD_SECRET": WRONG}
    env.pop("IC_SETTINGS", None)

    added = run("site", "add", "demo", "--host", sim.host, "--client-id", sim.client_id,
                "--client-secret-env", "DEMO_SECRET", "--ca-bundle", sim.ca_file, env=env)
    assert added.returncode == 0, added.stderr

    ok = run("site", "test", "demo", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.splitlines() == [
        f"Connected to {sim.host} (Remote Support); the API account can read session reports.",
        "Recordings: yes, the API account may download session recordings.",
        "Backup: yes, the appliance says the API account may download site backups.",
    ]
    assert sim.stats["tokens_minted"] == 1

    edited = run("site", "edit", "demo", "--client-secret-env", "BAD_SECRET", env=env)
    assert edited.returncode == 0, edited.stderr
    bad = run("site", "test", "demo", env=env)
    assert bad.returncode == 1
    assert bad.stdout.strip() == (
        f"The appliance at {sim.host} rejected the client ID or secret; check the API account's credentials."
    )

    host = sim.host
    sim.stop(keep_certs=True)  # the appliance is down; its CA file stays
    down = run("site", "test", "demo", env=env)
    assert down.returncode == 1
    assert down.stdout.strip() == f"Cannot connect to {host}: the connection was refused; check the host and port."

    outputs = "".join(p.stdout + p.stderr for p in (added, ok, edited, bad, down))
    stored = all_bytes_under(ic_home)
    assert stored, "the settings database should exist under IC_HOME"
    for secret in (GOOD, WRONG):
        assert secret not in outputs
        assert secret.encode() not in stored


def test_site_test_names_an_unknown_host(ic_home):
    env = {**os.environ, "IC_HOME": str(ic_home), "DEMO_SECRET": GOOD}
    env.pop("IC_SETTINGS", None)
    assert run("site", "add", "nohost", "--host", "nonexistent.invalid", "--client-id", "x",
               "--client-secret-env", "DEMO_SECRET", env=env).returncode == 0
    result = run("site", "test", "nohost", env=env)
    assert result.returncode == 1
    assert result.stdout.strip() == "Cannot find nonexistent.invalid: check the site's host name."
