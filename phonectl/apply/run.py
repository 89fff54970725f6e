"""apply against Graph: resolve the file's users to ids, read their phones, plan, send the
writes through $batch, and build each row's result once, from the plan and Graph's answers.

A POST whose fate is unknown (the batch or item failed with 5xx or no answer) is never
resent blindly: the user's phones are read again, and the phone is added only if it is
still missing. An interrupt (Ctrl-C, SIGTERM) still reports every write already made."""

from __future__ import annotations

import itertools
import re
import sys
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any, NamedTuple, Protocol

from phonectl.apply.collection import collected_by_round, round_done
from phonectl.apply.plan import Change, Failure, Outcome, Plan, RowPlan, id_key, plan
from phonectl.apply.rows import Row, StoredRows
from phonectl.errors import ExitCode, GraphError, InvalidInput, PhonectlError
from phonectl.graph import BatchRequest, BatchResult, GraphClient, collection_page
from phonectl.phones import ENUM_PROPERTIES, FILE_FIELDS, UserRef, phones_path

# What planning, backups and exports read of a phone.
_KEPT = ("id", *(f.top_property for f in FILE_FIELDS))
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
# Codes that mean the same to every row: when all failures share one and nothing was
# written, apply exits with it, so cron can tell "sign in again" or "later" from "bad data".
_SHARED_REASON_CODES = frozenset({ExitCode.SIGN_IN, ExitCode.FORBIDDEN, ExitCode.TRY_LATER})


class RowResult(NamedTuple):
    line: int
    user: UserRef
    phone_id: str | None
    outcome: Outcome
    changes: tuple[Change, ...] = ()
    error: str | None = None
    exit_code: ExitCode = ExitCode.OK


# What a row's write came to: Graph answered 2xx (written), Graph answered that it did not
# (failed), or it was sent and no answer says which (unknown), or it never went out.
_WRITTEN = frozenset({Outcome.updated, Outcome.added, Outcome.deleted})
_NOT_DONE = frozenset({Outcome.failed, Outcome.unknown, Outcome.not_sent})


class Tally(NamedTuple):
    """Rows already handed on (written out) as their round settled: counted, not kept."""

    outcomes: Mapping[Outcome, int] = {}
    failure_codes: frozenset[ExitCode] = frozenset()  # of the rows not done


class ApplyReport(NamedTuple):
    results: tuple[RowResult, ...]  # the rows not handed on as they settled
    writes_sent: int
    requests_sent: int
    dry_run: bool
    complete: bool = True
    refusal: str | None = None  # a dry run's plan that a real run would refuse
    prune_kept: int = 0  # phones --prune left: a backup could not add them back
    handed_on: Tally = Tally()
    # (earlier line, later line, property) where the file set one phone's property twice,
    # to different values (the first few), and how many such rows in all.
    overridden: tuple[tuple[int, int, str], ...] = ()
    overridden_total: int = 0

    @property
    def outcomes(self) -> Counter[Outcome]:
        """How many rows came to each outcome, those handed on included."""
        counts = Counter(self.handed_on.outcomes)
        counts.update(r.outcome for r in self.results)
        return counts

    @property
    def rows(self) -> int:
        return len(self.results) + sum(self.handed_on.outcomes.values())

    @property
    def written(self) -> int:
        outcomes = self.outcomes
        return sum(outcomes[o] for o in _WRITTEN)

    @property
    def exit_code(self) -> ExitCode:
        if self.refusal is not None:
            return ExitCode.USAGE
        failures = {r.exit_code for r in self.results if r.outcome in _NOT_DONE}
        failures |= self.handed_on.failure_codes
        if not failures:
            return ExitCode.OK
        if len(failures) == 1 and not self.written and failures <= _SHARED_REASON_CODES:
            return failures.pop()
        return ExitCode.FAILED


class ApplyStopped(BaseException):
    """The run stopped before its end (Ctrl-C, SIGTERM, an error, a backup that could not
    be written): `report` holds every row, each written, failed, unknown or not sent."""

    def __init__(self, report: ApplyReport, cause: BaseException) -> None:
        super().__init__("stopped")
        self.report = report
        self.cause = cause


@contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait (in the main thread) until the block is done: while it runs
    their handlers only note them, and the first noted is passed on after it. (Blocking
    them in this thread's signal mask would not do: the kernel hands a process's signal to
    any thread that does not block it, an HTTP worker's, and Python then runs the handler
    in the main thread all the same, in the middle of the block.)"""
    import os
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []

    def note(signum: int, frame: object) -> None:
        noted.append(signum)

    held = (signal.SIGINT, signal.SIGTERM)
    previous: dict[int, Any] = {signum: signal.signal(signum, note) for signum in held}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if noted:
            handler = previous[noted[0]]
            if callable(handler):
                handler(noted[0], None)  # phonectl's: raises Interrupted or Terminated
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), noted[0])


def ignore_signals() -> None:
    """From now on SIGINT and SIGTERM are ignored (cli.main puts its handlers back)."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)


def failure_of(error: PhonectlError) -> Failure:
    """A Graph error (status, code, message) as one line for a row result, with its code."""
    prefix = ""
    if isinstance(error, GraphError):
        prefix = f"{error.status} {error.code}: " if error.code else f"{error.status}: "
    return Failure(prefix + error.message, error.exit_code)


class Before(NamedTuple):
    """What the plan is about to change: each touched user's phones as Graph holds them
    (an empty list for a user who has none)."""

    owners: dict[str, UserRef]
    phones: dict[str, list[dict[str, Any]]]


class BackupSink(Protocol):
    """Where --backup keeps what the run will change: it hears each round's Before, then,
    once every round has been heard and before the first write, complete()."""

    def __call__(self, before: Before) -> None: ...

    def complete(self) -> None: ...


# A round is planned and written at a time: memory holds one round's rows, phones, plan and
# results, not the whole file's (a 1,000,000-row dry run peaked at 726 MB when it kept
# them all), and each round still fills $batch requests (50 reads, 500 writes of 20). A
# round holds whole users (a user's rows are never split: each is planned against all its
# phones), USERS_PER_ROUND of them or ROWS_PER_ROUND rows. Results are handed on round by
# round: in file order where the file keeps each user's rows together, else grouped by
# round, each under its line number (the whole report, when kept, is in file order).
USERS_PER_ROUND = 1000
ROWS_PER_ROUND = 10_000
# Rows that set a value an earlier row set otherwise, named in the report (the rest counted).
_OVERRIDDEN_SHOWN = 3

# Rows unpacked at a time to report rows that were never sent (a run stopped early).
_UNSENT_CHUNK = 10_000


class _Round(NamedTuple):
    start: int  # rows start to stop of the file (StoredRows indices)
    stop: int
    owners: dict[str, UserRef]


class Approval(NamedTuple):
    """How many phones of how many users --prune is about to delete, before any is."""

    phones: int
    users: int


