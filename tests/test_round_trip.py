"""The admin's round trip: export, edit, apply (with prune, clear, backup), for real HR files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import (
    EXAMPLE_PHONE_ID,
    ME_ID,
    SECOND_USER_ID,
    Run,
    add_users,
    change_phone,
    graph_calls,
    phones_of,
    written_items,
)

from phonectl.sandbox.server import Fault, GraphEmulator

ADELE_MOBILE = "b2c4e6a8-1d3f-4b5c-8e7a-9f0d1c2b3a4e"
ME_UPN = "innocenty.popov@contoso.com"


def essentials(graph: GraphEmulator, user: str) -> list[tuple[Any, ...]]:
    """What a restore must bring back (ids aside: a re-added phone gets a new one)."""
    return sorted(
        (p["type"], p["number"], p.get("displayName"), p.get("allowedAudiences"))
        for p in phones_of(graph, user)
    )


@pytest.mark.parametrize("out", ["phones.csv", "phones.jsonl", None])
def test_export_then_apply_writes_nothing(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path, out: str | None
) -> None:
    first, second = (p["id"] for p in phones_of(graph, ME_ID))
    change_phone(graph, first, allowedAudiences="organization,federatedOrganizations")
    change_phone(graph, second, displayName=None)
    args = ["export", "--user", "AdeleV@contoso.com", "--user", ME_ID]
    if out:
        args += ["--out", str(tmp_path / out)]
    exported = phonectl(*args)
    assert exported.exit_code == 0, exported.stderr
    path = tmp_path / (out or "stdout.csv")
    if not out:
        path.write_text(exported.stdout)
    text = path.read_text()
    if path.suffix == ".csv":
        assert text.splitlines()[0] == "user,id,type,number,displayName,allowedAudiences"
    else:
        assert json.loads(text.splitlines()[0])["user"] == "AdeleV@contoso.com"
    assert len(text.strip().splitlines()) == 3 + (path.suffix == ".csv")
    graph.requests.clear()
    applied = phonectl("apply", str(path), "-o", "json")
    assert applied.exit_code == 0, applied.stderr
    assert {r["result"] for r in applied.json()} == {"unchanged"}
    assert written_items(graph) == []


def test_export_of_every_user_pages_through_users_and_reads_in_batches(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    add_users(graph, 45, number="{n}")
    result = phonectl("export", "--all-users")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1 + 3 + 45
    calls = [c.decoded_path for c in graph_calls(graph)]
    assert calls.count("/beta/users") == 1  # 47 users, one page of 100
    assert calls.count("/beta/$batch") == 3  # 47 users' phones, 20 a batch
    assert "export: 48 phones of 47 users" in result.stderr


def test_export_of_the_signed_in_user_names_her(graph: GraphEmulator, phonectl: Run) -> None:
    # Never an empty cell: the file applied by another admin must change the same person.
    result = phonectl("export", "--format", "jsonl")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["user"] for r in rows} == {ME_UPN}
    assert {r["id"] for r in rows} == {p["id"] for p in phones_of(graph, ME_ID)}


def test_a_list_json_file_applies_back_as_is(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    mine = tmp_path / "me.json"
    mine.write_text(phonectl("list", "-o", "json").stdout)
    # Whose phones they are is not in the array: apply asks instead of guessing.
    refused = phonectl("apply", str(mine))
    assert refused.exit_code == 2 and "--user" in refused.stderr
    result = phonectl("apply", str(mine), "-o", "json", "--user", ME_UPN)
    assert result.exit_code == 0, result.stderr
    assert {r["result"] for r in result.json()} == {"unchanged"}


@pytest.mark.parametrize(
    ("data", "args"),
    [
        (b"user;type;number\nadelev@contoso.com;mobile;+1 2\n", []),  # Excel in Europe
        (b"user\ttype\tnumber\nadelev@contoso.com\tmobile\t+1 2\n", []),
        (b"\xef\xbb\xbfuser,type,number\nadelev@contoso.com,mobile,+1 2\n", []),  # a BOM
        (b"user|type|number\nadelev@contoso.com|mobile|+1 2\n", ["--delimiter", ";"]),
        (
            "user;type;number;displayName\nadelev@contoso.com;mobile;+1 2;Bür\u00f6\n".encode(
                "cp1252"
            ),
            ["--encoding", "cp1252"],
        ),
        (
            b"employeeId,user,type,number\n42,adelev@contoso.com,mobile,+1 2\n",
            ["--ignore-column", "EmployeeID"],
        ),
    ],
)
def test_real_hr_files_are_read(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path, data: bytes, args: list[str]
) -> None:
    path = tmp_path / "hr.csv"
    path.write_bytes(data)
    if args[:1] == ["--delimiter"]:  # a delimiter phonectl does not sniff is named
        path.write_bytes(data.replace(b"|", b";"))
    result = phonectl("apply", str(path), *args, "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert phones_of(graph, SECOND_USER_ID)[0]["number"] == "+1 2"


def test_an_undecodable_file_names_the_line_and_the_option(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    path = tmp_path / "hr.csv"
    path.write_bytes("user,type,displayName\n,mobile,ok\n,home,Bür\u00f6\n".encode("cp1252"))
    result = phonectl("apply", str(path))
    assert result.exit_code == 2
    assert "hr.csv:3: not valid utf-8 text" in result.stderr
    assert "--encoding cp1252" in result.stderr
    assert graph_calls(graph) == []


def test_an_unknown_column_is_still_an_error_and_names_the_way_out(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    path = tmp_path / "hr.csv"
    path.write_text("employeeId,user,type\n1,x,home\n")
    result = phonectl("apply", str(path))
    assert result.exit_code == 2
    assert "unknown column 'employeeId'" in result.stderr and "--ignore-column" in result.stderr


def test_clear_empty_and_json_null_clear_properties(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    csv = tmp_path / "c.csv"
    csv.write_text(f"id,type,displayName\n{EXAMPLE_PHONE_ID},other,\n")
    assert phonectl("apply", str(csv), "-o", "json").json()[0]["result"] == "unchanged"
    cleared = phonectl("apply", str(csv), "--clear-empty", "-o", "json").json()[0]
    assert cleared["changes"] == [{"field": "displayName", "old": "Car Phone", "new": None}]
    assert phones_of(graph, ME_ID)[0]["displayName"] is None
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text(json.dumps({"id": EXAMPLE_PHONE_ID, "allowedAudiences": None}) + "\n")
    assert phonectl("apply", str(jsonl), "-o", "json").exit_code == 0
    assert phones_of(graph, ME_ID)[0]["allowedAudiences"] is None
    jsonl.write_text(json.dumps({"id": EXAMPLE_PHONE_ID, "number": None}) + "\n")
    refused = phonectl("apply", str(jsonl))
    assert refused.exit_code == 2 and "number cannot be cleared" in refused.stderr


def test_prune_deletes_only_unmatched_phones_of_the_files_users(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    csv = tmp_path / "p.csv"
    csv.write_text(f"user,id,type\n,{EXAMPLE_PHONE_ID},\n")  # the office phone is not wanted
    planned = phonectl("apply", str(csv), "--prune", "--dry-run", "-o", "json").json()
    assert [r["result"] for r in planned] == ["unchanged", "would-delete"]
    assert planned[1]["line"] == 0 and planned[1]["id"] == "5f3b2a17-8c4e-4d7a-9b1c-2e6f0a9d8c31"
    assert written_items(graph) == []
    result = phonectl("apply", str(csv), "--prune", "-o", "json")
    assert [r["result"] for r in result.json()] == ["unchanged", "deleted"]
    assert [p["id"] for p in phones_of(graph, ME_ID)] == [EXAMPLE_PHONE_ID]
    assert len(phones_of(graph, SECOND_USER_ID)) == 1  # not in the file: never touched


def test_prune_past_max_deletes_is_refused_and_writes_nothing(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    csv = tmp_path / "p.csv"
    csv.write_text("user,type,number,displayName\n,pager,+1,x\n")
    result = phonectl("apply", str(csv), "--prune", "--max-deletes", "1")
    assert result.exit_code == 2
    assert "would delete 2 phones, more than --max-deletes 1" in result.stderr
    assert written_items(graph) == []


def test_prune_never_deletes_for_a_user_whose_row_failed(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    # two "other" phones: a row is ambiguous
    change_phone(graph, phones_of(graph, ME_ID)[1]["id"], type="other")
    csv = tmp_path / "p.csv"
    csv.write_text("type,number\nother,+1\n")
    result = phonectl("apply", str(csv), "--prune", "-o", "json")
    assert [r["result"] for r in result.json()] == ["failed"]
    assert len(phones_of(graph, ME_ID)) == 2


def test_backup_then_apply_the_backup_with_prune_undoes_a_bad_import(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    before = {u: essentials(graph, u) for u in (ME_ID, SECOND_USER_ID)}
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "user,id,type,number,displayName\n"
        f"{ME_UPN},{EXAMPLE_PHONE_ID},mobile,000,oops\n"
        f"{ME_UPN},,pager,+1 999,new\n"
        "adelev@contoso.com,,mobile,111,\n"
    )
    backup = tmp_path / "backup.csv"
    result = phonectl("apply", str(bad), "--prune", "--backup", str(backup))
    assert result.exit_code == 0, result.stderr
    assert f"written to {backup}" in result.stderr
    assert essentials(graph, ME_ID) != before[ME_ID]
    undo = phonectl("apply", str(backup), "--prune", "-o", "json")
    assert undo.exit_code == 0, undo.stderr
    assert {u: essentials(graph, u) for u in (ME_ID, SECOND_USER_ID)} == before


def test_a_429_on_one_batch_pauses_the_others(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    # 160 rows: 8 write batches, 4 in flight at once. The first write batch to arrive is
    # throttled for 0.3 s; every batch sent after that must wait it out too.
    add_users(graph, 160, number="{n}")
    graph.add_fault(Fault(status=429, retry_after="0.3", path_contains="$batch", after=8))
    lines = ["user,type,number"] + [f"user{n}@contoso.com,other,+7 {n}" for n in range(160)]
    csv = tmp_path / "c.csv"
    csv.write_text("\n".join(lines))
    result = phonectl("apply", str(csv), "-o", "json", "--concurrency", "4")
    assert result.exit_code == 0, result.stderr
    assert [r["line"] for r in result.json()] == list(range(2, 162))  # file order
    writes = [
        c
        for c in graph_calls(graph)
        if c.decoded_path == "/beta/$batch" and c.body["requests"][0]["method"] == "PATCH"
    ]
    assert len(writes) == 8 + 1  # the throttled one again
    writes.sort(key=lambda c: c.at)
    gaps = [round(c.at - writes[0].at, 3) for c in writes]  # from the throttled arrival
    # Without the shared pause, only the throttled batch's own retry would come after its
    # 0.3 s: the seven others would all arrive within milliseconds. With it, every batch a
    # worker starts once phonectl has read the 429 waits too. How many slip in before that
    # (in flight, or started by another worker while the 429 was still being read) is the
    # machine's scheduling, so the check counts what waited, not what did not: the retry
    # and at least one other batch (four of the eight, on an idle machine).
    assert sum(1 for gap in gaps if gap >= 0.25) >= 2, gaps


def three_phones_of_one_type(graph: GraphEmulator, user: str) -> tuple[str, ...]:
    """Gives the user three mobile phones beside the seed's; their ids."""
    template = {"allowedAudiences": "organization", "source": {"type": ["User"]}}
    ids = ("mobile-one", "mobile-two", "mobile-three")
    for n, phone_id in enumerate(ids):
        phone = {**template, "id": phone_id, "type": "mobile", "number": f"+1 555 010{n}"}
        graph.state.add_phone(user, phone)
    return ids


