"""apply's and export's files, and whose phones they name, through real processes against
the emulator: users always explicit, Excel's and HR systems' quirks read or refused by name,
spreadsheet-safe cells, closed pipes, the --prune question, the delete limit's running total."""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from support import (
    EXAMPLE_PHONE_ID,
    ME_ID,
    SECOND_USER_ID,
    add_users,
    change_phone,
    graph_calls,
    phones_of,
    run_on_terminal,
    run_phonectl,
    wait_until,
    written_items,
)

from phonectl.sandbox.server import Fault, GraphEmulator

ME_UPN = "innocenty.popov@contoso.com"


def _file(tmp_path: Path, text: str | bytes, name: str = "rows.csv") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


# -- whose phones -------------------------------------------------------------------------


def test_a_file_mixing_empty_and_named_users_is_refused_naming_the_lines(
    graph: GraphEmulator, tmp_path: Path
) -> None:
    rows = _file(tmp_path, f"user,type,number\n{ME_UPN},pager,+1\n,mobile,+2\n,home,+3\n")
    done = run_phonectl("apply", rows)
    assert done.returncode == 2
    assert "rows.csv:3: no user" in done.stderr and "rows.csv:4: no user" in done.stderr
    assert list(graph.requests) == []
    # --user says whose the unnamed rows are.
    named = run_phonectl("apply", rows, "--user", SECOND_USER_ID, "-o", "json")
    assert named.returncode == 0, named.stderr
    assert [r["user"] for r in json.loads(named.stdout)] == [ME_UPN, SECOND_USER_ID, SECOND_USER_ID]
    assert {p["type"] for p in phones_of(graph, SECOND_USER_ID)} >= {"mobile", "home"}
    assert "mobile" not in {p["type"] for p in phones_of(graph, ME_ID)}


def test_the_output_of_list_for_another_user_needs_user_and_changes_only_theirs(
    graph: GraphEmulator, tmp_path: Path
) -> None:
    listed = run_phonectl("list", "--user", "adelev@contoso.com", "-o", "json")
    array = _file(tmp_path, listed.stdout, "adele.json")
    mine = [dict(p) for p in phones_of(graph, ME_ID)]
    refused = run_phonectl("apply", array, "--prune")
    assert refused.returncode == 2 and "--user" in refused.stderr
    assert list(p["id"] for p in phones_of(graph, ME_ID)) == [p["id"] for p in mine]
    done = run_phonectl("apply", array, "--prune", "--user", "adelev@contoso.com", "-o", "json")
    assert done.returncode == 0, done.stderr
    assert {r["result"] for r in json.loads(done.stdout)} == {"unchanged"}
    assert [dict(p) for p in phones_of(graph, ME_ID)] == mine


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_names_the_signed_in_user_explicitly(graph: GraphEmulator, fmt: str) -> None:
    done = run_phonectl("export", "--format", fmt)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()[1:] if fmt == "csv" else done.stdout.splitlines()
    users = {line.split(",")[0] if fmt == "csv" else json.loads(line)["user"] for line in lines}
    assert users == {ME_UPN}


# -- export's formats -----------------------------------------------------------------------


