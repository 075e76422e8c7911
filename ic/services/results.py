"""The one result type of every Test button and `... test` command (site, destination, notification e-mail)."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TestResult"]


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