def test_pruned_phones_come_back_from_the_backup_beside_others_of_their_type(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    kept = three_phones_of_one_type(graph, ME_ID)[0]
    before = essentials(graph, ME_ID)
    bad = tmp_path / "bad.csv"
    bad.write_text(f"user,id,number\n,{kept},+1 555 0199\n")
    backup = tmp_path / "backup.csv"
    done = phonectl("apply", str(bad), "--prune", "--backup", str(backup))
    assert done.exit_code == 0, done.stderr
    assert [p["id"] for p in phones_of(graph, ME_ID)] == [kept]
    # The backup's rows for the pruned phones name ids that are gone; each is added again,
    # not written over the mobile phone that has a row of its own, nor over one another.
    undo = phonectl("apply", str(backup), "--prune", "-o", "json")
    assert undo.exit_code == 0, undo.stderr
    assert essentials(graph, ME_ID) == before
    results = [r["result"] for r in undo.json()]
    # The kept phone's number back, and the two mobiles and the seed's two phones re-added.
    assert sorted(results) == ["added"] * 4 + ["updated"]
    # Once more: the gone ids now find the re-added phones (two mobiles, one a row each,
    # by their values), and nothing is written.
    graph.requests.clear()
    again = phonectl("apply", str(backup), "--prune", "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert {r["result"] for r in again.json()} == {"unchanged"}
    assert written_items(graph) == []


# -- property: backup, then the backup with --prune, restores the export ---------------------

TYPES = ["home", "mobile", "pager", "radio"]
EMPTY_USER = "nophones@contoso.com"  # a user with no phones before the run
USERS = [ME_UPN, "adelev@contoso.com", EMPTY_USER]
# Values another client may have written: empty, a tab, a formula, a leading quote.
ODD_NAMES = [None, "", "Desk", "A\tB", "=1+2", "'q", "-x", "+1 2"]
start_phones = st.lists(
    st.tuples(
        st.sampled_from([ME_ID, SECOND_USER_ID]),
        st.sampled_from(TYPES),
        st.sampled_from(ODD_NAMES),
        st.sampled_from([None, "organization", "everyone"]),
    ),
    max_size=4,
)
bad_rows = st.lists(
    st.tuples(
        st.sampled_from(USERS),
        st.sampled_from(["", "s0", "s1", "s2"]),  # the id of a start phone, maybe another's
        st.sampled_from(TYPES),
        st.sampled_from(["+1", "+2", "+3"]),
        st.sampled_from(["", "A", "=B"]),
        st.sampled_from(["", "everyone"]),
    ),
    min_size=1,
    max_size=6,
)


def exported(phonectl: Run) -> list[str]:
    """The three users' export (CSV) with the id column set aside, in a stable order."""
    done = phonectl("export", *(a for user in USERS for a in ("--user", user)))
    assert done.exit_code == 0, done.stderr
    return sorted(
        ",".join(cells[:1] + cells[2:])
        for cells in (line.split(",") for line in done.stdout.splitlines()[1:])
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    start=start_phones, rows=bad_rows, prune=st.booleans(), fmt=st.sampled_from(["csv", "jsonl"])
)
def test_apply_with_backup_then_the_backup_with_prune_restores_the_export(
    graph: GraphEmulator,
    phonectl: Run,
    tmp_path: Path,
    start: list[tuple[str, str, str | None, str | None]],
    rows: list[tuple[str, str, str, str, str, str]],
    prune: bool,
    fmt: str,
) -> None:
    graph.state.reset()
    if graph.state.find_user(EMPTY_USER) is None:
        graph.state.add_user("0e6a1e7f-0000-4000-8000-0000000000bb", EMPTY_USER, "No Phones")
    template = {"source": {"type": ["User"]}}
    for n, (user, phone_type, name, audience) in enumerate(start):
        graph.state.add_phone(
            user,
            {
                **template,
                "id": f"s{n}",
                "type": phone_type,
                "number": f"+9 {n}",
                "displayName": name,
                "allowedAudiences": audience,
            },
        )
    # A phone of a type Graph refuses in a write, with a tab in its name: no row names it,
    # and --prune must keep it (its backup row could not add it back).
    graph.state.add_phone(
        SECOND_USER_ID,
        {
            **template,
            "id": "odd",
            "type": "unknownFutureValue",
            "number": "+0",
            "displayName": "x\ty",
        },
    )
    before = exported(phonectl)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "user,id,type,number,displayName,allowedAudiences\n"
        + "".join(f"{u},{i},{t},{n},{d},{a}\n" for u, i, t, n, d, a in rows)
    )
    backup = tmp_path / f"backup.{fmt}"
    backup.unlink(missing_ok=True)
    args = ["apply", str(bad), "--backup", str(backup), "--max-deletes", "100"]
    assert phonectl(*args, *(["--prune"] if prune else [])).exit_code in (0, 1)
    if backup.exists():
        undo = phonectl("apply", str(backup), "--prune", "--max-deletes", "100")
        assert undo.exit_code == 0, undo.stderr
        # Applied again, the restore has nothing left to do.
        graph.requests.clear()
        again = phonectl("apply", str(backup), "--prune", "--max-deletes", "100")
        assert again.exit_code == 0, again.stderr
        assert written_items(graph) == []
    assert exported(phonectl) == before


def test_export_of_a_users_file_names_each_user_once(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    users = tmp_path / "users.txt"
    users.write_text(f"adelev@contoso.com\n\n{SECOND_USER_ID}\nADELEV@contoso.com\n{ME_ID}\n")
    result = phonectl("export", "--users-file", str(users), "--format", "jsonl")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    # Her principal name (in two cases) and her id are one user, exported once, under the
    # file's first spelling.
    assert [r["user"] for r in rows] == ["adelev@contoso.com"] + [ME_ID] * 2
    assert len({r["id"] for r in rows}) == len(rows) == 3
    missing = tmp_path / "missing.txt"
    missing.write_text("nobody@contoso.com\n")
    failed = phonectl("export", "--users-file", str(missing))
    assert failed.exit_code == 5  # every read failed as not found, and nothing was read
    assert "warning: nobody@contoso.com: 404" in failed.stderr
