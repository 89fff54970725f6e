"""--record: a benchmark's output kept in bench/results/NAME.txt as well as printed, so the
docs quote a run's own words (docs/generate.py copies them into docs/performance.md, and a
test fails when the page and the files disagree)."""

from __future__ import annotations

import io
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

RESULTS = Path(__file__).resolve().parent / "results"


class _Tee(io.TextIOBase):
    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


@contextmanager
def recorded(name: str, record: bool, command: str) -> Iterator[None]:
    """Print as usual; with `record`, also into bench/results/NAME.txt, under a line that
    says when, on what and by which command (written only when the run finishes)."""
    if not record:
        yield
        return
    kept = io.StringIO()
    real = sys.stdout
    sys.stdout = _Tee(real, kept)
    try:
        yield
    finally:
        sys.stdout = real
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    machine = f"{platform.machine()}, Python {platform.python_version()}"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.txt").write_text(f"$ {command}  # {when}, {machine}\n{kept.getvalue()}")
