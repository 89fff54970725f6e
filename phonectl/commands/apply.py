"""`phonectl apply` and `phonectl export`: bring many users' phones in line with a file, and
write their phones as such a file."""

import sys
from contextlib import nullcontext
from typing import TYPE_CHECKING, Annotated, Any

import typer

from phonectl import render
from phonectl.choices import FileFormat, OutputFormat
from phonectl.commands.options import (
    AllUsersOption,
    NormalizeOption,
    OutputOption,
    RegionOption,
    UsersFileOption,
    UsersOption,
    YesOption,
    number_rules,
    runtime,
)
from phonectl.errors import ExitCode, InvalidInput
from phonectl.words import counted

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from phonectl.apply.rows import ReadOptions, StoredRows
    from phonectl.apply.run import Approval, RowResult
    from phonectl.phones import UserRef
    from phonectl.runtime import Runtime

MAX_FILE_BYTES = 256 * 1024 * 1024
# $batch requests in flight: Graph answers one in about 0.3 s, so one at a time would leave
# phonectl idle most of a run (bench/bulk.py: 4 in flight runs 1.09x the ideal).
DEFAULT_CONCURRENCY = 4
DELIMITER_NAMES = {
    "comma": ",",
    "semicolon": ";",
    "tab": "\t",
    ",": ",",
    ";": ";",
    "\\t": "\t",
    "\t": "\t",  # a literal tab, as $'\t' passes it
}

FormatOption = Annotated[
    FileFormat | None,
    typer.Option(
        "--format",
        case_sensitive=False,
        help="csv or jsonl (default: from the file's extension).",
        show_default=False,
    ),
]


