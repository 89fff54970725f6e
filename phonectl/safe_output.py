"""What makes output safe, whatever text reaches it: every secret phonectl holds or sends is
replaced by `[redacted]`, in each value before it is laid out (render.py: a table or card
that wraps a value cannot split a secret past redaction) and again in everything written to
stdout and stderr (so a server echoing a token back cannot get it printed through any path);
text from outside is shown with its control characters escaped, never sent raw to a
terminal; and what the streams' encoding cannot show is escaped, not an error.

Kept free of heavy imports: cli.main() installs the streams before anything else runs."""

from __future__ import annotations

import errno
import os
from functools import cache

from phonectl.characters import C0_RANGE, DEL_AND_C1_RANGE

# Neither `typing` nor `re` is imported for `phonectl --version` (~10 ms): annotations are
# only read by mypy, and the patterns are compiled on first use.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Iterable, Mapping
    from typing import Any, TextIO

REDACTED = "[redacted]"
# Shorter values are not tokens or passwords worth the name, and replacing them everywhere
# would garble ordinary output.
MIN_SECRET_LENGTH = 6

# DEL, C1 (characters.py says what a control character is), and the invisible characters
# that reorder or break lines on a terminal: bidi marks, embeddings, overrides and isolates,
# line and paragraph separators.
_INVISIBLE = DEL_AND_C1_RANGE + "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
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
    return _pattern(C0_RANGE + _INVISIBLE).sub(_escape_char, text)


def escape_for_json(text: str) -> str:
    """json.dumps(ensure_ascii=False) output with C1, bidi and separators escaped as \\uXXXX
    (JSON already escapes C0): still the same JSON value, but inert on a terminal."""
    # Inside JSON text, C0 characters only occur escaped (or as whitespace between tokens).
    return _pattern(_INVISIBLE).sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# A secret is found by the last ANCHOR_CHARS characters of each form it may take (its tail:
# tokens share their first characters, a JWT's header, far more often than their last).
ANCHOR_CHARS = MIN_SECRET_LENGTH


class SecretSet:
    """The secrets this process holds; `redact` replaces every one wherever it appears.

    Secrets are only collected when added; the search is built once, at the first redaction
    after a change: a regex over the secrets' tails (a trie, so its size grows with the number
    of secrets, not its matching time), then a check of the few whole secrets that share the
    tail found. Time is linear in the text, however many secrets a token cache held."""

    def __init__(self) -> None:
        self._forms: dict[str, set[str]] = {}  # by tail
        self._search: _Search | None = None
        self._stale = False

    def add(self, value: str | None) -> None:
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        import json
        from urllib.parse import quote

        # Also as a server might echo it back: JSON-escaped (either way) or percent-encoded.
        forms = {
            value,
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
            quote(value, safe=""),
        }
        for form in forms:
            same_tail = self._forms.setdefault(form[-ANCHOR_CHARS:], set())
            if form not in same_tail:
                same_tail.add(form)
                self._stale = True

    def _current_search(self) -> _Search | None:
        if self._stale:
            self._stale = False
            # Built whole, then swapped in: a reader in another thread never sees half of it.
            self._search = _Search(self._forms)
        return self._search

    def redact(self, text: str) -> str:
        search = self._current_search()
        if search is None:
            return text
        # Most text holds no secret's tail: one plain search (fast, in C) says so.
        first = search.any_tail.search(text)
        if first is None:
            return text
        spans: list[tuple[int, int]] = []
        for match in search.every_tail.finditer(text, first.start()):
            end = match.start() + ANCHOR_CHARS
            for secret in search.by_tail[match.group(1)]:  # longest first
                start = end - len(secret)
                if start >= 0 and text.startswith(secret, start):
                    spans.append((start, end))
                    break
        if not spans:
            return text
        parts = []
        done = 0
        for start, end in sorted(spans):
            if end <= done:
                continue  # inside a secret already replaced
            if start >= done:
                parts += [text[done:start], REDACTED]
            done = end
        parts.append(text[done:])
        return "".join(parts)


