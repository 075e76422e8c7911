"""A simulated BeyondTrust appliance (Remote Support / Privileged Remote Access) for tests, bench and demos."""
from __future__ import annotations

from ic.simulator.faults import Faults
from ic.simulator.simulator import Simulator

__all__ = ["Faults", "Simulator"]
