"""`phonectl apply`: bring many users' phones in line with a CSV or JSON Lines file."""

import sys
from typing import Annotated

import typer

from phonectl import render
from phonectl.choices import FileFormat
from phonectl.commands.options import OutputOption, runtime
from phonectl.errors import ExitCode, InvalidInput


def apply(
    ctx: typer.Context,
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE",
            help="CSV with a header row, or JSON Lines; - reads stdin.",
        ),
    ],
    format_: Annotated[
        FileFormat | None,
        typer.Option(
            "--format",
            case_sensitive=False,
            help="The file's format (default: from its extension).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read and plan, print the plan, write nothing.")
    ] = False,
    output: OutputOption = None,
) -> None:
    """Sync phones from a file: columns user, id, type, number, displayName, allowedAudiences.

    A row with an id updates that phone; without, the user's one phone of that type (added if
    there is none). Only differing properties are sent, through Graph's $batch, so a second
    run writes nothing. Exits 1 if any row failed; a rerun completes what is left.
    """
    # The bulk machinery loads only when apply runs, not for every --help and Tab press.
    from phonectl.bulk import Outcome, detect_format, read_rows
    from phonectl.sync import apply_rows

    text = _read(file)
    rows = read_rows(text, detect_format(file, text, format_), "stdin" if file == "-" else file)
    rt = runtime(ctx)
    fmt = rt.output(output)
    client = rt.client()
    with render.progress(len(rows), "applying") as advance:
        results, writes = apply_rows(client, rows, dry_run=dry_run, on_settled=advance)
    render.apply_results(results, fmt)
    counts = {o: sum(1 for r in results if r.outcome is o) for o in Outcome}
    summary = ", ".join(f"{n} {o.value}" for o, n in counts.items() if n)
    render.notice(
        f"apply: {len(results)} rows: {summary}; {writes} writes in "
        f"{client.requests_sent} HTTP requests" + (" (dry run: nothing written)" if dry_run else "")
    )
    if counts[Outcome.failed]:
        raise typer.Exit(int(ExitCode.FAILED))


MAX_FILE_BYTES = 256 * 1024 * 1024


def _read(file: str) -> str:
    """The file's text (stdin for -): a regular file of sane size, in UTF-8."""
    from pathlib import Path

    from phonectl.files import read_regular_text

    try:
        if file == "-":
            if sys.stdin is None or sys.stdin.closed:
                raise InvalidInput("apply - reads the rows from stdin, but stdin is closed")
            stream = getattr(sys.stdin, "buffer", None)
            data = sys.stdin.read() if stream is None else stream.read(MAX_FILE_BYTES + 1)
            if len(data) > MAX_FILE_BYTES:
                raise InvalidInput("stdin is over 256 MiB: split the file")
            return data if isinstance(data, str) else data.decode("utf-8")
        text = read_regular_text(Path(file), "the file", max_bytes=MAX_FILE_BYTES)
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"cannot read {file}: it is not UTF-8 text (byte {exc.start + 1} is not valid)"
        ) from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror or exc}") from None
    if text is None:
        raise InvalidInput(f"cannot read {file}: no such file")
    return text
