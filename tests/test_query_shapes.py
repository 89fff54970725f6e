"""What --query leaves, in each format, for any JSON value (property tests of query.Queried;
tests/test_query.py runs the same through phonectl against the emulator)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from hypothesis import given
from hypothesis import strategies as st

from phonectl.errors import ExitCode, PhonectlError
from phonectl.queried import queried
from phonectl.render import tsv_escape
from phonectl.results import Card, Lines, Nothing, Table, View

scalars = st.none() | st.booleans() | st.integers() | st.text()
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
flat_objects = st.dictionaries(st.text(min_size=1), scalars, min_size=1, max_size=5)


class Given(NamedTuple):
    """A result whose json form is `value`."""

    value: Any
    exit_code: ExitCode = ExitCode.OK
    notes: Sequence[str] = ()
    problem: PhonectlError | None = None

    def json(self) -> Any:
        return self.value

    def tsv(self) -> Iterable[Sequence[Any]]:
        return ()

    def view(self) -> View:
        return Nothing()


@given(json_values)
def test_json_is_the_value_the_expression_leaves(value: Any) -> None:
    assert queried(Given(value), "@").json() == value


@given(json_values)
def test_each_tsv_row_is_one_line_of_scalar_cells(value: Any) -> None:
    rows = list(queried(Given(value), "@").tsv())
    expected = 0 if value is None else len(value) if isinstance(value, list) else 1
    assert len(rows) == expected
    for row in rows:
        for cell in row:
            assert cell is None or isinstance(cell, (str, int, float))
            assert not any(c in tsv_escape(cell) for c in "\t\n\r")


@given(st.lists(flat_objects, min_size=1, max_size=6))
def test_a_list_of_objects_is_a_table_with_a_column_per_key(items: list[dict[str, Any]]) -> None:
    view = queried(Given(items), "@").view()
    assert isinstance(view, Table)
    keys = list(dict.fromkeys(key for item in items for key in item))
    assert [column.header for column in view.columns] == keys
    rows = list(view.rows)
    assert len(rows) == len(items)
    assert all(len(row) == len(keys) for row in rows)


@given(st.lists(st.integers() | st.text(), min_size=1, max_size=6))
def test_a_list_of_values_is_a_line_each(items: list[Any]) -> None:
    view = queried(Given(items), "@").view()
    assert isinstance(view, Lines)
    assert view.lines == tuple(str(item) for item in items)


@given(flat_objects)
def test_one_object_is_a_card(item: dict[str, Any]) -> None:
    view = queried(Given(item), "@").view()
    assert isinstance(view, Card)
    assert [label for label, _ in view.pairs] == list(item)
