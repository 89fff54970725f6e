"""Files shared with other processes: replaced atomically (a crash never leaves half of one
behind), and locked around read-modify-write."""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def write_private_file(path: Path, text: str) -> None:
    """Replace `path` atomically with a file only its owner can read (mode 0600)."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file with mode 0600, before any byte is written.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def exclusive_lock(lock_path: Path) -> Iterator[None]:
    """An exclusive lock between processes, held on `lock_path` (created, mode 0600)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _lock_fd(fd)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _lock_fd(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        while True:  # LK_LOCK gives up after 10 s; a holder (a token refresh) may take longer
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError:
                continue
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)
