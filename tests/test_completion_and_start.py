"""Shell completion and start-up: checked-in scripts are current, Tab completes commands,
flags and enum values without signing in or touching the network, and the fast paths import
none of the heavy libraries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

import phonectl
from phonectl.app import app
from phonectl.sandbox.server import GraphEmulator

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "msal",
    "requests",
    "urllib3",
    "keyring",
    "rich",
    "jmespath",
    "phonectl.query",
    "phonectl.queried",
    "phonectl.sandbox",
    "phonectl.graph",
)
# Not heavy, but only a command that runs needs them: --help and Tab never build settings.
RUN_ONLY = ("phonectl.settings", "phonectl.runtime", "phonectl.auth")


def complete(words: str, env: dict[str, str] | None = None) -> list[str]:
    """What bash completion offers for the last word of `words` (Click's protocol)."""
    cwords = words.split(" ")
    done = subprocess.run(
        [sys.executable, "-m", "phonectl"],
        env={
            **os.environ,
            **(env or {}),
            "_PHONECTL_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(cwords) - 1),
        },
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.split()


def test_checked_in_completion_scripts_are_current() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "completions" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (
        "complete -o default -F _phonectl_completion phonectl"
        in (ROOT / "completions" / "phonectl.bash").read_text()
    )


def test_subcommands_complete() -> None:
    assert set(complete("phonectl ")) >= {"list", "get", "add", "update", "delete", "sandbox"}
    assert complete("phonectl up") == ["update"]
    assert complete("phonectl sandbox ") == ["serve", "reset"]


def test_flags_complete() -> None:
    flags = complete("phonectl update x --")
    for flag in (
        "--type",
        "--number",
        "--display-name",
        "--allowed-audiences",
        "--clear",
        "--user",
        "--dry-run",
        "--output",
        "--verified",
        "--not-verified",
    ):
        assert flag in flags


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("phonectl update x --type ho", ["home", "homeFax"]),
        ("phonectl add --type bus", ["business", "businessFax"]),
        ("phonectl update x --allowed-audiences f", ["family", "federatedOrganizations"]),
        ("phonectl update x --clear ", ["displayName", "allowedAudiences", "source", "inference"]),
        ("phonectl -o ", ["table", "json", "tsv"]),
        ("phonectl list --output j", ["json"]),
        ("phonectl --cloud us", ["usgov", "usgovdod"]),
        ("phonectl update x --type homef", ["homefax"]),  # any case in, as typed out
        ("phonectl update x --type BUS", ["BUSiness", "BUSinessFax"]),
        ("phonectl update x --allowed-audiences me,ORG", ["me,ORGanization"]),
        # A value already typed is not offered again.
        ("phonectl update x --allowed-audiences family,f", ["family,federatedOrganizations"]),
        ("phonectl update x --allowed-audiences me,everyone,e", []),
        # The global options after a subcommand too (they work there).
        ("phonectl list --sa", ["--sandbox"]),
        ("phonectl auth status --pro", ["--profile"]),
        ("phonectl sandbox reset --de", ["--debug"]),
    ],
)
def test_enum_values_complete(words: str, expected: list[str]) -> None:
    assert complete(words) == expected


