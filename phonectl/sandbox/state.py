"""The emulator's data: users and their phones, seeded, kept in a JSON file written atomically."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from phonectl.errors import InvalidInput
from phonectl.files import exclusive_lock, write_private_file

EXAMPLE_PHONE_ID = "0fb4c1e3-c1e3-0fb4-e3c1-b40fe3c1b40f"
ME_ID = "db789417-4ccb-41d1-a0a9-47b01a0b4fdf"
SECOND_USER_ID = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"


def _identity(user_id: str, name: str) -> dict[str, Any]:
    return {"application": None, "device": None, "user": {"displayName": name, "id": user_id}}


def _phone(
    phone_id: str,
    owner: tuple[str, str],
    *,
    display_name: str,
    type_: str,
    number: str,
    when: str,
    audience: str = "organization",
) -> dict[str, Any]:
    return {
        "id": phone_id,
        "allowedAudiences": audience,
        "inference": None,
        "createdDateTime": when,
        "createdBy": _identity(*owner),
        "lastModifiedDateTime": when,
        "lastModifiedBy": _identity(*owner),
        "source": {"type": ["User"]},
        "displayName": display_name,
        "type": type_,
        "number": number,
    }


def seed() -> dict[str, Any]:
    """The documented example phone (Graph's itemPhone sample) and a little more."""
    me = (ME_ID, "Innocenty Popov")
    adele = (SECOND_USER_ID, "Adele Vance")
    return {
        "version": 1,
        "me": ME_ID,
        "users": [
            {
                "id": ME_ID,
                "userPrincipalName": "innocenty.popov@contoso.com",
                "displayName": me[1],
                "phones": [
                    _phone(
                        EXAMPLE_PHONE_ID,
                        me,
                        display_name="Car Phone",
                        type_="other",
                        number="+7 499 342 22 13",
                        when="2020-07-06T06:34:12.2294868Z",
                    ),
                    _phone(
                        "5f3b2a17-8c4e-4d7a-9b1c-2e6f0a9d8c31",
                        me,
                        display_name="Office",
                        type_="business",
                        number="+7 495 123 45 67",
                        when="2021-03-15T09:12:45.1234567Z",
                    ),
                ],
            },
            {
                "id": SECOND_USER_ID,
                "userPrincipalName": "adelev@contoso.com",
                "displayName": adele[1],
                "phones": [
                    _phone(
                        "b2c4e6a8-1d3f-4b5c-8e7a-9f0d1c2b3a4e",
                        adele,
                        display_name="Mobile",
                        type_="mobile",
                        number="+1 425 555 0109",
                        when="2022-11-02T16:40:03.0000000Z",
                        audience="contacts",
                    ),
                ],
            },
        ],
    }


def _looks_like_state(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and data.get("version") == 1
        and isinstance(data.get("me"), str)
        and isinstance(data.get("users"), list)
        and all(
            isinstance(u, dict)
            and isinstance(u.get("id"), str)
            and isinstance(u.get("userPrincipalName"), str)
            and isinstance(u.get("phones"), list)
            and all(isinstance(p, dict) and isinstance(p.get("id"), str) for p in u["phones"])
            for u in data["users"]
        )
        and any(u["id"] == data["me"] for u in data["users"])
    )


class SandboxState:
    """The emulator's users, shared by every process using the same file.

    Each request is a transaction: under a lock between threads and processes it reloads the
    file if another process changed it, and saves once at the end if anything changed, so
    `phonectl sandbox serve` and `phonectl --sandbox ...` beside it never lose a write."""

    def __init__(self, path: Path | None, *, load: bool = True) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._active = False
        self._dirty = False
        self._stamp: tuple[int, int, int] | None = None
        self.data = self._load() if load else seed()

    def _file_stamp(self) -> tuple[int, int, int] | None:
        """What changes when another process replaces the file (a new inode and mtime)."""
        if self.path is None:
            return None
        try:
            info = self.path.stat()
        except OSError:
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def _load(self) -> dict[str, Any]:
        """The state file's data (the seed when there is none yet). A damaged or foreign
        file is an error, not silently replaced: it may be someone's sandbox work."""
        self._stamp = self._file_stamp()
        if self._stamp is None or self.path is None:
            return seed()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            data = None
        if not _looks_like_state(data):
            raise InvalidInput(
                f"the sandbox state file {self.path} is damaged or not phonectl's",
                hint="'phonectl sandbox reset' starts it again from the seed data",
            )
        return data  # type: ignore[no-any-return]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Read-modify-write of the shared file; nested uses (a $batch's items) join the outer."""
        with self._lock:
            if self._active:
                yield  # the outer transaction saves
                return
            with self._file_lock():
                if self._file_stamp() != self._stamp:
                    self.data = self._load()
                self._active, self._dirty = True, False
                try:
                    yield
                finally:
                    self._active = False
                    if self._dirty:
                        self._save()

    def _file_lock(self) -> AbstractContextManager[None]:
        if self.path is None:
            return nullcontext()
        return exclusive_lock(self.path.with_name(self.path.name + ".lock"), wait=30.0)

    def changed(self) -> None:
        """Called inside a transaction after changing `data`: it is saved when that ends."""
        assert self._active, "a change outside a transaction would not be saved"
        self._dirty = True

    def _save(self) -> None:
        if self.path is None:
            return
        # Compact JSON: the C encoder, ten times faster than indent= on a big sandbox.
        write_private_file(self.path, json.dumps(self.data, ensure_ascii=False))
        self._stamp = self._file_stamp()

    def reset(self) -> None:
        """Back to the seed data, whatever the file held (damaged included)."""
        with self._lock, self._file_lock():
            self.data = seed()
            self._save()

    def me(self) -> dict[str, Any]:
        user = self.find_user(self.data["me"])
        assert user is not None
        return user

    def find_user(self, ref: str) -> dict[str, Any] | None:
        """A user by id or userPrincipalName (case-insensitive, as Graph matches them)."""
        wanted = ref.lower()
        for user in self.data["users"]:
            if wanted in (user["id"].lower(), user["userPrincipalName"].lower()):
                return user  # type: ignore[no-any-return]
        return None

    def add_user(
        self,
        user_id: str,
        upn: str,
        display_name: str,
        phones: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        with self.transaction():
            user = {
                "id": user_id,
                "userPrincipalName": upn,
                "displayName": display_name,
                "phones": list(phones or []),
            }
            self.data["users"].append(user)
            self.changed()
            return user

    def snapshot(self) -> dict[str, Any]:
        with self.transaction():
            return copy.deepcopy(self.data)
