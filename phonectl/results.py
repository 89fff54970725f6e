"""What commands hand back: frozen results, each knowing its exit code, its JSON shape, its
tsv lines, its view for people (a table, a card or lines of text) and its messages for
stderr. render.show() turns any of them into any format; main() returns its exit code.

No printing here, and nothing to import that `--help` would pay for (json, datetime load when
a result is shown): a result is data and the shape of its output."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from phonectl.errors import ExitCode, Interrupted, PhonectlError, SignInRequired
from phonectl.layout import Column
from phonectl.phones import FIELDS, OnCard, UserRef, value_at
from phonectl.safe_output import OutputFailed
from phonectl.words import counted, shown

if TYPE_CHECKING:  # a Protocol class costs start-up time; only mypy needs this one
    from typing import Protocol

    from phonectl.apply.run import ApplyReport, ApplyStopped
    from phonectl.apply.run import RowResult as ApplyRow
    from phonectl.auth import AuthStatus, ProfileSummary
    from phonectl.lint import Finding

    class Result(Protocol):
        """Anything a command returns for render.show()."""

        @property
        def exit_code(self) -> ExitCode: ...

        def json(self) -> Any:
            """The JSON value; a list or an iterator is written one element a line."""

        def tsv(self) -> Iterable[Sequence[Any]]:
            """Rows of cells (escaped by the renderer), no header: for cut and awk."""

        def view(self) -> View: ...

        @property
        def notes(self) -> Sequence[str]:
            """Lines for stderr after the result (a summary, what was done)."""

        @property
        def problem(self) -> PhonectlError | None:
            """An error to report on stderr after the result (the result is still shown)."""


# -- views: what a person sees on stdout --------------------------------------------------


class Table(NamedTuple):
    """Rows under headers, fitted to the terminal (layout.format_table); `group`: the column
    that becomes a heading over its rows where the terminal is too narrow for all."""

    columns: tuple[Column, ...]
    rows: Iterable[Sequence[str]]
    group: int | None = None


class Card(NamedTuple):
    """One object as label/value pairs (layout.format_card); `whole`: the labels whose
    values are never wrapped (an id, a number)."""

    pairs: tuple[tuple[str, str], ...]
    whole: frozenset[str] = frozenset({"ID", "Number", "User", "Phone id"})


class Lines(NamedTuple):
    """Text as it is, a line each."""

    lines: tuple[str, ...]


class Nothing(NamedTuple):
    """Nothing on stdout; `message` (if any) says so on stderr."""

    message: str | None = None


View = Table | Card | Lines | Nothing


# -- phones ---------------------------------------------------------------------------------

# The list's columns, card lines and tsv cells: the rows of phones.FIELDS that have them. ID
# and number are what a person copies and dials: never cut; the rest goes first, the least
# telling last (and with it every one after: never Source kept and Display name not).
_TABLE_FIELDS = tuple(f for f in FIELDS if f.table is not None)
PHONE_COLUMNS = tuple(Column(str(f.label), *f.table) for f in _TABLE_FIELDS if f.table is not None)
_TSV_FIELDS = tuple(f for f in FIELDS if f.in_tsv)
_CARD_FIELDS = tuple(f for f in FIELDS if f.on_card is not None)


def _phone_tsv(item: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(f.text_in(item) for f in _TSV_FIELDS)


def _phone_cells(item: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(f.shown_in(item, brief=True) for f in _TABLE_FIELDS)


def _phone_card(item: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """A line a label; fields that share a label (the parts of inference) share its line;
    a field shown only when set drops out when it is not."""
    lines: dict[str, list[str]] = {}
    for field in _CARD_FIELDS:
        if field.on_card is OnCard.when_set and value_at(item, field.name) is None:
            continue
        lines.setdefault(str(field.label), []).append(field.shown_in(item))
    return tuple((label, ", ".join(parts)) for label, parts in lines.items())


class PhoneList(NamedTuple):
    """`list`: a user's itemPhones as Graph returned them."""

    phones: Sequence[Mapping[str, Any]]
    exit_code: ExitCode = ExitCode.OK
    notes: tuple[str, ...] = ()
    problem: PhonectlError | None = None

    def json(self) -> Any:
        return list(self.phones)

    def tsv(self) -> Iterable[Sequence[Any]]:
        return map(_phone_tsv, self.phones)

    def view(self) -> View:
        if not self.phones:
            return Nothing("no phones")
        return Table(PHONE_COLUMNS, map(_phone_cells, self.phones))


