"""Settings: flag > PHONECTL_* environment variable > default, and the national-cloud table."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any, NamedTuple

from phonectl.choices import CLOUD_HOSTS, Cloud, OutputFormat
from phonectl.errors import InvalidInput, Say

DEFAULT_TENANT = "organizations"
DEFAULT_SCOPES = ("User.ReadWrite",)


class Secret(str):
    """A token: itself in str() and f-strings, `<hidden>` in any repr (records, logs, errors)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<hidden>"


# Records are NamedTuples, not dataclasses: a frozen dataclass costs ~0.8 ms to define, on
# every run, and these are defined on the path of every command.
class Settings(NamedTuple):
    cloud: Cloud
    graph_url: str
    output: OutputFormat
    max_retries: int
    timeout: float
    debug: bool
    sandbox: bool
    access_token: Secret | None
    tenant: str
    client_id: str | None
    authority_host: str
    scopes: tuple[str, ...]
    token_cache_path: Path | None
    keyring_timeout: float
    account: dict[str, str] | None
    max_wait: float = 300.0
    profile: str = "default"

    @property
    def graph_beta_url(self) -> str:
        return self.graph_url + "/beta"

    @property
    def account_name(self) -> str:
        """The signed-in account as a person reads it."""
        return (self.account or {}).get("username") or "the remembered account"

    @property
    def authority(self) -> str:
        return f"{self.authority_host}/{self.tenant}"


class Flags(NamedTuple):
    """Options as given on the command line; None means 'not given'."""

    cloud: Cloud | None = None
    output: OutputFormat | None = None
    debug: bool | None = None
    sandbox: bool | None = None
    tenant: str | None = None
    client_id: str | None = None
    scopes: tuple[str, ...] | None = None
    profile: str | None = None


def env_text(env: Mapping[str, str], name: str) -> str | None:
    """A PHONECTL_* variable's text; None when unset or empty; InvalidInput when its bytes
    are not UTF-8 (Python hands them over as lone surrogates) or it has control characters."""
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    if any("\ud800" <= c <= "\udfff" for c in raw):
        raise InvalidInput(f"{name} is not valid UTF-8 text")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in raw):
        raise InvalidInput(f"{name} must not contain control characters")
    return raw


def env_bool(env: Mapping[str, str], name: str) -> bool | None:
    """A boolean PHONECTL_* variable (1/0, true/false, yes/no, on/off); None when unset."""
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise InvalidInput(f"{name}={raw!r} is not a boolean: use 1 or 0")


def _env_number(
    env: Mapping[str, str],
    name: str,
    kind: type[float] | type[int],
    *,
    low: float,
    high: float,
    low_inclusive: bool = True,
) -> float | None:
    """A numeric PHONECTL_* variable within [low, high] (or (low, high]); None when unset."""
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = kind(raw.strip())
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"{name}={raw!r} is not a {'whole ' if kind is int else ''}number"
        ) from None
    above_low = value >= low if low_inclusive else value > low
    if not (math.isfinite(value) and above_low and value <= high):
        bound = f"{'at least' if low_inclusive else 'more than'} {low:g} and at most {high:g}"
        raise InvalidInput(f"{name}={raw!r} is out of range: it must be {bound}")
    return value


def _env_choice(env: Mapping[str, str], name: str, enum: type[Enum]) -> str | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    for member in enum:
        if member.value == raw.strip().lower():
            return str(member.value)
    valid = ", ".join(str(m.value) for m in enum)
    raise InvalidInput(f"{name}={raw!r} is not valid: use one of {valid}")


# Bounds that keep a typo from turning into a hang or a crash (1e300 seconds, 10**9 retries).
MAX_TIMEOUT_SECONDS = 3600.0
MAX_RETRIES = 20
MAX_WAIT_SECONDS = 86400.0


