"""The emulator's data: users and their phones, seeded, kept in SQLite (stdlib sqlite3, WAL).

Each HTTP request the emulator serves is one transaction. A request touches only the rows it
names, found through indexes, so its cost does not grow with the number of users or phones,
and the database, not a hand-made lock, keeps `phonectl sandbox serve` and a `phonectl
--sandbox ...` beside it from losing each other's writes."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from phonectl.errors import InvalidInput
from phonectl.files import create_private_file

EXAMPLE_PHONE_ID = "0fb4c1e3-c1e3-0fb4-e3c1-b40fe3c1b40f"
ME_ID = "db789417-4ccb-41d1-a0a9-47b01a0b4fdf"
SECOND_USER_ID = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"

# 'phnc': tells phonectl's sandbox from any other SQLite file (PRAGMA application_id).
APPLICATION_ID = 0x70686E63
SCHEMA_VERSION = 1
# How long a request waits for another process's transaction before giving up.
BUSY_TIMEOUT_SECONDS = 30.0

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE users (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    id_key TEXT NOT NULL UNIQUE,
    upn TEXT NOT NULL,
    upn_key TEXT NOT NULL,
    display_name TEXT
);
CREATE INDEX users_by_upn ON users (upn_key);
CREATE TABLE phones (
    seq INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (user_id, id)
);
CREATE INDEX phones_in_order ON phones (user_id, seq);
"""


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


def _user(row: tuple[str, str, str | None]) -> dict[str, Any]:
    return {"id": row[0], "userPrincipalName": row[1], "displayName": row[2]}


class DuplicateEntry(ValueError):
    """A user or phone id that is already there."""


