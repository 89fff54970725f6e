"""Exit codes and the exception family that carries them to cli.main()."""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum


class ExitCode(IntEnum):
    """Each code with its meaning, as `phonectl help exit-codes` prints it: a code cannot be
    added without saying what it means."""

    meaning: str

    def __new__(cls, code: int, meaning: str) -> ExitCode:
        member = int.__new__(cls, code)
        member._value_ = code
        member.meaning = meaning
        return member

    OK = 0, "success"
    FAILED = 1, "Graph refused the request (other 4xx, 5xx after retries), or apply had failed rows"
    USAGE = 2, "bad usage or invalid input, caught before anything was sent"
    SIGN_IN = 3, "sign-in needed or failed (no usable token and no way to ask; 401)"
    FORBIDDEN = 4, "permission denied (403)"
    NOT_FOUND = 5, "not found (404)"
    TRY_LATER = 6, "network failure, timeout, or still throttled after retries: try again later"
    INTERRUPTED = 130, "interrupted (Ctrl-C); what was already written is reported first"
    PIPE_CLOSED = (
        141,
        "stdout closed by its reader (a pipe to head): quiet; apply sends no more writes and "
        "says on stderr what it wrote",
    )
    TERMINATED = 143, "terminated (SIGTERM); what was already written is reported first"


TRANSIENT_STATUSES = frozenset({429, 503, 504})

_EXIT_BY_STATUS = {401: ExitCode.SIGN_IN, 403: ExitCode.FORBIDDEN, 404: ExitCode.NOT_FOUND}


def exit_code_for_status(status: int) -> ExitCode:
    """The exit code for a final HTTP error status from Graph."""
    if status in TRANSIENT_STATUSES:
        return ExitCode.TRY_LATER
    return _EXIT_BY_STATUS.get(status, ExitCode.FAILED)


# How the core speaks to a person without knowing how (render.notice, render.warning, or a
# test's list.append): auth, config and settings print nothing themselves.
Say = Callable[[str], None]


class Interrupted(BaseException):
    """Ctrl-C (SIGINT), raised in the main thread by cli.main()'s handler. Not a
    KeyboardInterrupt: Typer would turn that into a silent exit 130, and what was done so
    far could not be reported first."""

    exit_code = ExitCode.INTERRUPTED
    word = "interrupted"
    # What was under way, when that matters to what comes next (a write sent, its answer
    # not yet in: it may have been carried out).
    detail: str | None = None


class Terminated(Interrupted):
    """SIGTERM, likewise."""

    exit_code = ExitCode.TERMINATED
    word = "terminated"


class PhonectlError(Exception):
    """An error the user sees as one message (plus an optional hint) and an exit code."""

    exit_code: ExitCode = ExitCode.FAILED
    # False when the error came before a request could leave (no connection, no token):
    # a write that failed so was certainly not carried out.
    request_sent: bool = True

    def __init__(
        self, message: str, hint: str | None = None, details: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # Further lines of the message (one per bad line of a file, say), each shown alone.
        self.details = details


class InvalidInput(PhonectlError):
    """Bad usage or input, caught before anything was sent."""

    exit_code = ExitCode.USAGE


class SignInRequired(PhonectlError):
    exit_code = ExitCode.SIGN_IN


class NetworkError(PhonectlError):
    """Connection failure or timeout: nothing useful came back; try again later."""

    exit_code = ExitCode.TRY_LATER


class GraphError(PhonectlError):
    """Graph answered with an error status (after any retries)."""

    def __init__(
        self,
        *,
        status: int,
        method: str,
        url: str,
        code: str | None,
        message: str,
        request_id: str | None,
        date: str | None,
    ) -> None:
        hint = _HINT_BY_STATUS.get(status)
        if hint is None and status >= 500:
            hint = "Graph failed on its side: try again later (apply run again does what is left)"
        super().__init__(message, hint=hint)
        self.status = status
        self.method = method
        self.url = url
        self.code = code
        self.request_id = request_id
        self.date = date
        self.exit_code = exit_code_for_status(status)


_HINT_BY_STATUS = {
    401: "sign in again with 'phonectl auth login' or set PHONECTL_ACCESS_TOKEN to a valid token",
    403: "the token lacks permission: other users' profiles need User.ReadWrite.All "
    "('phonectl auth login --scope User.ReadWrite.All')",
    404: "check the user and phone id ('phonectl list' shows the ids)",
    429: "Graph is throttling: try again later or raise PHONECTL_MAX_RETRIES",
    503: "Graph is unavailable: try again later",
    504: "Graph timed out: try again later",
}