class _Progress:
    """Where the run is: what is settled, and the round under way (its plan, which of its
    writes went out, Graph's answers). From it, at any moment, the report of every row."""

    def __init__(
        self,
        client: GraphClient | None,
        rows: StoredRows,
        dry_run: bool,
        on_results: Callable[[Sequence[RowResult]], None] | None = None,
    ) -> None:
        self.client = client
        self.stored = rows
        self.dry_run = dry_run
        self.on_results = on_results
        self.done: list[RowResult] = []  # rows settled and kept (no on_results)
        self.pruned: list[RowResult] = []  # reported after the file's rows
        self.outcomes: Counter[Outcome] = Counter()  # of the rows handed on
        self.failure_codes: set[ExitCode] = set()
        self.writes_sent = 0
        self.rounds: deque[_Round] = deque()
        self.settled = 0  # rows 0 to `settled` of the file have their result
        self.current: _Round | None = None
        self.rows: list[Row] = []  # the current round's
        self.plan: Plan | None = None
        self.sent: set[str] = set()  # write keys that may have reached Graph
        self.answers: dict[str, BatchResult | Failure] = {}
        self.refusal: str | None = None
        self.prune_kept = 0
        self.overridden: list[tuple[int, int, str]] = []  # the first few
        self.overridden_total = 0
        self.stopping = False  # the run stopped early: only its report is being made

    def note_overridden(self, pairs: Sequence[tuple[int, int, str]]) -> None:
        self.overridden_total += len(pairs)
        self.overridden += pairs[: _OVERRIDDEN_SHOWN - len(self.overridden)]

    def settle_round(self) -> None:
        """The round under way is over: each of its rows' results is kept (whole: no signal
        lands halfway, which would report some rows twice or not at all)."""
        with signals_held():
            self._settle_round()

    def _settle_round(self) -> None:
        settled: list[RowResult] = []
        if self.plan is not None:
            self.writes_sent += len(self.sent)
            for row_plan in self.plan.rows:
                result = _row_result(row_plan, self.answers, self.sent, self.dry_run)
                (self.pruned if row_plan.prunes else settled).append(result)
        elif self.current is not None:
            settled = [_not_sent(row) for row in self.rows]
        if self.current is not None:
            self.settled = self.current.stop
        self.current, self.plan, self.rows = None, None, []
        self.sent, self.answers = set(), {}
        self.hand_on(settled)

    def hand_on(self, results: list[RowResult]) -> None:
        """Settled rows of the file, in file order: to on_results (counted, not kept), or
        kept for the report."""
        if self.on_results is None:
            self.done += results
            return
        self.outcomes.update(r.outcome for r in results)
        self.failure_codes.update(r.exit_code for r in results if r.outcome in _NOT_DONE)
        if not self.stopping:
            self.on_results(results)
            return
        # The run has stopped, for whatever reason: its report is counted whole, and an
        # output that fails now (a reader gone) keeps its own failure for show() to report.
        with suppress(OSError):
            self.on_results(results)

    def report(self, *, complete: bool = True) -> ApplyReport:
        if not complete:
            self.stopping = True
            self.settle_round()
            # Every row not yet settled was never sent: unpacked a stretch at a time.
            self.rounds = deque()
            while self.settled < len(self.stored):
                stop = min(self.settled + _UNSENT_CHUNK, len(self.stored))
                unplanned = self.stored.rows(self.settled, stop)
                self.settled = stop
                self.hand_on([_not_sent(row) for row in unplanned])
        done = sorted(self.done, key=_line) if self.stored.regrouped else self.done
        return ApplyReport(
            (*done, *self.pruned),
            self.writes_sent,
            0 if self.client is None else self.client.requests_sent,
            self.dry_run,
            complete,
            self.refusal,
            self.prune_kept,
            Tally(dict(self.outcomes), frozenset(self.failure_codes)),
            tuple(self.overridden),
            self.overridden_total,
        )


def unsent(
    client: GraphClient | None,
    rows: StoredRows,
    dry_run: bool,
    on_results: Callable[[Sequence[RowResult]], None] | None = None,
) -> ApplyReport:
    """The report of a run stopped before it began: every row not sent."""
    return _Progress(client, rows, dry_run, on_results).report(complete=False)


