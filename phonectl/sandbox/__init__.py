"""The built-in Graph emulator: `--sandbox`, `phonectl sandbox serve`, and the tests' Graph."""

from __future__ import annotations

from pathlib import Path


def default_state_path() -> Path:
    """The sandbox's state, a SQLite database in the user data dir."""
    import platformdirs

    return Path(platformdirs.user_data_dir("phonectl", appauthor=False)) / "sandbox.sqlite3"
