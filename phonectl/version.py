"""`phonectl --version`: phonectl's version, and what a bug report needs besides (as
`gh --version` and `az version` give): Python's and the libraries' versions."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

# What a bug report needs besides phonectl's own version (gh --version, az version).
VERSIONED_DEPENDENCIES = ("msal", "requests", "typer")


def version_text() -> str:
    """phonectl's version, then Python's and those of the libraries it runs on. None of them
    is imported, nor (usually) importlib.metadata, which alone costs this fast path ~2x."""
    from phonectl import __version__

    found = installed_versions(VERSIONED_DEPENDENCIES)
    libraries = ", ".join(
        f"{name} {found.get(name) or metadata_version(name)}" for name in VERSIONED_DEPENDENCIES
    )
    python = ".".join(map(str, sys.version_info[:3]))  # platform's import costs 10% of --version
    return f"phonectl {__version__}\nPython {python}, {libraries}\n"


def installed_versions(names: Sequence[str]) -> dict[str, str]:
    """Versions read from the names of installed projects' `NAME-VERSION.dist-info`
    directories on sys.path (the layout the "Recording installed projects" spec fixes)."""
    wanted = set(names)
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            listing = os.listdir(entry or ".")
        except OSError:
            continue
        for item in listing:
            name, _, version = item.removesuffix(".dist-info").partition("-")
            key = name.lower().replace("_", "-")
            if item.endswith(".dist-info") and key in wanted and key not in found:
                found[key] = version
    return found


def metadata_version(name: str) -> str:
    """The slow, general way, for an install the directory names do not show."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "(not installed)"
