"""`phonectl lint`'s judgement: which numbers would not dial, are not in the wanted format,
or are held by more than one user, and the number to write instead. No HTTP, no printing:
the phones come from Graph (through export's reading) or from an apply file."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any, NamedTuple

from phonectl.numbers import NumberRules, check
from phonectl.phones import UserRef

# How many other holders a shared number's message names.
MAX_NAMED_HOLDERS = 3


class Problem(str, Enum):
    unparseable = "unparseable"  # does not parse, or is not a possible number
    invalid = "invalid"  # possible, but no such number is in use in its region
    wrong_format = "format"  # a good number, written in another format than the wanted one
    shared = "shared"  # one number (any spelling) held by more than one user


class Held(NamedTuple):
    """A number where it is held: whose, which phone (its id; `line` of an apply file),
    and the phone's values (Graph's, or the file row's) that a fix writes back."""

    user: UserRef
    phone_id: str | None
    number: str
    phone: Mapping[str, Any]
    line: int | None = None


class Finding(NamedTuple):
    held: Held
    problem: Problem
    message: str
    suggested: str | None = None

    @property
    def fixable(self) -> bool:
        """Rewriting the number is all it takes (and changes no number's meaning)."""
        return self.problem is Problem.wrong_format and self.suggested is not None


def find_problems(numbers: Iterable[Held], rules: NumberRules) -> list[Finding]:
    """Every finding, in the order the numbers came: a number's own problem first, then
    whether another user holds it too."""
    held_list = list(numbers)
    own: list[Finding | None] = []
    keys: list[str | None] = []
    holders: dict[str, dict[str, None]] = defaultdict(dict)  # number -> its users, in order
    for held in held_list:
        finding, key = _own_problem(held, rules)
        own.append(finding)
        keys.append(key)
        if key is not None:
            holders[key][_user_key(held.user)] = None
    findings: list[Finding] = []
    for held, finding, key in zip(held_list, own, keys, strict=True):
        if finding is not None:
            findings.append(finding)
        if key is not None and len(holders[key]) > 1:
            others = [u for u in holders[key] if u != _user_key(held.user)]
            more = len(others) - MAX_NAMED_HOLDERS
            named = ", ".join(others[:MAX_NAMED_HOLDERS]) + (
                f" and {more} more" if more > 0 else ""
            )
            findings.append(Finding(held, Problem.shared, f"also held by {named}"))
    return findings


def _own_problem(held: Held, rules: NumberRules) -> tuple[Finding | None, str | None]:
    """What is wrong with the number itself (None: nothing), and the number's identity."""
    checked = check(held.number, rules)
    if checked.formatted is None:
        return Finding(held, Problem.unparseable, str(checked.problem)), None
    if not checked.valid:
        message = "not a valid number for its region"
        return Finding(held, Problem.invalid, message, checked.formatted), checked.key
    if checked.formatted != held.number:
        message = f"not in {rules.format.value} format"
        return Finding(held, Problem.wrong_format, message, checked.formatted), checked.key
    return None, checked.key


def _user_key(user: UserRef) -> str:
    return "(signed-in user)" if user.ref is None else user.ref.lower()
