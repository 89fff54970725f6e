"""phones.FIELDS is the whole itemPhone: every property Graph's beta metadata gives it has a
row, and what each row says (flag, path, card label, table column, file column) is what the
commands, the body, the views and apply's files do. Each test walks the table, so a row
added to it is checked without a test of its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import EXAMPLE_PHONE_ID, Run, only_call

from phonectl.app import click_group
from phonectl.apply.rows import COLUMNS
from phonectl.errors import InvalidInput
from phonectl.phones import CLEARABLE, FIELDS, WRITABLE, Field, build_body, value_at
from phonectl.results import PhoneList, PhoneShown
from phonectl.sandbox.itemphone import PHONE_PROPERTIES
from phonectl.sandbox.server import GraphEmulator


def sample(field: Field) -> tuple[list[str], Any]:
    """A value for a writable field: its flags, and the value Graph then holds. A field of
    a kind not here fails the tests below until it gets a sample."""
    if field.takes is bool:
        return [str(field.flag)], True
    if field.takes is float:
        return [str(field.flag), "0.25"], 0.25
    if field.takes is list:
        return [str(field.flag), "HR", str(field.flag), "AAD"], ["HR", "AAD"]
    if field.choices is not None:
        last = list(field.choices)[-1].value
        return [str(field.flag), last.upper()], last  # read case-insensitively
    if field.name == "number":
        return [str(field.flag), "+1 425 555 0199"], "+1 425 555 0199"
    assert field.takes is str, f"no sample for {field.name}: add one"
    return [str(field.flag), "Desk phone"], "Desk phone"


def nested(name: str, value: Any) -> dict[str, Any]:
    *parents, leaf = name.split(".")
    body: dict[str, Any] = {leaf: value}
    for parent in reversed(parents):
        body = {parent: body}
    return body


def test_the_table_names_every_property_of_graphs_itemphone() -> None:
    # The emulator's list is written from the beta metadata, independently of phonectl.
    assert {f.top_property for f in FIELDS} == set(PHONE_PROPERTIES)
    assert len({f.name for f in FIELDS}) == len(FIELDS)
    assert len({f.flag for f in WRITABLE}) == len(WRITABLE)


@pytest.mark.parametrize("command", ["add", "update", "set"])
def test_each_writable_field_is_an_option_of_the_commands_that_write(command: str) -> None:
    params = click_group().commands[command].params
    flags = {opt for p in params for opt in (*p.opts, *p.secondary_opts)}
    assert "--clear" in flags  # the contract's field flags of add and update include it
    for field in WRITABLE:
        assert field.flag in flags, (command, field.name)
        if field.off_flag:
            assert field.off_flag in flags, (command, field.name)
    shown = {p.name: p for p in params}
    for field in WRITABLE:
        option = shown[field.name.replace(".", "_")]
        assert option.help == field.help
        assert option.multiple is (field.takes is list)


@pytest.mark.parametrize("field", WRITABLE, ids=lambda f: f.name)
def test_a_fields_flag_puts_its_value_at_its_path_and_graph_keeps_it(
    graph: GraphEmulator, phonectl: Run, field: Field
) -> None:
    flags, value = sample(field)
    result = phonectl("update", EXAMPLE_PHONE_ID, *flags, "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert only_call(graph).body == nested(field.name, value)
    # The emulator (Graph's metadata) took it, and the card shows it under its label.
    shown = phonectl("get", EXAMPLE_PHONE_ID, "-o", "json")
    import json

    phone = json.loads(shown.stdout)
    assert value_at(phone, field.name) == value
    card = dict(PhoneShown(phone).view().pairs)  # type: ignore[union-attr]
    assert field.label in card
    assert field.shown_in(phone) in card[str(field.label)]


@pytest.mark.parametrize("field", WRITABLE, ids=lambda f: f.name)
def test_clearing_a_property_contradicts_setting_it(field: Field) -> None:
    flags, value = sample(field)
    # The flag's value as Typer hands it on: the text for a text flag, else Graph's value.
    given = {field.name: flags[1] if field.takes is str else value}
    if field.clearable:
        with pytest.raises(InvalidInput, match=f"{field.flag} and --clear .* contradict"):
            build_body(given, [field.top_property])
        assert build_body({}, [field.top_property.upper()]) == {field.top_property: None}
    else:
        assert field.top_property not in CLEARABLE


writable_values = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["mobile", "HOME", "pager"]),
        "number": st.from_regex(r"\+[1-9][0-9 ]{3,15}", fullmatch=True),
        "displayName": st.text(st.characters(categories=["L", "N", "Zs"]), max_size=20),
        "allowedAudiences": st.sampled_from(["me", "organization,everyone"]),
        "source.type": st.lists(st.text("ABCDEF", min_size=1, max_size=4), min_size=1),
        "isSearchable": st.booleans(),
        "inference.confidenceScore": st.floats(0, 1),
        "inference.userHasVerifiedAccuracy": st.booleans(),
    },
)


@given(writable_values)
def test_a_body_holds_exactly_the_named_fields_in_the_tables_order(
    values: Mapping[str, Any],
) -> None:
    assert set(values) <= {f.name for f in WRITABLE}
    body = build_body(values)
    for name, value in values.items():
        held = value_at(body, name)
        assert held is not None
        if isinstance(value, str) and name not in {"type", "allowedAudiences"}:
            assert held == value.strip() if name == "number" else held == value
    assert {f.top_property for f in WRITABLE if f.name in values} == set(body)
    order = [f.top_property for f in FIELDS]
    assert list(body) == sorted(body, key=order.index)


def test_the_views_and_files_follow_the_table() -> None:
    phone: dict[str, Any] = {f.top_property: None for f in FIELDS}
    phone.update(id="p1", type="mobile", number="+1", displayName="Desk")
    phone.update(allowedAudiences="organization", isSearchable=True)
    phone["inference"] = {"confidenceScore": 0.5, "userHasVerifiedAccuracy": False}
    table = PhoneList([phone]).view()
    headers = [c.header for c in table.columns]  # type: ignore[union-attr]
    assert headers == [f.label for f in FIELDS if f.table is not None]
    (row,) = list(table.rows)  # type: ignore[union-attr]
    assert dict(zip(headers, row, strict=True))["Number"] == "+1"
    (tsv,) = list(PhoneList([phone]).tsv())
    assert tsv == tuple(f.text_in(phone) for f in FIELDS if f.in_tsv)
    card = dict(PhoneShown(phone).view().pairs)  # type: ignore[union-attr]
    assert card["Inference"] == "confidence 0.5, verified no"
    assert card["Searchable"] == "yes"
    assert list(card) == list(dict.fromkeys(str(f.label) for f in FIELDS if f.on_card))
    assert ("user", "id", *(f.name for f in FIELDS if f.column is not None)) == COLUMNS


@pytest.mark.parametrize("field", WRITABLE, ids=lambda f: f.name)
def test_set_takes_every_field_then_finds_nothing_left_to_change(
    graph: GraphEmulator, phonectl: Run, field: Field
) -> None:
    """`set` is a one-row apply: its diff compares each property (a complex one whole), so
    every field can be set on an existing phone, and set again changes nothing."""
    import json

    flags, value = sample(field)
    phone_type = "other"  # the example phone's
    if field.name == "type":
        flags = []  # set finds the phone by --type: it cannot change it
    done = phonectl("set", "--type", phone_type, *flags, "-o", "json")
    assert done.exit_code == 0, done.stderr
    if field.name != "type":
        assert value_at(json.loads(done.stdout), field.name) == value
    again = phonectl("set", "--type", phone_type, *flags)
    assert again.exit_code == 0, again.stderr
    assert "unchanged" in again.stderr
    if field.clearable:
        cleared = phonectl("set", "--type", phone_type, "--clear", field.top_property, "-o", "json")
        assert cleared.exit_code == 0, cleared.stderr
        assert "unchanged" not in cleared.stderr  # a clear that did nothing exits 0 too
        assert json.loads(cleared.stdout).get(field.top_property) is None