class PhoneShown(NamedTuple):
    """`get`, `add`, `update`: one itemPhone; json is Graph's object exactly as returned."""

    phone: Mapping[str, Any]
    exit_code: ExitCode = ExitCode.OK
    notes: tuple[str, ...] = ()
    problem: PhonectlError | None = None

    def json(self) -> Any:
        return self.phone

    def tsv(self) -> Iterable[Sequence[Any]]:
        return [_phone_tsv(self.phone)]

    def view(self) -> View:
        return Card(_phone_card(self.phone))


class PhoneDeleted(NamedTuple):
    """`delete`: which phone of whom; for people the message on stderr is the result."""

    phone_id: str
    user: UserRef
    exit_code: ExitCode = ExitCode.OK
    problem: PhonectlError | None = None

    def json(self) -> Any:
        return {"id": self.phone_id, "user": self.user.ref, "deleted": True}

    def tsv(self) -> Iterable[Sequence[Any]]:
        return [(self.phone_id, "deleted")]

    def view(self) -> View:
        return Nothing()

    @property
    def notes(self) -> Sequence[str]:
        return (f"deleted phone {self.phone_id} of {self.user.ref or 'the signed-in user'}",)


class RequestPlanned(NamedTuple):
    """--dry-run of add/update/delete: the request that would have been sent."""

    method: str
    url: str
    body: Any
    exit_code: ExitCode = ExitCode.OK
    notes: tuple[str, ...] = ("dry run: nothing was sent",)
    problem: PhonectlError | None = None

    def json(self) -> Any:
        return {"method": self.method, "url": self.url, "body": self.body}

    def tsv(self) -> Iterable[Sequence[Any]]:
        import json

        body = "" if self.body is None else json.dumps(self.body, ensure_ascii=False)
        return [(self.method, self.url, body)]

    def view(self) -> View:
        import json

        lines = [f"{self.method} {self.url}"]
        if self.body is not None:
            lines += json.dumps(self.body, indent=2, ensure_ascii=False).splitlines()
        return Lines(tuple(lines))


class SetPlanned(NamedTuple):
    """`set --dry-run`: what set would do to the user's phone of the type, old -> new."""

    outcome: str  # would-update, would-add, unchanged
    phone_id: str | None
    user: str
    changes: tuple[tuple[str, Any, Any], ...]  # field, old, new
    request: Mapping[str, Any] | None  # method, url, body; None: nothing would be sent
    exit_code: ExitCode = ExitCode.OK
    notes: tuple[str, ...] = ("dry run: nothing was sent",)
    problem: PhonectlError | None = None

    def json(self) -> Any:
        return {
            "result": self.outcome,
            "user": self.user or None,
            "id": self.phone_id,
            "changes": [{"field": f, "old": old, "new": new} for f, old, new in self.changes],
            "request": self.request,
        }

    def tsv(self) -> Iterable[Sequence[Any]]:
        return [
            (self.outcome, self.phone_id, f, _json_text(old), _json_text(new))
            for f, old, new in self.changes
        ] or [(self.outcome, self.phone_id)]

    def view(self) -> View:
        whose = self.user or "the signed-in user"
        phone = f"phone {self.phone_id}" if self.phone_id else "a new phone"
        lines = [f"{self.outcome}: {phone} of {whose}"]
        for field, old, new in self.changes:
            if self.outcome == "would-add":
                lines.append(f"  {field}: {_json_text(new)}")
            else:
                lines.append(f"  {field}: {_json_text(old)} -> {_json_text(new)}")
        return Lines(tuple(lines))


