"""The result types every front end shows: one Test result (site, destination, notification e-mail) and a line of
progress for a job (the API Tester). Light on purpose: the window imports this at start-up."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["JobLine", "TestResult"]


@dataclass
class TestResult:
    __test__ = False  # not a pytest test class

    ok: bool
    message: str  # one sentence, safe to show
    field: str | None = None  # the setting the failure points at (a form field key), when one is known

    @classmethod
    def failed(cls, exc: BaseException, fields_by_reason: dict[str, str] | None = None) -> "TestResult":
        """A failed test from an expected error: its sentence, and the field it points at: the one a ConfigError
        names, else the one ``fields_by_reason`` gives for the error's ``reason`` (ic.errors.ApplianceError)."""
        field = getattr(exc, "field", None) or (fields_by_reason or {}).get(getattr(exc, "reason", None) or "")
        return cls(False, str(exc), field)


@dataclass
class JobLine:
    """A line for the API Tester's log (from the worker thread to the window)."""

    message: str
    fraction: float | None = None
