"""apply against Graph: resolve the file's users to ids, read their phones, plan, send the
writes through $batch, and build each row's result once, from the plan and Graph's answers.

A POST whose fate is unknown (the batch or item failed with 5xx or no answer) is never
resent blindly: the user's phones are read again, and the phone is added only if it is
still missing. An interrupt (Ctrl-C, SIGTERM) still reports every write already made."""

from __future__ import annotations

import re
import sys
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from phonectl.apply.plan import Change, Failure, Outcome, Plan, RowPlan, id_key, plan
from phonectl.apply.rows import Row
from phonectl.errors import ExitCode, GraphError, Interrupted, InvalidInput, PhonectlError
from phonectl.graph import BatchRequest, BatchResult, GraphClient, collection_page
from phonectl.phones import FILE_FIELDS, UserRef, phones_path

KEPT_PROPERTIES = ("id", *(f.graph for f in FILE_FIELDS))
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


class ApplyReport(NamedTuple):
    results: tuple[RowResult, ...]
    writes_sent: int
    requests_sent: int
    dry_run: bool
    complete: bool = True

    @property
    def written(self) -> int:
        done = {Outcome.updated, Outcome.added, Outcome.deleted}
        return sum(1 for r in self.results if r.outcome in done)

    @property
    def exit_code(self) -> ExitCode:
        failures = {r.exit_code for r in self.results if r.outcome is Outcome.failed}
        if not failures:
            return ExitCode.OK
        if len(failures) == 1 and not self.written and failures <= _SHARED_REASON_CODES:
            return failures.pop()
        return ExitCode.FAILED


class ApplyInterrupted(BaseException):
    """Ctrl-C or SIGTERM during the writes; `report` holds every row settled before it."""

    def __init__(self, report: ApplyReport, cause: Interrupted) -> None:
        super().__init__("interrupted")
        self.report = report
        self.cause = cause


def failure_of(error: PhonectlError) -> Failure:
    """A Graph error (status, code, message) as one line for a row result, with its code."""
    prefix = ""
    if isinstance(error, GraphError):
        prefix = f"{error.status} {error.code}: " if error.code else f"{error.status}: "
    return Failure(prefix + error.message, error.exit_code)


class Before(NamedTuple):
    """What the plan is about to change: each touched user's phones as Graph holds them."""

    owners: dict[str, UserRef]
    phones: dict[str, list[dict[str, Any]]]


# Users planned and written at a time: memory holds one round's phones and plan, not the
# whole file's (at 50,000 rows over 5,000 users that was most of a 226 MB peak), and each
# round still fills $batch requests (50 reads, 500 writes of 20).
USERS_PER_ROUND = 1000


class _Round(NamedTuple):
    owners: dict[str, UserRef]
    rows: list[Row]


def apply_rows(
    client: GraphClient,
    rows: list[Row],
    *,
    dry_run: bool,
    prune: bool = False,
    max_deletes: int | None = None,
    before_writes: Callable[[Before], None] | None = None,
    on_settled: Callable[[int], None] = lambda rows: None,
) -> ApplyReport:
    """Bring Graph in line with the rows, USERS_PER_ROUND users at a time (a user's rows all
    in one round, so each is planned as before against all its phones). `on_settled(n)`: n
    more rows are done (those that need no write once planned, then each write's rows as
    Graph answers it). `before_writes` sees the phones a round will change before its first
    write (--backup). With `max_deletes`, deletes are counted over every round before the
    first write. `rows` is emptied: each round's rows are let go once it is done (at 50,000
    rows, 25 MB)."""
    user_keys, owners = resolve_users(client, [row.user for row in rows])
    rounds = deque(_rounds(rows, user_keys, owners))  # each round is dropped once done
    rows.clear()
    several = len(rounds) > 1
    if max_deletes is not None and several:
        # Reading twice is the price of refusing before anything is written.
        deletes = sum(
            _deletes(plan(r.rows, user_keys, read_phones(client, r.owners), r.owners, prune=prune))
            for r in rounds
        )
        _check_deletes(deletes, max_deletes)
    done: list[RowResult] = []
    pruned: list[RowResult] = []
    writes_sent = 0

    def report(complete: bool = True) -> ApplyReport:
        results = sorted(done, key=lambda r: r.line) + pruned
        return ApplyReport(tuple(results), writes_sent, client.requests_sent, dry_run, complete)

    while rounds:
        this_round = rounds.popleft()
        phones = read_phones(client, this_round.owners)
        the_plan = plan(this_round.rows, user_keys, phones, this_round.owners, prune=prune)
        if max_deletes is not None and not several:
            _check_deletes(_deletes(the_plan), max_deletes)
        if before_writes is not None and not dry_run and the_plan.writes:
            touched = {w.user_key for w in the_plan.writes}
            before_writes(
                Before(
                    {key: this_round.owners[key] for key in touched},
                    {key: found for key in touched if isinstance(found := phones[key], list)},
                )
            )
        del phones  # the plan has what the writes need
        answers: dict[str, BatchResult | Failure] = {}
        stop: Interrupted | None = None
        if dry_run or not the_plan.writes:
            on_settled(len(this_round.rows))
        else:
            on_settled(sum(1 for r in the_plan.rows if r.write_key is None))
            try:
                _send(client, the_plan, answers, on_settled)
            except (KeyboardInterrupt, Interrupted) as exc:
                stop = exc if isinstance(exc, Interrupted) else Interrupted()
        writes_sent += len(answers)
        _collect(the_plan, answers, dry_run, done, pruned)
        if stop is not None:  # every write Graph answered is reported first
            raise ApplyInterrupted(report(complete=False), stop)
        del this_round, the_plan, answers  # before the next round's phones are read
    return report()