def apply_rows(
    client: GraphClient,
    rows: StoredRows,
    *,
    dry_run: bool,
    prune: bool = False,
    max_deletes: int | None = None,
    before_writes: BackupSink | None = None,
    approve: Callable[[Approval], None] | None = None,
    on_settled: Callable[[int, int], None] = lambda rows, failed: None,
    on_results: Callable[[Sequence[RowResult]], None] | None = None,
    check_deliverable: Callable[[], None] = lambda: None,
) -> ApplyReport:
    """Bring Graph in line with the rows, a round at a time (a user's rows all in one
    round, so each is planned as before against all its phones). `on_settled(n, failed)`:
    n more rows are done, `failed` of them failed. `before_writes` (--backup) hears the
    phones every round will change, and is complete, before the first write: with several
    rounds, a first pass reads and plans each round for it (and for --prune's count) and
    the writing pass reads each again. `max_deletes` holds over the running total of
    deletes of the whole run; with several rounds they are also counted before the first
    write, and `approve` (the --prune question) hears that count then.

    `on_results` hears each round's results, in file order, as the round settles (and the
    rows never sent, when the run stops early): they are counted in the report, not kept
    in it. Without it every result is kept. Phones --prune deletes are kept either way:
    the report lists them after the file's rows.

    `check_deliverable()` raises when the report can no longer be delivered (stdout's reader
    has gone): it is asked before each batch of writes goes out, so none goes out then.

    Whatever stops the run (an interrupt, an error) raises ApplyStopped with the report of
    every row: nothing is lost from it, and no batch goes out after it is made."""
    progress = _Progress(client, rows, dry_run, on_results)
    try:
        with collected_by_round():
            _run(
                client,
                progress,
                prune,
                max_deletes,
                before_writes,
                approve,
                on_settled,
                check_deliverable,
            )
        ignore_signals()  # every write is done: the report is printed whole
    except BaseException as exc:
        ignore_signals()  # a second Ctrl-C must not cut the report short
        client.stop()  # no batch leaves after this: the report is the truth
        raise ApplyStopped(progress.report(complete=False), exc) from None
    return progress.report()


def _run(
    client: GraphClient,
    progress: _Progress,
    prune: bool,
    max_deletes: int | None,
    before_writes: BackupSink | None,
    approve: Callable[[Approval], None] | None,
    on_settled: Callable[[int, int], None],
    check_deliverable: Callable[[], None],
) -> None:
    stored = progress.stored
    user_keys, owners = resolve_users(client, stored.users)
    progress.rounds = deque(_rounds(stored, user_keys, owners))  # each dropped once done
    dry_run = progress.dry_run
    several = len(progress.rounds) > 1
    limit = _DeleteLimit(max_deletes, dry_run)
    backed_up = False
    if several and not dry_run and (prune or before_writes is not None):
        _first_pass(client, progress, user_keys, prune, limit, before_writes, approve)
        backed_up = before_writes is not None
    while progress.rounds:
        this_round = progress.rounds[0]
        rows = stored.rows(this_round.start, this_round.stop)
        with signals_held():
            progress.current, progress.rows = progress.rounds.popleft(), rows
        phones = read_phones(client, this_round.owners)
        the_plan = plan(rows, user_keys, phones, this_round.owners, prune=prune)
        if prune and not several and not dry_run:
            _approve(limit, approve, _deletes(the_plan), _delete_users(the_plan))
        # The running total: no read that failed (or changed) in the count lets more by.
        progress.refusal = limit.take(_deletes(the_plan)) or progress.refusal
        progress.plan = the_plan
        progress.prune_kept += the_plan.prune_kept
        progress.note_overridden(the_plan.overridden)
        if before_writes is not None and not dry_run and not backed_up:
            _back_up(before_writes, the_plan, phones, this_round.owners)
            before_writes.complete()
            backed_up = True
        del phones  # the plan has what the writes need
        planned_failures = sum(1 for r in the_plan.rows if r.failure is not None)
        if dry_run or not the_plan.writes:
            on_settled(len(rows), planned_failures)
        else:
            on_settled(sum(1 for r in the_plan.rows if r.write_key is None), planned_failures)
            _send(client, the_plan, progress, on_settled, check_deliverable)
        progress.settle_round()
        del this_round, the_plan, rows  # before the next round's rows are unpacked
        round_done()


