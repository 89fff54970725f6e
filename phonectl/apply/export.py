"""`phonectl export`: many users' phones, read through $batch, as a file apply takes back
unchanged (export, then apply of its output, writes nothing)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from phonectl.apply.plan import Failure
from phonectl.apply.run import read_phones, resolve_users
from phonectl.errors import PhonectlError
from phonectl.graph import GraphClient
from phonectl.phones import UserRef


class Exported(NamedTuple):
    entries: list[tuple[UserRef, dict[str, Any] | None]]  # None: a user with no phones
    failures: list[tuple[UserRef, Failure]]
    users: int


def named(client: GraphClient, user: UserRef) -> UserRef:
    """The user as a file names them: the signed-in user by principal name (or id), never
    an empty cell, so the same file applied by another admin changes the same people."""
    if user.ref is not None:
        return user
    if client.signed_in_user is None:  # asked once per client
        me = client.request_object("GET", "/me?$select=id,userPrincipalName")
        name = me.get("userPrincipalName") or me.get("id")
        if not isinstance(name, str) or not name:
            raise PhonectlError("Graph answered /me without the user's name or id")
        client.signed_in_user = name
    return UserRef(client.signed_in_user)


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
    """Each user's phones in the order the users were named, each user once: names are
    resolved as apply resolves them (a principal name and the same user's id are one user)."""
    keys, owners = resolve_users(client, users)
    phones = read_phones(client, owners)
    on_read(len(owners))
    entries: list[tuple[UserRef, dict[str, Any] | None]] = []
    failures: list[tuple[UserRef, Failure]] = []
    done: set[str] = set()
    for user in dict.fromkeys(users):
        key = keys[user]
        if isinstance(key, Failure):
            failures.append((user, key))
            continue
        if key in done:
            continue
        done.add(key)
        found = phones[key]
        if isinstance(found, Failure):
            failures.append((owners[key], found))
        else:
            owner = named(client, owners[key])
            entries.extend([(owner, phone) for phone in found] or [(owner, None)])
    unresolved = sum(1 for key in keys.values() if isinstance(key, Failure))
    return Exported(entries, failures, len(owners) + unresolved)
