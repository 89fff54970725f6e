"""Numbers that dial: --normalize and --region on add, update and apply rewrite numbers with
libphonenumber before they are compared or sent; numbers that do not parse are refused
before anything is sent; without --normalize numbers go as given and libphonenumber is
never loaded."""

from __future__ import annotations

from pathlib import Path

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import EXAMPLE_PHONE_ID, Run, graph_calls, only_call, phones_of, written_items
from test_completion_and_start import imported_heavy

from phonectl.errors import InvalidInput
from phonectl.numbers import NumberFormat, NumberRules, check, normalize, number_rules
from phonectl.sandbox.server import GraphEmulator

E164 = NumberFormat.e164

# (as typed, region, E.164): 15+ regions, national prefixes, leading 00 and the regions' own
# international prefixes, vanity letters, extensions.
SPELLINGS = [
    ("+1 (425) 555-0100", None, "+14255550100"),
    ("425.555.0100", "US", "+14255550100"),
    ("1-800-FLOWERS", "US", "+18003569377"),
    ("(416) 967-1111", "CA", "+14169671111"),
    ("020 7946 0958", "GB", "+442079460958"),
    ("+44 (0)20 7946 0958", None, "+442079460958"),
    ("00 44 20 7946 0958", "US", "+442079460958"),
    ("0800 FLOWERS", "GB", "+448003569377"),
    ("030 1234567", "DE", "+49301234567"),
    ("0049 30 1234567", None, "+49301234567"),
    ("01 23 45 67 89", "FR", "+33123456789"),
    ("0033 1 23 45 67 89", None, "+33123456789"),
    ("09876543210", "IN", "+919876543210"),
    ("03-1234-5678", "JP", "+81312345678"),
    ("010 81 3 1234 5678", "JP", "+81312345678"),  # Japan's international prefix
    ("(11) 91234-5678", "BR", "+5511912345678"),
    ("(02) 9374 4000", "AU", "+61293744000"),
    ("0011 61 2 9374 4000", "AU", "+61293744000"),  # Australia's, not 00
    ("8 (499) 342-22-13", "RU", "+74993422213"),
    ("010 1234 5678", "CN", "+861012345678"),
    ("021 123 4567", "ZA", "+27211234567"),
    ("55 1234 5678", "MX", "+525512345678"),
    ("912 345 678", "ES", "+34912345678"),
    ("06 1234 5678", "IT", "+390612345678"),  # Italy keeps the leading zero
    ("020 123 4567", "NL", "+31201234567"),
    ("+1 425 555 0100 x123", None, "+14255550100 ext. 123"),
    ("030 1234567;ext=12", "DE", "+49301234567 ext. 12"),
    ("+44 20 7946 0958 extension 7", "GB", "+442079460958 ext. 7"),
]


@pytest.mark.parametrize(("typed", "region", "e164"), SPELLINGS)
def test_numbers_of_many_regions_normalise_to_e164(
    typed: str, region: str | None, e164: str
) -> None:
    assert normalize(typed, NumberRules(E164, region)) == e164


def test_the_spellings_cover_fifteen_regions() -> None:
    regions = {
        phonenumbers.region_code_for_number(phonenumbers.parse(e164.split(" ext. ")[0]))
        for _, _, e164 in SPELLINGS
    }
    assert regions >= {"US", "GB", "DE", "FR", "IN", "JP", "BR", "AU", "RU", "CN", "ZA"}
    assert regions >= {"MX", "ES", "IT", "NL"}


@pytest.mark.parametrize(
    ("fmt", "region", "expected"),
    [
        (NumberFormat.international, None, "+44 20 7946 0958 ext. 7"),
        (NumberFormat.national, "GB", "020 7946 0958 ext. 7"),
        # national for another country's number: international (it would not dial otherwise)
        (NumberFormat.national, "US", "+44 20 7946 0958 ext. 7"),
        (NumberFormat.rfc3966, None, "tel:+44-20-7946-0958;ext=7"),
    ],
)
def test_each_format_keeps_the_extension(
    fmt: NumberFormat, region: str | None, expected: str
) -> None:
    assert normalize("+44 20 7946 0958 extension 7", NumberRules(fmt, region)) == expected


