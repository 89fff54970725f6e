"""Phone numbers that dial: the one place that parses, validates and formats a number (for
--normalize on add, update, set and apply, and for lint), with `phonenumbers` (the Python
port of Google's libphonenumber).

`phonenumbers` (about 40 ms to import, then each region's metadata on first use) is imported
inside the functions that parse, so the commands that never normalise or lint (list, get,
update without --normalize, --help, Tab) never load it; this module's own top level is as
light as the enum below."""

from __future__ import annotations

import functools
from enum import Enum
from typing import TYPE_CHECKING, NamedTuple

from phonectl.errors import InvalidInput

if TYPE_CHECKING:
    from phonenumbers import PhoneNumber


class NumberFormat(str, Enum):
    """What --normalize rewrites numbers to (libphonenumber's formats)."""

    e164 = "e164"
    international = "international"
    national = "national"
    rfc3966 = "rfc3966"


class NumberRules(NamedTuple):
    """How numbers are read and written: the format wanted, and the region (ISO 3166 code)
    of numbers written without a `+` country code (None: such a number does not parse)."""

    format: NumberFormat = NumberFormat.e164
    region: str | None = None


# Common names that are not ISO 3166 codes, and the code meant.
_REGION_ALIASES = {"UK": "GB"}


def parse_region(text: str, what: str = "--region") -> str:
    """A region as libphonenumber knows it (upper-case ISO 3166 alpha-2), or InvalidInput."""
    import phonenumbers

    code = text.strip().upper()
    code = _REGION_ALIASES.get(code, code)
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidInput(
            f"invalid {what} {text!r}: not a region libphonenumber knows",
            hint="use a two-letter ISO 3166 code, e.g. US, GB, DE",
        )
    return code


def number_rules(fmt: NumberFormat, region: str | None) -> NumberRules:
    """Checked rules: the region known, and one given when national numbers are wanted (a
    national number means nothing without the country it is national to)."""
    checked = None if region is None or not region.strip() else parse_region(region)
    if fmt is NumberFormat.national and checked is None:
        raise InvalidInput(
            "--normalize national needs --region (or PHONECTL_REGION): the country the "
            "numbers are national to"
        )
    return NumberRules(fmt, checked)


class Checked(NamedTuple):
    """One number as libphonenumber reads it.

    `formatted`: the number in the rules' format (None when it does not parse or is not a
    possible number: `problem` says why); `valid`: whether it is a number in use in its
    region's numbering plan; `key`: the same for every spelling of one number (E.164 and
    extension), for finding a number held twice."""

    text: str
    formatted: str | None
    problem: str | None
    valid: bool
    key: str | None


_WHY_NOT_POSSIBLE = {
    "INVALID_COUNTRY_CODE": "has no known country code",
    "TOO_SHORT": "is too short",
    "TOO_LONG": "is too long",
    "INVALID_LENGTH": "has a length no number of its region has",
    "IS_POSSIBLE_LOCAL_ONLY": "is a local number: its area code is missing",
}


@functools.lru_cache(maxsize=65536)  # a directory repeats its switchboard numbers
def check(text: str, rules: NumberRules) -> Checked:
    """`text` parsed under `rules`: formatted, or why it cannot be."""
    import phonenumbers

    number = _parse(text, rules)
    if isinstance(number, str):
        return Checked(text, None, number, False, None)
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        names = {v: k for k, v in vars(phonenumbers.ValidationResult).items() if k.isupper()}
        why = _WHY_NOT_POSSIBLE.get(names.get(reason, ""), "is not a possible number")
        return Checked(text, None, why, False, None)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    key = f"{e164};ext={number.extension}" if number.extension else e164
    formatted = _formatted(number, rules, e164)
    return Checked(text, formatted, None, phonenumbers.is_valid_number(number), key)


