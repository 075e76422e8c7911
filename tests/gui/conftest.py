"""Fixtures of the window tests: ``app`` is the real main window, opened once ``configured`` (the settings the window
finds at start: by default just the test's own store) is ready. A module that needs sites, destinations or
schedules saved before the window opens overrides ``configured`` and returns the store."""
from __future__ import annotations

import pytest


@pytest.fixture
def configured(store):
    return store


@pytest.fixture
def app(configured):
    from ic.gui.testing import running_app

    with running_app() as a:
        yield a
