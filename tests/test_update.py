"""`phonectl update`: the PATCH body holds exactly the properties named on the command line."""

from __future__ import annotations

import pytest
from support import EXAMPLE_PHONE_ID, Run, graph_calls, only_call, phone_in_state

from phonectl.sandbox.server import GraphEmulator


@pytest.mark.parametrize(
    ("flags", "body"),
    [
        (["--type", "mobile"], {"type": "mobile"}),
        (["--type", "HOMEFAX"], {"type": "homeFax"}),
        (["--number", "+1 425 555 0100"], {"number": "+1 425 555 0100"}),
        (["--display-name", "Desk"], {"displayName": "Desk"}),
        (["--display-name", ""], {"displayName": ""}),
        (["--allowed-audiences", "groupmembers"], {"allowedAudiences": "groupMembers"}),
        (["--source-type", "HR"], {"source": {"type": ["HR"]}}),
        (
            ["--source-type", "AAD", "--source-type", "MsGraph"],
            {"source": {"type": ["AAD", "MsGraph"]}},
        ),
        (
            ["--allowed-audiences", "Organization,federatedorganizations"],
            {"allowedAudiences": "organization,federatedOrganizations"},
        ),
        (["--allowed-audiences", "everyone, me,me"], {"allowedAudiences": "me,everyone"}),
        (["--searchable"], {"isSearchable": True}),
        (["--not-searchable"], {"isSearchable": False}),
        (["--confidence", "0.75"], {"inference": {"confidenceScore": 0.75}}),
        (["--verified"], {"inference": {"userHasVerifiedAccuracy": True}}),
        (["--not-verified"], {"inference": {"userHasVerifiedAccuracy": False}}),
        (
            ["--confidence", "1", "--verified"],
            {"inference": {"confidenceScore": 1.0, "userHasVerifiedAccuracy": True}},
        ),
        (["--clear", "displayName"], {"displayName": None}),
        (["--clear", "SOURCE", "--clear", "inference"], {"source": None, "inference": None}),
        (["--clear", "allowedAudiences"], {"allowedAudiences": None}),
        (
            ["--type", "business", "--number", "+7 495 000 00 00", "--display-name", "Work"],
            {"type": "business", "number": "+7 495 000 00 00", "displayName": "Work"},
        ),
    ],
)
def test_update_sends_only_the_named_fields(
    graph: GraphEmulator, phonectl: Run, flags: list[str], body: dict[str, object]
) -> None:
    result = phonectl("update", EXAMPLE_PHONE_ID, *flags, "-o", "json")
    assert result.exit_code == 0, result.stderr
    call = only_call(graph)
    assert call.method == "PATCH"
    assert call.decoded_path == f"/beta/me/profile/phones/{EXAMPLE_PHONE_ID}"
    assert call.body == body
    assert call.headers["Content-Type"] == "application/json"


def test_update_prints_the_phone_graph_returned(graph: GraphEmulator, phonectl: Run) -> None:
    result = phonectl("update", EXAMPLE_PHONE_ID, "--type", "mobile", "-o", "json")
    assert result.exit_code == 0
    printed = result.json()
    assert {k: v for k, v in printed.items() if k != "@odata.context"} == phone_in_state(
        graph, EXAMPLE_PHONE_ID
    )
    assert printed["type"] == "mobile"
    assert printed["number"] == "+7 499 342 22 13"
    assert printed["lastModifiedDateTime"] != "2020-07-06T06:34:12.2294868Z"


def test_update_of_another_users_phone_goes_to_that_user(
    graph: GraphEmulator, phonectl: Run
) -> None:
    phone_id = "b2c4e6a8-1d3f-4b5c-8e7a-9f0d1c2b3a4e"
    result = phonectl("update", phone_id, "--user", "AdeleV@contoso.com", "--number", "+1 1")
    assert result.exit_code == 0, result.stderr
    assert only_call(graph).decoded_path == (
        f"/beta/users/AdeleV@contoso.com/profile/phones/{phone_id}"
    )
    assert phone_in_state(graph, phone_id, "adelev@contoso.com")["number"] == "+1 1"


def test_update_without_a_field_flag_is_a_usage_error_and_sends_nothing(
    graph: GraphEmulator, phonectl: Run
) -> None:
    result = phonectl("update", EXAMPLE_PHONE_ID)
    assert result.exit_code == 2
    assert "nothing to update" in result.stderr
    assert result.stdout == ""
    assert graph_calls(graph) == []


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--type", "cell"], "home, business, mobile, other, assistant, homeFax"),
        (["--type", "unknownFutureValue"], "use one of home"),
        (["--allowed-audiences", "world"], "federatedOrganizations, everyone"),
        (["--allowed-audiences", "unknownfuturevalue"], "use one of me, family"),
        (["--allowed-audiences", "me,world"], "invalid --allowed-audiences 'world'"),
        (["--allowed-audiences", " , "], "needs at least one of me"),
        (["--source-type", "a\x1bb"], "control characters"),
        (["--number", "+1\x85"], "control characters"),
        (["--clear", "number"], "displayName, allowedAudiences, source, inference"),
        (["--number", ""], "--number must not be empty"),
        (["--number", "   "], "--number must not be empty"),
        (["--number", "+1\n425"], "control characters"),
        (["--number", "+1\x00"], "control characters"),
        (["--number", "+1\u202e425"], "invisible formatting character"),
        (["--number", "+1 425\u200b"], "invisible formatting character"),
        (["--display-name", "a\tb"], "control characters"),
        (["--confidence", "1.5"], "between 0 and 1"),
        (["--confidence", "-0.1"], "between 0 and 1"),
        (["--confidence", "nan"], "between 0 and 1"),
        (["--confidence", "high"], "--confidence"),
        (["--display-name", "x", "--clear", "displayName"], "contradict"),
        (["--source-type", "x", "--clear", "source"], "contradict"),
        (["--verified", "--clear", "inference"], "contradict"),
        (["--allowed-audiences", "me", "--clear", "allowedAudiences"], "contradict"),
        (["--tpye", "mobile"], "No such option"),
    ],
)
def test_invalid_input_exits_2_with_one_clear_line_and_sends_nothing(
    graph: GraphEmulator, phonectl: Run, flags: list[str], message: str
) -> None:
    result = phonectl("update", EXAMPLE_PHONE_ID, *flags)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert graph_calls(graph) == []


def test_user_and_phone_id_must_not_be_empty(graph: GraphEmulator, phonectl: Run) -> None:
    assert phonectl("update", "", "--type", "mobile").exit_code == 2
    assert phonectl("update", EXAMPLE_PHONE_ID, "--user", "", "--type", "mobile").exit_code == 2
    assert graph_calls(graph) == []


def test_global_output_flag_applies_when_the_command_has_none(
    graph: GraphEmulator, phonectl: Run
) -> None:
    result = phonectl("-o", "json", "update", EXAMPLE_PHONE_ID, "--type", "pager")
    assert result.json()["type"] == "pager"
