"""Settings: flag > PHONECTL_* environment variable > what `auth login` remembered > default.

SETTINGS is the one table of them (name, variable, flag, default, parser, help): loading and
`phonectl help environment` are both derived from it, and each default is written there once."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from phonectl.characters import has_control
from phonectl.choices import CLOUD_HOSTS, Cloud, OutputFormat, choose
from phonectl.errors import InvalidInput, Say


class Secret(str):
    """A token: itself in str() and f-strings, `<hidden>` in any repr (records, logs, errors),
    and redacted from all output from the moment it is made (no call site can forget)."""

    __slots__ = ()

    def __new__(cls, value: str) -> Secret:
        from phonectl.safe_output import add_secret

        add_secret(value)
        return super().__new__(cls, value)

    @classmethod
    def public(cls, value: str) -> Secret:
        """A token that is no secret (the sandbox's fixed word): never redacted, or the
        word would vanish from every output of the process."""
        return str.__new__(cls, value)

    def __repr__(self) -> str:
        return "<hidden>"


# Records are NamedTuples, not dataclasses: a frozen dataclass costs ~0.8 ms to define, on
# every run, and these are defined on the path of every command.
class Settings(NamedTuple):
    cloud: Cloud
    graph_url: ServiceUrl  # judged once, when the settings are loaded (urls.py)
    output: OutputFormat
    max_retries: int
    timeout: float
    debug: bool
    sandbox: bool
    access_token: Secret | None
    tenant: str
    client_id: str | None
    authority_host: ServiceUrl
    scopes: tuple[str, ...]
    token_cache_path: Path | None
    keyring_timeout: float
    account: dict[str, str] | None
    max_wait: float
    query: str | None
    profile: str
    region: str | None

    @property
    def graph_beta_url(self) -> ServiceUrl:
        return self.graph_url.under("/beta")

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
    query: str | None = None
    profile: str | None = None


# -- parsers: a variable's (or a remembered value's) text and its name -> the value --------

if TYPE_CHECKING:  # subscripting Callable at run time costs every command start-up
    from collections.abc import Callable

    from phonectl.urls import ServiceUrl

    Parser = Callable[[str, str], Any]


def text(raw: str, name: str) -> str:
    """Text as it is, refused when its bytes were not UTF-8 (Python hands them over as lone
    surrogates) or it has control characters."""
    if any("\ud800" <= c <= "\udfff" for c in raw):
        raise InvalidInput(f"{name} is not valid UTF-8 text")
    if has_control(raw):
        raise InvalidInput(f"{name} must not contain control characters")
    return raw


def word(raw: str, name: str) -> str:
    """An id or a domain (a tenant, a client id): one word, since it becomes part of the
    login host's URL, where a space, '/', '?', '#' or '\\' would change which URL is called."""
    value = text(raw, name)
    if not value or any(c.isspace() or c in "/?#\\%" for c in value):
        raise InvalidInput(
            f"{name}={value!r} is not an id or a domain (no spaces, '/', '?', '#', '\\' or '%')"
        )
    return value


def boolean(raw: str, name: str) -> bool:
    """1/0, true/false, yes/no, on/off."""
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise InvalidInput(f"{name}={raw!r} is not a boolean: use 1 or 0")


def choice(enum: type[Enum]) -> Parser:
    """One of an enum's values, case-insensitively."""

    def parse(raw: str, name: str) -> Any:
        member = choose(enum, raw)
        if member is not None:
            return member
        valid = ", ".join(str(m.value) for m in enum)
        raise InvalidInput(f"{name}={raw!r} is not valid: use one of {valid}")

    return parse


def number(
    kind: type[float] | type[int], *, low: float, high: float, low_inclusive: bool = True
) -> Parser:
    """A number within [low, high] (or (low, high])."""

    def parse(raw: str, name: str) -> float | int:
        try:
            value = kind(raw.strip())
        except (ValueError, OverflowError):
            whole = "whole " if kind is int else ""
            raise InvalidInput(f"{name}={raw!r} is not a {whole}number") from None
        above_low = value >= low if low_inclusive else value > low
        if not (math.isfinite(value) and above_low and value <= high):
            bound = f"{'at least' if low_inclusive else 'more than'} {low:g} and at most {high:g}"
            raise InvalidInput(f"{name}={raw!r} is out of range: it must be {bound}")
        return value

    return parse


def _secret(raw: str, name: str) -> Secret:
    return Secret(raw)  # checked where it is used (auth.py), with a sign-in error's exit code


def _path(raw: str, name: str) -> Path:
    return Path(text(raw, name)).expanduser()


def _query(raw: str, name: str) -> str:
    from phonectl.query import compile_query  # jmespath: only when a query is given

    compile_query(raw, name)
    return raw


# Bounds that keep a typo from turning into a hang or a crash (1e300 seconds, 10**9 retries).
MAX_TIMEOUT_SECONDS = 3600.0
MAX_RETRIES = 20
MAX_WAIT_SECONDS = 86400.0


class Setting(NamedTuple):
    """One setting: where it may come from, its default, and what it means."""

    name: str  # the Settings field
    env: str | None  # its PHONECTL_* variable
    flag: str | None  # its command-line option, if it has one
    default: Any
    parse: Parser
    help: str
    remembered: str | None = None  # its key in the config file when `auth login` keeps it
    default_text: str | None = None  # the default in words, when it is not a plain value


def _either(enum: type[Enum]) -> str:
    """An enum's values as help words: "table, json or tsv"."""
    *rest, last = (str(member.value) for member in enum)
    return f"{', '.join(rest)} or {last}" if rest else last


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "profile",
        "PHONECTL_PROFILE",
        "--profile",
        None,  # the config file's current profile (config.current_profile)
        text,
        "the remembered sign-in to use (auth login --profile NAME makes one)",
        default_text="the one 'auth switch' chose, else 'default'",
    ),
    Setting(
        "cloud",
        "PHONECTL_CLOUD",
        "--cloud",
        Cloud.global_,
        choice(Cloud),
        f"national cloud: {_either(Cloud)}; picks Graph and login hosts",
        remembered="cloud",
    ),
    Setting(
        "graph_url",
        "PHONECTL_GRAPH_URL",
        None,
        None,
        text,
        "Graph's root, e.g. https://graph.microsoft.com (/beta is added)",
        remembered="graph_url",
        default_text="the cloud's",
    ),
    Setting(
        "authority_host",
        "PHONECTL_AUTHORITY_HOST",
        None,
        None,
        text,
        "the login host, e.g. https://login.microsoftonline.com",
        remembered="authority_host",
        default_text="the cloud's",
    ),
    Setting(
        "tenant",
        "PHONECTL_TENANT",
        "--tenant",
        "organizations",
        word,
        "tenant id or domain to sign in to",
        remembered="tenant",
    ),
    Setting(
        "client_id",
        "PHONECTL_CLIENT_ID",
        "--client-id",
        None,
        word,
        "the Entra app registration's client id",
        remembered="client_id",
    ),
    Setting(
        "scopes",
        None,
        "--scope",
        ("User.ReadWrite",),
        text,
        "Graph permissions to ask for at sign-in (--scope adds to the default)",
        remembered="scopes",
    ),
    Setting(
        "access_token",
        "PHONECTL_ACCESS_TOKEN",
        None,
        None,
        _secret,
        "a bearer token to use as is: no sign-in, no token cache",
    ),
    Setting(
        "token_cache_path",
        "PHONECTL_TOKEN_CACHE",
        None,
        None,
        _path,
        "a file (mode 0600) to keep the token cache in instead of the keyring",
        remembered="token_cache",
        default_text="the keyring",
    ),
    Setting(
        "output",
        "PHONECTL_OUTPUT",
        "-o/--output",
        OutputFormat.table,
        choice(OutputFormat),
        f"output format: {_either(OutputFormat)}",
    ),
    Setting(
        "query",
        "PHONECTL_QUERY",
        "--query",
        None,
        _query,
        "a JMESPath expression applied to the json form of every result",
    ),
    Setting(
        "region",
        "PHONECTL_REGION",
        "--region",
        None,
        text,
        "country (ISO 3166 code, e.g. US, DE) of numbers written without a +country code, "
        "for --normalize",
    ),
    Setting(
        "timeout",
        "PHONECTL_TIMEOUT",
        None,
        30.0,
        number(float, low=0, high=MAX_TIMEOUT_SECONDS, low_inclusive=False),
        "seconds one whole HTTP request may take",
    ),
    Setting(
        "max_retries",
        "PHONECTL_MAX_RETRIES",
        None,
        3,
        number(int, low=0, high=MAX_RETRIES),
        "retries of a request Graph answered 429, 503 or 504",
    ),
    Setting(
        "max_wait",
        "PHONECTL_MAX_WAIT",
        None,
        300.0,
        # Graph may ask for longer than the default (a day at most).
        number(float, low=0, high=MAX_WAIT_SECONDS),
        "the longest Retry-After phonectl waits out, in seconds (past it: exit 6)",
    ),
    Setting(
        "keyring_timeout",
        "PHONECTL_KEYRING_TIMEOUT",
        None,
        3.0,
        number(float, low=0, high=MAX_TIMEOUT_SECONDS, low_inclusive=False),
        "seconds to wait for the keyring before giving up on it",
    ),
    Setting(
        "debug",
        "PHONECTL_DEBUG",
        "--debug",
        False,
        boolean,
        "1: log each HTTP call to stderr (Authorization hidden), show tracebacks",
    ),
    Setting(
        "sandbox",
        "PHONECTL_SANDBOX",
        "--sandbox",
        False,
        boolean,
        "1: use the built-in Graph emulator, no sign-in",
    ),
)
SETTING = {row.name: row for row in SETTINGS}
DEFAULT_TENANT: str = SETTING["tenant"].default
DEFAULT_SCOPES: tuple[str, ...] = SETTING["scopes"].default


