"""`--query EXPR`: a JMESPath expression (the `--query` of az and m365), checked and run.
The only module that imports jmespath, and only when a query is given (settings loads it to
check PHONECTL_QUERY or --query before anything is sent; queried.py shows what remains)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath.functions import Functions

from phonectl.errors import InvalidInput, PhonectlError


class QueryFailed(PhonectlError):
    """A valid expression that failed on the result (a function given a value of the wrong
    type): found only once the command has run, and whatever it sent was sent, so exit 1,
    never 2 ("caught before anything was sent")."""


def compile_query(expression: str, name: str = "--query") -> Any:
    """The parsed expression; InvalidInput (exit 2) with the parser's own message when it is
    not JMESPath, or calls a function JMESPath does not have (found now, not after Graph
    was asked)."""
    try:
        parsed = jmespath.compile(expression)
    except jmespath_errors.JMESPathError as exc:
        first, *rest = str(exc).splitlines()
        raise InvalidInput(f"{name}: {first}", details=tuple(rest)) from None
    unknown = sorted(set(_functions_called(parsed.parsed)) - set(Functions.FUNCTION_TABLE))
    if unknown:
        raise InvalidInput(f"{name}: unknown function {', '.join(unknown)}() in {expression!r}")
    return parsed


def _functions_called(node: Mapping[str, Any]) -> Iterator[str]:
    if node.get("type") == "function_expression":
        yield str(node["value"])
    for child in node.get("children", ()):
        if isinstance(child, Mapping):
            yield from _functions_called(child)


def search(expression: str, value: Any) -> Any:
    """What `expression` leaves of `value`; QueryFailed when a function is given a value of
    the wrong type or number of arguments (found only when it runs)."""
    try:
        return compile_query(expression).search(value)
    except jmespath_errors.JMESPathTypeError as exc:
        reason = (
            f"{exc.function_name}() takes {' or '.join(exc.expected_types)}, not {exc.actual_type}"
        )
    except jmespath_errors.JMESPathError as exc:
        reason = str(exc).splitlines()[0]
    raise QueryFailed(
        f"--query failed on the result: {reason}; the command itself was carried out "
        "(its result is not shown)",
        hint="fix the expression: it is applied to the result's -o json form",
    )
