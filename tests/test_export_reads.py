"""export and lint as scripts see them: a refused read keeps its own exit code (sign-in 3,
permission 4, not found 5, try later 6) when every read failed for it, never a plain 1 that
lint would share with its findings; what export cannot honour (-o table, --query) is refused
before anything is read; a users file may carry a header and comments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import graph_calls, run_phonectl

from phonectl.sandbox.server import Fault, GraphEmulator

ADELE = "adelev@contoso.com"


@pytest.mark.parametrize(("status", "code"), [(401, 3), (403, 4), (404, 5), (429, 6)])
@pytest.mark.parametrize("command", ["export", "lint"])
def test_a_refused_read_keeps_its_exit_code(
    graph: GraphEmulator, monkeypatch: pytest.MonkeyPatch, status: int, code: int, command: str
) -> None:
    monkeypatch.setenv("PHONECTL_MAX_RETRIES", "0")
    graph.add_fault(Fault(status=status, count=50, per_http_request=True))
    done = run_phonectl(command, "--user", ADELE)
    assert done.returncode == code, done.stderr
    assert "every number parses" not in done.stderr  # lint claims nothing it did not read


def test_lint_with_some_reads_failing_is_1_and_says_so(graph: GraphEmulator) -> None:
    graph.add_fault(Fault(status=404, count=1, method="GET", path_contains="nobody"))
    done = run_phonectl("lint", "--user", ADELE, "--user", "nobody@contoso.com")
    assert done.returncode == 1, done.stderr
    assert "nobody@contoso.com" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("-o", "table"),
        ("--output", "table"),
        ("--query", "[].number"),
    ],
)
def test_export_refuses_what_it_cannot_honour_before_reading(
    graph: GraphEmulator, args: tuple[str, ...]
) -> None:
    done = run_phonectl("export", "--user", ADELE, *args)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert graph_calls(graph) == []
    global_form = run_phonectl(*args, "export", "--user", ADELE)
    assert global_form.returncode == 2
    assert global_form.stdout == ""
    assert graph_calls(graph) == []


def test_export_o_tsv_to_a_jsonl_file_names_the_clash(graph: GraphEmulator, tmp_path: Path) -> None:
    done = run_phonectl("export", "-o", "tsv", "--out", str(tmp_path / "e.jsonl"))
    assert done.returncode == 2
    assert "-o tsv writes tab-separated CSV, but --out" in done.stderr
    assert "would be JSON Lines by its name" in done.stderr
    assert "--format" not in done.stderr  # none was given


@pytest.mark.parametrize("out", ["e.csv", "e.jsonl", "-", "e", "e.txt"])
def test_phonectl_output_in_the_environment_yields_to_the_out_file_and_format(
    graph: GraphEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: str
) -> None:
    """A cron job's PHONECTL_OUTPUT=json (for its apply logs) does not make export refuse
    a .csv: the file's name (or --format) says what to write; to stdout it still chooses."""
    monkeypatch.setenv("PHONECTL_OUTPUT", "json")
    target = out if out == "-" else str(tmp_path / out)
    done = run_phonectl("export", "--user", ADELE, "--out", target)
    assert done.returncode == 0, done.stderr
    text = done.stdout if out == "-" else Path(target).read_text()
    first = text.splitlines()[0]
    if out == "e.csv":
        assert first.startswith("user,id,type,number")
    else:  # JSON Lines: by the name, or (stdout, a name naming no format) by the variable
        assert json.loads(first)["user"] == ADELE
    by_format = run_phonectl("export", "--user", ADELE, "--format", "csv")
    assert by_format.returncode == 0, by_format.stderr
    assert by_format.stdout.startswith("user,id,type,number")
    # On the command line, -o is still honoured or refused, never overridden; a name that
    # names no format (no extension) takes what -o writes.
    refused = run_phonectl("export", "-o", "json", "--out", str(tmp_path / "f.csv"))
    assert refused.returncode == 2
    plain = run_phonectl("export", "-o", "json", "--out", str(tmp_path / "f"))
    assert plain.returncode == 0, plain.stderr
    assert json.loads((tmp_path / "f").read_text().splitlines()[0])["user"]


def test_a_users_file_may_have_a_header_and_comments(graph: GraphEmulator, tmp_path: Path) -> None:
    users = tmp_path / "users.txt"
    users.write_text(f"userPrincipalName\n# the team\n{ADELE}\n\n")
    done = run_phonectl("export", "--users-file", str(users))
    assert done.returncode == 0, done.stderr
    assert ADELE in done.stdout
    assert "export: 1 phone of 1 user in" in done.stderr


def test_tsv_booleans_are_written_as_json_writes_them(graph: GraphEmulator) -> None:
    done = run_phonectl("--sandbox", "auth", "status", "-o", "tsv")
    assert "\ttrue\n" in done.stdout and "True" not in done.stdout


def test_sandbox_serve_on_a_port_in_use_is_one_clear_line(graph: GraphEmulator) -> None:
    port = graph.server_address[1]
    done = run_phonectl("sandbox", "serve", "--port", str(port), timeout=30)
    assert done.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr


def test_every_output_format_has_an_answer_in_export() -> None:
    """A new -o format must be given a file format or refused by export: never ignored."""
    from phonectl.choices import OutputFormat
    from phonectl.commands.apply import _EXPORT_FORMATS

    assert set(_EXPORT_FORMATS) == set(OutputFormat)
