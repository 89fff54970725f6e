"""The itemPhone domain: one table of its writable properties (how each is named on the
command line and in apply's files, parsed, compared and cleared), request paths, and the
minimal PATCH body built from that table."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple

from phonectl.errors import InvalidInput

if TYPE_CHECKING:
    from phonectl.numbers import NumberRules

# Long enough for any real id or user principal name, short enough to keep a URL sane.
MAX_ID_LENGTH = 1024


class PhoneType(str, Enum):
    """Graph's phoneType (beta metadata: no unknownFutureValue member)."""

    home = "home"
    business = "business"
    mobile = "mobile"
    other = "other"
    assistant = "assistant"
    homeFax = "homeFax"
    businessFax = "businessFax"
    otherFax = "otherFax"
    pager = "pager"
    radio = "radio"


class Audience(str, Enum):
    """Graph's allowedAudiences, a flags enum (several values, comma-separated on the wire),
    without unknownFutureValue (never accepted from a user)."""

    me = "me"
    family = "family"
    contacts = "contacts"
    groupMembers = "groupMembers"
    organization = "organization"
    federatedOrganizations = "federatedOrganizations"
    everyone = "everyone"


def parse_enum(enum: type[Enum], text: str, what: str) -> str:
    """Graph's spelling of a case-insensitive enum value, or InvalidInput naming the valid ones."""
    spellings = _SPELLINGS.get(enum)
    if spellings is None:  # once per enum: a file's every row asks (apply's types)
        spellings = _SPELLINGS[enum] = {str(m.value).lower(): str(m.value) for m in enum}
    found = spellings.get(text.strip().lower())
    if found is None:
        raise InvalidInput(f"invalid {what} {text!r}: use one of {enum_values(enum)}")
    return found


_SPELLINGS: dict[type[Enum], dict[str, str]] = {}


def enum_values(enum: type[Enum]) -> str:
    return ", ".join(str(m.value) for m in enum)


# C0 and C1 controls, DEL: never part of a phone entry, an id or a user name.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def check_text(value: str, what: str, *, allow_empty: bool = True) -> str:
    """Free text for a property: no control characters (they never belong in a phone entry)."""
    if not allow_empty and not value.strip():
        raise InvalidInput(f"{what} must not be empty")
    if _CONTROL.search(value):
        raise InvalidInput(f"{what} must not contain control characters (tabs, newlines, NUL)")
    return value


def check_identifier(value: str, what: str) -> str:
    """A phone id or user id/UPN as typed: not empty, printable, of sane length, and not a
    dot segment (`.` and `..` are normalised away by URL handling, whatever the encoding)."""
    if not value.strip():
        raise InvalidInput(f"{what} must not be empty")
    if _CONTROL.search(value):
        raise InvalidInput(f"{what} must not contain control characters")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInput(f"{what} is {len(value)} characters long; the limit is {MAX_ID_LENGTH}")
    if value in {".", ".."}:
        raise InvalidInput(f"{what} {value!r} is not an id: it would address another resource")
    return value


# What a path segment may hold as is (RFC 3986 unreserved, and @): GUIDs and most UPNs.
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_.~@-]+")


def path_segment(value: str) -> str:
    """Percent-encode one URL path segment so no value can change which resource is addressed."""
    if _PLAIN_SEGMENT.fullmatch(value):
        return value  # what quote() would return, at a tenth of its cost
    from urllib.parse import quote

    return quote(value, safe="@")


# --- values: text in (a flag or a file's cell), Graph's JSON out --------------------------


def parse_type(text: str, what: str = "type") -> str:
    return parse_enum(PhoneType, text, what)


def parse_number(text: str, what: str = "number") -> str:
    # Checked before stripping: str.strip() would quietly drop a trailing NEL (U+0085).
    return check_text(text, what, allow_empty=False).strip()


