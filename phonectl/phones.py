"""The itemPhone domain: FIELDS, one row per property of Graph's itemPhone, saying how each
is named on the command line and in apply's files, parsed, compared, cleared and shown;
the minimal PATCH body built from that table; request paths."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple

from phonectl.characters import has_control
from phonectl.choices import choose
from phonectl.errors import InvalidInput
from phonectl.words import shown

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
    member = choose(enum, text)
    if member is None:
        raise InvalidInput(f"invalid {what} {text!r}: use one of {enum_values(enum)}")
    return str(member.value)


def enum_values(enum: type[Enum]) -> str:
    return ", ".join(str(m.value) for m in enum)


def check_text(value: str, what: str, *, allow_empty: bool = True) -> str:
    """Free text for a property: no control characters (they never belong in a phone entry)."""
    if not allow_empty and not value.strip():
        raise InvalidInput(f"{what} must not be empty")
    if has_control(value):
        raise InvalidInput(f"{what} must not contain control characters (tabs, newlines, NUL)")
    return value


def check_identifier(value: str, what: str) -> str:
    """A phone id or user id/UPN as typed: not empty, printable, of sane length, and not a
    dot segment (`.` and `..` are normalised away by URL handling, whatever the encoding)."""
    if not value.strip():
        raise InvalidInput(f"{what} must not be empty")
    if has_control(value):
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
    """A number as given (a flag or a file's cell): no control character, and none of the
    invisible format characters (bidi marks, zero-width joiners) that make two numbers
    look alike."""
    import unicodedata

    # (No ASCII character is a format character: most numbers need no look at each.)
    if not text.isascii() and any(unicodedata.category(c) == "Cf" for c in text):
        raise InvalidInput(f"{what} holds an invisible formatting character (a bidi mark?)")
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


def audience_text(phone: Mapping[str, Any]) -> str:
    """allowedAudiences as one comma-separated string, whatever shape Graph sent."""
    return ",".join(audience_names(phone.get("allowedAudiences")))


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


def parse_source_types(values: Sequence[str], what: str) -> list[str] | None:
    """personDataSources.type is a collection of strings in Graph's beta metadata."""
    return [check_text(t, what) for t in values] or None


def parse_score(value: float, what: str) -> float:
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise InvalidInput(f"{what} must be between 0 and 1, not {value}")
    return value


def parse_switch(value: bool, what: str) -> bool:
    return value


# --- a file's cells: what `export` and a backup write, read back exactly ------------------

# Graph's evolvable enums end in this sentinel: a phone a newer client wrote may hold it.
# A file may name it (so such a phone is matched as it is); Graph refuses it in a write.
UNKNOWN_FUTURE_VALUE = "unknownFutureValue"


def cell_type(text: str, what: str) -> str:
    if text.strip().lower() == UNKNOWN_FUTURE_VALUE.lower():
        return UNKNOWN_FUTURE_VALUE
    return parse_type(text, what)


def cell_text(text: str, what: str) -> str:
    # Any text Graph holds, control characters included (another client may have written
    # them): a backup must put back exactly what was there.
    return text


def cell_audiences(text: str, what: str) -> str:
    names = [p.strip() for p in text.split(",") if p.strip()]
    sentinel = UNKNOWN_FUTURE_VALUE.lower()
    if any(n.lower() == sentinel for n in names):
        return ",".join(UNKNOWN_FUTURE_VALUE if n.lower() == sentinel else n for n in names)
    return parse_audiences(text, what)


# --- how a property reads to a person (card, table) and to a script (tsv, file cells) -----


def _same_audiences(current: Any, wanted: Any) -> bool:
    def key(value: Any) -> frozenset[str]:
        return frozenset(name.lower() for name in audience_names(value))

    return key(current) == key(wanted)


def _equal(current: Any, wanted: Any) -> bool:
    return bool(current == wanted)


def _shown_audiences(phone: Mapping[str, Any], brief: bool) -> str:
    return ", ".join(audience_names(phone.get("allowedAudiences")))


def _audiences_as_text(phone: Mapping[str, Any]) -> str | None:
    if phone.get("allowedAudiences") is None:
        return None
    return audience_text(phone) or None


def _shown_sources(phone: Mapping[str, Any], brief: bool) -> str:
    return ", ".join(source_types(phone))


def _labelled(word: str, name: str) -> Callable[[Mapping[str, Any], bool], str]:
    """A part of a composite property, named within its card line: "confidence 0.9"."""

    def show(phone: Mapping[str, Any], brief: bool) -> str:
        return f"{word} {shown(value_at(phone, name))}"

    return show


def _who_when(by_key: str, when_key: str) -> Callable[[Mapping[str, Any], bool], str]:
    """Who changed a phone and when: to the minute on a card, the day in a table."""

    def show(phone: Mapping[str, Any], brief: bool) -> str:
        by = phone.get(by_key)
        user = by.get("user") if isinstance(by, dict) else None
        who = shown(user.get("displayName")) if isinstance(user, dict) else ""
        when = shown(phone.get(when_key))
        if when:
            when = when[:10] if brief else when[:16].replace("T", " ") + " UTC"
        return ", ".join(part for part in (who, when) if part)

    return show


def value_at(phone: Mapping[str, Any], name: str) -> Any:
    """The value at a field's dotted path (`inference.confidenceScore`); None if absent."""
    value: Any = phone
    for key in name.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


class OnCard(Enum):
    """Whether the card shows a property: always (empty or not), or when it has a value."""

    always = "always"
    when_set = "when set"


class Field(NamedTuple):
    """One itemPhone property (Graph's beta metadata: itemPhone and its base itemFacet), and
    everything phonectl does with it. Adding a property is adding a row to FIELDS.

    `name`: its path in Graph's JSON, dotted for a part of a complex property
    (`inference.confidenceScore`). Writing (add, update, set): `flag` (None: read-only, or
    not written by phonectl), `off_flag` for a switch's "no", `takes` the flag's Python type
    (str; bool for a switch; float; list for a repeatable flag and a collection in Graph),
    `parse` the flag's value to Graph's, `choices` for completion, `clearable` (`--clear`
    nulls its top-level property), `normalize` what --normalize does to it. Files (apply,
    export, backups): `cell` reads a column of the same name (None: no column), leniently
    (whatever Graph may hold must restore), `same` compares for apply's diff. Views: `label`
    on the card and as the table's header (fields sharing a label share a card line),
    `show` the text for people (brief: in a table), `text` the value for scripts (tsv and
    file cells), `on_card`, `table` (priority, wraps; layout.Column), `in_tsv`."""

    name: str
    label: str | None = None
    flag: str | None = None
    off_flag: str | None = None
    takes: type = str
    metavar: str | None = None
    help: str = ""
    parse: Callable[[Any, str], Any] | None = None
    choices: type[Enum] | None = None
    comma_separated: bool = False
    clearable: bool = False
    normalize: Callable[[Any, str, NumberRules], Any] | None = None
    cell: Callable[[str, str], Any] | None = None
    same: Callable[[Any, Any], bool] = _equal
    show: Callable[[Mapping[str, Any], bool], str] | None = None
    text: Callable[[Mapping[str, Any]], Any] | None = None
    on_card: OnCard | None = None
    table: tuple[int, bool] | None = None
    in_tsv: bool = False

    @property
    def top_property(self) -> str:
        """The top-level itemPhone property the field is (or is part of)."""
        return self.name.partition(".")[0]

    @property
    def flags(self) -> str:
        """The flag as Click declares it and help shows it: `--searchable/--not-searchable`."""
        return f"{self.flag}/{self.off_flag}" if self.off_flag else str(self.flag)

    @property
    def column(self) -> str | None:
        """Its column in apply's and export's files (Graph's name), or None."""
        return self.name if self.cell is not None else None

    def read(self, value: Any, what: str, numbers: NumberRules | None = None) -> Any:
        """A flag's value as Graph's; with `numbers` (--normalize), a number rewritten by
        those rules (InvalidInput when it does not parse)."""
        assert self.parse is not None, self.name
        parsed = self.parse(value, what)
        if numbers is not None and self.normalize is not None:
            parsed = self.normalize(parsed, what, numbers)
        return parsed

    def read_cell(self, text: str, what: str, numbers: NumberRules | None = None) -> Any:
        """A file cell's text as Graph's value (--normalize as in read())."""
        assert self.cell is not None, self.name
        value = self.cell(text, what)
        if numbers is not None and self.normalize is not None:
            value = self.normalize(value, what, numbers)
        return value

    def shown_in(self, phone: Mapping[str, Any], *, brief: bool = False) -> str:
        return self.show(phone, brief) if self.show else shown(value_at(phone, self.name))

    def text_in(self, phone: Mapping[str, Any]) -> Any:
        return self.text(phone) if self.text else value_at(phone, self.name)


FIELDS: tuple[Field, ...] = (
    Field("id", "ID", table=(0, False), on_card=OnCard.always, in_tsv=True),
    Field(
        "type",
        "Type",
        flag="--type",
        metavar="TYPE",
        help=f"Kind of phone: {enum_values(PhoneType)}.",
        parse=parse_type,
        choices=PhoneType,
        cell=cell_type,
        on_card=OnCard.always,
        table=(1, False),
        in_tsv=True,
    ),
    Field(
        "number",
        "Number",
        flag="--number",
        metavar="NUMBER",
        help="The phone number.",
        parse=parse_number,
        normalize=normalized_number,
        cell=parse_number,
        on_card=OnCard.always,
        table=(0, False),
        in_tsv=True,
    ),
    Field(
        "displayName",
        "Display name",
        flag="--display-name",
        metavar="TEXT",
        help="Friendly name, e.g. 'Car Phone'.",
        parse=parse_display_name,
        clearable=True,
        cell=cell_text,
        on_card=OnCard.always,
        table=(2, True),
        in_tsv=True,
    ),
    Field(
        "allowedAudiences",
        "Audience",
        flag="--allowed-audiences",
        metavar="AUDIENCE",
        help=f"Who may see the phone, one or more (comma-separated): {enum_values(Audience)}.",
        parse=parse_audiences,
        choices=Audience,
        comma_separated=True,
        clearable=True,
        cell=cell_audiences,
        same=_same_audiences,
        show=_shown_audiences,
        text=_audiences_as_text,
        on_card=OnCard.always,
        table=(3, True),
        in_tsv=True,
    ),
    Field(
        "source.type",
        "Source",
        flag="--source-type",
        takes=list,
        metavar="TEXT",
        help="Where the value came from (source.type; repeatable: a list in Graph).",
        parse=parse_source_types,
        clearable=True,
        show=_shown_sources,
        on_card=OnCard.always,
        table=(4, True),
    ),
    Field(
        "isSearchable",
        "Searchable",
        flag="--searchable",
        off_flag="--not-searchable",
        takes=bool,
        help="isSearchable: whether the phone shows up in searches.",
        parse=parse_switch,
        on_card=OnCard.when_set,
    ),
    Field(
        "inference.confidenceScore",
        "Inference",
        flag="--confidence",
        takes=float,
        metavar="SCORE",
        help="inference.confidenceScore, from 0 to 1.",
        parse=parse_score,
        clearable=True,
        show=_labelled("confidence", "inference.confidenceScore"),
        on_card=OnCard.when_set,
    ),
    Field(
        "inference.userHasVerifiedAccuracy",
        "Inference",
        flag="--verified",
        off_flag="--not-verified",
        takes=bool,
        help="inference.userHasVerifiedAccuracy.",
        parse=parse_switch,
        clearable=True,
        show=_labelled("verified", "inference.userHasVerifiedAccuracy"),
        on_card=OnCard.when_set,
    ),
    # Read-only: Graph sets them. createdBy and lastModifiedBy show with their times.
    Field("createdBy"),
    Field(
        "createdDateTime",
        "Created",
        show=_who_when("createdBy", "createdDateTime"),
        on_card=OnCard.always,
    ),
    Field("lastModifiedBy"),
    Field(
        "lastModifiedDateTime",
        "Last modified",
        show=_who_when("lastModifiedBy", "lastModifiedDateTime"),
        on_card=OnCard.always,
        table=(5, False),
    ),
    # profileSourceAnnotation collection: not shown or written by phonectl.
    Field("sources"),
)
FIELD_BY_NAME = {f.name: f for f in FIELDS}
# How apply's diff compares a top-level property (a complex one, such as inference, whole).
_SAME_BY_PROPERTY = {f.top_property: f.same for f in reversed(FIELDS)}


def same_value(name: str, current: Any, wanted: Any) -> bool:
    """Whether Graph's value of the top-level property `name` already is the wanted one."""
    return bool(_SAME_BY_PROPERTY.get(name, _equal)(current, wanted))


WRITABLE = tuple(f for f in FIELDS if f.flag is not None)
FILE_FIELDS = tuple(f for f in FIELDS if f.cell is not None)
# Properties a file from `list -o json` carries that apply leaves alone.
GRAPH_ONLY_PROPERTIES = frozenset(f.top_property for f in FIELDS if f.cell is None) - {"id"}
CLEARABLE = tuple(dict.fromkeys(f.top_property for f in FIELDS if f.clearable))
# Graph's evolvable enums: a phone may hold their unknownFutureValue, which no write takes.
ENUM_PROPERTIES = frozenset(f.top_property for f in FIELDS if f.choices is not None)


def parse_clear(name: str) -> str:
    """A `--clear` argument as the property's Graph name (case-insensitive)."""
    wanted = name.strip().lower()
    for graph_name in CLEARABLE:
        if graph_name.lower() == wanted:
            return graph_name
    raise InvalidInput(f"invalid --clear field {name!r}: use one of {', '.join(CLEARABLE)}")


def build_body(
    given: Mapping[str, Any], clear: Sequence[str] = (), numbers: NumberRules | None = None
) -> dict[str, Any]:
    """The request body holding exactly the named properties, validated, in the table's
    order: `given` maps a field's name to its flag's value (None: not named), `clear` names
    properties to null; with `numbers` (--normalize), the number rewritten by those rules."""
    named: dict[str, Any] = {}
    for field in WRITABLE:
        value = given.get(field.name)
        if value is None:
            continue
        value = field.read(value, _flag_name(field, value), numbers)
        if value is None:
            continue
        *parents, leaf = field.name.split(".")
        into = named
        for parent in parents:
            into = into.setdefault(parent, {})
        into[leaf] = value
    for cleared in dict.fromkeys(parse_clear(name) for name in clear):
        if cleared in named:
            flag = next(
                _flag_name(f, given[f.name])
                for f in WRITABLE
                if f.top_property == cleared and given.get(f.name) is not None
            )
            raise InvalidInput(f"{flag} and --clear {cleared} contradict each other: pick one")
        named[cleared] = None
    order = list(dict.fromkeys(f.top_property for f in FIELDS))
    return {name: named[name] for name in order if name in named}


def _flag_name(field: Field, value: Any) -> str:
    return str(field.off_flag if value is False and field.off_flag else field.flag)


def field_flags() -> str:
    """Every field flag, for messages that ask for at least one."""
    return ", ".join([*(f.flags for f in WRITABLE), "--clear"])


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
