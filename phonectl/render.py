"""Everything printed: results on stdout as table, json or tsv; messages on stderr.

The only module that imports rich, and only for progress bars (layout.py lays out tables)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC
from typing import TYPE_CHECKING, Any

from phonectl.choices import OutputFormat
from phonectl.errors import GraphError, PhonectlError, SignInRequired
from phonectl.phones import audience_names, audience_text, source_types
from phonectl.safe_output import escape_controls, escape_for_json

if TYPE_CHECKING:
    from phonectl.apply.run import ApplyReport
    from phonectl.apply.run import RowResult as ApplyRowResult
    from phonectl.auth import AuthStatus
    from phonectl.layout import Column

TSV_FIELDS = ("id", "type", "number", "displayName")


def phones(items: Sequence[Mapping[str, Any]], fmt: OutputFormat) -> None:
    """A list of itemPhones."""
    if fmt is OutputFormat.json:
        _write_json(list(items))
    elif fmt is OutputFormat.tsv:
        for phone in items:
            sys.stdout.write(_tsv_line(phone))
    else:
        _table(items)


def phone(item: Mapping[str, Any], fmt: OutputFormat) -> None:
    """One itemPhone: json prints Graph's object as returned; table, a key/value card."""
    if fmt is OutputFormat.json:
        _write_json(item)
    elif fmt is OutputFormat.tsv:
        phones([item], fmt)
    else:
        from phonectl.layout import format_card

        width, style = _terminal()
        pairs = [(label, escape_controls(value)) for label, value in _card_fields(item)]
        sys.stdout.write(format_card(pairs, width=width, style=style))
        sys.stdout.flush()


