"""main(): the one place that turns exceptions into a message and an exit code; run(): the
program around it (console script and `python -m phonectl`).

Kept free of Typer at import time: `phonectl --version` answers before any of it loads."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence

from phonectl.errors import ExitCode, InvalidInput, PhonectlError

COMPLETE_VAR = "_PHONECTL_COMPLETE"
SHELLS = ("bash", "zsh", "fish")


def _accept_click_completion_spelling() -> None:
    """Click spells the instruction `bash_complete`, Typer `complete_bash`: take both."""
    first, _, second = os.environ[COMPLETE_VAR].partition("_")
    if first in SHELLS:
        os.environ[COMPLETE_VAR] = f"{second}_{first}"


def _debugging(argv: Sequence[str]) -> bool:
    """--debug or PHONECTL_DEBUG, read by the same rule as Settings (an invalid value: no)."""
    from phonectl.settings import env_bool

    try:
        return "--debug" in argv or bool(env_bool(os.environ, "PHONECTL_DEBUG"))
    except InvalidInput:
        return False


def _interrupted() -> int:
    print("interrupted", file=sys.stderr, flush=True)
    return int(ExitCode.INTERRUPTED)


def main(argv: Sequence[str] | None = None) -> int:
    """Run phonectl; the exit code per CONTRACT.md."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        from phonectl import __version__

        print(f"phonectl {__version__}")
        return int(ExitCode.OK)
    if os.environ.get(COMPLETE_VAR):
        _accept_click_completion_spelling()
    try:
        import typer

        from phonectl import render
        from phonectl.app import app
        from phonectl.lazy_commands import lazy_click_group
    except KeyboardInterrupt:  # Ctrl-C while start-up still imports
        return _interrupted()

    try:
        result = lazy_click_group(app).main(args=args, prog_name="phonectl", standalone_mode=False)
    except PhonectlError as exc:
        render.error(exc)
        return int(exc.exit_code)
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `phonectl` or `phonectl auth` alone
            print(exc.format_message(), file=sys.stderr)
            return int(ExitCode.USAGE)
        # Click's usage errors (unknown option, bad enum value, missing argument).
        usage = getattr(exc, "ctx", None)
        hint = f"see '{usage.command_path} --help'" if usage is not None else None
        render.error(PhonectlError(exc.format_message(), hint=hint))
        return int(getattr(exc, "exit_code", ExitCode.USAGE))
    except (typer.Abort, KeyboardInterrupt):
        return _interrupted()
    except BrokenPipeError:
        # The reader went away (`phonectl list | head`): not an error worth a message.
        sys.stderr.close()
        return int(ExitCode.FAILED)
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
    return result if isinstance(result, int) else int(ExitCode.OK)


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
