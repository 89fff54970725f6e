"""Output formats: table, json, tsv; results on stdout only; no ANSI escapes when piped."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from typing import Any

import pytest
from support import EXAMPLE_PHONE_ID, Run, change_phone, phone_in_state, run_on_terminal

from phonectl.render import tsv_escape
from phonectl.sandbox.server import GraphEmulator


def test_json_is_graphs_object_exactly(graph: GraphEmulator, phonectl: Run) -> None:
    result = phonectl("get", EXAMPLE_PHONE_ID, "-o", "json")
    assert result.exit_code == 0
    printed = result.json()
    # Graph's object exactly as returned: its @odata.context included.
    assert printed.pop("@odata.context").endswith("/profile/phones/$entity")
    assert printed == phone_in_state(graph, EXAMPLE_PHONE_ID)
    assert result.stderr == ""


def test_tsv_is_one_line_id_type_number_display_name_audience(
    graph: GraphEmulator, phonectl: Run
) -> None:
    result = phonectl("get", EXAMPLE_PHONE_ID, "-o", "tsv")
    assert result.stdout == (
        f"{EXAMPLE_PHONE_ID}\tother\t+7 499 342 22 13\tCar Phone\torganization\n"
    )


def test_tsv_escapes_tabs_and_newlines_inside_values(graph: GraphEmulator, phonectl: Run) -> None:
    change_phone(graph, EXAMPLE_PHONE_ID, displayName="a\tb\nc\\d")
    result = phonectl("get", EXAMPLE_PHONE_ID, "-o", "tsv")
    fields = result.stdout.rstrip("\n").split("\t")
    assert len(fields) == 5
    assert fields[3] == "a\\tb\\nc\\\\d"
    assert tsv_escape(None) == ""


def test_output_format_from_environment(
    graph: GraphEmulator, phonectl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHONECTL_OUTPUT", "tsv")
    assert phonectl("get", EXAMPLE_PHONE_ID).stdout.startswith(EXAMPLE_PHONE_ID + "\t")
    # The flag beats the environment.
    assert phonectl("get", EXAMPLE_PHONE_ID, "-o", "json").json()["id"] == EXAMPLE_PHONE_ID


def test_table_shows_the_phone_without_ansi_when_piped(graph: GraphEmulator, phonectl: Run) -> None:
    result = phonectl("get", EXAMPLE_PHONE_ID)
    assert result.exit_code == 0
    assert "\x1b[" not in result.stdout
    for text in (
        EXAMPLE_PHONE_ID,
        "other",
        "+7 499 342 22 13",
        "Car Phone",
        "organization",
        "User",
        "Innocenty Popov, 2020-07-06 06:34 UTC",
    ):
        assert text in result.stdout
    assert result.stderr == ""


def test_table_cells_are_data_not_rich_markup(graph: GraphEmulator, phonectl: Run) -> None:
    change_phone(graph, EXAMPLE_PHONE_ID, displayName="[bold]x[/bold] :phone:")
    assert "[bold]x[/bold] :phone:" in phonectl("get", EXAMPLE_PHONE_ID).stdout


def test_no_color_is_honoured_on_a_terminal(graph: GraphEmulator) -> None:
    env = {
        "PHONECTL_GRAPH_URL": graph.url,
        "PHONECTL_ACCESS_TOKEN": "t",
        "TERM": "xterm",
        "COLUMNS": "200",
    }
    _, colored = run_on_terminal(["get", EXAMPLE_PHONE_ID], {**env, "FORCE_COLOR": "1"})
    _, plain = run_on_terminal(["get", EXAMPLE_PHONE_ID], {**env, "NO_COLOR": "1"})
    assert b"\x1b[" in colored  # a terminal gets styling...
    assert b"\x1b[" not in plain  # ...unless NO_COLOR says not to
    assert b"Car Phone" in plain


def test_messages_go_to_stderr_and_results_to_stdout(graph: GraphEmulator) -> None:
    env = {**os.environ, "PHONECTL_GRAPH_URL": graph.url, "PHONECTL_ACCESS_TOKEN": "t"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "phonectl",
            "update",
            EXAMPLE_PHONE_ID,
            "--type",
            "home",
            "--dry-run",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("{")
    assert done.stderr == "dry run: nothing was sent\n"


@pytest.mark.parametrize(
    ("source", "audiences", "shown"),
    [
        ({"type": ["AAD", "MsGraph"]}, "organization,federatedOrganizations", "AAD, MsGraph"),
        ({"type": "User"}, ["me", "family"], "User"),  # lenient with older shapes
        ({"type": []}, None, ""),
        (None, "everyone", ""),
    ],
)
def test_lists_and_flags_are_shown_as_values_not_python_reprs(
    graph: GraphEmulator, phonectl: Run, source: Any, audiences: Any, shown: str
) -> None:
    change_phone(graph, EXAMPLE_PHONE_ID, source=source, allowedAudiences=audiences)
    table = phonectl("get", EXAMPLE_PHONE_ID)
    assert table.exit_code == 0, table.stderr
    assert "[" not in table.stdout and "'" not in table.stdout
    assert shown in table.stdout
    tsv = phonectl("get", EXAMPLE_PHONE_ID, "-o", "tsv").stdout.rstrip("\n").split("\t")
    expected = audiences if isinstance(audiences, str) else ",".join(audiences or [])
    assert tsv[4] == expected


@pytest.mark.parametrize("width", [60, 80, 120, 200])
def test_tables_fit_the_terminal_and_never_cut_ids_or_numbers(
    graph: GraphEmulator, width: int
) -> None:
    change_phone(graph, EXAMPLE_PHONE_ID, displayName="A rather long display name " * 3)
    env = {"PHONECTL_GRAPH_URL": graph.url, "PHONECTL_ACCESS_TOKEN": "t", "COLUMNS": str(width)}
    code, screen = run_on_terminal(["list", "-o", "table"], {**env, "NO_COLOR": "1"})
    assert code == 0
    lines = screen.decode().replace("\r", "").splitlines()
    assert all(len(line) <= width for line in lines), lines
    phones = graph.state.snapshot()["users"][0]["phones"]
    for phone in phones:  # each id and number whole, on the phone's own line
        assert any(phone["id"] in line and phone["number"] in line for line in lines), lines
    header = lines[0]
    assert header.startswith("ID") and "Number" in header
    assert ("Last modified" in header) is (width >= 200)
    if width >= 80:
        assert "Type" in header and "Display name" in header


@pytest.mark.parametrize("width", [60, 80])
def test_one_phone_is_a_card_that_wraps_long_values_at_the_terminal(
    graph: GraphEmulator, width: int
) -> None:
    change_phone(graph, EXAMPLE_PHONE_ID, displayName="word " * 30)
    env = {"PHONECTL_GRAPH_URL": graph.url, "PHONECTL_ACCESS_TOKEN": "t", "COLUMNS": str(width)}
    code, screen = run_on_terminal(["get", EXAMPLE_PHONE_ID], {**env, "NO_COLOR": "1"})
    assert code == 0
    lines = screen.decode().replace("\r", "").splitlines()
    assert all(len(line) <= width for line in lines), lines
    assert lines[0].split() == ["ID", EXAMPLE_PHONE_ID]
    assert lines[2].split(maxsplit=1) == ["Number", "+7 499 342 22 13"]
    assert sum(line.count("word") for line in lines) == 30  # wrapped, nothing lost


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--sandbox", "-o", "tsv"],
        ["list", "-o", "tsv", "--sandbox"],
        ["--sandbox", "list", "--output=tsv"],
        ["get", EXAMPLE_PHONE_ID, "--sandbox", "-o", "tsv", "--debug"],
        ["auth", "status", "--sandbox", "-o", "json"],
    ],
)
def test_global_options_work_after_the_subcommand(phonectl: Run, args: list[str]) -> None:
    result = phonectl(*args)
    assert result.exit_code == 0, result.stderr
    if "json" in args:  # auth status, in json, from the sandbox
        assert result.json()["tokenSource"] == "sandbox"
    else:  # a phone of the sandbox's, as tsv: the id first, then a tab
        assert f"{EXAMPLE_PHONE_ID}\t" in result.stdout
    assert ("debug: GET " in result.stderr) == ("--debug" in args)


def test_a_subcommands_own_option_of_that_name_stays_its_own(
    graph: GraphEmulator, phonectl: Run
) -> None:
    # --cloud after `auth login` is login's own option; a value that looks like a global
    # option is an option's value, not a global option.
    result = phonectl("update", EXAMPLE_PHONE_ID, "--display-name", "--sandbox", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["displayName"] == "--sandbox"


@pytest.mark.parametrize(
    "command", [["list"], ["get"], ["update"], ["apply"], ["export"], ["auth", "status"]]
)
def test_every_command_help_lists_the_global_options(phonectl: Run, command: list[str]) -> None:
    text = " ".join(phonectl(*command, "--help").stdout.split())
    # One line pointing to them, not the root's options over again.
    from phonectl.global_options import GLOBAL_OPTIONS

    pointer = text.split("Global options (", 1)[1].split(")", 1)[0]
    assert pointer.split(", ") == list(GLOBAL_OPTIONS)
    assert "see 'phonectl --help'" in text
    assert "Run against the built-in Graph emulator" not in text


def test_the_sandbox_word_is_no_secret_in_a_process_that_used_it(phonectl: Run) -> None:
    # The sandbox's token is the word "sandbox": were it redacted, every later output of
    # the process would lose the word (it did, once Secrets registered themselves).
    assert phonectl("--sandbox", "list", "-o", "tsv").exit_code == 0
    status = phonectl("--sandbox", "auth", "status", "-o", "json")
    assert status.json()["tokenSource"] == "sandbox"
    assert "--sandbox" in phonectl("list", "--help").stdout


def test_json_lines_written_in_chunks_are_each_item_redacted_and_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Lines are escaped, redacted and written a hundred at a time: across the chunks'
    edges every item is still one line, one JSON value, its secret redacted and its bidi
    character escaped."""
    import json
    import secrets

    from phonectl import render
    from phonectl.safe_output import add_secret

    secret = secrets.token_urlsafe(32)
    add_secret(secret)
    names = [f"{secret}\u202e{n}" if n % 999 == 0 else f"x{n}" for n in range(2501)]
    items = [{"n": n, "name": name} for n, name in enumerate(names)]
    assert render._write_json_items(items[:1], False)
    assert render._write_json_items(iter(items[1:]), True)
    out = capsys.readouterr().out
    assert secret not in out
    assert "\u202e" not in out and "\\u202e" in out
    lines = out.split("\n")
    assert lines[0] == "[" and len(lines) == 1 + len(items)
    expected = [
        {"n": n, "name": name.replace(secret, "[redacted]")} for n, name in enumerate(names)
    ]
    assert json.loads(out + "\n]") == expected


def test_a_pipe_whose_reader_left_after_a_write_it_took_fails_at_the_next_look(
    tmp_path: Any,
) -> None:
    """A write that fits in the pipe succeeds whatever the reader does afterwards; the look
    (SafeStream.check_reader, made after every part apply streams) finds the reader gone,
    while a reader still there, and a plain file, pass it."""
    from phonectl.safe_output import OutputFailed, SafeStream

    read_end, write_end = os.pipe()
    with open(write_end, "w", encoding="utf-8") as pipe:
        stream = SafeStream(pipe, is_stdout=True)
        stream.write("[\n{}")
        stream.flush()
        stream.check_reader()  # the reader is still there
        assert os.read(read_end, 100) == b"[\n{}"
        os.close(read_end)
        with pytest.raises(OutputFailed) as gone:
            stream.check_reader()
        assert gone.value.errno == errno.EPIPE
    with open(tmp_path / "out.json", "w", encoding="utf-8") as file:
        SafeStream(file, is_stdout=True).check_reader()
