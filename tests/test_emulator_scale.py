"""The emulator's cost per request does not grow with its data (issue: a 50,000-row apply
against `sandbox serve` spent 273 of 306 s rewriting a JSON file). Not timed: SQLite counts the
virtual-machine steps each request runs, the same at 100 phones as at 10,000 when every lookup
goes through an index, a hundred times more when one scans."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from phonectl.sandbox.server import GraphEmulator
from phonectl.sandbox.state import SandboxState

AUTH = {"Authorization": "Bearer test", "Content-Type": "application/json"}
PHONES_EACH = 10


def _emulator(tmp_path: Path, users: int) -> GraphEmulator:
    state = SandboxState(tmp_path / f"scale-{users}.sqlite3")
    with state.transaction():
        for u in range(users):
            phones = [
                {"id": f"p-{u}-{p}", "type": "other", "number": f"+1 {u} {p}"}
                for p in range(PHONES_EACH)
            ]
            state.add_user(f"id-{u}", f"user{u}@contoso.com", f"User {u}", phones)
    emulator = GraphEmulator(state)
    emulator.start_in_thread()
    return emulator


def _call(emulator: GraphEmulator, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body)
    reply = requests.request(method, emulator.url + path, data=data, headers=AUTH, timeout=10)
    assert reply.status_code < 300, reply.text
    return reply


def _steps(emulator: GraphEmulator, request: Callable[[GraphEmulator], Any]) -> int:
    """SQLite virtual-machine steps one request ran."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    emulator.state.db.set_progress_handler(count, 1)
    try:
        request(emulator)
    finally:
        emulator.state.db.set_progress_handler(None, 1)
    return steps


LAST = "user{last}@contoso.com"
REQUESTS: dict[str, Callable[[GraphEmulator, int], Any]] = {
    "get one phone by principal name": lambda e, last: _call(
        e, "GET", f"/beta/users/user{last}@contoso.com/profile/phones/p-{last}-3"
    ),
    "list a user's phones": lambda e, last: _call(
        e, "GET", f"/beta/users/id-{last}/profile/phones"
    ),
    "patch a phone": lambda e, last: _call(
        e, "PATCH", f"/beta/users/id-{last}/profile/phones/p-{last}-5", {"number": "+2"}
    ),
    "add a phone": lambda e, last: _call(
        e, "POST", f"/beta/users/id-{last}/profile/phones", {"number": "+3"}
    ),
    "delete a phone": lambda e, last: _call(
        e, "DELETE", f"/beta/users/id-{last}/profile/phones/p-{last}-1"
    ),
    "a page of users from the middle": lambda e, last: _call(
        e, "GET", f"/beta/users?$top=5&$skiptoken={last // 2}"
    ),
    "a $batch of 20 writes": lambda e, last: _call(
        e,
        "POST",
        "/beta/$batch",
        {
            "requests": [
                {
                    "id": str(n),
                    "method": "PATCH",
                    "url": f"/users/user{last - n}@contoso.com/profile/phones/p-{last - n}-7",
                    "headers": {"Content-Type": "application/json"},
                    "body": {"displayName": f"batch {n}"},
                }
                for n in range(20)
            ]
        },
    ),
}


@pytest.fixture(scope="module")
def small_and_large(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("scale")
    small, large = _emulator(tmp, 20), _emulator(tmp, 1000)  # 200 and 10,000 phones
    yield small, large
    for emulator in (small, large):
        emulator.shutdown()
        emulator.server_close()


@pytest.mark.parametrize("name", list(REQUESTS))
def test_a_request_costs_the_same_at_10000_phones_as_at_200(
    small_and_large: Any, name: str
) -> None:
    small, large = small_and_large
    request = REQUESTS[name]
    at_200 = _steps(small, lambda e: request(e, 19))
    at_10000 = _steps(large, lambda e: request(e, 999))
    assert at_200 > 0
    # Index lookups run the same steps whatever the size; one scan would be 50x.
    assert at_10000 <= at_200 * 1.1 + 20, (at_200, at_10000)


def test_each_request_is_one_transaction_a_batch_included(small_and_large: Any) -> None:
    small, _ = small_and_large
    statements: list[str] = []
    small.state.db.set_trace_callback(statements.append)
    try:
        REQUESTS["a $batch of 20 writes"](small, 19)
    finally:
        small.state.db.set_trace_callback(None)
    assert [s for s in statements if s.startswith(("BEGIN", "COMMIT", "ROLLBACK"))] == [
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]
    assert sum(s.startswith("UPDATE phones") for s in statements) == 20
