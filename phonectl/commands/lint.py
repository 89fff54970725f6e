"""`phonectl lint`: numbers that would not dial, are not in the wanted format or are held by
more than one user, read from Graph (as export reads them) or from an apply file; and a
file of fixes for apply."""

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from phonectl import render
from phonectl.commands.apply import FormatOption, named_users, reads_exit_code
from phonectl.commands.options import (
    AllUsersOption,
    NormalizeOption,
    OutputOption,
    RegionOption,
    UsersFileOption,
    UsersOption,
    number_rules,
    runtime,
)
from phonectl.errors import ExitCode, InvalidInput
from phonectl.numbers import NumberFormat
from phonectl.words import counted

if TYPE_CHECKING:
    from phonectl.choices import FileFormat
    from phonectl.lint import Finding, Held
    from phonectl.runtime import Runtime


def lint(
    ctx: typer.Context,
    file: Annotated[
        str | None,
        typer.Argument(
            metavar="[FILE]",
            help="An apply file (CSV or JSON Lines; - reads stdin) to lint instead of Graph.",
            show_default=False,
        ),
    ] = None,
    user: UsersOption = None,
    users_file: UsersFileOption = None,
    all_users: AllUsersOption = False,
    normalize: NormalizeOption = None,
    region: RegionOption = None,
    fixes: Annotated[
        str | None,
        typer.Option(
            "--fixes",
            metavar="FILE",
            help="Write the fixable numbers as an apply file (export's format; never over an "
            "existing file): review it, then 'phonectl apply' it.",
            show_default=False,
        ),
    ] = None,
    format_: FormatOption = None,
    output: OutputOption = None,
) -> render.Shown:
    """Find numbers that do not parse, are not valid for their region, are not in the
    --normalize format (default e164), or are held by more than one user; each with the
    number to write instead. Exits 0 when clean, 1 with findings.

    Examples:

    \b
      phonectl lint --user adelev@contoso.com
      # every number in E.164: review the fixes (an apply file), then apply them
      phonectl lint --all-users --region US --fixes fixes.csv
      phonectl lint hr.csv --region DE -o json
    """
    from phonectl.results import LintResult

    rules = number_rules(normalize, region, default=NumberFormat.e164)
    assert rules is not None
    if file is not None and (user or users_file or all_users):
        raise InvalidInput("lint reads either FILE or users (--user, --users-file, --all-users)")
    fixes_path = None if fixes is None else _new_file(fixes, from_file=file is not None)
    rt = runtime(ctx)
    read_failure = None
    if file is None:
        numbers, summary, warnings, read_failure = _from_graph(rt, user, users_file, all_users)
    else:
        numbers, summary = _from_file(file, format_)
        warnings = ()
    from phonectl.lint import find_problems

    findings = find_problems(numbers, rules)
    fixable = [f for f in findings if f.fixable]
    summary += f": {counted(len(findings), 'finding')}, {len(fixable)} fixable"
    notes = [summary]
    if fixes_path is not None:
        _write_fixes(fixes_path, fixable)
        notes.append(
            f"{counted(len(fixable), 'fix', 'fixes')} written to {fixes} (review it, then apply it)"
        )
    result = LintResult(findings, tuple(notes), warnings, read_failure)
    return render.Shown(result, rt.output(output))


def _from_graph(
    rt: "Runtime", user: list[str] | None, users_file: str | None, all_users: bool
) -> tuple[list["Held"], str, tuple[str, ...], ExitCode | None]:
    """Every number of the users named, read as export reads them ($batch)."""
    from phonectl.apply.export import export_phones
    from phonectl.lint import Held

    refs = named_users(rt, user, users_file, all_users)
    client = rt.client()
    with render.progress(len(refs), "reading") as advance:
        exported = export_phones(client, refs, on_read=advance)
    numbers = [
        Held(owner, phone.get("id"), phone["number"], phone)
        for owner, phone in exported.entries
        if phone is not None and isinstance(phone.get("number"), str)
    ]
    summary = (
        f"lint: {counted(len(numbers), 'number')} of "
        f"{counted(exported.users - len(exported.failures), 'user')} in "
        f"{counted(client.requests_sent, 'HTTP request')}"
    )
    warnings = tuple(
        f"{failed_user.shown() or 'the signed-in user'}: {failure.reason}"
        for failed_user, failure in exported.failures
    )
    failures = [failure for _, failure in exported.failures]
    code = reads_exit_code(failures, exported.entries) if failures else None
    return numbers, summary, warnings, code


def _from_file(file: str, format_: "FileFormat | None") -> tuple[list["Held"], str]:
    """Every number of an apply file's rows, each with its line."""
    from phonectl.apply.rows import decode, detect_format, read_rows
    from phonectl.commands.apply import read_input
    from phonectl.lint import Held

    name = "stdin" if file == "-" else file
    text = decode(read_input(file), name, None)
    rows = read_rows(text, detect_format(file, text, format_), name)
    numbers = [
        Held(row.user, row.phone_id, number, {**row.fields, "id": row.phone_id}, row.line)
        for row in rows
        if isinstance(number := row.fields.get("number"), str)
    ]
    return numbers, f"lint: {counted(len(numbers), 'number')} in {name}"


def _new_file(path: str, *, from_file: bool) -> Path:
    """--fixes, checked before anything is read: never an existing file (exit 2)."""
    from phonectl.apply.rows import format_for_output
    from phonectl.choices import FileFormat

    chosen = Path(path)
    if os.path.lexists(chosen):
        raise InvalidInput(
            f"--fixes {path} already exists: it is never overwritten",
            hint="choose a new name, e.g. fixes-$(date +%F-%H%M%S).csv",
        )
    if from_file and format_for_output(path, None) is FileFormat.jsonl:
        # export's JSON Lines writes an absent displayName as null, which clears it: the
        # fix of a file row that never named one must not.
        raise InvalidInput(
            "--fixes of an apply FILE is written as CSV", hint="name it e.g. fixes.csv"
        )
    return chosen


def _write_fixes(path: Path, fixable: list["Finding"]) -> None:
    """The fixable numbers as rows apply takes: each phone as it is, its number rewritten.
    Created 0600, complete on disk, and only if absent (never over a file made meanwhile)."""
    from phonectl.apply.rows import format_for_output, phone_rows_text
    from phonectl.files import create_new_private_file

    fmt = format_for_output(str(path), None)
    entries = [(f.held.user, {**f.held.phone, "number": f.suggested}) for f in fixable]
    text = phone_rows_text(entries, fmt, mark_empty=False)  # numbers alone change
    create_new_private_file(path, text, "--fixes")
