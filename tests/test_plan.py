"""apply's planner (apply/plan.py) on its own: no HTTP, no files. Unit cases for each rule,
and properties over generated phones and rows: carrying out a plan and planning again finds
nothing to write; no plan adds a phone of a type its user already holds; every write carries
only properties that differ."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from phonectl.apply.plan import Plan, Write, plan
from phonectl.apply.rows import Row
from phonectl.phones import UserRef

USER = UserRef("adelev@contoso.com")
KEY = "u1"
TYPES = ["mobile", "home", "business", "other"]


def plan_for(rows: Sequence[Row], phones: Sequence[Mapping[str, Any]], prune: bool = False) -> Plan:
    return plan(list(rows), {USER: KEY}, {KEY: list(phones)}, {KEY: USER}, prune=prune)


def row(line: int, phone_id: str | None = None, **fields: Any) -> Row:
    return Row(line, USER, phone_id, fields)


def carry_out(writes: Sequence[Write], phones: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What Graph holds after the writes (as Graph would: PATCH merges, POST adds)."""
    held = [dict(p) for p in phones]
    counter = itertools.count(1)
    for write in writes:
        if write.method == "POST":
            held.append({"id": f"new-{next(counter)}", **write.body})
        elif write.method == "PATCH":
            (target,) = [p for p in held if p["id"] == write.phone_id]
            target.update(write.body)
        else:
            held = [p for p in held if p["id"] != write.phone_id]
    return held


def test_a_row_without_id_changes_the_users_one_phone_of_its_type() -> None:
    phones = [{"id": "p1", "type": "mobile", "number": "1"}]
    the_plan = plan_for([row(2, type="mobile", number="2")], phones)
    (write,) = the_plan.writes
    assert (write.method, write.phone_id, write.body) == ("PATCH", "p1", {"number": "2"})


def test_two_phones_of_the_type_is_a_failed_row_and_no_write() -> None:
    phones = [{"id": "p1", "type": "mobile"}, {"id": "p2", "type": "mobile"}]
    the_plan = plan_for([row(2, type="mobile", number="2")], phones)
    assert the_plan.writes == ()
    (planned,) = the_plan.rows
    assert planned.failure is not None and "ambiguous" in planned.failure.reason


def test_two_rows_about_one_phone_are_one_write() -> None:
    phones = [{"id": "p1", "type": "mobile", "number": "1", "displayName": "a"}]
    rows = [row(2, "p1", number="2"), row(3, type="mobile", displayName="b")]
    (write,) = plan_for(rows, phones).writes
    assert write.body == {"number": "2", "displayName": "b"}
    assert write.lines == (2, 3)


def test_a_type_change_then_an_add_of_that_type_never_doubles_the_type() -> None:
    phones = [{"id": "p1", "type": "mobile", "number": "1"}]
    rows = [row(2, "p1", type="home"), row(3, type="mobile", number="9")]
    writes = plan_for(rows, phones).writes
    held = carry_out(writes, phones)
    assert sorted(p["type"] for p in held) == ["home", "mobile"]


def test_prune_deletes_only_the_phones_no_row_wants() -> None:
    phones = [
        {"id": "p1", "type": "mobile", "number": "1"},
        {"id": "p2", "type": "home", "number": "2"},
    ]
    writes = plan_for([row(2, type="mobile", number="1")], phones, prune=True).writes
    assert [(w.method, w.phone_id) for w in writes] == [("DELETE", "p2")]


def test_rows_that_set_a_value_and_set_it_back_send_nothing() -> None:
    phones = [{"id": "p1", "type": "mobile", "number": "1"}]
    rows = [row(2, "p1", number="2"), row(3, "p1", number="1")]
    assert plan_for(rows, phones).writes == ()


