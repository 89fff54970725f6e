"""The emulator answers as Graph's published beta metadata and docs say Graph does, so that
tools built on Microsoft's own SDKs can use `phonectl sandbox serve`, and phonectl's tests
cannot stay green on phonectl's own assumptions."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from support import EXAMPLE_PHONE_ID, ME_ID, control_refusal, run_phonectl
from test_process import sandbox_serve

from phonectl.sandbox.server import GraphEmulator
from phonectl.sandbox.state import SandboxState

AUTH = {"Authorization": "Bearer anything"}
OFFICE = "5f3b2a17-8c4e-4d7a-9b1c-2e6f0a9d8c31"


def call(server: GraphEmulator | str, method: str, path: str, body: Any = None) -> Any:
    base = server if isinstance(server, str) else server.url
    data = None if body is None else json.dumps(body)
    headers = {**AUTH, "Content-Type": "application/json"}
    return requests.request(method, base + path, data=data, headers=headers, timeout=5)


def add_phones(server: GraphEmulator, count: int) -> None:
    for n in range(count):
        body = {"type": ["home", "mobile", "pager"][n % 3], "number": f"+1 {n:02}"}
        assert call(server, "POST", "/beta/me/profile/phones", body).status_code == 201


def test_an_sdk_style_client_can_use_sandbox_serve() -> None:
    # Generated SDKs join a base URL ending in '/' with templates starting with '/', send
    # @odata.type in bodies, and read source.type as a list and allowedAudiences as flags.
    with sandbox_serve() as (_, url):
        base = url + "/beta/"
        listed = call(base, "GET", "/me/profile/phones")
        assert listed.status_code == 200, listed.text
        assert listed.headers["OData-Version"] == "4.0"
        assert listed.headers["Content-Type"].startswith("application/json;odata.metadata=minimal")
        assert all(isinstance(p["source"]["type"], list) for p in listed.json()["value"])
        body = {
            "@odata.type": "#microsoft.graph.itemPhone",
            "type": "mobile",
            "number": "+1 425 555 0100",
            "allowedAudiences": "organization,federatedOrganizations",
            "source": {"@odata.type": "#microsoft.graph.personDataSources", "type": ["HR"]},
            "isSearchable": True,
        }
        created = call(base, "POST", "/me/profile/phones", body)
        assert created.status_code == 201, created.text
        phone = created.json()
        assert phone["source"]["type"] == ["HR"]
        assert phone["allowedAudiences"] == "organization,federatedOrganizations"
        assert re.fullmatch(
            r"https?://.+/profile/phones/" + phone["id"], created.headers["Location"]
        )
        patched = call(base, "PATCH", f"/me/profile/phones/{phone['id']}", {"isSearchable": False})
        assert patched.json()["isSearchable"] is False
        assert call(base, "DELETE", f"/me/profile/phones/{phone['id']}").status_code == 204


def test_odata_context_is_graphs(emulator: GraphEmulator) -> None:
    one = call(emulator, "GET", f"/beta/me/profile/phones/{EXAMPLE_PHONE_ID}").json()
    assert one["@odata.context"] == (
        f"https://graph.microsoft.com/beta/$metadata#users('{ME_ID}')/profile/phones/$entity"
    )
    many = call(emulator, "GET", "/beta/me/profile/phones?$select=type,number").json()
    assert many["@odata.context"].endswith(f"#users('{ME_ID}')/profile/phones(type,number)")
    assert all(set(p) == {"type", "number"} for p in many["value"])


def test_timestamps_have_seven_fractional_digits(emulator: GraphEmulator) -> None:
    phone = call(emulator, "POST", "/beta/me/profile/phones", {"number": "+1"}).json()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", phone["createdDateTime"])


def test_list_query_options(emulator: GraphEmulator) -> None:
    add_phones(emulator, 6)  # and the seed's other + business
    homes = call(emulator, "GET", "/beta/me/profile/phones?$filter=type eq 'home'&$count=true")
    body = homes.json()
    assert body["@odata.count"] == 2
    assert [p["type"] for p in body["value"]] == ["home", "home"]
    none = call(emulator, "GET", "/beta/me/profile/phones?$top=0").json()
    assert none["value"] == [] and "@odata.nextLink" not in none
    ordered = numbers(emulator, "/beta/me/profile/phones?$orderby=number desc&$skip=1&$top=5")
    everything = sorted(numbers(emulator, "/beta/me/profile/phones"), reverse=True)
    assert len(everything) == 8
    assert ordered == everything[1:]  # in pages of 5, each nextLink carrying the options
    for bad in ("$filter=number gt '1'", "$orderby=colour", "$select=colour", "$top=-1"):
        assert call(emulator, "GET", f"/beta/me/profile/phones?{bad}").status_code == 400, bad


def numbers(server: GraphEmulator, url: str) -> list[str]:
    """Every page's numbers, following @odata.nextLink."""
    found: list[str] = []
    while url:
        page = call(server, "GET", url).json()
        found += [p["number"] for p in page["value"]]
        url = page.get("@odata.nextLink", "").replace(server.url, "")
    return found


