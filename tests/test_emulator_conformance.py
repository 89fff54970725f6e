"""The emulator behaves where Graph's documentation says how Graph behaves: one test per
behaviour, each naming the learn.microsoft.com page it follows."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from support import EXAMPLE_PHONE_ID, ME_ID, SECOND_USER_ID

from phonectl.sandbox.server import GraphEmulator
from phonectl.sandbox.state import SandboxState

AUTH = {"Authorization": "Bearer anything"}
JSON = {**AUTH, "Content-Type": "application/json"}
PHONES = "/beta/me/profile/phones"
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def send(
    server: GraphEmulator, method: str, path: str, body: Any = None, **headers: str
) -> requests.Response:
    data = None if body is None else json.dumps(body)
    sent = {**(JSON if body is not None else AUTH), **headers}
    return requests.request(method, server.url + path, data=data, headers=sent, timeout=5)


def add_phones(server: GraphEmulator, numbers: list[str]) -> None:
    for number in numbers:
        assert send(server, "POST", PHONES, {"number": number}).status_code == 201


def numbers_in_state(server: GraphEmulator) -> list[str]:
    return [str(p["number"]) for p in server.state.phones(ME_ID)]


def test_top_gives_a_page_and_a_next_link_that_yields_the_rest(emulator: GraphEmulator) -> None:
    """https://learn.microsoft.com/graph/paging: `$top` sets the page size; the nextLink
    (which keeps the request's other options) yields the next pages until there is none."""
    add_phones(emulator, [f"+1 {n}" for n in range(5)])  # 7 with the seed's two
    page = send(emulator, "GET", PHONES + "?$top=3").json()
    assert len(page["value"]) == 3  # more than the emulator's own page size, 2
    seen = [p["id"] for p in page["value"]]
    while "@odata.nextLink" in page:
        assert "$top=3" in page["@odata.nextLink"]
        page = requests.get(page["@odata.nextLink"], headers=AUTH, timeout=5).json()
        seen += [p["id"] for p in page["value"]]
    assert sorted(seen) == sorted(p["id"] for p in emulator.state.phones(ME_ID))
    assert len(seen) == 7


def test_query_options_are_the_same_with_or_without_dollar(emulator: GraphEmulator) -> None:
    """https://learn.microsoft.com/graph/query-parameters: "On the beta endpoint, the $
    prefix is optional"; an option given both ways is given twice, which OData refuses."""
    add_phones(emulator, ["+1 1", "+1 2"])
    query = "filter=type eq 'other'&select=number,type&orderby=number desc&count=true&top=5"
    bare = send(emulator, "GET", f"{PHONES}?{query}").json()
    dollar = send(emulator, "GET", f"{PHONES}?${query.replace('&', '&$')}").json()
    assert bare == dollar
    assert bare["@odata.count"] == 3
    assert [p["number"] for p in bare["value"]] == ["+7 499 342 22 13", "+1 2", "+1 1"]
    assert set(bare["value"][0]) == {"number", "type"}
    assert send(emulator, "GET", f"{PHONES}?top=1&$top=2").status_code == 400


def test_select_on_one_item(emulator: GraphEmulator) -> None:
    """https://learn.microsoft.com/graph/query-parameters ($select) on
    https://learn.microsoft.com/graph/api/itemphone-get?view=graph-rest-beta: only the named
    properties, and the context says so."""
    phone = send(emulator, "GET", f"{PHONES}/{EXAMPLE_PHONE_ID}?$select=number,type").json()
    assert phone == {
        "@odata.context": f"https://graph.microsoft.com/beta/$metadata#users('{ME_ID}')"
        "/profile/phones(number,type)/$entity",
        "number": "+7 499 342 22 13",
        "type": "other",
    }
    unknown = send(emulator, "GET", f"{PHONES}/{EXAMPLE_PHONE_ID}?$select=colour")
    assert unknown.status_code == 400


def test_count_segment_is_plain_text(emulator: GraphEmulator) -> None:
    """https://learn.microsoft.com/graph/query-parameters: `$count` as a URL segment returns
    the collection's number of items, as text."""
    add_phones(emulator, ["+1 1", "+1 2", "+1 3"])
    counted = send(emulator, "GET", PHONES + "/$count")
    assert counted.status_code == 200
    assert counted.headers["Content-Type"].startswith("text/plain")
    assert counted.text == "5"
    assert send(emulator, "GET", PHONES + "/$count?$filter=type eq 'other'").text == "4"


def test_get_profile_of_me_and_of_a_user(emulator: GraphEmulator) -> None:
    """https://learn.microsoft.com/graph/api/profile-get?view=graph-rest-beta:
    `GET /me/profile` and `GET /users/{id | userPrincipalName}/profile`."""
    mine = send(emulator, "GET", "/beta/me/profile")
    assert mine.status_code == 200
    profile = mine.json()
    assert profile["@odata.context"].endswith(f"#users('{ME_ID}')/profile/$entity")
    assert EXAMPLE_PHONE_ID in [p["id"] for p in profile["phones"]]
    assert profile["emails"] == [] and profile["skills"] == []
    theirs = send(emulator, "GET", "/beta/users/adelev@contoso.com/profile?$select=phones")
    assert set(theirs.json()) == {"@odata.context", "phones"}
    assert theirs.json()["phones"] == list(emulator.state.phones(SECOND_USER_ID))


def test_a_body_that_is_not_json_is_415(emulator: GraphEmulator) -> None:
    """https://learn.microsoft.com/graph/errors: 415, "The content type of the request is a
    format that is not supported by the service"."""
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {**AUTH, **({"Content-Type": content_type} if content_type else {})}
        reply = requests.post(
            emulator.url + PHONES, data=b'{"number": "+1"}', headers=headers, timeout=5
        )
        assert reply.status_code == 415, content_type
        assert reply.json()["error"]["code"] == "UnsupportedMediaType"
    assert len(emulator.state.phones(ME_ID)) == 2  # nothing created


WRITE = {
    "method": "POST",
    "url": "/me/profile/phones",
    "headers": {"Content-Type": "application/json"},
    "body": {"number": "+1 999"},
}


@pytest.mark.parametrize(
    "items",
    [
        pytest.param(
            [{"id": "1", **WRITE, "dependsOn": ["2"]}, {"id": "2", **WRITE}], id="depends-later"
        ),
        pytest.param([{"id": "1", **WRITE, "dependsOn": ["9"]}], id="depends-unknown"),
        pytest.param(
            [
                {"id": "1", **WRITE},
                {"id": "2", **WRITE, "dependsOn": ["1"]},
                {"id": "3", **WRITE},
            ],
            id="sequential-and-parallel",
        ),
        pytest.param([{"id": "a", **WRITE}, {"id": "A", **WRITE}], id="ids-equal-but-case"),
        pytest.param(
            [{"id": "1", **WRITE}, {"id": "2", **{**WRITE, "headers": {}}}],
            id="body-without-content-type",
        ),
        pytest.param(
            [{"id": "1", **WRITE}, {"id": "2", **WRITE, "url": "/$batch"}], id="nested-batch"
        ),
        pytest.param([{"id": "1", **WRITE}, {"id": 2, **WRITE}], id="id-not-a-string"),
    ],
)
def test_a_batch_graph_calls_malformed_is_refused_whole(
    emulator: GraphEmulator, items: list[dict[str, Any]]
) -> None:
    """https://learn.microsoft.com/graph/json-batching: ids are strings, "Not
    case-sensitive. Must be unique"; a body needs a Content-Type header; dependsOn names
    other requests; "Batch should be either fully sequential or fully parallel"; $batch is
    the one endpoint, not a request inside one. A malformed batch is a 400, nothing run."""
    reply = send(emulator, "POST", "/beta/$batch", {"requests": items})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "BadRequest"
    assert len(emulator.state.phones(ME_ID)) == 2  # not one request of it ran


def test_independent_batch_requests_run_in_a_seeded_shuffled_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """https://learn.microsoft.com/graph/json-batching: requests without dependsOn run in
    whatever order suits the server (the id "allows the server to process requests in the
    batch in the most efficient order"). The emulator shuffles them: by a seed given to it,
    else by PHONECTL_SANDBOX_SEED, else a random one."""
    items = [{"id": str(n), **WRITE, "body": {"number": f"+1 {n:02}"}} for n in range(20)]

    def execution_order(seed: int | None = None) -> list[str]:
        server = GraphEmulator(SandboxState(None), shuffle_seed=seed)
        server.start_in_thread()
        try:
            assert send(server, "POST", "/beta/$batch", {"requests": items}).status_code == 200
            return [n for n in numbers_in_state(server) if n.startswith("+1 ")]
        finally:
            server.shutdown()
            server.server_close()

    in_order = [f"+1 {n:02}" for n in range(20)]
    seven = execution_order(7)
    assert sorted(seven) == in_order and seven != in_order
    assert execution_order(7) == seven
    assert execution_order(8) != seven
    monkeypatch.setenv("PHONECTL_SANDBOX_SEED", "7")
    assert execution_order() == seven
    monkeypatch.delenv("PHONECTL_SANDBOX_SEED")
    assert len({tuple(execution_order()) for _ in range(3)}) > 1  # random by default


def test_client_request_id_is_echoed_or_a_fresh_guid(emulator: GraphEmulator) -> None:
    """https://learn.microsoft.com/graph/best-practices-concept (reliability and support):
    the client's client-request-id comes back on the answer and in an error's innerError;
    without one, the answer carries a fresh GUID."""
    mine = "5d1ac4c1-8b8e-4a35-92c6-bd1b5a7f2c10"
    echoed = send(emulator, "GET", PHONES + "/nope", **{"client-request-id": mine})
    assert echoed.headers["client-request-id"] == mine
    assert echoed.json()["error"]["innerError"]["client-request-id"] == mine
    fresh = {send(emulator, "GET", PHONES).headers["client-request-id"] for _ in range(2)}
    assert len(fresh) == 2 and all(GUID.fullmatch(value) for value in fresh)


def test_401_carries_a_www_authenticate_challenge(emulator: GraphEmulator) -> None:
    """https://learn.microsoft.com/entra/identity-platform/claims-challenge: a resource's 401
    names its authority in `WWW-Authenticate: Bearer realm="", authorization_uri="..."`."""
    refused = requests.get(emulator.url + PHONES, timeout=5)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert re.fullmatch(
        r'Bearer realm="", authorization_uri="https://login\.microsoftonline\.com/common/'
        r'oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"',
        refused.headers["WWW-Authenticate"],
    )


def test_injected_faults_come_in_graphs_shapes(emulator: GraphEmulator) -> None:
    """https://learn.microsoft.com/graph/throttling (429 TooManyRequests with Retry-After,
    innerError code and status "429") and https://learn.microsoft.com/graph/json-batching
    (403 Authorization_RequestDenied), injected through the control API."""
    for fault in ({"status": 429, "retry_after": "2.5"}, {"status": 403}):
        assert requests.post(emulator.url + "/_sandbox/faults", json=fault, timeout=5).ok
    throttled = send(emulator, "GET", PHONES)
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "2.5")
    error = throttled.json()["error"]
    assert (error["code"], error["message"]) == ("TooManyRequests", "Please retry again later.")
    assert (error["innerError"]["code"], error["innerError"]["status"]) == ("429", "429")
    denied = send(emulator, "GET", PHONES)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "Authorization_RequestDenied"
    assert denied.json()["error"]["message"] == (
        "Insufficient privileges to complete the operation."
    )


