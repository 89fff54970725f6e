"""The root Typer app: global options, the command groups, the help topics, and --query
applied to whatever a command returns."""

from collections.abc import Callable
from typing import Annotated, Any

import typer

from phonectl.commands import apply, auth, lint, phones, sandbox
from phonectl.commands.options import (
    CloudOption,
    Command,
    OutputOption,
    ProfileOption,
    help_when_no_command,
)
from phonectl.global_options import EPILOG as GLOBAL_HELP

HELP_TOPICS = ("exit-codes", "environment")  # help_topics.TOPICS, named without importing it


def _queried(value: object, **root_params: object) -> object:
    """The one place --query (or PHONECTL_QUERY) meets a command's result. The expression
    was checked when the command loaded its settings, before anything was sent."""
    from phonectl.render import Shown

    if not isinstance(value, Shown):
        return value
    query = root_params.get("query")
    if not isinstance(query, str):
        import os

        from phonectl.settings import from_env

        query = from_env(os.environ, "query")
    if not query:
        return value
    from phonectl.queried import queried

    return value._replace(result=queried(value.result, query))


app = typer.Typer(
    name="phonectl",
    help="Edit the phone numbers in Microsoft 365 user profiles (Microsoft Graph beta).",
    epilog=(
        "Help topics: 'phonectl help exit-codes' (what each exit code means), 'phonectl help "
        "environment' (every PHONECTL_* variable and default). 'phonectl COMMAND --help' "
        "shows a command's options and examples."
    ),
    invoke_without_command=True,
    # Plain Click help: rich's help renderer would cost every --help and Tab press ~100 ms.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    result_callback=_queried,
)


def _print_version(value: bool) -> None:
    if value:
        from phonectl.version import version_text

        typer.echo(version_text(), nl=False)
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
    query: Annotated[
        str | None,
        typer.Option(
            "--query",
            metavar="EXPR",
            help="JMESPath applied to the json form of the result, e.g. "
            "\"[?type=='mobile'].number\" [env: PHONECTL_QUERY].",
            show_default=False,
        ),
    ] = None,
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
            help="Print the version (and Python's and the libraries') and exit.",
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
        "query": query,
        "profile": profile,
    }
    help_when_no_command(ctx)


def _complete_topic(incomplete: str) -> list[str]:
    return [topic for topic in HELP_TOPICS if topic.startswith(incomplete)]


def help_topic(
    ctx: typer.Context,
    topic: Annotated[
        str | None,
        typer.Argument(
            metavar="TOPIC",
            help=f"{' or '.join(HELP_TOPICS)}; or a command's name for its help.",
            autocompletion=_complete_topic,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Help on a topic: exit-codes, environment (or a command).

    Example: phonectl help exit-codes
    """
    from phonectl.help_topics import TOPICS

    root = ctx.find_root()
    if topic in TOPICS:
        typer.echo(TOPICS[topic](), nl=False)
        return
    group = root.command
    command = group.get_command(root, topic) if topic else None  # type: ignore[attr-defined]
    if topic and command is None:
        from phonectl.errors import InvalidInput

        choices = ", ".join([*HELP_TOPICS, *group.list_commands(root)])  # type: ignore[attr-defined]
        raise InvalidInput(f"no help topic {topic!r}", hint=f"topics and commands: {choices}")
    target = command or group
    name = topic or "phonectl"
    parent = root if topic else None
    with target.make_context(name, [], parent=parent, resilient_parsing=True) as sub:
        typer.echo(sub.get_help())


def _command(name: str, function: Callable[..., Any]) -> None:
    app.command(name, cls=Command, epilog=GLOBAL_HELP)(function)


_command("list", phones.list_phones)
_command("get", phones.get)
_command("add", phones.add)
_command("update", phones.update)
_command("set", phones.set_phone)
_command("delete", phones.delete)
_command("apply", apply.apply)
_command("export", apply.export)
_command("lint", lint.lint)
app.add_typer(auth.app, name="auth")
app.add_typer(sandbox.app, name="sandbox")
app.command("help", cls=Command)(help_topic)


def click_group() -> Any:
    """The Click command tree main() runs."""
    return typer.main.get_command(app)
