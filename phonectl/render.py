"""Everything printed: a command's result on stdout as table, json or tsv (one writer per
format, for every result type: results.py says what each result holds); messages on stderr.

The only module that imports rich, and only for progress bars (layout.py lays out tables)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, NamedTuple

from phonectl.choices import OutputFormat
from phonectl.errors import ExitCode, GraphError, PhonectlError
from phonectl.safe_output import (
    check_stdout_reader,
    escape_controls,
    escape_for_json,
    redact,
    stdout_speaks_unicode,
)
from phonectl.terminal import Terminal, process_terminal
from phonectl.words import counted

if TYPE_CHECKING:
    import json

    from phonectl.layout import Column
    from phonectl.results import Result


class Shown(NamedTuple):
    """What a command returns: its result (results.py) and the format asked for; main()
    renders it. Commands load their result types when they run, not for every --help.
    `stream`: the result's rows written so far (apply writes each round's as it settles);
    the result holds the rest."""

    result: Result
    fmt: OutputFormat
    stream: RowStream | None = None


class RowStream:
    """A list result written a part at a time, as it comes (apply's rounds), byte for byte
    as show() writes it whole: -o json one compact element a line inside [ ], -o tsv a line
    a row. show() writes the last part and closes it.

    A stdout that fails (a reader gone: | head) does not stop the work: the failure is
    kept, later parts go nowhere, and show() reports it once the work is done, after its
    messages, as it would for a result written whole."""

    def __init__(self, fmt: OutputFormat) -> None:
        assert fmt in (OutputFormat.json, OutputFormat.tsv), "a table is laid out whole"
        self.fmt = fmt
        self.started = False
        self.failed: OSError | None = None

    def write(self, part: Result) -> None:
        from phonectl.safe_output import OutputFailed

        if self.failed is not None:
            return
        try:
            if self.fmt is OutputFormat.json:
                self.started = _write_json_items(part.json(), self.started)
            else:
                _write_tsv(part)
            sys.stdout.flush()
            # A pipe takes what it has room for without error: the reader's leaving is
            # looked for, so that apply stops before the next round's writes go out.
            check_stdout_reader()
        except OutputFailed as exc:
            self.failed = exc

    def close(self, last: Result) -> None:
        self.write(last)
        if self.failed is None and self.fmt is OutputFormat.json:
            sys.stdout.write("\n]\n" if self.started else "[]\n")
            sys.stdout.flush()
        if self.failed is not None:
            raise self.failed


# The terminal of the run under way (cli.main reads it once, at the start); unset outside a
# run. A context variable: a program running phonectl in two threads runs two runs.
_run_terminal: ContextVar[Terminal | None] = ContextVar("phonectl_terminal", default=None)


@contextmanager
def run_at(at: Terminal) -> Iterator[Terminal]:
    """Within the block, everything rendered (and every command that asks `terminal()`)
    goes by `at`: the one reading of the streams for this run."""
    reset = _run_terminal.set(at)
    try:
        yield at
    finally:
        _run_terminal.reset(reset)


def terminal() -> Terminal:
    """The run's terminal; outside a run (a library caller, a test), the streams as they are
    now."""
    at = _run_terminal.get()
    return process_terminal() if at is None else at


def shown_text(text: str) -> str:
    """A value as it may be shown: every secret replaced, then control characters escaped.
    Done to each value before it is laid out, so that no wrapping can split a secret into
    pieces that the streams' own redaction would no longer recognise."""
    return escape_controls(redact(text))


def show(
    result: Result,
    fmt: OutputFormat,
    *,
    stream: RowStream | None = None,
    at: Terminal | None = None,
) -> ExitCode:
    """Write a result in the chosen format (after what `stream` wrote of it already), then
    its messages and problem on stderr; its exit code. A table or card is fitted to `at`
    (default: the run's terminal)."""
    from phonectl.safe_output import OutputFailed

    try:
        if stream is not None:
            stream.close(result)
        elif fmt is OutputFormat.json:
            value = result.json()
            if value is not None:
                _write_json(value)
        elif fmt is OutputFormat.tsv:
            _write_tsv(result)
            sys.stdout.flush()
        else:
            _write_view(result, at or terminal())
    except OutputFailed:
        # What was done (apply's summary) and what went wrong besides (a run stopped by a
        # failed sign-in) still reach stderr; the closed output itself is said by main().
        for note in result.notes:
            notice(note)
        if result.problem is not None:
            error(result.problem)
        raise
    for note in result.notes:
        notice(note)
    if result.problem is not None:
        error(result.problem)
    return result.exit_code


def _write_tsv(result: Result) -> None:
    write = sys.stdout.write
    for cells in result.tsv():
        write("\t".join(tsv_escape(cell) for cell in cells) + "\n")


def _write_view(result: Result, at: Terminal) -> None:
    from phonectl.results import Card, Lines, Nothing, Table

    view = result.view()
    if isinstance(view, Table):
        rows = [[shown_text(cell) for cell in row] for row in view.rows]
        _write_table(view.columns, rows, at, view.group)
    elif isinstance(view, Card):
        from phonectl.layout import format_card

        pairs = [(label, shown_text(value)) for label, value in view.pairs]
        sys.stdout.write(format_card(pairs, width=at.width, style=at.colour, whole=view.whole))
        sys.stdout.flush()
    elif isinstance(view, Lines):
        sys.stdout.write("".join(shown_text(line) + "\n" for line in view.lines))
        sys.stdout.flush()
    elif isinstance(view, Nothing) and view.message:
        notice(view.message)


def result_line(text: str) -> None:
    """One line of result on stdout, flushed at once (a script may be waiting for it)."""
    sys.stdout.write(shown_text(text) + "\n")
    sys.stdout.flush()


def safe_text(text: str) -> str:
    """Text for a prompt: secrets replaced, control characters escaped, as in every other
    message."""
    return shown_text(text)


@contextmanager
def progress(total: int, description: str, unit: str = "users") -> Iterator[Callable[..., None]]:
    """A progress bar on stderr when it is a terminal, saying what it is doing, how many of
    how many `unit` are done and how many failed so far; the callable advances it
    (`advance(done, failed=0)`)."""
    if total == 0 or not terminal().shows_progress:
        yield lambda done, failed=0: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TextColumn("{task.fields[failed_text]}"),
    )
    # stdout is never redirected into the bar's console (stderr): a result written while
    # the bar runs (apply's rounds, to a file or pipe) must reach stdout untouched.
    bar_console = Console(stderr=True)
    with Progress(*columns, console=bar_console, transient=True, redirect_stdout=False) as bar:
        _bars.append(bar)
        task = bar.add_task(description, total=total, failed_text="")
        failures = 0

        def advance(done: int, failed: int = 0) -> None:
            nonlocal failures
            failures += failed
            text = f"{failures} failed" if failures else ""
            bar.update(task, advance=done, failed_text=text)

        try:
            yield advance
        finally:
            _bars.remove(bar)


