"""main(): the one place that turns exceptions into a message and an exit code; run(): the
program around it (console script and `python -m phonectl`).

Kept free of Typer at import time: `phonectl --version` answers before any of it loads."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Sequence

from phonectl.errors import ExitCode, Interrupted, InvalidInput, PhonectlError, Terminated

COMPLETE_VAR = "_PHONECTL_COMPLETE"
# 128 + SIGPIPE, what a shell reports for a tool its pipe's reader left
PIPE_CLOSED = ExitCode.PIPE_CLOSED
SHELLS = ("bash", "zsh", "fish")


def _accept_click_completion_spelling() -> None:
    """Click spells the instruction `bash_complete`, Typer `complete_bash`: take both."""
    first, _, second = os.environ[COMPLETE_VAR].partition("_")
    if first in SHELLS:
        os.environ[COMPLETE_VAR] = f"{second}_{first}"


def _debugging(argv: Sequence[str]) -> bool:
    """--debug or PHONECTL_DEBUG, read by the same rule as Settings (an invalid value: no)."""
    from phonectl.settings import from_env

    try:
        return "--debug" in argv or bool(from_env(os.environ, "debug"))
    except InvalidInput:
        return False


def _on_signal(signum: int, frame: object) -> None:
    import signal

    raise Terminated() if signum == signal.SIGTERM else Interrupted()


def _interrupted(stop: Interrupted | None = None) -> int:
    stop = stop or Interrupted()
    said = f"{stop.word}: {stop.detail}" if stop.detail else stop.word
    print(said, file=sys.stderr, flush=True)  # a SafeStream: never raises
    return int(stop.exit_code)


def _arguments_as_utf8(args: Sequence[str]) -> list[str] | str:
    """The arguments, those the locale's codec could not read (a C locale reads only ASCII;
    Python keeps the bytes as lone surrogates) read again as UTF-8; or the first argument
    that is not valid UTF-8 either, for the error message."""
    decoded = []
    for arg in args:
        if any("\ud800" <= c <= "\udfff" for c in arg):
            raw = os.fsencode(arg)
            try:
                decoded.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                return raw.decode("utf-8", "replace")
        else:
            decoded.append(arg)
    return decoded


def main(argv: Sequence[str] | None = None) -> int:
    """Run phonectl; its exit code (`phonectl help exit-codes`)."""
    from phonectl.safe_output import OutputFailed, install_safe_streams

    install_safe_streams()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = _run(args)
        sys.stdout.flush()
    except OutputFailed as exc:
        import errno

        if exc.errno == errno.EPIPE:  # the reader left (| head): quiet, as Unix tools are
            return PIPE_CLOSED
        from phonectl import render

        render.error(PhonectlError(f"could not write the output: {exc.strerror}"))
        return int(ExitCode.FAILED)
    return code


def _catch_signals() -> dict[int, Callable[..., object] | int | None]:
    """SIGINT and SIGTERM raise phonectl's own exceptions; the handlers they replace."""
    import signal

    previous: dict[int, Callable[..., object] | int | None] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, _on_signal)
        except ValueError:  # not the main thread (an embedding program): leave signals alone
            break
    return previous


def _run(args: list[str]) -> int:
    if args == ["--version"]:
        from phonectl.version import version_text

        sys.stdout.write(version_text())
        return int(ExitCode.OK)
    # After the --version fast path (which prints no secret).
    from phonectl.safe_output import register_environment_secrets

    register_environment_secrets(os.environ)
    if os.environ.get(COMPLETE_VAR):
        _accept_click_completion_spelling()
    try:
        import signal

        import typer

        from phonectl import render
        from phonectl.app import click_group
    except KeyboardInterrupt:  # Ctrl-C while start-up still imports
        return _interrupted()
    decoded = _arguments_as_utf8(args)
    if isinstance(decoded, str):
        render.error(InvalidInput(f"an argument is not valid UTF-8 text: {decoded!r}"))
        return int(ExitCode.USAGE)
    args = decoded
    previous = _catch_signals()
    try:
        from phonectl.global_options import hoist_global_options
        from phonectl.terminal import process_terminal

        group = click_group()
        args = hoist_global_options(args, group)
        # The streams and the environment read once: everything after goes by this reading.
        with render.run_at(process_terminal()):
            returned = group.main(args=args, prog_name="phonectl", standalone_mode=False)
            return _shown(returned)  # inside: writing the result can be interrupted, or fail
    except Interrupted as stop:
        return _interrupted(stop)
    except PhonectlError as exc:
        render.error(exc)
        return int(exc.exit_code)
    except typer.TyperException as exc:
        # Click's usage errors (unknown option, bad enum value, missing argument).
        usage = getattr(exc, "ctx", None)
        hint = f"see '{usage.command_path} --help'" if usage is not None else None
        render.error(PhonectlError(exc.format_message(), hint=hint))
        return int(getattr(exc, "exit_code", ExitCode.USAGE))
    except (typer.Abort, KeyboardInterrupt):
        return _interrupted()
    except OSError as exc:
        from phonectl.safe_output import OutputFailed

        if isinstance(exc, OutputFailed):
            raise
        if _debugging(args):
            raise
        render.error(PhonectlError(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")))
        return int(ExitCode.FAILED)
    except RecursionError:
        render.error(InvalidInput("the input is nested beyond reason"))
        return int(ExitCode.USAGE)
    except Exception as exc:
        if _debugging(args):
            raise
        render.error(
            PhonectlError(
                f"unexpected internal error: {type(exc).__name__}: {exc}",
                hint="run again with --debug for a traceback, and report it",
            )
        )
        return int(ExitCode.FAILED)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _shown(returned: object) -> int:
    """The one place a command's result is written out; its exit code."""
    from phonectl import render

    if isinstance(returned, render.Shown):
        return int(render.show(returned.result, returned.fmt, stream=returned.stream))
    return int(returned) if isinstance(returned, int) else int(ExitCode.OK)


def run() -> None:
    """The `phonectl` program: main(), then an exit without a pointless last GC pass."""
    try:
        sys.exit(main())
    finally:
        # At exit Python runs the cyclic collector over every object start-up built (Typer's,
        # requests'), only to free memory the OS is about to take back: 20-35 ms, more than
        # phonectl's own start-up. Frozen objects are skipped; atexit handlers and the
        # flushing of stdout and stderr still run, and phonectl closes its files itself.
        gc.freeze()
