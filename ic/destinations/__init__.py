"""Destination plugins: File System (folder), SQL, and third-party ones from the entry point group."""

# the modules other packages may import (tests/core/test_public_names.py keeps this true)
__all__ = ["base", "connection_string", "folder", "folder_index", "naming", "registry", "sql", "sql_schema"]