def _first_pass(
    client: GraphClient,
    progress: _Progress,
    user_keys: Mapping[UserRef, str | Failure],
    prune: bool,
    limit: _DeleteLimit,
    before_writes: BackupSink | None,
    approve: Callable[[Approval], None] | None,
) -> None:
    """Before anything is written to a run of several rounds: each round read and planned,
    its deletes counted (--prune: refused or asked now) and the phones it will change kept
    in the backup, which is then complete. Reading twice is the price of both. Each round's
    rows are unpacked, planned, counted and backed up, then dropped again."""
    deletes = delete_users = 0
    for r in progress.rounds:
        rows = progress.stored.rows(r.start, r.stop)
        phones = read_phones(client, r.owners)
        counted = plan(rows, user_keys, phones, r.owners, prune=prune)
        deletes += _deletes(counted)
        delete_users += _delete_users(counted)
        if before_writes is not None:
            _back_up(before_writes, counted, phones, r.owners)
        del rows, phones, counted
        round_done()
    if prune:
        _approve(limit, approve, deletes, delete_users)
    if before_writes is not None:
        before_writes.complete()


def _back_up(
    before_writes: BackupSink,
    the_plan: Plan,
    phones: Mapping[str, list[dict[str, Any]] | Failure],
    owners: dict[str, UserRef],
) -> None:
    """The phones of the users the plan writes to, as Graph holds them, to the backup."""
    touched = dict.fromkeys(w.user_key for w in the_plan.writes)  # in file order
    if touched:
        before_writes(
            Before(
                {key: owners[key] for key in touched},
                {key: found for key in touched if isinstance(found := phones[key], list)},
            )
        )


class _DeleteLimit:
    """--max-deletes over the running total of the run's deletes."""

    def __init__(self, limit: int | None, dry_run: bool) -> None:
        self.limit, self.dry_run, self.total = limit, dry_run, 0

    def check(self, deletes: int) -> None:
        if self.limit is not None and deletes > self.limit and not self.dry_run:
            raise InvalidInput(
                f"--prune would delete {deletes} phones, more than --max-deletes "
                f"{self.limit}; nothing more was sent",
                hint="check the file (a missing column or user?), or raise --max-deletes",
            )

    def take(self, deletes: int) -> str | None:
        """Count a round's deletes in; a dry run's refusal (a real run raises)."""
        self.total += deletes
        self.check(self.total)
        if self.limit is not None and self.total > self.limit:
            return (
                f"--prune would delete {self.total} phones, more than --max-deletes "
                f"{self.limit}: a real run would refuse and write nothing"
            )
        return None


def _approve(
    limit: _DeleteLimit, approve: Callable[[Approval], None] | None, phones: int, users: int
) -> None:
    limit.check(phones)
    if approve is not None and phones:
        approve(Approval(phones, users))


def _delete_users(the_plan: Plan) -> int:
    return len({w.user_key for w in the_plan.writes if w.method == "DELETE"})


def _line(result: RowResult) -> int:
    return result.line


def _rounds(
    rows: StoredRows, user_keys: Mapping[UserRef, str | Failure], owners: dict[str, UserRef]
) -> list[_Round]:
    """The file cut into rounds of whole users: up to USERS_PER_ROUND users (in the order
    the file first names them) and, but for a user with more, ROWS_PER_ROUND rows. A user's
    rows are never split (each is planned against all its phones, and --prune must see
    them all). Users are told apart by identity (two spellings of one person are one user);
    a user that could not be resolved, by its spelling. Where the file does not keep each
    round's rows together (sorted by type, say, or with rows added at its end), the rows are
    regrouped, so that a round is always one stretch of them."""
    numbers: dict[str | UserRef, int] = {}
    person = [
        numbers.setdefault(user if isinstance(key, Failure) else key, len(numbers))
        for user in rows.users
        for key in (user_keys[user],)
    ]
    rows_of = [0] * len(numbers)
    for u in rows.user_of:
        rows_of[person[u]] += 1
    keys: list[str | None] = [None] * len(numbers)
    for user, p in zip(rows.users, person, strict=True):
        key = user_keys[user]
        if keys[p] is None and not isinstance(key, Failure):
            keys[p] = key
    # Persons are numbered in the order the file first names them: a round is a run of them.
    round_of: list[int] = []
    members: list[list[int]] = [[]]
    sizes = [0]
    for p, count in enumerate(rows_of):
        if members[-1] and (
            len(members[-1]) >= USERS_PER_ROUND or sizes[-1] + count > ROWS_PER_ROUND
        ):
            members.append([])
            sizes.append(0)
        members[-1].append(p)
        sizes[-1] += count
        round_of.append(len(members) - 1)
    of_row = [round_of[person[u]] for u in rows.user_of]
    if any(later < earlier for earlier, later in itertools.pairwise(of_row)):
        rows.regroup(of_row, len(members))
    del of_row
    rounds: list[_Round] = []
    start = 0
    for group, size in zip(members, sizes, strict=True):
        if size:
            round_keys = (keys[p] for p in group)
            rounds.append(_Round(start, start + size, {k: owners[k] for k in round_keys if k}))
            start += size
    return rounds


