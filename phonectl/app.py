"""The root Typer app: global options and the command groups."""

from typing import Annotated

import typer

from phonectl.commands import apply, auth, lint, phones, sandbox
from phonectl.commands.options import (
    CloudOption,
    OutputOption,
    ProfileOption,
    help_when_no_command,
)
from phonectl.global_options import EPILOG as GLOBAL_HELP

app = typer.Typer(
    name="phonectl",
    help="Edit the phone numbers in Microsoft 365 user profiles (Microsoft Graph beta).",
    invoke_without_command=True,
    # Plain Click help: rich's help renderer would cost every --help and Tab press ~100 ms.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
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
    output: OutputOption = None,
    cloud: CloudOption = None,
    profile: ProfileOption = None,
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
    # Only the flags are kept here: the Runtime (settings, client) is built by the command
    # that needs it, so `phonectl update --help` and Tab completion never load it.
    ctx.obj = {
        "cloud": cloud,
        "output": output,
        "debug": debug,
        "sandbox": sandbox_,
        "profile": profile,
    }
    help_when_no_command(ctx)


app.command("list", epilog=GLOBAL_HELP)(phones.list_phones)
app.command("get", epilog=GLOBAL_HELP)(phones.get)
app.command("add", epilog=GLOBAL_HELP)(phones.add)
app.command("update", epilog=GLOBAL_HELP)(phones.update)
app.command("set", epilog=GLOBAL_HELP)(phones.set_phone)
app.command("delete", epilog=GLOBAL_HELP)(phones.delete)
app.command("apply", epilog=GLOBAL_HELP)(apply.apply)
app.command("export", epilog=GLOBAL_HELP)(apply.export)
app.command("lint", epilog=GLOBAL_HELP)(lint.lint)
app.add_typer(auth.app, name="auth")
app.add_typer(sandbox.app, name="sandbox")
