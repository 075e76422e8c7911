"""The transfer engine: windows, state, progress events, locks (see engine.py for the design)."""
