"""apply works USERS_PER_ROUND users at a time (its memory is a round's phones and plan, not
the file's): split into rounds, a run writes, reports and backs up what it does in one, and
--max-deletes still counts every round before the first write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import ME_ID, Run, add_users, change_phone, graph_calls, phones_of, written_items

from phonectl.apply import run as apply_run
from phonectl.sandbox.server import GraphEmulator

USERS = [ME_ID, *(f"user{n}@contoso.com" for n in range(5))]


def _file(tmp_path: Path) -> str:
    """Rows over six users, the signed-in one and an unknown one among them: renumbering,
    adding, a row with nothing to add, a row for nobody."""
    lines = ["user,id,type,number,displayName"]
    for n in range(5):
        lines.append(f"user{n}@contoso.com,u{n}-p0,,+44 {n},renumbered")
        lines.append(f"user{n}@contoso.com,,pager,+45 {n},added")
    lines += [
        "innocenty.popov@contoso.com,,mobile,+46,mine",
        "nobody@contoso.com,,home,+47,ghost",
        "user4@contoso.com,,radio,,",
    ]
    path = tmp_path / "rows.csv"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _state(graph: GraphEmulator) -> dict[str, list[tuple[Any, ...]]]:
    return {
        user: sorted((p["type"], p["number"], p.get("displayName")) for p in phones_of(graph, user))
        for user in USERS
    }


def _run(
    graph: GraphEmulator,
    phonectl: Run,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    per_round: int,
    *extra: str,
) -> tuple[int, list[dict[str, Any]], dict[str, list[tuple[Any, ...]]]]:
    graph.state.reset()
    add_users(graph, 5, phones_each=2)
    monkeypatch.setattr(apply_run, "USERS_PER_ROUND", per_round)
    result = phonectl("apply", _file(tmp_path), "-o", "json", *extra)
    assert "Traceback" not in result.stderr
    # Added phones get new ids from Graph: the same run made twice differs only there.
    rows = [{**r, "id": "(new)" if r["result"] == "added" else r["id"]} for r in result.json()]
    return result.exit_code, rows, _state(graph)


def _line(row: dict[str, Any]) -> tuple[int, str]:
    return row["line"] or 0, str(row["id"])


def _phone_reads(graph: GraphEmulator) -> int:
    """$batch requests that read users' phones (one per round and reading pass)."""
    return sum(
        any(
            item["method"] == "GET" and item["url"].endswith("/profile/phones")
            for item in call.body["requests"]
        )
        for call in graph.requests
        if call.decoded_path == "/beta/$batch"
    )


@pytest.mark.parametrize("extra", [(), ("--prune", "--max-deletes", "100"), ("--dry-run",)])
def test_rounds_of_two_users_do_what_one_round_does(
    graph: GraphEmulator,
    phonectl: Run,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    extra: tuple[str, ...],
) -> None:
    graph.requests.clear()
    one_round = _run(graph, phonectl, monkeypatch, tmp_path, 1000, *extra)
    assert _phone_reads(graph) == 1
    graph.requests.clear()
    in_rounds = _run(graph, phonectl, monkeypatch, tmp_path, 2, *extra)
    # Seven users (all named: the unknown one is found out by its read), two a round, in the
    # order the file first names them: four rounds (and with --max-deletes a first pass
    # counting). user4's last row is the file's last: its rows are regrouped into its round.
    assert _phone_reads(graph) == 4 * (2 if "--max-deletes" in extra else 1)
    code, rows, state = in_rounds
    assert (code, state) == one_round[::2]
    assert sorted(rows, key=_line) == sorted(one_round[1], key=_line)
    assert code == 1  # the row for nobody, and the radio with no number
    # -o json to a file is written round by round: user4's last row (the file's last line)
    # in the round of user4 and the signed-in user (lines 10-12), before nobody's (line 13).
    assert [r["line"] for r in rows if r["line"]] == [*range(2, 13), 14, 13]
    assert [r["line"] for r in one_round[1] if r["line"]] == [*range(2, 15)]  # one round
    assert {r["result"] for r in rows} >= {
        "failed",
        "would-update" if "--dry-run" in extra else "updated",
    }
    if "--prune" in extra:  # reported after the file's rows: users 0-3's second phone and
        # the signed-in user's two (user4 keeps all: one of its rows failed)
        assert [r["result"] for r in rows[-6:]] == ["deleted"] * 6
        assert rows[-7]["result"] != "deleted"


def test_max_deletes_counts_every_round_before_anything_is_written(
    graph: GraphEmulator, phonectl: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    graph.state.reset()
    add_users(graph, 5, phones_each=2)
    monkeypatch.setattr(apply_run, "USERS_PER_ROUND", 2)  # 2 deletes in each of 3 rounds
    graph.requests.clear()
    result = phonectl("apply", _file(tmp_path), "--prune", "--max-deletes", "4")
    assert result.exit_code == 2
    assert "would delete 6 phones, more than --max-deletes 4" in result.stderr
    assert written_items(graph) == []


def test_a_backup_taken_round_by_round_restores_every_user(
    graph: GraphEmulator, phonectl: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    graph.state.reset()
    add_users(graph, 5, phones_each=2)
    for n in range(5):  # a pruned phone comes back by its type: one phone of each type
        change_phone(graph, f"u{n}-p1", f"user{n}@contoso.com", type="home")
    before = _state(graph)
    monkeypatch.setattr(apply_run, "USERS_PER_ROUND", 2)
    backup = tmp_path / "before.csv"
    changed = phonectl("apply", _file(tmp_path), "--prune", "--backup", str(backup))
    assert changed.exit_code == 1
    assert _state(graph) != before
    assert backup.read_text().count("user,id,type") == 1  # one header, whatever the rounds
    # Written round by round (3 rounds of 2 users), reported once, at the end.
    assert changed.stderr.count("backup of ") == 1
    assert "backup of 6 users' phones" in changed.stderr
    reading = [
        c
        for c in graph_calls(graph)
        if c.decoded_path == "/beta/$batch"
        and any(i["method"] == "GET" and i["url"].endswith("/phones") for i in c.body["requests"])
    ]
    assert len(reading) >= 3  # one round reads its own 2 users (one round: 1 batch of 6)
    restored = phonectl("apply", str(backup), "--prune", "--max-deletes", "100")
    assert restored.exit_code == 0, restored.stderr
    assert _state(graph) == before
