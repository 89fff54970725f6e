"""--dry-run prints the request it would send, needs no token, and sends nothing."""

from __future__ import annotations

import pytest
from support import EXAMPLE_PHONE_ID, Run, graph_calls

from phonectl.sandbox.server import GraphEmulator


def test_dry_run_prints_method_url_and_body_and_sends_nothing(
    graph: GraphEmulator, phonectl: Run
) -> None:
    result = phonectl("update", EXAMPLE_PHONE_ID, "--type", "mobile", "--dry-run", "-o", "json")
    assert result.exit_code == 0
    assert result.json() == {
        "method": "PATCH",
        "url": f"{graph.url}/beta/me/profile/phones/{EXAMPLE_PHONE_ID}",
        "body": {"type": "mobile"},
    }
    assert graph_calls(graph) == []


def test_dry_run_needs_no_token(phonectl: Run) -> None:
    result = phonectl(
        "update", "x/y", "--user", "a b@contoso.com", "--number", "+1", "--dry-run", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    assert result.json()["url"] == (
        "https://graph.microsoft.com/beta/users/a%20b@contoso.com/profile/phones/x%2Fy"
    )


def test_dry_run_table_form_is_readable(phonectl: Run) -> None:
    result = phonectl("update", "p1", "--display-name", "Desk", "--dry-run")
    assert result.stdout == (
        "PATCH https://graph.microsoft.com/beta/me/profile/phones/p1\n"
        '{\n  "displayName": "Desk"\n}\n'
    )
    assert "nothing was sent" in result.stderr


def test_dry_run_still_validates(phonectl: Run) -> None:
    result = phonectl("update", "p1", "--type", "fax", "--dry-run")
    assert result.exit_code == 2
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("cloud", "host"),
    [
        ("global", "https://graph.microsoft.com"),
        ("usgov", "https://graph.microsoft.us"),
        ("USGOVDOD", "https://dod-graph.microsoft.us"),
        ("china", "https://microsoftgraph.chinacloudapi.cn"),
    ],
)
def test_cloud_picks_the_graph_host(phonectl: Run, cloud: str, host: str) -> None:
    result = phonectl("--cloud", cloud, "update", "p1", "--type", "home", "--dry-run", "-o", "json")
    assert result.json()["url"] == f"{host}/beta/me/profile/phones/p1"