# The progress bar on screen, if any: a question stops it while it waits for an answer.
_bars: list[Any] = []


def confirm(question: str) -> bool:
    """A yes/no question on stderr (no by default), the progress bar paused meanwhile: its
    redraws would hide the question, and some rich versions hold a line without a newline."""
    paused = list(_bars)
    for bar in paused:
        bar.stop()
    try:
        return _yes_or_no(safe_text(question))
    finally:
        for bar in paused:
            bar.start()


def _yes_or_no(question: str) -> bool:
    """Ask on stderr, read a line of stdin. (Click's confirm reads through input(" "), which
    writes that space to stdout: a pipe after a prompt got a byte that was no result.)
    End of input: Interrupted, as a closed terminal is."""
    from phonectl.errors import Interrupted

    while True:
        sys.stderr.write(f"{question} [y/N]: ")
        sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:
            sys.stderr.write("\n")
            raise Interrupted()
        answer = line.strip().lower()
        if answer in {"y", "yes"}:
            return True
        if answer in {"", "n", "no"}:
            return False
        sys.stderr.write("Answer y or n.\n")


def _write_json(value: Any) -> None:
    """One object: indented. A list (or any iterator): one compact object a line, inside
    [ ]. Still one JSON value, but written by the C encoder (indent= falls back to the
    pure-Python one, which cost most of a 50,000-row apply's output) and easy to grep."""
    if isinstance(value, (list, tuple, Iterator)):
        # A line at a time: 50,000 results never become one string (and two more copies,
        # escaped and redacted) in memory.
        started = _write_json_items(value, False)
        sys.stdout.write("\n]\n" if started else "[]\n")
    else:
        sys.stdout.write(_json_text(value, not stdout_speaks_unicode(), indent=2) + "\n")
    sys.stdout.flush()


