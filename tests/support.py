"""Shared test vocabulary (fixtures live in conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


def only_call(graph: GraphEmulator) -> RecordedRequest:
    calls = graph_calls(graph)
    assert len(calls) == 1, [f"{c.method} {c.path}" for c in calls]
    return calls[0]


def phone_in_state(graph: GraphEmulator, phone_id: str, user_id: str = ME_ID) -> dict[str, Any]:
    user = graph.state.find_user(user_id)
    assert user is not None
    return next(p for p in user["phones"] if p["id"] == phone_id)


def run_on_terminal(
    args: list[str],
    env: dict[str, str] | None = None,
    *,
    prompt: bytes | None = None,
    answer: bytes = b"",
) -> tuple[int, bytes]:
    """Run phonectl on a pseudo-terminal; its exit code and everything the terminal showed.
    With `prompt`, type `answer` once the screen shows it."""
    import os
    import pty
    import sys

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.environ.update(env or {})
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
