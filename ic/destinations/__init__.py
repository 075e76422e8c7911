"""Destination plugins: File System (folder), SQL, and third-party ones from the entry point group."""