def test_typers_instruction_spelling_works_too() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "phonectl"],
        env={
            **os.environ,
            "_PHONECTL_COMPLETE": "complete_bash",
            "COMP_WORDS": "phonectl de",
            "COMP_CWORD": "1",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["delete"]


def test_completion_never_signs_in_or_calls_graph(graph: GraphEmulator) -> None:
    env = {"PHONECTL_GRAPH_URL": graph.url, "PHONECTL_ACCESS_TOKEN": "t", "PHONECTL_SANDBOX": "1"}
    assert complete("phonectl get ", env) == []
    assert complete("phonectl update x --type m", env) == ["mobile"]
    assert graph.requests == []


PROBE = """
import json, sys
from phonectl.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
heavy = sorted({m for m in sys.modules for h in HEAVY if m == h or m.startswith(h + ".")})
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


def imported_heavy(
    args: list[str], env: dict[str, str] | None = None, watched: tuple[str, ...] = HEAVY + RUN_ONLY
) -> list[str]:
    """The modules of `watched` (and their submodules) that `phonectl ARGS` loaded."""
    done = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {watched!r}\n{PROBE}", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None), done.stderr
    return list(report["heavy"])


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["--help"],
        ["update", "--help"],
        ["list", "--help"],
        ["sandbox", "--help"],
        ["delete", "--help"],
        ["help"],
    ],
)
def test_fast_paths_import_no_heavy_library(args: list[str]) -> None:
    assert imported_heavy(args) == []


def test_completion_imports_no_heavy_library() -> None:
    env = {
        "_PHONECTL_COMPLETE": "bash_complete",
        "COMP_WORDS": "phonectl update x --type ",
        "COMP_CWORD": "4",
    }
    assert imported_heavy([], env) == []


def test_jmespath_loads_only_for_a_query(graph: GraphEmulator) -> None:
    env = {"PHONECTL_GRAPH_URL": graph.url, "PHONECTL_ACCESS_TOKEN": "t"}
    watched = ("jmespath",)
    assert imported_heavy(["list", "-o", "json"], env, watched) == []
    assert "jmespath" in imported_heavy(["list", "--query", "[].id"], env, watched)
    # A query on the line does not make --help or Tab pay for it.
    assert imported_heavy(["list", "--query", "[].id", "--help"], env, watched) == []
    tab = {**env, "_PHONECTL_COMPLETE": "bash_complete", "COMP_CWORD": "4"}
    tab["COMP_WORDS"] = "phonectl --query [].id update x --type "
    assert imported_heavy([], {**tab, "PHONECTL_QUERY": "[].id"}, watched) == []


def test_the_probe_would_see_a_heavy_import(graph: GraphEmulator) -> None:
    # The same probe on a command that really calls Graph does see requests.
    env = {"PHONECTL_GRAPH_URL": graph.url, "PHONECTL_ACCESS_TOKEN": "t"}
    heavy = imported_heavy(["get", "0fb4c1e3-c1e3-0fb4-e3c1-b40fe3c1b40f"], env)
    assert {"requests", "phonectl.settings"} <= set(heavy)


# What only bulk work, sign-in, the token cache or the emulator needs: a one-phone command
# run with a token from the environment pays for none of them.
NOT_FOR_ONE_PHONE = (
    "phonectl.apply",
    "phonectl.sandbox",
    "sqlite3",
    "rich",
    "msal",
    "keyring",
    "jmespath",
)


@pytest.mark.parametrize(
    "args",
    [
        ["update", "0fb4c1e3-c1e3-0fb4-e3c1-b40fe3c1b40f", "--type", "mobile"],
        ["get", "0fb4c1e3-c1e3-0fb4-e3c1-b40fe3c1b40f", "-o", "json"],
        ["list"],
    ],
)
def test_one_phone_commands_load_nothing_bulk_work_needs(
    graph: GraphEmulator, args: list[str], tmp_path: Path
) -> None:
    env = {"PHONECTL_GRAPH_URL": graph.url, "PHONECTL_ACCESS_TOKEN": "t"}
    assert imported_heavy(args, env, NOT_FOR_ONE_PHONE) == []
    # The same probe on apply sees the bulk modules it loads.
    rows = tmp_path / "rows.csv"
    rows.write_text("user,type,number\n,mobile,+1 555 0100\n")
    loaded = imported_heavy(["apply", str(rows), "--dry-run"], env, NOT_FOR_ONE_PHONE)
    assert {"phonectl.apply.plan", "phonectl.apply.rows"} <= set(loaded)


@pytest.mark.parametrize(
    "command",
    [
        "list",
        "get",
        "add",
        "update",
        "delete",
        "apply",
        "auth login",
        "auth status",
        "sandbox serve",
    ],
)
def test_every_option_value_has_a_name_in_help(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    typer.main.get_command(app).main([*command.split(), "--help"], standalone_mode=False)
    help_text = capsys.readouterr().out
    assert "Options:" in help_text
    for typer_default in ("<str>", "<float>", "<int", "<path>"):
        assert typer_default not in help_text


@pytest.mark.parametrize("args", [["--help"], ["--sandbox", "list", "-o", "tsv"], ["get"]])
def test_the_program_exits_without_a_last_collection_of_start_up_objects(
    args: list[str],
) -> None:
    # What atexit sees is what Python's final collection would otherwise scan.
    probe = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count(), file=sys.stderr))\n"
        "from phonectl.cli import run\n"
        "run()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, check=False
    )
    frozen = int(done.stderr.rsplit("frozen ", 1)[1])
    assert frozen > 10_000  # Typer alone builds some 20,000 objects
    assert done.returncode == (2 if args == ["get"] else 0), done.stderr


def test_version_answers_before_typer_or_any_library_it_names_loads() -> None:
    probe = (
        "import sys\n"
        "from phonectl.cli import main\n"
        "main(['--version'])\n"
        "print(sorted({'typer', 'msal', 'requests', 'phonectl.render'} & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    first, libraries, imported = done.stdout.splitlines()
    assert first == f"phonectl {phonectl.__version__}"
    assert imported == "[]"
    from importlib.metadata import version

    python = ".".join(map(str, sys.version_info[:3]))
    assert libraries == (
        f"Python {python}, msal {version('msal')}, requests {version('requests')}, "
        f"typer {version('typer')}"
    )


def _shell_env() -> dict[str, str]:
    import os

    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}


def test_the_zsh_script_registers_with_compinit() -> None:
    import shutil

    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed")
    completions = Path(__file__).resolve().parent.parent / "completions"
    assert not (completions / "_phonectl").read_text().startswith("\n")
    script = (
        f"fpath=({completions} $fpath); autoload -U compinit; compinit -u -D; "
        "print -r -- ${_comps[phonectl]}"
    )
    done = subprocess.run(
        ["zsh", "-f", "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.stdout.strip() == "_phonectl", done.stderr


def test_the_fish_script_completes_values_case_insensitively() -> None:
    import shutil

    if shutil.which("fish") is None:
        pytest.skip("fish is not installed")
    if not (Path(sys.executable).parent / "phonectl").exists():
        pytest.skip("phonectl is not installed beside this Python")
    script = Path(__file__).resolve().parent.parent / "completions" / "phonectl.fish"
    done = subprocess.run(
        [
            "fish",
            "--no-config",
            "-c",
            f"source {script}; complete -C'phonectl update x --type homef'",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=_shell_env(),
    )
    assert done.stdout.split() == ["homefax"], done.stderr


@pytest.mark.parametrize("args", [[], ["auth"], ["sandbox"]])
def test_a_group_alone_prints_its_help_as_a_usage_error(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from phonectl.cli import main

    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("Usage: phonectl") and "Commands:" in err


def test_zsh_descriptions_keep_their_apostrophes(tmp_path: Path) -> None:
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed")
    script = tmp_path / "probe.zsh"
    script.write_text(
        "compdef() { : }\n"
        f"source {ROOT / 'completions' / '_phonectl'}\n"
        '_arguments() { print -rl -- "$@" }\n'
        "words=(phonectl set --); CURRENT=3\n"
        "_phonectl_completion\n"
    )
    bin_dir = str(Path(sys.executable).parent)
    done = subprocess.run(
        ["zsh", "-f", str(script)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]},
    )
    assert "e.g. 'Car Phone'." in done.stdout, done.stdout + done.stderr
