"""The root command, and main(): the one place that turns exceptions into an exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Annotated

import typer

from phonectl.commands import phones, sandbox
from phonectl.errors import ExitCode, PhonectlError
from phonectl.runtime import Runtime
from phonectl.settings import Cloud, Flags, OutputFormat

app = typer.Typer(
    name="phonectl",
    help="Edit the phone numbers in Microsoft 365 user profiles (Microsoft Graph beta).",
    no_args_is_help=True,
    # Plain Click help: rich's help renderer would cost every --help and Tab press ~100 ms.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from phonectl import __version__

        print(f"phonectl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    sandbox_: Annotated[
        bool | None,
        typer.Option(
            "--sandbox",
            help="Run against the built-in Graph emulator; no sign-in [env: PHONECTL_SANDBOX].",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        OutputFormat | None,
        typer.Option(
            "--output",
            "-o",
            case_sensitive=False,
            help="Output format [env: PHONECTL_OUTPUT; default: table].",
            show_default=False,
        ),
    ] = None,
    cloud: Annotated[
        Cloud | None,
        typer.Option(
            "--cloud",
            case_sensitive=False,
            help="National cloud: picks Graph and login hosts [env: PHONECTL_CLOUD; "
            "default: global].",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[
        bool | None,
        typer.Option(
            "--debug",
            help="Log each HTTP call to stderr; show tracebacks [env: PHONECTL_DEBUG].",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    runtime = Runtime(Flags(cloud=cloud, output=output, debug=debug, sandbox=sandbox_))
    ctx.obj = runtime
    ctx.call_on_close(runtime.close)


app.command("list")(phones.list_phones)
app.command("get")(phones.get)
app.command("add")(phones.add)
app.command("update")(phones.update)
app.command("delete")(phones.delete)
app.add_typer(sandbox.app, name="sandbox")


def _debugging(argv: Sequence[str]) -> bool:
    return "--debug" in argv or os.environ.get("PHONECTL_DEBUG", "") in {"1", "true", "yes"}


COMPLETE_VAR = "_PHONECTL_COMPLETE"
SHELLS = ("bash", "zsh", "fish")


def _prepare_completion() -> None:
    """Register Typer's shell classes (only a Tab press pays for them), and accept Click's
    spelling of the instruction (`bash_complete`) beside Typer's (`complete_bash`)."""
    from typer.completion import completion_init

    completion_init()
    first, _, second = os.environ[COMPLETE_VAR].partition("_")
    if first in SHELLS:
        os.environ[COMPLETE_VAR] = f"{second}_{first}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run phonectl; the exit code per CONTRACT.md."""
    from phonectl import render

    args = list(sys.argv[1:] if argv is None else argv)
    if os.environ.get(COMPLETE_VAR):
        _prepare_completion()
    try:
        result = app(args=args, prog_name="phonectl", standalone_mode=False)
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
        render.notice("interrupted")
        return int(ExitCode.INTERRUPTED)
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