def normalized_number(number: str, what: str, rules: NumberRules) -> str:
    """A parsed number rewritten by libphonenumber (--normalize): loaded only when asked."""
    from phonectl.numbers import normalize

    return normalize(number, rules, what)


def parse_display_name(text: str, what: str = "displayName") -> str:
    return check_text(text, what)


def parse_audiences(text: str, what: str = "allowedAudiences") -> str:
    """One or more audiences, comma-separated, case-insensitive: Graph's flags-enum string
    (members in the metadata's order, each once), e.g. "organization,federatedOrganizations"."""
    names = [part for part in (p.strip() for p in text.split(",")) if part]
    if not names:
        raise InvalidInput(f"{what} needs at least one of {enum_values(Audience)}")
    chosen = {parse_enum(Audience, name, what) for name in names}
    return ",".join(m.value for m in Audience if m.value in chosen)


def audience_names(value: Any) -> tuple[str, ...]:
    """allowedAudiences as Graph holds it (a flags string; be lenient with a list) as names."""
    if value is None:
        return ()
    parts = value.split(",") if isinstance(value, str) else value
    if not isinstance(parts, Iterable):
        return (str(parts),)
    return tuple(str(p).strip() for p in parts if str(p).strip())


def source_types(phone: Mapping[str, Any]) -> tuple[str, ...]:
    """source.type as names: the metadata makes it a collection; accept a lone string too."""
    source = phone.get("source")
    value = source.get("type") if isinstance(source, Mapping) else None
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value if v is not None)
    return (str(value),)


def _same_audiences(current: Any, wanted: Any) -> bool:
    def key(value: Any) -> frozenset[str]:
        return frozenset(name.lower() for name in audience_names(value))

    return key(current) == key(wanted)


def _equal(current: Any, wanted: Any) -> bool:
    return bool(current == wanted)


class Field(NamedTuple):
    """One writable itemPhone property.

    `graph`: its name in Graph's JSON; `flag`: the flag(s) that set it on add and update;
    `column`: its column in apply's files (None: not there); `parse`: a flag's or cell's
    text to Graph's value; `same`: whether Graph's value already is the wanted one (apply's
    diff); `clearable`: `--clear` may null it; `normalize`: what --normalize does to the
    parsed value (numbers.py rewrites a number in one format)."""

    graph: str
    flag: str
    column: str | None
    parse: Callable[[str, str], Any] | None
    same: Callable[[Any, Any], bool]
    clearable: bool
    normalize: Callable[[Any, str, NumberRules], Any] | None = None

    def read(self, text: str, what: str, numbers: NumberRules | None = None) -> Any:
        """A flag's or cell's text as Graph's value; with `numbers` (--normalize), a
        number rewritten by those rules (InvalidInput when it does not parse)."""
        assert self.parse is not None, self.graph
        value = self.parse(text, what)
        if numbers is not None and self.normalize is not None:
            value = self.normalize(value, what, numbers)
        return value


FIELDS: tuple[Field, ...] = (
    Field("type", "--type", "type", parse_type, _equal, clearable=False),
    Field("number", "--number", "number", parse_number, _equal, False, normalized_number),
    Field("displayName", "--display-name", "displayName", parse_display_name, _equal, True),
    Field(
        "allowedAudiences",
        "--allowed-audiences",
        "allowedAudiences",
        parse_audiences,
        _same_audiences,
        clearable=True,
    ),
    Field("source", "--source-type", None, None, _equal, clearable=True),
    Field("isSearchable", "--searchable/--not-searchable", None, None, _equal, False),
    Field("inference", "--confidence/--verified", None, None, _equal, clearable=True),
)
FIELD_BY_NAME = {f.graph: f for f in FIELDS}
FILE_FIELDS = tuple(f for f in FIELDS if f.column is not None)
CLEARABLE = tuple(f.graph for f in FIELDS if f.clearable)


