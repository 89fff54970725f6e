"""A Typer app's Click group whose subcommands are built when Click first asks for them.

Typer turns every command's signature into Click parameters before running any of them;
for phonectl that is 11 commands on every run and every Tab press. Here the root group is
built without its subcommands and given a mapping that builds each one on first lookup, so
`phonectl update ...`, its --help and its completion pay for `update` alone; the root --help
lists them from outlines (name and help text), building none.

It drives typer.main's own builders and Typer's vendored Click, internals that pyproject's
version bound pins; tests compare its help output with Typer's eager build."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import cast

import typer
from typer import _click as click
from typer._click.shell_completion import CompletionItem
from typer.core import TyperCommand, TyperGroup
from typer.main import (
    get_command,
    get_command_from_info,
    get_group_from_info,
    solve_typer_info_defaults,
)
from typer.models import CommandInfo, TyperInfo

Built = TyperCommand | TyperGroup


class LazyCommands(Mapping[str, Built]):
    """Subcommand name -> Click command, in registration order, each built once on demand."""

    def __init__(self, app: typer.Typer) -> None:
        self._app = app
        self._infos: dict[str, CommandInfo | TyperInfo] = {}
        infos: list[CommandInfo | TyperInfo] = [*app.registered_commands, *app.registered_groups]
        for info in infos:
            if not isinstance(info.name, str):
                raise TypeError(f"{info.callback} needs an explicit name to be built lazily")
            self._infos[info.name] = info
        self._built: dict[str, Built] = {}

    def __getitem__(self, name: str) -> Built:
        if name not in self._built:
            self._built[name] = self._build(self._infos[name])
        return self._built[name]

    def __contains__(self, name: object) -> bool:
        return name in self._infos  # Mapping's own would build the command to find out

    def __iter__(self) -> Iterator[str]:
        return iter(self._infos)

    def __len__(self) -> int:
        return len(self._infos)

    def outline(self, name: str) -> click.Command:
        """What a listing shows of a command (its help, hidden, deprecated), without building it.

        The help text is resolved as Typer resolves it when it builds the command."""
        if name in self._built:
            return self._built[name]
        info = self._infos[name]
        if isinstance(info, TyperInfo):
            info = solve_typer_info_defaults(info)
            help_text = info.help
        elif info.help is None:
            help_text = inspect.getdoc(info.callback)
        else:
            help_text = inspect.cleandoc(info.help)
        return TyperCommand(
            name=name,
            help=help_text,
            short_help=info.short_help,
            hidden=bool(info.hidden),
            deprecated=bool(info.deprecated),
        )

    def _build(self, info: CommandInfo | TyperInfo) -> Built:
        app = self._app
        if isinstance(info, TyperInfo):
            return get_group_from_info(
                info,
                pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=app.rich_markup_mode,
                suggest_commands=app.suggest_commands,
            )
        command = get_command_from_info(
            info,
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode,
        )
        assert isinstance(command, TyperCommand)
        return command


class LazyGroup(TyperGroup):
    """A TyperGroup that lists its commands (--help, Tab on a command name) from outlines."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        # TyperGroup lists through .items(), which would build every command.
        return list(self.commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if self._listing and isinstance(self.commands, LazyCommands):
            return self.commands.outline(cmd_name) if cmd_name in self.commands else None
        return super().get_command(ctx, cmd_name)

    @contextmanager
    def _outlines(self) -> Iterator[None]:
        self._listing = True
        try:
            yield
        finally:
            self._listing = False

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with self._outlines():
            super().format_help(ctx, formatter)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        with self._outlines():
            return super().shell_complete(ctx, incomplete)


def lazy_click_group(app: typer.Typer) -> TyperGroup:
    """`app` as Typer would build it, except that each subcommand is built on first use."""
    shell = copy.copy(app)
    shell.registered_commands, shell.registered_groups = [], []
    shell.info = copy.copy(app.info)
    shell.info.cls = LazyGroup
    group = get_command(shell)
    assert isinstance(group, LazyGroup)
    # Read-only: nothing adds commands to the group once it is built.
    group.commands = cast(MutableMapping[str, click.Command], LazyCommands(app))
    return group
