"""Fixtures of the destination tests."""
from __future__ import annotations

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A storage database URL, once on SQLite and once on a fresh PostgreSQL database (``pg_url``)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'storage' / 'ic.db'}"
    return request.getfixturevalue("pg_url")
