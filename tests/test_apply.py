"""`phonectl apply`: bulk, idempotent sync through $batch."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from support import (
    EXAMPLE_PHONE_ID,
    ME_ID,
    SECOND_USER_ID,
    Run,
    add_users,
    change_phone,
    graph_calls,
    phones_of,
    run_on_terminal,
)

from phonectl.sandbox.server import Fault, GraphEmulator

ADELE_MOBILE = "b2c4e6a8-1d3f-4b5c-8e7a-9f0d1c2b3a4e"
OFFICE_PHONE_ID = (
    "5f3b2a17-8c4e-4d7a-9b1c-2e6f0a9d8c31"  # the seed's second phone of the signed-in user
)


ME_UPN = "innocenty.popov@contoso.com"


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def batch_items(graph: GraphEmulator) -> list[list[dict[str, Any]]]:
    """The items of each $batch the emulator received."""
    calls = graph_calls(graph)
    assert all(c.decoded_path == "/beta/$batch" and c.method == "POST" for c in calls)
    return [c.body["requests"] for c in calls]


def writes(graph: GraphEmulator) -> list[dict[str, Any]]:
    return [i for items in batch_items(graph) for i in items if i["method"] != "GET"]


def test_adds_updates_and_leaves_alone(graph: GraphEmulator, phonectl: Run, tmp_path: Path) -> None:
    csv = write(
        tmp_path,
        "phones.csv",
        "user,id,type,number,displayName,allowedAudiences\n"
        f"{ME_UPN},{EXAMPLE_PHONE_ID},,+7 499 342 22 13,Car,\n"  # only displayName differs
        f"{ME_UPN},,mobile,+1 425 555 0100,Cell,\n"  # I have no mobile: added
        f"{SECOND_USER_ID},,mobile,+1 425 555 0109,,CONTACTS\n",  # already so
    )
    result = phonectl("apply", csv, "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = result.json()
    assert [(r["line"], r["result"], r["changed"]) for r in rows] == [
        (2, "updated", ["displayName"]),
        (3, "added", ["type", "number", "displayName"]),
        (4, "unchanged", []),
    ]
    assert rows[0] == {
        "line": 2,
        "user": ME_UPN,
        "id": EXAMPLE_PHONE_ID,
        "result": "updated",
        "changed": ["displayName"],
        "changes": [{"field": "displayName", "old": "Car Phone", "new": "Car"}],
        "error": None,
    }
    sent = writes(graph)
    assert [(w["method"], w.get("body")) for w in sent] == [
        ("PATCH", {"displayName": "Car"}),
        ("POST", {"type": "mobile", "number": "+1 425 555 0100", "displayName": "Cell"}),
    ]
    added = next(p for p in phones_of(graph, ME_ID) if p["type"] == "mobile")
    assert rows[1]["id"] == added["id"]
    assert "3 rows: 1 unchanged, 1 updated, 1 added" in result.stderr
    # The file names a user by name and one by id: one batch finds the named user's id
    # (she might be the other), one reads, one writes.
    assert len(graph_calls(graph)) == 3


def test_a_second_run_writes_nothing(graph: GraphEmulator, phonectl: Run, tmp_path: Path) -> None:
    add_users(graph, 30)
    lines = ["user,type,number"] + [f"user{n}@contoso.com,other,+44 20 {n:04}" for n in range(30)]
    csv = write(tmp_path, "hr.csv", "\n".join(lines) + "\n")
    assert phonectl("apply", csv).exit_code == 0
    assert len(writes(graph)) == 30
    graph.requests.clear()
    again = phonectl("apply", csv, "-o", "json")
    assert again.exit_code == 0
    assert {r["result"] for r in again.json()} == {"unchanged"}
    assert writes(graph) == []
    assert len(graph_calls(graph)) == 2  # 30 reads in batches of 20


def test_a_file_that_sets_one_phones_value_twice_says_so_and_the_later_row_wins(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    """Two rows about one phone, with two numbers (an HR export that lists a person twice):
    applied in file order, so the later wins; every run says the file contradicts itself,
    since the second calls the earlier row unchanged although its number is not there."""
    add_users(graph, 5, number="0")
    rows = [f"user{n}@contoso.com,u{n}-p0,+1 7{n}" for n in range(5)]
    rows += [f"user{n}@contoso.com,u{n}-p0,+1 8{n}" for n in range(5)]
    csv = write(tmp_path, "hr.csv", "user,id,number\n" + "\n".join(rows) + "\n")
    said = (
        "the file sets one phone's value twice, differently, in 5 rows (line 7's number over "
        "line 2's, line 8's number over line 3's, line 9's number over line 4's, and 2 more)"
    )
    for _ in range(2):
        done = phonectl("apply", csv, "-o", "json")
        assert done.exit_code == 0, done.stderr
        assert said in done.stderr
        assert [phones_of(graph, f"user{n}@contoso.com")[0]["number"] for n in range(5)] == [
            f"+1 8{n}" for n in range(5)
        ]
    assert {r["result"] for r in done.json()} == {"unchanged"}
    dry = phonectl("apply", csv, "--dry-run")
    assert said in dry.stderr


def test_no_batch_holds_more_than_20_requests(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    add_users(graph, 45)
    lines = ["user,type,number"] + [f"user{n}@contoso.com,other,+49 {n}" for n in range(45)]
    assert phonectl("apply", write(tmp_path, "x.csv", "\n".join(lines))).exit_code == 0
    sizes = [len(items) for items in batch_items(graph)]
    # Reads, then writes; with batches in flight at once, in any order within each phase.
    assert sorted(sizes[:3]) == sorted(sizes[3:]) == [5, 20, 20]


def test_reads_follow_next_links_inside_batches(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    graph.page_size = 2
    add_users(graph, 1, phones_each=5)
    jsonl = write(
        tmp_path, "x.jsonl", '{"user": "user0@contoso.com", "id": "u0-p4", "number": "+1 999"}\n'
    )
    result = phonectl("apply", jsonl, "-o", "json")
    assert result.json()[0]["result"] == "updated"  # found on the third page
    assert len(batch_items(graph)) == 4  # pages 1, 2, 3, then the write


def test_a_row_without_id_and_several_phones_of_its_type_is_ambiguous(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    add_users(graph, 1, phones_each=2)
    csv = write(tmp_path, "x.csv", "user,type,number\nuser0@contoso.com,other,+1\n")
    result = phonectl("apply", csv, "-o", "json")
    assert result.exit_code == 1
    (row,) = result.json()
    assert row["result"] == "failed"
    assert row["error"] == "ambiguous: the user has 2 other phones; give the id"
    assert writes(graph) == []


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("ghost@contoso.com,,mobile,+1", "404 Request_ResourceNotFound"),
        (f"{ME_UPN},no-such-id,,+1", "the user has no phone with id no-such-id"),
        (f"{ME_UPN},,pager,", "no pager phone, and the row has no number to add one"),
    ],
)
def test_rows_that_cannot_be_planned_fail_alone(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path, line: str, error: str
) -> None:
    csv = write(tmp_path, "x.csv", f"user,id,type,number\n{line}\n{ME_UPN},,business,+7 1\n")
    result = phonectl("apply", csv, "-o", "json")
    assert result.exit_code == 1
    failed, other = result.json()
    assert failed["result"] == "failed" and error in failed["error"]
    assert other["result"] == "updated"


@pytest.mark.parametrize(
    ("line", "error"),
    [
        # No row names either of user0's two "other" phones: which one was meant?
        ("user0@contoso.com,gone,other,+1", "no phone with id gone, and 2 other other phones"),
        # Rows name both of user1's: none is left to match, nor a number to add it again.
        ("user1@contoso.com,gone,other,", "no phone with id gone, and the row has no number"),
    ],
)
def test_a_row_whose_id_is_gone_fails_when_its_type_cannot_decide(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path, line: str, error: str
) -> None:
    add_users(graph, 2, phones_each=2)
    lines = f"user,id,type,number\n{line}\n" + "".join(
        f"user1@contoso.com,u1-p{p},other,+7 {p}\n" for p in range(2)
    )
    result = phonectl("apply", write(tmp_path, "x.csv", lines), "-o", "json")
    assert result.exit_code == 1
    failed, *others = result.json()
    assert failed["result"] == "failed" and error in failed["error"], failed
    assert [r["result"] for r in others] == ["updated", "updated"]
    assert sorted(w["url"].rsplit("/", 1)[1] for w in writes(graph)) == ["u1-p0", "u1-p1"]


def test_two_rows_for_one_phone_are_one_write_and_the_last_row_wins(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    csv = write(tmp_path, "x.csv", "type,number\nmobile,+1\nmobile,+2\n")
    result = phonectl("apply", csv, "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert [r["result"] for r in result.json()] == ["added", "added"]
    assert len(writes(graph)) == 1
    assert [p["number"] for p in phones_of(graph, ME_ID) if p["type"] == "mobile"] == ["+2"]
    graph.requests.clear()
    again = phonectl("apply", csv, "-o", "json")
    assert [r["result"] for r in again.json()] == ["unchanged", "unchanged"]
    assert writes(graph) == []


def test_one_phone_named_through_user_id_and_upn_is_one_phone(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    csv = write(
        tmp_path,
        "x.csv",
        "user,id,number\n"
        f"{SECOND_USER_ID},{ADELE_MOBILE},+1 425 555 0001\n"
        f"AdeleV@contoso.com,{ADELE_MOBILE},+1 425 555 0002\n",
    )
    result = phonectl("apply", csv, "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert [r["result"] for r in result.json()] == ["updated", "updated"]
    assert [w["body"] for w in writes(graph)] == [{"number": "+1 425 555 0002"}]
    assert [p["number"] for p in phones_of(graph, SECOND_USER_ID)] == ["+1 425 555 0002"]


def test_a_batch_where_one_item_is_throttled_and_the_rest_not_run_is_retried_whole(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    # Graph's throttling docs: in a batch, the throttled request answers 429 and the
    # requests it held back answer 424 Failed Dependency; neither was carried out.
    add_users(graph, 5)
    graph.add_fault(Fault(status=429, count=1, method="PATCH", retry_after="0.2"))
    graph.add_fault(Fault(status=424, count=4, method="PATCH"))
    lines = ["user,type,number"] + [f"user{n}@contoso.com,other,+34 {n}" for n in range(5)]
    result = phonectl("apply", write(tmp_path, "x.csv", "\n".join(lines)), "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert [r["result"] for r in result.json()] == ["updated"] * 5
    assert [len(items) for items in batch_items(graph)] == [5, 5, 5]  # reads, writes, retry
    calls = [c for c in graph_calls(graph) if c.decoded_path == "/beta/$batch"]
    assert calls[2].at - calls[1].at >= 0.2  # the 429's Retry-After, for all five
    assert [p["number"] for n in range(5) for p in phones_of(graph, f"user-{n}")] == [
        f"+34 {n}" for n in range(5)
    ]


def test_items_throttled_inside_a_batch_are_retried_on_their_own(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    add_users(graph, 5)
    graph.add_fault(Fault(status=429, count=2, method="PATCH", retry_after="0.05"))
    lines = ["user,type,number"] + [f"user{n}@contoso.com,other,+33 {n}" for n in range(5)]
    result = phonectl("apply", write(tmp_path, "x.csv", "\n".join(lines)), "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert {r["result"] for r in result.json()} == {"updated"}
    assert [len(items) for items in batch_items(graph)] == [5, 5, 2]  # reads, writes, retry
    assert [p["number"] for n in range(5) for p in phones_of(graph, f"user-{n}")] == [
        f"+33 {n}" for n in range(5)
    ]


def test_a_failed_row_exits_1_and_a_rerun_completes_only_it(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    add_users(graph, 4)
    graph.add_fault(Fault(status=500, count=1, path_contains="/users/user2@contoso.com/"))
    lines = ["user,type,number"] + [f"user{n}@contoso.com,other,+39 {n}" for n in range(4)]
    csv = write(tmp_path, "x.csv", "\n".join(lines))
    first = phonectl("apply", csv, "-o", "json")
    assert first.exit_code == 1
    assert [r["result"] for r in first.json()] == ["updated", "updated", "failed", "updated"]
    assert "500 injectedFault" in first.json()[2]["error"]
    assert "1 failed" in first.stderr
    graph.requests.clear()
    second = phonectl("apply", csv, "-o", "json")
    assert second.exit_code == 0
    assert [r["result"] for r in second.json()] == [
        "unchanged",
        "unchanged",
        "updated",
        "unchanged",
    ]
    assert [w["url"] for w in writes(graph)] == ["/users/user2@contoso.com/profile/phones/u2-p0"]


def test_a_failed_batch_fails_its_rows_and_never_drops_them(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHONECTL_MAX_RETRIES", "1")
    csv = write(tmp_path, "x.csv", f"id,number\n{EXAMPLE_PHONE_ID},+1\n")
    graph.add_fault(Fault(status=429, count=1, retry_after="0"))  # the read batch, once
    graph.add_fault(Fault(status=503, count=1, path_contains="$batch"))  # ...and again
    result = phonectl("apply", csv, "-o", "json")
    # Every row failed for one reason that has its own code, and nothing was written.
    assert result.exit_code == 6
    (row,) = result.json()
    assert row["result"] == "failed" and "503" in row["error"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("x.csv", "user,colour\nme,red\n", "x.csv:1: unknown column 'colour'"),
        ("x.csv", "user,type\n,cell\n", "x.csv:2: invalid type 'cell'"),
        ("x.csv", "type,number\nmobile,+1\nmobile\n", "x.csv:3: 1 cells, the header has 2"),
        ("x.csv", "type,number\nmobile,+1\x00\n", "x.csv:2: number must not contain"),
        ("x.csv", "type,allowedAudiences\nhome,nobody\n", "x.csv:2: invalid"),
        ("x.csv", "user,id\n,abc\n", "x.csv:1: no column to change"),
        ("x.csv", "number\n+1\n", "x.csv:2: a row needs an id, or a type"),
        ("x.csv", "", "x.csv:1: the file is empty"),
        ("x.jsonl", '{"type": "home"}\n{"type": "home"\n', "x.jsonl:2: not valid JSON"),
        ("x.jsonl", '{"type": "home", "number": 5}\n', "x.jsonl:1: number must be a string"),
        ("x.jsonl", '["home"]\n', "x.jsonl:1: each row must be a JSON object"),
        ("x.txt", "type\nhome\n", "cannot tell the format of"),
    ],
)
def test_a_malformed_file_is_refused_with_its_line_before_anything_is_sent(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path, name: str, text: str, message: str
) -> None:
    result = phonectl("apply", write(tmp_path, name, text))
    assert result.exit_code == 2
    assert message in result.stderr
    assert graph_calls(graph) == []
    assert result.stdout == ""


def test_dry_run_reads_and_plans_but_writes_nothing(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    csv = write(tmp_path, "x.csv", f"id,type,number\n{EXAMPLE_PHONE_ID},pager,\n,mobile,+1\n")
    result = phonectl("apply", csv, "--dry-run", "-o", "json")
    assert result.exit_code == 0
    assert [(r["result"], r["changed"]) for r in result.json()] == [
        ("would-update", ["type"]),
        ("would-add", ["type", "number"]),
    ]
    assert writes(graph) == []
    assert len(graph_calls(graph)) == 1
    assert "dry run: nothing written" in result.stderr


def test_stdin_and_tsv(
    graph: GraphEmulator, phonectl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "sys.stdin",
        io.StringIO(
            json.dumps({"user": "AdeleV@contoso.com", "type": "mobile", "displayName": "Work cell"})
            + "\n"
        ),
    )
    result = phonectl("apply", "-", "-o", "tsv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        f'1\tAdeleV@contoso.com\t{ADELE_MOBILE}\tupdated\tdisplayName: "Mobile" -> "Work cell"\t\n'
    )
    assert phones_of(graph, SECOND_USER_ID)[0]["displayName"] == "Work cell"


def test_table_output(graph: GraphEmulator, phonectl: Run, tmp_path: Path) -> None:
    result = phonectl("apply", write(tmp_path, "x.csv", "type,number\nbusiness,+7 2\n"))
    assert "Result" in result.stdout and "updated" in result.stdout


def test_progress_on_a_terminal_counts_every_row_to_the_end(
    graph: GraphEmulator, tmp_path: Path
) -> None:
    add_users(graph, 30)
    # 15 rows already as Graph holds them (no write) and 15 that change.
    csv = write(
        tmp_path,
        "phones.csv",
        "user,id,number\n"
        + "".join(
            f"user{n}@contoso.com,u{n}-p0,+1 555 {n:03}{0 if n < 15 else 9}\n" for n in range(30)
        ),
    )
    code, screen = run_on_terminal(["apply", csv, "-o", "tsv"])
    assert code == 0, screen
    assert b"applying" in screen
    assert b"30/30" in screen  # the unchanged rows count as done too
    assert screen.count(b"\tupdated\t") == 15 and screen.count(b"\tunchanged\t") == 15
    assert b"failed" not in screen


def test_progress_counts_failures_as_they_happen_and_says_dry_run(
    graph: GraphEmulator, tmp_path: Path
) -> None:
    add_users(graph, 4)
    # Two rows that cannot be planned (no pager to change, no number to add one), two fine.
    csv = write(
        tmp_path,
        "phones.csv",
        "user,type,number,displayName\n"
        "user0@contoso.com,pager,,Pager\n"
        "user1@contoso.com,pager,,Pager\n"
        "user2@contoso.com,other,+1 555 0002,x\n"
        "user3@contoso.com,other,+1 555 0003,y\n",
    )
    code, screen = run_on_terminal(["apply", csv, "-o", "tsv"])
    assert code == 1, screen
    assert b"2 failed" in screen
    code, screen = run_on_terminal(["apply", csv, "--dry-run", "-o", "tsv"])
    assert b"dry run: planning" in screen


def test_audience_cells_take_several_values_and_compare_as_a_set(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    csv = write(
        tmp_path,
        "aud.csv",
        f'id,allowedAudiences\n{EXAMPLE_PHONE_ID},"federatedorganizations, Organization"\n',
    )
    first = phonectl("apply", csv, "-o", "json")
    assert first.exit_code == 0, first.stderr
    assert first.json()[0]["changed"] == ["allowedAudiences"]
    assert writes(graph)[0]["body"] == {"allowedAudiences": "organization,federatedOrganizations"}
    graph.requests.clear()
    # Graph may list the members in another order: still the same set, nothing to write.
    first_phone = phones_of(graph, ME_ID)[0]["id"]
    change_phone(graph, first_phone, allowedAudiences="federatedOrganizations,organization")
    second = phonectl("apply", csv, "-o", "json")
    assert [r["result"] for r in second.json()] == ["unchanged"]
    assert writes(graph) == []


def test_a_phone_id_in_another_letter_case_is_the_same_phone(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    csv = write(tmp_path, "x.csv", f"id,number\n{EXAMPLE_PHONE_ID.upper()},+1 555 0100\n")
    result = phonectl("apply", csv, "--prune", "--max-deletes", "5", "-o", "json")
    assert result.exit_code == 0, result.stderr
    updated, *deleted = result.json()
    assert (updated["id"], updated["result"]) == (EXAMPLE_PHONE_ID, "updated")
    # Matched, so not pruned: only the user's other phone (the seed's office one) goes.
    assert [(r["id"], r["result"]) for r in deleted] == [(OFFICE_PHONE_ID, "deleted")]
    assert [p["number"] for p in phones_of(graph, ME_ID) if p["id"] == EXAMPLE_PHONE_ID] == [
        "+1 555 0100"
    ]
