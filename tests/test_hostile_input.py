"""Hostile values in ids, --user, --number and --display-name: each ends in exit 2 with
nothing sent, or in a request that carries the value exactly; never a traceback."""

from __future__ import annotations

import pytest
from support import EXAMPLE_PHONE_ID, Run, graph_calls

from phonectl.sandbox.server import GraphEmulator

HOSTILE = {
    "empty": "",
    "blank": "   ",
    "100k": "9" * 100_000,
    "nul": "a\x00b",
    "newline": "a\nb",
    "carriage-return": "a\rb",
    "tab": "a\tb",
    "escape": "a\x1b[31mred",
    "rtl-mark": "\u200f+1 425\u202e",
    "zero-width": "\u200b",
    "emoji": "☎️ 📞",
    "shell": "$(rm -rf /); `id` | cat > /etc/passwd & echo ${HOME}",
    "quotes": "'\"\\",
    "path": "../../../etc/passwd",
    "url": "https://evil.example/?x=1#y",
    "percent": "%00%2F%252F",
    "json": '{"type":"mobile"}',
    "dash": "-x",
    "unicode-digits": "٣٤٥",
    "surrogate-like": "\ufffd\ufeff",
}
CONTROL = {"nul", "newline", "carriage-return", "tab", "escape"}
EMPTY = {"empty", "blank"}
# Invisible format characters (bidi marks, zero-width space, BOM): refused in a number, as
# apply refuses them in a file, since they make two numbers look alike.
INVISIBLE = {"rtl-mark", "zero-width", "surrogate-like"}
REFUSED_BECAUSE = {
    frozenset(CONTROL): "must not contain control characters (tabs, newlines, NUL)",
    frozenset(EMPTY): "must not be empty",
    frozenset(INVISIBLE): "holds an invisible formatting character (a bidi mark?)",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_phone_id(graph: GraphEmulator, phonectl: Run, name: str) -> None:
    value = HOSTILE[name]
    result = phonectl("update", "--type", "mobile", "--", value)
    assert "Traceback" not in result.stderr
    if name in CONTROL | EMPTY | {"100k"}:
        assert result.exit_code == 2
        assert graph_calls(graph) == []
    else:
        assert result.exit_code == 5  # sent, and no such phone
        (call,) = graph_calls(graph)
        assert call.decoded_path == "/beta/me/profile/phones/" + value


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_user(graph: GraphEmulator, phonectl: Run, name: str) -> None:
    value = HOSTILE[name]
    result = phonectl("get", f"--user={value}", EXAMPLE_PHONE_ID)
    assert "Traceback" not in result.stderr
    if name in CONTROL | EMPTY | {"100k"}:
        assert result.exit_code == 2
        assert graph_calls(graph) == []
    else:
        assert result.exit_code == 5
        (call,) = graph_calls(graph)
        assert call.decoded_path == f"/beta/users/{value}/profile/phones/{EXAMPLE_PHONE_ID}"


@pytest.mark.parametrize("flag", ["--number", "--display-name"])
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_field_value(graph: GraphEmulator, phonectl: Run, flag: str, name: str) -> None:
    value = HOSTILE[name]
    result = phonectl("update", EXAMPLE_PHONE_ID, f"{flag}={value}", "-o", "json")
    assert "Traceback" not in result.stderr
    refused = CONTROL | (EMPTY | INVISIBLE if flag == "--number" else set())
    if name in refused:
        assert result.exit_code == 2
        assert graph_calls(graph) == []
        # One line naming the flag and what is wrong with its value (not just any exit 2).
        reason = next(why for kind, why in REFUSED_BECAUSE.items() if name in kind)
        assert result.stderr.splitlines() == [f"error: {flag} {reason}"], result.stderr
    else:
        assert result.exit_code == 0, result.stderr
        (call,) = graph_calls(graph)
        prop = "number" if flag == "--number" else "displayName"
        assert call.body == {prop: value}
        assert result.json()[prop] == value