def _deletes(the_plan: Plan) -> int:
    return sum(1 for w in the_plan.writes if w.method == "DELETE")


def resolve_users(
    client: GraphClient, users: Iterable[UserRef]
) -> tuple[dict[UserRef, str | Failure], dict[str, UserRef]]:
    """Each user reference's identity, and the reference to address each identity by.

    One person can be named several ways (her id, her principal name in any case, an empty
    cell for the signed-in user): when a file mixes those kinds, each name that is not an id
    is resolved to the id through $batch, so they all meet in one user. A file of one kind
    needs no lookups: principal names are unique, and so are ids."""
    distinct = list(dict.fromkeys(users))
    kinds = {_kind(user) for user in distinct}
    keys: dict[UserRef, str | Failure] = {}
    to_resolve = [u for u in distinct if len(kinds) > 1 and _kind(u) != "id"]
    for user in distinct:
        if user not in to_resolve:
            keys[user] = "me" if user.ref is None else user.ref.lower()
    if to_resolve:
        select = "?$select=id,userPrincipalName"
        lookups = [BatchRequest("GET", user.path + select) for user in to_resolve]
        for user, answer in zip(to_resolve, client.send_batch(lookups), strict=True):
            keys[user] = _resolved_id(client, user, answer)
    owners: dict[str, UserRef] = {}
    for user in distinct:  # in file order: the first spelling addresses the user
        key = keys[user]
        if not isinstance(key, Failure):
            owners.setdefault(key, user)
    return keys, owners


def _kind(user: UserRef) -> str:
    if user.ref is None:
        return "signed-in"
    return "id" if _GUID.fullmatch(user.ref) else "name"


def _kept(phone: Mapping[str, Any]) -> dict[str, Any]:
    """Only what planning, backups and exports use: at 50,000 phones the rest (identities,
    timestamps, sources) would be most of the memory. Enum-like values are shared."""
    kept = {k: phone[k] for k in _KEPT if k in phone}
    for name in ENUM_PROPERTIES:
        value = kept.get(name)
        if isinstance(value, str):
            kept[name] = sys.intern(value)
    return kept


def _resolved_id(client: GraphClient, user: UserRef, answer: BatchResult) -> str | Failure:
    if answer.error is not None:
        return failure_of(answer.error)
    user_id = answer.body.get("id") if isinstance(answer.body, dict) else None
    if not isinstance(user_id, str) or not user_id:
        return Failure(f"Graph answered the lookup of {user.shown() or 'me'} without an id")
    return user_id.lower()