@pytest.mark.parametrize(
    ("typed", "region", "why"),
    [
        ("abc", "US", "does not parse"),
        ("425.555.0100", None, "no country code"),
        ("+1 555 0100", None, "area code is missing"),
        ("123", "US", "too short"),
        ("+49 30 1234567890123456", None, "too long"),
        # Written with a code that is no country's: that is the fault, region or not.
        ("+999 123 4567", None, "has no known country code"),
        ("+999 123 4567", "US", "has no known country code"),
        ("00999 123 4567", None, "has no known country code"),
    ],
)
def test_a_number_that_would_not_dial_is_refused_naming_it(
    typed: str, region: str | None, why: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        normalize(typed, NumberRules(E164, region), "--number")
    assert repr(typed) in refused.value.message and why in refused.value.message
    unknown_code = why == "has no known country code"
    assert ("no country's calling code" in (refused.value.hint or "")) is unknown_code
    assert "no + and no region" not in refused.value.message or typed == "425.555.0100"


def test_regions_are_checked_and_uk_means_gb() -> None:
    assert number_rules(E164, "uk") == NumberRules(E164, "GB")
    with pytest.raises(InvalidInput, match="XX"):
        number_rules(E164, "XX")
    with pytest.raises(InvalidInput, match="national needs --region"):
        number_rules(NumberFormat.national, None)


# -- properties ----------------------------------------------------------------------------

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
TYPES = [
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.TOLL_FREE,
]


@st.composite
def typed_numbers(draw: st.DrawFn) -> tuple[str, NumberRules]:
    """A real example number of any region, written the way people write them (any of
    libphonenumber's formats, extra separators, maybe an extension), with rules to read it."""
    region = draw(st.sampled_from(REGIONS))
    example = phonenumbers.example_number_for_type(region, draw(st.sampled_from(TYPES)))
    if example is None:
        example = phonenumbers.example_number(region)
    if example is None:  # a few regions have no example at all
        example = phonenumbers.parse("+14255550100")
        region = "US"
    if draw(st.booleans()):
        example.extension = str(draw(st.integers(1, 99999)))
    style = draw(
        st.sampled_from(
            [
                phonenumbers.PhoneNumberFormat.E164,
                phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                phonenumbers.PhoneNumberFormat.NATIONAL,
                phonenumbers.PhoneNumberFormat.RFC3966,
            ]
        )
    )
    text = phonenumbers.format_number(example, style)
    if draw(st.booleans()) and not text.startswith("tel:"):
        text = text.replace(" ", draw(st.sampled_from(["-", ".", "  ", " "])))
    wanted = draw(st.sampled_from(list(NumberFormat)))
    return text, NumberRules(wanted, region)


@settings(max_examples=400, deadline=None)
@given(typed_numbers())
def test_normalising_twice_is_normalising_once(case: tuple[str, NumberRules]) -> None:
    text, rules = case
    once = check(text, rules).formatted
    if once is not None:
        assert normalize(once, rules) == once


@settings(max_examples=400, deadline=None)
@given(typed_numbers())
def test_a_formatted_number_reads_back_as_the_same_number(case: tuple[str, NumberRules]) -> None:
    text, rules = case
    first = check(text, rules)
    if first.formatted is not None:
        again = check(first.formatted, rules)
        assert again.key == first.key
        assert again.valid == first.valid


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet="+0123456789 ()-./xXt;=ABCext", max_size=30),
    st.sampled_from([None, "US", "DE", "GB", "JP", "AU"]),
    st.sampled_from(list(NumberFormat)),
)
def test_any_text_either_normalises_idempotently_or_is_refused(
    text: str, region: str | None, fmt: NumberFormat
) -> None:
    if fmt is NumberFormat.national and region is None:
        return
    rules = NumberRules(fmt, region)
    try:
        once = normalize(text, rules)
    except InvalidInput:
        return
    assert normalize(once, rules) == once
    assert check(once, rules).key == check(text, rules).key


# -- add, update, apply ---------------------------------------------------------------------


def test_add_sends_the_normalised_number(graph: GraphEmulator, phonectl: Run) -> None:
    result = phonectl(
        "add", "--number", "425.555.0100 x12", "--normalize", "e164", "--region", "US"
    )
    assert result.exit_code == 0, result.stderr
    assert only_call(graph).body == {"number": "+14255550100 ext. 12"}


