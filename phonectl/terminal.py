"""The terminal a run of phonectl is at: which of stdin, stdout and stderr are terminals, how
wide stdout is, whether to use colour and whether someone can be asked a question. Read once
per run, from the real streams and the environment (cli.main), and handed on: render lays out
and draws progress by it, the commands and the sign-in ask it before prompting. Nothing else
reads `isatty()`, `shutil.get_terminal_size()`, NO_COLOR or FORCE_COLOR.

A core module: it imports nothing of phonectl's and prints nothing."""

from __future__ import annotations

import os
from typing import NamedTuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


# A NamedTuple, not a frozen dataclass: as immutable, and defined on every run for free
# (settings.py says why).
class Terminal(NamedTuple):
    """What phonectl may assume of its streams for this run."""

    stdin: bool  # stdin is a terminal: someone may type an answer
    stdout: bool  # stdout is a terminal: tables are fitted to `width`
    stderr: bool  # stderr is a terminal: progress bars and questions are seen there
    width: int | None = None  # stdout's columns; None when stdout is a file or pipe
    colour: bool = False  # style tables (bold headers): a terminal or FORCE_COLOR, no NO_COLOR

    @property
    def can_prompt(self) -> bool:
        """Whether a question can be asked and answered: stdin and stderr are terminals."""
        return self.stdin and self.stderr

    @property
    def shows_progress(self) -> bool:
        """Whether a progress bar is drawn: stderr is a terminal."""
        return self.stderr

    @classmethod
    def of(cls, stdin: Any, stdout: Any, stderr: Any, environ: Mapping[str, str]) -> Terminal:
        """The terminal these streams and this environment make: width only when stdout is
        a terminal (every column whole in a file or pipe, so grep and cut see whole values);
        colour at a terminal or with FORCE_COLOR, never with NO_COLOR (both: set, non-empty)."""
        out = is_terminal(stdout)
        return cls(
            stdin=is_terminal(stdin),
            stdout=out,
            stderr=is_terminal(stderr),
            width=_columns(environ) if out else None,
            colour=(out or bool(environ.get("FORCE_COLOR"))) and not environ.get("NO_COLOR"),
        )


def process_terminal() -> Terminal:
    """The terminal of this process as it is now: its standard streams and environment."""
    import sys

    return Terminal.of(sys.stdin, sys.stdout, sys.stderr, os.environ)


def is_terminal(stream: Any) -> bool:
    """Whether `stream` is a terminal; a closed, detached or missing one is not."""
    try:
        return stream is not None and bool(stream.isatty())
    except (OSError, ValueError, AttributeError):
        return False


def _columns(environ: Mapping[str, str]) -> int:
    """stdout's width, as shutil.get_terminal_size() reads it: COLUMNS when it is a positive
    number, else the terminal's own size (80 if that cannot be had)."""
    import shutil

    try:
        columns = int(environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    return columns if columns > 0 else shutil.get_terminal_size().columns