def parse_clear(name: str) -> str:
    """A `--clear` argument as the property's Graph name (case-insensitive)."""
    wanted = name.strip().lower()
    for graph_name in CLEARABLE:
        if graph_name.lower() == wanted:
            return graph_name
    raise InvalidInput(f"invalid --clear field {name!r}: use one of {', '.join(CLEARABLE)}")


class PhoneFields(NamedTuple):
    """The properties named on a command line; None means 'not named'."""

    type: str | None = None
    number: str | None = None
    display_name: str | None = None
    allowed_audiences: str | None = None
    source_types: Sequence[str] | None = None
    searchable: bool | None = None
    confidence: float | None = None
    verified: bool | None = None
    clear: Sequence[str] = ()


def build_body(fields: PhoneFields, numbers: NumberRules | None = None) -> dict[str, Any]:
    """The request body holding exactly the named properties, validated, in the table's order;
    with `numbers` (--normalize), the number rewritten by those rules."""
    named: dict[str, Any] = {}
    if fields.type is not None:
        named["type"] = parse_type(fields.type, "--type")
    if fields.number is not None:
        named["number"] = FIELD_BY_NAME["number"].read(fields.number, "--number", numbers)
    if fields.display_name is not None:
        named["displayName"] = parse_display_name(fields.display_name, "--display-name")
    if fields.allowed_audiences is not None:
        named["allowedAudiences"] = parse_audiences(fields.allowed_audiences, "--allowed-audiences")
    if fields.source_types:
        # personDataSources.type is a collection of strings in Graph's beta metadata.
        named["source"] = {"type": [check_text(t, "--source-type") for t in fields.source_types]}
    if fields.searchable is not None:
        named["isSearchable"] = fields.searchable
    inference: dict[str, Any] = {}
    if fields.confidence is not None:
        if not (math.isfinite(fields.confidence) and 0 <= fields.confidence <= 1):
            raise InvalidInput(f"--confidence must be between 0 and 1, not {fields.confidence}")
        inference["confidenceScore"] = fields.confidence
    if fields.verified is not None:
        inference["userHasVerifiedAccuracy"] = fields.verified
    if inference:
        named["inference"] = inference
    for cleared in dict.fromkeys(parse_clear(name) for name in fields.clear):
        if cleared in named:
            raise InvalidInput(
                f"{FIELD_BY_NAME[cleared].flag} and --clear {cleared} contradict each other: "
                "pick one"
            )
        named[cleared] = None
    return {f.graph: named[f.graph] for f in FIELDS if f.graph in named}


def field_flags() -> str:
    """Every field flag, for messages that ask for at least one."""
    return ", ".join([*(f.flag for f in FIELDS), "--clear"])


class UserRef(NamedTuple):
    """Whose phones: the signed-in user (`ref` None, Graph's /me) or the user with this id
    or user principal name. A user whose principal name is literally "me" is UserRef("me"),
    never the signed-in user."""

    ref: str | None = None

    @property
    def path(self) -> str:
        """The user's path below /beta: /me or /users/{ref}, percent-encoded."""
        return _user_path(self.ref)

    def shown(self) -> str:
        return "" if self.ref is None else self.ref


SIGNED_IN = UserRef()


@functools.lru_cache(maxsize=1024)  # apply builds one path a write: 50,000 for 5,000 users
def _user_path(ref: str | None) -> str:
    if ref is None:
        return "/me"
    return "/users/" + path_segment(check_identifier(ref, "user"))


def phones_path(user: UserRef, phone_id: str | None = None) -> str:
    """The path below /beta of a user's phone collection, or of one phone in it."""
    path = f"{user.path}/profile/phones"
    if phone_id is not None:
        path += "/" + path_segment(check_identifier(phone_id, "phone id"))
    return path


def audience_text(phone: Mapping[str, Any]) -> str:
    """allowedAudiences as one comma-separated string, whatever shape Graph sent."""
    return ",".join(audience_names(phone.get("allowedAudiences")))
