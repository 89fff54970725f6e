"""`phonectl set`: the user's one phone of a type, no id needed. A one-row apply: nothing, a
minimal PATCH, or a POST; two of the type is exit 2 naming both ids; --dry-run reads and
shows old -> new. Against the emulator, counting what it received."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from support import (
    EXAMPLE_PHONE_ID,
    ME_ID,
    Run,
    change_phone,
    graph_calls,
    phone_in_state,
    phones_of,
)

from phonectl.sandbox.server import GraphEmulator

NUMBER = "+1 425 555 0109"


def writes(graph: GraphEmulator) -> list[tuple[str, object]]:
    return [(c.method, c.body) for c in graph_calls(graph) if c.method != "GET"]


def test_a_different_value_is_one_minimal_patch(graph: GraphEmulator, phonectl: Run) -> None:
    # The example phone is the signed-in user's one "other" phone.
    result = phonectl("set", "--type", "other", "--number", NUMBER, "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert writes(graph) == [("PATCH", {"number": NUMBER})]
    assert result.json()["id"] == EXAMPLE_PHONE_ID
    assert result.json()["number"] == NUMBER  # Graph's object, as returned
    assert f"set: updated the other phone {EXAMPLE_PHONE_ID} of the signed-in user" in result.stderr
    assert phone_in_state(graph, EXAMPLE_PHONE_ID)["number"] == NUMBER


def test_values_already_held_send_nothing_and_show_the_phone(
    graph: GraphEmulator, phonectl: Run
) -> None:
    held = phone_in_state(graph, EXAMPLE_PHONE_ID)
    result = phonectl(
        "set", "--type", "OTHER", "--number", held["number"], "--display-name", held["displayName"]
    )
    assert result.exit_code == 0, result.stderr
    assert writes(graph) == []
    assert len(graph_calls(graph)) == 1  # the one read
    assert "set: unchanged" in result.stderr
    assert EXAMPLE_PHONE_ID in result.stdout and held["number"] in result.stdout


def test_no_phone_of_the_type_is_one_post(graph: GraphEmulator, phonectl: Run) -> None:
    result = phonectl("set", "--type", "pager", "--number", NUMBER, "--display-name", "Pager")
    assert result.exit_code == 0, result.stderr
    assert writes(graph) == [("POST", {"type": "pager", "number": NUMBER, "displayName": "Pager"})]
    assert [p["type"] for p in phones_of(graph, ME_ID)].count("pager") == 1
    assert "set: added a pager phone" in result.stderr
    again = phonectl("set", "--type", "pager", "--number", NUMBER, "--display-name", "Pager")
    assert again.exit_code == 0
    assert len(writes(graph)) == 1  # the second run writes nothing


def test_two_phones_of_the_type_is_exit_2_naming_both(graph: GraphEmulator, phonectl: Run) -> None:
    twin = copy.deepcopy(dict(phone_in_state(graph, EXAMPLE_PHONE_ID)))
    twin["id"] = "aaaaaaaa-0000-4000-8000-000000000002"
    graph.state.add_phone(ME_ID, twin)
    result = phonectl("set", "--type", "other", "--number", NUMBER)
    assert result.exit_code == 2
    assert EXAMPLE_PHONE_ID in result.stderr and twin["id"] in result.stderr
    assert "phonectl update ID" in result.stderr
    assert writes(graph) == []


def test_no_phone_of_the_type_and_no_number_is_exit_2(graph: GraphEmulator, phonectl: Run) -> None:
    result = phonectl("set", "--type", "home", "--display-name", "Home")
    assert result.exit_code == 2
    assert "has no home phone, and set has no --number" in result.stderr
    assert writes(graph) == []


def test_dry_run_shows_old_and_new_and_writes_nothing(graph: GraphEmulator, phonectl: Run) -> None:
    old = phone_in_state(graph, EXAMPLE_PHONE_ID)["number"]
    shown = phonectl("set", "--type", "other", "--number", NUMBER, "--dry-run")
    assert shown.exit_code == 0, shown.stderr
    assert f'number: "{old}" -> "{NUMBER}"' in shown.stdout
    planned = phonectl("set", "--type", "other", "--number", NUMBER, "--dry-run", "-o", "json")
    assert planned.json()["result"] == "would-update"
    assert planned.json()["changes"] == [{"field": "number", "old": old, "new": NUMBER}]
    assert planned.json()["request"]["method"] == "PATCH"
    assert planned.json()["request"]["body"] == {"number": NUMBER}
    added = phonectl("set", "--type", "radio", "--number", NUMBER, "--dry-run", "-o", "json")
    assert added.json()["result"] == "would-add"
    assert writes(graph) == []
    assert phone_in_state(graph, EXAMPLE_PHONE_ID)["number"] == old


def test_another_users_phone(graph: GraphEmulator, phonectl: Run) -> None:
    result = phonectl(
        "set", "--user", "adelev@contoso.com", "--type", "mobile", "--number", "+1 425 555 0199"
    )
    assert result.exit_code == 0, result.stderr
    (read, write) = graph_calls(graph)
    assert read.decoded_path == "/beta/users/adelev@contoso.com/profile/phones"
    assert (write.method, write.body) == ("PATCH", {"number": "+1 425 555 0199"})
    assert write.decoded_path.startswith("/beta/users/adelev@contoso.com/profile/phones")


@pytest.mark.parametrize(
    "args",
    [
        ("--number", NUMBER),  # no --type
        ("--type", "unknownFutureValue", "--number", NUMBER),
        ("--type", "mobile", "--number", ""),
        ("--type", "mobile", "--number", NUMBER, "--clear", "displayName", "--display-name", "x"),
    ],
)
def test_bad_input_is_exit_2_before_anything_is_sent(
    graph: GraphEmulator, phonectl: Run, args: tuple[str, ...]
) -> None:
    result = phonectl("set", *args)
    assert result.exit_code == 2, result.stderr
    assert graph_calls(graph) == []


def test_set_and_a_one_row_apply_agree(graph: GraphEmulator, phonectl: Run, tmp_path: Path) -> None:
    change_phone(graph, EXAMPLE_PHONE_ID, displayName="Old")
    rows = tmp_path / "one.csv"
    rows.write_text(f"user,type,number,displayName\n,other,{NUMBER},New\n")
    planned = phonectl("apply", str(rows), "--dry-run", "-o", "json").json()
    shown = phonectl(
        "set",
        "--type",
        "other",
        "--number",
        NUMBER,
        "--display-name",
        "New",
        "--dry-run",
        "-o",
        "json",
    ).json()
    assert [(c["field"], c["old"], c["new"]) for c in planned[0]["changes"]] == [
        (c["field"], c["old"], c["new"]) for c in shown["changes"]
    ]
    assert planned[0]["id"] == shown["id"] == EXAMPLE_PHONE_ID
