"""The config file: what `auth login` remembered, so that later commands and cron jobs need
no flags. $XDG_CONFIG_HOME/phonectl/config.json (platformdirs' user config dir).

It holds profiles, one remembered sign-in each (an MSP's tenants, an admin's two accounts).
The top level is the profile named `default`, exactly as a config written before profiles
existed, so such a file keeps working untouched; other profiles live under "profiles", and
"current_profile" names the one used without --profile (auth switch)."""

import json
import os
import re
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
DEFAULT_PROFILE = "default"
# A name that is safe as a keyring key, a lock file's name and a shell word; no '.', which
# the keyring's chunk keys use (a profile "x.0" would collide with x's first chunk), and
# matched whatever its case (some keyrings, Windows' among them, ignore case).
PROFILE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def config_path() -> Path:
    """$XDG_CONFIG_HOME/phonectl/config.json, or the platform's equivalent."""
    if sys.platform.startswith("linux"):
        # Every command reads this file: on Linux the XDG rule is one line, and importing
        # platformdirs would cost 2 ms of each run.
        base = os.environ.get("XDG_CONFIG_HOME", "").strip() or os.path.expanduser("~/.config")
        return Path(base) / "phonectl" / "config.json"
    import platformdirs

    return Path(platformdirs.user_config_dir("phonectl", appauthor=False)) / "config.json"


def read_config(path: Path | None = None, *, warn: Say) -> dict[str, Any]:
    """The whole config file as JSON (every profile). An unreadable file counts as empty (with
    a warning); one that is not a JSON object is an error naming it (exit 2)."""
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
    profiles = data.get("profiles")
    if profiles is not None and not (
        isinstance(profiles, dict) and all(isinstance(v, dict) for v in profiles.values())
    ):
        raise _bad_config(path, "'profiles' must map names to objects")
    current = data.get("current_profile")
    if current is not None and not isinstance(current, str):
        raise _bad_config(path, "'current_profile' must be a string")
    return data


def profile_names(data: dict[str, Any]) -> list[str]:
    """Every profile the config holds: `default` first, then the others by name."""
    return [DEFAULT_PROFILE, *sorted(n for n in data.get("profiles") or {} if n != DEFAULT_PROFILE)]


def current_profile(data: dict[str, Any]) -> str:
    """The profile used without --profile or PHONECTL_PROFILE (auth switch sets it)."""
    return str(data.get("current_profile") or DEFAULT_PROFILE)


def check_profile_name(name: str) -> str:
    """A profile name as stored: lower case (names match whatever their case)."""
    if not PROFILE_NAME.fullmatch(name.lower()):
        raise InvalidInput(
            f"{name!r} is not a profile name: use letters, digits, '_' and '-' (up to 64, "
            "starting with a letter or digit)"
        )
    return name.lower()


def profile_section(data: dict[str, Any], name: str) -> dict[str, Any] | None:
    """A profile's own JSON object (the top level for `default`); None when there is none."""
    if name == DEFAULT_PROFILE:
        return data
    section = (data.get("profiles") or {}).get(name)
    return section if isinstance(section, dict) else None


def load_config(
    path: Path | None = None, *, warn: Say, profile: str | None = None, must_exist: bool = True
) -> dict[str, Any]:
    """What one profile remembered (the current one when `profile` is None)."""
    return load_profile(path, warn=warn, profile=profile, must_exist=must_exist)[1]


def load_profile(
    path: Path | None = None, *, warn: Say, profile: str | None = None, must_exist: bool = True
) -> tuple[str, dict[str, Any]]:
    """A profile's name and what it remembered (the current profile when `profile` is None).
    A value of the wrong type is an error naming it (exit 2): guessing could pick the wrong
    tenant. A profile that does not exist is an error too, unless `must_exist` is False
    (auth login, which makes it)."""
    path = path or config_path()
    data = read_config(path, warn=warn)
    name = check_profile_name(profile) if profile else current_profile(data)
    section = profile_section(data, name)
    if section is None:
        if must_exist:
            known = ", ".join(profile_names(data))
            raise InvalidInput(
                f"there is no profile {name!r} (profiles: {known})",
                hint=f"sign in to it first: phonectl auth login --profile {name}",
            )
        section = {}
    remembered = {key: section[key] for key in REMEMBERED if section.get(key) is not None}
    for key, value in remembered.items():
        if not isinstance(value, REMEMBERED[key]):
            raise _bad_config(path, f"{key!r} must be a {REMEMBERED[key].__name__}")
    if not all(isinstance(s, str) for s in remembered.get("scopes", [])):
        raise _bad_config(path, "'scopes' must be a list of strings")
    if not all(isinstance(v, str) for v in remembered.get("account", {}).values()):
        raise _bad_config(path, "'account' must map names to strings")
    return name, remembered


def _bad_config(path: Path, why: str) -> InvalidInput:
    return InvalidInput(
        f"the config file {path} is not valid: {why}",
        hint="fix it, or delete it and run 'phonectl auth login' again",
    )


def save_config(values: dict[str, Any], path: Path | None = None) -> Path:
    """Write the whole config file atomically (mode 0600: it names the accounts)."""
    path = path or config_path()
    write_private_file(path, json.dumps(values, indent=2, sort_keys=True) + "\n", "config file")
    return path


def save_profile(name: str, values: dict[str, Any], *, warn: Say, path: Path | None = None) -> Path:
    """Replace one profile's remembered settings, keeping every other profile as it was
    (read, changed and written under a lock: two logins at once lose neither)."""
    path = path or config_path()
    with _config_lock(path):
        data = read_config(path, warn=warn)
        if name == DEFAULT_PROFILE:
            kept: dict[str, Any] = {
                k: data[k] for k in ("profiles", "current_profile") if k in data
            }
            data = {**values, **kept}
        else:
            data["profiles"] = {**(data.get("profiles") or {}), name: values}
        return save_config(data, path)


def switch_profile(name: str, *, warn: Say, path: Path | None = None) -> Path:
    """Make `name` the profile used without --profile."""
    path = path or config_path()
    with _config_lock(path):
        data = read_config(path, warn=warn)
        if profile_section(data, check_profile_name(name)) is None:
            raise InvalidInput(
                f"there is no profile {name!r} (profiles: {', '.join(profile_names(data))})",
                hint=f"sign in to it first: phonectl auth login --profile {name}",
            )
        if name.lower() == DEFAULT_PROFILE:
            data.pop("current_profile", None)
        else:
            data["current_profile"] = name.lower()
        return save_config(data, path)


# A config change is a few milliseconds; another process's is waited for this long at most.
CONFIG_LOCK_WAIT = 10.0


def _config_lock(path: Path) -> Any:
    from phonectl.files import exclusive_lock

    return exclusive_lock(
        path.with_name(path.name + ".lock"), wait=CONFIG_LOCK_WAIT, holder="config"
    )
