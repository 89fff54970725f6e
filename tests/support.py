"""Shared test vocabulary (fixtures live in conftest.py)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from phonectl.sandbox.guard import credential_fingerprint
from phonectl.sandbox.server import GraphEmulator, RecordedRequest
from phonectl.sandbox.state import EXAMPLE_PHONE_ID, ME_ID, SECOND_USER_ID

__all__ = ["EXAMPLE_PHONE_ID", "ME_ID", "SECOND_USER_ID"]

TEST_TOKEN = "test-access-token-5f1e"


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


Run = Callable[..., Result]


def graph_calls(graph: GraphEmulator) -> list[RecordedRequest]:
    """The Graph requests the emulator received."""
    return list(graph.requests)


def bearer(token: str) -> str:
    """What the emulator's request log keeps of `Authorization: Bearer <token>`: a
    fingerprint (`RecordedRequest.credential`), never the token."""
    return credential_fingerprint(f"Bearer {token}")


def only_call(graph: GraphEmulator) -> RecordedRequest:
    calls = graph_calls(graph)
    assert len(calls) == 1, [f"{c.method} {c.path}" for c in calls]
    return calls[0]


def phone_in_state(graph: GraphEmulator, phone_id: str, user: str = ME_ID) -> Mapping[str, Any]:
    """One phone as the emulator holds it (a copy: `change_phone` changes it)."""
    found = graph.state.find_user(user)
    assert found is not None
    phone = graph.state.phone(found["id"], phone_id)
    assert phone is not None, phone_id
    return phone


def change_phone(graph: GraphEmulator, phone_id: str, user: str = ME_ID, **changes: Any) -> None:
    """Set a phone's properties in the emulator directly, as no Graph client could."""
    found = graph.state.find_user(user)
    assert found is not None
    graph.state.replace_phone(found["id"], {**phone_in_state(graph, phone_id, user), **changes})


def run_on_terminal(
    args: list[str],
    env: dict[str, str] | None = None,
    *,
    prompt: bytes | None = None,
    answer: bytes = b"",
    stdout_to: str | None = None,
) -> tuple[int, bytes]:
    """Run phonectl on a pseudo-terminal; its exit code and everything the terminal showed.
    With `prompt`, type `answer` once the screen shows it; with `stdout_to`, standard
    output goes to that file (`phonectl ... > file` typed at a terminal)."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.environ.update(env or {})
        if stdout_to is not None:
            os.dup2(os.open(stdout_to, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 1)
        os.execv(sys.executable, [sys.executable, "-m", "phonectl", *args])
    screen = b""
    answered = prompt is None
    while True:
        try:
            screen += os.read(fd, 4096)
        except OSError:
            break
        if not answered and prompt is not None and prompt in screen:
            os.write(fd, answer)
            answered = True
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), screen


def run_phonectl(
    *args: str | bytes, env: Mapping[str, str] | None = None, timeout: float = 60, **kwargs: Any
) -> subprocess.CompletedProcess[Any]:
    """`python -m phonectl ARGS` as its own process: the environment plus `env`, stdin empty,
    output captured as text (unless `kwargs` say otherwise), never waited on past `timeout`."""
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    if "stdout" not in kwargs and "stderr" not in kwargs:
        kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    return subprocess.run(
        [sys.executable, "-m", "phonectl", *args],
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
        **kwargs,
    )


def phones_of(graph: GraphEmulator, user: str) -> Sequence[Mapping[str, Any]]:
    """A user's phones as the emulator holds them (by id or principal name): read-only, the
    emulator's API (`change_phone`, `graph.state`) changes them."""
    found = graph.state.find_user(user)
    assert found is not None
    return graph.state.phones(found["id"])


def written_items(graph: GraphEmulator) -> list[dict[str, Any]]:
    """Every write (not GET) sent inside a $batch, in the order the batches arrived."""
    return [
        item
        for call in graph_calls(graph)
        if call.decoded_path == "/beta/$batch"
        for item in call.body["requests"]
        if item["method"] != "GET"
    ]


def add_users(
    graph: GraphEmulator, count: int, phones_each: int = 1, number: str = "+1 555 {n:03}{p}"
) -> None:
    """Users user0@contoso.com... (ids user-0...), each with phones u{n}-p{p} of type other
    (copies of the example phone; `number` is formatted with n and p)."""
    template = copy.deepcopy(phones_of(graph, ME_ID)[0])
    for n in range(count):
        phones = [
            {
                **copy.deepcopy(template),
                "id": f"u{n}-p{p}",
                "type": "other",
                "number": number.format(n=n, p=p),
            }
            for p in range(phones_each)
        ]
        graph.state.add_user(f"user-{n}", f"user{n}@contoso.com", f"User {n}", phones)


def control_refusal(graph: GraphEmulator, what: str, body: Any) -> str:
    """The emulator's control API refusing a call (400): its reason."""
    import requests

    reply = requests.post(f"{graph.url}/_sandbox/{what}", json=body, timeout=5)
    assert reply.status_code == 400, reply.text
    return str(reply.json()["error"]["message"])


def unexpected_warning(message: str) -> None:
    """A `warn` for calls that must not warn: the test fails on one."""
    raise AssertionError(f"unexpected warning: {message}")


def sent_token(call: RecordedRequest) -> str:
    """Which bearer token a Graph request carried, as the emulator's log keeps it: a
    fingerprint, never the token (compare it with `bearer(token)`)."""
    return call.credential


def wait_until(condition: Callable[[], object], what: str, seconds: float = 20.0) -> None:
    """Poll until `condition()` holds; fail naming `what` after `seconds` (a test never
    hangs on a process that went another way)."""
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:g} s: {what}")
        time.sleep(0.01)