def test_update_reads_the_region_from_the_environment(
    graph: GraphEmulator, phonectl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHONECTL_REGION", "DE")
    result = phonectl(
        "update", EXAMPLE_PHONE_ID, "--number", "030 1234567", "--normalize", "rfc3966"
    )
    assert result.exit_code == 0, result.stderr
    assert only_call(graph).body == {"number": "tel:+49-30-1234567"}


def test_a_flag_region_beats_the_environment(
    graph: GraphEmulator, phonectl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHONECTL_REGION", "DE")
    result = phonectl(
        "update", EXAMPLE_PHONE_ID, "--number", "030 1234567", "--normalize", "e164",
        "--region", "US",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert only_call(graph).body == {"number": "+10301234567"}


def test_without_normalize_the_number_goes_exactly_as_given(
    graph: GraphEmulator, phonectl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHONECTL_REGION", "US")
    result = phonectl("update", EXAMPLE_PHONE_ID, "--number", "425.555.0100")
    assert result.exit_code == 0, result.stderr
    assert only_call(graph).body == {"number": "425.555.0100"}


@pytest.mark.parametrize(
    "args",
    [
        ["add", "--number", "not a number", "--normalize", "e164", "--region", "US"],
        ["update", EXAMPLE_PHONE_ID, "--number", "425 555 0100", "--normalize", "e164"],
        ["update", EXAMPLE_PHONE_ID, "--number", "+1 425 555 0100", "--region", "US"],
        ["update", EXAMPLE_PHONE_ID, "--number", "+1 425 555 0100", "--normalize", "e164",
         "--region", "Narnia"],
        ["update", EXAMPLE_PHONE_ID, "--number", "+1 425 555 0100", "--normalize", "national"],
        ["update", EXAMPLE_PHONE_ID, "--number", "+1 425 555 0100", "--normalize", "e.164"],
    ],
)  # fmt: skip
def test_bad_numbers_and_rules_are_usage_errors_and_nothing_is_sent(
    graph: GraphEmulator, phonectl: Run, args: list[str]
) -> None:
    result = phonectl(*args)
    assert result.exit_code == 2, result.stderr
    assert graph_calls(graph) == []
    assert result.stdout == ""


def test_a_refused_number_is_named(graph: GraphEmulator, phonectl: Run) -> None:
    result = phonectl("add", "--number", "+1 555 0100", "--normalize", "e164")
    assert result.exit_code == 2
    assert "--number '+1 555 0100' is a local number" in result.stderr


def test_apply_makes_every_spelling_one_number_and_a_second_run_writes_nothing(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    # adelev's mobile is "+1 425 555 0109" in the seed.
    rows = tmp_path / "rows.csv"
    rows.write_text("user,type,number\nadelev@contoso.com,mobile,(425) 555-0109\n")
    args = ("apply", str(rows), "--normalize", "e164", "--region", "US", "-o", "json")
    first = phonectl(*args)
    assert first.exit_code == 0, first.stderr
    assert [item["body"] for item in written_items(graph)] == [{"number": "+14255550109"}]
    for spelling in ("425.555.0109", "+1 425-555-0109", "+14255550109"):
        graph.requests.clear()
        rows.write_text(f"user,type,number\nadelev@contoso.com,mobile,{spelling}\n")
        again = phonectl(*args)
        assert again.exit_code == 0, again.stderr
        assert again.json()[0]["result"] == "unchanged"
        assert written_items(graph) == []
    assert [p["number"] for p in phones_of(graph, "adelev@contoso.com")] == ["+14255550109"]


def test_apply_refuses_a_bad_number_with_its_line_and_sends_nothing(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "user,type,number\nadelev@contoso.com,mobile,425 555 0100\nadelev@contoso.com,home,123\n"
    )
    result = phonectl("apply", str(rows), "--normalize", "e164", "--region", "US")
    assert result.exit_code == 2
    assert f"{rows}:3: number '123' is too short" in result.stderr
    assert graph_calls(graph) == []


# -- what loads libphonenumber ----------------------------------------------------------------

NUMBERS_LIBRARY = ("phonenumbers",)


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["lint", "--help"],
        ["list"],
        ["get", EXAMPLE_PHONE_ID],
        ["update", EXAMPLE_PHONE_ID, "--number", "+1 425 555 0100"],
    ],
)
def test_commands_that_do_not_normalise_never_load_libphonenumber(
    graph: GraphEmulator, args: list[str]
) -> None:
    env = {"PHONECTL_GRAPH_URL": graph.url, "PHONECTL_ACCESS_TOKEN": "t", "PHONECTL_REGION": "US"}
    assert imported_heavy(args, env, NUMBERS_LIBRARY) == []


def test_completion_never_loads_libphonenumber() -> None:
    env = {
        "_PHONECTL_COMPLETE": "bash_complete",
        "COMP_WORDS": "phonectl update x --normalize ",
        "COMP_CWORD": "4",
    }
    assert imported_heavy([], env, NUMBERS_LIBRARY) == []


def test_the_probe_sees_libphonenumber_when_a_command_normalises_or_lints(
    graph: GraphEmulator, tmp_path: Path
) -> None:
    env = {"PHONECTL_GRAPH_URL": graph.url, "PHONECTL_ACCESS_TOKEN": "t"}
    update = ["update", EXAMPLE_PHONE_ID, "--number", "+1 425 555 0100", "--normalize", "e164"]
    assert "phonenumbers" in imported_heavy(update, env, NUMBERS_LIBRARY)
    clean = tmp_path / "clean.csv"
    clean.write_text("user,type,number\n,mobile,+14255550100\n")
    assert "phonenumbers" in imported_heavy(["lint", str(clean)], env, NUMBERS_LIBRARY)


def test_set_compares_the_normalised_number_and_a_second_run_writes_nothing(
    graph: GraphEmulator, phonectl: Run
) -> None:
    # adelev's mobile is "+1 425 555 0109" in the seed.
    args = ("set", "--user", "adelev@contoso.com", "--type", "mobile", "--normalize", "e164")
    first = phonectl(*args, "--number", "(425) 555-0109", "--region", "US")
    assert first.exit_code == 0, first.stderr
    assert [p["number"] for p in phones_of(graph, "adelev@contoso.com")] == ["+14255550109"]
    graph.requests.clear()
    again = phonectl(*args, "--number", "001 425 555 0109")
    assert again.exit_code == 0, again.stderr
    assert "unchanged" in again.stderr
    assert [c for c in graph_calls(graph) if c.method != "GET"] == []
    refused = phonectl(*args, "--number", "555 0109", "--region", "US")
    assert refused.exit_code == 2
    assert "'555 0109'" in refused.stderr
