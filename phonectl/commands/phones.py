"""The phone commands: get and update (list, add and delete build on the same pieces)."""

from __future__ import annotations

from typing import Annotated

import typer

from phonectl import render
from phonectl.commands.options import (
    DryRunOption,
    OutputOption,
    PhoneIdArgument,
    UserOption,
    complete_from,
    runtime,
)
from phonectl.errors import InvalidInput
from phonectl.phones import (
    Audience,
    ClearableField,
    PhoneFields,
    PhoneType,
    build_body,
    enum_values,
    phones_path,
)


def get(
    ctx: typer.Context,
    phone_id: PhoneIdArgument,
    user: UserOption = None,
    output: OutputOption = None,
) -> None:
    """Show one phone of a user's profile."""
    rt = runtime(ctx)
    path = phones_path(user, phone_id)
    fmt = rt.output(output)
    render.phone(rt.client().request("GET", path), fmt)


def update(
    ctx: typer.Context,
    phone_id: PhoneIdArgument,
    type_: Annotated[
        str | None,
        typer.Option(
            "--type",
            metavar="TYPE",
            help=f"Kind of phone: {enum_values(PhoneType)}.",
            autocompletion=complete_from(PhoneType),
            show_default=False,
        ),
    ] = None,
    number: Annotated[
        str | None, typer.Option("--number", help="The phone number.", show_default=False)
    ] = None,
    display_name: Annotated[
        str | None,
        typer.Option("--display-name", help="Friendly name, e.g. 'Car Phone'.", show_default=False),
    ] = None,
    allowed_audiences: Annotated[
        str | None,
        typer.Option(
            "--allowed-audiences",
            metavar="AUDIENCE",
            help=f"Who may see the phone: {enum_values(Audience)}.",
            autocompletion=complete_from(Audience),
            show_default=False,
        ),
    ] = None,
    source_type: Annotated[
        str | None,
        typer.Option(
            "--source-type", help="Where the value came from (source.type).", show_default=False
        ),
    ] = None,
    confidence: Annotated[
        float | None,
        typer.Option(
            "--confidence",
            help="inference.confidenceScore, from 0 to 1.",
            show_default=False,
        ),
    ] = None,
    verified: Annotated[
        bool | None,
        typer.Option(
            "--verified/--not-verified",
            help="inference.userHasVerifiedAccuracy.",
            show_default=False,
        ),
    ] = None,
    clear: Annotated[
        list[str] | None,
        typer.Option(
            "--clear",
            metavar="FIELD",
            help=f"Set this property to null (repeatable): {enum_values(ClearableField)}.",
            autocompletion=complete_from(ClearableField),
            show_default=False,
        ),
    ] = None,
    user: UserOption = None,
    dry_run: DryRunOption = False,
    output: OutputOption = None,
) -> None:
    """Change a phone: sends exactly the properties named on the command line.

    Example: phonectl update 0fb4c1e3-c1e3-0fb4-e3c1-b40fe3c1b40f --type mobile
    """
    rt = runtime(ctx)
    fields = PhoneFields(
        type=type_,
        number=number,
        display_name=display_name,
        allowed_audiences=allowed_audiences,
        source_type=source_type,
        confidence=confidence,
        verified=verified,
        clear=tuple(clear or ()),
    )
    body = build_body(fields)
    if not body:
        raise InvalidInput(
            "nothing to update: name at least one field (--type, --number, --display-name, "
            "--allowed-audiences, --source-type, --confidence, --verified, --clear)"
        )
    path = phones_path(user, phone_id)
    fmt = rt.output(output)
    if dry_run:
        render.planned_request("PATCH", rt.graph_url() + path, body, fmt)
        return
    render.phone(rt.client().request("PATCH", path, body), fmt)
