"""Text layout for people: a table that fits the terminal (columns that must stay whole never
cut or wrapped, the least important ones dropped first, long text wrapped) and a key/value
card. Cells arrive already escaped (render.py); this module only measures and arranges.

Written here rather than with Rich: Rich cost every one-phone command ~20-25 ms and 2.7 MiB
to import and measure, and a 50,000-row apply table several times the JSON's time."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import NamedTuple

SEPARATOR = "  "
MIN_WRAP_WIDTH = 12
# The narrowest the most important wrapping column (apply's details) may be before the rows
# are shown another way: at fewer columns a change takes more lines than it has words.
MIN_MAIN_WIDTH = 24
BOLD, DIM, RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"


class Column(NamedTuple):
    header: str
    priority: int  # 0: always shown, never cut; then lower numbers are kept longer
    wraps: bool = False  # long text may wrap onto more lines at narrow widths


def text_width(text: str) -> int:
    """Columns a string takes on a terminal (wide East Asian characters take two)."""
    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def _pad(text: str, width: int) -> str:
    return text + " " * (width - text_width(text))


def _wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width`, broken only at spaces outside double quotes: a
    quoted value ("+7 499 342 22 13", a JSON string in apply's details) and a word with no
    space (an id, a user principal name) are never split; one longer than the line overflows
    it instead of being cut. A list (`a, b, c`: apply's changes) breaks between its items
    first, so each item stays on a line of its own where it fits."""
    lines: list[str] = []
    line = ""
    for item in _items(text):
        candidate = f"{line} {item}" if line else item
        if text_width(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for word in _words(item):
            if line and text_width(line) + 1 + text_width(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
    return [*lines, line]


def _longest_word(text: str) -> int:
    """The width of the longest span `_wrap` never breaks."""
    if " " not in text:
        return text_width(text)
    return max(text_width(word) for word in _words(text))


def _items(text: str) -> list[str]:
    """A comma-separated list's items, each keeping its comma (commas inside quotes are
    not separators)."""
    items: list[str] = []
    current: list[str] = []
    for word in _words(text):
        current.append(word)
        if word.endswith(",") and not word.endswith('\\",'):
            items.append(" ".join(current))
            current = []
    if current:
        items.append(" ".join(current))
    return items or [""]


def _words(text: str) -> list[str]:
    """The spans between spaces that are outside double quotes (a backslash escapes a quote,
    as in JSON)."""
    words: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if char == " " and not quoted:
            if current:
                words.append("".join(current))
                current = []
            continue
        current.append(char)
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
    if current:
        words.append("".join(current))
    return words or [""]


def fit_columns(
    columns: Sequence[Column],
    natural: Sequence[int],
    width: int | None,
    narrowest: Sequence[int] | None = None,
) -> dict[int, int]:
    """Which columns to show (by index) and how wide. Priority 0 columns always; then, most
    important first, each that fits whole; a wrapping column that does not fit whole takes
    what room is left if that is at least MIN_WRAP_WIDTH and its longest unbreakable value
    (`narrowest`). Once one does not fit, no less important one is shown in its place: a
    table never keeps Source and drops Display name."""
    shown = {i: natural[i] for i, c in enumerate(columns) if c.priority == 0}
    if width is None:
        return {i: natural[i] for i in range(len(columns))}
    narrowest = narrowest or [0] * len(columns)
    used = sum(shown.values()) + len(SEPARATOR) * (len(shown) - 1)
    for i in sorted(
        (i for i, c in enumerate(columns) if c.priority), key=lambda i: columns[i].priority
    ):
        room = width - used - len(SEPARATOR)
        if natural[i] <= room:
            shown[i] = natural[i]
        elif columns[i].wraps and room >= max(MIN_WRAP_WIDTH, narrowest[i]):
            shown[i] = room
        else:
            break
        used += shown[i] + len(SEPARATOR)
    return dict(sorted(shown.items()))


def _fits(
    columns: Sequence[Column], natural: Sequence[int], narrowest: Sequence[int], width: int
) -> bool:
    """Whether the never-cut columns fit on one line, with the most important optional
    column beside them when it wraps (apply's details: a review without them is none)."""
    whole = [natural[i] for i, c in enumerate(columns) if c.priority == 0]
    if sum(whole) + len(SEPARATOR) * (len(whole) - 1) > width:
        return False
    optional = [i for i, c in enumerate(columns) if c.priority]
    main = min(optional, key=lambda i: columns[i].priority, default=None)
    if main is None or not columns[main].wraps:
        return True
    shown = fit_columns(columns, natural, width, narrowest)
    return main in shown and shown[main] >= min(natural[main], MIN_MAIN_WIDTH)


def format_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    width: int | None,
    style: bool,
    group: int | None = None,
    on_hidden: Callable[[list[str]], None] | None = None,
) -> Iterator[str]:
    """The table's lines (each ending in a newline), made one at a time; `width` None: every
    column whole (output to a file or pipe).

    A terminal too narrow for the never-cut columns gets the rows another way, never with a
    value cut or wrapped: with `group`, that column's value as a heading over the rest (a
    block per user); where even that does not fit, each row as a card. `on_hidden` hears the
    headers of the columns left out, so the caller can say so."""
    natural = [
        max([text_width(c.header)] + [text_width(row[i]) for row in rows])
        for i, c in enumerate(columns)
    ]
    narrowest = [
        max((_longest_word(row[i]) for row in rows), default=0) if c.wraps else 0
        for i, c in enumerate(columns)
    ]
    rest = [i for i in range(len(columns)) if i != group]
    if width is None or _fits(columns, natural, narrowest, width):
        yield from _table_lines(columns, rows, natural, narrowest, width, style, on_hidden)
    elif group is not None and _fits(
        [columns[i] for i in rest],
        [natural[i] for i in rest],
        [narrowest[i] for i in rest],
        width - 2,
    ):
        yield from _grouped_lines(columns, rows, natural, narrowest, width, style, group, on_hidden)
    else:
        whole = {c.header for c in columns if c.priority == 0}
        for n, row in enumerate(rows):
            pairs = [(c.header, row[i]) for i, c in enumerate(columns)]
            yield ("\n" if n else "") + format_card(pairs, width=width, style=style, whole=whole)


def _table_lines(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    natural: Sequence[int],
    narrowest: Sequence[int],
    width: int | None,
    style: bool,
    on_hidden: Callable[[list[str]], None] | None,
    indent: str = "",
) -> Iterator[str]:
    shown = fit_columns(columns, natural, width, narrowest)
    hidden = [c.header for i, c in enumerate(columns) if i not in shown]
    if hidden and on_hidden is not None:
        on_hidden(hidden)
    last = max(shown)
    title = SEPARATOR.join(
        columns[i].header if i == last else _pad(columns[i].header, w) for i, w in shown.items()
    )
    yield indent + (f"{BOLD}{title}{RESET}" if style else title) + "\n"
    for row in rows:
        cells = {
            i: _wrap(row[i], w) if text_width(row[i]) > w else [row[i]] for i, w in shown.items()
        }
        for n in range(max(len(parts) for parts in cells.values())):
            line = SEPARATOR.join(
                _pad(parts[n] if n < len(parts) else "", shown[i])
                if i != last
                else (parts[n] if n < len(parts) else "")
                for i, parts in cells.items()
            )
            yield (indent + line).rstrip() + "\n"


def _grouped_lines(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    natural: Sequence[int],
    narrowest: Sequence[int],
    width: int,
    style: bool,
    group: int,
    on_hidden: Callable[[list[str]], None] | None,
) -> Iterator[str]:
    """A heading per run of rows with the same `group` value, the other columns under it."""
    rest = [i for i in range(len(columns)) if i != group]
    sub_columns = [columns[i] for i in rest]
    sub_natural = [natural[i] for i in rest]
    sub_narrowest = [narrowest[i] for i in rest]
    start = 0
    while start < len(rows):
        end = start
        while end < len(rows) and rows[end][group] == rows[start][group]:
            end += 1
        heading = f"{columns[group].header}: {rows[start][group] or '-'}"
        yield ("\n" if start else "") + (f"{BOLD}{heading}{RESET}" if style else heading) + "\n"
        block = [[row[i] for i in rest] for row in rows[start:end]]
        yield from _table_lines(
            sub_columns,
            block,
            sub_natural,
            sub_narrowest,
            width - 2,
            style,
            on_hidden if start == 0 else None,
            "  ",
        )
        start = end


def format_card(
    pairs: Sequence[tuple[str, str]],
    *,
    width: int | None,
    style: bool,
    whole: Collection[str] = (),
) -> str:
    """Key/value lines, keys aligned; a long value wraps under itself, except those labelled
    in `whole` (an id, a number, a user): never wrapped, overflowing the line instead."""
    key_width = max(text_width(key) for key, _ in pairs)
    room = None if width is None else max(width - key_width - len(SEPARATOR), MIN_WRAP_WIDTH)
    lines = []
    for key, value in pairs:
        label = _pad(key, key_width)
        label = f"{DIM}{label}{RESET}" if style else label
        wraps = room and key not in whole and text_width(value) > room
        parts = _wrap(value, room) if wraps and room else [value]
        lines.append(f"{label}{SEPARATOR}{parts[0]}".rstrip())
        lines += [" " * (key_width + len(SEPARATOR)) + part for part in parts[1:]]
    return "\n".join(lines) + "\n"
