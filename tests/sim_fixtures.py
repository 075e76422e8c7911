"""Simulator fixtures for any test, registered by tests/conftest.py (``pytest_plugins``): just name them.

``simulator``: a running RS simulator, 50 sessions, seed 7 (5 in progress, 64 kB recordings).
``make_simulator(**kwargs)``: starts ``Simulator(**kwargs)`` (same defaults: sessions=50, seed=7) and returns it;
every simulator made is stopped at teardown (and the test fails if the simulator itself crashed).
"""
from __future__ import annotations

import pytest

from ic.simulator import Simulator


@pytest.fixture
def make_simulator():
    started: list[Simulator] = []

    def make(**kwargs) -> Simulator:
        kwargs.setdefault("sessions", 50)
        kwargs.setdefault("seed", 7)
        port = kwargs.pop("port", 0)
        sim = Simulator(**kwargs).start(port)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()
    bugs = [trace for sim in started for trace in sim.errors]
    if bugs:
        pytest.fail(f"the simulator itself failed (answered 500) {len(bugs)} time(s):\n{bugs[0]}")


@pytest.fixture
def simulator(make_simulator) -> Simulator:
    return make_simulator(sessions=50, seed=7, product="rs")