def _card_fields(item: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A phone's properties for people: values as values (lists joined, yes/no)."""
    pairs = [
        ("ID", _text(item.get("id"))),
        ("Type", _text(item.get("type"))),
        ("Number", _text(item.get("number"))),
        ("Display name", _text(item.get("displayName"))),
        ("Audience", ", ".join(audience_names(item.get("allowedAudiences")))),
        ("Source", ", ".join(source_types(item))),
    ]
    if "isSearchable" in item:
        pairs.append(("Searchable", _text(item.get("isSearchable"))))
    inference = item.get("inference")
    if isinstance(inference, dict) and inference:
        parts = []
        if inference.get("confidenceScore") is not None:
            parts.append(f"confidence {_text(inference['confidenceScore'])}")
        if inference.get("userHasVerifiedAccuracy") is not None:
            parts.append(f"verified {_text(inference['userHasVerifiedAccuracy'])}")
        pairs.append(("Inference", ", ".join(parts)))
    pairs.append(("Created", _who_when(item, "createdBy", "createdDateTime")))
    pairs.append(("Last modified", _modified(item)))
    return pairs


def result_line(text: str) -> None:
    """One line of result on stdout, flushed at once (a script may be waiting for it)."""
    sys.stdout.write(escape_controls(text) + "\n")
    sys.stdout.flush()


def deleted(phone_id: str, user: str | None, fmt: OutputFormat) -> None:
    """What delete did, for scripts (json, tsv); a table prints nothing (stderr says it)."""
    if fmt is OutputFormat.json:
        _write_json({"id": phone_id, "user": user, "deleted": True})
    elif fmt is OutputFormat.tsv:
        sys.stdout.write(f"{tsv_escape(phone_id)}\tdeleted\n")
        sys.stdout.flush()


def safe_text(text: str) -> str:
    """Text for a prompt: control characters escaped, as in every other message."""
    return escape_controls(text)


def planned_request(method: str, url: str, body: Any, fmt: OutputFormat) -> None:
    """What --dry-run would have sent."""
    import json

    if fmt is OutputFormat.json:
        _write_json({"method": method, "url": url, "body": body})
    elif fmt is OutputFormat.tsv:
        body_text = "" if body is None else json.dumps(body, ensure_ascii=False)
        sys.stdout.write(f"{method}\t{tsv_escape(url)}\t{tsv_escape(body_text)}\n")
    else:
        sys.stdout.write(f"{method} {escape_controls(url)}\n")
        if body is not None:
            text = json.dumps(body, indent=2, ensure_ascii=False)
            sys.stdout.write(escape_for_json(text) + "\n")
    sys.stdout.flush()
    notice("dry run: nothing was sent")


def auth_status(report: AuthStatus, fmt: OutputFormat) -> None:
    """`auth status`: the facts on stdout, the problem (if any) on stderr."""
    from datetime import datetime

    expires = (
        datetime.fromtimestamp(report.expires_on, UTC).isoformat(timespec="seconds")
        if report.expires_on
        else None
    )
    facts = {
        "account": report.account,
        "tenant": report.tenant,
        "cloud": report.cloud,
        "clientId": report.client_id,
        "scopes": list(report.scopes),
        "tokenSource": report.token_source,
        "accessTokenExpires": expires,
        "cache": report.cache,
        "usable": report.problem is None,
    }
    if fmt is OutputFormat.json:
        _write_json({**facts, "problem": report.problem})
    elif fmt is OutputFormat.tsv:
        for name, value in facts.items():
            text = ",".join(value) if isinstance(value, list) else value
            sys.stdout.write(f"{name}\t{tsv_escape(text)}\n")
    else:
        width = max(len(name) for name in facts)
        for name, value in facts.items():
            text = ", ".join(value) if isinstance(value, list) else _text(value)
            sys.stdout.write(f"{name:<{width}}  {escape_controls(text) or '-'}\n")
    sys.stdout.flush()
    if report.problem is not None:
        error(SignInRequired(report.problem, hint=report.hint or "run 'phonectl auth login'"))


def apply_report(report: ApplyReport, fmt: OutputFormat) -> None:
    """`apply`: one result per row on stdout (each change as old -> new), a summary on stderr."""
    results = report.results
    if fmt is OutputFormat.json:
        _write_json([_apply_row_json(r) for r in results])  # small dicts; lines go out one by one
    elif fmt is OutputFormat.tsv:
        for r in results:
            fields = (r.line, r.user.shown(), r.phone_id, r.outcome.value, _changes(r), r.error)
            sys.stdout.write("\t".join(tsv_escape(c) for c in fields) + "\n")
        sys.stdout.flush()
    else:
        from phonectl.layout import Column

        columns = (
            Column("Line", 0),
            Column("User", 3, wraps=True),
            Column("Phone id", 0),
            Column("Result", 0),
            # What will change (or did), or why the row failed: the reason to look at all.
            Column("Details", 1, wraps=True),
        )
        _write_table(
            columns,
            [
                [
                    escape_controls(cell)
                    for cell in (
                        str(r.line) if r.line else "-",
                        r.user.shown() or "(signed-in user)",
                        r.phone_id or "",
                        r.outcome.value,
                        r.error or _changes(r),
                    )
                ]
                for r in results
            ],
        )
    outcomes = [r.outcome for r in results]
    summary = (
        ", ".join(f"{outcomes.count(o)} {o.value}" for o in type(outcomes[0]) if o in outcomes)
        if outcomes
        else ""
    )
    tail = " (dry run: nothing written)" if report.dry_run else ""
    if not report.complete:
        tail += "; interrupted: the rows not shown were not written"
    notice(
        f"apply: {len(results)} rows: {summary or 'none'}; {report.writes_sent} writes in "
        f"{report.requests_sent} HTTP requests{tail}"
    )


def _apply_row_json(r: ApplyRowResult) -> dict[str, Any]:
    return {
        "line": r.line,
        "user": r.user.ref,
        "id": r.phone_id,
        "result": r.outcome.value,
        "changed": [c.field for c in r.changes],
        "changes": [{"field": c.field, "old": c.old, "new": c.new} for c in r.changes],
        "error": r.error,
    }


def _changes(r: ApplyRowResult) -> str:
    """Each change as `field: old -> new` (values as JSON, so '' and null differ); a new
    phone's values as `field: new`, a deleted one's as `field: old`."""
    import json

    def shown(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    from phonectl.apply.plan import Outcome

    if r.outcome in {Outcome.added, Outcome.would_add}:
        return ", ".join(f"{c.field}: {shown(c.new)}" for c in r.changes)
    if r.outcome in {Outcome.deleted, Outcome.would_delete}:
        return "deletes " + ", ".join(f"{c.field}: {shown(c.old)}" for c in r.changes)
    return ", ".join(f"{c.field}: {shown(c.old)} -> {shown(c.new)}" for c in r.changes)


@contextmanager
def progress(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr when it is a terminal; the callable advances it."""
    if total == 0 or not sys.stderr.isatty():
        yield lambda done: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.advance(task, done)


def _write_json(value: Any) -> None:
    """One object: indented. A list: one compact object a line, inside [ ]. Still one JSON
    value, but written by the C encoder (indent= falls back to the pure-Python one, which
    cost most of a 50,000-row apply's output) and easy to grep."""
    import json

    if isinstance(value, list):
        # A line at a time: 50,000 results never become one string (and two more copies,
        # escaped and redacted) in memory.
        write = sys.stdout.write
        write("[\n" if value else "[]\n")
        last = len(value) - 1
        for n, item in enumerate(value):
            line = escape_for_json(json.dumps(item, ensure_ascii=False))
            write(line + (",\n" if n < last else "\n]\n"))
    else:
        sys.stdout.write(escape_for_json(json.dumps(value, indent=2, ensure_ascii=False)) + "\n")
    sys.stdout.flush()


def tsv_escape(value: Any) -> str:
    """A value for one tsv cell: backslash, then every control, bidi and line-separator
    character escaped (\\t, \\n, \\r, \\x1b, \\u202e); None as empty."""
    if value is None:
        return ""
    return escape_controls(str(value).replace("\\", "\\\\"))


def _tsv_line(item: Mapping[str, Any]) -> str:
    cells = [tsv_escape(item.get(name)) for name in TSV_FIELDS]
    cells.append(tsv_escape(audience_text(item)))
    return "\t".join(cells) + "\n"


def _who_when(item: Mapping[str, Any], by_key: str, when_key: str) -> str:
    by = item.get(by_key)
    user = by.get("user") if isinstance(by, dict) else None
    who = _text(user.get("displayName")) if isinstance(user, dict) else ""
    when = _text(item.get(when_key))
    if when:
        when = when[:16].replace("T", " ") + " UTC"
    return ", ".join(part for part in (who, when) if part)


def _modified(item: Mapping[str, Any]) -> str:
    return _who_when(item, "lastModifiedBy", "lastModifiedDateTime")


def _table(items: Sequence[Mapping[str, Any]]) -> None:
    if not items:
        notice("no phones")
        return
    from phonectl.layout import Column

    # ID and number are what a person copies and dials: never cut; the rest goes first.
    columns = (
        Column("ID", 0),
        Column("Type", 1),
        Column("Number", 0),
        Column("Display name", 2, wraps=True),
        Column("Audience", 3, wraps=True),
        Column("Source", 4, wraps=True),
        Column("Last modified", 5, wraps=True),
    )
    rows = [
        [
            escape_controls(cell)
            for cell in (
                _text(item.get("id")),
                _text(item.get("type")),
                _text(item.get("number")),
                _text(item.get("displayName")),
                ", ".join(audience_names(item.get("allowedAudiences"))),
                ", ".join(source_types(item)),
                _modified(item),
            )
        ]
        for item in items
    ]
    _write_table(columns, rows)


def _write_table(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> None:
    from phonectl.layout import format_table

    width, style = _terminal()
    for line in format_table(columns, rows, width=width, style=style):
        sys.stdout.write(line)
    sys.stdout.flush()


def _terminal() -> tuple[int | None, bool]:
    """The width to fit (None when stdout is a file or pipe: every column whole, so that
    grep and cut see whole values) and whether to style (a terminal, unless NO_COLOR)."""
    import shutil

    is_terminal = sys.stdout.isatty()
    width = shutil.get_terminal_size().columns if is_terminal else None
    style = (is_terminal or bool(os.environ.get("FORCE_COLOR"))) and not os.environ.get("NO_COLOR")
    return width, style


def _text(value: Any) -> str:
    """A scalar from Graph as shown to a person: booleans as yes/no, absent as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _to_stderr(lines: Sequence[str]) -> None:
    """Messages are one line each: whatever they quote (a Graph message, a file's cell, an
    argument) has its control characters escaped, so nothing can add lines, move the cursor
    or retitle the terminal."""
    sys.stderr.write("".join(escape_controls(line) + "\n" for line in lines))
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
