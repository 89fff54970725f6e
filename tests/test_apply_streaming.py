"""apply holds a round, not the file: the checked rows stay packed, each round's rows are
unpacked, planned and reported, then dropped, and its results are handed on (written out)
before the next round is read. In process, against the emulator, through real HTTP."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from support import TEST_TOKEN, Run, add_users

from phonectl import render
from phonectl.apply import run as apply_run
from phonectl.apply.backup import Backup
from phonectl.apply.export import export_phones
from phonectl.apply.rows import phone_rows_text, store_rows
from phonectl.apply.run import Before, RowResult, apply_rows
from phonectl.choices import FileFormat, OutputFormat
from phonectl.graph import GraphClient
from phonectl.phones import UserRef
from phonectl.results import ApplyResult
from phonectl.sandbox.server import GraphEmulator

USERS = 40
TYPES = ("home", "business", "mobile", "other", "pager")


def _text(rows: int, *, interleaved: bool = False) -> str:
    """`rows` rows over USERS users, each user's together (as an HR export sorts them), or
    `interleaved`: every user's first row, then every user's second... (a file sorted by
    type or by department)."""
    per_user = rows // USERS
    return "user,type,number,displayName\n" + "".join(
        f"user{n % USERS if interleaved else n // per_user}@contoso.com,"
        f"{TYPES[n % 5]},+1 555 {n:07},row {n}\n"
        for n in range(rows)
    )


def _client(graph: GraphEmulator) -> GraphClient:
    return GraphClient(graph.url + "/beta", lambda: TEST_TOKEN, user_agent="phonectl-test")


def _peak(graph: GraphEmulator, rows: int, *, handed_on: bool, interleaved: bool = False) -> int:
    """tracemalloc's peak over a dry run of `rows` rows (the packed rows made before)."""
    stored = store_rows(_text(rows, interleaved=interleaved), FileFormat.csv, "rows.csv")
    client = _client(graph)
    tracemalloc.start()
    try:
        apply_rows(
            client,
            stored,
            dry_run=True,
            on_results=(lambda results: None) if handed_on else None,
        )
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("interleaved", [False, True], ids=["grouped", "interleaved"])
def test_a_dry_runs_peak_memory_does_not_grow_with_the_file(
    graph: GraphEmulator, monkeypatch: pytest.MonkeyPatch, interleaved: bool
) -> None:
    add_users(graph, USERS, phones_each=0)
    monkeypatch.setattr(apply_run, "ROWS_PER_ROUND", 1000)
    # A file that does not keep each user's rows together is regrouped by round first:
    # its rounds are as small as a sorted file's.
    small = _peak(graph, 4_000, handed_on=True, interleaved=interleaved)
    big = _peak(graph, 16_000, handed_on=True, interleaved=interleaved)
    # Four times the rows, the same rounds of about 1000: the peak is the round's (the
    # row-to-user index alone grows, at a few bytes a row; the order Graph's answers come
    # in moves a round's peak by a third). Kept, it would be about four times.
    assert big < 2 * small, (small, big)
    # Kept (a table, --query), every result stays: the measure sees what streaming saves.
    kept = _peak(graph, 16_000, handed_on=False, interleaved=interleaved)
    assert kept > 2 * big, (kept, big)


