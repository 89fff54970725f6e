"""What makes output safe, whatever text reaches it: every secret phonectl holds is replaced by
`[redacted]` in everything written to stdout and stderr (one step, at the streams, so that a
server echoing a token back cannot get it printed through any path), and text from outside
is shown with its control characters escaped, never sent raw to a terminal.

Kept free of heavy imports: cli.main() installs the streams before anything else runs."""

from __future__ import annotations

import errno
import os
from functools import cache

# Neither `typing` nor `re` is imported for `phonectl --version` (~10 ms): annotations are
# only read by mypy, and the patterns are compiled on first use.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from typing import Any, TextIO

REDACTED = "[redacted]"
# Shorter values are not tokens or passwords worth the name, and replacing them everywhere
# would garble ordinary output.
MIN_SECRET_LENGTH = 6

# C0, DEL, C1, and the invisible characters that reorder or break lines on a terminal: bidi
# marks, embeddings, overrides and isolates, line and paragraph separators.
_INVISIBLE = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_C0_NAMES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


@cache
def _pattern(characters: str) -> re.Pattern[str]:
    import re

    return re.compile(f"[{characters}]")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _C0_NAMES:
        return _C0_NAMES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """Text for a terminal: control, bidi and line-separator characters as visible escapes."""
    return _pattern("\x00-\x1f" + _INVISIBLE).sub(_escape_char, text)


def escape_for_json(text: str) -> str:
    """json.dumps(ensure_ascii=False) output with C1, bidi and separators escaped as \\uXXXX
    (JSON already escapes C0): still the same JSON value, but inert on a terminal."""
    # Inside JSON text, C0 characters only occur escaped (or as whitespace between tokens).
    return _pattern(_INVISIBLE).sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class _Secrets:
    """The secrets this process holds; `redact` replaces each one wherever it appears."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str | None) -> None:
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        import json
        import re
        from urllib.parse import quote

        # Also as a server might echo it back: JSON-escaped or percent-encoded.
        forms = {value, json.dumps(value)[1:-1], quote(value, safe="")}
        if forms <= self._values:
            return
        self._values |= forms
        ordered = sorted(self._values, key=len, reverse=True)
        # Built whole, then swapped in: a reader never sees a half-made pattern.
        self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        return text if pattern is None else pattern.sub(REDACTED, text)


SECRETS = _Secrets()


def add_secret(value: str | None) -> None:
    """From now on, `value` never reaches stdout or stderr."""
    SECRETS.add(value)


class OutputFailed(OSError):
    """stdout could not be written (closed, full, a pipe whose reader left)."""


class SafeStream:
    """A text stream proxy: redacts secrets in every write; a failing stdout becomes
    OutputFailed (reported by main), and later writes go nowhere instead of failing again."""

    def __init__(self, stream: TextIO | None, *, is_stdout: bool) -> None:
        self._stream = stream
        self._is_stdout = is_stdout

    @property
    def wrapped(self) -> TextIO | None:
        return self._stream

    def write(self, text: str) -> int:
        if self._stream is None:
            if self._is_stdout:
                raise OutputFailed(errno.EBADF, "standard output is closed")
            return len(text)
        try:
            return self._stream.write(SECRETS.redact(text))
        except (OSError, ValueError) as exc:
            self._fail(exc)
            return len(text)

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except (OSError, ValueError) as exc:
            self._fail(exc)

    def _fail(self, exc: OSError | ValueError) -> None:
        """A failed stdout is reported (OutputFailed, for main); a failed stderr is given up
        quietly: there is nowhere left to say anything. Either way the descriptor is pointed
        at /dev/null so that Python's own flush at exit stays quiet."""
        self._silence()
        if self._is_stdout:
            if isinstance(exc, OSError):
                raise OutputFailed(exc.errno, exc.strerror or str(exc)) from None
            raise OutputFailed(errno.EBADF, "standard output is closed") from None

    def _silence(self) -> None:
        stream, self._stream = self._stream, None
        try:
            if stream is not None:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)
        except (OSError, ValueError):
            pass

    def isatty(self) -> bool:
        try:
            return self._stream is not None and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def __getattr__(self, name: str) -> Any:
        if self._stream is None:
            raise AttributeError(name)
        return getattr(self._stream, name)


def install_safe_streams() -> None:
    """Wrap sys.stdout and sys.stderr (once). A closed stderr stays closed: nothing meant for
    it ever falls back to stdout, as print(file=None) would."""
    import sys

    if not isinstance(sys.stdout, SafeStream):
        sys.stdout = SafeStream(sys.stdout, is_stdout=True)
    if not isinstance(sys.stderr, SafeStream):
        sys.stderr = SafeStream(sys.stderr, is_stdout=False)
