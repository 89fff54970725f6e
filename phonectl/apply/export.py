"""`phonectl export`: many users' phones, read through $batch, as a file apply takes back
unchanged (export, then apply of its output, writes nothing)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from phonectl.apply.plan import Failure
from phonectl.apply.run import read_phones
from phonectl.graph import GraphClient
from phonectl.phones import UserRef


class Exported(NamedTuple):
    entries: list[tuple[UserRef, dict[str, Any]]]
    failures: list[tuple[UserRef, Failure]]
    users: int


def all_users(client: GraphClient) -> list[UserRef]:
    """Every user of the tenant (GET /users, every page), by user principal name."""
    found = client.get_all("/users?$select=id,userPrincipalName")
    refs = []
    for user in found:
        name = user.get("userPrincipalName") or user.get("id")
        if isinstance(name, str) and name:
            refs.append(UserRef(name))
    return refs


def export_phones(
    client: GraphClient,
    users: Sequence[UserRef],
    on_read: Callable[[int], None] = lambda n: None,
) -> Exported:
    """Each user's phones in the order the users were named (each user once)."""
    owners = {_key(user): user for user in reversed(users)}
    order = list(dict.fromkeys(_key(user) for user in users))
    phones = read_phones(client, {key: owners[key] for key in order})
    on_read(len(order))
    entries: list[tuple[UserRef, dict[str, Any]]] = []
    failures: list[tuple[UserRef, Failure]] = []
    for key in order:
        found = phones[key]
        if isinstance(found, Failure):
            failures.append((owners[key], found))
        else:
            entries.extend((owners[key], phone) for phone in found)
    return Exported(entries, failures, len(order))


def _key(user: UserRef) -> str:
    return "" if user.ref is None else user.ref.lower()
