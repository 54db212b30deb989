"""The project's own command-line helpers (run as `python scripts/<name>.py`)."""
