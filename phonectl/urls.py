"""The one judgement of a URL that phonectl will send a token to (Graph's root, the login
host, an @odata.nextLink), made so that it cannot differ from how the HTTP library reads it.

A URL is accepted only in a strict form whose host no parser can read two ways: scheme
http(s), a host of letters, digits, dots and hyphens (or a bracketed IPv6 address), an
optional port, and a path of RFC 3986 path characters. Userinfo, backslashes, whitespace,
control characters and anything a parser might repair are refused outright, not cleaned.
The host is then checked against urllib3's own parse (which requests uses) as a second lock.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from phonectl.characters import is_control
from phonectl.errors import InvalidInput

_STRICT_URL = re.compile(
    r"(?P<scheme>[Hh][Tt][Tt][Pp][Ss]?)://"
    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?"
    r"(?P<path>(?:/(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})*)*)",
    re.ASCII,
)
# A nextLink may carry a query ($skiptoken=...), never a fragment.
_QUERY = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*", re.ASCII)


class ServiceUrl(NamedTuple):
    scheme: str
    host: str
    port: int | None
    path: str

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port or (443 if self.scheme == "https" else 80))

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    def text(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{self.host}{port}{self.path}"

    def __str__(self) -> str:  # in messages and f-strings, the URL as written
        return self.text()

    def under(self, path: str) -> ServiceUrl:
        """The URL of `path` below this one (`/beta` below Graph's root): no need to judge
        it again, a path of path characters cannot change where it goes."""
        return self._replace(path=self.path + path)


def is_loopback_host(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (brackets allowed)."""
    import ipaddress

    host = host.lower().removeprefix("[").removesuffix("]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def mask_userinfo(url: str) -> str:
    """The URL with anything before an '@' in its authority replaced, for error messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority = rest[:authority_end]
    if "@" not in authority:
        return url
    return f"{scheme}://[redacted]@{authority.rsplit('@', 1)[1]}{rest[authority_end:]}"


def parse_service_url(url: str, what: str, *, allow_query: bool = False) -> ServiceUrl:
    """The URL, judged; InvalidInput (exit 2) naming `what` when it is not plainly a URL that
    phonectl may send a token to (https, or http to a loopback host)."""
    shown = _shown(url)
    base, qmark, query = url.partition("?") if allow_query else (url, "", "")
    match = _STRICT_URL.fullmatch(base)
    if match is None or (qmark and _QUERY.fullmatch(query) is None):
        raise InvalidInput(f"{what}={shown} is not a plain http(s) URL", hint=_why_not(url))
    scheme, host = match["scheme"].lower(), match["host"].lower()
    port = int(match["port"]) if match["port"] else None
    if port is not None and not 0 < port < 65536:
        raise InvalidInput(f"{what}={shown} has port {port}: ports run from 1 to 65535")
    if host.startswith("["):
        _check_ipv6(host, what, shown)
    parsed = ServiceUrl(scheme, host, port, match["path"])
    _agree_with_urllib3(url, parsed, what, shown)
    if scheme == "http" and not parsed.is_loopback:
        raise InvalidInput(
            f"{what}={shown} is plain http: the token would travel unencrypted",
            hint="use https (plain http is allowed only for a loopback host)",
        )
    return parsed


def root_url(url: str, what: str, *, without: str = "") -> ServiceUrl:
    """A root URL (Graph's or the login host's): judged, without a trailing slash, nor the
    `without` ending (Graph's root given with its /beta)."""
    parsed = parse_service_url(url, what)
    path = parsed.path.rstrip("/")
    return parsed._replace(path=path.removesuffix(without) if without else path)


def _check_ipv6(host: str, what: str, shown: str) -> None:
    import ipaddress

    try:
        ipaddress.IPv6Address(host[1:-1])
    except ValueError:
        raise InvalidInput(f"{what}={shown} has an invalid IPv6 host") from None


def _agree_with_urllib3(url: str, parsed: ServiceUrl, what: str, shown: str) -> None:
    """The HTTP library must read the same scheme, host and port: a second, independent lock."""
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url

    try:
        theirs = parse_url(url)
    except LocationParseError:
        raise InvalidInput(f"{what}={shown} is not a valid URL") from None
    same = (
        (theirs.scheme or "").lower() == parsed.scheme
        and (theirs.host or "").lower() == parsed.host
        and theirs.port == parsed.port
        and theirs.auth is None
    )
    if not same:  # pragma: no cover - the strict form leaves no room for this
        raise InvalidInput(f"{what}={shown} is ambiguous: it could reach another host")


def _why_not(url: str) -> str:
    if "\\" in url:
        return "a URL must not contain backslashes"
    if "@" in url:
        return "a URL must not carry a user name or password (user:pass@)"
    if any(c.isspace() or is_control(c) for c in url):
        return "a URL must not contain spaces or control characters"
    if "#" in url or "?" in url:
        return "a root URL must not carry a query or fragment"
    return "expected https://host[:port][/path], e.g. https://graph.microsoft.com"


def _shown(url: str) -> str:
    # Never echo a password, and keep the text on one line (render escapes the rest).
    return repr(mask_userinfo(url))
