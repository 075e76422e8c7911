"""Each dialog is a Panel (a CTkFrame) shown in a single-instance CTkToplevel; the wizard embeds the same panels."""

# the panels other modules open (tests/core/test_public_names.py keeps this true)
__all__ = [
    "api_tester", "app_settings", "base", "log_viewer", "notify", "plugin", "schedule", "settings_db", "site", "verify",
    "wizard",
]
