"""Where a bearer token comes from. Knows nothing of Typer or Rich."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from phonectl.errors import SignInRequired
from phonectl.settings import Settings

SANDBOX_TOKEN = "sandbox"


class TokenSource(str, Enum):
    env = "env"
    sandbox = "sandbox"


@dataclass(frozen=True)
class Token:
    """A bearer token and where it came from (auth status reports the source)."""

    value: str = field(repr=False)
    source: TokenSource


def acquire_token(settings: Settings) -> Token:
    """The token for Graph calls: the sandbox's, else PHONECTL_ACCESS_TOKEN."""
    if settings.sandbox:
        return Token(SANDBOX_TOKEN, TokenSource.sandbox)
    if settings.access_token:
        return Token(settings.access_token, TokenSource.env)
    raise SignInRequired(
        "no access token: phonectl has nothing to authenticate to Graph with",
        hint="set PHONECTL_ACCESS_TOKEN to a Graph token for now "
        "(for example: export PHONECTL_ACCESS_TOKEN=$(az account get-access-token "
        "--resource-type ms-graph --query accessToken -o tsv)), or use --sandbox",
    )
