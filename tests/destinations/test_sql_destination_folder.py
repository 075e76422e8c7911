"""A SQLite destination whose folder cannot be made is one sentence and a failed run, not an internal error that
the scheduler retries every minute (issue 10 item 9)."""
from __future__ import annotations

import pytest

from ic.destinations.sql import SqlDestination
from ic.errors import ConfigError
from ic.services.runs import run_schedule
from tests.helpers import add_schedule, add_site, add_sql


def test_a_file_in_the_way_of_the_sqlite_folder_is_one_sentence(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    dest = SqlDestination("Warehouse", {"url": f"sqlite:///{tmp_path / 'afile' / 'sub' / 'out.db'}"})
    with pytest.raises(ConfigError) as err:
        dest.test()
    text = str(err.value)
    assert text.startswith("Destination Warehouse: cannot create the folder") and "afile" in text
    assert "connection string" in text and "Traceback" not in text


def test_a_run_into_it_counts_as_failed_with_that_sentence_not_internal(store, simulator, tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    add_site(store, simulator)
    add_sql(store, f"sqlite:///{tmp_path / 'afile' / 'out.db'}")
    add_schedule(store, "Nightly", ("sim", "db", ["session"]))
    outcome = run_schedule(store, "Nightly")
    assert outcome.status == "failed", outcome.message()
    assert "cannot create the folder" in outcome.message()
    sched = store.get_schedule("Nightly")
    assert sched.last_run is not None and sched.last_status.startswith("failed")  # the guide's last-run rule