def read_phones(
    client: GraphClient, owners: Mapping[str, UserRef]
) -> dict[str, list[dict[str, Any]] | Failure]:
    """Every phone of every user (all pages, through $batch), or why it could not be read."""
    phones: dict[str, list[dict[str, Any]]] = {key: [] for key in owners}
    failures: dict[str, Failure] = {}
    pending = [(key, BatchRequest("GET", phones_path(user))) for key, user in owners.items()]
    order = {key: n for n, key in enumerate(owners)}
    seen_links: set[str] = set()

    def read_round(pending: list[tuple[str, BatchRequest]]) -> list[tuple[str, BatchRequest]]:
        """One page of each pending user; the users' next pages."""
        next_pages: list[tuple[str, BatchRequest]] = []

        def take(index: int, answer: BatchResult) -> None:
            # Each page is slimmed as it arrives, never held whole.
            key, request = pending[index]
            try:
                if answer.error is not None:
                    raise answer.error
                items, next_link = collection_page(answer.body, request.url)
                phones[key].extend(map(_kept, items))
                if next_link:
                    client.check_next_link(next_link, seen_links)
                    next_pages.append((key, BatchRequest("GET", client.relative_url(next_link))))
            except PhonectlError as exc:
                failures[key] = failure_of(exc)

        client.send_batch([request for _, request in pending], on_result=take)
        # Answers come in any order; pages are asked for in the order the users were named.
        return sorted(next_pages, key=lambda page: order[page[0]])

    while pending:
        pending = read_round(pending)
    return {key: failures.get(key, phones[key]) for key in owners}


def _send(
    client: GraphClient,
    the_plan: Plan,
    progress: _Progress,
    on_settled: Callable[[int, int], None],
    check_deliverable: Callable[[], None],
) -> None:
    """Send every write once; answers by write key, filled in as Graph answers (an
    interrupt leaves them partly filled, and `progress.sent` says which may have gone out).
    An add of unknown fate is never sent again: the user's phones are read once more, and
    a phone found with every value it sent is the one it made; else it stays unknown."""
    writes = the_plan.writes
    # A POST's phone_id is None: its path is the user's collection.
    requests = [
        BatchRequest(w.method, phones_path(w.owner, w.phone_id), w.body or None) for w in writes
    ]
    sent, answers = progress.sent, progress.answers
    unknown: list[int] = []
    first_answers: dict[int, BatchResult] = {}

    def went_out(indices: Sequence[int]) -> None:
        check_deliverable()  # raising, it keeps this batch and every later one unsent
        sent.update(writes[i].key for i in indices)

    def settle(index: int, answer: BatchResult) -> None:
        write, fate = writes[index], write_fate(answer)
        if write.method == "POST" and fate is Outcome.unknown:
            unknown.append(index)
            first_answers[index] = answer
            return
        answers[write.key] = _slim(answer, write.method)
        on_settled(len(write.lines), len(write.lines) if fate is Outcome.failed else 0)

    client.send_batch(requests, on_result=settle, on_sent=went_out)
    if not unknown:
        return
    owners = {writes[i].user_key: writes[i].owner for i in unknown}
    fresh = read_phones(client, owners)
    for index in unknown:
        write = writes[index]
        made = _made_by(write.body, fresh[write.user_key], _known_ids(the_plan, write.user_key))
        answers[write.key] = (
            BatchResult(201, {"id": made["id"]}) if made else _unknown_add(first_answers[index])
        )
        on_settled(len(write.lines), 0)


def _unknown_add(answer: BatchResult) -> BatchResult:
    """An add of unknown fate that a second read did not find (yet): still unknown."""
    reason = "" if answer.error is None else failure_of(answer.error).reason + "; "
    return BatchResult(
        0,
        error=PhonectlError(
            f"{reason}the phone was not there when read again; run apply again later (it "
            "reads first, then adds it only if still missing)"
        ),
    )


def write_fate(answer: BatchResult) -> Outcome:
    """The one rule for what a write came to: `updated` (standing for written: Graph
    answered 2xx), `failed` (Graph answered that it did not do it: 4xx, 424/429 after the
    retries, a non-result status), or `unknown` (sent, and no answer says: no answer at
    all, a timeout, a dropped connection, a malformed answer, a 5xx; Graph may still
    carry it out)."""
    if answer.error is None and 200 <= answer.status < 300:
        return Outcome.updated
    if answer.status == 0:  # no answer of its own: the batch as a whole failed
        status = getattr(answer.error, "status", 0) or 0
        return Outcome.failed if 400 <= status < 500 else Outcome.unknown
    return Outcome.failed if answer.status < 500 else Outcome.unknown


