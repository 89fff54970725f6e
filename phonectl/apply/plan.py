"""apply's plan: each row, in file order, against a model of its user's phones that the earlier
rows have already changed. So a row that turns a phone into a home phone and a later row that
wants a home phone meet the same phone; two rows about one phone become one write; and after
the writes are made, planning the same file again finds nothing to write. No HTTP here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import Any, NamedTuple

from phonectl.apply.rows import Row
from phonectl.errors import ExitCode
from phonectl.phones import ENUM_PROPERTIES, UNKNOWN_FUTURE_VALUE, UserRef, same_value

# The model's id for a phone a row adds: a control character can never come from a file.
NEW_PHONE_PREFIX = "\x00new:"


class Outcome(str, Enum):
    unchanged = "unchanged"
    updated = "updated"
    added = "added"
    failed = "failed"
    deleted = "deleted"
    unknown = "unknown"  # sent, but no answer came: Graph may have carried it out
    not_sent = "not-sent"  # the run stopped before this row's write went out
    would_update = "would-update"
    would_add = "would-add"
    would_delete = "would-delete"


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
    row: Row  # for a pruned phone: line 0, the phone's user and id
    user_key: str | None
    write_key: str | None  # the write that carries this row's changes (None: nothing to write)
    phone_id: str | None  # the phone's id when it exists before the run
    changes: tuple[Change, ...] = ()
    failure: Failure | None = None
    prunes: bool = False  # no row wants this phone: --prune deletes it

    @property
    def adds(self) -> bool:
        return self.write_key is not None and self.write_key.startswith(NEW_PHONE_PREFIX)


class Write(NamedTuple):
    """One request the plan calls for: PATCH an existing phone, POST a new one, or DELETE
    one that no row wants (--prune)."""

    key: str
    owner: UserRef
    user_key: str
    phone_id: str | None  # None: POST
    body: dict[str, Any]
    lines: tuple[int, ...]
    method: str = "PATCH"


class Plan(NamedTuple):
    rows: tuple[RowPlan, ...]
    writes: tuple[Write, ...]
    # Phones --prune left although no row wants them: a backup could not add them back.
    prune_kept: int = 0
    # (earlier line, later line, property): two rows set one phone's property to different
    # values. Rows are planned in file order, so the later one wins; the file contradicts
    # itself, which the report says (a second run would call the earlier row unchanged).
    overridden: tuple[tuple[int, int, str], ...] = ()


def id_key(phone_id: Any) -> str:
    """How a phone is looked up by id: ids match whatever their letter case (an id typed by
    hand, or from a tool that lowercases, is the same phone)."""
    return str(phone_id or "").lower()


class _UserModel:
    """One user's phones as the rows so far leave them. It starts as Graph's phones
    themselves; a phone is copied when a row first changes it (the caller's phones keep
    the values from before the run), so untouched phones cost no copy."""

    __slots__ = (
        "before",
        "by_id",
        "copied",
        "named",
        "phones",
        "position",
        "set_by",
        "typed_by",
    )

    def __init__(self, phones: Sequence[Mapping[str, Any]]) -> None:
        self.phones: list[Mapping[str, Any]] = list(phones)
        # Graph's phones by id_key (the first of any repeated id), as they were before the
        # run; by_id follows the model's copies.
        self.before: dict[str, Mapping[str, Any]] = {}
        for phone in self.phones:
            if key := id_key(phone.get("id")):
                self.before.setdefault(key, phone)
        self.by_id = dict(self.before)
        # Where each Graph phone stands (by identity: all of them live as long as the plan).
        self.position = {id(phone): n for n, phone in enumerate(self.phones)}
        self.copied: set[int] = set()
        # The id_keys of the phones spoken for: named by a row, or matched for a gone id.
        self.named: set[str] = set()
        # Phones an earlier row found by their type (id_key -> that row's line): a later row
        # may not move such a phone to another type, or the earlier row's phone would be
        # gone and a rerun would add it: the file would never settle.
        self.typed_by: dict[str, int] = {}
        # (id_key, property) -> (line, value) of the last row that set it: a later row
        # setting another value overrides it.
        self.set_by: dict[tuple[str, str], tuple[int, Any]] = {}

    def add(self, phone: dict[str, Any]) -> dict[str, Any]:
        self.phones.append(phone)
        self.copied.add(id(phone))
        return phone

    def note_values(self, key: str, row: Row) -> list[tuple[int, int, str]]:
        """The values `row` sets on the phone `key`; (earlier line, this line, property)
        for each an earlier row set to another value."""
        overridden = []
        for name, value in row.fields.items():
            slot = (id_key(key), name)
            earlier = self.set_by.get(slot)
            if earlier is not None and not same_value(name, earlier[1], value):
                overridden.append((earlier[0], row.line, name))
            self.set_by[slot] = (row.line, value)
        return overridden

    def own(self, phone: Mapping[str, Any]) -> dict[str, Any]:
        """The model's own, changeable copy of one of its phones."""
        if id(phone) in self.copied:
            assert isinstance(phone, dict)
            return phone
        mine = self.phones[self.position[id(phone)]] = dict(phone)
        self.copied.add(id(mine))
        key = id_key(mine.get("id"))
        if self.by_id.get(key) is phone:
            self.by_id[key] = mine
        return mine


