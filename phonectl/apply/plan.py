"""apply's plan: each row, in file order, against a model of its user's phones that the earlier
rows have already changed. So a row that turns a phone into a home phone and a later row that
wants a home phone meet the same phone; two rows about one phone become one write; and after
the writes are made, planning the same file again finds nothing to write. No HTTP here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any, NamedTuple

from phonectl.apply.rows import Row
from phonectl.errors import ExitCode
from phonectl.phones import FIELD_BY_NAME, UserRef

# The model's id for a phone a row adds: a control character can never come from a file.
NEW_PHONE_PREFIX = "\x00new:"


class Outcome(str, Enum):
    unchanged = "unchanged"
    updated = "updated"
    added = "added"
    failed = "failed"
    would_update = "would-update"
    would_add = "would-add"


class Change(NamedTuple):
    """One property a row changes: its value before (in the model) and after."""

    field: str
    old: Any
    new: Any


class Failure(NamedTuple):
    """Why a row (or a user's read) failed, and the exit code that reason has on its own."""

    reason: str
    exit_code: ExitCode = ExitCode.FAILED


class RowPlan(NamedTuple):
    row: Row
    user_key: str | None
    write_key: str | None  # the write that carries this row's changes (None: nothing to write)
    phone_id: str | None  # the phone's id when it exists before the run
    changes: tuple[Change, ...] = ()
    failure: Failure | None = None

    @property
    def adds(self) -> bool:
        return self.write_key is not None and self.write_key.startswith(NEW_PHONE_PREFIX)


class Write(NamedTuple):
    """One request the plan calls for: PATCH an existing phone, or POST a new one."""

    key: str
    owner: UserRef
    user_key: str
    phone_id: str | None  # None: POST
    body: dict[str, Any]
    lines: tuple[int, ...]


class Plan(NamedTuple):
    rows: tuple[RowPlan, ...]
    writes: tuple[Write, ...]


class _WriteDraft:
    def __init__(self, key: str, owner: UserRef, user_key: str, phone_id: str | None) -> None:
        self.key, self.owner, self.user_key, self.phone_id = key, owner, user_key, phone_id
        self.body: dict[str, Any] = {}
        self.lines: list[int] = []


def plan(
    rows: Sequence[Row],
    user_keys: Mapping[UserRef, str | Failure],
    phones: Mapping[str, Sequence[Mapping[str, Any]] | Failure],
    owners: Mapping[str, UserRef],
) -> Plan:
    """The plan for every row.

    `user_keys`: each user reference's resolved identity (or why it could not be resolved);
    `phones`: each identity's phones as Graph holds them (or why they could not be read);
    `owners`: the reference to address each identity's phones by."""
    model: dict[str, list[dict[str, Any]]] = {
        key: [dict(phone) for phone in found]
        for key, found in phones.items()
        if not isinstance(found, Failure)
    }
    drafts: dict[str, _WriteDraft] = {}
    planned: list[RowPlan] = []
    for row in rows:
        user_key = user_keys[row.user]
        if isinstance(user_key, Failure):
            planned.append(RowPlan(row, None, None, row.phone_id, failure=user_key))
            continue
        read = phones[user_key]
        if isinstance(read, Failure):
            planned.append(RowPlan(row, user_key, None, row.phone_id, failure=read))
            continue
        planned.append(_plan_row(row, user_key, model[user_key], drafts, owners[user_key]))
    _drop_net_no_ops(drafts, phones)
    writes = tuple(
        Write(d.key, d.owner, d.user_key, d.phone_id, d.body, tuple(d.lines))
        for d in drafts.values()
    )
    kept = {w.key for w in writes}
    rows_planned = tuple(
        p if p.write_key is None or p.write_key in kept else p._replace(write_key=None, changes=())
        for p in planned
    )
    return Plan(rows_planned, writes)


def _drop_net_no_ops(
    drafts: dict[str, _WriteDraft], phones: Mapping[str, Sequence[Mapping[str, Any]] | Failure]
) -> None:
    """A PATCH carries only what differs from Graph's value before the run: rows that set a
    property and later rows that set it back leave nothing to send (else such a file would
    write, and say "updated", on every run)."""
    for key, draft in list(drafts.items()):
        if draft.phone_id is None:
            continue
        found = phones[draft.user_key]
        before = (
            next((p for p in found if str(p.get("id")) == draft.phone_id), None)
            if not isinstance(found, Failure)
            else None
        )
        if before is None:
            continue
        draft.body = {
            name: value
            for name, value in draft.body.items()
            if not FIELD_BY_NAME[name].same(before.get(name), value)
        }
        if not draft.body:
            del drafts[key]


def _plan_row(
    row: Row,
    user_key: str,
    phones: list[dict[str, Any]],
    drafts: dict[str, _WriteDraft],
    owner: UserRef,
) -> RowPlan:
    target, problem = _target(row, phones)
    if problem is not None:
        return RowPlan(row, user_key, None, row.phone_id, failure=Failure(problem))
    if target is None:  # add a phone: it joins the model, so later rows find it
        key = f"{NEW_PHONE_PREFIX}{row.line}"
        target = {"id": key}
        phones.append(target)
        drafts[key] = _WriteDraft(key, owner, user_key, None)
    key = str(target["id"])
    # Against the model: Graph's values, or what an earlier row of this run set.
    changes = tuple(
        Change(name, target.get(name), value)
        for name, value in row.fields.items()
        if not FIELD_BY_NAME[name].same(target.get(name), value)
    )
    existing_id = None if key.startswith(NEW_PHONE_PREFIX) else key
    if not changes:
        return RowPlan(row, user_key, None, existing_id)
    draft = drafts.get(key) or drafts.setdefault(key, _WriteDraft(key, owner, user_key, key))
    for change in changes:
        target[change.field] = change.new
        draft.body[change.field] = change.new
    draft.lines.append(row.line)
    return RowPlan(row, user_key, key, existing_id, changes)


def _target(row: Row, phones: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str | None]:
    """The phone a row changes (None: add one), or why that cannot be decided."""
    if row.phone_id is not None:
        wanted = row.phone_id.lower()
        found = next((p for p in phones if str(p.get("id", "")).lower() == wanted), None)
        if found is None:
            return None, f"the user has no phone with id {row.phone_id}"
        return found, None
    phone_type = row.fields["type"]
    same_type = [p for p in phones if p.get("type") == phone_type]
    if len(same_type) > 1:
        return None, f"ambiguous: the user has {len(same_type)} {phone_type} phones; give the id"
    if same_type:
        return same_type[0], None
    if "number" not in row.fields:
        return None, f"the user has no {phone_type} phone, and the row has no number to add one"
    return None, None
