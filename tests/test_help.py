"""Help that answers: the exit-codes and environment topics (from the code's tables, so
nothing can be left out), the root help naming them, whole command summaries, `ID` in usage
lines, and --version naming what phonectl runs on."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import run_phonectl

from phonectl.errors import ExitCode
from phonectl.help_topics import STANDARD_VARIABLES, WIDTH
from phonectl.settings import SETTINGS, default_in_words

PACKAGE = Path(__file__).resolve().parent.parent / "phonectl"
README = PACKAGE.parent / "README.md"


def help_of(*args: str, columns: int = 80) -> str:
    done = run_phonectl(*args, env={"COLUMNS": str(columns)})
    assert done.returncode == 0, done.stderr
    return str(done.stdout)


def variables_the_code_reads() -> set[str]:
    """Every PHONECTL_* name in the package's source (not _PHONECTL_COMPLETE, Click's)."""
    names: set[str] = set()
    for source in PACKAGE.rglob("*.py"):
        names.update(re.findall(r"(?<![A-Z_])PHONECTL_[A-Z_]*[A-Z]", source.read_text()))
    return names


def test_the_exit_codes_topic_lists_every_code_with_its_meaning() -> None:
    text = help_of("help", "exit-codes")
    flat = " ".join(text.split())
    for code in ExitCode:
        assert re.search(rf"^  {int(code)} +\S", text, re.M), code
        assert " ".join(code.meaning.split()) in flat


def test_the_environment_topic_lists_every_variable_the_code_reads() -> None:
    text = help_of("help", "environment")
    listed = set(re.findall(r"^(PHONECTL_[A-Z_]+)$", text, re.M))
    read = variables_the_code_reads()
    assert len(read) >= 14  # the scan finds them (a broken pattern would pass vacuously)
    assert read <= listed, f"not in 'phonectl help environment': {sorted(read - listed)}"
    for name, _ in STANDARD_VARIABLES:
        assert re.search(rf"^{name}$", text, re.M)


@pytest.mark.parametrize("row", [r for r in SETTINGS if r.env], ids=lambda r: str(r.env))
def test_each_variable_says_its_default_and_flag(row: object) -> None:
    from phonectl.settings import Setting

    assert isinstance(row, Setting) and row.env
    text = help_of("help", "environment")
    entry = text.split(f"\n{row.env}\n", 1)[1].split("\nPHONECTL_", 1)[0].split("\n\n")[0]
    entry = " ".join(entry.split())
    assert f"default: {default_in_words(row)}" in entry
    if row.flag:
        assert f"flag: {row.flag}" in entry


def test_each_flag_names_its_variable_in_its_help() -> None:
    # The flags' help is written beside the option; the table is the truth it must match.
    import typer

    from phonectl.app import app

    def commands(command: Any) -> Iterator[Any]:
        yield command
        for sub in getattr(command, "commands", {}).values():
            yield from commands(sub)

    helps: dict[str, list[str]] = {}
    for command in commands(typer.main.get_command(app)):
        for param in command.params:
            for opt in getattr(param, "opts", []):
                helps.setdefault(opt, []).append(str(getattr(param, "help", "") or ""))
    checked = 0
    for row in SETTINGS:
        if row.env and row.flag:
            for text in helps[row.flag.split("/")[-1]]:
                assert f"[env: {row.env}" in text, row.flag
                if "default:" in text:
                    assert f"default: {default_in_words(row)}]" in text, row.flag
                checked += 1
    assert checked >= 10


def test_topics_fit_80_columns() -> None:
    for topic in ("exit-codes", "environment"):
        assert max(len(line) for line in help_of("help", topic).splitlines()) <= WIDTH


def test_the_root_help_names_the_topics_and_keeps_summaries_whole() -> None:
    text = help_of("--help")
    assert "'phonectl help exit-codes'" in text
    assert "'phonectl help environment'" in text
    commands = text.split("Commands:", 1)[1]
    assert "..." not in commands
    assert "sends exactly the properties named on the command line" in " ".join(commands.split())
    assert max(len(line) for line in text.splitlines()) <= 80
    # The subgroups' summaries too.
    assert "..." not in help_of("auth", "--help").split("Commands:", 1)[1]


@pytest.mark.parametrize("command", ["get", "update", "delete", "apply"])
def test_usage_lines_say_the_argument_without_braces(command: str) -> None:
    usage = help_of(command, "--help").splitlines()[0]
    assert usage.startswith(f"Usage: phonectl {command} [OPTIONS] ")
    assert "{" not in usage and re.search(r" (ID|FILE)$", usage), usage


def test_help_of_a_command_is_its_help() -> None:
    assert help_of("help", "update") == help_of("update", "--help")
    assert help_of("help").startswith("Usage: phonectl [OPTIONS] COMMAND")


def test_an_unknown_topic_is_a_usage_error_naming_the_topics() -> None:
    done = run_phonectl("help", "exitcodes")
    assert done.returncode == 2
    assert done.stderr.startswith("error: no help topic 'exitcodes'\nhint: topics and commands:")
    assert "exit-codes, environment" in done.stderr


def test_the_configuration_reference_is_generated_from_the_table_and_current() -> None:
    import subprocess
    import sys

    page = README.parent / "docs" / "configuration.md"
    done = subprocess.run(
        [sys.executable, str(README.parent / "docs" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for row in SETTINGS:
        if row.env:
            assert row.env in page.read_text(), row.env


def test_version_reads_dist_info_names_and_falls_back_to_metadata() -> None:
    from importlib.metadata import version

    from phonectl.version import installed_versions, metadata_version

    found = installed_versions(("msal", "requests", "typer", "no-such-project"))
    assert found == {name: version(name) for name in ("msal", "requests", "typer")}
    assert metadata_version("requests") == version("requests")
    assert metadata_version("no-such-project") == "(not installed)"


def test_every_root_option_is_a_global_option_and_named_in_each_commands_help() -> None:
    import typer

    from phonectl.app import app
    from phonectl.global_options import EPILOG, GLOBAL_OPTIONS

    own = {"--version", "--help", "-h", "--install-completion", "--show-completion"}
    root = typer.main.get_command(app)
    options = {opt for param in root.params for opt in getattr(param, "opts", [])} - own
    assert options == set(GLOBAL_OPTIONS)
    assert all(name in EPILOG for name in options)


def test_the_apps_topic_names_are_the_topics() -> None:
    from phonectl.app import HELP_TOPICS
    from phonectl.help_topics import TOPICS

    assert tuple(TOPICS) == HELP_TOPICS


def test_help_topics_complete() -> None:
    import os
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "phonectl"],
        env={
            **os.environ,
            "_PHONECTL_COMPLETE": "bash_complete",
            "COMP_WORDS": "phonectl help e",
            "COMP_CWORD": "2",
        },
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert done.stdout.split() == ["exit-codes", "environment"]


def test_every_commands_usage_names_its_arguments_plainly_and_summary_whole() -> None:
    """Each command, the groups' (`auth switch`) too, is a commands.options.Command: `NAME`,
    not Typer's `{NAME}`, in its usage line; its whole first sentence in its group's list."""
    from phonectl.app import click_group

    root = click_group()
    commands = [
        (name, sub, command)
        for name, command in root.commands.items()
        for sub, command in (
            command.commands.items() if hasattr(command, "commands") else [("", command)]
        )
    ]
    assert len(commands) >= 15
    for name, sub, command in commands:
        with command.make_context(
            f"phonectl {name} {sub}".strip(), [], resilient_parsing=True
        ) as ctx:
            assert "{" not in command.get_usage(ctx), (name, sub)
        summary = command.get_short_help_str()
        assert summary and not summary.endswith("..."), (name, sub, summary)