def default_in_words(row: Setting) -> str:
    """A setting's default as help shows it."""
    if row.default_text is not None:
        return row.default_text
    if row.default is None:
        return "none"
    if isinstance(row.default, bool):
        return "1" if row.default else "0"
    if isinstance(row.default, Enum):
        return str(row.default.value)
    if isinstance(row.default, tuple):
        return " ".join(row.default)
    return f"{row.default:g}" if isinstance(row.default, float) else str(row.default)


def from_env(env: Mapping[str, str], name: str) -> Any:
    """A setting's value from its variable in `env`, parsed; None when unset or empty."""
    variable = SETTING[name].env
    raw = env.get(variable) if variable else None
    if variable is None or raw is None or raw == "":
        return None
    return SETTING[name].parse(raw, variable)


def load_settings(
    flags: Flags,
    env: Mapping[str, str] | None = None,
    remembered: Mapping[str, Any] | None = None,
    *,
    warn: Say,
    new_profile: bool = False,
) -> Settings:
    """Resolve every setting of the table: flag > environment > remembered > default.
    The profile (--profile, PHONECTL_PROFILE, else the current one) must exist unless
    `new_profile` (auth login makes it)."""
    env = os.environ if env is None else env
    asked_profile = _resolve(SETTING["profile"], flags, env, {})
    if asked_profile is not None:
        # An empty --profile is a mistake (a cron line's unset "$TENANT"), never the default.
        from phonectl.config import check_profile_name

        asked_profile = check_profile_name(asked_profile)
    if remembered is None:
        from phonectl.config import load_profile

        profile, remembered = load_profile(
            warn=warn, profile=asked_profile, must_exist=not new_profile
        )
    else:
        from phonectl.config import DEFAULT_PROFILE

        profile = asked_profile or DEFAULT_PROFILE
    value = {
        row.name: _resolve(row, flags, env, remembered, profile)
        for row in SETTINGS
        if row.name != "profile"
    }
    cloud = value["cloud"]
    from phonectl.urls import root_url

    # --scope adds to the default scopes; login remembers the result.
    scopes = tuple(value["scopes"])
    if flags.scopes:
        scopes = tuple(dict.fromkeys(DEFAULT_SCOPES + flags.scopes))
    value.update(
        # A root URL's default is its cloud's; either way it is checked the same.
        graph_url=root_url(
            value["graph_url"] or CLOUD_HOSTS[cloud].graph, "PHONECTL_GRAPH_URL", without="/beta"
        ),
        authority_host=root_url(
            value["authority_host"] or CLOUD_HOSTS[cloud].authority, "PHONECTL_AUTHORITY_HOST"
        ),
        scopes=scopes,
        account=_remembered_account(remembered),
        profile=profile,
    )
    return Settings(**value)


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


