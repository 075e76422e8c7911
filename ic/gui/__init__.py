"""The desktop window (customtkinter). A thin front end: every action calls a service in a worker thread."""
