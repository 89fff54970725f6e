"""Files shared with other processes or read from the user: replaced atomically (a crash
never leaves half of one behind), in directories only the owner can enter, read only when
they are regular files (a FIFO or device would hang or never end), and locked around
read-modify-write with a bounded wait."""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from phonectl.errors import InvalidInput, NetworkError, PhonectlError

LOCK_POLL_SECONDS = 0.05


class NotARegularFile(InvalidInput):
    """A path where a file is expected names a FIFO, device, socket or directory."""


def ensure_private_dir(directory: Path) -> None:
    """Create `directory` and any missing parents with mode 0700, whatever the umask (an
    existing directory is left as it is: it may be shared on purpose)."""
    missing = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask: say it again


def read_regular_text(path: Path, what: str, *, max_bytes: int | None = None) -> str | None:
    """The UTF-8 text of a regular file (None if it does not exist); see read_regular_bytes."""
    data = read_regular_bytes(path, what, max_bytes=max_bytes)
    return None if data is None else data.decode("utf-8")


def read_regular_bytes(path: Path, what: str, *, max_bytes: int | None = None) -> bytes | None:
    """The bytes of a regular file (None if it does not exist); a FIFO, device or directory
    is refused without being read (opening a FIFO would wait for a writer for ever)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise NotARegularFile(f"{what} {path} is a directory, not a file") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise NotARegularFile(f"{what} {path} is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile(f"{what} {path} is not a regular file (a FIFO or device?)")
        if max_bytes is not None and info.st_size > max_bytes:
            raise InvalidInput(f"{what} {path} is over {max_bytes // (1024 * 1024)} MiB")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def create_private_file(path: Path, what: str, *, hint: str | None = None) -> None:
    """`path` as a regular file only its owner can read: created empty (mode 0600, in a
    private directory) when missing, left as it is when there. A FIFO, device or directory
    is refused, checked on the open descriptor without reading from it."""
    ensure_private_dir(path.parent)
    flags = os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except IsADirectoryError:
        regular = False
    else:
        try:
            regular = stat.S_ISREG(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
    if not regular:
        raise NotARegularFile(f"{what} {path} is not a regular file", hint=hint)


def refuse_non_regular(path: Path, what: str) -> None:
    """A path about to be replaced must be a regular file or nothing."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
        raise NotARegularFile(f"{what} {path} is not a regular file; it was not replaced")


def write_private_file(path: Path, text: str, what: str = "file") -> None:
    """Replace `path` atomically with a file only its owner can read (mode 0600)."""
    refuse_non_regular(path, what)
    _write_then_place(path, text, os.replace)


def create_new_private_file(path: Path, text: str, what: str = "file") -> None:
    """Create `path` (mode 0600), complete on disk, only if nothing has that name: an
    existing file (or a symlink, or whatever appeared since it was checked) is never
    replaced: InvalidInput."""
    try:
        _write_then_place(path, text, os.link)  # link(2) never replaces its target
    except FileExistsError:
        raise InvalidInput(f"{what} {path} exists; it was not replaced") from None


def link_into_place(written: Path, path: Path, what: str = "file") -> None:
    """Give the complete file `written` (synced, in the same directory) its name `path`,
    only if nothing has that name: link(2) never replaces an existing file, a symlink or
    whatever appeared since it was checked (InvalidInput). The new name is synced to disk
    with its directory. `written` keeps its own name: the caller removes it."""
    try:
        os.link(written, path)
    except FileExistsError:
        raise InvalidInput(f"{what} {path} exists; it was not replaced") from None
    _sync_directory(path.parent)


def append_synced(fd: int, data: bytes) -> None:
    """Write all of `data` at the end of the open file, then flush it to disk. If any of it
    fails (a full disk), the file is cut back to what it held before, best effort, and
    the error raised: it never ends in half a record."""
    start = os.lseek(fd, 0, os.SEEK_END)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        try:
            os.ftruncate(fd, start)
            os.lseek(fd, start, os.SEEK_SET)
        except OSError:
            pass
        raise


def _write_then_place(path: Path, text: str, place: Callable[[str, Path], None]) -> None:
    """Write `text` to a private temporary file beside `path`, flushed to disk, then put
    it in place with `place(temporary, path)` (rename or link), and sync the directory."""
    import tempfile

    ensure_private_dir(path.parent)
    # mkstemp creates the file with mode 0600, before any byte is written.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        place(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)  # after a rename it is gone; after a link, an alias
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    """The new name itself on disk (a crash right after must not lose the file)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory: the rename is still atomic
    finally:
        os.close(fd)


class LockBusy(NetworkError):
    """Another phonectl process held the lock for the whole wait (exit 6: try again later)."""


@contextmanager
def exclusive_lock(lock_path: Path, *, wait: float, holder: str = "") -> Iterator[None]:
    """An exclusive lock between processes on `lock_path` (mode 0600), waited for at most
    `wait` seconds; the file names the holder (pid and what it does) for the next waiter.
    A lock that cannot be opened (a read-only or full cache directory) is a PhonectlError
    naming it; naming the holder is only a courtesy, so a full disk that refuses those few
    bytes does not stop the one holding the lock."""
    try:
        ensure_private_dir(lock_path.parent)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        raise PhonectlError(
            f"could not open the lock {lock_path}: {exc.strerror or exc}",
            hint=f"phonectl keeps this lock in {lock_path.parent}: it must be a writable directory",
        ) from None
    try:
        if not _try_lock_until(fd, time.monotonic() + wait):
            raise LockBusy(
                f"another phonectl process holds {lock_path.name} ({_holder(fd)}); waited "
                f"{wait:g} s",
                hint="try again when it has finished",
            )
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()}{': ' + holder if holder else ''}".encode())
        except OSError:
            pass  # held all the same: the next waiter just reads "unknown process"
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "unknown process"


def _try_lock_until(fd: int, deadline: float) -> bool:
    while True:
        if _try_lock(fd):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(LOCK_POLL_SECONDS)


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
