"""Where the MSAL token cache lives: the OS keyring (service `phonectl`) or, with
PHONECTL_TOKEN_CACHE, a file of mode 0600. Both are read and written whole, under a lock
that keeps two processes refreshing at once from losing each other's writes."""

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from phonectl.errors import SignInRequired
from phonectl.files import exclusive_lock, write_private_file

SERVICE = "phonectl"
HEADER_KEY = "token-cache"
# Windows Credential Manager keeps at most 2560 bytes of UTF-16 (1280 characters) a value;
# chunks stay well below that whatever the backend.
CHUNK_CHARS = 1000
T = TypeVar("T")


class CacheUnreadable(Exception):
    """The stored cache is damaged; callers treat it as empty, with a warning."""


class TokenStore(Protocol):
    location: str

    def read(self) -> str | None: ...

    def write(self, blob: str) -> None: ...

    def clear(self) -> None: ...


class FileStore:
    """The cache in a file (PHONECTL_TOKEN_CACHE): mode 0600, replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = f"file {path}"

    def read(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise CacheUnreadable(f"{self.path}: {exc}") from None

    def write(self, blob: str) -> None:
        write_private_file(self.path, blob)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


class KeyringStore:
    """The cache in the OS keyring, in chunks small enough for any backend.

    The chunks are written first and the header (chunk count and checksum) last, so a
    reader never takes a half-written cache for a whole one."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        import keyring

        backend = self._call(keyring.get_keyring)
        if _is_fail_backend(backend):
            raise SignInRequired(
                "no OS keyring is available to keep the sign-in (headless Linux, container, cron)",
                hint="set PHONECTL_TOKEN_CACHE=/path/to/file to keep the token cache in a "
                "file of mode 0600 instead, then run 'phonectl auth login'",
            )
        self._backend = backend
        self.location = f"keyring {type(backend).__module__}.{type(backend).__name__}"

    def read(self) -> str | None:
        raw_header = self._get(HEADER_KEY)
        if raw_header is None:
            return None
        try:
            header = json.loads(raw_header)
            count, digest = int(header["chunks"]), str(header["sha256"])
        except (ValueError, KeyError, TypeError):
            raise CacheUnreadable("the keyring entry's header is damaged") from None
        parts = [self._get(_chunk_key(i)) for i in range(count)]
        if any(part is None for part in parts):
            raise CacheUnreadable("a chunk of the keyring entry is missing")
        blob = "".join(p for p in parts if p is not None)
        if _digest(blob) != digest:
            raise CacheUnreadable("the keyring entry does not match its checksum")
        return blob

    def write(self, blob: str) -> None:
        old_count = self._stored_chunk_count()
        chunks = [blob[i : i + CHUNK_CHARS] for i in range(0, len(blob), CHUNK_CHARS)] or [""]
        for i, chunk in enumerate(chunks):
            self._call(self._backend.set_password, SERVICE, _chunk_key(i), chunk)
        header = json.dumps({"chunks": len(chunks), "sha256": _digest(blob)})
        self._call(self._backend.set_password, SERVICE, HEADER_KEY, header)
        self._delete_chunks(range(len(chunks), old_count))

    def clear(self) -> None:
        count = self._stored_chunk_count()
        self._delete(HEADER_KEY)
        self._delete_chunks(range(count))

    def _stored_chunk_count(self) -> int:
        raw = self._get(HEADER_KEY)
        try:
            return int(json.loads(raw)["chunks"]) if raw else 0
        except (ValueError, KeyError, TypeError):
            return 0

    def _delete_chunks(self, indexes: range) -> None:
        for i in indexes:
            self._delete(_chunk_key(i))

    def _delete(self, key: str) -> None:
        import keyring.errors

        with contextlib.suppress(keyring.errors.PasswordDeleteError):  # already gone
            self._call(self._backend.delete_password, SERVICE, key)

    def _get(self, key: str) -> str | None:
        return self._call(self._backend.get_password, SERVICE, key)

    def _call(self, operation: Callable[..., T], *args: Any) -> T:
        """Run a keyring call with a time limit: a D-Bus keyring can hang for ever."""
        import keyring.errors

        outcome: list[T] = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                outcome.append(operation(*args))
            except BaseException as exc:
                failure.append(exc)

        worker = threading.Thread(target=run, name="keyring", daemon=True)
        worker.start()
        worker.join(self._timeout)
        if worker.is_alive():
            raise SignInRequired(
                f"the OS keyring did not answer within {self._timeout:g} s",
                hint="unlock the keyring (or check D-Bus), or set "
                "PHONECTL_TOKEN_CACHE=/path/to/file to keep the token cache in a file",
            )
        if failure:
            exc = failure[0]
            if isinstance(exc, keyring.errors.PasswordDeleteError):
                raise exc
            if isinstance(exc, keyring.errors.KeyringError):
                raise SignInRequired(
                    f"the OS keyring refused: {exc}",
                    hint="set PHONECTL_TOKEN_CACHE=/path/to/file to keep the token cache "
                    "in a file instead",
                ) from None
            raise exc
        return outcome[0]


def _digest(blob: str) -> str:
    import hashlib

    return hashlib.sha256(blob.encode()).hexdigest()


def _chunk_key(index: int) -> str:
    return f"{HEADER_KEY}.{index}"


def _is_fail_backend(backend: object) -> bool:
    from keyring.backends import fail

    return isinstance(backend, fail.Keyring)


def open_store(token_cache_path: Path | None, keyring_timeout: float) -> TokenStore:
    """The file store when PHONECTL_TOKEN_CACHE names one, else the keyring."""
    if token_cache_path is not None:
        return FileStore(token_cache_path)
    return KeyringStore(keyring_timeout)


@contextmanager
def cache_lock(name: str = "token-cache") -> Iterator[None]:
    """An exclusive lock between phonectl processes around read-refresh-write."""
    import platformdirs

    lock_dir = Path(platformdirs.user_cache_dir("phonectl", appauthor=False))
    with exclusive_lock(lock_dir / f"{name}.lock"):
        yield
