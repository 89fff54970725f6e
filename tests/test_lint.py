"""`phonectl lint`: every number that does not parse, is not valid, is not in the chosen
format or is held by more than one user, read through $batch as export reads, or from an
apply file; `--fixes` writes an apply file that, applied, leaves nothing fixable."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest
from support import (
    EXAMPLE_PHONE_ID,
    Run,
    add_users,
    change_phone,
    graph_calls,
    phones_of,
    run_on_terminal,
)

from phonectl.sandbox.server import GraphEmulator

SEED_NUMBERS = {"+7 499 342 22 13", "+7 495 123 45 67", "+1 425 555 0109"}


def findings(result_stdout: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = json.loads(result_stdout)
    return found


def test_lint_lists_numbers_not_in_e164_with_the_suggested_number(
    graph: GraphEmulator, phonectl: Run
) -> None:
    result = phonectl("lint", "--all-users", "-o", "json")
    assert result.exit_code == 1, result.stderr
    found = findings(result.stdout)
    assert {(f["number"], f["suggested"], f["problem"]) for f in found} == {
        ("+7 499 342 22 13", "+74993422213", "format"),
        ("+7 495 123 45 67", "+74951234567", "format"),
        ("+1 425 555 0109", "+14255550109", "format"),
    }
    example = next(f for f in found if f["id"] == EXAMPLE_PHONE_ID)
    assert example["user"] == "innocenty.popov@contoso.com"
    assert "3 findings, 3 fixable" in result.stderr


def test_lint_is_clean_when_every_number_is_in_the_chosen_format(
    graph: GraphEmulator, phonectl: Run
) -> None:
    result = phonectl("lint", "--all-users", "--normalize", "international")
    # "+7 499 342 22 13" is international in spirit, but libphonenumber writes "342-22-13".
    assert result.exit_code == 1
    change_phone(graph, EXAMPLE_PHONE_ID, number="+7 499 342-22-13")
    change_phone(graph, "5f3b2a17-8c4e-4d7a-9b1c-2e6f0a9d8c31", number="+7 495 123-45-67")
    change_phone(
        graph,
        "b2c4e6a8-1d3f-4b5c-8e7a-9f0d1c2b3a4e",
        "adelev@contoso.com",
        number="+1 425-555-0109",
    )
    clean = phonectl("lint", "--all-users", "--normalize", "international")
    assert clean.exit_code == 0, clean.stdout + clean.stderr
    assert clean.stdout == ""
    assert ": 0 findings, 0 fixable" in clean.stderr


def test_lint_finds_each_kind_of_problem(graph: GraphEmulator, phonectl: Run) -> None:
    add_users(graph, 4)
    numbers = {
        "u0-p0": "call me maybe",  # does not parse
        "u1-p0": "+1 555 0100",  # not possible: a local number
        "u2-p0": "+1 025 555 0100",  # possible, but no area code starts with 0
        "u3-p0": "+1 (425) 555-0109",  # adelev's mobile, spelled another way
    }
    for n, (phone_id, number) in enumerate(numbers.items()):
        change_phone(graph, phone_id, f"user{n}@contoso.com", number=number)
    result = phonectl("lint", "--user", "user0@contoso.com", "--user", "user1@contoso.com",
                      "--user", "user2@contoso.com", "--user", "user3@contoso.com",
                      "--user", "adelev@contoso.com", "-o", "json")  # fmt: skip
    assert result.exit_code == 1
    by_id: dict[object, list[tuple[object, ...]]] = {}
    for f in findings(result.stdout):
        by_id.setdefault(f["id"], []).append((f["problem"], f["suggested"], f["fixable"]))
    assert by_id["u0-p0"] == [("unparseable", None, False)]
    assert by_id["u1-p0"] == [("unparseable", None, False)]
    assert by_id["u2-p0"] == [("invalid", "+10255550100", False)]
    assert by_id["u3-p0"] == [("format", "+14255550109", True), ("shared", None, False)]
    assert by_id["b2c4e6a8-1d3f-4b5c-8e7a-9f0d1c2b3a4e"] == [
        ("format", "+14255550109", True),
        ("shared", None, False),
    ]
    shared = [f for f in findings(result.stdout) if f["problem"] == "shared"]
    assert {f["message"] for f in shared} == {
        "also held by adelev@contoso.com",
        "also held by user3@contoso.com",
    }


def test_an_invalid_number_is_a_finding_but_not_a_fix(graph: GraphEmulator, phonectl: Run) -> None:
    # +1 025...: a North American number cannot have an area code starting with 0.
    change_phone(graph, EXAMPLE_PHONE_ID, number="+1 025 555 0100")
    result = phonectl("lint", "-o", "json")
    assert result.exit_code == 1
    mine = next(f for f in findings(result.stdout) if f["id"] == EXAMPLE_PHONE_ID)
    assert (mine["problem"], mine["suggested"], mine["fixable"]) == (
        "invalid",
        "+10255550100",
        False,
    )


def test_one_user_holding_a_number_twice_is_not_shared(graph: GraphEmulator, phonectl: Run) -> None:
    for phone in phones_of(graph, "innocenty.popov@contoso.com"):
        change_phone(graph, phone["id"], number="+74993422213")
    result = phonectl("lint", "-o", "json")
    assert result.exit_code == 0, result.stdout
    assert findings(result.stdout) == []


def test_lint_reads_through_batch_as_export_does(graph: GraphEmulator, phonectl: Run) -> None:
    add_users(graph, 45, phones_each=2)
    graph.requests.clear()
    result = phonectl("lint", "--all-users", "-o", "json")
    assert result.exit_code == 1
    assert len(findings(result.stdout)) == 45 * 2 + 3
    paths = [call.decoded_path for call in graph_calls(graph)]
    assert all(p in ("/beta/$batch", "/beta/users") for p in paths), paths
    # 47 users: 3 batches of reads, and the pages of GET /users.
    assert paths.count("/beta/$batch") == 3


def test_users_file_and_signed_in_default(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    users = tmp_path / "users.txt"
    users.write_text("adelev@contoso.com\n")
    from_file = phonectl("lint", "--users-file", str(users), "-o", "json")
    assert {f["user"] for f in findings(from_file.stdout)} == {"adelev@contoso.com"}
    me = phonectl("lint", "-o", "json")
    assert {f["number"] for f in findings(me.stdout)} == {"+7 499 342 22 13", "+7 495 123 45 67"}


def test_tsv_is_user_phone_number_problem_suggested_message(
    graph: GraphEmulator, phonectl: Run
) -> None:
    result = phonectl("lint", "--user", "adelev@contoso.com", "-o", "tsv")
    assert result.stdout.splitlines() == [
        "adelev@contoso.com\tb2c4e6a8-1d3f-4b5c-8e7a-9f0d1c2b3a4e\t+1 425 555 0109\tformat"
        "\t+14255550109\tnot in e164 format"
    ]


@pytest.mark.parametrize("width", [80, 160])
def test_the_table_fits_the_terminal_and_keeps_numbers_whole(
    graph: GraphEmulator, width: int
) -> None:
    env = {"COLUMNS": str(width), "NO_COLOR": "1"}
    code, screen = run_on_terminal(["lint", "--all-users"], env)
    assert code == 1
    # The progress bar (erased by escapes) and the summary share the terminal (stderr).
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode()).replace("\r", "\n")
    table = [
        line for line in shown.splitlines() if line and not line.startswith(("reading", "lint:"))
    ]
    assert all(len(line) <= width for line in table), table
    assert table[0].split()[:2] in (["User", "Number"], ["User", "Phone"]), table
    seed = [
        ("innocenty.popov@contoso.com", EXAMPLE_PHONE_ID, "+7 499 342 22 13", "+74993422213"),
        ("adelev@contoso.com", "b2c4e6a8-1d3f-4b5c-8e7a-9f0d1c2b3a4e", "+1 425 555 0109", ""),
    ]
    for user, phone_id, number, suggested in seed:
        line = next(line for line in table if number in line)
        assert user in line and suggested in line
        assert (phone_id in line) is (width >= 160)


# -- --fixes ---------------------------------------------------------------------------------


def test_fixes_apply_back_and_leave_lint_clean(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    add_users(graph, 3, number="0049 30 1234{n}{p}")
    change_phone(graph, "u2-p0", "user2@contoso.com", number="not a number")
    fixes = tmp_path / "fixes.csv"
    linted = phonectl("lint", "--all-users", "--fixes", str(fixes))
    assert linted.exit_code == 1
    assert stat.S_IMODE(os.stat(fixes).st_mode) == 0o600
    lines = fixes.read_text().splitlines()
    assert lines[0] == "user,id,type,number,displayName,allowedAudiences"
    assert len(lines) == 1 + 3 + 2  # the seed's three and user0's and user1's; not "not a number"
    assert "user0@contoso.com,u0-p0,other,+4930123400,Car Phone,organization" in lines
    applied = phonectl("apply", str(fixes), "-o", "json")
    assert applied.exit_code == 0, applied.stderr
    assert {r["changed"] == ["number"] for r in json.loads(applied.stdout)} == {True}
    after = phonectl("lint", "--all-users", "-o", "json")
    assert [(f["id"], f["problem"]) for f in findings(after.stdout)] == [("u2-p0", "unparseable")]
    change_phone(graph, "u2-p0", "user2@contoso.com", number="+4930123420")
    assert phonectl("lint", "--all-users").exit_code == 0
    again = phonectl("apply", str(fixes), "-o", "json")  # a second apply writes nothing
    assert {r["result"] for r in json.loads(again.stdout)} == {"unchanged"}


def test_fixes_never_overwrite_a_file_and_nothing_is_read_then(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    fixes = tmp_path / "fixes.csv"
    fixes.write_text("mine\n")
    result = phonectl("lint", "--all-users", "--fixes", str(fixes))
    assert result.exit_code == 2
    assert "never overwritten" in result.stderr
    assert fixes.read_text() == "mine\n"
    assert graph_calls(graph) == []
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "elsewhere.csv")
    assert phonectl("lint", "--fixes", str(link)).exit_code == 2
    assert not (tmp_path / "elsewhere.csv").exists()


def test_fixes_as_json_lines_apply_back(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    fixes = tmp_path / "fixes.jsonl"
    assert phonectl("lint", "--all-users", "--fixes", str(fixes)).exit_code == 1
    rows = [json.loads(line) for line in fixes.read_text().splitlines()]
    assert {r["number"] for r in rows} == {"+74993422213", "+74951234567", "+14255550109"}
    assert phonectl("apply", str(fixes)).exit_code == 0
    assert phonectl("lint", "--all-users").exit_code == 0
    assert phones_of(graph, "adelev@contoso.com")[0]["displayName"] == "Mobile"  # kept


# -- an apply file --------------------------------------------------------------------------


def test_lint_of_an_apply_file_names_lines(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    rows = tmp_path / "hr.csv"
    rows.write_text(
        "user,type,number\n"
        "adelev@contoso.com,mobile,+14255550109\n"
        "adelev@contoso.com,home,030 1234567\n"
        "user9@contoso.com,home,+49 30 1234567\n"
    )
    result = phonectl("lint", str(rows), "--region", "DE", "-o", "json")
    assert result.exit_code == 1
    assert [(f["line"], f["problem"], f["suggested"]) for f in findings(result.stdout)] == [
        (3, "format", "+49301234567"),
        (3, "shared", None),
        (4, "format", "+49301234567"),
        (4, "shared", None),
    ]
    assert graph_calls(graph) == []  # a file is linted without Graph
    fixes = tmp_path / "fixes.csv"
    assert phonectl("lint", str(rows), "--region", "DE", "--fixes", str(fixes)).exit_code == 1
    assert fixes.read_text().splitlines()[1:] == [
        "adelev@contoso.com,,home,+49301234567,,",
        "user9@contoso.com,,home,+49301234567,,",
    ]


def test_lint_of_a_file_with_users_or_json_lines_fixes_is_refused(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    rows = tmp_path / "hr.csv"
    rows.write_text("user,type,number\nadelev@contoso.com,mobile,+1 425 555 0109\n")
    assert phonectl("lint", str(rows), "--user", "adelev@contoso.com").exit_code == 2
    result = phonectl("lint", str(rows), "--fixes", str(tmp_path / "f.jsonl"))
    assert result.exit_code == 2
    assert not (tmp_path / "f.jsonl").exists()
    assert graph_calls(graph) == []


@pytest.mark.parametrize("fmt", ["e164", "international", "rfc3966"])
def test_every_format_lints_clean_after_its_own_fixes(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path, fmt: str
) -> None:
    fixes = tmp_path / "fixes.csv"
    assert phonectl("lint", "--all-users", "--normalize", fmt, "--fixes", str(fixes)).exit_code == 1
    assert phonectl("apply", str(fixes)).exit_code == 0
    assert phonectl("lint", "--all-users", "--normalize", fmt).exit_code == 0
    assert SEED_NUMBERS.isdisjoint(
        p["number"] for u in ("innocenty.popov@contoso.com", "adelev@contoso.com")
        for p in phones_of(graph, u)
    )  # fmt: skip


# -- help and completion ----------------------------------------------------------------------


def test_tab_completes_lint_and_its_flags_and_the_formats() -> None:
    from test_completion_and_start import complete

    assert sorted(complete("phonectl li")) == ["lint", "list"]
    flags = complete("phonectl lint --")
    for flag in ("--user", "--users-file", "--all-users", "--normalize", "--region", "--fixes"):
        assert flag in flags
    assert complete("phonectl update x --normalize ") == [
        "e164",
        "international",
        "national",
        "rfc3966",
    ]
    assert "--normalize" in complete("phonectl apply f.csv --no")


def test_lint_help_names_every_value(phonectl: Run) -> None:
    result = phonectl("lint", "--help")
    assert result.exit_code == 0
    assert "--fixes FILE" in result.stdout and "--region CC" in result.stdout
    assert "e164|international|national|rfc3966" in result.stdout
    for typer_default in ("<str>", "<path>"):
        assert typer_default not in result.stdout


def test_lint_reads_the_region_from_the_environment(
    graph: GraphEmulator, phonectl: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rows = tmp_path / "hr.csv"
    rows.write_text("user,type,number\nadelev@contoso.com,home,030 1234567\n")
    monkeypatch.setenv("PHONECTL_REGION", "DE")
    found = findings(phonectl("lint", str(rows), "-o", "json").stdout)
    assert [(f["problem"], f["suggested"]) for f in found] == [("format", "+49301234567")]
    monkeypatch.delenv("PHONECTL_REGION")
    found = findings(phonectl("lint", str(rows), "-o", "json").stdout)
    assert [(f["problem"], f["suggested"]) for f in found] == [("unparseable", None)]


@pytest.mark.parametrize(
    "args", [["--region", "Narnia"], ["--normalize", "national"], ["--normalize", "e.164"]]
)
def test_bad_rules_are_refused_before_anything_is_read(
    graph: GraphEmulator, phonectl: Run, args: list[str]
) -> None:
    result = phonectl("lint", "--all-users", *args)
    assert result.exit_code == 2
    assert graph_calls(graph) == []