def test_gzip_when_the_client_accepts_it(emulator: GraphEmulator) -> None:
    """https://learn.microsoft.com/graph/sdks/customize-client: the SDKs' compression handler
    asks for gzip (`Accept-Encoding`) and Graph compresses its answer; without it, none."""
    zipped = send(emulator, "GET", PHONES, **{"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    plain = requests.get(
        emulator.url + PHONES, headers={**AUTH, "Accept-Encoding": "identity"}, stream=True
    )
    assert "Content-Encoding" not in plain.headers
    raw = requests.get(
        emulator.url + PHONES, headers={**AUTH, "Accept-Encoding": "gzip"}, stream=True
    ).raw.read(decode_content=False)
    assert json.loads(gzip.decompress(raw)) == zipped.json() == json.loads(plain.raw.read())
    refused = send(emulator, "GET", PHONES, **{"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers


def test_a_body_whose_odata_type_names_another_type_is_400(emulator: GraphEmulator) -> None:
    """https://learn.microsoft.com/graph/api/itemphone-update?view=graph-rest-beta takes an
    itemPhone (and its source a personDataSources): a body annotated as another type is
    refused, one annotated as its own type accepted."""
    path = f"{PHONES}/{EXAMPLE_PHONE_ID}"
    for body in (
        {"@odata.type": "#microsoft.graph.user", "type": "home"},
        {"source": {"@odata.type": "#microsoft.graph.itemPhone", "type": ["HR"]}},
    ):
        refused = send(emulator, "PATCH", path, body)
        assert refused.status_code == 400, body
        assert "not assignable to the expected type" in refused.json()["error"]["message"]
    assert emulator.state.phone(ME_ID, EXAMPLE_PHONE_ID)["type"] == "other"  # type: ignore[index]
    own = {"@odata.type": "#microsoft.graph.itemPhone", "type": "home"}
    assert send(emulator, "PATCH", path, own).status_code == 200


def test_cors_preflight_and_head_are_answered_as_graph_answers_them(
    emulator: GraphEmulator,
) -> None:
    """https://learn.microsoft.com/graph/tutorials/javascript-spa: browser apps call Graph
    directly, so Graph answers a CORS preflight (no token needed) with the origin, methods and
    headers allowed; HEAD is GET's answer without its body. Neither is an HTML 501. (The
    emulator, which takes any token, grants CORS to apps served from this machine only.)"""

    def preflight(origin: str) -> requests.Response:
        asking = {
            "Origin": origin,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization,content-type",
        }
        return requests.options(emulator.url + PHONES, headers=asking, timeout=5)

    local = preflight("http://localhost:3000")
    assert local.status_code == 200
    assert local.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "PATCH" in local.headers["Access-Control-Allow-Methods"]
    assert local.headers["Access-Control-Allow-Headers"] == "authorization,content-type"
    remote = preflight("https://app.contoso.com")
    assert remote.status_code == 200 and "Access-Control-Allow-Origin" not in remote.headers
    identity = {**AUTH, "Accept-Encoding": "identity"}
    head = requests.head(emulator.url + PHONES, headers=identity, timeout=5)
    get = send(emulator, "GET", PHONES, **{"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert int(head.headers["Content-Length"]) == len(get.content)
    assert requests.head(emulator.url + PHONES, timeout=5).status_code == 401


def test_405_is_in_graphs_words(emulator: GraphEmulator) -> None:
    """https://learn.microsoft.com/graph/json-batching (the example's 405): code
    Request_BadRequest, "Specified HTTP method is not allowed for the request target."."""
    for method, path in (("PUT", PHONES), ("POST", f"{PHONES}/{EXAMPLE_PHONE_ID}")):
        reply = send(emulator, method, path, {"number": "+1"})
        assert reply.status_code == 405, (method, path)
        assert reply.json()["error"]["code"] == "Request_BadRequest"
        assert reply.json()["error"]["message"] == (
            "Specified HTTP method is not allowed for the request target."
        )
