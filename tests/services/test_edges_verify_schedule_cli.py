"""`verify --schedule N` with one destination down still verifies the schedule's other transfers and prints each,
the failed one as "the check failed", and exits 1 (the check failed) rather than stopping at the first error.

Real parts: the CLI entry point in this process, HTTPS simulator, real folders (one blocked by a file)."""
from __future__ import annotations

import pytest

from ic.cli import run_cli
from ic.settings.models import DestinationConfig, TransferConfig
from tests.helpers import archived

pytestmark = pytest.mark.usefixtures("restore_logging")


def test_verify_schedule_goes_on_past_a_destination_that_is_down(store, simulator, tmp_path, capsys):
    archived(store, simulator, tmp_path / "files", ["session"], schedule="N")
    (tmp_path / "blocker").write_text("a file where a folder should be")
    store.save_destination(DestinationConfig("broken", "folder", {"directory": str(tmp_path / "blocker")}))
    sched = store.get_schedule("N")
    sched.transfers.insert(0, TransferConfig("sim", "broken", ["session"]))
    store.save_schedule(sched)
    code = run_cli(["verify", "--schedule", "N", "--quiet", "--no-mail"])
    out = capsys.readouterr().out
    assert code == 1
    assert "sim -> broken: the check failed" in out and "sim -> files: the archive is complete" in out
