"""`phonectl apply`: bring many users' phones in line with a CSV or JSON Lines file."""

import sys
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Annotated

import typer

from phonectl import render
from phonectl.choices import FileFormat
from phonectl.commands.options import OutputOption, runtime
from phonectl.errors import InvalidInput

if TYPE_CHECKING:
    from phonectl.settings import Settings


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
) -> int:
    """Sync phones from a file: columns user, id, type, number, displayName, allowedAudiences.

    A row with an id updates that phone; without, the user's one phone of that type (added if
    there is none). Rows are planned in file order; only differing properties are sent,
    through Graph's $batch, so a second run writes nothing. Exits 1 if any row failed (3, 4
    or 6 when every failure had that one cause and nothing was written); a rerun completes
    what is left. --dry-run shows each change as old -> new.

    Example: phonectl apply hr-phones.csv --dry-run
    """
    # The bulk machinery loads only when apply runs, not for every --help and Tab press.
    from phonectl.apply.rows import detect_format, read_rows
    from phonectl.apply.run import ApplyInterrupted, apply_rows

    text = _read(file)
    rows = read_rows(text, detect_format(file, text, format_), "stdin" if file == "-" else file)
    rt = runtime(ctx)
    fmt = rt.output(output)
    client = rt.client()
    lock = nullcontext() if dry_run else _one_apply_at_a_time(rt.settings, file)
    with lock, render.progress(len(rows), "applying") as advance:
        try:
            report = apply_rows(client, rows, dry_run=dry_run, on_settled=advance)
        except ApplyInterrupted as stop:
            # Every write already made is reported before the interrupt takes its course.
            render.apply_report(stop.report, fmt)
            raise stop.cause from None
    render.apply_report(report, fmt)
    return int(report.exit_code)


def _one_apply_at_a_time(settings: "Settings", file: str) -> AbstractContextManager[None]:
    """Two applies over one tenant never overlap on this machine: a cron run that overruns
    into the next one would plan against state the other is changing (duplicate phones)."""
    import hashlib

    from phonectl.files import exclusive_lock
    from phonectl.token_store import lock_dir

    target = "sandbox" if settings.sandbox else f"{settings.graph_url}|{settings.tenant}"
    name = hashlib.sha256(target.encode()).hexdigest()[:16]
    return exclusive_lock(
        lock_dir() / f"apply-{name}.lock",
        wait=settings.timeout,
        holder=f"phonectl apply {file}",
    )


MAX_FILE_BYTES = 256 * 1024 * 1024


def _read(file: str) -> str:
    """The file's text (stdin for -): a regular file of sane size, in UTF-8."""
    from pathlib import Path

    from phonectl.files import read_regular_text

    try:
        if file == "-":
            if sys.stdin is None or sys.stdin.closed:
                raise InvalidInput("apply - reads the rows from stdin, but stdin is closed")
            if sys.stdin.isatty():
                render.notice("reading rows from stdin; end with Ctrl-D (or pass a file)")
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
