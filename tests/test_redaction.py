"""Secrets stay secret at any terminal: a token a server echoes back into a phone's name or
source, or into an error, never reaches a screen or a pipe whole or in pieces, whatever the
width that wraps it, in every view of every result (table, card, lines, json, tsv); and data
that merely resembles a secret (a `*_KEY` variable's value) is left alone.

Real processes on a pseudo-terminal at several widths, and piped; then a property over any
value holding a secret, any width and every result type, through the renderer itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_server import HostileGraph, serve_hostile
from support import EXAMPLE_PHONE_ID, change_phone, run_on_terminal, run_phonectl

from phonectl.config import save_config
from phonectl.sandbox.server import GraphEmulator

# Long enough that every width below wraps it; no spaces, so wrapping must break inside it.
TOKEN = "eyJ0eXAiOiJKV1QifQ.cmVkYWN0aW9uLWJlZm9yZS1sYXlvdXQ." + "Zm9vYmFyYmF6cXV4" * 6
RUN = 12  # no output may hold this many characters of a secret in a row
WIDTHS = [10, 40, 80, 120]
ME_UPN = "innocenty.popov@contoso.com"


def leaked_runs(output: str, secret: str = TOKEN) -> list[str]:
    """Every RUN-character piece of `secret` that `output` holds."""
    pieces = {secret[i : i + RUN] for i in range(len(secret) - RUN + 1)}
    return sorted(piece for piece in pieces if piece in output)


def shown(args: list[str], width: int | None) -> tuple[int, str]:
    """Run phonectl at a terminal of `width` columns (None: piped); its exit code and all it
    wrote (stdout and stderr, as the terminal showed them)."""
    if width is None:
        done = run_phonectl(*args)
        return done.returncode, done.stdout + done.stderr
    code, screen = run_on_terminal(args, {"COLUMNS": str(width), "NO_COLOR": "1"})
    return code, screen.decode("utf-8", "replace")


@pytest.fixture
def echoing(graph: GraphEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The emulator holding a phone whose name and source echo the token phonectl sends;
    an apply file that renames it (so apply shows the echoed name as the old value)."""
    monkeypatch.setenv("PHONECTL_ACCESS_TOKEN", TOKEN)
    change_phone(
        graph, EXAMPLE_PHONE_ID, displayName=f"Echoed {TOKEN} back", source={"type": [TOKEN]}
    )
    # auth status and logout show the remembered account: a server's answer, at sign-in.
    save_config({"account": {"username": f"{TOKEN}@contoso.com", "home_account_id": "x"}})
    rows = tmp_path / "rows.csv"
    rows.write_text(f"user,id,displayName\n{ME_UPN},{EXAMPLE_PHONE_ID},Plain name\n")
    return rows


# Views that lay out and wrap values (cards, tables), and those that write lines whole.
WRAPPING = {
    "get": ["get", EXAMPLE_PHONE_ID],
    "list": ["list"],
    "set": ["set", "--type", "other", "--number", "+7 499 342 22 13"],
    "auth list": ["auth", "list"],
    "apply": ["apply", "{rows}"],
    "apply --dry-run": ["apply", "{rows}", "--dry-run"],
}
WHOLE_LINES = {
    "update": ["update", EXAMPLE_PHONE_ID, "--type", "home"],  # get's card, at one width
    "update --dry-run": ["update", EXAMPLE_PHONE_ID, "--display-name", f"x{TOKEN}", "--dry-run"],
    "auth status": ["auth", "status"],
    "export": ["export", "--user", ME_UPN],
    "auth logout": ["auth", "logout"],
}


EVERY_VIEW: dict[str, list[str]] = {**WRAPPING, **WHOLE_LINES}


def _args(template: list[str], rows: Path) -> list[str]:
    return [arg.format(rows=rows) for arg in template]


@pytest.mark.parametrize("width", [*WIDTHS, None], ids=lambda w: f"width-{w or 'piped'}")
@pytest.mark.parametrize("command", WRAPPING)
def test_a_token_echoed_into_a_phone_never_shows_in_a_wrapped_table_or_card(
    echoing: Path, command: str, width: int | None
) -> None:
    code, output = shown(_args(WRAPPING[command], echoing), width)
    assert code == 0, output
    assert leaked_runs(output) == [], output
    if width is None or width >= 80:  # narrower, a table shows only ids and numbers
        assert "[redacted]" in output


@pytest.mark.parametrize("width", [40, None], ids=lambda w: f"width-{w or 'piped'}")
@pytest.mark.parametrize("command", WHOLE_LINES)
def test_a_token_never_shows_in_views_written_line_by_line(
    echoing: Path, command: str, width: int | None
) -> None:
    code, output = shown(_args(WHOLE_LINES[command], echoing), width)
    assert code == 0, output
    assert leaked_runs(output) == [], output
    assert "[redacted]" in output


