"""Values in words: counts ("1 phone", "2 phones": one place, so no message says "1 rows"),
and Graph's scalars as a person reads them."""

from typing import Any

_IRREGULAR = {"was": "were"}


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and the noun, singular for exactly one."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {plural or _IRREGULAR.get(noun) or noun + 's'}"


def shown(value: Any) -> str:
    """A scalar from Graph as shown to a person: booleans as yes/no, absent as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