def normalize(text: str, rules: NumberRules, what: str = "number") -> str:
    """`text` rewritten in the rules' format; InvalidInput naming it when it does not parse
    or is not a possible number (nothing may be sent then)."""
    checked = check(text, rules)
    if checked.formatted is None:
        raise InvalidInput(f"{what} {text!r} {checked.problem}", hint=_hint(rules, checked))
    return checked.formatted


def _hint(rules: NumberRules, checked: Checked) -> str | None:
    if checked.problem == UNKNOWN_COUNTRY_CODE:  # written with one: the region is no help
        return "check the digits after + (or 00): they are no country's calling code"
    if rules.region is None:
        return "write it with its +country code, or give --region (or PHONECTL_REGION)"
    return None


def _parse(text: str, rules: NumberRules) -> PhoneNumber | str:
    """The number, or why it does not parse. A `+` country code wins; else the region's
    rules (its national prefix, its international prefix such as Australia's 0011); a
    leading `00` that the region does not read as its international prefix is one anyway
    (most of the world's), as no national number starts with 00."""
    import phonenumbers

    digits_start = text.lstrip(" \t(")
    international = digits_start.startswith("+")
    region = None if international else rules.region
    leading_00 = digits_start.startswith("00") and not international
    number: PhoneNumber | None = None
    problem = ""
    if not leading_00 or region is not None:
        try:
            # keep_raw_input tells how the country code was found (for a leading 00: by the
            # region's own international prefix?); it costs a copy, so only they ask.
            number = phonenumbers.parse(text, region, keep_raw_input=leading_00)
        except phonenumbers.NumberParseException as exc:
            problem = _parse_problem(exc, region, international)
    by_idd = phonenumbers.CountryCodeSource.FROM_NUMBER_WITH_IDD
    if leading_00 and (number is None or number.country_code_source != by_idd):
        try:
            return phonenumbers.parse("+" + digits_start[2:], None)
        except phonenumbers.NumberParseException as exc:
            return _parse_problem(exc, None, international=True)
    return problem if number is None else number


UNKNOWN_COUNTRY_CODE = "has no known country code"


def _parse_problem(exc: Exception, region: str | None, international: bool) -> str:
    """Why a number does not parse; `international`: it was written with its country code
    (+ or 00), so a code that is not known is the fault, not a missing region."""
    import phonenumbers

    kind = getattr(exc, "error_type", None)
    if kind == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
        if region is None and not international:
            return "has no country code (no + and no region to read it in)"
        return UNKNOWN_COUNTRY_CODE
    if kind == phonenumbers.NumberParseException.TOO_SHORT_NSN:
        return "is too short"
    if kind == phonenumbers.NumberParseException.TOO_LONG:
        return "is too long"
    return "does not parse as a phone number"


def _formatted(number: PhoneNumber, rules: NumberRules, e164: str) -> str:
    """The number in the rules' format (`e164`: its E.164 form, already made)."""
    import phonenumbers

    kind = phonenumbers.PhoneNumberFormat
    if rules.format is NumberFormat.rfc3966:
        return phonenumbers.format_number(number, kind.RFC3966)  # ;ext= included
    # Formatted without its extension, which follows as " ext. N" in every other format:
    # E.164 has none of its own, and libphonenumber would write some regions' (GB: " x7").
    extension = number.extension
    if rules.format is NumberFormat.e164:
        return f"{e164} ext. {extension}" if extension else e164
    if extension:
        number = phonenumbers.PhoneNumber(
            country_code=number.country_code,
            national_number=number.national_number,
            italian_leading_zero=number.italian_leading_zero,
            number_of_leading_zeros=number.number_of_leading_zeros,
        )
    if rules.format is NumberFormat.national and _country_of(rules.region) == number.country_code:
        text = phonenumbers.format_number(number, kind.NATIONAL)
    else:
        # International, and --normalize national for another country's number (a
        # national form would not dial from the region).
        text = phonenumbers.format_number(number, kind.INTERNATIONAL)
    return f"{text} ext. {extension}" if extension else text


def _country_of(region: str | None) -> int | None:
    import phonenumbers

    return None if region is None else phonenumbers.country_code_for_region(region)
