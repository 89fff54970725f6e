"""Options shared by several commands, and the Runtime they reach through the Typer context."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Annotated

import typer

from phonectl.runtime import Runtime
from phonectl.settings import OutputFormat

UserOption = Annotated[
    str | None,
    typer.Option(
        "--user",
        "-u",
        help="User id (GUID) or user principal name; default: the signed-in user (/me).",
        show_default=False,
    ),
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
DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help="Print the request instead of sending it; needs no sign-in."),
]
PhoneIdArgument = Annotated[
    str, typer.Argument(metavar="ID", help="The phone's id ('phonectl list' shows them).")
]


def complete_from(enum: type[Enum]) -> Callable[[str], list[str]]:
    """Shell completion of an enum's values, in Graph's spelling, matched case-insensitively."""

    def complete(incomplete: str) -> list[str]:
        return [m.value for m in enum if m.value.lower().startswith(incomplete.lower())]

    return complete


def runtime(ctx: typer.Context) -> Runtime:
    """The Runtime the root callback put on the context."""
    rt = ctx.find_root().obj
    assert isinstance(rt, Runtime)
    return rt
