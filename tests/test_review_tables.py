"""Tables a person reviews at a terminal: apply's plan keeps the user at every width; no user
principal name, id or number is ever split across lines; a terminal too narrow for a row gets
it as a block per user or a card; `list` hides its least telling columns first and says so.
Through real processes on a pseudo-terminal, and layout's own rules over generated tables."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import add_users, run_on_terminal, run_phonectl

from phonectl.layout import Column, format_table, text_width
from phonectl.sandbox.server import GraphEmulator

LONG_UPN = "alexandra.konstantinopoulou-vandenberghe@contoso.onmicrosoft.com"
NUMBERS = ["+7 499 342 22 13", "+44 20 7946 0958 ext. 1234", "+1 425 555 0100"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def screen_lines(screen: bytes) -> list[str]:
    return [ANSI.sub("", line) for line in screen.decode().replace("\r", "").splitlines()]


@pytest.fixture
def tenant(graph: GraphEmulator) -> dict[str, str]:
    add_users(graph, 2, phones_each=1)
    graph.state.add_user("long-1", LONG_UPN, "Alexandra", [])
    return {"PHONECTL_GRAPH_URL": graph.url, "PHONECTL_ACCESS_TOKEN": "t", "NO_COLOR": "1"}


def plan_file(tmp_path: Path) -> Path:
    rows = tmp_path / "plan.csv"
    rows.write_text(
        "user,type,number,displayName\n"
        f"{LONG_UPN},mobile,{NUMBERS[0]},A display name long enough to need wrapping somewhere\n"
        f"user0@contoso.com,other,{NUMBERS[1]},Desk\n"
        f"{LONG_UPN},pager,{NUMBERS[2]},Pager\n"
    )
    return rows


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120, 200])
def test_an_apply_plan_keeps_every_user_and_value_whole_at_any_width(
    tenant: dict[str, str], tmp_path: Path, width: int
) -> None:
    rows = plan_file(tmp_path)
    code, screen = run_on_terminal(
        ["apply", str(rows), "--dry-run"], {**tenant, "COLUMNS": str(width)}
    )
    assert code == 0, screen
    lines = screen_lines(screen)
    text = "\n".join(lines)
    for value in (LONG_UPN, "user0@contoso.com", *NUMBERS):
        assert any(value in line for line in lines), (value, text)
    # Every row says whose it is: the long user is named for both of their rows.
    assert text.count(LONG_UPN) >= (1 if "User: " in text else 2)
    assert "Mobile phone" not in text  # (nothing invented)
    assert "would-update" in text and "would-add" in text


def test_a_piped_plan_is_one_line_a_row_with_every_column(
    tenant: dict[str, str], tmp_path: Path
) -> None:
    done = run_phonectl("apply", str(plan_file(tmp_path)), "--dry-run", env=tenant)
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["Line", "User", "Phone", "id", "Result", "Details"]
    assert len(rows) == 3
    assert all(number in done.stdout for number in NUMBERS)


@pytest.mark.parametrize("width", [60, 80, 120])
def test_list_hides_the_least_telling_columns_first_and_says_so(
    graph: GraphEmulator, tenant: dict[str, str], width: int
) -> None:
    code, screen = run_on_terminal(["list"], {**tenant, "COLUMNS": str(width)})
    assert code == 0
    lines = screen_lines(screen)
    header = lines[0].split("  ")
    headers = [h.strip() for h in header if h.strip()]
    order = ["ID", "Type", "Number", "Display name", "Audience", "Source", "Last modified"]
    assert headers == [h for h in order if h in headers]
    by_importance = [h for h in order if h not in {"ID", "Number"}]
    optional = [h for h in headers if h not in {"ID", "Number"}]
    # What is shown is a prefix of the importance order: nothing less telling kept instead.
    assert optional == by_importance[: len(optional)]
    hidden = len(order) - len(headers)
    if hidden:
        assert f"{hidden} column{'s' if hidden > 1 else ''} hidden: -o json shows all" in lines
    assert all(len(line) <= width for line in lines if "hidden:" not in line)


# -- layout's own rules, for any table ------------------------------------------------------

WORD = st.text(string.ascii_letters + string.digits + "@.-+", min_size=1, max_size=40)
QUOTED = st.text(string.ascii_letters + string.digits + " +", min_size=0, max_size=30).map(
    lambda t: f'"{t}"'
)


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[Column], list[list[str]], int]:
    columns = [Column("ID", 0), Column("User", 0), Column("Details", 1, wraps=True)]
    columns += [Column(f"Extra{n}", 2 + n, wraps=draw(st.booleans())) for n in range(2)]
    rows = [
        [
            draw(WORD),
            draw(WORD),
            ", ".join(f"{draw(WORD)}: {draw(QUOTED)} -> {draw(QUOTED)}" for _ in range(2)),
            " ".join(draw(st.lists(WORD, max_size=4))),
            draw(QUOTED),
        ]
        for _ in range(draw(st.integers(1, 4)))
    ]
    return columns, rows, draw(st.integers(10, 200))


def atoms(cell: str) -> list[str]:
    """What must never be split: quoted values whole, and words outside quotes."""
    return re.findall(r'"[^"]*"|[^\s",]+', cell)


@settings(max_examples=200, deadline=None)
@given(tables(), st.booleans())
def test_no_value_is_ever_split_across_lines(
    table: tuple[list[Column], list[list[str]], int], grouped: bool
) -> None:
    columns, rows, width = table
    out = "".join(
        format_table(columns, rows, width=width, style=False, group=1 if grouped else None)
    )
    lines = out.splitlines()
    for row in rows:
        for i in (0, 1):  # never-cut columns are always there, whole
            assert any(row[i] in line for line in lines)
        for atom in atoms(row[2]):
            assert any(atom in line for line in lines), (atom, out)
    longest_atom = max(text_width(a) for row in rows for cell in row for a in atoms(cell) or [""])
    assert all(text_width(line) <= max(width, longest_atom + 40) for line in lines)


def test_a_wide_enough_table_is_one_line_a_row() -> None:
    columns = [Column("A", 0), Column("B", 1, wraps=True)]
    out = list(format_table(columns, [["x", "y z"]], width=80, style=False))
    assert out == ["A  B\n", "x  y z\n"]


def test_a_column_that_does_not_fit_takes_every_less_important_one_with_it() -> None:
    columns = [Column("ID", 0), Column("Name", 1), Column("S", 2)]
    hidden: list[str] = []
    out = list(
        format_table(
            columns, [["id1", "n" * 30, "s"]], width=20, style=False, on_hidden=hidden.extend
        )
    )
    assert hidden == ["Name", "S"]  # S would fit, but not in Name's place
    assert out == ["ID\n", "id1\n"]


@pytest.mark.parametrize("width", [10, 20, 30])
def test_a_cards_id_and_number_are_never_wrapped(tenant: dict[str, str], width: int) -> None:
    from support import EXAMPLE_PHONE_ID

    for args in (["get", EXAMPLE_PHONE_ID], ["list"]):
        code, screen = run_on_terminal(args, {**tenant, "COLUMNS": str(width)})
        assert code == 0
        lines = screen_lines(screen)
        assert any("+7 499 342 22 13" in line for line in lines), lines
        assert any(EXAMPLE_PHONE_ID in line for line in lines), lines
