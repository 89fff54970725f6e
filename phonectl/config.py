"""The config file: what `auth login` remembered, so that later commands and cron jobs need
no flags. $XDG_CONFIG_HOME/phonectl/config.json (platformdirs' user config dir)."""

import json
import os
import sys
from pathlib import Path
from typing import Any

from phonectl.files import write_private_file

# Settings a config file may hold; anything else in it is ignored.
REMEMBERED = (
    "cloud",
    "tenant",
    "client_id",
    "authority_host",
    "graph_url",
    "token_cache",
    "scopes",
    "account",
)


def config_path() -> Path:
    """$XDG_CONFIG_HOME/phonectl/config.json, or the platform's equivalent."""
    if sys.platform.startswith("linux"):
        # Every command reads this file: on Linux the XDG rule is one line, and importing
        # platformdirs would cost 2 ms of each run.
        base = os.environ.get("XDG_CONFIG_HOME", "").strip() or os.path.expanduser("~/.config")
        return Path(base) / "phonectl" / "config.json"
    import platformdirs

    return Path(platformdirs.user_config_dir("phonectl", appauthor=False)) / "config.json"


def load_config(path: Path | None = None) -> dict[str, Any]:
    """The remembered settings; an unreadable file counts as empty (with a warning)."""
    path = path or config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        from phonectl import render

        render.warning(f"ignoring the unreadable config file {path}: {exc}")
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: data[key] for key in REMEMBERED if key in data}


def save_config(values: dict[str, Any], path: Path | None = None) -> Path:
    """Write the remembered settings atomically (mode 0600: it names the account)."""
    path = path or config_path()
    write_private_file(path, json.dumps(values, indent=2, sort_keys=True) + "\n")
    return path