class _WriteDraft:
    __slots__ = ("body", "key", "lines", "owner", "phone_id", "user_key")

    def __init__(self, key: str, owner: UserRef, user_key: str, phone_id: str | None) -> None:
        self.key, self.owner, self.user_key, self.phone_id = key, owner, user_key, phone_id
        self.body: dict[str, Any] = {}
        self.lines: list[int] = []


def plan(
    rows: Sequence[Row],
    user_keys: Mapping[UserRef, str | Failure],
    phones: Mapping[str, Sequence[Mapping[str, Any]] | Failure],
    owners: Mapping[str, UserRef],
    *,
    prune: bool = False,
) -> Plan:
    """The plan for every row (and, with `prune`, a delete for every phone of the file's
    users that no row matches).

    `user_keys`: each user reference's resolved identity (or why it could not be resolved);
    `phones`: each identity's phones as Graph holds them (or why they could not be read);
    `owners`: the reference to address each identity's phones by."""
    # The model starts as Graph's phones themselves; a phone is copied when a row first
    # changes it (`phones` must keep the values from before the run), so a file that
    # touches few of many phones costs no copy of the rest.
    model = _models(rows, user_keys, phones)
    drafts: dict[str, _WriteDraft] = {}
    planned: list[RowPlan] = []
    overridden: list[tuple[int, int, str]] = []
    for row in rows:
        user_key = user_keys[row.user]
        if isinstance(user_key, Failure):
            planned.append(RowPlan(row, None, None, row.phone_id, failure=user_key))
            continue
        read = phones[user_key]
        if isinstance(read, Failure):
            planned.append(RowPlan(row, user_key, None, row.phone_id, failure=read))
            continue
        row_plan = _plan_row(row, user_key, model[user_key], drafts, owners[user_key])
        target = row_plan.write_key or row_plan.phone_id  # the phone the row spoke for
        if row_plan.failure is None and target is not None:
            overridden += model[user_key].note_values(target, row)
        planned.append(row_plan)
    _drop_net_no_ops(drafts, model)
    writes = [
        Write(
            d.key,
            d.owner,
            d.user_key,
            d.phone_id,
            d.body,
            tuple(d.lines),
            "PATCH" if d.phone_id else "POST",
        )
        for d in drafts.values()
    ]
    kept = {w.key for w in writes}
    rows_planned = [
        p if p.write_key is None or p.write_key in kept else p._replace(write_key=None, changes=())
        for p in planned
    ]
    prune_kept = _prune(rows_planned, writes, phones, owners) if prune else 0
    return Plan(tuple(rows_planned), tuple(writes), prune_kept, tuple(overridden))


def _models(
    rows: Sequence[Row],
    user_keys: Mapping[UserRef, str | Failure],
    phones: Mapping[str, Sequence[Mapping[str, Any]] | Failure],
) -> dict[str, _UserModel]:
    """Each readable user's model of its phones, knowing which of them the rows name by id."""
    model = {
        key: _UserModel(found) for key, found in phones.items() if not isinstance(found, Failure)
    }
    for row in rows:
        user_key = user_keys[row.user]
        if row.phone_id is not None and isinstance(user_key, str) and user_key in model:
            model[user_key].named.add(id_key(row.phone_id))
    return model


