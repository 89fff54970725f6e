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

from phonectl.errors import InvalidInput, SignInRequired
from phonectl.files import exclusive_lock, read_regular_text, write_private_file

SERVICE = "phonectl"
HEADER_KEY = "token-cache"
# Windows Credential Manager keeps at most 2560 bytes of UTF-16 (1280 characters) a value;
# chunks stay well below that whatever the backend.
CHUNK_CHARS = 1000
MAX_CACHE_BYTES = 16 * 1024 * 1024
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
            return read_regular_text(self.path, "the token cache", max_bytes=MAX_CACHE_BYTES)
        except (OSError, UnicodeDecodeError, InvalidInput) as exc:
            reason = exc.message if isinstance(exc, InvalidInput) else exc
            raise CacheUnreadable(f"{reason}") from None

    def write(self, blob: str) -> None:
        write_private_file(self.path, blob, "the token cache")

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


class KeyringStore:
    """The cache in the OS keyring, in chunks small enough for any backend.

    The chunks are written first and the header (chunk count and checksum) last, so a
    reader never takes a half-written cache for a whole one."""

    def __init__(self, timeout: float, header_key: str = HEADER_KEY) -> None:
        self._timeout = timeout
        self._header_key = header_key
        import keyring

        backend = self._call(keyring.get_keyring)
        if _is_plaintext_backend(backend) and not _backend_chosen_explicitly():
            raise SignInRequired(
                f"the only keyring found ({_backend_name(backend)}) keeps secrets in a "
                "plain-text file; phonectl does not put tokens there unless you choose it",
                hint="set PHONECTL_TOKEN_CACHE=/path/to/file (a file of mode 0600), or choose "
                "that keyring explicitly with PYTHON_KEYRING_BACKEND",
            )
        if _is_fail_backend(backend):
            raise SignInRequired(
                "no OS keyring is available to keep the sign-in (headless Linux, container, cron)",
                hint="set PHONECTL_TOKEN_CACHE=/path/to/file to keep the token cache in a "
                "file of mode 0600 instead, then run 'phonectl auth login'",
            )
        self._backend = backend
        self.location = f"keyring {_backend_name(backend)}"

    def read(self) -> str | None:
        raw_header = self._get(self._header_key)
        if raw_header is None:
            return None
        try:
            header = json.loads(raw_header)
            count, digest = int(header["chunks"]), str(header["sha256"])
        except (ValueError, KeyError, TypeError):
            raise CacheUnreadable("the keyring entry's header is damaged") from None
        parts = [self._get(self._chunk_key(i)) for i in range(count)]
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
            self._call(self._backend.set_password, SERVICE, self._chunk_key(i), chunk)
        header = json.dumps({"chunks": len(chunks), "sha256": _digest(blob)})
        self._call(self._backend.set_password, SERVICE, self._header_key, header)
        self._delete_chunks(range(len(chunks), old_count))

    def clear(self) -> None:
        count = self._stored_chunk_count()
        self._delete(self._header_key)
        self._delete_chunks(range(count))

    def _chunk_key(self, index: int) -> str:
        return f"{self._header_key}.{index}"

    def _stored_chunk_count(self) -> int:
        raw = self._get(self._header_key)
        try:
            return int(json.loads(raw)["chunks"]) if raw else 0
        except (ValueError, KeyError, TypeError):
            return 0

    def _delete_chunks(self, indexes: range) -> None:
        for i in indexes:
            self._delete(self._chunk_key(i))

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


def _backend_name(backend: object) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _is_plaintext_backend(backend: object) -> bool:
    """keyrings.alt's PlaintextKeyring (secrets readable in a file), directly or first in a
    chain of backends."""
    chained = getattr(backend, "backends", None)
    if isinstance(chained, list) and chained:
        backend = chained[0]
    return any(
        cls.__name__ == "PlaintextKeyring" and cls.__module__.startswith("keyrings.alt")
        for cls in type(backend).__mro__
    )


def _backend_chosen_explicitly() -> bool:
    """PYTHON_KEYRING_BACKEND, or a default-keyring in keyring's own config file."""
    import os

    if os.environ.get("PYTHON_KEYRING_BACKEND"):
        return True
    try:
        import keyring.core

        return keyring.core.load_config() is not None
    except Exception:  # a broken keyringrc.cfg chooses nothing
        return False


def _is_fail_backend(backend: object) -> bool:
    from keyring.backends import fail

    return isinstance(backend, fail.Keyring)


def store_key(profile: str) -> str:
    """A profile's name for its cache, in the keyring and for its lock: the `default`
    profile keeps the name used before profiles existed, so its tokens stay where they are."""
    return HEADER_KEY if profile == "default" else f"{HEADER_KEY}@{profile}"


def open_store(
    token_cache_path: Path | None, keyring_timeout: float, profile: str = "default"
) -> TokenStore:
    """The file store when PHONECTL_TOKEN_CACHE names one, else the profile's keyring entry."""
    if token_cache_path is not None:
        return FileStore(token_cache_path)
    return KeyringStore(keyring_timeout, store_key(profile))


@contextmanager
def cache_lock(wait: float, name: str = "token-cache") -> Iterator[None]:
    """An exclusive lock between phonectl processes around read-refresh-write, waited for
    at most `wait` seconds (a holder's own calls end within their timeout)."""
    with exclusive_lock(lock_dir() / f"{name}.lock", wait=wait, holder=name):
        yield


def lock_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("phonectl", appauthor=False))
