"""`list`, `add` and `delete`."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import (
    EXAMPLE_PHONE_ID,
    ME_ID,
    SECOND_USER_ID,
    Run,
    graph_calls,
    only_call,
    phones_of,
    run_on_terminal,
)

from phonectl.sandbox.server import GraphEmulator


def _my_phone_ids(graph: GraphEmulator) -> list[str]:
    return [p["id"] for p in phones_of(graph, ME_ID)]


def test_list_follows_every_page_and_returns_each_phone_once(
    graph: GraphEmulator, phonectl: Run
) -> None:
    graph.page_size = 3
    for n in range(23):
        assert phonectl("add", "--number", f"+1 555 {n:04}").exit_code == 0
    graph.requests.clear()
    result = phonectl("list", "-o", "json")
    assert result.exit_code == 0
    listed = [p["id"] for p in result.json()]
    assert listed == _my_phone_ids(graph)
    assert len(listed) == len(set(listed)) == 25
    assert len(graph_calls(graph)) == 9  # ceil(25 / 3) pages


def test_list_of_another_user_in_tsv(graph: GraphEmulator, phonectl: Run) -> None:
    result = phonectl("list", "--user", SECOND_USER_ID, "-o", "tsv")
    assert result.stdout == (
        "b2c4e6a8-1d3f-4b5c-8e7a-9f0d1c2b3a4e\tmobile\t+1 425 555 0109\tMobile\tcontacts\n"
    )


def test_list_table_and_empty_list(graph: GraphEmulator, phonectl: Run) -> None:
    result = phonectl("list")
    assert "Car Phone" in result.stdout and "Office" in result.stdout
    for phone in phones_of(graph, ME_ID):
        graph.state.delete_phone(ME_ID, phone["id"])
    empty = phonectl("list")
    assert (empty.exit_code, empty.stdout) == (0, "")
    assert "no phones" in empty.stderr
    assert phonectl("list", "-o", "json").stdout == "[]\n"


def test_add_posts_the_fields_and_prints_the_created_phone(
    graph: GraphEmulator, phonectl: Run
) -> None:
    result = phonectl(
        "add",
        "--number",
        "+1 425 555 0100",
        "--type",
        "Mobile",
        "--display-name",
        "Cell",
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    call = only_call(graph)
    assert (call.method, call.decoded_path) == ("POST", "/beta/me/profile/phones")
    assert call.body == {"type": "mobile", "number": "+1 425 555 0100", "displayName": "Cell"}
    created = result.json()
    assert created["id"] in _my_phone_ids(graph)
    assert created["number"] == "+1 425 555 0100"


def test_add_needs_a_number(graph: GraphEmulator, phonectl: Run) -> None:
    result = phonectl("add", "--type", "mobile")
    assert result.exit_code == 2
    assert "--number" in result.stderr
    assert graph_calls(graph) == []


def test_add_dry_run_sends_nothing(graph: GraphEmulator, phonectl: Run) -> None:
    result = phonectl(
        "add", "--number", "+1", "--user", "adelev@contoso.com", "--dry-run", "-o", "json"
    )
    assert result.json() == {
        "method": "POST",
        "url": f"{graph.url}/beta/users/adelev@contoso.com/profile/phones",
        "body": {"number": "+1"},
    }
    assert graph_calls(graph) == []


def test_delete_with_yes_deletes(graph: GraphEmulator, phonectl: Run) -> None:
    result = phonectl("delete", EXAMPLE_PHONE_ID, "--yes")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert f"deleted phone {EXAMPLE_PHONE_ID}" in result.stderr
    assert EXAMPLE_PHONE_ID not in _my_phone_ids(graph)
    assert only_call(graph).method == "DELETE"


def test_delete_without_yes_and_without_a_terminal_sends_nothing(
    graph: GraphEmulator, phonectl: Run
) -> None:
    result = phonectl("delete", EXAMPLE_PHONE_ID)
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert graph_calls(graph) == []
    assert EXAMPLE_PHONE_ID in _my_phone_ids(graph)


def test_delete_dry_run(graph: GraphEmulator, phonectl: Run) -> None:
    result = phonectl("delete", EXAMPLE_PHONE_ID, "--dry-run", "-o", "json")
    assert result.json()["method"] == "DELETE"
    assert result.json()["body"] is None
    assert graph_calls(graph) == []


def test_delete_of_a_missing_phone_exits_5(graph: GraphEmulator, phonectl: Run) -> None:
    assert phonectl("delete", "gone", "--yes").exit_code == 5


@pytest.mark.parametrize(
    ("answer", "exit_code", "deleted"), [("y", 0, True), ("n", 1, False), ("", 1, False)]
)
def test_delete_asks_on_a_terminal(
    graph: GraphEmulator, tmp_path: Path, answer: str, exit_code: int, deleted: bool
) -> None:
    env = {"PHONECTL_GRAPH_URL": graph.url, "PHONECTL_ACCESS_TOKEN": "t"}
    out = tmp_path / "out"  # `phonectl delete ID > out` at a terminal: the question is not output
    code, screen = run_on_terminal(
        ["delete", EXAMPLE_PHONE_ID],
        env,
        prompt=b"[y/N]",
        answer=answer.encode() + b"\n",
        stdout_to=str(out),
    )
    assert out.read_bytes() == b""
    # The prompt names the phone as a person knows it, and its id.
    question = (
        "Delete phone +7 499 342 22 13 (other, Car Phone) of the signed-in user? "
        f"(id {EXAMPLE_PHONE_ID})"
    )
    assert question.encode() in screen
    assert code == exit_code
    assert (EXAMPLE_PHONE_ID not in _my_phone_ids(graph)) is deleted


def test_list_never_follows_a_next_link_to_another_host(
    graph: GraphEmulator, phonectl: Run
) -> None:
    graph.page_size = 1
    graph.next_link_host = "evil.example"
    result = phonectl("list", "-o", "json")
    assert result.exit_code == 1
    assert "an @odata.nextLink to another host" in result.stderr
    assert result.stdout == ""
    assert len(graph_calls(graph)) == 1  # the token never left for evil.example


@pytest.mark.parametrize(
    ("output", "printed"),
    [
        ("json", {"id": EXAMPLE_PHONE_ID, "user": None, "deleted": True}),
        ("tsv", f"{EXAMPLE_PHONE_ID}\tdeleted\n"),
        ("table", ""),
    ],
)
def test_delete_says_what_it_deleted_in_the_format_asked(
    graph: GraphEmulator, phonectl: Run, output: str, printed: object
) -> None:
    result = phonectl("delete", EXAMPLE_PHONE_ID, "--yes", "-o", output)
    assert result.exit_code == 0, result.stderr
    assert (result.json() if output == "json" else result.stdout) == printed
    assert f"deleted phone {EXAMPLE_PHONE_ID}" in result.stderr
