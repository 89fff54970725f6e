"""apply's report tells the truth however the run ends, through real processes against the
emulator: each row is written (Graph answered), failed, unknown (sent, no answer) or
not-sent; the summary always reaches stderr; no write goes out after a stop."""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from support import (
    TEST_TOKEN,
    Run,
    add_users,
    phones_of,
    run_phonectl,
    wait_until,
    written_items,
)

from phonectl.sandbox.server import Fault, GraphEmulator

USERS = 120


class Busy:
    """How many HTTP requests the emulator is still answering (a delayed batch may still be
    carried out after phonectl has gone): the state is compared once it is idle."""

    def __init__(self, graph: GraphEmulator) -> None:
        self.count = 0
        self.lock = threading.Lock()
        original = graph.answer

        def counted(request: Any, **options: Any) -> Any:
            outer = not options.get("in_batch")
            with self.lock:
                self.count += outer
            try:
                return original(request, **options)
            finally:
                with self.lock:
                    self.count -= outer

        graph.answer = counted  # type: ignore[method-assign]

    def wait_idle(self) -> None:
        deadline = time.monotonic() + 30
        while self.count and time.monotonic() < deadline:
            time.sleep(0.005)
        assert self.count == 0


@pytest.fixture
def busy(graph: GraphEmulator) -> Iterator[Busy]:
    yield Busy(graph)


def _batches(graph: GraphEmulator) -> int:
    return sum(1 for c in list(graph.requests) if c.decoded_path == "/beta/$batch")