def _resolve(
    row: Setting,
    flags: Flags,
    env: Mapping[str, str],
    remembered: Mapping[str, Any],
    profile: str = "",
) -> Any:
    """A flag, else its variable, else what was remembered (in `profile`), else the row's
    default."""
    given = getattr(flags, row.name, None)
    if given is not None and row.name != "scopes":
        # A flag's text is checked as its variable's would be; Click has typed the others.
        return row.parse(given, row.flag or row.name) if type(given) is str else given
    from_variable = from_env(env, row.name)
    if from_variable is not None:
        return from_variable
    kept = remembered.get(row.remembered) if row.remembered else None
    if kept:
        if not isinstance(kept, str):
            return kept  # a list (scopes): config.py has checked its type
        # A value that is not valid (a mistyped "usgov", a cloud this release does not know)
        # is refused like the variable's: never quietly the default, which for the cloud
        # would send a sovereign tenant's sign-in to the global one.
        try:
            return row.parse(kept, row.remembered or row.name)
        except InvalidInput as exc:
            from phonectl.config import config_path

            way_out = f"phonectl auth login {row.flag} VALUE" if row.flag else "phonectl auth login"
            raise InvalidInput(
                f"{exc.message} (remembered in profile {profile!r} of {config_path()})",
                hint=f"correct it in that file, or sign in again with the right one: {way_out}",
            ) from None
    return row.default
