"""Options shared by several commands, and the Runtime they reach through the Typer context."""

import functools
import inspect
import os
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand

from phonectl.choices import Cloud, OutputFormat
from phonectl.errors import InvalidInput
from phonectl.global_options import GLOBAL_OPTIONS
from phonectl.numbers import NumberFormat
from phonectl.phones import CLEARABLE, WRITABLE, Field

if TYPE_CHECKING:
    from phonectl.numbers import NumberRules
    from phonectl.runtime import Runtime


def complete_from(
    values: type[Enum] | tuple[str, ...], *, comma_separated: bool = False
) -> Callable[[str], list[str]]:
    """Shell completion of a closed set of values, in Graph's spelling, matched
    case-insensitively; with `comma_separated`, the value after the last comma."""
    names = [str(m.value) for m in values] if isinstance(values, type) else list(values)

    def complete(incomplete: str) -> list[str]:
        done, comma, last = incomplete.rpartition(",") if comma_separated else ("", "", incomplete)
        typed = last.strip()
        # A value already in the list is not offered again (me,family, -> not me or family).
        already = {part.strip().lower() for part in done.split(",")} if done else set()
        # Typer keeps only candidates that start with the text as typed, case and all: a
        # case-insensitive match is offered as what was typed plus the rest of the value
        # (`homef` -> `homefax`), which phonectl reads case-insensitively.
        return [
            done + comma + (name if name.startswith(typed) else typed + name[len(typed) :])
            for name in names
            if name.lower().startswith(typed.lower()) and name.lower() not in already
        ]

    return complete


def help_when_no_command(ctx: typer.Context) -> None:
    """`phonectl` or `phonectl auth` alone: the help on stderr and exit 2 (a usage error),
    through Typer's documented callback API rather than Click's NoArgsIsHelpError."""
    if ctx.invoked_subcommand is None and not ctx.resilient_parsing:
        typer.echo(ctx.get_help(), err=True)
        raise typer.Exit(2)


def runtime(ctx: typer.Context) -> "Runtime":
    """The Runtime for the global flags the root callback kept, built on first use."""
    from phonectl.runtime import Runtime
    from phonectl.settings import Flags

    root = ctx.find_root()
    if isinstance(root.obj, Runtime):
        return root.obj
    built = Runtime(Flags(**root.obj))
    root.obj = built
    root.call_on_close(built.close)
    return built


UserOption = Annotated[
    str | None,
    typer.Option(
        "--user",
        "-u",
        metavar="USER",
        help="User id (GUID) or user principal name; default: the signed-in user (/me).",
        show_default=False,
    ),
]
# Many users' phones (export, lint).
UsersOption = Annotated[
    list[str] | None,
    typer.Option(
        "--user",
        "-u",
        metavar="USER",
        help="A user id or principal name (repeatable); default: the signed-in user.",
        show_default=False,
    ),
]
UsersFileOption = Annotated[
    str | None,
    typer.Option(
        "--users-file",
        metavar="FILE",
        help="A file of users, one id or principal name a line (- reads stdin).",
        show_default=False,
    ),
]
AllUsersOption = Annotated[
    bool, typer.Option("--all-users", help="Every user of the tenant (GET /users).")
]
OutputOption = Annotated[
    OutputFormat | None,
    typer.Option(
        "--output",
        "-o",
        help="Output format [env: PHONECTL_OUTPUT; default: table].",
        case_sensitive=False,
        show_default=False,
    ),
]
CloudOption = Annotated[
    Cloud | None,
    typer.Option(
        "--cloud",
        case_sensitive=False,
        help="National cloud: picks Graph and login hosts [env: PHONECTL_CLOUD; default: global].",
        show_default=False,
    ),
]


