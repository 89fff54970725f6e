"""Where the MSAL token cache lives: the OS keyring (service `phonectl`) or, with
PHONECTL_TOKEN_CACHE, a file of mode 0600. Both are read and written whole, under a lock
that keeps two processes refreshing at once from losing each other's writes."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

from phonectl.errors import InvalidInput, SignInRequired
from phonectl.files import exclusive_lock, read_regular_text, write_private_file

SERVICE = "phonectl"
HEADER_KEY = "token-cache"
# Windows Credential Manager keeps at most 2560 bytes of UTF-16 (1280 characters) a value;
# chunks stay well below that whatever the backend.
CHUNK_CHARS = 1000
MAX_CACHE_BYTES = 16 * 1024 * 1024
# The most chunks a cache of MAX_CACHE_BYTES needs: a header claiming more is damaged, and
# no loop over chunks (reading, clearing) runs longer than this, whatever a header says.
MAX_CHUNKS = -(-MAX_CACHE_BYTES // CHUNK_CHARS)
KEYRING_HINT = (
    "unlock the keyring (or check D-Bus), or set PHONECTL_TOKEN_CACHE=/path/to/file to keep "
    "the token cache in a file of mode 0600 instead"
)
T = TypeVar("T")


class CacheUnreadable(Exception):
    """The stored cache is damaged; callers treat it as empty, with a warning."""


class KeyringUnavailable(SignInRequired):
    """The OS keyring could not be used: locked, missing, failing, answering nonsense, or too
    slow. Every failure of a keyring backend becomes this one error (exit 3)."""


class NoKeyring(KeyringUnavailable):
    """No keyring backend exists here at all: nothing can have been kept in one."""


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


class _Header(NamedTuple):
    """The keyring entry's header: how many chunks, their checksum, and the generation that
    names their keys (None: chunks written before generations, `token-cache.N`)."""

    chunks: int
    sha256: str
    generation: str | None


class KeyringStore:
    """The cache in the OS keyring, in chunks small enough for any backend.

    Each write puts its chunks under keys of a new generation, then the header naming them
    last, then removes the previous generation's chunks: a write that fails part way (a
    keyring that refuses, a full disk) leaves the previous cache whole and readable, so a
    refreshed sign-in that cannot be saved never costs the one already kept.

    Every keyring call runs in a worker thread, and each operation (open, read, write, clear)
    ends within the keyring timeout as a whole; a backend that hangs once is not called again
    by this process. Whatever a backend does (raise any exception, answer bytes, hang) ends
    in KeyringUnavailable."""

    def __init__(self, timeout: float, header_key: str = HEADER_KEY) -> None:
        self._timeout = timeout
        self._header_key = header_key
        self._deadline = time.monotonic() + timeout
        backend = self._call(_default_backend)
        if _is_fail_backend(backend):
            raise NoKeyring(
                "no OS keyring is available to keep the sign-in (headless Linux, container, cron)",
                hint="set PHONECTL_TOKEN_CACHE=/path/to/file to keep the token cache in a "
                "file of mode 0600 instead, then run 'phonectl auth login'",
            )
        if _is_plaintext_backend(backend) and not _backend_chosen_explicitly():
            raise KeyringUnavailable(
                f"the only keyring found ({_backend_name(backend)}) keeps secrets in a "
                "plain-text file; phonectl does not put tokens there unless you choose it",
                hint="set PHONECTL_TOKEN_CACHE=/path/to/file (a file of mode 0600), or choose "
                "that keyring explicitly with PYTHON_KEYRING_BACKEND",
            )
        self._backend = backend
        self.location = f"keyring {_backend_name(backend)}"
        # One call now, so that a keyring that cannot be used (locked, failing, hanging) says
        # so before anyone signs in; the header read serves a first read() (the warm path
        # makes no extra call), while a write or clear reads it afresh.
        self._opened_header: list[str | None] = [self._get(header_key)]

    def read(self) -> str | None:
        self._start()
        opened = self._opened_header
        header = self._header(opened.pop() if opened else self._get(self._header_key))
        if header is None:
            return None
        parts = []
        size = 0
        for i in range(header.chunks):
            part = self._get(self._chunk_key(header.generation, i))
            if part is None:
                raise CacheUnreadable("a chunk of the keyring entry is missing")
            size += len(part)
            if len(part) > CHUNK_CHARS or size > MAX_CACHE_BYTES:
                raise CacheUnreadable("a chunk of the keyring entry is larger than written")
            parts.append(part)
        blob = "".join(parts)
        if _digest(blob) != header.sha256:
            raise CacheUnreadable("the keyring entry does not match its checksum")
        return blob

    def write(self, blob: str) -> None:
        if len(blob) > MAX_CACHE_BYTES:
            raise KeyringUnavailable(
                f"the token cache has grown past {MAX_CACHE_BYTES // (1024 * 1024)} MiB",
                hint="run 'phonectl auth logout', then 'phonectl auth login'",
            )
        self._start()
        self._opened_header.clear()
        previous = self._get(self._header_key)
        import secrets

        new = _Header(-(-len(blob) // CHUNK_CHARS) or 1, _digest(blob), secrets.token_hex(4))
        try:
            for i in range(new.chunks):
                chunk = blob[i * CHUNK_CHARS : (i + 1) * CHUNK_CHARS]
                key = self._chunk_key(new.generation, i)
                self._call(self._backend.set_password, SERVICE, key, chunk)
        except KeyringUnavailable:
            self._forget_chunks(new.generation, best_effort=True)  # the previous cache stays
            raise
        header = {"chunks": new.chunks, "sha256": new.sha256, "generation": new.generation}
        self._call(self._backend.set_password, SERVICE, self._header_key, json.dumps(header))
        if previous is not None and _generation(previous) != new.generation:
            # Saved already: what is left are stale copies, removed as far as time allows.
            self._forget_chunks(_generation(previous), best_effort=True)

    def clear(self) -> None:
        """Remove the chunks, then the header: a clear that fails part way leaves a header
        that still finds what is left, for the next logout to remove. A damaged header
        still names its chunks' generation."""
        self._start()
        self._opened_header.clear()
        header = self._get(self._header_key)
        if header is None:
            return
        self._forget_chunks(_generation(header), best_effort=False)
        self._delete(self._header_key)

    def _start(self) -> None:
        """A new operation: the keyring timeout bounds it as a whole."""
        self._deadline = time.monotonic() + self._timeout

    def _chunk_key(self, generation: str | None, index: int) -> str:
        """A chunk's key: `<header>.<generation>.<n>`, or `<header>.<n>` for a cache
        written before generations."""
        prefix = self._header_key if generation is None else f"{self._header_key}.{generation}"
        return f"{prefix}.{index}"

    def _header(self, raw: str | None) -> _Header | None:
        """The stored header, checked; None when there is none."""
        if raw is None:
            return None
        try:
            fields = json.loads(raw)
            chunks, digest = fields["chunks"], fields["sha256"]
            generation = fields.get("generation")
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            raise CacheUnreadable("the keyring entry's header is damaged") from None
        if (
            not isinstance(chunks, int)
            or isinstance(chunks, bool)
            or not isinstance(digest, str)
            or not (generation is None or (isinstance(generation, str) and generation.isalnum()))
        ):
            raise CacheUnreadable("the keyring entry's header is damaged")
        if not 0 < chunks <= MAX_CHUNKS:
            raise CacheUnreadable(
                f"the keyring entry's header claims {chunks} chunks; a token cache has "
                f"1 to {MAX_CHUNKS}"
            )
        return _Header(chunks, digest, generation)

    def _forget_chunks(self, generation: str | None, *, best_effort: bool) -> None:
        """Delete a generation's chunks, from the first to the first already gone (never more
        than a cache can have, whatever a damaged header claims)."""
        try:
            for i in range(MAX_CHUNKS):
                if not self._delete(self._chunk_key(generation, i)):
                    break
        except KeyringUnavailable:
            if not best_effort:
                raise

    def _delete(self, key: str) -> bool:
        """Delete one entry; False when it was not there."""
        import keyring.errors

        try:
            self._call(self._backend.delete_password, SERVICE, key)
        except keyring.errors.PasswordDeleteError:
            return False
        return True

    def _get(self, key: str) -> str | None:
        value: object = self._call(self._backend.get_password, SERVICE, key)
        if value is not None and not isinstance(value, str):
            raise KeyringUnavailable(
                f"the OS keyring ({_backend_name(self._backend)}) answered with "
                f"{type(value).__name__}, not text",
                hint=KEYRING_HINT,
            )
        return value

    def _call(self, operation: Callable[..., T], *args: Any) -> T:
        return _call_keyring(operation, args, self._deadline, self._timeout)