def _json_text(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


# -- auth -------------------------------------------------------------------------------------


class AuthReport(NamedTuple):
    """`auth status`: the facts on stdout; exit 3 (and the problem on stderr) when no token
    can be had without a person."""

    status: AuthStatus
    notes: tuple[str, ...] = ()

    def _facts(self) -> dict[str, Any]:
        from datetime import UTC, datetime

        status = self.status
        expires = (
            datetime.fromtimestamp(status.expires_on, UTC).isoformat(timespec="seconds")
            if status.expires_on
            else None
        )
        return {
            "account": status.account,
            "tenant": status.tenant,
            "cloud": status.cloud,
            "clientId": status.client_id,
            "scopes": list(status.scopes),
            "tokenSource": status.token_source,
            "accessTokenExpires": expires,
            "cache": status.cache,
            "usable": status.problem is None,
        }

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.status.problem is None else ExitCode.SIGN_IN

    @property
    def problem(self) -> PhonectlError | None:
        if self.status.problem is None:
            return None
        return SignInRequired(
            self.status.problem, hint=self.status.hint or "run 'phonectl auth login'"
        )

    def json(self) -> Any:
        return {**self._facts(), "problem": self.status.problem}

    def tsv(self) -> Iterable[Sequence[Any]]:
        for name, value in self._facts().items():
            yield name, ",".join(value) if isinstance(value, list) else value

    def view(self) -> View:
        """In words, like a phone's card; `-o json` keeps the keys scripts read."""
        status = self.status
        facts = self._facts()
        source = {
            "env": "PHONECTL_ACCESS_TOKEN",
            "cache": "the token cache",
            "refresh": "the token cache, just refreshed",
            "sign-in": "a sign-in just now",
            "sandbox": "the sandbox (no sign-in)",
        }.get(str(status.token_source), "none")
        expires = str(facts["accessTokenExpires"] or "").replace("T", " ").replace("+00:00", " UTC")
        usable = "yes" if status.problem is None else "no: a person must sign in"
        pairs = (
            ("Account", status.account or "-"),
            ("Tenant", status.tenant),
            ("Cloud", status.cloud),
            ("Client id", status.client_id or "-"),
            ("Scopes", ", ".join(status.scopes)),
            ("Token from", source),
            ("Token expires", expires or "-"),
            ("Cache", status.cache),
            ("Unattended", usable),
        )
        return Card(pairs)


PROFILE_COLUMNS = (
    Column("Profile", 0),
    Column("Default", 0),
    Column("Account", 0),
    Column("Tenant", 2),
    Column("Cloud", 3),
    Column("Unattended", 1, wraps=True),
)


class ProfileList(NamedTuple):
    """`auth list`: every remembered sign-in."""

    profiles: Sequence[ProfileSummary]
    exit_code: ExitCode = ExitCode.OK
    notes: tuple[str, ...] = ()
    problem: PhonectlError | None = None

    def json(self) -> Any:
        return [
            {
                "name": p.name,
                "account": p.account,
                "tenant": p.tenant,
                "cloud": p.cloud,
                "default": p.default,
                "unattended": p.unattended,
                "unattendedReason": p.how,
            }
            for p in self.profiles
        ]

    def tsv(self) -> Iterable[Sequence[Any]]:
        for p in self.profiles:
            yield p.name, p.account, p.tenant, p.cloud, p.default, p.unattended

    def view(self) -> View:
        rows = (
            (
                p.name,
                "*" if p.default else "",
                p.account or "-",
                p.tenant,
                p.cloud,
                f"{shown(p.unattended)} ({p.how})",
            )
            for p in self.profiles
        )
        return Table(PROFILE_COLUMNS, rows)


class Said(NamedTuple):
    """A command whose whole result is what it says on stderr (auth login and logout,
    sandbox reset, export): nothing on stdout in any format."""

    messages: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    exit_code: ExitCode = ExitCode.OK
    problem: PhonectlError | None = None

    def json(self) -> Any:
        return None  # nothing to print

    def tsv(self) -> Iterable[Sequence[Any]]:
        return ()

    def view(self) -> View:
        return Nothing()

    @property
    def notes(self) -> Sequence[str]:
        return (*(f"warning: {w}" for w in self.warnings), *self.messages)


# -- apply -------------------------------------------------------------------------------------

# The person is the point of the review: User is never cut, and where the terminal is too
# narrow it becomes a heading over that user's rows.
APPLY_COLUMNS = (
    Column("Line", 0),
    Column("User", 0),
    Column("Phone id", 0),
    Column("Result", 0),
    # What will change (or did), or why the row failed: the reason to look at all.
    Column("Details", 1, wraps=True),
)


class ApplyResult(NamedTuple):
    """`apply`: one result per row (each change as old -> new), a summary on stderr; when
    interrupted, every row settled before the interrupt, and its exit code (130, 143)."""

    report: ApplyReport
    interrupted: Interrupted | None = None

    @property
    def exit_code(self) -> ExitCode:
        if self.interrupted is not None:
            return self.interrupted.exit_code
        if self.problem is not None:
            return self.problem.exit_code
        return self.report.exit_code

    problem: PhonectlError | None = None

    def json(self) -> Any:
        return map(_apply_row_json, self.report.results)

    def tsv(self) -> Iterable[Sequence[Any]]:
        for r in self.report.results:
            yield r.line, r.user.shown(), r.phone_id, r.outcome.value, _changes(r), r.error

    def view(self) -> View:
        rows = (
            (
                str(r.line) if r.line else "-",
                r.user.shown() or "(signed-in user)",
                r.phone_id or "",
                r.outcome.value,
                r.error or _changes(r),
            )
            for r in self.report.results
        )
        return Table(APPLY_COLUMNS, rows, group=1)

    @property
    def notes(self) -> Sequence[str]:
        from phonectl.apply.plan import Outcome

        report = self.report
        counts = report.outcomes
        summary = ", ".join(f"{counts[o]} {o.value}" for o in Outcome if counts[o])
        tail = " (dry run: nothing written)" if report.dry_run else ""
        if not report.complete and counts[Outcome.not_sent]:
            # (A run stopped once every row had its result, by a reader gone at the last
            # round, left nothing unsent: no such words then.)
            tail += "; stopped before the end: not-sent rows were never sent"
        if counts[Outcome.unknown]:
            tail += "; unknown: sent, but no answer says whether Graph did it (check first)"
        notes = [
            f"apply: {counted(report.rows, 'row')}: {summary or 'none'}; "
            f"{counted(report.writes_sent, 'write')} in "
            f"{counted(report.requests_sent, 'HTTP request')}{tail}"
        ]
        if report.overridden_total:
            named = ", ".join(
                f"line {later}'s {name} over line {earlier}'s"
                for earlier, later, name in report.overridden
            )
            more = report.overridden_total - len(report.overridden)
            notes.append(
                f"the file sets one phone's value twice, differently, in "
                f"{counted(report.overridden_total, 'row')} ({named}"
                f"{f', and {more} more' if more else ''}): rows apply in file order, so the "
                "later row wins and a rerun reports the earlier one unchanged"
            )
        if report.prune_kept:
            notes.append(
                f"--prune kept {counted(report.prune_kept, 'phone')} that no row wants, which "
                "a backup could not add back (a type or audience only Graph's newer clients "
                "write, or a number that is none); change or delete with update or delete"
            )
        if self.interrupted is not None:
            notes.append(self.interrupted.word)
        elif counts[Outcome.failed] and not report.dry_run:
            notes.append(
                "hint: run the same command again once the cause is fixed: it does only what "
                "is left"
            )
        return notes


def apply_result(report: ApplyReport) -> ApplyResult:
    """A finished run's result: a dry run's plan that a real run would refuse is an error."""
    from phonectl.errors import InvalidInput

    if report.refusal is None:
        return ApplyResult(report)
    return ApplyResult(report, problem=InvalidInput(report.refusal))


def stopped_apply_result(stop: ApplyStopped) -> ApplyResult:
    """The report of a run that stopped, and why: an interrupt keeps its own exit code;
    an error its own, but never 2 ("nothing was sent") once a write went out."""
    cause = stop.cause
    if isinstance(cause, KeyboardInterrupt):
        cause = Interrupted()
    if isinstance(cause, Interrupted):
        return ApplyResult(stop.report, cause)
    if isinstance(cause, OutputFailed):  # the report cannot be delivered: main() says so
        return ApplyResult(stop.report)
    if isinstance(cause, PhonectlError):
        problem = cause
    elif isinstance(cause, OSError):
        problem = PhonectlError(f"{cause.strerror or cause}: {cause.filename or ''}".rstrip(": "))
    else:
        problem = PhonectlError(
            f"unexpected internal error: {type(cause).__name__}: {cause}",
            hint="run again with --debug for a traceback, and report it",
        )
    if stop.report.writes_sent and problem.exit_code is ExitCode.USAGE:
        problem.exit_code = ExitCode.FAILED
    return ApplyResult(stop.report, problem=problem)


def _apply_row_json(r: ApplyRow) -> dict[str, Any]:
    return {
        "line": r.line,
        "user": r.user.ref,
        "id": r.phone_id,
        "result": r.outcome.value,
        "changed": [c.field for c in r.changes],
        "changes": [{"field": c.field, "old": c.old, "new": c.new} for c in r.changes],
        "error": r.error,
    }


def _changes(r: ApplyRow) -> str:
    """Each change as `field: old -> new` (values as JSON, so '' and null differ); a new
    phone's values as `field: new`, a deleted one's as `field: old`."""
    import json

    def value(v: Any) -> str:
        return json.dumps(v, ensure_ascii=False)

    # Outcome is a str enum: its values spare `update` and `list` importing apply's modules.
    if r.outcome in ("added", "would-add"):
        return ", ".join(f"{c.field}: {value(c.new)}" for c in r.changes)
    if r.outcome in ("deleted", "would-delete"):
        verb = "deleted" if r.outcome == "deleted" else "would delete"
        return f"{verb} " + ", ".join(f"{c.field}: {value(c.old)}" for c in r.changes)
    return ", ".join(f"{c.field}: {value(c.old)} -> {value(c.new)}" for c in r.changes)


# -- lint ----------------------------------------------------------------------------------------

# Numbers are what a person copies and dials: never cut. Then who holds it and what is wrong;
# the phone's id (whole or not at all: json and tsv always carry it) and the details go
# first at narrow widths.
LINT_COLUMNS = (
    Column("User", 1, wraps=True),
    Column("Phone", 3),  # its id; for an apply file, its line
    Column("Number", 0),
    Column("Problem", 2),
    Column("Suggested", 0),
    Column("Details", 4, wraps=True),
)


class LintResult(NamedTuple):
    """`lint`: one finding a line (user, phone id or the file's line, number, problem,
    suggested number); exit 1 when there is any, 0 when every number is clean."""

    findings: Sequence[Finding]
    summary: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # users whose phones could not be read
    # When reads failed: their code (3, 4, 5 or 6 when every read failed for that one
    # cause, else 1), so a sign-in problem is not taken for findings.
    read_failure: ExitCode | None = None
    problem: PhonectlError | None = None

    @property
    def exit_code(self) -> ExitCode:
        if self.read_failure is not None:
            return self.read_failure
        return ExitCode.FAILED if self.findings else ExitCode.OK

    def json(self) -> Any:
        return [
            {
                "user": f.held.user.ref,
                "id": f.held.phone_id,
                "line": f.held.line,
                "number": f.held.number,
                "problem": f.problem.value,
                "suggested": f.suggested,
                "fixable": f.fixable,
                "message": f.message,
            }
            for f in self.findings
        ]

    def tsv(self) -> Iterable[Sequence[Any]]:
        for f in self.findings:
            yield (
                f.held.user.shown(),
                _lint_where(f),
                f.held.number,
                f.problem.value,
                f.suggested,
                f.message,
            )

    def view(self) -> View:
        if not self.findings:
            if self.read_failure is not None:
                return Nothing("no findings among the numbers read; some could not be read")
            return Nothing("no findings: every number parses, is valid and is in format")
        rows = (
            (
                f.held.user.shown() or "(signed-in user)",
                _lint_where(f),
                f.held.number,
                f.problem.value,
                f.suggested or "",
                f.message,
            )
            for f in self.findings
        )
        return Table(LINT_COLUMNS, rows)

    @property
    def notes(self) -> Sequence[str]:
        return (*(f"warning: {w}" for w in self.warnings), *self.summary)


def _lint_where(f: Finding) -> str:
    """Which phone: its id when read from Graph, its line in an apply file."""
    if f.held.line is not None:
        return f"line {f.held.line}"
    return f.held.phone_id or ""