def _prune(
    rows_planned: list[RowPlan],
    writes: list[Write],
    phones: Mapping[str, Sequence[Mapping[str, Any]] | Failure],
    owners: Mapping[str, UserRef],
) -> int:
    """--prune: a delete for each phone of the file's users that no row matches, added to
    the planned rows and writes; how many such phones are kept (a backup could not add them
    back)."""
    unmatched = _unmatched(rows_planned, phones, owners)
    for pruned in (p for p in unmatched if p.prunes):
        rows_planned.append(pruned)
        owner = owners[str(pruned.user_key)]
        writes.append(
            Write(
                str(pruned.write_key),
                owner,
                str(pruned.user_key),
                pruned.phone_id,
                {},
                (0,),
                "DELETE",
            )
        )
    return sum(1 for p in unmatched if not p.prunes)


def _unmatched(
    planned: Sequence[RowPlan],
    phones: Mapping[str, Sequence[Mapping[str, Any]] | Failure],
    owners: Mapping[str, UserRef],
) -> list[RowPlan]:
    """The phones of the file's users that no row matched (`prunes`), and those of them kept
    because a backup could not add them back (not `prunes`). A user with a failed row keeps
    every phone: an ambiguous row must not get both of its candidates deleted."""
    matched = {id_key(p.phone_id) for p in planned if p.phone_id is not None}
    unsure = {p.user_key for p in planned if p.failure is not None}
    pruned = []
    for user_key, found in phones.items():
        if isinstance(found, Failure) or user_key in unsure:
            continue
        for phone in found:
            phone_id = str(phone.get("id", ""))
            if not phone_id or id_key(phone_id) in matched:
                continue
            row = Row(0, owners[user_key], phone_id, {})
            if not restorable(phone):  # kept, and counted so the run can say so
                pruned.append(RowPlan(row, user_key, None, phone_id))
                continue
            before = tuple(
                Change(name, phone.get(name), None)
                for name in ("type", "number")
                if phone.get(name) is not None
            )
            pruned.append(
                RowPlan(row, user_key, f"delete:{phone_id}", phone_id, before, prunes=True)
            )
    return pruned


def restorable(phone: Mapping[str, Any]) -> bool:
    """Whether a backup row of this phone could add it again: --prune never deletes one
    that could not come back (a type or audience Graph's newer clients wrote, such as
    unknownFutureValue, that Graph refuses in a new phone; a number that is no number)."""
    from phonectl.errors import InvalidInput
    from phonectl.phones import ENUM_PROPERTIES, FIELD_BY_NAME

    # What a new phone must have (a type and a number) and every evolvable enum it holds
    # (allowedAudiences), as the flag's own parser takes them: it refuses unknownFutureValue,
    # a number that is no number, and an empty type or number.
    required = ("type", "number")
    for name in (*required, *sorted(ENUM_PROPERTIES.difference(required))):
        field = FIELD_BY_NAME[name]
        value = field.text_in(phone)
        if value is None and name not in required:
            continue  # none given: Graph's default
        try:
            field.read(value if isinstance(value, str) else "", name)
        except InvalidInput:
            return False
    return True


def _drop_net_no_ops(drafts: dict[str, _WriteDraft], model: Mapping[str, _UserModel]) -> None:
    """A PATCH carries only what differs from Graph's value before the run: rows that set a
    property and later rows that set it back leave nothing to send (else such a file would
    write, and say "updated", on every run)."""
    for key, draft in list(drafts.items()):
        if draft.phone_id is None:
            continue
        before = model[draft.user_key].before.get(id_key(draft.phone_id))
        if before is None:
            continue
        draft.body = {
            name: value
            for name, value in draft.body.items()
            if not same_value(name, before.get(name), value)
        }
        if not draft.body:
            del drafts[key]


