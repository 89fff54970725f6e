"""--query (and PHONECTL_QUERY): JMESPath over the json form of every result type, printed
as json, tsv or a table; a bad expression refused before anything is sent. Each test runs
phonectl as its own process against the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import (
    EXAMPLE_PHONE_ID,
    ME_ID,
    SECOND_USER_ID,
    graph_calls,
    phones_of,
    run_on_terminal,
    run_phonectl,
)

from phonectl.sandbox.server import GraphEmulator

ADELE = "adelev@contoso.com"
ADELES_MOBILE = "+1 425 555 0109"
MOBILES = "[?type=='mobile'].number"


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    done = run_phonectl(*args, env=env)
    assert done.returncode == 0, done.stderr
    return str(done.stdout)


# -- phones list: each format, the query before and after the command ----------------------


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--user", ADELE, "--query", MOBILES, "-o", "tsv"],
        ["--query", MOBILES, "list", "--user", ADELE, "-o", "tsv"],
        ["-o", "tsv", "list", f"--query={MOBILES}", "--user", ADELE],
    ],
)
def test_the_mobile_numbers_of_a_user_one_a_line(graph: GraphEmulator, args: list[str]) -> None:
    assert ok(*args) == f"{ADELES_MOBILE}\n"


def test_the_query_from_the_environment(graph: GraphEmulator) -> None:
    out = ok("list", "--user", ADELE, "-o", "tsv", env={"PHONECTL_QUERY": MOBILES})
    assert out == f"{ADELES_MOBILE}\n"
    # The flag beats the variable.
    out = ok("list", "--query", "[].type", "-o", "tsv", env={"PHONECTL_QUERY": MOBILES})
    assert out == "other\nbusiness\n"


def test_json_is_what_the_expression_leaves(graph: GraphEmulator) -> None:
    assert json.loads(ok("list", "--query", "[].type", "-o", "json")) == ["other", "business"]
    assert json.loads(ok("list", "--query", "length(@)", "-o", "json")) == 2
    picked = json.loads(ok("list", "--query", "[0].{id: id, n: number}", "-o", "json"))
    assert picked == {"id": EXAMPLE_PHONE_ID, "n": "+7 499 342 22 13"}


def test_tsv_joins_a_list_with_tabs_and_writes_json_words(graph: GraphEmulator) -> None:
    assert ok("list", "--query", "[].[type, number]", "-o", "tsv") == (
        "other\t+7 499 342 22 13\nbusiness\t+7 495 123 45 67\n"
    )
    assert ok("list", "--query", "[0].{t: type, s: source}", "-o", "tsv") == (
        'other\t{"type":["User"]}\n'
    )
    assert ok("list", "--query", "[0].type == 'other'", "-o", "tsv") == "true\n"


def test_a_list_of_objects_is_a_table_when_not_json(graph: GraphEmulator) -> None:
    lines = ok("list", "--query", "[].{kind: type, number: number}").splitlines()
    assert lines[0].split() == ["kind", "number"]
    assert lines[1].split(None, 1) == ["other", "+7 499 342 22 13"]
    assert lines[2].split(None, 1) == ["business", "+7 495 123 45 67"]


def test_a_scalar_is_its_value_and_a_list_of_scalars_a_line_each(graph: GraphEmulator) -> None:
    assert ok("list", "--query", "[0].number") == "+7 499 342 22 13\n"
    assert ok("list", "--query", "[].type") == "other\nbusiness\n"


def test_at_a_terminal_what_remains_is_a_table(graph: GraphEmulator) -> None:
    env = {"PHONECTL_GRAPH_URL": graph.url, "PHONECTL_ACCESS_TOKEN": "t", "COLUMNS": "80"}
    code, screen = run_on_terminal(["list", "--query", "[].{kind: type, number: number}"], env)
    assert code == 0, screen
    lines = [line.strip() for line in screen.decode().replace("\x1b[1m", "").splitlines()]
    header = lines[0].replace("\x1b[0m", "")
    assert header.split() == ["kind", "number"]
    assert "business  +7 495 123 45 67" in lines


def test_nothing_left_prints_nothing_on_stdout(graph: GraphEmulator) -> None:
    for fmt in ("tsv", "table"):
        done = run_phonectl("list", "--query", "[?type=='pager']", "-o", fmt)
        assert (done.returncode, done.stdout) == (0, "")
    assert ok("list", "--query", "[?type=='pager']", "-o", "json") == "[]\n"
    assert ok("list", "--query", "nothing", "-o", "json") == ""


# -- the other result types -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("json", '"Car Phone"\n'), ("tsv", "Car Phone\n"), ("table", "Car Phone\n")],
)
def test_one_phone(graph: GraphEmulator, fmt: str, expected: str) -> None:
    assert ok("get", EXAMPLE_PHONE_ID, "--query", "displayName", "-o", fmt) == expected


def test_one_phone_as_an_object_is_a_card(graph: GraphEmulator) -> None:
    lines = ok("get", EXAMPLE_PHONE_ID, "--query", "{kind: type, number: number}").splitlines()
    assert [line.split(None, 1) for line in lines] == [
        ["kind", "other"],
        ["number", "+7 499 342 22 13"],
    ]


def test_add_and_update_return_the_queried_phone(graph: GraphEmulator) -> None:
    added = ok("add", "--type", "pager", "--number", "+1 555 0100", "--query", "id", "-o", "tsv")
    new_id = added.strip()
    assert any(p["id"] == new_id and p["type"] == "pager" for p in phones_of(graph, ME_ID))
    updated = ok(
        "update", new_id, "--number", "+1 555 0199", "--query", "[id, number]", "-o", "tsv"
    )
    assert updated == f"{new_id}\n+1 555 0199\n"  # a list of values: one a line


def test_delete(graph: GraphEmulator) -> None:
    out = ok("delete", EXAMPLE_PHONE_ID, "--yes", "--query", "deleted", "-o", "json")
    assert out == "true\n"
    assert all(p["id"] != EXAMPLE_PHONE_ID for p in phones_of(graph, ME_ID))


def test_a_dry_run_request(graph: GraphEmulator) -> None:
    out = ok(
        "update", EXAMPLE_PHONE_ID, "--type", "home", "--dry-run", "--query", "body", "-o", "json"
    )
    assert json.loads(out) == {"type": "home"}
    assert (
        ok("update", EXAMPLE_PHONE_ID, "--type", "home", "--dry-run", "--query", "method")
        == "PATCH\n"
    )


@pytest.mark.parametrize(
    ("fmt", "expected"), [("json", '"env"\n'), ("tsv", "env\n"), ("table", "env\n")]
)
def test_auth_status(graph: GraphEmulator, fmt: str, expected: str) -> None:
    out = ok("auth", "status", "--query", "tokenSource", "-o", fmt)
    assert out == expected
    scopes = ok("auth", "status", "--query", "[tokenSource, scopes]", "-o", fmt)
    assert (
        scopes
        == {
            "json": '[\n"env",\n["User.ReadWrite"]\n]\n',
            "tsv": "env\nUser.ReadWrite\n",
            "table": "env\nUser.ReadWrite\n",
        }[fmt]
    )


def test_apply_results(graph: GraphEmulator, tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text(f"user,type,number\n{ADELE},mobile,+1 425 555 0110\n")
    query = "[].{line: line, result: result, changed: changed}"
    planned = json.loads(ok("apply", str(rows), "--dry-run", "--query", query, "-o", "json"))
    assert planned == [{"line": 2, "result": "would-update", "changed": ["number"]}]
    assert ok("apply", str(rows), "--query", "[].result", "-o", "tsv") == "updated\n"
    assert [p["number"] for p in phones_of(graph, SECOND_USER_ID)] == ["+1 425 555 0110"]


def test_a_result_with_no_json_form_stays_silent(graph: GraphEmulator) -> None:
    done = run_phonectl("auth", "logout", "--query", "@", "-o", "json")
    assert (done.returncode, done.stdout) == (0, "")


def test_the_exit_code_and_messages_are_the_commands(graph: GraphEmulator) -> None:
    done = run_phonectl("get", "no-such-phone", "--query", "id")
    assert done.returncode == 5
    assert done.stdout == ""


# -- bad expressions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--query", "[?type=="], {}, "error: --query: Invalid jmespath expression"),
        (["--query", "`unclosed"], {}, "error: --query: Bad jmespath expression"),
        (["--query", "nosuch(@)"], {}, "error: --query: unknown function nosuch()"),
        ([], {"PHONECTL_QUERY": "a.["}, "error: PHONECTL_QUERY: Invalid jmespath expression"),
    ],
)
def test_a_bad_expression_is_exit_2_before_anything_is_sent(
    graph: GraphEmulator, args: list[str], env: dict[str, str], message: str
) -> None:
    for command in (["list"], ["update", EXAMPLE_PHONE_ID, "--type", "home"], ["auth", "status"]):
        done = run_phonectl(*command, *args, env=env)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(message), done.stderr
        assert done.stdout == ""
    assert graph_calls(graph) == []


def test_the_parsers_message_points_at_the_fault(graph: GraphEmulator) -> None:
    done = run_phonectl("list", "--query", "[?type==")
    assert done.stderr.splitlines()[1:] == ['  "[?type=="', "           ^"]


def test_a_function_given_the_wrong_type_fails_after_the_command_ran_exit_1(
    graph: GraphEmulator,
) -> None:
    """Found only on the result, so the command has run (exit 2 would say nothing was
    sent): exit 1, nothing on stdout, the reason named."""
    done = run_phonectl("list", "--query", "abs(@)")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith(
        "error: --query failed on the result: abs() takes number, not array; the command "
        "itself was carried out"
    )


@pytest.mark.parametrize(
    ("command", "note"),
    [
        (["add", "--number", "+1 425 555 0177", "--type", "radio"], None),
        (["set", "--type", "home", "--number", "+1 425 555 0166"], "set: added a home phone"),
        (["update", EXAMPLE_PHONE_ID, "--display-name", "X"], None),
    ],
    ids=["add", "set", "update"],
)
def test_a_query_failing_on_a_writes_result_never_hides_the_write(
    graph: GraphEmulator, command: list[str], note: str | None
) -> None:
    """A cron job reading exit 2 as "nothing was sent" would add again: a write whose
    result the query fails on is exit 1, says it was carried out, and keeps its own note."""
    done = run_phonectl(*command, "--query", "abs(number)")
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert "the command itself was carried out" in done.stderr
    if note is not None:
        assert note in done.stderr
    (call,) = [c for c in graph_calls(graph) if c.method != "GET"]
    assert call.method in {"POST", "PATCH"}


def test_set_and_its_dry_run(graph: GraphEmulator) -> None:
    args = ["set", "--user", ADELE, "--type", "mobile", "--number", "+1 425 555 0111"]
    planned = ok(*args, "--dry-run", "--query", "changes[].[field, old, new]", "-o", "tsv")
    assert planned == f"number\t{ADELES_MOBILE}\t+1 425 555 0111\n"
    assert [p["number"] for p in phones_of(graph, SECOND_USER_ID)] == [ADELES_MOBILE]
    assert ok(*args, "--query", "number", "-o", "json") == '"+1 425 555 0111"\n'


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("json", '[\n"default"\n]\n'), ("tsv", "default\n"), ("table", "default\n")],
)
def test_auth_list(fmt: str, expected: str) -> None:
    assert ok("auth", "list", "--query", "[?default].name", "-o", fmt) == expected
    lines = ok("auth", "list", "--query", "[].{name: name, cloud: cloud}").splitlines()
    assert [line.split() for line in lines] == [["name", "cloud"], ["default", "global"]]


def test_lint_findings_keep_lints_exit_code(graph: GraphEmulator) -> None:
    done = run_phonectl("lint", "--user", ADELE, "--query", "[].[number, suggested]", "-o", "tsv")
    assert (done.returncode, done.stdout) == (1, f"{ADELES_MOBILE}\t+14255550109\n")
    assert done.stderr.startswith("lint: ")  # its summary still on stderr


def test_a_query_failing_beside_the_commands_own_problem_says_both() -> None:
    """The command's problem stays the one said (and its exit code); the query's failure
    is said beside it, not lost."""
    from typing import NamedTuple

    from phonectl.errors import ExitCode, PhonectlError
    from phonectl.queried import queried

    class Refused(NamedTuple):
        notes: tuple[str, ...] = ("apply: 2 rows: 2 would-delete",)
        problem: PhonectlError | None = PhonectlError("--prune would delete 2 phones")
        exit_code: ExitCode = ExitCode.USAGE

        def json(self) -> object:
            return [{"number": "+1 425"}]

    seen = queried(Refused(), "abs([0].number)")  # type: ignore[arg-type]
    assert seen.problem is not None and seen.problem.message == "--prune would delete 2 phones"
    assert seen.exit_code is ExitCode.USAGE
    assert seen.notes[0] == "apply: 2 rows: 2 would-delete"
    assert seen.notes[1].startswith("--query failed on the result: abs() takes number")
    alone = queried(Refused(problem=None, exit_code=ExitCode.OK), "abs([0].number)")  # type: ignore[arg-type]
    assert alone.exit_code is ExitCode.FAILED and alone.notes == ("apply: 2 rows: 2 would-delete",)
    assert alone.problem is not None and alone.problem.message.startswith("--query failed")