def batch(server: GraphEmulator, requests_: list[dict[str, Any]]) -> Any:
    return call(server, "POST", "/beta/$batch", {"requests": requests_})


def test_batch_runs_dependents_after_their_dependencies_and_424s_the_rest(
    emulator: GraphEmulator,
) -> None:
    reply = batch(
        emulator,
        [
            {"id": "1", "method": "GET", "url": f"/me/profile/phones/{OFFICE}"},
            {
                "id": "2",
                "method": "DELETE",
                "url": f"/me/profile/phones/{OFFICE}",
                "dependsOn": ["1"],
            },
            {"id": "3", "method": "GET", "url": "me/profile/phones", "dependsOn": ["2"]},
            {"id": "4", "method": "GET", "url": "/me/profile/phones/nope", "dependsOn": ["3"]},
            {
                "id": "5",
                "method": "DELETE",
                "url": f"/me/profile/phones/{EXAMPLE_PHONE_ID}",
                "dependsOn": ["4"],
            },
        ],
    )
    assert reply.status_code == 200
    answers = {a["id"]: a for a in reply.json()["responses"]}
    assert [answers[i]["status"] for i in "12345"] == [200, 204, 200, 404, 424]
    assert [p["id"] for p in answers["3"]["body"]["value"]] == [EXAMPLE_PHONE_ID]  # after 2


def test_batch_answers_come_in_a_seeded_shuffled_order(emulator: GraphEmulator) -> None:
    items = [{"id": str(n), "method": "GET", "url": "/me"} for n in range(10)]
    first = [a["id"] for a in batch(emulator, items).json()["responses"]]
    assert sorted(first, key=int) == [str(n) for n in range(10)]
    assert first != sorted(first, key=int)
    again = GraphEmulator(SandboxState(None), shuffle_seed=emulator.shuffle_seed)
    try:
        again.start_in_thread()
        assert [a["id"] for a in batch(again, items).json()["responses"]] == first
    finally:
        again.shutdown()
        again.server_close()


@pytest.mark.parametrize(
    "item",
    [
        {"id": "1", "url": "/me"},  # no method: Graph requires one
        {"id": "1", "method": "GET"},  # no url
        {"id": "1", "method": "GET", "url": "/me", "dependsOn": ["9"]},
        {"id": "1", "method": "GET", "url": "/me", "dependsOn": ["1"]},  # a cycle
    ],
)
def test_malformed_batches_are_400(emulator: GraphEmulator, item: dict[str, Any]) -> None:
    assert batch(emulator, [item]).status_code == 400


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"count": "2"}, "count has the wrong type"),
        ({"drop": 1}, "drop has the wrong type"),
        ({"status": 700}, "status must be an HTTP status"),
        ({"body": "xml"}, "body must be graph"),
        ([1], "a fault is a JSON object"),
    ],
)
def test_the_fault_api_checks_what_it_is_given(
    emulator: GraphEmulator, fault: Any, reason: str
) -> None:
    assert reason in control_refusal(emulator, "faults", fault)
    assert call(emulator, "GET", "/beta/me/profile/phones").status_code == 200  # unharmed


def test_a_per_http_request_delay_applies_once_per_batch_not_per_item(
    emulator: GraphEmulator,
) -> None:
    fault = {"status": None, "delay": 0.01, "count": 1, "per_http_request": True}
    requests.post(f"{emulator.url}/_sandbox/faults", json=fault, timeout=5)
    items = [{"id": str(n), "method": "GET", "url": "/me"} for n in range(5)]
    assert batch(emulator, items).status_code == 200
    assert emulator.faults[0].count == 0  # the batch's own HTTP request took it
    fault_for_items = {"status": 503, "count": 1, "path_contains": "/me"}
    requests.post(f"{emulator.url}/_sandbox/faults", json=fault_for_items, timeout=5)
    statuses = sorted(a["status"] for a in batch(emulator, items).json()["responses"])
    assert statuses == [200, 200, 200, 200, 503]  # an ordinary fault still hits one item


def test_a_damaged_state_file_is_one_clear_line_with_the_way_out(tmp_path: Path) -> None:
    import os

    state = Path(os.environ["XDG_DATA_HOME"]) / "phonectl" / "sandbox.sqlite3"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text('{"version": 1, "users": "nope"}')
    done = run_phonectl("--sandbox", "list")
    assert done.returncode == 2
    assert "is damaged or not phonectl's" in done.stderr
    assert "phonectl sandbox reset" in done.stderr and "Traceback" not in done.stderr
    reset = run_phonectl("sandbox", "reset")
    assert reset.returncode == 0
    assert state.read_bytes()[:16] == b"SQLite format 3\x00"
    listed = run_phonectl("--sandbox", "list", "-o", "tsv")
    assert (listed.returncode, listed.stdout.count("\n")) == (0, 2), listed.stderr
