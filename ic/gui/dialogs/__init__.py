"""Each dialog is a Panel (a CTkFrame) shown in a single-instance CTkToplevel; the wizard embeds the same panels."""
