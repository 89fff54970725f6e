"""The root Typer app: global options, the command groups, the help topics, and --query
applied to whatever a command returns."""

import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from phonectl.commands import apply, auth, lint, phones, sandbox
from phonectl.commands.options import (
    CloudOption,
    OutputOption,
    ProfileOption,
    help_when_no_command,
)
from phonectl.global_options import EPILOG as GLOBAL_HELP
from phonectl.global_options import GLOBAL_OPTIONS

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


class _Command(TyperCommand):
    """A command whose usage line reads `phonectl get [OPTIONS] ID`: Typer writes a required
    argument as `{ID}`, which looks like a choice or a shell brace to type."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [
            piece[1:-1] if piece.startswith("{") and piece.endswith("}") else piece
            for piece in super().collect_usage_pieces(ctx)
        ]

    def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:
        return super().shell_complete(ctx, incomplete) + global_option_items(self, ctx, incomplete)


def global_option_items(command: Any, ctx: Any, incomplete: str) -> list[Any]:
    """The root's options as completions after a subcommand too (`phonectl list --sa<Tab>`):
    they work there (hoisted), so Tab offers them, unless the command has its own."""
    if not incomplete.startswith("-"):
        return []
    from click.shell_completion import CompletionItem

    own = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    root = ctx.find_root().command
    return [
        CompletionItem(opt, help=getattr(param, "help", None))
        for param in root.params
        for opt in (*param.opts, *param.secondary_opts)
        if opt in GLOBAL_OPTIONS and opt not in own and opt.startswith(incomplete)
    ]


def _first_sentence(text: str) -> str:
    """A help text's first sentence, on one line: a command's summary in its group's list."""
    paragraph = " ".join(text.split("\n\n", maxsplit=1)[0].split())
    end = paragraph.find(". ")
    return paragraph if end < 0 else paragraph[: end + 1]


def _command(name: str, function: Callable[..., Any]) -> None:
    # The docstring's first sentence whole in the root's list: Click would cut it to fit
    # 80 columns ("Change a phone: sends exactly the properties named on the...").
    summary = _first_sentence(inspect.cleandoc(function.__doc__ or ""))
    app.command(name, cls=_Command, short_help=summary, epilog=GLOBAL_HELP)(function)


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
app.command("help", cls=_Command)(help_topic)


def click_group() -> Any:
    """The Click command tree main() runs: the subgroups' command summaries whole too."""
    group = typer.main.get_command(app)
    for sub in group.commands.values():  # type: ignore[attr-defined]
        for command in getattr(sub, "commands", {}).values():
            if command.short_help is None and command.help:
                command.short_help = _first_sentence(command.help)
            # The subgroups' commands (auth status, sandbox serve) complete the global
            # options too, as _Command does for the others.
            own_completion = command.shell_complete
            command.shell_complete = lambda ctx, incomplete, own=own_completion, command=command: (
                own(ctx, incomplete) + global_option_items(command, ctx, incomplete)
            )
    return group
