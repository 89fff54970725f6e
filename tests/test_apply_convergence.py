"""apply that a nightly cron can trust: never a duplicate, always converges, always reports
what it wrote, and exits with a code that says what to do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile_server import HostileGraph
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import (
    EXAMPLE_PHONE_ID,
    ME_ID,
    SECOND_USER_ID,
    Run,
    add_users,
    phones_of,
    wait_until,
    written_items,
)

from phonectl.sandbox.server import Fault, GraphEmulator

ADELE_UPN = "adelev@contoso.com"
ME_UPN = "innocenty.popov@contoso.com"


def write(tmp_path: Path, text: str, name: str = "rows.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def types_of(graph: GraphEmulator, user: str) -> Counter[str]:
    return Counter(p["type"] for p in phones_of(graph, user))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (ADELE_UPN.upper(), SECOND_USER_ID),  # a principal name (any case) and the id
        (ME_UPN.upper(), ME_ID),  # the signed-in user by her name and her id
        (ME_ID, ME_UPN),
    ],
)
def test_one_user_named_two_ways_gets_one_phone_and_later_runs_converge(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path, first: str, second: str
) -> None:
    rows = write(tmp_path, f"user,type,number\n{first},home,+1 1\n{second},home,+1 1\n")
    user = ME_ID if SECOND_USER_ID not in (first, second) else SECOND_USER_ID
    result = phonectl("apply", rows, "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert types_of(graph, user)["home"] == 1
    graph.requests.clear()
    again = phonectl("apply", rows, "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert {r["result"] for r in again.json()} == {"unchanged"}
    assert written_items(graph) == []


def test_a_type_change_then_an_add_of_that_type_never_leaves_two(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    rows = write(
        tmp_path,
        f"user,id,type,number\n,{EXAMPLE_PHONE_ID},home,\n,,home,+7 000\n",
    )
    result = phonectl("apply", rows, "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert [r["result"] for r in result.json()] == ["updated", "updated"]
    assert types_of(graph, ME_ID)["home"] == 1
    phone = next(p for p in phones_of(graph, ME_ID) if p["type"] == "home")
    assert (phone["id"], phone["number"]) == (EXAMPLE_PHONE_ID, "+7 000")
    graph.requests.clear()
    assert {r["result"] for r in phonectl("apply", rows, "-o", "json").json()} == {"unchanged"}


def test_a_user_whose_principal_name_is_me_is_not_the_signed_in_user(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    graph.state.add_user("0e6a1e7f-0000-4000-8000-0000000000aa", "me", "Literally Me")
    rows = write(tmp_path, "user,type,number\nme,pager,+1 9\n,pager,+1 8\n")
    # Empty cells beside a named user: the signed-in user only when --user says so.
    result = phonectl("apply", rows, "-o", "json", "--user", ME_UPN)
    assert result.exit_code == 0, result.stderr
    assert [p["number"] for p in phones_of(graph, "me")] == ["+1 9"]
    assert [p["number"] for p in phones_of(graph, ME_ID) if p["type"] == "pager"] == ["+1 8"]
    assert [r["user"] for r in result.json()] == ["me", ME_UPN]


def test_the_plan_shows_each_change_as_old_and_new_in_every_format(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    rows = write(tmp_path, f"id,displayName,type\n{EXAMPLE_PHONE_ID},Car,home\n")
    as_json = phonectl("apply", rows, "--dry-run", "-o", "json").json()
    assert as_json[0]["result"] == "would-update"
    assert as_json[0]["changes"] == [
        {"field": "type", "old": "other", "new": "home"},
        {"field": "displayName", "old": "Car Phone", "new": "Car"},
    ]
    shown = 'type: "other" -> "home", displayName: "Car Phone" -> "Car"'
    assert shown in phonectl("apply", rows, "--dry-run", "-o", "tsv").stdout
    assert shown in phonectl("apply", rows, "--dry-run").stdout  # piped: one line a row
    assert written_items(graph) == []


@pytest.fixture
def hostile(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileGraph]:
    server = HostileGraph()
    threading.Thread(target=server.serve_forever, args=(0.005,), daemon=True).start()
    monkeypatch.setenv("PHONECTL_GRAPH_URL", server.url)
    monkeypatch.setenv("PHONECTL_ACCESS_TOKEN", "hostile-token-for-apply")
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("status", "reason", "fate"),
    [
        # Graph said it did something, but not what: the add may exist.
        (204, "answered the add with 204 and no new phone", "unknown"),
        (100, "status 100, which is not a result", "failed"),
        (302, "302, a redirect", "failed"),
        (304, "status 304, which is not a result", "failed"),
        # No answer of the item's own: sent, fate unknown.
        ("OK", "a batch item without a status", "unknown"),
        (None, "a batch item without a status", "unknown"),
    ],
)
def test_no_item_status_outside_2xx_counts_as_written(
    hostile: HostileGraph, phonectl: Run, tmp_path: Path, status: object, reason: str, fate: str
) -> None:
    hostile.mode = "batch-items"
    hostile.item_status = status
    result = phonectl("apply", write(tmp_path, "type,number\nhome,+1\n"), "-o", "json")
    assert result.exit_code == 1
    (row,) = result.json()
    assert row["result"] == fate
    assert reason in row["error"]


@pytest.mark.parametrize(
    "mode", ["batch-responses-dict", "batch-status-text", "batch-status-3xx", "list", "null"]
)
def test_a_malformed_batch_answer_fails_rows_with_a_reason(
    hostile: HostileGraph, phonectl: Run, tmp_path: Path, mode: str
) -> None:
    hostile.mode = mode
    result = phonectl("apply", write(tmp_path, "type,number\nhome,+1\n"), "-o", "json")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    (row,) = result.json()
    # The read was answered so: nothing was sent (a write so answered is unknown, below).
    assert row["result"] == "failed" and row["error"]


def test_writes_made_before_a_malformed_batch_are_reported(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    add_users(graph, 25, number="0")
    lines = ["user,type,number"] + [f"user{n}@contoso.com,other,+9 {n}" for n in range(25)]
    # The reads (2 batches) and the first write batch go through; the second write batch
    # comes back as broken JSON, twice (the PATCH-only batch is retried once).
    graph.add_fault(Fault(status=200, body="malformed", path_contains="$batch", after=3, count=9))
    # One batch in flight at a time, so that the broken answer is the second write batch's.
    csv = write(tmp_path, "\n".join(lines))
    result = phonectl("apply", csv, "-o", "json", "--concurrency", "1")
    assert result.exit_code == 1
    rows = result.json()
    assert [r["result"] for r in rows] == ["updated"] * 20 + ["unknown"] * 5
    changed = [
        u for u in range(25) if phones_of(graph, f"user{u}@contoso.com")[0]["number"] == f"+9 {u}"
    ]
    assert changed == list(range(20))  # what the report says is what Graph holds
    graph.faults.clear()
    rerun = phonectl("apply", write(tmp_path, "\n".join(lines)), "-o", "json")
    assert [r["result"] for r in rerun.json()] == ["unchanged"] * 20 + ["updated"] * 5


@pytest.mark.parametrize(
    ("after", "results"),
    [
        # The first write batch carried out, its answer broken off: its rows are unknown,
        # the next batch still goes.
        (2, ["unknown"] * 20 + ["updated"] * 5),
        # The first read batch broken off: its users' rows are not sent, the others' are.
        (0, ["failed"] * 20 + ["updated"] * 5),
    ],
    ids=["write", "read"],
)
def test_an_answer_broken_off_mid_body_fails_its_batch_not_the_run(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path, after: int, results: list[str]
) -> None:
    add_users(graph, 25, number="0")
    lines = ["user,type,number"] + [f"user{n}@contoso.com,other,+9 {n}" for n in range(25)]
    graph.add_fault(Fault(status=None, cut=True, path_contains="$batch", after=after))
    csv = write(tmp_path, "\n".join(lines))
    result = phonectl("apply", csv, "-o", "json", "--concurrency", "1")
    assert result.exit_code == 1, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    rows = result.json()
    assert [r["result"] for r in rows] == results
    assert "the connection broke before the answer was whole" in rows[0]["error"]
    changed = [
        u for u in range(25) if phones_of(graph, f"user{u}@contoso.com")[0]["number"] == f"+9 {u}"
    ]
    # Graph holds what the report says: an unknown row was in fact written (the cut came
    # after the work), a failed one was not.
    assert changed == [u for u, r in enumerate(results) if r != "failed"]
    rerun = phonectl("apply", write(tmp_path, "\n".join(lines)), "-o", "json")
    assert rerun.exit_code == 0, rerun.stderr
    assert sum(r["result"] == "updated" for r in rerun.json()) == results.count("failed")


def test_a_read_only_batch_answered_503_is_retried(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph.add_fault(Fault(status=503, path_contains="$batch", retry_after="0"))
    rows = write(tmp_path, f"id,displayName\n{EXAMPLE_PHONE_ID},Car\n")
    result = phonectl("apply", rows, "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()[0]["result"] == "updated"


def test_adds_of_unknown_fate_are_never_sent_again_in_the_run(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    # The write batch is answered 504: apply cannot know whether Graph acted (it may, late:
    # an add re-read too soon and sent again would be a duplicate). It reads the user once
    # more, does not find the phones, and reports them unknown, never sending them again;
    # the next run reads first and adds them.
    rows = write(tmp_path, "type,number\nhome,+1 5\nradio,+1 6\n")
    graph.add_fault(Fault(status=504, path_contains="$batch", after=1, count=1))
    result = phonectl("apply", rows, "-o", "json")
    assert result.exit_code == 1, result.stderr
    assert [r["result"] for r in result.json()] == ["unknown", "unknown"]
    assert "2 unknown" in result.stderr
    posts = [i for i in written_items(graph) if i["method"] == "POST"]
    assert len(posts) == 2
    rerun = phonectl("apply", rows, "-o", "json")
    assert [r["result"] for r in rerun.json()] == ["added", "added"]
    assert types_of(graph, ME_ID)["home"] == 1 and types_of(graph, ME_ID)["radio"] == 1


def test_an_add_made_before_its_answer_was_lost_is_found_not_added_again(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    rows = write(tmp_path, "type,number\nhome,+1 5\n")
    # The emulator makes the add, then the answer is lost: model it by dropping the write
    # batch's connection after letting the write through once (a delay then a drop).
    original = graph.answer

    def answer_then_drop(request: Any, **options: Any) -> Any:
        reply = original(request, **options)
        if request.path.endswith("$batch") and b'"POST"' in request.raw:
            graph.answer = original  # type: ignore[method-assign]
            return None  # the add is made; its answer never arrives
        return reply

    graph.answer = answer_then_drop  # type: ignore[method-assign]
    result = phonectl("apply", rows, "-o", "json")
    assert result.exit_code == 0, result.stderr
    (row,) = result.json()
    assert row["result"] == "added"
    homes = [p for p in phones_of(graph, ME_ID) if p["type"] == "home"]
    assert len(homes) == 1 and row["id"] == homes[0]["id"]


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault(status=401, path_contains="$batch", count=99), 3),
        (Fault(status=403, path_contains="$batch", count=99), 4),
        (Fault(status=None, drop=True, path_contains="$batch", count=99), 6),
        (Fault(status=429, retry_after="0", path_contains="$batch", count=99), 6),
        (Fault(status=400, path_contains="$batch", count=99), 1),
    ],
)
def test_when_every_row_failed_for_one_reason_apply_exits_with_its_code(
    graph: GraphEmulator,
    phonectl: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault: Fault,
    code: int,
) -> None:
    monkeypatch.setenv("PHONECTL_MAX_RETRIES", "1")
    graph.add_fault(fault)
    rows = write(tmp_path, f"id,displayName\n{EXAMPLE_PHONE_ID},Car\n,,\n")
    result = phonectl("apply", rows, "-o", "json")
    assert result.exit_code == code, result.stderr


def test_two_applies_never_overlap(graph: GraphEmulator, tmp_path: Path) -> None:
    graph.add_fault(Fault(status=None, delay=3, path_contains="$batch", count=1))
    rows = write(tmp_path, f"id,displayName\n{EXAMPLE_PHONE_ID},Car\n")
    env = {**os.environ, "PHONECTL_TIMEOUT": "10"}
    first = subprocess.Popen(
        [sys.executable, "-m", "phonectl", "apply", rows],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: graph.requests, "the first apply holds the lock and waits on Graph")
    second = subprocess.run(
        [sys.executable, "-m", "phonectl", "apply", rows],
        env={**env, "PHONECTL_TIMEOUT": "0.5"},
        capture_output=True,
        text=True,
        check=False,
        timeout=20,
    )
    assert first.wait(timeout=20) == 0
    assert second.returncode == 6
    assert f"pid {first.pid}: phonectl apply {rows}" in second.stderr
    # Stopped before it began, it still reports every row, none sent.
    assert "apply: 1 row: 1 not-sent" in second.stderr


@pytest.mark.parametrize(
    ("sig", "code", "word"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
)
def test_an_interrupt_reports_every_write_already_made(
    graph: GraphEmulator, tmp_path: Path, sig: int, code: int, word: str
) -> None:
    add_users(graph, 60, number="0")
    lines = ["user,type,number"] + [f"user{n}@contoso.com,other,+8 {n}" for n in range(60)]
    rows = write(tmp_path, "\n".join(lines))
    # Each write batch takes 0.4 s: the signal lands while the second is on its way.
    graph.add_fault(Fault(status=None, delay=0.4, path_contains="$batch", after=3, count=9))
    process = subprocess.Popen(
        [sys.executable, "-m", "phonectl", "apply", rows, "-o", "json", "--concurrency", "1"],
        env=os.environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(
        lambda: sum(1 for c in graph.requests if c.decoded_path == "/beta/$batch") >= 5,
        "the fifth $batch",
    )
    process.send_signal(sig)
    out, err = process.communicate(timeout=20)
    assert process.returncode == code
    assert err.rstrip().endswith(word)
    results = {r["line"] - 2: r["result"] for r in json.loads(out)}
    written = {n for n, result in results.items() if result == "updated"}
    unknown = {n for n, result in results.items() if result == "unknown"}
    held = {n for n in range(60) if phones_of(graph, f"user{n}@contoso.com")[0]["number"] != "0"}
    # Every row reported written is held; every row held was reported written or, sent and
    # unanswered when the signal came (a slow machine delivers it mid-batch), unknown.
    assert written <= held <= written | unknown
    assert len(results) == 60 and 0 < len(held) < 60
    # One batch of 20 at most was in flight (--concurrency 1): the rest never went out, and
    # says so; "unknown" is no catch-all for rows that were not sent.
    assert len(unknown) <= 20
    assert set(results.values()) <= {"updated", "unknown", "not-sent"}


# -- the property: any file, any starting state ----------------------------------------------

TYPES = ["home", "mobile", "business", "pager"]
USERS = [
    ("", ME_ID),
    (ME_UPN, ME_ID),
    (ADELE_UPN, SECOND_USER_ID),
    (SECOND_USER_ID, SECOND_USER_ID),
]

starting_phones = st.lists(
    st.tuples(st.sampled_from([ME_ID, SECOND_USER_ID]), st.sampled_from(TYPES), st.integers(0, 3)),
    max_size=5,
)
file_rows = st.lists(
    st.tuples(
        st.sampled_from(USERS),
        st.sampled_from(TYPES),
        st.integers(0, 3),
        st.sampled_from(["", "Desk", "Car"]),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(start=starting_phones, rows=file_rows)
def test_after_apply_a_second_apply_writes_nothing_and_no_type_is_duplicated(
    graph: GraphEmulator,
    phonectl: Run,
    tmp_path: Path,
    start: list[tuple[str, str, int]],
    rows: list[tuple[tuple[str, str], str, int, str]],
) -> None:
    graph.state.reset()
    for user in (ME_ID, SECOND_USER_ID):
        for phone in phones_of(graph, user):
            graph.state.delete_phone(user, phone["id"])
    template = {"allowedAudiences": "organization", "source": {"type": ["User"]}}
    for n, (user, phone_type, number) in enumerate(start):
        graph.state.add_phone(
            user, {**template, "id": f"s{n}", "type": phone_type, "number": f"+{number}"}
        )
    lines = ["user,type,number,displayName"] + [
        f"{ref},{phone_type},+{number},{name}" for (ref, _), phone_type, number, name in rows
    ]
    path = write(tmp_path, "\n".join(lines) + "\n", "property.csv")
    before = {u: types_of(graph, u) for u in (ME_ID, SECOND_USER_ID)}
    # Empty cells are the signed-in user's only where --user says so (beside named users).
    first = phonectl("apply", path, "-o", "json", "--user", ME_UPN)
    assert "Traceback" not in first.stderr
    graph.requests.clear()
    second = phonectl("apply", path, "-o", "json", "--user", ME_UPN)
    failed_first = {r["line"] for r in first.json() if r["result"] == "failed"}
    # Rows that failed the first time fail again (ambiguous data stays ambiguous); every
    # other row is now in its desired state.
    assert {r["line"] for r in second.json() if r["result"] == "failed"} == failed_first
    assert {r["result"] for r in second.json()} <= {"unchanged", "failed"}
    assert written_items(graph) == []
    asked = {(user, t) for (_, user), t, _, _ in rows}
    for user in (ME_ID, SECOND_USER_ID):
        for phone_type, count in types_of(graph, user).items():
            # apply adds at most one phone of a type; more can only have been there before.
            allowed = max(before[user][phone_type], 1 if (user, phone_type) in asked else 0)
            assert count <= allowed
