"""The emulator's data: users and their phones, seeded, kept in a JSON file written atomically."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from phonectl.files import write_private_file

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
        "source": {"type": "User"},
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


class SandboxState:
    """Thread-safe access to the emulator's users; every change is saved before it is answered."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.data = self._load()
        self._deferring = False
        self._dirty = False

    def _load(self) -> dict[str, Any]:
        if self.path is not None and self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if isinstance(data, dict) and data.get("version") == 1:
                    return data
            except (OSError, ValueError):
                pass  # A damaged sandbox file is not worth an error: start from the seed.
        return seed()

    def reset(self) -> None:
        with self.lock:
            self.data = seed()
            self.save()

    @contextmanager
    def one_save(self) -> Iterator[None]:
        """Changes made inside are saved once, at the end (a $batch of many writes)."""
        with self.lock:
            self._deferring = True
            try:
                yield
            finally:
                self._deferring = False
                if self._dirty:
                    self.save()

    def save(self) -> None:
        if self.path is None:
            return
        with self.lock:
            if self._deferring:
                self._dirty = True
                return
            self._dirty = False
            # Compact JSON: the C encoder, ten times faster than indent= on a big sandbox.
            write_private_file(self.path, json.dumps(self.data, ensure_ascii=False))

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
        with self.lock:
            user = {
                "id": user_id,
                "userPrincipalName": upn,
                "displayName": display_name,
                "phones": list(phones or []),
            }
            self.data["users"].append(user)
            self.save()
            return user

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.data)