def apply(
    ctx: typer.Context,
    file: Annotated[
        str,
        typer.Argument(metavar="FILE", help="CSV with a header row, or JSON Lines; - reads stdin."),
    ],
    format_: FormatOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read and plan, print the plan, write nothing.")
    ] = False,
    delimiter: Annotated[
        str | None,
        typer.Option(
            "--delimiter",
            metavar="SEP",
            help="CSV delimiter: comma, semicolon or tab (default: sniffed from the header).",
            show_default=False,
        ),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding",
            metavar="NAME",
            help="The file's text encoding, e.g. cp1252 (default: UTF-8, with or without BOM).",
            show_default=False,
        ),
    ] = None,
    ignore_column: Annotated[
        list[str] | None,
        typer.Option(
            "--ignore-column",
            metavar="NAME",
            help="Skip this column (repeatable), e.g. an HR export's employeeId.",
            show_default=False,
        ),
    ] = None,
    clear_empty: Annotated[
        bool,
        typer.Option(
            "--clear-empty",
            help="An empty cell clears that property (JSON Lines: null always clears).",
        ),
    ] = False,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Delete the phones of the file's users that no row matches (users not in "
            "the file are never touched); asks first at a terminal (--yes skips).",
        ),
    ] = False,
    max_deletes: Annotated[
        int,
        typer.Option(
            "--max-deletes", metavar="N", min=0, help="With --prune: refuse to delete more."
        ),
    ] = 20,
    backup: Annotated[
        str | None,
        typer.Option(
            "--backup",
            metavar="FILE",
            help="Before the first write, save the phones of every user the run changes to "
            "this new file (an existing one is refused), in export's format ('apply FILE "
            "--prune' puts them back).",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", metavar="N", min=1, max=16, help="$batch requests in flight at once."
        ),
    ] = DEFAULT_CONCURRENCY,
    normalize: NormalizeOption = None,
    region: RegionOption = None,
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            "-u",
            metavar="USER",
            help="The user (id or principal name) of rows that name none, e.g. for the output "
            "of 'list -o json'.",
            show_default=False,
        ),
    ] = None,
    yes: YesOption = False,
    output: OutputOption = None,
) -> render.Shown:
    """Sync phones from a file: columns user, id, type, number, displayName, allowedAudiences.

    A row with an id updates that phone; without, the user's one phone of that type (added if
    there is none). Rows are planned in file order; only differing properties are sent,
    through Graph's $batch, so a second run writes nothing. Each row is reported updated,
    added, deleted, unchanged, failed, unknown (sent, no answer: look before rerunning) or
    not-sent, however the run ends. Exits 1 if any row failed or is unknown (3, 4 or 6 when
    every one had that one cause and nothing was written); a rerun completes what is left.
    An empty user cell is the signed-in user only when every row's is empty (or see
    --user). In CSV a cell of just ' clears its property. --dry-run shows each change as
    old -> new.

    Examples:

    \b
      # the nightly sync (cron): only what differs is written; a backup first
      phonectl apply hr.csv --backup "backup-$(date +%F-%H%M%S).csv"
      # review the plan first (old -> new), writing nothing
      phonectl apply hr.csv --dry-run
      # undo: put the touched users' phones back as they were
      phonectl apply backup-2026-12-06-021500.csv --prune
    """
    # The bulk machinery loads only when apply runs, not for every --help and Tab press.
    from phonectl.apply.backup import Backup, check_backup_path, one_apply_at_a_time
    from phonectl.apply.rows import ReadOptions
    from phonectl.apply.run import ApplyStopped, apply_rows, unsent
    from phonectl.errors import Interrupted, PhonectlError
    from phonectl.phones import check_identifier
    from phonectl.results import apply_result, stopped_apply_result
    from phonectl.safe_output import check_stdout_reader

    name = "stdin" if file == "-" else file
    if backup is not None and not dry_run:
        check_backup_path(backup, file)  # before anything is read or sent
    options = ReadOptions(
        delimiter=_delimiter(delimiter),
        encoding=encoding,
        ignored_columns=frozenset(c.strip().lower() for c in ignore_column or ()),
        clear_empty=clear_empty,
        numbers=number_rules(normalize, region),
        user=None if user is None else check_identifier(user.strip(), "--user"),
    )
    rows = _read_rows(file, name, options, format_)
    rt = runtime(ctx)
    fmt = rt.output(output)
    stream, on_results = _streaming(rt, fmt, dry_run)
    backup_file: Backup | None = None
    client = None
    try:
        client = rt.client()
        client.concurrency = concurrency
        lock = nullcontext() if dry_run else one_apply_at_a_time(rt.settings, file)
        backup_file = None if backup is None else Backup(backup, client)
        at_terminal = render.terminal().can_prompt
        doing = "dry run: planning" if dry_run else "applying"
        with lock, render.progress(len(rows), doing, unit="rows") as advance:
            report = apply_rows(
                client,
                rows,
                dry_run=dry_run,
                prune=prune,
                max_deletes=max_deletes if prune else None,
                before_writes=backup_file,
                approve=None if yes or not at_terminal else _ask_before_deleting,
                on_settled=advance,
                on_results=on_results,
                check_deliverable=check_stdout_reader,  # any format: a table too
            )
        result = apply_result(report)
    except ApplyStopped as stop:
        # Every row is reported, whatever stopped the run, before it takes its course.
        result = stopped_apply_result(stop)
    except (Interrupted, KeyboardInterrupt, PhonectlError) as early:
        # Stopped before the run began (signing in, waiting for another apply's lock):
        # still one report, every row not sent.
        not_sent = unsent(client, rows, dry_run, on_results)
        result = stopped_apply_result(ApplyStopped(not_sent, early))
    if backup_file is not None:
        backup_file.close()
    if backup_file is not None and backup_file.written:
        whose = counted(backup_file.users, "user's", "users'")
        render.notice(f"backup of {whose} phones written to {backup_file.path}")
    return render.Shown(result, fmt, stream)


def _streaming(
    rt: "Runtime", fmt: OutputFormat, dry_run: bool
) -> tuple[render.RowStream | None, "Callable[[Sequence[RowResult]], None] | None"]:
    """json and tsv to a file or pipe are written round by round, as each settles: the
    stream, and what hands a round's results to it. A table is laid out whole (its columns
    fit every row), --query needs every row, and a terminal shows the progress bar till
    the end: those collect (None, None)."""
    from phonectl.apply.run import ApplyReport
    from phonectl.results import ApplyResult

    if fmt not in (OutputFormat.json, OutputFormat.tsv):
        return None, None
    if rt.settings.query is not None or render.terminal().stdout:
        return None, None
    stream = render.RowStream(fmt)

    def hand_on(results: "Sequence[RowResult]") -> None:
        stream.write(ApplyResult(ApplyReport(tuple(results), 0, 0, dry_run)))
        if stream.failed is not None:
            # The reader is gone (| head): the run stops, so no new write goes out that the
            # report could not tell of. (A stopped run's own report, handed on after, meets
            # the same failure: apply_rows keeps that one quiet for show() to report.)
            raise stream.failed

    return stream, hand_on


