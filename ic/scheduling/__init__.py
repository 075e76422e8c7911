"""When schedules run: the due rule (due.py) and the OS task registration (task_*.py)."""
