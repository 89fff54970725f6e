"""The one URL judgement agrees with the HTTP library: whatever phonectl accepts, requests
(through urllib3's parser) sends to the same scheme, host and port; whatever phonectl calls
loopback is a loopback host to urllib3 too; userinfo is never accepted."""

from __future__ import annotations

import pytest
import requests
from hypothesis import example, given, settings
from hypothesis import strategies as st
from urllib3.util import parse_url

from phonectl.errors import InvalidInput
from phonectl.urls import is_loopback_host, parse_service_url

# Pieces that have fooled URL parsers: userinfo, backslashes, encoded and Unicode dots,
# brackets, whitespace, controls, fragments, odd ports.
PIECES = [
    "http",
    "https",
    "HTTP",
    "://",
    ":/",
    "/",
    "//",
    "\\",
    "@",
    ":",
    "#",
    "?",
    "%",
    "%2e",
    "%40",
    "%5c",
    ".",
    "..",
    "[",
    "]",
    "::1",
    "127.0.0.1",
    "127.0.0.2",
    "localhost",
    "graph.example.net",
    "evil.example",
    "8080",
    "99999",
    "0",
    " ",
    "\t",
    "\n",
    "\x00",
    "\u3002",
    "\uff0e",
    "\u2024",
    "".join(chr(ord(c) + 0xFEE0) for c in "localhost"),  # fullwidth letters
    "user",
    "pass",
    "beta",
    "x",
]

urls = st.lists(st.sampled_from(PIECES), min_size=1, max_size=12).map("".join)


def judged(url: str) -> tuple[str, str, int | None] | None:
    try:
        parsed = parse_service_url(url, "URL", allow_query=True)
    except InvalidInput:
        return None
    return parsed.scheme, parsed.host, parsed.port


@settings(max_examples=1500, deadline=None)
@given(url=urls)
@example(url="http://graph.example.net:8080\\@127.0.0.1")
@example(url="http://127.0.0.1@evil.example")
@example(url="http://evil.example#@127.0.0.1")
@example(url="http://[::1]:8080/beta")
@example(url="https://localhost\u3002evil.example/")
def test_what_phonectl_accepts_the_http_library_reads_alike(url: str) -> None:
    ours = judged(url)
    if ours is None:
        return
    scheme, host, port = ours
    theirs = parse_url(url)
    assert (theirs.scheme, theirs.host, theirs.port) == (scheme, host, port)
    assert theirs.auth is None
    if scheme == "http":  # plain http is accepted only on loopback, as urllib3 sees it too
        assert is_loopback_host(theirs.host or "")
    prepared = requests.Request("GET", url).prepare()
    assert parse_url(str(prepared.url)).host == host


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.5.6.7/beta",
        "http://localhost:1/x/",
        "http://[::1]:9",
        "https://graph.microsoft.com",
        "https://graph.microsoft.com/beta/me/profile/phones?$top=5&$skiptoken=X%3D",
    ],
)
def test_plain_urls_are_accepted(url: str) -> None:
    assert judged(url) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://graph.example.net",  # plain http off loopback
        "http://127.0.0.1.evil.example",
        "http://0x7f.1",
        "http://2130706433",
        "https://a:b@graph.microsoft.com",
        "https://@graph.microsoft.com",
        "https://graph.microsoft.com\\@evil.example",
        "https://graph.microsoft.com#frag",
        "https://graph.microsoft.com/ beta",
        "https://graph.microsoft.com/\x1b",
        "https://graph.microsoft.com:0",
        "ftp://graph.microsoft.com",
        "//graph.microsoft.com",
        "https://-bad.example",
        "https://[1::2::3]",
    ],
)
def test_ambiguous_or_unsafe_urls_are_refused(url: str) -> None:
    assert judged(url) is None