def _read_rows(
    file: str, name: str, options: "ReadOptions", given: FileFormat | None
) -> "StoredRows":
    """The file's rows, checked and packed; stopped while reading, the summary says so."""
    from phonectl.apply.rows import decode, detect_format, store_rows
    from phonectl.errors import Interrupted

    try:
        text = decode(read_input(file), name, options.encoding)
        # The text need not live through the run: the rows hold it packed.
        return store_rows(text, detect_format(file, text, given), name, options)
    except (Interrupted, KeyboardInterrupt):
        # Stopped before a row was known: the summary still says what was (not) done.
        render.notice(f"apply: stopped while reading {name}; nothing was sent")
        raise


def _ask_before_deleting(approval: "Approval") -> None:
    """--prune at a terminal: the count of phones and users, and a yes before any delete.
    (Without a terminal no question is asked: apply passes no approval then; cron has
    --max-deletes.)"""
    from phonectl.errors import PhonectlError

    question = (
        f"--prune will delete {counted(approval.phones, 'phone')} of "
        f"{counted(approval.users, 'user')}. Go on?"
    )
    if not render.confirm(question):
        raise PhonectlError("not confirmed; nothing more was sent", hint="--yes skips the question")


def export(
    ctx: typer.Context,
    user: UsersOption = None,
    users_file: UsersFileOption = None,
    all_users: AllUsersOption = False,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "--output-file",
            metavar="FILE",
            help="Write to this file (its extension picks the format) instead of stdout.",
            show_default=False,
        ),
    ] = None,
    format_: FormatOption = None,
    output: OutputOption = None,
) -> render.Shown:
    """Write users' phones as a file apply takes back: user,id,type,number,displayName,
    allowedAudiences (CSV, or JSON Lines). Applying it unchanged writes nothing.

    Examples:

    \b
      phonectl export --all-users --out phones.csv
      phonectl export --user adelev@contoso.com -o json
      phonectl export --users-file team.txt --out team.csv
    """
    from pathlib import Path

    from phonectl.apply.export import export_phones
    from phonectl.apply.rows import phone_rows_text
    from phonectl.files import write_private_file
    from phonectl.results import Said

    rt = runtime(ctx)
    if rt.settings.query is not None:
        raise InvalidInput(
            "export writes a file and takes no --query",
            hint="query the phones with 'phonectl list --query ...', or filter the file",
        )
    explicit_table = (output or rt.flags.output) is OutputFormat.table
    if explicit_table:
        raise InvalidInput(
            "export writes a file, not a table: -o json writes JSON Lines, -o tsv tab-separated",
            hint="leave -o out for CSV, or use --format csv|jsonl",
        )
    given_o = (output or rt.flags.output) is not None
    fmt, delimiter = _export_format(rt.output(output), out, format_, given_o=given_o)
    refs = named_users(rt, user, users_file, all_users)
    client = rt.client()
    with render.progress(len(refs), "exporting") as advance:
        exported = export_phones(client, refs, on_read=advance)
    text = phone_rows_text(exported.entries, fmt, delimiter=delimiter)
    if out is None or out == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_private_file(Path(out), text, "the export file")
    summary = (
        f"export: {counted(len(exported.entries), 'phone')} of "
        f"{counted(exported.users - len(exported.failures), 'user')} in "
        f"{counted(client.requests_sent, 'HTTP request')}"
        + (
            f"; {counted(len(exported.failures), 'user')} could not be read"
            if exported.failures
            else ""
        )
    )
    warnings = tuple(
        f"{failed_user.shown() or 'the signed-in user'}: {failure.reason}"
        for failed_user, failure in exported.failures
    )
    code = reads_exit_code([failure for _, failure in exported.failures], exported.entries)
    return render.Shown(Said((summary,), warnings, code), OutputFormat.table)


def reads_exit_code(failures: list[Any], read: Any) -> ExitCode:
    """export's and lint's code when reads failed: the failures' own code (sign-in 3,
    permission 4, not found 5, try later 6) when they share it and nothing was read, as
    apply does; else 1."""
    if not failures:
        return ExitCode.OK
    codes = {failure.exit_code for failure in failures}
    shared = {ExitCode.SIGN_IN, ExitCode.FORBIDDEN, ExitCode.NOT_FOUND, ExitCode.TRY_LATER}
    if len(codes) == 1 and not read and codes <= shared:
        code: ExitCode = codes.pop()
        return code
    return ExitCode.FAILED


