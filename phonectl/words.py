"""Counts in words: "1 phone", "2 phones". One place, so no message says "1 rows"."""

_IRREGULAR = {"was": "were"}


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and the noun, singular for exactly one."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {plural or _IRREGULAR.get(noun) or noun + 's'}"
