"""The HTTP layer: retries on 429/503/504, POST never duplicated, faults end in the right exit
code with nothing on stdout, Graph's state unchanged after a failed write."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from support import (
    EXAMPLE_PHONE_ID,
    ME_ID,
    TEST_TOKEN,
    Run,
    bearer,
    graph_calls,
    phone_in_state,
    run_phonectl,
    wait_until,
)

from phonectl.graph import MAX_BACKOFF, RetryPolicy, may_retry, parse_retry_after
from phonectl.sandbox.server import Fault, GraphEmulator

UPDATE = ("update", EXAMPLE_PHONE_ID, "--type", "mobile")


def _phones(graph: GraphEmulator) -> list[dict[str, object]]:
    users = graph.state.snapshot()["users"]
    return next(u["phones"] for u in users if u["id"] == ME_ID)


@pytest.mark.parametrize("status", [429, 503, 504])
def test_transient_status_is_retried_after_retry_after(
    graph: GraphEmulator, phonectl: Run, status: int
) -> None:
    graph.add_fault(Fault(status=status, count=2, retry_after="0.01"))
    result = phonectl(*UPDATE, "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert len(graph_calls(graph)) == 3
    assert phone_in_state(graph, EXAMPLE_PHONE_ID)["type"] == "mobile"


@pytest.mark.parametrize("status", [429, 503, 504])
def test_persistent_throttling_makes_max_retries_plus_one_attempts_then_exits_6(
    graph: GraphEmulator, phonectl: Run, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    monkeypatch.setenv("PHONECTL_MAX_RETRIES", "4")
    graph.add_fault(Fault(status=status, count=100, retry_after="0"))
    before = _phones(graph)
    result = phonectl(*UPDATE)
    assert result.exit_code == 6
    assert len(graph_calls(graph)) == 5
    assert result.stdout == ""
    assert _phones(graph) == before


def test_zero_retries_means_one_attempt(
    graph: GraphEmulator, phonectl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHONECTL_MAX_RETRIES", "0")
    graph.add_fault(Fault(status=429, count=5, retry_after="0"))
    assert phonectl(*UPDATE).exit_code == 6
    assert len(graph_calls(graph)) == 1


def test_backoff_without_retry_after(
    graph: GraphEmulator, phonectl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHONECTL_MAX_RETRIES", "1")
    graph.add_fault(Fault(status=503, count=1))
    assert phonectl(*UPDATE).exit_code == 0
    assert len(graph_calls(graph)) == 2


def test_post_throttled_once_creates_exactly_one_phone(graph: GraphEmulator, phonectl: Run) -> None:
    graph.add_fault(Fault(status=429, count=1, method="POST", retry_after="0.01"))
    result = phonectl("add", "--number", "+1 999")
    assert result.exit_code == 0, result.stderr
    assert [c.method for c in graph_calls(graph)] == ["POST", "POST"]
    assert [p["number"] for p in _phones(graph)].count("+1 999") == 1


@pytest.mark.parametrize(("status", "exit_code"), [(500, 1), (503, 6), (504, 6)])
def test_post_is_not_retried_on_server_errors(
    graph: GraphEmulator, phonectl: Run, status: int, exit_code: int
) -> None:
    graph.add_fault(Fault(status=status, count=5, method="POST", retry_after="0"))
    before = _phones(graph)
    result = phonectl("add", "--number", "+1 999")
    assert result.exit_code == exit_code
    assert len(graph_calls(graph)) == 1
    assert _phones(graph) == before


def test_500_on_patch_is_not_retried(graph: GraphEmulator, phonectl: Run) -> None:
    graph.add_fault(Fault(status=500, count=5))
    assert phonectl(*UPDATE).exit_code == 1
    assert len(graph_calls(graph)) == 1


@pytest.mark.parametrize(
    ("fault", "exit_code", "message"),
    [
        (Fault(status=429, count=9, retry_after="0"), 6, "429 TooManyRequests"),
        (Fault(status=503, count=9, retry_after="0", body="html"), 6, "a text/html body"),
        (Fault(status=504, count=9, retry_after="0", body="empty"), 6, "504 Gateway Timeout"),
        (Fault(status=500), 1, "500 injectedFault"),
        (Fault(status=500, body="html"), 1, "a text/html body, not a Graph error"),
        (Fault(status=502, body="malformed"), 1, "502 Bad Gateway"),
        (Fault(status=400, body="empty"), 1, "400 Bad Request"),
        (Fault(status=401), 3, "401 injectedFault"),
        (Fault(status=403, body="html"), 4, "403 Forbidden"),
        (Fault(status=404, body="malformed"), 5, "404 Not Found"),
        (Fault(status=200, body="malformed"), 1, "a body that is not JSON"),
        (Fault(status=200, body="html"), 1, "a body that is not JSON"),
        (Fault(drop=True, count=9), 6, "could not reach Graph"),
        # The change made, the answer broken off half way (Content-Length promised more).
        (Fault(status=None, cut=True, count=9), 6, "the connection broke before the answer"),
        (Fault(status=None, delay=0.5), 6, "no answer within 0.2 s"),
    ],
    ids=lambda v: (
        repr(v)
        if not isinstance(v, Fault)
        else f"{v.status}-{v.body}-{'drop' if v.drop else 'cut' if v.cut else ''}"
    ),
)
@pytest.mark.parametrize("command", [UPDATE, ("add", "--number", "+1 999")], ids=["PATCH", "POST"])
def test_every_fault_ends_in_its_exit_code_with_nothing_on_stdout_and_no_change(
    graph: GraphEmulator,
    phonectl: Run,
    monkeypatch: pytest.MonkeyPatch,
    fault: Fault,
    exit_code: int,
    message: str,
    command: tuple[str, ...],
) -> None:
    monkeypatch.setenv("PHONECTL_TIMEOUT", "0.2")
    fault = dataclasses.replace(fault)  # the parameters are shared between cases
    if command[0] == "add" and fault.status in (503, 504):
        fault.count = 1  # a POST is not retried on 503/504: one fault is all it sees
    graph.add_fault(fault)
    before = _phones(graph)
    result = phonectl(*command)
    assert result.exit_code == exit_code, result.stderr
    assert message in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    if (fault.status is not None and fault.status >= 400) or fault.drop:
        assert _phones(graph) == before


@pytest.mark.parametrize(
    ("fault", "maybe_done"),
    [
        (Fault(status=None, delay=0.5), True),  # no answer in time
        (Fault(status=None, cut=True, count=9), True),  # the answer broken off
        (Fault(drop=True, count=9), True),  # the connection lost after sending
        (Fault(status=500), True),
        (Fault(status=200, body="malformed"), True),  # done, but its answer is unusable
        (Fault(status=400), False),
        (Fault(status=403), False),
        (Fault(status=429, count=9, retry_after="0"), False),  # throttled: not carried out
    ],
    ids=["timeout", "cut", "drop", "500", "200-malformed", "400", "403", "429"],
)
@pytest.mark.parametrize("command", [UPDATE, ("add", "--number", "+1 999")], ids=["PATCH", "POST"])
def test_a_write_that_may_have_been_done_says_to_look_before_sending_it_again(
    graph: GraphEmulator,
    phonectl: Run,
    monkeypatch: pytest.MonkeyPatch,
    fault: Fault,
    maybe_done: bool,
    command: tuple[str, ...],
) -> None:
    """'Try again later' alone, after an add whose answer never came, makes two phones."""
    monkeypatch.setenv("PHONECTL_TIMEOUT", "0.2")
    graph.add_fault(dataclasses.replace(fault))
    result = phonectl(*command)
    assert result.exit_code != 0
    said = "the change may have been made all the same: check with 'phonectl list'"
    assert (said in result.stderr) is maybe_done, result.stderr
    if maybe_done:  # the same fault on a read: it never says it changed anything
        graph.faults.clear()
        graph.add_fault(dataclasses.replace(fault))
        read = phonectl("get", EXAMPLE_PHONE_ID)
        assert read.exit_code != 0 and said not in read.stderr


@pytest.mark.parametrize("command", [UPDATE, ("add", "--number", "+1 999")], ids=["PATCH", "POST"])
def test_a_write_that_never_left_is_not_said_to_have_maybe_been_made(
    phonectl: Run, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    import socket

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("PHONECTL_GRAPH_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("PHONECTL_ACCESS_TOKEN", TEST_TOKEN)
    result = phonectl(*command)
    assert result.exit_code == 6, result.stderr
    assert "could not reach Graph" in result.stderr
    assert "may have been made" not in result.stderr


def test_each_attempt_carries_a_fresh_client_request_id_and_user_agent(
    graph: GraphEmulator, phonectl: Run
) -> None:
    from importlib.metadata import version

    graph.add_fault(Fault(status=429, count=2, retry_after="0"))
    phonectl(*UPDATE)
    calls = graph_calls(graph)
    ids = [c.headers["client-request-id"] for c in calls]
    assert len(ids) == len(set(ids)) == 3
    assert {c.headers["User-Agent"] for c in calls} == {f"phonectl/{version('phonectl')}"}
    assert {c.credential for c in calls} == {bearer(TEST_TOKEN)}


def test_debug_logs_each_call_without_the_token(
    graph: GraphEmulator, phonectl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHONECTL_DEBUG", "1")
    graph.add_fault(Fault(status=429, count=1, retry_after="0"))
    result = phonectl(*UPDATE)
    assert result.exit_code == 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("debug: ")]
    assert len(lines) == 2
    url = f"{graph.url}/beta/me/profile/phones/{EXAMPLE_PHONE_ID}"
    assert lines[0].startswith(f"debug: PATCH {url} -> 429 in ")
    assert lines[1].startswith(f"debug: PATCH {url} -> 200 in ")
    assert " ms (request-id " in lines[1]
    assert TEST_TOKEN not in result.stderr + result.stdout
    assert "Authorization: [redacted]" in lines[0]


def test_a_long_wait_is_announced_on_stderr(graph: GraphEmulator, phonectl: Run) -> None:
    graph.add_fault(Fault(status=429, count=1, retry_after="2.05"))
    result = phonectl(*UPDATE)
    assert result.exit_code == 0
    assert "Graph answered 429; retrying in 2 s" in result.stderr


def test_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after("-5") == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    in_ten = format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)
    assert 8 <= (parse_retry_after(in_ten) or 0) <= 10
    past = format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(past) == 0


def test_waits_are_capped_and_backoff_grows_with_jitter() -> None:
    policy = RetryPolicy(max_retries=100, max_wait=1e6)

    def retry_delay(retry_after: str | None, attempt: int) -> float | None:
        return policy.wait_before(attempt, "GET", 429, retry_after, lambda: "GET /me")

    assert retry_delay("3600", 0) == 3600  # Graph's wait in full: never cut short
    assert retry_delay("1.5", 5) == 1.5
    first = [retry_delay(None, 0) or 0 for _ in range(50)]
    third = [retry_delay(None, 2) or 0 for _ in range(50)]
    assert max(first) <= 0.5 < min(third) * 2
    assert len(set(first)) > 1  # jitter
    assert max(retry_delay(None, 20) or 0 for _ in range(5)) <= MAX_BACKOFF


def test_only_429_retries_a_post() -> None:
    assert may_retry("POST", 429)
    assert not may_retry("POST", 503)
    assert may_retry("PATCH", 503) and may_retry("GET", 504) and may_retry("DELETE", 429)
    assert not may_retry("GET", 500)


def test_a_retry_comes_no_sooner_than_retry_after_asked(
    graph: GraphEmulator, phonectl: Run
) -> None:
    graph.add_fault(Fault(status=429, count=1, retry_after="2"))
    result = phonectl(*UPDATE)
    assert result.exit_code == 0, result.stderr
    throttled, retried = graph_calls(graph)
    assert retried.at - throttled.at >= 2.0  # retrying early prolongs throttling


def test_a_wait_longer_than_max_wait_ends_at_once_with_exit_6(
    graph: GraphEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHONECTL_MAX_WAIT", "3")
    graph.add_fault(Fault(status=429, count=1, retry_after="120"))
    done = run_phonectl(*UPDATE)
    assert done.returncode == 6, done.stderr
    assert len(graph_calls(graph)) == 1  # no second request
    assert "asked to wait 120 s, longer than PHONECTL_MAX_WAIT (3 s)" in done.stderr
    assert "hint: try again after 20" in done.stderr  # a date and time, UTC


def test_a_batch_item_asked_to_wait_past_max_wait_fails_with_exit_6(
    graph: GraphEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHONECTL_MAX_WAIT", "3")
    rows = tmp_path / "rows.csv"
    rows.write_text(f"user,id,number\n,{EXAMPLE_PHONE_ID},+1 425 555 0100\n")
    graph.add_fault(Fault(status=429, count=1, method="PATCH", retry_after="120"))
    done = run_phonectl("apply", str(rows))
    assert done.returncode == 6, done.stderr
    assert "longer than PHONECTL_MAX_WAIT" in done.stdout + done.stderr
    patches = [c for c in graph_calls(graph) if c.decoded_path == "/beta/$batch"]
    assert len(patches) == 2  # the read, the one write: not sent again


@pytest.mark.parametrize("retry_after", ["1e308", "99999999999999", "inf", "1e309"])
def test_an_endless_or_absurd_retry_after_is_exit_6_not_a_crash(
    graph: GraphEmulator, retry_after: str
) -> None:
    graph.add_fault(Fault(status=429, count=1, retry_after=retry_after))
    done = run_phonectl(*UPDATE)
    assert done.returncode == 6, done.stderr
    assert "longer than PHONECTL_MAX_WAIT (300 s)" in done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert len(graph_calls(graph)) == 1


def test_max_wait_bounds_only_graphs_own_waits_not_phonectls_backoff(
    graph: GraphEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHONECTL_MAX_WAIT", "0")
    graph.add_fault(Fault(status=503, count=1))  # no Retry-After: phonectl's own backoff
    done = run_phonectl(*UPDATE)
    assert done.returncode == 0, done.stderr
    assert len(graph_calls(graph)) == 2


@pytest.mark.parametrize(
    ("sig", "word"), [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated")]
)
def test_an_interrupt_while_a_write_is_awaited_says_it_may_have_been_made(
    graph: GraphEmulator, sig: signal.Signals, word: str
) -> None:
    """Ctrl-C after the add went out, before its answer: 'interrupted' alone would leave a
    script (or a person) to send it again, and make two phones."""
    graph.add_fault(Fault(status=None, delay=3, method="POST"))
    process = subprocess.Popen(
        [sys.executable, "-m", "phonectl", "add", "--number", "+1 999", "--type", "home"],
        env=os.environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: any(c.method == "POST" for c in graph_calls(graph)), "the POST arrived")
    process.send_signal(sig)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 128 + sig, err
    assert out == ""
    assert err.startswith(f"{word}: while sending POST {graph.url}/beta/me/profile/phones: ")
    assert "check with 'phonectl list' before sending it again" in err
    # A read interrupted so changed nothing: the word alone.
    graph.add_fault(Fault(status=None, delay=3, method="GET"))
    graph.requests.clear()
    read = subprocess.Popen(
        [sys.executable, "-m", "phonectl", "list"],
        env=os.environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: graph_calls(graph), "the GET arrived")
    read.send_signal(sig)
    _, err = read.communicate(timeout=30)
    assert (read.returncode, err) == (128 + sig, f"{word}\n")