def complete_profile(incomplete: str) -> list[str]:
    """Profile names from the config file, read as JSON alone (Tab stays fast)."""
    import json

    from phonectl.config import config_path

    try:
        data = json.loads(config_path().read_text(encoding="utf-8"))
        names = ["default", *(data.get("profiles") or {})]
    except (OSError, ValueError, AttributeError, TypeError, RecursionError):
        names = ["default"]
    return [name for name in names if isinstance(name, str) and name.startswith(incomplete)]


ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        metavar="NAME",
        help="The remembered sign-in to use [env: PHONECTL_PROFILE; default: the one "
        "'auth switch' chose, else 'default'].",
        show_default=False,
        autocompletion=complete_profile,
    ),
]
DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help="Print the request instead of sending it; needs no sign-in."),
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
PhoneIdArgument = Annotated[
    str, typer.Argument(metavar="ID", help="The phone's id ('phonectl list' shows them).")
]

# The field flags of add, update and set: one option per writable row of phones.FIELDS.


def _field_option(field: Field) -> inspect.Parameter:
    """The Typer parameter for one field's flag, from its row of the table."""
    completion = (
        complete_from(field.choices, comma_separated=field.comma_separated)
        if field.choices is not None
        else None
    )
    option = typer.Option(
        field.flags,
        metavar=field.metavar,
        help=field.help,
        autocompletion=completion,
        show_default=False,
    )
    takes = list[str] if field.takes is list else field.takes
    return inspect.Parameter(
        field.name.replace(".", "_"),
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[takes | None, option],
        default=None,
    )


_FIELD_OPTIONS = {field.name: _field_option(field) for field in WRITABLE}

R = TypeVar("R")


def with_field_options(command: Callable[..., R]) -> Callable[..., R]:
    """A command that takes `fields` (phones.FIELDS' names to their flags' values, None:
    not given) gets one option per writable field, in the table's order, where `fields`
    stands in its signature."""
    signature = inspect.signature(command)
    parameters: list[inspect.Parameter] = []
    for parameter in signature.parameters.values():
        if parameter.name == "fields":
            parameters.extend(_FIELD_OPTIONS.values())
        else:
            parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))

    @functools.wraps(command)
    def with_fields(**given: Any) -> R:
        fields = {name: given.pop(option.name) for name, option in _FIELD_OPTIONS.items()}
        return command(fields=fields, **given)

    with_fields.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return with_fields


ClearOption = Annotated[
    list[str] | None,
    typer.Option(
        "--clear",
        metavar="FIELD",
        help=f"Set this property to null (repeatable): {', '.join(CLEARABLE)}.",
        autocompletion=complete_from(CLEARABLE),
        show_default=False,
    ),
]

# Numbers that dial (add, update, apply, lint): libphonenumber loads only when they are used.
REGION_ENV = "PHONECTL_REGION"
NormalizeOption = Annotated[
    NumberFormat | None,
    typer.Option(
        "--normalize",
        case_sensitive=False,
        help="Rewrite numbers in this format before they are compared or sent; a number that "
        "does not parse is refused (exit 2). Default: numbers go as given.",
        show_default=False,
    ),
]
RegionOption = Annotated[
    str | None,
    typer.Option(
        "--region",
        metavar="CC",
        help="Country (ISO 3166 code, e.g. US, DE) of numbers written without a +country "
        f"code [env: {REGION_ENV}].",
        show_default=False,
    ),
]


def number_rules(
    normalize: NumberFormat | None, region: str | None, *, default: NumberFormat | None = None
) -> "NumberRules | None":
    """--normalize (else `default`) and --region (else PHONECTL_REGION) as the rules numbers
    are read and written by; None when no format is wanted (numbers go as given, and
    libphonenumber is never loaded)."""
    wanted = normalize or default
    if wanted is None:
        if region is not None:
            raise InvalidInput("--region is read only with --normalize (e.g. --normalize e164)")
        return None
    from phonectl.numbers import number_rules as checked_rules

    if region is None:
        from phonectl.settings import from_env  # the variable read as every setting's is

        region = from_env(os.environ, "region")
    return checked_rules(wanted, region)


class Command(TyperCommand):
    """Every phonectl command (the groups' too: `cls=Command`). Its usage line reads
    `phonectl get [OPTIONS] ID` (Typer writes a required argument as `{ID}`, which looks like
    a choice or a shell brace to type); its summary in its group's list is its help's first
    sentence whole (Click cuts it to fit 80 columns: "Change a phone: sends exactly the
    properties named on the..."); Tab offers the global options after it too."""

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.short_help or _first_sentence(self.help or "")

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