class SandboxState:
    """The emulator's users and phones, shared by every process using the same file.

    One connection per state, used under a lock by the emulator's threads; between processes
    SQLite's own locking (WAL: readers never block, one writer at a time) does the work.
    `path=None` keeps everything in memory (tests, benchmarks)."""

    def __init__(self, path: Path | None, *, load: bool = True) -> None:
        """`load=False` opens nothing yet: `reset()` must work on a file too damaged to open."""
        self.path = path
        self._lock = threading.RLock()
        self._depth = 0
        self._db: sqlite3.Connection | None = None
        if load:
            self._db = self._open()

    # -- opening -----------------------------------------------------------------------------

    def _damaged(self) -> InvalidInput:
        return InvalidInput(
            f"the sandbox state file {self.path} is damaged or not phonectl's",
            hint="'phonectl sandbox reset' starts it again from the seed data",
        )

    def _open(self) -> sqlite3.Connection:
        """The database, created and seeded when there is none yet. A damaged or foreign file
        is an error, never silently replaced: it may be someone's sandbox work."""
        if self.path is None:
            db = self._connect(":memory:")
        else:
            try:
                # Created private before SQLite sees it (its -wal and -shm copy the mode);
                # SQLite would wait for ever reading a FIFO, and fail obscurely on a directory.
                create_private_file(
                    self.path,
                    "the sandbox state file",
                    hint="move it out of the way: phonectl then starts a new sandbox from the seed",
                )
                db = self._connect(str(self.path))
            except sqlite3.DatabaseError:
                raise self._damaged() from None
            except OSError as exc:
                raise InvalidInput(
                    f"cannot open the sandbox state file {self.path}: {exc.strerror}"
                ) from None
        try:
            # Look before changing anything (WAL rewrites the header): a file that is neither
            # empty nor phonectl's is left exactly as it was.
            if not _is_ours_or_empty(db):
                raise self._damaged()
            if self.path is not None:
                db.execute("PRAGMA journal_mode = WAL")
                # In WAL, NORMAL never corrupts; a power cut may lose the last requests. A
                # sandbox is worth that for not waiting on fsync per request.
                db.execute("PRAGMA synchronous = NORMAL")
            with _write(db):
                if not _has_tables(db):  # checked again: another process may have just made it
                    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    for statement in SCHEMA.split(";"):
                        if statement.strip():
                            db.execute(statement)
                    _insert(db, seed())
                elif not _is_ours_or_empty(db):
                    raise self._damaged()
        except sqlite3.DatabaseError:
            db.close()
            raise self._damaged() from None
        except InvalidInput:
            db.close()
            raise
        return db

    @staticmethod
    def _connect(where: str) -> sqlite3.Connection:
        # isolation_level=None: phonectl says BEGIN and COMMIT itself, one per request.
        return sqlite3.connect(
            where, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )

    @property
    def db(self) -> sqlite3.Connection:
        """The open connection (tests count the work a request does through it)."""
        if self._db is None:
            self._db = self._open()
        return self._db

    def close(self) -> None:
        """Close the connection once no read or transaction is under way: a connection
        closed while another thread runs a statement on it crashes the interpreter (the
        emulator stopping while it still answers a client that went away)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One request's reads and writes, all or nothing; nested uses (a $batch's items)
        join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            try:
                with _write(self.db):
                    yield
            except sqlite3.DatabaseError:
                raise self._damaged() from None
            finally:
                self._depth = 0

    def _rows(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
        """A read, under the lock: the connection is shared by the emulator's threads (and
        a test's own), and a read must not interleave with another thread's transaction."""
        with self._lock:
            try:
                return self.db.execute(sql, parameters).fetchall()
            except sqlite3.DatabaseError:
                raise self._damaged() from None

    def reset(self) -> None:
        """Back to the seed data, whatever the file held (damaged or foreign included)."""
        with self._lock:
            try:
                with self.transaction():
                    self.db.execute("DELETE FROM phones")
                    self.db.execute("DELETE FROM users")
                    self.db.execute("DELETE FROM meta")
                    _insert(self.db, seed())
                return
            except InvalidInput:
                self.close()
            assert self.path is not None  # an in-memory database is never damaged
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
            self._db = self._open()

    # -- users -------------------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        rows = self._rows(
            "SELECT id, upn, display_name FROM users"
            " WHERE id_key = (SELECT lower(value) FROM meta WHERE key = 'me')"
        )
        if not rows:
            raise self._damaged()
        return _user(rows[0])

    def find_user(self, ref: str) -> dict[str, Any] | None:
        """A user by id or userPrincipalName (case-insensitive, as Graph matches them)."""
        wanted = ref.lower()
        rows = self._rows(
            "SELECT id, upn, display_name FROM users WHERE id_key = ?"
            " UNION ALL SELECT id, upn, display_name FROM users WHERE upn_key = ? LIMIT 1",
            (wanted, wanted),
        )
        return _user(rows[0]) if rows else None

    def users(self, *, after: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
        """Up to `limit` users in the order they were added, from position `after`; and the
        position to go on from, None at the end (a keyset cursor: no page rescans the rest)."""
        # Bounded: SQLite integers are 64-bit, a query option is any number of digits.
        after, limit = min(after, 2**62), min(limit, 2**31)
        rows = self._rows(
            "SELECT seq, id, upn, display_name FROM users WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit + 1),
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return [_user(row[1:]) for row in rows], (rows[-1][0] if more else None)

    def add_user(
        self,
        user_id: str,
        upn: str,
        display_name: str | None,
        phones: Iterable[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        user = {"id": user_id, "userPrincipalName": upn, "displayName": display_name}
        with self.transaction():
            try:
                _insert_user(self.db, {**user, "phones": list(phones)})
            except sqlite3.IntegrityError:
                raise DuplicateEntry(f"user {user_id!r} or one of its phone ids exists") from None
        return user

    # -- phones ------------------------------------------------------------------------------

    def phones(self, user_id: str) -> list[dict[str, Any]]:
        """A user's phones in the order they were added."""
        rows = self._rows("SELECT body FROM phones WHERE user_id = ? ORDER BY seq", (user_id,))
        return [json.loads(body) for (body,) in rows]

    def phone(self, user_id: str, phone_id: str) -> dict[str, Any] | None:
        rows = self._rows(
            "SELECT body FROM phones WHERE user_id = ? AND id = ?", (user_id, phone_id)
        )
        return json.loads(rows[0][0]) if rows else None

    def add_phone(self, user_id: str, phone: dict[str, Any]) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT INTO phones (user_id, id, body) VALUES (?, ?, ?)",
                (user_id, phone["id"], _json(phone)),
            )

    def replace_phone(self, user_id: str, phone: dict[str, Any]) -> None:
        """Store a phone's new properties; it keeps its place in the user's list."""
        with self.transaction():
            self.db.execute(
                "UPDATE phones SET body = ? WHERE user_id = ? AND id = ?",
                (_json(phone), user_id, phone["id"]),
            )

    def delete_phone(self, user_id: str, phone_id: str) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM phones WHERE user_id = ? AND id = ?", (user_id, phone_id))

    def snapshot(self) -> dict[str, Any]:
        """Everything, in the seed's shape: {"me": id, "users": [{..., "phones": [...]}]}."""
        with self.transaction():
            me = self.me()["id"]
            users, _ = self.users(after=0, limit=2**62)
            return {"me": me, "users": [{**u, "phones": self.phones(u["id"])} for u in users]}


@contextmanager
def _write(db: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front: two read-then-write transactions never
    # deadlock, the later one waits (busy timeout) and then sees the earlier one's rows.
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _has_tables(db: sqlite3.Connection) -> bool:
    return int(db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]) > 0


def _is_ours_or_empty(db: sqlite3.Connection) -> bool:
    application_id = db.execute("PRAGMA application_id").fetchone()[0]
    if not _has_tables(db):
        return application_id in (0, APPLICATION_ID)
    return (
        application_id == APPLICATION_ID
        and db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        and db.execute("SELECT value FROM meta WHERE key = 'me'").fetchone() is not None
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _insert_user(db: sqlite3.Connection, user: dict[str, Any]) -> None:
    db.execute(
        "INSERT INTO users (id, id_key, upn, upn_key, display_name) VALUES (?, ?, ?, ?, ?)",
        (
            user["id"],
            user["id"].lower(),
            user["userPrincipalName"],
            user["userPrincipalName"].lower(),
            user["displayName"],
        ),
    )
    db.executemany(
        "INSERT INTO phones (user_id, id, body) VALUES (?, ?, ?)",
        ((user["id"], phone["id"], _json(phone)) for phone in user["phones"]),
    )


def _insert(db: sqlite3.Connection, data: dict[str, Any]) -> None:
    db.execute("INSERT INTO meta (key, value) VALUES ('me', ?)", (data["me"],))
    for user in data["users"]:
        _insert_user(db, user)