def _rounds(
    rows: Sequence[Row], user_keys: Mapping[UserRef, str | Failure], owners: dict[str, UserRef]
) -> list[_Round]:
    """The users in file order, USERS_PER_ROUND a round, each with its rows in file order
    (rows whose user could not be resolved go with the first round)."""
    keys = list(owners)
    rounds = [
        _Round({k: owners[k] for k in keys[i : i + USERS_PER_ROUND]}, [])
        for i in range(0, max(len(keys), 1), USERS_PER_ROUND)
    ]
    round_of = {key: n // USERS_PER_ROUND for n, key in enumerate(keys)}
    for row in rows:
        key = user_keys[row.user]
        rounds[0 if isinstance(key, Failure) else round_of[key]].rows.append(row)
    return rounds


def _deletes(the_plan: Plan) -> int:
    return sum(1 for w in the_plan.writes if w.method == "DELETE")


def _check_deletes(deletes: int, max_deletes: int) -> None:
    if deletes > max_deletes:
        raise InvalidInput(
            f"--prune would delete {deletes} phones, more than --max-deletes {max_deletes}; "
            "nothing was written",
            hint="check the file (a missing column or user?), or raise --max-deletes",
        )


def _collect(
    the_plan: Plan,
    answers: Mapping[str, BatchResult | Failure],
    dry_run: bool,
    done: list[RowResult],
    pruned: list[RowResult],
) -> None:
    """Each planned row's result (none for a row whose write was not answered: interrupted);
    the file's rows and the phones --prune deletes kept apart (those are reported last)."""
    for row_plan in the_plan.rows:
        result = _row_result(row_plan, answers, dry_run)
        if result is not None:
            (pruned if row_plan.prunes else done).append(result)


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
    kept = {k: phone[k] for k in KEPT_PROPERTIES if k in phone}
    for name in _SHARED_VALUES:
        value = kept.get(name)
        if isinstance(value, str):
            kept[name] = sys.intern(value)
    return kept


_SHARED_VALUES = ("type", "allowedAudiences")


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
    answers: dict[str, BatchResult | Failure],
    on_settled: Callable[[int], None],
) -> None:
    """Send every write; answers by write key, filled in as Graph answers (an interrupt
    leaves them partly filled). Adds of unknown fate are settled by reading again."""
    writes = the_plan.writes
    # A POST's phone_id is None: its path is the user's collection.
    requests = [
        BatchRequest(w.method, phones_path(w.owner, w.phone_id), w.body or None) for w in writes
    ]
    unknown: list[int] = []

    def settle(index: int, answer: BatchResult) -> None:
        if writes[index].method == "POST" and _fate_unknown(answer):
            unknown.append(index)
            return
        answers[writes[index].key] = _slim(answer, writes[index].method)
        on_settled(len(writes[index].lines))

    client.send_batch(requests, on_result=settle)
    if not unknown:
        return
    # Never resend an add blindly: it may have been made. Read those users again and add
    # only the phones that are still missing.
    owners = {writes[i].user_key: writes[i].owner for i in unknown}
    fresh = read_phones(client, owners)
    retry: list[int] = []
    for index in unknown:
        write = writes[index]
        found = fresh[write.user_key]
        made = _made_by(write.body, found, _known_ids(the_plan, write.user_key))
        if isinstance(found, Failure):
            answers[write.key] = found
            on_settled(len(write.lines))
        elif made is not None:
            answers[write.key] = BatchResult(201, made)
            on_settled(len(write.lines))
        else:
            retry.append(index)

    def settle_final(n: int, answer: BatchResult) -> None:  # the second and last try
        answers[writes[retry[n]].key] = answer
        on_settled(len(writes[retry[n]].lines))

    if retry:
        client.send_batch([requests[i] for i in retry], on_result=settle_final)


def _slim(answer: BatchResult, method: str) -> BatchResult:
    """An answer as the result needs it: an added phone's id, never a whole phone."""
    status, body, error = answer  # built anew: NamedTuple._replace costs 7 us a call
    if method == "POST" and isinstance(body, dict) and "id" in body:
        return BatchResult(status, {"id": body["id"]}, error)
    return BatchResult(status, None, error)


def _fate_unknown(answer: BatchResult) -> bool:
    """An add that failed without Graph saying it was not done (5xx, no answer at all)."""
    return answer.error is not None and (answer.status == 0 or answer.status >= 500)


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
    planned: RowPlan, answers: Mapping[str, BatchResult | Failure], dry_run: bool
) -> RowResult | None:
    """The row's result; None for a row whose write has no answer yet (interrupted)."""
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
        return None
    if isinstance(answer, Failure):
        return _failed(row, planned.phone_id, answer)
    if answer.error is not None:
        return _failed(row, planned.phone_id, failure_of(answer.error))
    if planned.prunes:
        return RowResult(row.line, row.user, planned.phone_id, Outcome.deleted, planned.changes)
    if not planned.adds:
        return RowResult(row.line, row.user, planned.phone_id, Outcome.updated, planned.changes)
    new_id = answer.body.get("id") if isinstance(answer.body, dict) else None
    if answer.status not in {200, 201} or not isinstance(new_id, str):
        return _failed(
            row,
            None,
            Failure(
                f"Graph answered the add with {answer.status} and no new phone; run apply "
                "again to check whether it was made"
            ),
        )
    return RowResult(row.line, row.user, new_id, Outcome.added, planned.changes)


def _failed(row: Row, phone_id: str | None, failure: Failure) -> RowResult:
    return RowResult(
        row.line, row.user, phone_id, Outcome.failed, (), failure.reason, failure.exit_code
    )