def _json_text(item: Any, ascii_only: bool, indent: int | None = None) -> str:
    """`ascii_only`: a stdout that cannot carry every character gets JSON's own \\u
    escapes."""
    import json

    return escape_for_json(redact(json.dumps(item, indent=indent, ensure_ascii=ascii_only)))


# Lines escaped, redacted and written together: per line, those three calls were most of
# a 50,000-row apply's output time. A hundred lines (some 20 KB) a write keep the text small
# and a reader's leaving (| head) felt within the round, as line by line it was.
_JSON_LINES_PER_WRITE = 100


def _write_json_items(items: Iterable[Any], started: bool) -> bool:
    """Elements of a JSON array, one a line, after `started` ones already written (its
    [ opens it); whether any is written now."""
    encode = _json_encoder(not stdout_speaks_unicode()).encode
    lines: list[str] = []
    for item in items:
        lines.append(encode(item))
        if len(lines) == _JSON_LINES_PER_WRITE:
            started = _write_json_lines(lines, started)
            lines = []
    return _write_json_lines(lines, started) if lines else started


def _write_json_lines(lines: list[str], started: bool) -> bool:
    # Joined, the text holds the same JSON values: escape_for_json leaves the newlines
    # between them alone, and a secret is redacted wherever it appears.
    text = escape_for_json(redact(",\n".join(lines)))
    sys.stdout.write((",\n" if started else "[\n") + text)
    return True


@functools.cache
def _json_encoder(ascii_only: bool) -> json.JSONEncoder:
    """One encoder per kind: json.dumps(ensure_ascii=False) builds a new one every call."""
    import json

    return json.JSONEncoder(ensure_ascii=ascii_only)


def tsv_escape(value: Any) -> str:
    """A value for one tsv cell: backslash, then every control, bidi and line-separator
    character escaped (\\t, \\n, \\r, \\x1b, \\u202e); None as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):  # as JSON writes them, whatever the command
        return "true" if value else "false"
    return escape_controls(redact(str(value)).replace("\\", "\\\\"))


def _write_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    at: Terminal,
    group: int | None = None,
) -> None:
    """The table fitted to the terminal's width (whole columns when stdout is no terminal),
    styled when it takes colour."""
    from phonectl.layout import format_table

    hidden: list[str] = []
    for line in format_table(
        columns, rows, width=at.width, style=at.colour, group=group, on_hidden=hidden.extend
    ):
        sys.stdout.write(line)
    sys.stdout.flush()
    if hidden:
        notice(f"{counted(len(hidden), 'column')} hidden: -o json shows all")


def _to_stderr(lines: Sequence[str]) -> None:
    """Messages are one line each: whatever they quote (a Graph message, a file's cell, an
    argument) has its control characters escaped, so nothing can add lines, move the cursor
    or retitle the terminal."""
    sys.stderr.write("".join(shown_text(line) + "\n" for line in lines))
    sys.stderr.flush()


def notice(message: str) -> None:
    """A message for the person at the terminal: always on stderr."""
    _to_stderr([message])


def warning(message: str) -> None:
    _to_stderr([f"warning: {message}"])


def debug(message: str) -> None:
    _to_stderr([f"debug: {message}"])


def error(exc: PhonectlError) -> None:
    lines = [f"error: {_error_text(exc)}", *(f"  {d}" for d in exc.details)]
    if isinstance(exc, GraphError):
        details = [
            f"{label}: {value}"
            for label, value in (("request-id", exc.request_id), ("date", exc.date))
            if value
        ]
        if details:
            lines.append("  " + "  ".join(details))
    if exc.hint:
        lines.append(f"hint: {exc.hint}")
    _to_stderr(lines)


def _error_text(exc: PhonectlError) -> str:
    if isinstance(exc, GraphError):
        code = f" {exc.code}" if exc.code else ""
        return f"Graph refused {exc.method} {exc.url}: {exc.status}{code}: {exc.message}"
    return exc.message