def test_each_rounds_results_are_handed_on_before_the_next_round_is_read(
    graph: GraphEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_users(graph, USERS, phones_each=0)
    monkeypatch.setattr(apply_run, "ROWS_PER_ROUND", 200)  # 10 users a round: 4 rounds
    stored = store_rows(_text(800), FileFormat.csv, "rows.csv")
    handed: list[tuple[list[int], int]] = []  # each part's lines, and the batches sent by then
    users_of: list[set[str]] = []  # each part's users
    addressed: list[set[str]] = []  # every user a request had addressed by then

    def hand_on(results: Sequence[RowResult]) -> None:
        handed.append(([r.line for r in results], len(graph.requests)))
        users_of.append({str(r.user.ref) for r in results})
        addressed.append(
            {
                item["url"].split("/")[2]
                for request in graph.requests
                for item in request.body["requests"]
            }
        )

    graph.requests.clear()
    report = apply_rows(_client(graph), stored, dry_run=False, on_results=hand_on)
    assert report.results == ()  # handed on, not kept
    assert report.rows == 800 and report.exit_code == 0
    assert [lines for lines, _ in handed] == [
        list(range(2 + 200 * k, 2 + 200 * (k + 1))) for k in range(4)
    ]
    # Round k's rows were handed on once its reads and writes were done, before round
    # k+1 sent anything: every part came with more requests behind it than the last.
    sent = [count for _, count in handed]
    assert sent == sorted(set(sent)) and sent[-1] == len(graph.requests)
    for k in range(3):
        assert users_of[k] <= addressed[k]
        assert not users_of[k + 1] & addressed[k], k  # round k+1 untouched until then
    # Each user's first row of a type adds the phone; its later ones join that add.
    assert report.written == 800


def test_streamed_json_and_tsv_are_what_the_whole_result_prints(
    graph: GraphEmulator,
    phonectl: Run,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_users(graph, USERS, phones_each=0)
    monkeypatch.setattr(apply_run, "ROWS_PER_ROUND", 50)
    path = tmp_path / "rows.csv"  # type: ignore[operator]
    path.write_text(_text(400))
    stored = store_rows(path.read_text(), FileFormat.csv, "rows.csv")
    whole = apply_rows(_client(graph), stored, dry_run=True)
    for fmt in (OutputFormat.json, OutputFormat.tsv):
        capsys.readouterr()
        render.show(ApplyResult(whole), fmt)
        expected = capsys.readouterr()
        streamed = phonectl("apply", str(path), "--dry-run", "-o", fmt.value)
        assert streamed.exit_code == 0
        assert (streamed.stdout, streamed.stderr) == (expected.out, expected.err)


def _before(users: range, phones_each: int) -> Before:
    """A round's Before, as apply hands it to --backup: each user's phones."""
    owners = {f"user-{n}": UserRef(f"user{n}@contoso.com") for n in users}
    phones = {
        f"user-{n}": [
            {"id": f"u{n}-p{p}", "type": "other", "number": f"+1 555 {n:07}{p}"}
            for p in range(phones_each)
        ]
        for n in users
    }
    return Before(owners, phones)


def _backup_peak(graph: GraphEmulator, path: str, rounds: int) -> int:
    """tracemalloc's peak over a backup of `rounds` rounds of 100 users of 2 phones (each
    round's phones read before)."""
    backup = Backup(path, _client(graph))
    befores = [_before(range(k * 100, (k + 1) * 100), 2) for k in range(rounds)]
    tracemalloc.start()
    try:
        for before in befores:
            backup(before)
        backup.complete()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        backup.close()


def test_a_backups_memory_does_not_grow_with_the_rows(graph: GraphEmulator, tmp_path: Path) -> None:
    small = _backup_peak(graph, str(tmp_path / "small.csv"), 8)
    big = _backup_peak(graph, str(tmp_path / "big.csv"), 128)
    # Sixteen times the rounds: the peak is one round's rows. Kept whole, the backup's
    # text alone would be several times that peak.
    size = (tmp_path / "big.csv").stat().st_size
    assert big < 1.5 * small and size > 5 * big, (small, big, size)
    assert (tmp_path / "big.csv").read_bytes().count(b"\r\n") == 1 + 128 * 200


def test_a_backup_of_several_rounds_is_whole_under_its_name_before_the_first_write(
    graph: GraphEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    add_users(graph, USERS, phones_each=2)
    monkeypatch.setattr(apply_run, "USERS_PER_ROUND", 10)  # 4 rounds
    path = tmp_path / "backup.csv"
    # What export writes of these users before the run: the backup must be that, byte for
    # byte (every user is touched, in the order export names them).
    client = _client(graph)
    users = [UserRef(f"user{n}@contoso.com") for n in range(USERS)]
    exported = export_phones(client, users)
    expected = phone_rows_text(exported.entries, FileFormat.csv).encode()
    # Under its name, the backup's size whenever Graph is handed a read or a write.
    seen: list[tuple[str, int | None]] = []
    original = graph.answer

    def answer(request: Any, **options: Any) -> Any:
        if options.get("in_batch") and request.method in {"GET", "PATCH"}:
            seen.append((request.method, path.stat().st_size if path.exists() else None))
        return original(request, **options)

    monkeypatch.setattr(graph, "answer", answer)
    stored = store_rows(
        "user,id,type,number\n"
        + "".join(f"user{n}@contoso.com,u{n}-p0,other,+9 {n}\n" for n in range(USERS)),
        FileFormat.csv,
        "rows.csv",
    )
    backup = Backup(str(path), client)
    try:
        report = apply_rows(client, stored, dry_run=False, before_writes=backup)
    finally:
        backup.close()
    assert report.written == USERS and backup.users == USERS and backup.written
    assert path.read_bytes() == expected
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".backup.csv")]  # none left
    # Every write saw the backup whole under its name; the first pass read every round
    # (40 users, then the writing pass read them again) with no file under that name yet:
    # a run stopped then leaves no backup that lacks a user it was going to change.
    writes = [size for method, size in seen if method == "PATCH"]
    assert writes == [len(expected)] * USERS
    first_reads = seen[: seen.index(("GET", len(expected)))]
    assert first_reads == [("GET", None)] * USERS


def test_apply_to_a_file_typed_at_a_terminal_writes_every_row_to_the_file(
    graph: GraphEmulator, tmp_path: Path
) -> None:
    """`phonectl apply rows.csv -o json > out.json` at a terminal: the progress bar draws on
    the terminal (stderr), and stdout, a file, gets the whole JSON list; nothing of it is
    drawn on the terminal (a progress bar that took over stdout sent it there)."""
    from support import run_on_terminal

    add_users(graph, USERS, phones_each=0)
    rows = tmp_path / "rows.csv"
    rows.write_text(_text(2_000))
    out = tmp_path / "out.json"
    code, screen = run_on_terminal(
        ["apply", str(rows), "--dry-run", "-o", "json"], stdout_to=str(out)
    )
    assert code == 0, screen
    import json

    written = json.loads(out.read_text())
    assert [r["line"] for r in written] == list(range(2, 2_002))
    assert b'"line"' not in screen and b'"result"' not in screen
    assert b"apply: 2000 rows: 2000 would-add" in screen  # the summary, on the terminal
