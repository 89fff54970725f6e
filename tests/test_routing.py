"""Phone ids and users are percent-encoded: no value can change which resource is addressed."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support import EXAMPLE_PHONE_ID, Run, graph_calls, only_call, phone_in_state

from phonectl.phones import UserRef, path_segment, phones_path
from phonectl.sandbox.server import GraphEmulator

HOSTILE = [
    "a/b",
    "...",
    ".a",
    "../../users/adelev@contoso.com",
    "x?$select=id",
    "x#frag",
    "100%",
    "%2e%2e",
    "a b",
    "a+b",
    "Ünïcødé-☎",
    "\u202ertl",
    "a;b=c",
    "$batch",
    "*",
    "me",  # --user me is a user principal name "me", not the signed-in user
]


def _add_phone(graph: GraphEmulator, phone_id: str, user_ref: str | None = None) -> None:
    """Give the user (None: the signed-in one) a copy of the example phone with this id."""
    state = graph.state
    # Not a magic "me": hypothesis rightly tries a user principal name spelled "me".
    user = state.me() if user_ref is None else state.find_user(user_ref)
    assert user is not None
    phone = copy.deepcopy(dict(phone_in_state(graph, EXAMPLE_PHONE_ID)))
    phone["id"] = phone_id
    phone["displayName"] = f"target {phone_id}"
    graph.state.add_phone(user["id"], phone)


@pytest.mark.parametrize("phone_id", HOSTILE)
def test_hostile_phone_id_reaches_exactly_that_phone(
    graph: GraphEmulator, phonectl: Run, phone_id: str
) -> None:
    _add_phone(graph, phone_id)
    result = phonectl("get", phone_id, "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["displayName"] == f"target {phone_id}"
    call = only_call(graph)
    assert call.decoded_path.startswith("/beta/me/profile/phones/")
    assert "?" not in call.path and "#" not in call.path


@pytest.mark.parametrize("user", HOSTILE)
def test_hostile_user_is_one_path_segment(graph: GraphEmulator, phonectl: Run, user: str) -> None:
    graph.state.add_user("0e6a1e7f-0000-4000-8000-000000000001", user, "Hostile")
    _add_phone(graph, "p1", user)
    result = phonectl("get", "p1", "--user", user, "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["displayName"] == "target p1"


def test_update_with_hostile_id_changes_only_the_target(
    graph: GraphEmulator, phonectl: Run
) -> None:
    _add_phone(graph, "../" + EXAMPLE_PHONE_ID)
    result = phonectl("update", "../" + EXAMPLE_PHONE_ID, "--type", "pager")
    assert result.exit_code == 0, result.stderr
    assert phone_in_state(graph, "../" + EXAMPLE_PHONE_ID)["type"] == "pager"
    assert phone_in_state(graph, EXAMPLE_PHONE_ID)["type"] == "other"


@pytest.mark.parametrize("value", [".", ".."])
def test_dot_segments_are_refused_because_url_normalisation_would_remove_them(
    graph: GraphEmulator, phonectl: Run, value: str
) -> None:
    # Encoded or not (%2E), HTTP stacks and servers may resolve a dot segment away: the call
    # would reach the collection or the user instead of a phone.
    for args in (["update", value, "--type", "mobile"], ["get", "x", "--user", value]):
        result = phonectl(*args)
        assert result.exit_code == 2, args
        assert "is not an id" in result.stderr
        assert "Traceback" not in result.stderr
    assert graph_calls(graph) == []


def test_path_segments_are_percent_encoded() -> None:
    assert path_segment("a.b") == "a.b"
    assert path_segment("...") == "..."
    assert phones_path(UserRef("adelev@contoso.com"), "x/y") == (
        "/users/adelev@contoso.com/profile/phones/x%2Fy"
    )


@settings(max_examples=500)
@given(value=st.text() | st.from_regex(r"[A-Za-z0-9_.~@-]{1,20}", fullmatch=True))
def test_a_segment_left_as_is_is_exactly_what_quote_would_make_of_it(value: str) -> None:
    from urllib.parse import quote

    assert path_segment(value) == quote(value, safe="@")


# Any printable text (no control characters, which phonectl refuses) as id and user.
identifiers = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40
).filter(lambda s: s.strip() and s not in {".", ".."})


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(phone_id=identifiers, user=identifiers)
@example(phone_id="0", user="me")
def test_any_id_and_user_land_on_exactly_that_resource(
    graph: GraphEmulator, phonectl: Run, phone_id: str, user: str
) -> None:
    graph.requests.clear()
    graph.state.reset()  # the users of earlier examples go
    graph.state.add_user("0e6a1e7f-0000-4000-8000-000000000002", user, "Generated")
    _add_phone(graph, phone_id, user)
    # "--" so that an id like "-0" is an argument, as a user would have to write it too.
    result = phonectl("get", f"--user={user}", "-o", "json", "--", phone_id)
    assert result.exit_code == 0, result.stderr
    assert result.json()["id"] == phone_id
    assert len(graph_calls(graph)) == 1
