"""Global options anywhere on the line: `phonectl list --sandbox` means what `phonectl
--sandbox list` means, as gh, az and kubectl allow. Click reads an option only at the level
that defines it, so the ones the root defines are moved in front of the subcommand, unless
that subcommand has an option of the same name itself (then it is the subcommand's)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# The root's options: name -> whether it takes a value.
GLOBAL_OPTIONS = {
    "--sandbox": False,
    "--debug": False,
    "-o": True,
    "--output": True,
    "--cloud": True,
    "--query": True,
    "--profile": True,
}
# Every command's help ends with this line rather than the root's options over again.
EPILOG = (
    f"Global options ({', '.join(GLOBAL_OPTIONS)}) work before or after the command: see "
    "'phonectl --help'; their variables: 'phonectl help environment'."
)


def hoist_global_options(args: Sequence[str], root: Any) -> list[str]:
    """`args` with the global options found after the subcommand moved before it."""
    args = list(args)
    start = _first_command_index(args)
    if start is None:
        return args
    command, rest_start = _leaf_command(root, args, start)
    if command is None:
        return args
    own, own_values = _options_of(command)
    moved: list[str] = []
    kept: list[str] = args[:rest_start]
    i = rest_start
    while i < len(args):
        token = args[i]
        if token == "--":
            kept += args[i:]
            break
        name = token.split("=", 1)[0]
        if name in own_values and "=" not in token:
            kept += args[i : i + 2]  # the subcommand's option and its value
            i += 2
            continue
        if name in GLOBAL_OPTIONS and name not in own:
            takes_value = GLOBAL_OPTIONS[name] and "=" not in token
            moved += args[i : i + 1 + takes_value]
            i += 1 + takes_value
            continue
        kept.append(token)
        i += 1
    return moved + kept


def _first_command_index(args: Sequence[str]) -> int | None:
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            return None
        if not token.startswith("-"):
            return i
        i += 1 + (GLOBAL_OPTIONS.get(token.split("=", 1)[0], False) and "=" not in token)
    return None


def _leaf_command(root: Any, args: Sequence[str], start: int) -> tuple[Any, int]:
    """The (sub)command the line names, and where its own arguments start."""
    command = root.commands.get(args[start]) if args[start] in root.commands else None
    i = start + 1
    while command is not None and hasattr(command, "commands"):  # a group: auth, sandbox
        names = [a for a in args[i:] if not a.startswith("-")]
        if not names or names[0] not in command.commands:
            return command, i
        i = args.index(names[0], i) + 1
        command = command.commands.get(names[0])
    return command, i


def _options_of(command: Any) -> tuple[set[str], set[str]]:
    """A command's option names, and those of them that take a value."""
    names: set[str] = set()
    with_values: set[str] = set()
    for param in getattr(command, "params", []):
        opts = [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
        if param.param_type_name != "option":
            continue
        names.update(opts)
        if not getattr(param, "is_flag", False) and getattr(param, "nargs", 1) > 0:
            with_values.update(opts)
    return names, with_values