def named_users(
    rt: "Runtime", user: list[str] | None, users_file: str | None, all_users: bool
) -> list["UserRef"]:
    """The users --user, --users-file and --all-users name (export, lint), in that order;
    none of them: the signed-in user."""
    from phonectl.apply.export import all_users as every_user
    from phonectl.apply.rows import decode
    from phonectl.phones import SIGNED_IN, UserRef, check_identifier

    refs = [UserRef(check_identifier(u.strip(), "--user")) for u in user or ()]
    if users_file is not None:
        listed = [u.strip() for u in decode(read_input(users_file), users_file, None).splitlines()]
        # A header line (user, userPrincipalName, id) and # comments are not users.
        wanted = [u for u in listed if u and not u.startswith("#")]
        if wanted and wanted[0].lower() in {"user", "userprincipalname", "upn", "id"}:
            wanted = wanted[1:]
        refs += [UserRef(check_identifier(u, "user")) for u in wanted]
    if all_users:
        refs += every_user(rt.client())
    if not refs and not (all_users or users_file):
        refs = [SIGNED_IN]
    return refs


def _export_format(
    output: OutputFormat, out: str | None, given: FileFormat | None, *, given_o: bool
) -> tuple[FileFormat, str]:
    """export's file format and CSV delimiter: -o json is JSON Lines, -o tsv tab-separated
    (never ignored); --format and the --out file's extension must agree with it. An -o
    that only PHONECTL_OUTPUT gave (`given_o` False: set for a cron job's other commands)
    chooses only when neither --format nor the --out name does."""
    from phonectl.apply.rows import format_for_output, format_named_by

    named = format_named_by(out)
    if not given_o and (given is not None or named is not None):
        output = OutputFormat.table  # no preference of its own: the file's name decides

    if output not in _EXPORT_FORMATS:  # a format export has no file for: refused, not ignored
        raise InvalidInput(
            f"export writes CSV or JSON Lines: -o {output.value} is neither",
            hint="use -o json (JSON Lines), -o tsv, or --format",
        )
    wanted = _EXPORT_FORMATS[output]
    if wanted is not None and given is not None and given is not wanted:
        raise InvalidInput(f"-o {output.value} and --format {given.value} contradict each other")
    if wanted is not None and given is None and named is not None and named is not wanted:
        raise InvalidInput(
            f"-o {output.value} writes {_FILE_KINDS[output]}, but --out {out} would be "
            f"{_FILE_KINDS[_OUTPUT_FOR[named]]} by its name",
            hint=f"name the file for what -o writes, or leave -o {output.value} out",
        )
    fmt = format_for_output(out, given or wanted)
    delimiter = "\t" if output is OutputFormat.tsv or (out or "").lower().endswith(".tsv") else ","
    return fmt, delimiter


# What each output format means to export (table: the default, CSV or --format's).
_EXPORT_FORMATS: dict[OutputFormat, FileFormat | None] = {
    OutputFormat.table: None,
    OutputFormat.json: FileFormat.jsonl,
    OutputFormat.tsv: FileFormat.csv,
}
# What export's -o writes, in words; and the -o that writes a file format.
_FILE_KINDS = {
    OutputFormat.table: "CSV",
    OutputFormat.json: "JSON Lines",
    OutputFormat.tsv: "tab-separated CSV",
}
_OUTPUT_FOR = {FileFormat.jsonl: OutputFormat.json, FileFormat.csv: OutputFormat.table}


def _delimiter(given: str | None) -> str | None:
    if given is None:
        return None
    try:
        return DELIMITER_NAMES[given.strip().lower() if given.strip() else given]
    except KeyError:
        raise InvalidInput(f"invalid --delimiter {given!r}: use comma, semicolon or tab") from None


def read_input(file: str) -> bytes:
    """The file's bytes (stdin for -): a regular file of sane size."""
    from pathlib import Path

    from phonectl.files import read_regular_bytes

    try:
        if file == "-":
            if sys.stdin is None or sys.stdin.closed:
                raise InvalidInput("- reads from stdin, but stdin is closed")
            if render.terminal().stdin:
                render.notice("reading from stdin; end with Ctrl-D (or pass a file)")
            stream = getattr(sys.stdin, "buffer", None)
            data = sys.stdin.read() if stream is None else stream.read(MAX_FILE_BYTES + 1)
            if len(data) > MAX_FILE_BYTES:
                raise InvalidInput("stdin is over 256 MiB: split the file")
            return data.encode("utf-8") if isinstance(data, str) else data
        found = read_regular_bytes(Path(file), "the file", max_bytes=MAX_FILE_BYTES)
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror or exc}") from None
    if found is None:
        raise InvalidInput(f"cannot read {file}: no such file")
    return found