# A keyring call that did not end in time: it may still be running (a D-Bus call that never
# answers), so this process makes no further keyring call.
_HUNG: list[threading.Thread] = []


def _call_keyring(
    operation: Callable[..., T], args: tuple[Any, ...], deadline: float, timeout: float
) -> T:
    """Run one keyring call in a worker thread, waited for until `deadline`; any failure of
    the backend (an exception of any type, a hang) is KeyringUnavailable. PasswordDeleteError,
    keyring's "not there", passes through for the caller."""
    import keyring.errors

    if any(worker.is_alive() for worker in _HUNG):
        raise _timed_out(timeout)
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(operation(*args))
        except BaseException as exc:  # whatever a backend raises is reported, not lost
            failure.append(exc)

    worker = threading.Thread(target=run, name="keyring", daemon=True)
    worker.start()
    worker.join(max(deadline - time.monotonic(), 0))
    if worker.is_alive():
        _HUNG.append(worker)
        raise _timed_out(timeout)
    if failure:
        exc = failure[0]
        if isinstance(exc, keyring.errors.PasswordDeleteError):
            raise exc
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if not isinstance(exc, keyring.errors.KeyringError):
            reason = f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
        raise KeyringUnavailable(
            f"the OS keyring failed: {reason or 'no reason given'}", hint=KEYRING_HINT
        ) from None
    return outcome[0]


def _timed_out(timeout: float) -> KeyringUnavailable:
    return KeyringUnavailable(
        f"the OS keyring did not answer within {timeout:g} s", hint=KEYRING_HINT
    )


def _default_backend() -> Any:
    """keyring's backend (PYTHON_KEYRING_BACKEND, its config file, or the best found); a
    chosen backend that cannot load here fails like any keyring call."""
    import keyring

    backend = keyring.get_keyring()
    if not all(
        callable(getattr(backend, name, None))
        for name in ("get_password", "set_password", "delete_password")
    ):
        raise TypeError(f"{_backend_name(backend)} is not a keyring backend")
    return backend


def _digest(blob: str) -> str:
    import hashlib

    # surrogatepass: a damaged entry holding lone surrogates fails its checksum, not the read.
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def _generation(raw_header: str) -> str | None:
    """The generation a stored header names, however damaged the rest of it is; None for a
    header written before generations (or one too damaged to say)."""
    try:
        generation = json.loads(raw_header).get("generation")
    except (ValueError, AttributeError, RecursionError):
        return None
    return generation if isinstance(generation, str) and generation.isalnum() else None


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
