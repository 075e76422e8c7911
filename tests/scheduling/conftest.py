"""Fixtures of the scheduling tests."""
from __future__ import annotations

from pathlib import Path

import pytest


def _settings_url(tmp_path: Path) -> str:
    """A real SQLite file; on tmpfs when the machine has one (no fsync per heartbeat: days of checks in seconds)."""
    shm = Path("/dev/shm")
    folder = Path(__import__("tempfile").mkdtemp(dir=shm)) if shm.is_dir() else tmp_path
    return f"sqlite:///{folder / 'settings.db'}"


@pytest.fixture
def fast_store(tmp_path, ic_home):
    import shutil

    from ic.settings.store import SettingsStore

    url = _settings_url(tmp_path)
    store = SettingsStore(url)
    yield store
    store.close()
    shutil.rmtree(Path(url.removeprefix("sqlite:///")).parent, ignore_errors=True)