def load_settings(
    flags: Flags,
    env: Mapping[str, str] | None = None,
    remembered: Mapping[str, Any] | None = None,
    *,
    warn: Say,
    new_profile: bool = False,
) -> Settings:
    """Resolve every setting: flag > environment > what `auth login` remembered > default.
    The profile (--profile, PHONECTL_PROFILE, else the current one) must exist unless
    `new_profile` (auth login makes it)."""
    env = os.environ if env is None else env
    # An empty --profile is a mistake (a cron line's unset "$TENANT"), never the default.
    asked_profile = (
        flags.profile if flags.profile is not None else env_text(env, "PHONECTL_PROFILE")
    )
    if asked_profile is not None:
        from phonectl.config import check_profile_name

        asked_profile = check_profile_name(asked_profile)
    if remembered is None:
        from phonectl.config import load_profile

        profile, remembered = load_profile(
            warn=warn, profile=asked_profile, must_exist=not new_profile
        )
    else:
        profile = asked_profile or "default"
    cloud = (
        flags.cloud
        or _as_cloud(_env_choice(env, "PHONECTL_CLOUD", Cloud))
        or _as_cloud(remembered.get("cloud"))
        or Cloud.global_
    )
    from phonectl.urls import check_root_url

    graph_url = check_root_url(
        env_text(env, "PHONECTL_GRAPH_URL")
        or remembered.get("graph_url")
        or CLOUD_HOSTS[cloud].graph,
        "PHONECTL_GRAPH_URL",
    )
    authority_host = check_root_url(
        env_text(env, "PHONECTL_AUTHORITY_HOST")
        or remembered.get("authority_host")
        or CLOUD_HOSTS[cloud].authority,
        "PHONECTL_AUTHORITY_HOST",
    )
    output = flags.output or OutputFormat(
        _env_choice(env, "PHONECTL_OUTPUT", OutputFormat) or OutputFormat.table
    )
    max_retries = _env_number(env, "PHONECTL_MAX_RETRIES", int, low=0, high=MAX_RETRIES)
    timeout = _env_number(
        env, "PHONECTL_TIMEOUT", float, low=0, high=MAX_TIMEOUT_SECONDS, low_inclusive=False
    )
    keyring_timeout = _env_number(
        env, "PHONECTL_KEYRING_TIMEOUT", float, low=0, high=MAX_TIMEOUT_SECONDS, low_inclusive=False
    )
    # The longest Retry-After phonectl waits out; Graph may ask for longer (a day at most).
    max_wait = _env_number(env, "PHONECTL_MAX_WAIT", float, low=0, high=MAX_WAIT_SECONDS)
    token_cache = env_text(env, "PHONECTL_TOKEN_CACHE") or remembered.get("token_cache")
    # --scope adds to the default (CONTRACT: "adds scopes"); login remembers the result.
    scopes = (
        tuple(dict.fromkeys(DEFAULT_SCOPES + flags.scopes))
        if flags.scopes
        else tuple(remembered.get("scopes") or ()) or DEFAULT_SCOPES
    )
    account = _remembered_account(remembered)
    access_token = env.get("PHONECTL_ACCESS_TOKEN", "")
    return Settings(
        cloud=cloud,
        graph_url=graph_url.removesuffix("/beta"),
        output=output,
        max_retries=3 if max_retries is None else int(max_retries),
        timeout=30.0 if timeout is None else float(timeout),
        debug=flags.debug or env_bool(env, "PHONECTL_DEBUG") or False,
        sandbox=flags.sandbox or env_bool(env, "PHONECTL_SANDBOX") or False,
        access_token=Secret(access_token) if access_token else None,
        tenant=flags.tenant
        or env_text(env, "PHONECTL_TENANT")
        or remembered.get("tenant")
        or DEFAULT_TENANT,
        client_id=flags.client_id
        or env_text(env, "PHONECTL_CLIENT_ID")
        or remembered.get("client_id")
        or None,
        authority_host=authority_host,
        scopes=scopes,
        token_cache_path=Path(token_cache).expanduser() if token_cache else None,
        keyring_timeout=3.0 if keyring_timeout is None else float(keyring_timeout),
        account=account,
        max_wait=300.0 if max_wait is None else float(max_wait),
        profile=profile,
    )


def _remembered_account(remembered: Mapping[str, Any]) -> dict[str, str] | None:
    """The signed-in account, with the tenant spelling and Graph root its tokens were obtained
    for. A config written before those were kept takes them from the login's own settings."""
    account = remembered.get("account")
    if not isinstance(account, dict):
        return None
    cloud = _as_cloud(remembered.get("cloud")) or Cloud.global_
    return {
        "tenant": str(remembered.get("tenant") or DEFAULT_TENANT),
        "graph_url": str(remembered.get("graph_url") or CLOUD_HOSTS[cloud].graph),
        **{key: value for key, value in account.items() if isinstance(value, str)},
    }


def _as_cloud(value: Any) -> Cloud | None:
    try:
        return Cloud(value) if value else None
    except ValueError:
        return None
