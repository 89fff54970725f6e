"""Text layout for people: a table that fits the terminal (columns that must stay whole never
cut or wrapped, the least important ones dropped first, long text wrapped) and a key/value
card. Cells arrive already escaped (render.py); this module only measures and arranges.

Written here rather than with Rich: Rich cost every one-phone command ~20-25 ms and 2.7 MiB
to import and measure, and a 50,000-row apply table several times the JSON's time."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Sequence
from typing import NamedTuple

SEPARATOR = "  "
MIN_WRAP_WIDTH = 12
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
    import textwrap

    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def fit_columns(
    columns: Sequence[Column], natural: Sequence[int], width: int | None
) -> dict[int, int]:
    """Which columns to show (by index) and how wide. Priority 0 columns always; then, most
    important first, each that fits whole; a wrapping column that does not fit whole takes
    what room is left if that is at least MIN_WRAP_WIDTH."""
    shown = {i: natural[i] for i, c in enumerate(columns) if c.priority == 0}
    if width is None:
        return {i: natural[i] for i in range(len(columns))}
    used = sum(shown.values()) + len(SEPARATOR) * (len(shown) - 1)
    for i in sorted(
        (i for i, c in enumerate(columns) if c.priority), key=lambda i: columns[i].priority
    ):
        room = width - used - len(SEPARATOR)
        if natural[i] <= room:
            shown[i] = natural[i]
        elif columns[i].wraps and room >= MIN_WRAP_WIDTH:
            shown[i] = room
        else:
            continue
        used += shown[i] + len(SEPARATOR)
    return dict(sorted(shown.items()))


def format_table(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], *, width: int | None, style: bool
) -> Iterator[str]:
    """The table's lines (each ending in a newline), made one at a time; `width` None: every
    column whole (output to a file or pipe)."""
    natural = [
        max([text_width(c.header)] + [text_width(row[i]) for row in rows])
        for i, c in enumerate(columns)
    ]
    shown = fit_columns(columns, natural, width)
    last = max(shown)
    header = SEPARATOR.join(
        columns[i].header if i == last else _pad(columns[i].header, w) for i, w in shown.items()
    )
    yield (f"{BOLD}{header}{RESET}" if style else header) + "\n"
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
            yield line.rstrip() + "\n"


def format_card(pairs: Sequence[tuple[str, str]], *, width: int | None, style: bool) -> str:
    """Key/value lines, keys aligned; a long value wraps under itself (except `whole` ones:
    none here wrap ids or numbers, which are short enough never to need it)."""
    key_width = max(text_width(key) for key, _ in pairs)
    room = None if width is None else max(width - key_width - len(SEPARATOR), MIN_WRAP_WIDTH)
    lines = []
    for key, value in pairs:
        label = _pad(key, key_width)
        label = f"{DIM}{label}{RESET}" if style else label
        parts = _wrap(value, room) if room and text_width(value) > room else [value]
        lines.append(f"{label}{SEPARATOR}{parts[0]}".rstrip())
        lines += [" " * (key_width + len(SEPARATOR)) + part for part in parts[1:]]
    return "\n".join(lines) + "\n"