def test_a_value_set_twice_differently_for_one_phone_is_named_the_later_row_winning() -> None:
    phones = [{"id": "p1", "type": "mobile", "number": "1", "displayName": "a"}]
    rows = [
        row(2, "p1", number="7", displayName="b"),
        row(3, type="mobile", number="8"),  # the same phone, found by its type
        row(4, "P1", displayName="b", number="8"),  # the same values again: no contradiction
        row(5, "p1", displayName=None),  # a clear is a value too
    ]
    the_plan = plan_for(rows, phones)
    assert the_plan.overridden == ((2, 3, "number"), (4, 5, "displayName"))
    (write,) = the_plan.writes
    assert write.body == {"number": "8", "displayName": None}
    # Rows of another phone, or other properties, are no contradiction.
    other = [row(2, "p1", number="7"), row(3, "p1", displayName="z"), row(4, type="home")]
    assert plan_for(other, phones).overridden == ()


# -- properties --------------------------------------------------------------------------------

PHONES = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(TYPES), "number": st.sampled_from(["1", "2", "3"])}
    ),
    max_size=5,
).map(lambda phones: [{"id": f"p{n}", **p} for n, p in enumerate(phones)])


@st.composite
def rows_for(draw: st.DrawFn, phones: list[dict[str, Any]]) -> list[Row]:
    """Rows that do not contradict each other: each phone is spoken for by one row at most
    (by its id, or by its type when it is the user's one phone of that type), and rows by id
    keep the phone's type. (Contradicting rows fail or are caught by rules of their own.)"""
    ids = draw(st.lists(st.sampled_from([p["id"] for p in phones]), unique=True)) if phones else []
    by_id_types = {p["type"] for p in phones if p["id"] in ids}
    free_types = [t for t in TYPES if t not in by_id_types]
    types = draw(st.lists(st.sampled_from(free_types), unique=True)) if free_types else []
    made = []
    targets: list[tuple[str | None, str | None]] = [(i, None) for i in ids] + [
        (None, t) for t in types
    ]
    for line, (phone_id, phone_type) in enumerate(draw(st.permutations(targets)), start=2):
        fields: dict[str, Any] = {}
        if phone_type is not None:
            fields["type"] = phone_type
        if draw(st.booleans()) or phone_id is None:
            fields["number"] = draw(st.sampled_from(["1", "2", "3", "4"]))
        if draw(st.booleans()):
            fields["displayName"] = draw(st.sampled_from(["a", "b", None]))
        made.append(Row(line, USER, phone_id, fields))
    return made


@settings(max_examples=300, deadline=None)
@given(st.data(), st.booleans())
def test_carrying_out_a_plan_then_planning_again_finds_nothing_to_write(
    data: st.DataObject, prune: bool
) -> None:
    phones = data.draw(PHONES)
    rows = data.draw(rows_for(phones))
    first = plan_for(rows, phones, prune=prune)
    if any(r.failure for r in first.rows):
        return  # a failed row is reported, not written; nothing to converge to
    held = carry_out(first.writes, phones)
    # The rerun sees the ids Graph gave: rows that added a phone now find it by type.
    second = plan_for(rows, held, prune=prune)
    assert [w for w in second.writes if w.method != "DELETE" or prune] == [], (rows, phones, held)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_every_write_carries_only_what_differs_and_adds_no_duplicate_type(
    data: st.DataObject,
) -> None:
    phones = data.draw(PHONES)
    rows = data.draw(rows_for(phones))
    the_plan = plan_for(rows, phones)
    before = {p["id"]: p for p in phones}
    for write in the_plan.writes:
        if write.method == "PATCH":
            current = before[str(write.phone_id)]
            assert all(current.get(k) != v for k, v in write.body.items()), (write, current)
    held = carry_out(the_plan.writes, phones)
    for phone_type in TYPES:
        had = sum(p["type"] == phone_type for p in phones)
        after = sum(p.get("type") == phone_type for p in held)
        assert after <= max(had, 1), (phone_type, rows, phones, held)


def test_a_row_may_not_move_a_phone_an_earlier_row_found_by_its_type() -> None:
    # Found by the property above: line 2's mobile would be gone after line 3, and every
    # rerun would add a mobile again.
    phones = [{"id": "p0", "type": "mobile", "number": "1"}]
    rows = [row(2, type="mobile", number="1"), row(3, "p0", type="home")]
    the_plan = plan_for(rows, phones)
    assert the_plan.writes == ()
    failure = the_plan.rows[1].failure
    assert failure is not None and "conflicts with line 2" in failure.reason
