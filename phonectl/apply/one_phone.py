"""`set`: make a user's one phone of a type hold the given values, with no id to copy. It is
a one-row apply: the same plan (apply.plan) decides between nothing, a minimal PATCH and a
POST, so `set` and a one-row file always agree. A user has few phones, so it reads them with
one GET and writes with one request, without $batch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from phonectl.apply.plan import Change, Outcome, plan
from phonectl.apply.rows import Row
from phonectl.errors import InvalidInput
from phonectl.graph import GraphClient
from phonectl.phones import UserRef, phones_path

_USER_KEY = "user"


class SetPlan(NamedTuple):
    """What `set` does (or, in a dry run, would do) to one user's phone of a type."""

    user: UserRef
    outcome: Outcome
    phone_id: str | None  # None: a phone would be (or was not yet) added
    changes: tuple[Change, ...]
    method: str | None  # PATCH, POST, or None: nothing to send
    path: str
    body: dict[str, Any] | None
    phone: Mapping[str, Any] | None  # the phone as Graph holds it (after the write, if any)


def plan_set(user: UserRef, fields: Mapping[str, Any], phones: list[Mapping[str, Any]]) -> SetPlan:
    """The one-row plan against the user's phones; exit 2 when it cannot be decided."""
    phone_type = fields["type"]
    row = Row(1, user, None, fields)
    the_plan = plan([row], {user: _USER_KEY}, {_USER_KEY: phones}, {_USER_KEY: user})
    (planned,) = the_plan.rows
    same_type = [p for p in phones if p.get("type") == phone_type]
    if planned.failure is not None:
        if len(same_type) > 1:
            ids = ", ".join(str(p.get("id")) for p in same_type)
            raise InvalidInput(
                f"{_whose(user)} has {len(same_type)} {phone_type} phones ({ids}): set changes "
                "a user's one phone of a type",
                hint=f"change one by its id: phonectl update ID{_user_flag(user)} ...",
            )
        raise InvalidInput(
            f"{_whose(user)} has no {phone_type} phone, and set has no --number to add one",
            hint="give --number to add it",
        )
    current = same_type[0] if same_type else None
    if not the_plan.writes:
        return SetPlan(user, Outcome.unchanged, planned.phone_id, (), None, "", None, current)
    (write,) = the_plan.writes
    path = phones_path(user, write.phone_id)
    outcome = Outcome.would_update if write.method == "PATCH" else Outcome.would_add
    return SetPlan(
        user, outcome, write.phone_id, planned.changes, write.method, path, write.body, current
    )


def set_phone(
    client: GraphClient, user: UserRef, fields: Mapping[str, Any], *, dry_run: bool
) -> SetPlan:
    """Read the user's phones, plan, and (unless `dry_run`) send the one write."""
    phones = client.get_all(phones_path(user))
    planned = plan_set(user, fields, phones)
    if dry_run or planned.method is None:
        return planned
    phone = client.request_object(planned.method, planned.path, planned.body)
    done = Outcome.updated if planned.method == "PATCH" else Outcome.added
    return planned._replace(outcome=done, phone=phone, phone_id=str(phone.get("id") or ""))


def _whose(user: UserRef) -> str:
    return user.ref if user.ref is not None else "the signed-in user"


def _user_flag(user: UserRef) -> str:
    return "" if user.ref is None else f" --user {user.ref}"
