"""When schedules run: the due rule (due.py) and the OS task registration (task_*.py)."""

# the modules other packages may import (tests/core/test_public_names.py keeps this true)
__all__ = ["due", "heartbeat", "lease", "resident", "task", "task_windows"]