@pytest.mark.parametrize("fmt", ["json", "tsv"])
@pytest.mark.parametrize("command", EVERY_VIEW)
def test_a_token_never_shows_in_json_or_tsv(echoing: Path, command: str, fmt: str) -> None:
    args = _args(EVERY_VIEW[command], echoing)
    done = run_phonectl(*args, "-o", fmt)
    assert done.returncode == 0, done.stderr
    assert leaked_runs(done.stdout + done.stderr) == []
    if fmt == "json" and done.stdout and command != "export":
        json.loads(done.stdout)  # still one valid JSON value


@pytest.mark.parametrize("fmt", ["json", "tsv"])
@pytest.mark.parametrize("command", ["get", "apply"])
def test_a_token_never_shows_in_json_or_tsv_at_a_terminal(
    echoing: Path, command: str, fmt: str
) -> None:
    code, output = shown([*_args(WRAPPING[command], echoing), "-o", fmt], 40)
    assert code == 0, output
    assert leaked_runs(output) == [], output


@pytest.fixture
def hostile(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileGraph]:
    """A Graph that echoes the Authorization header into its error's code, message,
    request-id and date."""
    yield from serve_hostile(monkeypatch, TOKEN)


@pytest.mark.parametrize("width", [*WIDTHS, None], ids=lambda w: f"width-{w or 'piped'}")
@pytest.mark.parametrize("command", ["get", "apply"])
def test_a_token_echoed_into_an_error_never_shows(
    hostile: HostileGraph, tmp_path: Path, command: str, width: int | None
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text(f"user,id,displayName\n{ME_UPN},{EXAMPLE_PHONE_ID},Plain name\n")
    args = ["get", EXAMPLE_PHONE_ID] if command == "get" else ["apply", str(rows)]
    code, output = shown(args, width)
    assert code == 1, output
    assert leaked_runs(output) == [], output
    if width is None or width >= 80 or command == "get":  # the reason column needs room
        assert "[redacted]" in output


def test_a_refresh_token_from_the_cache_is_held_as_a_secret(
    graph: GraphEmulator, login_host: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tokens phonectl holds without sending them (the cached refresh token) are secrets too."""
    from login_host import LoginHostFixture

    assert isinstance(login_host, LoginHostFixture)
    monkeypatch.delenv("PHONECTL_ACCESS_TOKEN")
    assert run_phonectl("auth", "login").returncode == 0
    (refresh_token,) = login_host.host.valid_refresh_tokens
    change_phone(graph, EXAMPLE_PHONE_ID, displayName=f"rt={refresh_token}" * 3)
    code, output = shown(["get", EXAMPLE_PHONE_ID], 40)
    assert code == 0, output
    assert leaked_runs(output, refresh_token) == [], output
    assert "[redacted]" in output


@pytest.mark.parametrize(
    "proxy",
    [
        "http://proxyuser:Pr0xy-Pa55w0rd-9@127.0.0.1:9",
        "http://proxyuser:Pr0xy%2DPa55w0rd%2D9@127.0.0.1:9",  # as written, and as sent
        "http://Pr0xy-Pa55w0rd-9@127.0.0.1:9",  # a token in the user name
    ],
)
def test_proxy_credentials_are_secrets(
    graph: GraphEmulator, monkeypatch: pytest.MonkeyPatch, proxy: str
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy)  # loopback never uses it: the emulator answers
    change_phone(graph, EXAMPLE_PHONE_ID, displayName="pw Pr0xy-Pa55w0rd-9 " * 4)
    code, output = shown(["get", EXAMPLE_PHONE_ID], 40)
    assert code == 0, output
    assert leaked_runs(output, "Pr0xy-Pa55w0rd-9") == [], output
    assert "[redacted]" in output


@pytest.mark.parametrize(
    "name", ["TENANT_KEY", "API_TOKEN", "DB_PASSWORD", "MY_SECRET_NAME", "AZURE_CLIENT_SECRET"]
)
def test_other_variables_named_like_secrets_are_not_phonectls_and_leave_data_alone(
    graph: GraphEmulator, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "contoso")
    change_phone(graph, EXAMPLE_PHONE_ID, displayName="Reception contoso")
    done = run_phonectl("export", "--all-users")
    assert done.returncode == 0, done.stderr
    assert "[redacted]" not in done.stdout + done.stderr
    assert f"{ME_UPN},{EXAMPLE_PHONE_ID}," in done.stdout
    assert "adelev@contoso.com" in done.stdout
    listed = run_phonectl("list", "-o", "tsv")
    assert "\tReception contoso\t" in listed.stdout
