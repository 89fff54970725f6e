"""Writing files so that a crash never leaves half of one behind."""

import os
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
