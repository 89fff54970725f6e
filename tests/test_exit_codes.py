"""Each documented exit code (phonectl help exit-codes), with Graph's error details on stderr and
nothing on stdout."""

from __future__ import annotations

import re
import socket

import pytest
from support import EXAMPLE_PHONE_ID, Run, graph_calls

from phonectl.sandbox.server import Fault, GraphEmulator


def test_success_exits_0(graph: GraphEmulator, phonectl: Run) -> None:
    assert phonectl("get", EXAMPLE_PHONE_ID).exit_code == 0


@pytest.mark.parametrize(
    ("status", "exit_code"),
    [(400, 1), (409, 1), (500, 1), (502, 1), (401, 3), (403, 4), (404, 5)],
)
def test_graph_error_status_maps_to_exit_code(
    graph: GraphEmulator, phonectl: Run, status: int, exit_code: int
) -> None:
    graph.add_fault(Fault(status=status))
    result = phonectl("update", EXAMPLE_PHONE_ID, "--type", "mobile")
    assert result.exit_code == exit_code
    assert result.stdout == ""
    graph_words = {  # the emulator words a fault as Graph does where its docs show how
        403: "Authorization_RequestDenied: Insufficient privileges to complete the operation."
    }
    words = graph_words.get(status, f"injectedFault: Injected fault {status}.")
    assert f": {status} {words}" in result.stderr
    assert "request-id: " in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_phone_exits_5_with_graph_code_message_request_id_and_date(
    graph: GraphEmulator, phonectl: Run
) -> None:
    result = phonectl("get", "no-such-phone")
    assert result.exit_code == 5
    first, details, hint = result.stderr.splitlines()
    assert first == (
        f"error: Graph refused GET {graph.url}/beta/me/profile/phones/no-such-phone: "
        "404 ResourceNotFound: Resource 'itemPhone' with id 'no-such-phone' not found."
    )
    shown = re.fullmatch(
        r"  request-id: ([0-9a-f-]{36})  date: (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)", details
    )
    assert shown is not None, details
    # Graph's own request-id from the error body, not the client-request-id phonectl sent.
    assert shown.group(1) != graph.requests[-1].headers["client-request-id"]
    assert hint == "hint: check the user and phone id ('phonectl list' shows the ids)"


def test_unknown_user_exits_5(graph: GraphEmulator, phonectl: Run) -> None:
    result = phonectl("get", EXAMPLE_PHONE_ID, "--user", "nobody@contoso.com")
    assert result.exit_code == 5
    assert "Request_ResourceNotFound" in result.stderr


def test_no_token_exits_3_naming_how_to_get_one(
    graph: GraphEmulator, phonectl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PHONECTL_ACCESS_TOKEN")
    result = phonectl("get", EXAMPLE_PHONE_ID)
    assert result.exit_code == 3
    assert "PHONECTL_ACCESS_TOKEN" in result.stderr
    assert graph_calls(graph) == []


def test_connection_refused_exits_6(phonectl: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("PHONECTL_GRAPH_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("PHONECTL_ACCESS_TOKEN", "t")
    result = phonectl("get", EXAMPLE_PHONE_ID)
    assert result.exit_code == 6
    assert "could not reach Graph" in result.stderr
    assert result.stdout == ""


def test_timeout_exits_6(
    graph: GraphEmulator, phonectl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHONECTL_TIMEOUT", "0.2")
    graph.add_fault(Fault(status=None, delay=0.6))
    result = phonectl("get", EXAMPLE_PHONE_ID)
    assert result.exit_code == 6
    assert "no answer within 0.2 s" in result.stderr


def test_html_error_body_gives_a_clean_message(graph: GraphEmulator, phonectl: Run) -> None:
    graph.add_fault(Fault(status=502, body="html"))
    result = phonectl("get", EXAMPLE_PHONE_ID)
    assert result.exit_code == 1
    assert "502 Bad Gateway (a text/html body, not a Graph error)" in result.stderr


def test_malformed_json_error_body_gives_a_clean_message(
    graph: GraphEmulator, phonectl: Run
) -> None:
    graph.add_fault(Fault(status=403, body="malformed"))
    result = phonectl("get", EXAMPLE_PHONE_ID)
    assert result.exit_code == 4
    assert "HTTP 403 Forbidden" in result.stderr


def test_bad_environment_value_is_a_usage_error(
    graph: GraphEmulator, phonectl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHONECTL_MAX_RETRIES", "many")
    result = phonectl("get", EXAMPLE_PHONE_ID)
    assert result.exit_code == 2
    assert "PHONECTL_MAX_RETRIES='many' is not a whole number" in result.stderr
    assert graph_calls(graph) == []