def _slim(answer: BatchResult, method: str) -> BatchResult:
    """An answer as the result needs it: an added phone's id, never a whole phone."""
    status, body, error = answer  # built anew: NamedTuple._replace costs 7 us a call
    if method == "POST" and isinstance(body, dict) and "id" in body:
        return BatchResult(status, {"id": body["id"]}, error)
    return BatchResult(status, None, error)


def _known_ids(the_plan: Plan, user_key: str) -> set[str]:
    return {id_key(r.phone_id) for r in the_plan.rows if r.user_key == user_key and r.phone_id}


def _made_by(
    body: Mapping[str, Any], phones: list[dict[str, Any]] | Failure, known: set[str]
) -> dict[str, Any] | None:
    """A phone that was not there before the run and has every property the add sent."""
    if isinstance(phones, Failure):
        return None
    for phone in phones:
        if id_key(phone.get("id")) in known:
            continue
        if all(phone.get(name) == value for name, value in body.items()):
            return phone
    return None


def _row_result(
    planned: RowPlan,
    answers: Mapping[str, BatchResult | Failure],
    sent: set[str],
    dry_run: bool,
) -> RowResult:
    """The row's result, from its plan and its write's fate (write_fate)."""
    row = planned.row
    if planned.failure is not None:
        return _failed(row, planned.phone_id, planned.failure)
    if planned.write_key is None:
        return RowResult(row.line, row.user, planned.phone_id, Outcome.unchanged)
    if dry_run:
        outcome = (
            Outcome.would_delete
            if planned.prunes
            else Outcome.would_add
            if planned.adds
            else Outcome.would_update
        )
        return RowResult(row.line, row.user, planned.phone_id, outcome, planned.changes)
    answer = answers.get(planned.write_key)
    if answer is None:
        if planned.write_key in sent:  # it went out; the run stopped before the answer
            why = "sent, no answer before the run stopped: check before rerunning"
            return _unknown(row, planned, why, ExitCode.FAILED)
        return _not_sent(row, planned.phone_id, planned.changes)
    if isinstance(answer, Failure):
        return _failed(row, planned.phone_id, answer)
    fate = write_fate(answer)
    if fate is not Outcome.updated:
        assert answer.error is not None
        problem = failure_of(answer.error)
        if fate is Outcome.failed:
            return _failed(row, planned.phone_id, problem)
        why = f"{problem.reason} (Graph may have done it: check before rerunning)"
        return _unknown(row, planned, why, problem.exit_code)
    if planned.prunes:
        return RowResult(row.line, row.user, planned.phone_id, Outcome.deleted, planned.changes)
    if not planned.adds:
        return RowResult(row.line, row.user, planned.phone_id, Outcome.updated, planned.changes)
    new_id = answer.body.get("id") if isinstance(answer.body, dict) else None
    if not isinstance(new_id, str):
        return RowResult(
            row.line,
            row.user,
            None,
            Outcome.unknown,
            planned.changes,
            f"Graph answered the add with {answer.status} and no new phone; run apply "
            "again to check whether it was made",
            ExitCode.FAILED,
        )
    return RowResult(row.line, row.user, new_id, Outcome.added, planned.changes)


def _not_sent(row: Row, phone_id: str | None = None, changes: tuple[Change, ...] = ()) -> RowResult:
    return RowResult(
        row.line,
        row.user,
        phone_id or row.phone_id,
        Outcome.not_sent,
        changes,
        None,
        ExitCode.FAILED,
    )


def _unknown(row: Row, planned: RowPlan, why: str, exit_code: ExitCode) -> RowResult:
    """A row whose write went out and whose fate no answer tells."""
    return RowResult(
        row.line, row.user, planned.phone_id, Outcome.unknown, planned.changes, why, exit_code
    )


def _failed(row: Row, phone_id: str | None, failure: Failure) -> RowResult:
    return RowResult(
        row.line, row.user, phone_id, Outcome.failed, (), failure.reason, failure.exit_code
    )
