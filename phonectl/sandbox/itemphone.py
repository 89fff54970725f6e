"""The types the emulator serves, written from Graph's published beta metadata
(microsoftgraph/msgraph-metadata), never imported from phonectl: the emulator is the tests'
oracle and must not inherit phonectl's mistakes. A body is checked as Graph checks it."""

from __future__ import annotations

import json
from typing import Any

from phonectl.sandbox.wire import GraphProblem

READ_ONLY = frozenset(
    {"id", "createdBy", "createdDateTime", "lastModifiedBy", "lastModifiedDateTime"}
)
USER_PROPERTIES = ("id", "userPrincipalName", "displayName")
# The profile's collections (beta metadata, entity type profile); only phones are emulated.
PROFILE_COLLECTIONS = (
    "account",
    "addresses",
    "anniversaries",
    "awards",
    "certifications",
    "educationalActivities",
    "emails",
    "interests",
    "languages",
    "names",
    "notes",
    "patents",
    "phones",
    "positions",
    "projects",
    "publications",
    "skills",
    "webAccounts",
    "websites",
)
PROFILE_PROPERTIES = ("id", *PROFILE_COLLECTIONS)


PHONE_PROPERTIES = (
    "id",
    "allowedAudiences",
    "createdBy",
    "createdDateTime",
    "inference",
    "isSearchable",
    "lastModifiedBy",
    "lastModifiedDateTime",
    "source",
    "sources",
    "displayName",
    "number",
    "type",
)


def writable_fields(raw: bytes, body: Any) -> dict[str, Any]:
    """The request body, checked as Graph checks an itemPhone."""
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise GraphProblem(400, "BadRequest", "Unable to read JSON request payload.") from None
    if not isinstance(parsed, dict):
        raise GraphProblem(400, "BadRequest", "The request body must be a JSON object.")
    _check_odata_type(parsed, "itemPhone")
    fields = {k: v for k, v in parsed.items() if not k.startswith("@odata.")}
    for name, value in fields.items():
        if name in READ_ONLY:
            raise GraphProblem(400, "BadRequest", f"The property '{name}' is read-only.")
        check = _CHECKS.get(name)
        if check is None:
            raise _unknown_property(name, "itemPhone")
        check(name, value)
    return fields


def _json_text(value: Any) -> str:
    """A value as Graph's messages quote it: JSON, never a Python repr."""
    return json.dumps(value, ensure_ascii=False)


def _invalid(name: str, value: Any, expected: str) -> GraphProblem:
    return GraphProblem(
        400,
        "BadRequest",
        f"Cannot convert the value {_json_text(value)} of property '{name}' to the expected "
        f"type '{expected}'.",
    )


def _check_enum(members: tuple[str, ...], type_name: str, *, nullable: bool) -> Any:
    def check(name: str, value: Any) -> None:
        if value is None:
            if not nullable:
                raise _not_nullable(name)
            return
        if not isinstance(value, str):
            raise _invalid(name, value, f"microsoft.graph.{type_name}")
        if value not in members:
            raise GraphProblem(
                400,
                "BadRequest",
                f"Requested value '{value}' was not found in 'microsoft.graph.{type_name}'.",
            )

    return check


