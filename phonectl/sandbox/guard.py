"""What keeps the emulator safe to leave running as a local service: it answers loopback Hosts
only (a web page reaching it through DNS rebinding names its own host), its control API takes
JSON only (no cross-site form posts), and its request log holds no credential."""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import urlsplit

from phonectl.urls import is_loopback_host

# Headers that carry a credential: never kept in the request log, never returned.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_PORT = re.compile(r":[0-9]{1,5}")


def is_loopback_host_header(host: str) -> bool:
    """A Host header naming loopback, with or without a port: `localhost:8080`, `127.0.0.1`,
    `[::1]:80`. Anything else (a rebinding attacker's own name, an empty Host) is not."""
    host = host.strip()
    if host.startswith("["):
        name, bracket, port = host[1:].partition("]")
        if not bracket:
            return False
    else:
        name, colon, rest = host.partition(":")
        port = colon + rest
    return (not port or _PORT.fullmatch(port) is not None) and is_loopback_host(name)


def is_loopback_origin(origin: str) -> bool:
    """An Origin header of a page served from this machine (`http://localhost:3000`)."""
    try:
        parts = urlsplit(origin)
        return parts.scheme in {"http", "https"} and is_loopback_host(parts.hostname or "")
    except ValueError:
        return False


def is_json_media_type(content_type: str) -> bool:
    """`application/json`, with or without parameters (`; charset=utf-8`)."""
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


def credential_fingerprint(authorization: str) -> str:
    """What the log keeps of an Authorization header: enough for a test to tell which token
    was sent (compare fingerprints), never the token. '' when none was sent."""
    if not authorization:
        return ""
    scheme = authorization.split(" ", 1)[0]
    return f"{scheme} sha256:{hashlib.sha256(authorization.encode()).hexdigest()[:16]}"


def loggable_headers(headers: dict[str, str]) -> dict[str, str]:
    """The headers without those that carry a credential."""
    return {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}


def scrubbed(value: Any, secrets: tuple[str, ...]) -> Any:
    """A JSON value with credential headers (a batch item's own `headers`) dropped and every
    secret's text replaced, so that a logged body cannot hand a token back."""
    if isinstance(value, dict):
        return {
            k: scrubbed(v, secrets)
            for k, v in value.items()
            if not (isinstance(k, str) and k.lower() in CREDENTIAL_HEADERS)
        }
    if isinstance(value, list):
        return [scrubbed(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "[redacted]")
        return value
    return value


def secrets_in(authorization: str) -> tuple[str, ...]:
    """The texts to keep out of the log: the whole header and its credential (>= 4 chars, so
    that a test's `Bearer x` does not redact every x)."""
    credential = authorization.split(" ", 1)[1].strip() if " " in authorization else ""
    return tuple(s for s in (authorization, credential) if len(s) >= 4)
