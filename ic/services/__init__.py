"""Operations shared by the CLI and the GUI (both are thin front ends over these)."""

# the services the front ends call (tests/core/test_public_names.py keeps this true)
__all__ = [
    "api_tester", "app_settings", "appliance_range", "create_db", "destinations", "first_pull", "history",
    "import_xml", "progress_text", "results", "run_as", "runs", "schedules", "settings", "sites", "verify", "xml_fetch",
]
