"""The desktop window (customtkinter). A thin front end: every action calls a service in a worker thread."""

# the modules other packages may import (tests/core/test_public_names.py keeps this true)
__all__ = ["app", "dialogs", "services_adapter"]