def test_an_interrupt_at_any_moment_reports_exactly_what_graph_holds(
    graph: GraphEmulator, busy: Busy, tmp_path: Path
) -> None:
    """The property: SIGINT or SIGTERM at seeded random moments (after the k-th $batch
    arrived, k from the first read to the last write, plus a random fraction of a batch's
    latency); each time every phone Graph changed is reported updated or unknown, none
    reported updated is unchanged, no row is missing, and the summary is on stderr."""
    add_users(graph, USERS, number="0")
    # Graph's latency, once per HTTP request: batches overlap (4 in flight).
    graph.add_fault(
        Fault(status=None, delay=0.02, path_contains="$batch", per_http_request=True, count=10**6)
    )
    rng = random.Random(22)
    runs, stopped = 14, 0
    for run in range(1, runs + 1):
        rows = tmp_path / f"run{run}.csv"
        rows.write_text(
            "user,type,number\n"
            + "".join(f"user{n}@contoso.com,other,+{run} {n}\n" for n in range(USERS))
        )
        sig = rng.choice([signal.SIGINT, signal.SIGTERM])
        at_batch = rng.randint(1, 2 * USERS // 20)  # reads, then writes, 20 a batch
        then = rng.uniform(0, 0.02)
        start = _batches(graph)
        process = subprocess.Popen(
            [sys.executable, "-m", "phonectl", "apply", str(rows), "-o", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        while _batches(graph) - start < at_batch and process.poll() is None:
            time.sleep(0.002)
        time.sleep(then)
        process.send_signal(sig)
        out, err = process.communicate(timeout=30)
        busy.wait_idle()
        context = f"run {run}: signal {sig} after batch {at_batch}: {err}"
        if process.returncode != 0:
            stopped += 1
            assert process.returncode == 128 + sig, context
        assert f"apply: {USERS} rows:" in err, context
        reported = {r["line"] - 2: r for r in json.loads(out)}
        assert sorted(reported) == list(range(USERS)), context
        for n, row in reported.items():
            changed = phones_of(graph, f"user{n}@contoso.com")[0]["number"] == f"+{run} {n}"
            if changed:
                assert row["result"] in {"updated", "unknown"}, (n, row, context)
            if row["result"] == "updated":
                assert changed, (n, row, context)
            if row["result"] == "not-sent":
                assert not changed, (n, row, context)
    assert stopped >= runs // 2  # most signals land during the run, not after it


def test_writes_carried_out_after_a_timeout_are_unknown_not_failed(
    graph: GraphEmulator, busy: Busy, tmp_path: Path
) -> None:
    add_users(graph, 20, number="0")
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "user,type,number\n" + "".join(f"user{n}@contoso.com,other,+5 {n}\n" for n in range(20))
    )
    # Each PATCH inside the batch is carried out, but later than phonectl waits.
    graph.add_fault(Fault(status=None, delay=1.5, method="PATCH", count=10**6, after=19))
    done = run_phonectl(
        "apply",
        str(rows),
        "-o",
        "json",
        env={"PHONECTL_TIMEOUT": "1", "PHONECTL_MAX_RETRIES": "0"},
    )
    busy.wait_idle()
    results = [r["result"] for r in json.loads(done.stdout)]
    assert results == ["unknown"] * 20, done.stderr
    assert all(p[0]["number"].startswith("+5") for p in _phones(graph, 20))
    assert "20 unknown" in done.stderr and done.returncode == 6
    rerun = run_phonectl("apply", str(rows), "-o", "json")
    assert {r["result"] for r in json.loads(rerun.stdout)} == {"unchanged"}


def _phones(graph: GraphEmulator, users: int) -> list[Any]:
    return [phones_of(graph, f"user{n}@contoso.com") for n in range(users)]


def test_a_delete_batch_answered_504_is_not_resent(graph: GraphEmulator, tmp_path: Path) -> None:
    add_users(graph, 3, phones_each=2)
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "user,id,type,number\n"
        + "".join(f"user{n}@contoso.com,u{n}-p0,other,+1 555 {n:03}0\n" for n in range(3))
    )
    # The read goes through; the delete batch is answered 504 (Graph may have done it).
    graph.add_fault(Fault(status=504, path_contains="$batch", after=1, count=5))
    done = run_phonectl("apply", str(rows), "--prune", "-o", "json")
    deletes = [i for i in written_items(graph) if i["method"] == "DELETE"]
    assert len(deletes) == 3  # one batch, sent once
    pruned = [r for r in json.loads(done.stdout) if r["line"] == 0]
    assert [r["result"] for r in pruned] == ["unknown"] * 3, done.stderr
    assert done.returncode == 6  # nothing known written, one cause: try again later


def _no_bigger_files_than(size: int) -> Any:
    def limit() -> None:  # in the child: a full disk, as far as phonectl can tell
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_backup_that_cannot_be_written_stops_the_run_before_any_write(
    graph: GraphEmulator, tmp_path: Path
) -> None:
    users = 1500  # two rounds: 1,000 users, then 500
    add_users(graph, users, number="0")
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "user,type,number\n" + "".join(f"user{n}@contoso.com,other,+3 {n}\n" for n in range(users))
    )
    backup = tmp_path / "backup.csv"
    # The first round's backup fits (about 60 KB); with the second's added (90 KB), not.
    # The backup is whole before the first write, so the run stops with nothing written.
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "phonectl",
            "apply",
            str(rows),
            "-o",
            "json",
            "--backup",
            str(backup),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ,
        preexec_fn=_no_bigger_files_than(75_000),
        check=False,
    )
    assert process.returncode == 1, process.stderr
    assert f"could not write the backup {backup}: File too large" in process.stderr
    assert f"apply: {users} rows: {users} not-sent; 0 writes" in process.stderr
    results = json.loads(process.stdout)
    assert [r["result"] for r in results] == ["not-sent"] * users
    assert all(phones_of(graph, f"user{n}@contoso.com")[0]["number"] == "0" for n in range(users))
    # No backup under its name (it would lack users), and no partial file left beside it.
    assert not [p.name for p in tmp_path.iterdir() if "backup" in p.name]


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_disk_that_takes_no_byte_still_gets_the_report_and_the_backups_error(
    graph: GraphEmulator, tmp_path: Path
) -> None:
    """Not even the apply lock's few bytes (its holder's pid) can be written: the lock still
    holds, and the run stops at the backup, reported like any other stop."""
    rows = tmp_path / "rows.csv"
    rows.write_text("user,type,number\nuser0@contoso.com,other,+3 0\n")
    add_users(graph, 1, number="0")
    backup = tmp_path / "backup.csv"
    process = subprocess.run(
        [sys.executable, "-m", "phonectl", "apply", str(rows), "--backup", str(backup)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
        preexec_fn=_no_bigger_files_than(0),
        check=False,
    )
    assert process.returncode == 1, process.stderr
    assert f"could not write the backup {backup}: File too large" in process.stderr
    assert "apply: 1 row: 1 not-sent; 0 writes" in process.stderr
    assert "not-sent" in process.stdout  # the report itself, on stdout (a pipe)
    assert phones_of(graph, "user0@contoso.com")[0]["number"] == "0"


def test_a_lock_that_cannot_be_opened_is_named_and_every_row_reported_not_sent(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    from phonectl.token_store import lock_dir

    rows = tmp_path / "rows.csv"
    rows.write_text("user,type,number\nuser0@contoso.com,other,+3 0\n")
    add_users(graph, 1, number="0")
    first = phonectl("apply", str(rows))  # creates the lock file: its name is the tenant's
    assert first.exit_code == 0, first.stderr
    (lock,) = lock_dir().glob("apply-*.lock")
    lock.unlink()
    lock.mkdir()  # what stands there now cannot be opened as a file
    rows.write_text("user,type,number\nuser0@contoso.com,other,+4 0\n")
    done = phonectl("apply", str(rows), "-o", "json")
    assert done.exit_code == 1
    assert f"could not open the lock {lock}: Is a directory" in done.stderr
    assert "apply: 1 row: 1 not-sent; 0 writes" in done.stderr
    assert [r["result"] for r in done.json()] == ["not-sent"]
    assert phones_of(graph, "user0@contoso.com")[0]["number"] == "+3 0"


def test_json_to_a_file_holds_each_round_as_it_ends_and_stays_whole_when_stopped(
    graph: GraphEmulator, tmp_path: Path
) -> None:
    """`apply FILE -o json > out`: round 1's results are in `out` before round 2 has an
    answer, and a SIGTERM in round 2 still leaves `out` one JSON list of every row, with
    the one report on stderr."""
    users = 1500  # two rounds: 1,000 users, then 500 (one row each)
    add_users(graph, users, number="0")
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "user,type,number\n" + "".join(f"user{n}@contoso.com,other,+4 {n}\n" for n in range(users))
    )
    # Round 1 is 50 batches of reads, then 50 of writes; round 2's first batch is held
    # until the test lets it go.
    reached, release = threading.Event(), threading.Event()
    batches = 0
    original = graph.answer

    def answer(request: Any, **options: Any) -> Any:
        nonlocal batches
        if not options.get("in_batch") and request.path.endswith("/$batch"):
            batches += 1
            if batches > 100:
                reached.set()
                release.wait(30)
        return original(request, **options)

    graph.answer = answer  # type: ignore[method-assign]
    busy = Busy(graph)  # counts the held batches too
    out_path = tmp_path / "out.json"
    with out_path.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "phonectl", "apply", str(rows), "-o", "json"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:
        assert reached.wait(60), process.stderr
        during = out_path.read_text().splitlines()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        release.set()
        if process.poll() is None:
            process.kill()
        busy.wait_idle()  # the held batches answered (to no one) before the emulator stops
    # Round 1's results, each a line of the list: already written, before round 2's answer.
    assert during[0] == "["
    firsts = [json.loads(line.rstrip(",")) for line in during[1:]]
    assert [r["result"] for r in firsts] == ["updated"] * 1000
    assert [r["line"] for r in firsts] == list(range(2, 1002))
    # Stopped in round 2: the file is the whole report, still one JSON list.
    assert process.returncode == 128 + signal.SIGTERM, err
    results = json.loads(out_path.read_text())
    assert results[:1000] == firsts
    assert [r["result"] for r in results] == ["updated"] * 1000 + ["not-sent"] * 500
    assert err.count(f"apply: {users} rows:") == 1
    assert f"apply: {users} rows: 1000 updated, 500 not-sent" in err


def test_a_signal_in_a_held_block_waits_for_its_end_whichever_thread_the_kernel_picks() -> None:
    """The kernel hands a process's SIGINT to any thread that does not block it (apply has
    HTTP workers); Python runs the handler in the main thread regardless. A round's results
    are written in a held block: the interrupt must come after the block, never inside."""
    import signal
    import threading

    from phonectl.apply.run import signals_held

    release = threading.Event()
    turns = [0]

    def busy() -> None:  # a thread like an HTTP worker: running Python, taking the GIL turns
        while not release.is_set():
            turns[0] += 1

    worker = threading.Thread(target=busy)
    worker.start()
    finished = []
    try:
        with pytest.raises(KeyboardInterrupt), signals_held():
            assert worker.ident is not None
            signal.pthread_kill(worker.ident, signal.SIGINT)  # delivered to the worker
            # The kernel delivers it when the worker next runs (on a loaded machine that
            # can take a while): wait until it has run on, then run Python code long enough
            # for several GIL hand-overs (each 5 ms), where Python runs a pending handler.
            seen = turns[0]
            wait_until(lambda: turns[0] > seen + 1000, "the worker ran after the signal")
            deadline = time.monotonic() + 0.1
            while time.monotonic() < deadline:
                pass
            finished.append("the whole block")
    finally:
        release.set()
        worker.join()
    assert finished == ["the whole block"]


def test_a_batch_is_said_sent_exactly_when_it_went_out_however_the_stop_falls(
    graph: GraphEmulator,
) -> None:
    """With batches in flight on several threads, stop() lets no further batch out, and
    on_sent has heard of exactly the batches Graph received: none reported unknown that
    never left (a red team saw 5,306 such rows after one Ctrl-C), none sent unsaid."""
    import threading

    from phonectl.graph import BatchRequest, GraphClient, Stopped

    graph.add_fault(Fault(status=None, delay=0.2, path_contains="$batch", count=100))
    client = GraphClient(graph.url + "/beta", lambda: TEST_TOKEN, user_agent="phonectl-test")
    client.concurrency = 4
    requests = [BatchRequest("GET", f"/users/nobody{n}/profile/phones") for n in range(400)]
    said: list[int] = []
    said_lock = threading.Lock()
    stopping: list[threading.Thread] = []
    said_at_stop: list[int] = []  # what apply's report would be built from, stop() returned

    def stop() -> None:
        client.stop()
        with said_lock:
            said_at_stop.extend(said)

    def on_sent(indices: Sequence[int]) -> None:
        if stopping:  # a batch let through as the stop comes: slow to say so
            time.sleep(0.05)
        with said_lock:
            said.extend(indices)
        if len(said) >= 60 and not stopping:  # the third batch: stop while others go
            stopping.append(threading.Thread(target=stop))
            stopping[0].start()

    try:
        with pytest.raises(Stopped):
            client.send_batch(requests, on_sent=on_sent)
    finally:
        client.close()
    stopping[0].join()
    wait_until(lambda: len(batches_seen(graph)) >= len(said) // 20, "the batches said sent")
    received = sorted(int(item["id"]) for body in batches_seen(graph) for item in body)
    assert sorted(said) == received and 60 <= len(said) < 400
    # Said by the time stop() returned: no batch went out and was said only later.
    assert sorted(said_at_stop) == received


def batches_seen(graph: GraphEmulator) -> list[list[dict[str, Any]]]:
    return [c.body["requests"] for c in graph.requests if c.decoded_path == "/beta/$batch"]


@pytest.mark.skipif(not Path("/proc/self/wchan").exists(), reason="reads /proc (Linux)")
def test_an_interrupt_while_the_file_is_read_still_says_nothing_was_sent(
    graph: GraphEmulator,
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "phonectl", "apply", "-", "-o", "json"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ,
    )
    assert process.stdin is not None
    process.stdin.write(b"user,type,number\n")  # the file so far: phonectl waits for the rest
    process.stdin.flush()
    wchan = Path(f"/proc/{process.pid}/wchan")
    wait_until(lambda: "pipe_read" in wchan.read_text(), "phonectl reading its input")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 130
    assert err.decode().splitlines() == [
        "apply: stopped while reading stdin; nothing was sent",
        "interrupted",
    ]
    assert out == b"" and graph.requests == []