def test_export_honours_o_or_refuses_it(graph: GraphEmulator, tmp_path: Path) -> None:
    as_json = run_phonectl("export", "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert all(json.loads(line)["user"] == ME_UPN for line in as_json.stdout.splitlines())
    as_tsv = run_phonectl("export", "-o", "tsv")
    assert as_tsv.stdout.splitlines()[0] == "user\tid\ttype\tnumber\tdisplayName\tallowedAudiences"
    clash = run_phonectl("export", "-o", "json", "--format", "csv")
    assert clash.returncode == 2
    # What it wrote applies back writing nothing.
    tsv = _file(tmp_path, as_tsv.stdout, "phones.tsv")
    graph.requests.clear()
    again = run_phonectl("apply", tsv, "-o", "json")
    assert {r["result"] for r in json.loads(again.stdout)} == {"unchanged"}, again.stderr
    assert written_items(graph) == []


@pytest.mark.parametrize(
    ("out", "args", "said"),
    [
        ("phones.xlsx", [], ".xlsx is not a format phonectl writes"),
        ("phones.json", ["--format", "csv"], "names jsonl, but --format csv was given"),
        ("phones.csv", ["-o", "json"], "-o json writes JSON Lines, but --out"),
    ],
)
def test_an_out_file_named_for_another_format_is_refused_with_a_hint(
    graph: GraphEmulator, tmp_path: Path, out: str, args: list[str], said: str
) -> None:
    done = run_phonectl("export", "--out", str(tmp_path / out), *args)
    assert done.returncode == 2
    assert said in done.stderr
    assert not (tmp_path / out).exists()
    assert list(graph.requests) == []


def test_formula_cells_are_exported_inert_and_applied_back_unchanged(
    graph: GraphEmulator, tmp_path: Path
) -> None:
    first, second = (p["id"] for p in phones_of(graph, ME_ID))
    change_phone(graph, first, displayName='=HYPERLINK("http://evil","x")', number="+1 555 0100")
    change_phone(graph, second, displayName="-1+cmd|' /C calc'!A0", number="@SUM(A1)")
    exported = run_phonectl("export")
    cells = exported.stdout
    assert "'=HYPERLINK" in cells and "'-1+cmd|" in cells and "'@SUM(A1)" in cells
    assert ",+1 555 0100," in cells  # a phone number is no formula: left as it is
    path = _file(tmp_path, cells, "phones.csv")
    graph.requests.clear()
    again = run_phonectl("apply", path, "-o", "json")
    assert {r["result"] for r in json.loads(again.stdout)} == {"unchanged"}, again.stderr
    assert written_items(graph) == []


# -- reading real files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "args"),
    [
        (b"sep=;\nuser;type;number\nadelev@contoso.com;pager;+1 2\n", []),  # Excel's sep line
        (
            codecs.BOM_UTF16_LE
            + "user\ttype\tnumber\nadelev@contoso.com\tpager\t+1 2\n".encode("utf-16-le"),
            [],
        ),  # Excel's "Unicode text"
        (b"user\ttype\tnumber\nadelev@contoso.com\tpager\t+1 2\n", ["--delimiter", "\t"]),
    ],
)
def test_excel_and_hr_quirks_are_read(
    graph: GraphEmulator, tmp_path: Path, data: bytes, args: list[str]
) -> None:
    done = run_phonectl("apply", _file(tmp_path, data), *args, "-o", "json")
    assert done.returncode == 0, done.stderr
    assert [r["result"] for r in json.loads(done.stdout)] == ["added"]
    assert "+1 2" in {p["number"] for p in phones_of(graph, SECOND_USER_ID)}


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        ("user,type,number\nadelev@contoso.com,pager,+1 2\n", ["--encoding", "hex"], "not a text"),
        ("user,type,number\nadelev@contoso.com,pager,+1\u200f2\n", [], "rows.csv:2: number"),
        ("user,type,number\nadelev@contoso.com,pager,+1\u202e2\n", [], "invisible"),
        ("sep=;\nuser;type;number\n;pager;x\nadelev@contoso.com;pager;+1\n", [], "rows.csv:3"),
    ],
)
def test_quirks_that_cannot_be_read_safely_are_refused(
    graph: GraphEmulator, tmp_path: Path, text: str, args: list[str], message: str
) -> None:
    done = run_phonectl("apply", _file(tmp_path, text), *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert list(graph.requests) == []


def test_a_json_lines_row_with_two_keys_differing_in_case_is_refused(
    graph: GraphEmulator, tmp_path: Path
) -> None:
    text = '{"user": "adelev@contoso.com", "type": "pager", "number": "+1", "Number": "+2"}\n'
    done = run_phonectl("apply", _file(tmp_path, text, "rows.jsonl"))
    assert done.returncode == 2
    assert "rows.jsonl:1" in done.stderr and "'Number'" in done.stderr
    assert list(graph.requests) == []


# -- closed pipes ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["list", "apply"])
def test_a_closed_pipe_ends_quietly_with_141(
    graph: GraphEmulator, tmp_path: Path, command: str
) -> None:
    add_users(graph, 1, phones_each=600)  # more output than a pipe holds
    rows = _file(
        tmp_path,
        "user,id,type,number\n"
        + "".join(f"user0@contoso.com,u0-p{p},other,+9 {p}\n" for p in range(600)),
    )
    args = ["list", "--user", "user0@contoso.com"] if command == "list" else ["apply", rows]
    process = subprocess.Popen(
        [sys.executable, "-m", "phonectl", *args, "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()
    process.stdout.close()  # as `head -1` does
    err = process.stderr.read().decode()
    assert process.wait(timeout=30) == 141
    assert "Broken pipe" not in err and "Traceback" not in err and "error" not in err
    if command == "apply":  # what was written is still said
        assert "apply: 600 rows: 600 updated" in err


# -- --prune: the question, the dry run, the running total -----------------------------------


def test_prune_at_a_terminal_asks_naming_phones_and_users(
    graph: GraphEmulator, tmp_path: Path
) -> None:
    rows = _file(tmp_path, f"user,id,type\n{ME_UPN},{EXAMPLE_PHONE_ID},home\n")
    count = len(phones_of(graph, ME_ID))
    code, screen = run_on_terminal(["apply", rows, "--prune"], prompt=b"Go on?", answer=b"n\n")
    assert b"will delete 1 phone of 1 user" in screen
    assert code == 1
    assert len(phones_of(graph, ME_ID)) == count and written_items(graph) == []
    yes, _ = run_on_terminal(["apply", rows, "--prune", "--yes"])
    assert yes == 0
    assert len(phones_of(graph, ME_ID)) == count - 1


def test_dry_run_over_max_deletes_shows_the_whole_plan_and_the_refusal(
    graph: GraphEmulator, tmp_path: Path
) -> None:
    add_users(graph, 3, phones_each=3)
    rows = _file(
        tmp_path,
        "user,id,type\n" + "".join(f"user{n}@contoso.com,u{n}-p0,other\n" for n in range(3)),
    )
    done = run_phonectl("apply", rows, "--prune", "--max-deletes", "4", "--dry-run", "-o", "json")
    assert done.returncode == 2
    results = [r["result"] for r in json.loads(done.stdout)]
    assert results == ["unchanged"] * 3 + ["would-delete"] * 6
    assert "would delete 6 phones, more than --max-deletes 4" in done.stderr
    assert "a real run would refuse" in done.stderr
    assert written_items(graph) == []


def test_max_deletes_holds_over_the_running_total_when_a_counting_read_fails(
    graph: GraphEmulator, tmp_path: Path
) -> None:
    users = 1010  # two rounds
    add_users(graph, users, phones_each=2)
    rows = _file(
        tmp_path,
        "user,id,type\n" + "".join(f"user{n}@contoso.com,u{n}-p0,other\n" for n in range(users)),
    )
    # One read batch of the counting pass fails: 20 users' deletes go uncounted there.
    graph.add_fault(Fault(status=403, path_contains="$batch", after=3, count=1))
    done = run_phonectl("apply", rows, "--prune", "--max-deletes", "1005", "-o", "json")
    deleted = sum(1 for n in range(users) if len(phones_of(graph, f"user{n}@contoso.com")) == 1)
    assert deleted <= 1005
    assert done.returncode == 1  # writes went out: never 2
    assert "more than --max-deletes 1005" in done.stderr
    results = [r["result"] for r in json.loads(done.stdout)]
    assert results.count("deleted") == deleted
    assert "not-sent" in results


# -- the cell rules, for every text ----------------------------------------------------------

SPREADSHEET_FORMULA = re.compile(r"[=@]|[+-].*[^0-9 ()+\-./x#*]", re.S)


@settings(max_examples=300, deadline=None)
@given(name=st.text(st.characters(exclude_categories=["Cs"])), number=st.text(min_size=1))
def test_every_exported_cell_reads_back_as_it_was_and_none_is_a_live_formula(
    name: str, number: str
) -> None:
    from phonectl.apply.rows import phone_rows_text, read_rows
    from phonectl.choices import FileFormat
    from phonectl.phones import UserRef

    assume(name.strip() and number.strip() == number and "\r" not in number)
    assume(all(unicodedata.category(c) not in {"Cc", "Cf"} for c in number))
    phone = {"id": "p1", "type": "home", "number": number, "displayName": name}
    text = phone_rows_text([(UserRef(ME_UPN), phone)], FileFormat.csv)
    for cell in next(csv.reader(io.StringIO(text.split("\n", 1)[1]))):
        assert not SPREADSHEET_FORMULA.match(cell), cell
    (row,) = read_rows(text, FileFormat.csv, "x.csv")
    assert row.fields["displayName"] == name
    assert row.fields["number"] == number


def test_a_reader_gone_stops_apply_before_its_next_round_is_sent(
    graph: GraphEmulator, tmp_path: Path
) -> None:
    """`apply FILE -o json | head -1`: round 1's results cannot all be delivered, so no
    write of round 2 goes out (the report of it could reach no one); stderr still says
    what was written and what was not sent."""
    users = 1500  # two rounds: 1,000 users, then 500
    add_users(graph, users, number="0")
    rows = _file(
        tmp_path,
        "user,type,number\n" + "".join(f"user{n}@contoso.com,other,+3 {n}\n" for n in range(users)),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "phonectl", "apply", rows, "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()
    process.stdout.close()  # as `head -1` does: round 1's 1,000 results fill the pipe first
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141, err
    assert f"apply: {users} rows: 1000 updated, 500 not-sent" in err
    assert "Traceback" not in err and "error" not in err
    changed = {
        n for n in range(users) if phones_of(graph, f"user{n}@contoso.com")[0]["number"] != "0"
    }
    assert changed == set(range(1000))


@pytest.mark.parametrize("fmt", ["table", "json", "tsv"])
def test_a_reader_gone_before_the_first_write_means_no_write_in_any_format(
    graph: GraphEmulator, tmp_path: Path, fmt: str
) -> None:
    """`apply FILE | true`: the reader has gone before anything could be reported. A table
    is written only at the end, and a round's results only after its writes, so only the
    look before each batch can see it: no batch goes out (here 6 of them, 4 in flight)."""
    users = 120
    add_users(graph, users, number="0")
    rows = _file(
        tmp_path,
        "user,type,number\n" + "".join(f"user{n}@contoso.com,other,+3 {n}\n" for n in range(users)),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "phonectl", "apply", rows, "-o", fmt],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # as `| true` does, before phonectl has even started
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141, err
    assert f"apply: {users} rows: {users} not-sent; 0 writes" in err
    assert "Traceback" not in err and "error" not in err
    assert written_items(graph) == []


def test_a_reader_gone_mid_round_waits_for_the_batches_in_flight_and_reports_them_exactly(
    graph: GraphEmulator, tmp_path: Path
) -> None:
    """The reader leaves while writes are in flight (4 at a time, 10 write batches): no
    batch goes out after the look that saw it, and those already out are waited for, so
    the summary's 'updated' is exactly what Graph holds, with nothing left 'unknown'."""
    users = 200
    add_users(graph, users, number="0")
    rows = _file(
        tmp_path,
        "user,type,number\n" + "".join(f"user{n}@contoso.com,other,+3 {n}\n" for n in range(users)),
    )
    graph.add_fault(
        Fault(status=None, delay=0.1, path_contains="$batch", per_http_request=True, count=999)
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "phonectl", "apply", rows, "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    wait_until(lambda: len(written_items(graph)) >= 60, "three write batches arrived")
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141, err
    changed = sum(
        phones_of(graph, f"user{n}@contoso.com")[0]["number"] != "0" for n in range(users)
    )
    assert 60 <= changed < users  # it stopped part way
    assert f"apply: {users} rows: {changed} updated, {users - changed} not-sent" in err, err
    assert "unknown" not in err


def test_a_stdout_closed_from_the_start_means_no_write(
    graph: GraphEmulator, tmp_path: Path
) -> None:
    """`apply FILE >&-`: the report can never be delivered, so nothing is written; exit 1
    saying so, with the summary on stderr."""
    add_users(graph, 1, number="0")
    rows = _file(tmp_path, "user,type,number\nuser0@contoso.com,other,+3 0\n")
    done = subprocess.run(
        [sys.executable, "-m", "phonectl", "apply", rows],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: os.close(1),
        timeout=60,
        check=False,
    )
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "apply: 1 row: 1 not-sent; 0 writes" in err
    assert "error: could not write the output: standard output is closed" in err
    assert written_items(graph) == []


def test_a_batch_retried_after_a_pause_is_not_sent_once_the_reader_has_gone(
    graph: GraphEmulator, tmp_path: Path
) -> None:
    """The look at stdout's reader comes before every attempt: a write batch throttled
    (429, Retry-After 1 s) is not sent again when the reader left during the wait."""
    add_users(graph, 1, number="0")
    rows = _file(tmp_path, "user,type,number\nuser0@contoso.com,other,+3 0\n")
    graph.add_fault(
        Fault(
            status=429,
            retry_after="1",
            path_contains="$batch",
            per_http_request=True,
            after=1,  # the read goes through; the write batch is throttled
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "phonectl", "apply", rows, "--concurrency", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    wait_until(lambda: len(graph_calls(graph)) == 2, "the write batch was throttled")
    process.stdout.close()  # during the second's wait
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141, err
    assert len(graph_calls(graph)) == 2  # not sent again
    assert phones_of(graph, "user0@contoso.com")[0]["number"] == "0"
    # Its one attempt reached Graph (throttled, but phonectl cannot know that for sure).
    assert "apply: 1 row: 1 unknown" in err


@pytest.mark.parametrize("fmt", ["table", "json", "tsv"])
def test_a_run_stopped_for_another_reason_with_its_reader_gone_still_says_both(
    graph: GraphEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """No sign-in, and `| true`: the stopped run's report meets the closed pipe. It is not
    raised a second time (click would turn that into a silent exit 1): 141, the summary,
    and why the run stopped."""
    monkeypatch.delenv("PHONECTL_ACCESS_TOKEN")
    rows = _file(tmp_path, "user,type,number\nuser0@contoso.com,other,+3 0\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "phonectl", "apply", rows, "-o", fmt],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141, err
    assert "apply: 1 row: 1 not-sent; 0 writes" in err
    assert "\nerror: " in err and "Traceback" not in err and "Broken pipe" not in err
    assert list(graph.requests) == []
