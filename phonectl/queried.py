"""A result seen through --query: what the expression leaves of its json form, shown as
json, as tsv (one value a line, a list in the list tab-joined) or, for people, as a table
of what remains (a list of objects), a card (one object) or a value a line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from phonectl.errors import ExitCode, PhonectlError
from phonectl.layout import Column
from phonectl.query import QueryFailed, search
from phonectl.results import Card, Lines, Nothing, Table, View
from phonectl.words import shown

if TYPE_CHECKING:
    from phonectl.results import Result


def queried(result: Result, expression: str) -> Queried:
    """`result` seen through the query: what the expression leaves of its json form. An
    expression that fails on it shows nothing, and says so as the run's problem (exit 1):
    the command has run, and its own messages (what it wrote) are still said."""
    value = result.json()
    if value is not None and not isinstance(value, (dict, list, str, int, float, bool)):
        value = list(value)  # an iterator (apply's rows): the query needs all of it
    try:
        return Queried(result, search(expression, value))
    except QueryFailed as failed:
        return Queried(result, None, failed)


class Queried(NamedTuple):
    """A result after --query: its exit code and messages unchanged, its output what the
    expression left (nothing at all when that is null, or when it failed on the result)."""

    original: Result
    value: Any
    failed: QueryFailed | None = None

    @property
    def exit_code(self) -> ExitCode:
        code = self.original.exit_code
        return ExitCode.FAILED if self.failed is not None and code is ExitCode.OK else code

    @property
    def notes(self) -> Sequence[str]:
        if self.failed is not None and self.original.problem is not None:
            # The command's own problem is the one said; the query's is said beside it.
            return (*self.original.notes, self.failed.message)
        return self.original.notes

    @property
    def problem(self) -> PhonectlError | None:
        return self.original.problem or self.failed

    def json(self) -> Any:
        return self.value

    def tsv(self) -> Iterable[Sequence[Any]]:
        """One value a line; a list or object in the list as its values, tab-joined."""
        value = self.value
        if value is None:
            return []
        if isinstance(value, list):
            return [_tsv_cells(item) for item in value]
        return [_tsv_cells(value)]

    def view(self) -> View:
        """A list of objects as a table, an object as a card, anything else a value a line."""
        value = self.value
        if self.failed is not None:
            return Nothing()  # the problem says why
        if value is None or value == []:
            return Nothing("the query left nothing")
        if isinstance(value, dict):
            return Card(tuple((str(key), _cell(item)) for key, item in value.items()))
        if not isinstance(value, list):
            return Lines((_cell(value),))
        keys = list(dict.fromkeys(key for item in value if isinstance(item, dict) for key in item))
        if keys and all(isinstance(item, dict) for item in value):
            columns = tuple(
                Column(str(key), 0 if i == 0 else i, wraps=i > 0) for i, key in enumerate(keys)
            )
            rows = [[_cell(item.get(key)) for key in keys] for item in value]
            return Table(columns, rows)
        return Lines(
            tuple(
                "  ".join(map(_cell, item)) if isinstance(item, list) else _cell(item)
                for item in value
            )
        )


def _tsv_cells(item: Any) -> list[Any]:
    if isinstance(item, list):
        return [_scalar(v) for v in item]
    if isinstance(item, dict):
        return [_scalar(v) for v in item.values()]
    return [_scalar(item)]


def _scalar(value: Any) -> Any:
    """A cell's value: text and numbers as they are, true/false and nested values as JSON,
    null as empty."""
    if value is None or (isinstance(value, (str, int, float)) and not isinstance(value, bool)):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _cell(value: Any) -> str:
    """A value as a person sees it in a table: booleans yes/no, nested values as JSON."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return shown(value)
