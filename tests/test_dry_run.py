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


def sandbox_started() -> bool:
    """Whether a --sandbox run started the emulator: it opens (creates) its state database."""
    from phonectl.sandbox import default_state_path

    return default_state_path().exists()


@pytest.mark.parametrize(
    "args",
    [
        ["update", EXAMPLE_PHONE_ID, "--type", "mobile"],
        ["add", "--number", "+1 425 555 0100", "--type", "home"],
        ["delete", EXAMPLE_PHONE_ID],  # no --yes: a dry run asks nothing, reads nothing
    ],
)
def test_a_sandbox_dry_run_that_reads_nothing_starts_no_emulator(
    phonectl: Run, args: list[str]
) -> None:
    result = phonectl("--sandbox", *args, "--dry-run", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["url"].startswith("http://127.0.0.1:0/beta/me/profile/phones")
    assert not sandbox_started()
    # The same command run for real starts it (what the check above would have seen).
    for_real = phonectl("--sandbox", *args, *(["--yes"] if args[0] == "delete" else []))
    assert for_real.exit_code == 0, for_real.stderr
    assert sandbox_started()


def test_a_sandbox_dry_run_of_set_reads_the_emulator_it_plans_against(phonectl: Run) -> None:
    result = phonectl("--sandbox", "set", "--type", "mobile", "--number", "+1", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert sandbox_started()