def _check_flags(members: tuple[str, ...], type_name: str) -> Any:
    """A flags enum: one string of comma-separated member names (nullable)."""

    def check(name: str, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            raise _invalid(name, value, f"microsoft.graph.{type_name}")
        for part in value.split(","):
            if part.strip() not in members:
                raise GraphProblem(
                    400,
                    "BadRequest",
                    f"Requested value '{part.strip()}' was not found in "
                    f"'microsoft.graph.{type_name}'.",
                )

    return check


def _not_nullable(name: str) -> GraphProblem:
    return GraphProblem(
        400, "BadRequest", f"A null value was found for the non-nullable property '{name}'."
    )


def _check_primitive(edm: str, *kinds: type) -> Any:
    def check(name: str, value: Any) -> None:
        # bool is an int in Python, but not a number in JSON.
        wrong_bool = isinstance(value, bool) and bool not in kinds
        if value is not None and (not isinstance(value, kinds) or wrong_bool):
            raise _invalid(name, value, edm)

    return check


def _check_collection(edm: str, item_check: Any) -> Any:
    def check(name: str, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, list):
            raise _invalid(name, value, f"Collection({edm})")
        for item in value:
            if item is None:
                raise _not_nullable(name)
            item_check(name, item)

    return check


def _check_complex(type_name: str, properties: dict[str, Any]) -> Any:
    def check(name: str, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise _invalid(name, value, f"microsoft.graph.{type_name}")
        _check_odata_type(value, type_name)
        for key, item in value.items():
            if key.startswith("@odata."):
                continue
            item_check = properties.get(key)
            if item_check is None:
                raise _unknown_property(key, type_name)
            item_check(key, item)

    return check


def _check_odata_type(value: dict[str, Any], type_name: str) -> None:
    """An `@odata.type` annotation must name the expected type (with or without its `#`):
    OData refuses a value annotated as another type
    (https://learn.microsoft.com/graph/api/itemphone-update?view=graph-rest-beta takes an
    itemPhone)."""
    annotated = value.get("@odata.type")
    if annotated is None:
        return
    expected = f"microsoft.graph.{type_name}"
    if not isinstance(annotated, str) or annotated.removeprefix("#") != expected:
        raise GraphProblem(
            400,
            "BadRequest",
            f"A resource with type '{_json_text(annotated).strip(chr(34))}' was found, but it "
            f"is not assignable to the expected type '{expected}'. The type specified in the "
            "resource must be equal to either the expected type or a derived type.",
        )


def _unknown_property(name: str, type_name: str) -> GraphProblem:
    return GraphProblem(
        400,
        "BadRequest",
        f"The property '{name}' does not exist on type 'microsoft.graph.{type_name}'. "
        "Make sure to only use property names that are defined by the type.",
    )


_STRING = _check_primitive("Edm.String", str)
_BOOLEAN = _check_primitive("Edm.Boolean", bool)
_DOUBLE = _check_primitive("Edm.Double", int, float)

# The writable properties of itemPhone (and the itemFacet it inherits from), as Graph's
# published beta metadata defines them: microsoftgraph/msgraph-metadata, schemas/beta-*.csdl
# and schemas/type-mappings/beta-*.json. Written here, not imported from phonectl: the
# emulator is the tests' oracle and must not inherit phonectl's mistakes.
# - EnumType phoneType: ten members, no unknownFutureValue; itemPhone.type Nullable="false".
# - EnumType allowedAudiences IsFlags="true": several members in one comma-separated string.
# - ComplexType personDataSources: type is Collection(Edm.String).
# - itemFacet: isSearchable (Edm.Boolean), sources (a collection of complex values).
PHONE_TYPES = (
    "home",
    "business",
    "mobile",
    "other",
    "assistant",
    "homeFax",
    "businessFax",
    "otherFax",
    "pager",
    "radio",
)
AUDIENCES = (
    "me",
    "family",
    "contacts",
    "groupMembers",
    "organization",
    "federatedOrganizations",
    "everyone",
    "unknownFutureValue",
)
_CHECKS = {
    "type": _check_enum(PHONE_TYPES, "phoneType", nullable=False),
    "allowedAudiences": _check_flags(AUDIENCES, "allowedAudiences"),
    "number": _STRING,
    "displayName": _STRING,
    "isSearchable": _BOOLEAN,
    "source": _check_complex(
        "personDataSources", {"type": _check_collection("Edm.String", _STRING)}
    ),
    "sources": _check_collection(
        "microsoft.graph.profileSourceAnnotation",
        _check_complex(
            "profileSourceAnnotation",
            {
                "isDefaultSource": _BOOLEAN,
                "properties": _check_collection("Edm.String", _STRING),
                "sourceId": _STRING,
            },
        ),
    ),
    "inference": _check_complex(
        "inferenceData", {"confidenceScore": _DOUBLE, "userHasVerifiedAccuracy": _BOOLEAN}
    ),
}


def apply_patch(phone: dict[str, Any], fields: dict[str, Any]) -> None:
    """PATCH semantics: complex values merge property by property, null clears."""
    for name, value in fields.items():
        current = phone.get(name)
        if isinstance(value, dict) and isinstance(current, dict):
            phone[name] = {**current, **value}
        else:
            phone[name] = value
