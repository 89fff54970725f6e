"""The itemPhone domain: enums, validation, request paths and minimal PATCH bodies."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any, NamedTuple

from phonectl.errors import InvalidInput

# Long enough for any real id or user principal name, short enough to keep a URL sane.
MAX_ID_LENGTH = 1024


class PhoneType(str, Enum):
    """Graph's phoneType, without unknownFutureValue (never accepted from a user)."""

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
    """Graph's allowedAudiences, without unknownFutureValue."""

    me = "me"
    family = "family"
    contacts = "contacts"
    groupMembers = "groupMembers"
    organization = "organization"
    federatedOrganizations = "federatedOrganizations"
    everyone = "everyone"


class ClearableField(str, Enum):
    """Properties that `--clear` sets to null."""

    displayName = "displayName"
    allowedAudiences = "allowedAudiences"
    source = "source"
    inference = "inference"


def parse_enum(enum: type[Enum], text: str, what: str) -> str:
    """Graph's spelling of a case-insensitive enum value, or InvalidInput naming the valid ones."""
    for member in enum:
        if member.value.lower() == text.strip().lower():
            return str(member.value)
    raise InvalidInput(f"invalid {what} {text!r}: use one of {enum_values(enum)}")


def enum_values(enum: type[Enum]) -> str:
    return ", ".join(str(m.value) for m in enum)


def _has_control_characters(text: str) -> bool:
    import unicodedata

    return any(unicodedata.category(ch) == "Cc" for ch in text)


def check_text(value: str, what: str, *, allow_empty: bool = True) -> str:
    """Free text for a property: no control characters (they never belong in a phone entry)."""
    if not allow_empty and not value.strip():
        raise InvalidInput(f"{what} must not be empty")
    if _has_control_characters(value):
        raise InvalidInput(f"{what} must not contain control characters (tabs, newlines, NUL)")
    return value


def check_identifier(value: str, what: str) -> str:
    """A phone id or user id/UPN as typed: not empty, printable, of sane length."""
    if not value.strip():
        raise InvalidInput(f"{what} must not be empty")
    if _has_control_characters(value):
        raise InvalidInput(f"{what} must not contain control characters")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInput(f"{what} is {len(value)} characters long; the limit is {MAX_ID_LENGTH}")
    return value


def path_segment(value: str) -> str:
    """Percent-encode one URL path segment so no value can change which resource is addressed."""
    from urllib.parse import quote

    segment = quote(value, safe="@")
    # HTTP clients normalise "." and ".." segments away (RFC 3986 5.2.4); encoded they stay data.
    if set(segment) == {"."}:
        segment = segment.replace(".", "%2E")
    return segment


def phones_path(user: str | None, phone_id: str | None = None) -> str:
    """The path below /beta of a user's phone collection, or of one phone in it."""
    owner = "me" if user is None else "users/" + path_segment(check_identifier(user, "user"))
    path = f"/{owner}/profile/phones"
    if phone_id is not None:
        path += "/" + path_segment(check_identifier(phone_id, "phone id"))
    return path


class PhoneFields(NamedTuple):
    """The properties named on a command line; None means 'not named'."""

    type: str | None = None
    number: str | None = None
    display_name: str | None = None
    allowed_audiences: str | None = None
    source_type: str | None = None
    confidence: float | None = None
    verified: bool | None = None
    clear: tuple[str, ...] = ()


def build_body(fields: PhoneFields) -> dict[str, Any]:
    """The request body holding exactly the named properties, validated."""
    cleared = {ClearableField(parse_enum(ClearableField, f, "--clear field")) for f in fields.clear}
    body: dict[str, Any] = {}
    if fields.type is not None:
        body["type"] = parse_enum(PhoneType, fields.type, "--type")
    if fields.number is not None:
        body["number"] = check_text(fields.number, "--number", allow_empty=False)
    if fields.display_name is not None:
        _refuse_both(ClearableField.displayName, "--display-name", cleared)
        body["displayName"] = check_text(fields.display_name, "--display-name")
    if fields.allowed_audiences is not None:
        _refuse_both(ClearableField.allowedAudiences, "--allowed-audiences", cleared)
        body["allowedAudiences"] = parse_enum(
            Audience, fields.allowed_audiences, "--allowed-audiences"
        )
    if fields.source_type is not None:
        _refuse_both(ClearableField.source, "--source-type", cleared)
        body["source"] = {"type": check_text(fields.source_type, "--source-type")}
    inference: dict[str, Any] = {}
    if fields.confidence is not None:
        if not (math.isfinite(fields.confidence) and 0 <= fields.confidence <= 1):
            raise InvalidInput(f"--confidence must be between 0 and 1, not {fields.confidence}")
        inference["confidenceScore"] = fields.confidence
    if fields.verified is not None:
        inference["userHasVerifiedAccuracy"] = fields.verified
    if inference:
        _refuse_both(ClearableField.inference, "--confidence/--verified", cleared)
        body["inference"] = inference
    for field in sorted(cleared, key=list(ClearableField).index):
        body[field.value] = None
    return body


def _refuse_both(field: ClearableField, flag: str, cleared: set[ClearableField]) -> None:
    if field in cleared:
        raise InvalidInput(f"{flag} and --clear {field.value} contradict each other: pick one")


def audience_text(phone: Mapping[str, Any]) -> str:
    """allowedAudiences as one string (Graph sends a string; be lenient with a list)."""
    value = phone.get("allowedAudiences")
    if isinstance(value, Iterable) and not isinstance(value, str):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)
