"""The transfer engine: windows, state, progress events, locks (see engine.py for the design)."""

# the modules other packages may import (tests/core/test_public_names.py keeps this true)
__all__ = ["engine", "lock", "progress", "quarantine", "state"]
