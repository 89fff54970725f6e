"""The config file: what `auth login` remembered, so that later commands and cron jobs need
no flags. $XDG_CONFIG_HOME/phonectl/config.json (platformdirs' user config dir)."""

import json
import os
import sys
from pathlib import Path
from typing import Any

from phonectl.errors import InvalidInput, Say
from phonectl.files import read_regular_text, write_private_file

# Settings a config file may hold, and the JSON type each must have; other keys are ignored.
REMEMBERED: dict[str, type] = {
    "cloud": str,
    "tenant": str,
    "client_id": str,
    "authority_host": str,
    "graph_url": str,
    "token_cache": str,
    "scopes": list,
    "account": dict,
}
MAX_CONFIG_BYTES = 1024 * 1024


def config_path() -> Path:
    """$XDG_CONFIG_HOME/phonectl/config.json, or the platform's equivalent."""
    if sys.platform.startswith("linux"):
        # Every command reads this file: on Linux the XDG rule is one line, and importing
        # platformdirs would cost 2 ms of each run.
        base = os.environ.get("XDG_CONFIG_HOME", "").strip() or os.path.expanduser("~/.config")
        return Path(base) / "phonectl" / "config.json"
    import platformdirs

    return Path(platformdirs.user_config_dir("phonectl", appauthor=False)) / "config.json"


def load_config(path: Path | None = None, *, warn: Say) -> dict[str, Any]:
    """The remembered settings. An unreadable file counts as empty (with a warning); a value
    of the wrong type is an error naming it (exit 2): guessing could pick the wrong tenant."""
    path = path or config_path()
    try:
        text = read_regular_text(path, "the config file", max_bytes=MAX_CONFIG_BYTES)
        if text is None:
            return {}
        data = json.loads(text)
    except (OSError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        warn(f"ignoring the unreadable config file {path}: {reason}")
        return {}
    if not isinstance(data, dict):
        raise _bad_config(path, "it must hold a JSON object")
    remembered = {key: data[key] for key in REMEMBERED if data.get(key) is not None}
    for key, value in remembered.items():
        if not isinstance(value, REMEMBERED[key]):
            raise _bad_config(path, f"{key!r} must be a {REMEMBERED[key].__name__}")
    if not all(isinstance(s, str) for s in remembered.get("scopes", [])):
        raise _bad_config(path, "'scopes' must be a list of strings")
    if not all(isinstance(v, str) for v in remembered.get("account", {}).values()):
        raise _bad_config(path, "'account' must map names to strings")
    return remembered


def _bad_config(path: Path, why: str) -> InvalidInput:
    return InvalidInput(
        f"the config file {path} is not valid: {why}",
        hint="fix it, or delete it and run 'phonectl auth login' again",
    )


def save_config(values: dict[str, Any], path: Path | None = None) -> Path:
    """Write the remembered settings atomically (mode 0600: it names the account)."""
    path = path or config_path()
    write_private_file(path, json.dumps(values, indent=2, sort_keys=True) + "\n", "config file")
    return path
