"""The sandbox emulator on its own: Graph's routes, errors, paging, persistence, faults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from support import EXAMPLE_PHONE_ID, ME_ID, SECOND_USER_ID, control_refusal, run_phonectl

from phonectl.sandbox.guard import credential_fingerprint
from phonectl.sandbox.server import Fault, GraphEmulator
from phonectl.sandbox.state import SandboxState

AUTH = {"Authorization": "Bearer anything"}


def call(server: GraphEmulator, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    json_body = {} if body is None else {"Content-Type": "application/json"}
    headers = {**AUTH, **json_body, **kw.pop("headers", {})}
    data = kw.pop("data", None if body is None else json.dumps(body))
    return requests.request(method, server.url + path, data=data, headers=headers, timeout=5)


def test_seed_holds_the_documented_example_phone(emulator: GraphEmulator) -> None:
    phone = call(emulator, "GET", f"/beta/me/profile/phones/{EXAMPLE_PHONE_ID}").json()
    assert phone["displayName"] == "Car Phone"
    assert phone["type"] == "other"
    assert phone["number"] == "+7 499 342 22 13"
    assert phone["allowedAudiences"] == "organization"
    assert phone["createdBy"]["user"]["displayName"] == "Innocenty Popov"


def test_users_are_found_by_id_or_upn(emulator: GraphEmulator) -> None:
    by_id = call(emulator, "GET", f"/beta/users/{SECOND_USER_ID}/profile/phones").json()
    by_upn = call(emulator, "GET", "/beta/users/ADELEV@contoso.com/profile/phones").json()
    assert by_id["value"] == by_upn["value"] != []
    me = call(emulator, "GET", f"/beta/users/{ME_ID}/profile/phones").json()
    assert EXAMPLE_PHONE_ID in [p["id"] for p in me["value"]]


def test_list_pages_with_next_link(emulator: GraphEmulator) -> None:
    for n in range(3):
        assert (
            call(emulator, "POST", "/beta/me/profile/phones", {"number": f"+{n}"}).status_code
            == 201
        )
    seen: list[str] = []
    url: str | None = emulator.url + "/beta/me/profile/phones"
    pages = 0
    while url:
        page = requests.get(url, headers=AUTH, timeout=5).json()
        assert len(page["value"]) <= 2
        seen += [p["id"] for p in page["value"]]
        url = page.get("@odata.nextLink")
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5


def test_post_creates_201_with_server_fields(emulator: GraphEmulator) -> None:
    reply = call(emulator, "POST", "/beta/me/profile/phones", {"number": "+1", "type": "mobile"})
    assert reply.status_code == 201
    phone = reply.json()
    assert phone["number"] == "+1" and phone["type"] == "mobile"
    assert phone["id"] and phone["createdDateTime"] and phone["lastModifiedBy"]["user"]


def test_patch_returns_the_whole_object_and_stamps_modification(emulator: GraphEmulator) -> None:
    reply = call(
        emulator,
        "PATCH",
        f"/beta/me/profile/phones/{EXAMPLE_PHONE_ID}",
        {"inference": {"confidenceScore": 0.5}, "displayName": None},
    )
    assert reply.status_code == 200
    phone = reply.json()
    assert phone["number"] == "+7 499 342 22 13"
    assert phone["displayName"] is None
    assert phone["inference"] == {"confidenceScore": 0.5}
    assert phone["lastModifiedDateTime"] > "2020-07-06T06:34:12.2294868Z"


def test_delete_answers_204_then_404(emulator: GraphEmulator) -> None:
    path = f"/beta/me/profile/phones/{EXAMPLE_PHONE_ID}"
    assert call(emulator, "DELETE", path).status_code == 204
    assert call(emulator, "GET", path).status_code == 404


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"type": "cell"}, "Requested value 'cell' was not found"),
        ({"allowedAudiences": "world"}, "Requested value 'world'"),
        ({"colour": "red"}, "The property 'colour' does not exist"),
        ({"id": "x"}, "The property 'id' is read-only"),
        ({"lastModifiedDateTime": "x"}, "read-only"),
        ({"number": 5}, "Cannot convert"),
        ({"inference": {"confidenceScore": True}}, "Cannot convert the value true"),
        ({"source": {"kind": "x"}}, "does not exist"),
        ({"source": {"type": "HR"}}, "'Collection(Edm.String)'"),
        ({"type": None}, "non-nullable property 'type'"),
        ({"type": "unknownFutureValue"}, "was not found in 'microsoft.graph.phoneType'"),
        ({"allowedAudiences": "organization,world"}, "Requested value 'world'"),
        ({"isSearchable": "yes"}, "'Edm.Boolean'"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_invalid_bodies_get_graph_shaped_400(
    emulator: GraphEmulator, body: Any, fragment: str
) -> None:
    reply = call(
        emulator,
        "PATCH",
        f"/beta/me/profile/phones/{EXAMPLE_PHONE_ID}",
        body,
        headers={"client-request-id": "c-1"},
    )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == "BadRequest"
    assert fragment in error["message"]
    assert error["innerError"]["request-id"] == reply.headers["request-id"]
    assert error["innerError"]["client-request-id"] == "c-1"
    assert error["innerError"]["date"].startswith("20")


def test_malformed_json_is_400(emulator: GraphEmulator) -> None:
    reply = call(
        emulator,
        "POST",
        "/beta/me/profile/phones",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["message"] == "Unable to read JSON request payload."


def test_missing_bearer_token_is_401(emulator: GraphEmulator) -> None:
    reply = requests.get(emulator.url + "/beta/me/profile/phones", timeout=5)
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_unknown_phone_and_user_are_404(emulator: GraphEmulator) -> None:
    assert call(emulator, "GET", "/beta/me/profile/phones/nope").status_code == 404
    reply = call(emulator, "GET", "/beta/users/ghost@contoso.com/profile/phones")
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "Request_ResourceNotFound"


def test_state_persists_across_restarts_in_a_private_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "data" / "state.sqlite3"
    first = GraphEmulator(SandboxState(path))
    first.start_in_thread()
    try:
        call(first, "PATCH", f"/beta/me/profile/phones/{EXAMPLE_PHONE_ID}", {"type": "radio"})
    finally:
        first.shutdown()
        first.server_close()
        first.state.close()
    assert path.read_bytes()[:16] == b"SQLite format 3\x00"
    for name in ("data", "data/state.sqlite3"):  # nobody else reads someone's sandbox
        assert (tmp_path / name).stat().st_mode & 0o077 == 0, name
    again = SandboxState(path)
    assert again.phones(ME_ID)[0]["type"] == "radio"
    again.reset()
    assert SandboxState(path).phones(ME_ID)[0]["type"] == "other"


def test_two_emulators_on_one_file_never_lose_a_write(tmp_path: Path) -> None:
    # `phonectl sandbox serve` and a `phonectl --sandbox ...` process share the state file.
    path = tmp_path / "state.sqlite3"
    first, second = GraphEmulator(SandboxState(path)), GraphEmulator(SandboxState(path))
    for server in (first, second):
        server.start_in_thread()
    try:
        phones = "/beta/me/profile/phones"
        for n, server in enumerate([first, second, first, second]):
            added = call(server, "POST", phones, {"number": f"+1 555 010{n}"})
            assert added.status_code == 201
        call(second, "PATCH", f"{phones}/{EXAMPLE_PHONE_ID}", {"type": "radio"})
        seen_by_first = call(first, "GET", phones + "?$top=50").json()["value"]
    finally:
        for server in (first, second):
            server.shutdown()
            server.server_close()
    numbers = {p["number"] for p in seen_by_first}
    assert {f"+1 555 010{n}" for n in range(4)} <= numbers
    assert next(p for p in seen_by_first if p["id"] == EXAMPLE_PHONE_ID)["type"] == "radio"
    assert len(SandboxState(path).phones(ME_ID)) == 2 + 4


def _foreign_sqlite(path: Path) -> None:
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (text TEXT)")
    db.commit()
    db.close()


@pytest.mark.parametrize(
    "content",
    [
        b"{broken",
        b'{"version": 1, "me": "x", "users": []}',  # an older phonectl's JSON state
        b"SQLite format 3\x00" + b"\xff" * 200,  # a torn database
        "foreign",
    ],
)
def test_a_damaged_or_foreign_state_file_is_refused_not_silently_replaced(
    tmp_path: Path, content: bytes | str
) -> None:
    from phonectl.errors import InvalidInput

    path = tmp_path / "state.sqlite3"
    if content == "foreign":
        _foreign_sqlite(path)
    else:
        path.write_bytes(content)  # type: ignore[arg-type]
    before = path.read_bytes()
    with pytest.raises(InvalidInput, match="damaged or not phonectl's"):
        SandboxState(path)
    assert path.read_bytes() == before  # someone's work is left as it was
    SandboxState(path, load=False).reset()
    assert SandboxState(path).find_user(ME_ID) is not None


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_state_path_that_is_not_a_file_is_one_line_never_a_hang(
    tmp_path: Path, kind: str
) -> None:
    import os

    state = tmp_path / "data" / "phonectl" / "sandbox.sqlite3"
    state.parent.mkdir(parents=True)
    if kind == "fifo":
        os.mkfifo(state)  # SQLite reading it would wait for a writer for ever
    else:
        state.mkdir()
    done = run_phonectl(
        "--sandbox", "list", env={"XDG_DATA_HOME": str(tmp_path / "data")}, timeout=30
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == (
        f"error: the sandbox state file {state} is not a regular file"
    )
    assert "Traceback" not in done.stderr


def test_faults_hit_only_matching_requests_and_only_count_times(emulator: GraphEmulator) -> None:
    emulator.add_fault(Fault(status=429, count=2, method="PATCH", retry_after="0.1"))
    path = f"/beta/me/profile/phones/{EXAMPLE_PHONE_ID}"
    assert call(emulator, "GET", path).status_code == 200
    first = call(emulator, "PATCH", path, {"type": "home"})
    assert (first.status_code, first.headers["Retry-After"]) == (429, "0.1")
    assert call(emulator, "PATCH", path, {"type": "home"}).status_code == 429
    assert call(emulator, "PATCH", path, {"type": "home"}).status_code == 200


def test_control_api_injects_faults_and_lists_requests(emulator: GraphEmulator) -> None:
    assert requests.post(emulator.url + "/_sandbox/faults", json={"status": 503}, timeout=5).ok
    assert call(emulator, "GET", "/beta/me/profile/phones").status_code == 503
    seen = requests.get(emulator.url + "/_sandbox/requests", timeout=5).json()["value"]
    assert [(r["method"], r["path"]) for r in seen] == [("GET", "/beta/me/profile/phones")]
    assert "Authorization" not in seen[0]["headers"]  # the log never holds a credential
    assert seen[0]["credential"] == credential_fingerprint("Bearer anything")


def test_dropped_connection_is_a_connection_error(emulator: GraphEmulator) -> None:
    emulator.add_fault(Fault(drop=True))
    with pytest.raises(requests.ConnectionError):
        call(emulator, "GET", "/beta/me/profile/phones")


def test_a_cut_answer_does_the_work_then_breaks_off_mid_body(emulator: GraphEmulator) -> None:
    """Through the control API, `cut` alone (no status) answers Graph's own answer, half of
    it; inside a $batch it never matches an item (an item has no connection to cut)."""
    fault = {"cut": True, "method": "PATCH", "count": 2}
    assert requests.post(emulator.url + "/_sandbox/faults", json=fault, timeout=5).ok
    path = f"/beta/me/profile/phones/{EXAMPLE_PHONE_ID}"
    json_type = {"Content-Type": "application/json"}
    items = [
        {"id": "1", "method": "PATCH", "url": path[5:], "headers": json_type, "body": {}},
    ]
    assert batch(emulator, items).json()["responses"][0]["status"] == 200  # not cut, not used up
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        call(emulator, "PATCH", path, {"displayName": "Cut"})
    assert call(emulator, "GET", path).json()["displayName"] == "Cut"  # the work was done
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        call(emulator, "PATCH", path, {"displayName": "Again"})
    assert call(emulator, "PATCH", path, {"displayName": "Whole"}).status_code == 200


def batch(server: GraphEmulator, requests_: list[dict[str, Any]]) -> Any:
    return call(server, "POST", "/beta/$batch", {"requests": requests_})


def test_batch_answers_each_request_by_id(emulator: GraphEmulator) -> None:
    reply = batch(
        emulator,
        [
            {"id": "1", "method": "GET", "url": f"/me/profile/phones/{EXAMPLE_PHONE_ID}"},
            {
                "id": "2",
                "method": "PATCH",
                "url": f"/me/profile/phones/{EXAMPLE_PHONE_ID}",
                "headers": {"Content-Type": "application/json"},
                "body": {"type": "pager"},
            },
            {"id": "3", "method": "GET", "url": "/users/ghost@contoso.com/profile/phones"},
        ],
    )
    assert reply.status_code == 200
    answers = {r["id"]: r for r in reply.json()["responses"]}
    assert answers["1"]["status"] == 200 and answers["1"]["body"]["type"] == "other"
    assert answers["2"]["status"] == 200 and answers["2"]["body"]["type"] == "pager"
    assert answers["3"]["status"] == 404
    assert answers["3"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert len(emulator.requests) == 1  # one HTTP request


def test_batch_refuses_more_than_20_requests(emulator: GraphEmulator) -> None:
    items = [{"id": str(n), "method": "GET", "url": "/me/profile/phones"} for n in range(21)]
    reply = batch(emulator, items)
    assert reply.status_code == 400
    assert "maximum of 20" in reply.json()["error"]["message"]
    assert batch(emulator, items[:20]).status_code == 200


def test_batch_items_can_be_throttled_on_their_own(emulator: GraphEmulator) -> None:
    emulator.add_fault(Fault(status=429, method="PATCH", retry_after="0.5"))
    item = {
        "method": "PATCH",
        "url": f"/me/profile/phones/{EXAMPLE_PHONE_ID}",
        "headers": {"Content-Type": "application/json"},
        "body": {"type": "home"},
    }
    reply = batch(emulator, [{"id": "a", **item}, {"id": "b", **item}])
    throttled, done = sorted(reply.json()["responses"], key=lambda a: -a["status"])
    assert (throttled["status"], throttled["headers"]["Retry-After"]) == (429, "0.5")
    assert done["status"] == 200


@pytest.mark.parametrize(
    "payload", [{"requests": "x"}, {"nope": []}, {"requests": [{"method": "GET"}]}]
)
def test_malformed_batch_is_400(emulator: GraphEmulator, payload: Any) -> None:
    assert call(emulator, "POST", "/beta/$batch", payload).status_code == 400


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"id": "u1", "userPrincipalName": "a@b", "extra": 1}, "unknown user key 'extra'"),
        ({"id": 5, "userPrincipalName": "a@b"}, "string id and userPrincipalName"),
        ({"id": "u1", "userPrincipalName": "a@b", "displayName": ["x"]}, "displayName"),
        ({"id": "u1", "userPrincipalName": "a@b", "phones": [{"number": "+1"}]}, "string id"),
        ("just text", "a user is a JSON object"),
        ({"id": ME_ID.upper(), "userPrincipalName": "again@b"}, "exists"),  # ids any case
        (
            [{"id": "new", "userPrincipalName": "new@b"}, {"id": "new", "userPrincipalName": "x"}],
            "exists",
        ),
    ],
)
def test_the_control_api_refuses_a_bad_user_with_its_reason(
    emulator: GraphEmulator, body: Any, reason: str
) -> None:
    assert reason in control_refusal(emulator, "users", body)
    users = call(emulator, "GET", "/beta/users").json()["value"]
    assert len(users) == 2  # nothing half-added


def test_the_control_api_adds_a_list_of_users_with_their_phones(emulator: GraphEmulator) -> None:
    users = [
        {"id": f"u{n}", "userPrincipalName": f"u{n}@contoso.com", "phones": [{"id": f"p{n}"}]}
        for n in range(3)
    ]
    assert requests.post(f"{emulator.url}/_sandbox/users", json=users, timeout=5).ok
    listed = call(emulator, "GET", "/beta/users/U2@contoso.com/profile/phones").json()["value"]
    assert [p["id"] for p in listed] == ["p2"]