class _Search:
    """What redact() searches with: the secrets by tail (longest first) and two regexes over
    the tails, one that finds the first, one that finds every one (overlapping too)."""

    def __init__(self, forms_by_tail: Mapping[str, set[str]]) -> None:
        import re

        self.by_tail = {
            tail: tuple(sorted(forms, key=len, reverse=True))
            for tail, forms in forms_by_tail.items()
        }
        tails = _trie_pattern(self.by_tail)
        self.any_tail = re.compile(tails)
        self.every_tail = re.compile(f"(?=({tails}))")


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex matching exactly `words`, as a trie: each character is tried once per level,
    whatever the number of words."""
    import re

    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def alternatives(node: dict[str, Any]) -> str:
        branches = [
            re.escape(char) + alternatives(rest) if char else "" for char, rest in node.items()
        ]
        return branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"

    return alternatives(root)


SECRETS = SecretSet()


def add_secret(value: str | None) -> None:
    """From now on, `value` never reaches stdout or stderr."""
    SECRETS.add(value)


def redact(text: str) -> str:
    """`text` with every secret this process holds replaced by [redacted]."""
    return SECRETS.redact(text)


def register_environment_secrets(environ: Mapping[str, str]) -> None:
    """The secrets phonectl sends that come from the environment: PHONECTL_ACCESS_TOKEN, and
    the credentials in a proxy's URL (any *_proxy variable, as requests reads them) or in a
    PHONECTL_* URL. Nothing else: another variable named *_KEY or *_TOKEN is not phonectl's,
    and its value (`contoso`) may well be data."""
    add_secret(environ.get("PHONECTL_ACCESS_TOKEN"))
    for name, value in environ.items():
        upper = name.upper()
        if upper.endswith("_PROXY") or upper.startswith("PHONECTL_"):
            for secret in url_credentials(value):
                add_secret(secret)


def url_credentials(url: str) -> list[str]:
    """The secret parts of a URL's userinfo: the password (as written and decoded), or the
    whole userinfo when it has no password (a token as the user name), and the Basic
    credentials a proxy is sent."""
    _, sep, rest = url.partition("://")
    if not sep:
        return []
    authority = rest
    for end in "/?#":
        authority = authority.partition(end)[0]
    userinfo, at, _ = authority.rpartition("@")
    if not at:
        return []
    import base64
    from urllib.parse import unquote

    user, colon, password = userinfo.partition(":")
    secret = password if colon else userinfo
    basic = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    return [secret, unquote(secret), basic]


class OutputFailed(OSError):
    """stdout could not be written (closed, full, a pipe whose reader left)."""


class SafeStream:
    """A text stream proxy: redacts secrets in every write; a failing stdout becomes
    OutputFailed (reported by main), and every later write to it raises that same failure
    (a reader gone stays EPIPE, exit 141, whatever writes next); a failing stderr goes
    quiet."""

    def __init__(self, stream: TextIO | None, *, is_stdout: bool) -> None:
        self._stream = stream
        self._is_stdout = is_stdout
        self._failure: OutputFailed | None = None

    def write(self, text: str) -> int:
        if self._stream is None:
            if self._is_stdout:
                raise self._failure or _closed()
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

    def check_reader(self) -> None:
        """Fail now (OutputFailed), as the next write would, when stdout is a pipe or socket
        whose reader has left (| head). A write the pipe has room for succeeds whatever the
        reader did, so without this look a reader gone could go unnoticed for a while. A
        stdout closed from the start (`>&-`), or failed before, fails here the same."""
        if not self._is_stdout:
            return
        if self._stream is None:
            raise self._failure or _closed()
        try:
            import select

            poller = select.poll()
            poller.register(self._stream.fileno(), 0)  # no events asked: only errors come back
            events = poller.poll(0)
        except (AttributeError, OSError, ValueError):  # no poll() (Windows), no descriptor
            return
        if any(happened & (select.POLLERR | select.POLLHUP) for _, happened in events):
            self._fail(BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE)))

    def _fail(self, exc: OSError | ValueError) -> None:
        """A failed stdout is reported (OutputFailed, for main); a failed stderr is given up
        quietly: there is nowhere left to say anything. Either way the descriptor is pointed
        at /dev/null so that Python's own flush at exit stays quiet."""
        self._silence()
        if self._is_stdout:
            if isinstance(exc, OSError):
                self._failure = OutputFailed(exc.errno, exc.strerror or str(exc))
            else:
                self._failure = _closed()
            raise self._failure from None

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


def _closed() -> OutputFailed:
    """stdout that was closed from the start (`>&-`), or a ValueError's closed file."""
    return OutputFailed(errno.EBADF, "standard output is closed")


def install_safe_streams() -> None:
    """Wrap sys.stdout and sys.stderr (once). A closed stderr stays closed: nothing meant for
    it ever falls back to stdout, as print(file=None) would. What a stream's encoding cannot
    show (PYTHONIOENCODING=ascii, a C locale) is written as a backslash escape, never an
    error that would end the output."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        _escape_what_cannot_be_encoded(stream)
    if not isinstance(sys.stdout, SafeStream):
        sys.stdout = SafeStream(sys.stdout, is_stdout=True)
    if not isinstance(sys.stderr, SafeStream):
        sys.stderr = SafeStream(sys.stderr, is_stdout=False)


def check_stdout_reader() -> None:
    """SafeStream.check_reader() on stdout, when stdout is phonectl's (not a test's
    capture, nor before install_safe_streams)."""
    import sys

    if isinstance(sys.stdout, SafeStream):
        sys.stdout.check_reader()


def _escape_what_cannot_be_encoded(stream: TextIO | None) -> None:
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is None or isinstance(stream, SafeStream):
        return
    import contextlib

    with contextlib.suppress(OSError, ValueError):  # closed or detached: writes fail anyway
        reconfigure(errors="backslashreplace")


def stdout_speaks_unicode() -> bool:
    """Whether stdout's encoding can carry any character (a UTF encoding): json is written
    with ensure_ascii otherwise, still valid JSON, where a backslash escape would not be."""
    import codecs
    import sys

    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        return codecs.lookup(encoding).name.startswith("utf")
    except LookupError:
        return False