def _plan_row(
    row: Row,
    user_key: str,
    model: _UserModel,
    drafts: dict[str, _WriteDraft],
    owner: UserRef,
) -> RowPlan:
    if row.phone_id is None and not row.fields:
        # A row naming only its user (a backup's user who had no phones): it writes
        # nothing, but its user is in the file, so --prune removes what the run added.
        return RowPlan(row, user_key, None, None)
    found, problem = _target(row, model)
    if problem is not None:
        return RowPlan(row, user_key, None, row.phone_id, failure=Failure(problem))
    if found is None and _unwritable(row.fields.items()):
        return RowPlan(row, user_key, None, row.phone_id, failure=Failure(_UNWRITABLE))
    adding = found is None
    if found is None:  # add a phone: it joins the model, so later rows find it
        key = f"{NEW_PHONE_PREFIX}{row.line}"
        found = model.add({"id": key})
        drafts[key] = _WriteDraft(key, owner, user_key, None)
    target = found
    key = str(target["id"])
    claimed = model.typed_by.get(id_key(key))
    wanted_type = row.fields.get("type")
    if claimed is not None and wanted_type and wanted_type != target.get("type"):
        conflict = (
            f"conflicts with line {claimed}, which set this phone as the user's "
            f"{target.get('type')} phone: one phone cannot be both"
        )
        return RowPlan(row, user_key, None, row.phone_id, failure=Failure(conflict))
    if row.phone_id is None:
        model.typed_by.setdefault(id_key(key), row.line)
    # Against the model: Graph's values, or what an earlier row of this run set. A new
    # phone gets every value the row gives, a clear (null) too: Graph fills in defaults
    # (allowedAudiences organization) for what a POST leaves out.
    changes = tuple(
        Change(name, target.get(name), value)
        for name, value in row.fields.items()
        if adding or not same_value(name, target.get(name), value)
    )
    existing_id = None if key.startswith(NEW_PHONE_PREFIX) else key
    if not changes:
        return RowPlan(row, user_key, None, existing_id)
    if _unwritable((c.field, c.new) for c in changes):
        return RowPlan(row, user_key, None, existing_id, failure=Failure(_UNWRITABLE))
    target = model.own(target)
    draft = drafts.get(key) or drafts.setdefault(key, _WriteDraft(key, owner, user_key, key))
    for change in changes:
        target[change.field] = change.new
        draft.body[change.field] = change.new
    draft.lines.append(row.line)
    return RowPlan(row, user_key, key, existing_id, changes)


_UNWRITABLE = (
    "Graph does not take unknownFutureValue in a write (it matches a phone as it is, no more)"
)


def _unwritable(values: Iterable[tuple[str, Any]]) -> bool:
    for name, v in values:
        if name in ENUM_PROPERTIES and isinstance(v, str) and UNKNOWN_FUTURE_VALUE in v:
            return True
    return False


def _target(row: Row, model: _UserModel) -> tuple[Mapping[str, Any] | None, str | None]:
    """The phone a row changes (None: add one), or why that cannot be decided."""
    if row.phone_id is not None:
        found = model.by_id.get(id_key(row.phone_id))
        if found is not None:
            return found, None
        if not row.fields.get("type"):
            return None, f"the user has no phone with id {row.phone_id}"
        return _instead_of_gone(row, model)
    phone_type = row.fields["type"]
    same_type = [p for p in model.phones if p.get("type") == phone_type]
    if len(same_type) > 1:
        return None, f"ambiguous: the user has {len(same_type)} {phone_type} phones; give the id"
    if same_type:
        return same_type[0], None
    if "number" not in row.fields:
        return None, f"the user has no {phone_type} phone, and the row has no number to add one"
    return None, None


def _instead_of_gone(row: Row, model: _UserModel) -> tuple[Mapping[str, Any] | None, str | None]:
    """For a row whose phone is gone (deleted since an export or a backup was taken): the
    row still says what the user's phone of its type should be, so it is matched by type,
    but only to a phone nothing else speaks for: none a row names by id, none an earlier
    row adds or matched this way. A backup's rows for pruned phones must not land on the
    phone of the same type that has a row of its own, nor on each other: each is added
    again. Run again, each finds the phone it added by its values."""
    phone_type = row.fields["type"]
    free = [
        p
        for p in model.phones
        if p.get("type") == phone_type
        and not str(p.get("id", "")).startswith(NEW_PHONE_PREFIX)
        and id_key(p.get("id")) not in model.named
    ]
    if len(free) > 1:
        free = [p for p in free if _has_values(p, row.fields)][:1] or free
    gone = f"the user has no phone with id {row.phone_id}"
    if len(free) > 1:
        return None, f"{gone}, and {len(free)} other {phone_type} phones it could be"
    if free:
        model.named.add(id_key(free[0].get("id")))
        return free[0], None
    if "number" not in row.fields:
        return None, f"{gone}, and the row has no number to add it again"
    return None, None


def _has_values(phone: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    return all(same_value(name, phone.get(name), value) for name, value in fields.items())
