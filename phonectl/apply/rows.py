"""apply's input: a CSV or JSON Lines file (as HR systems and Excel write them, and as
`phonectl export` and `list -o json` write them) read into checked rows, every bad line
named before anything is sent."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from phonectl.choices import FileFormat
from phonectl.errors import InvalidInput
from phonectl.phones import FIELD_BY_NAME, FILE_FIELDS, SIGNED_IN, UserRef, check_identifier

if TYPE_CHECKING:
    from phonectl.numbers import NumberRules

FIELDS = tuple(str(f.column) for f in FILE_FIELDS)
COLUMNS = ("user", "id", *FIELDS)
MAX_REPORTED_ERRORS = 20
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
# Read-only or untouched itemPhone properties: a JSON array from `list -o json` carries
# them; apply leaves them alone instead of refusing the file.
GRAPH_ONLY_KEYS = frozenset(
    {
        "createdBy",
        "createdDateTime",
        "lastModifiedBy",
        "lastModifiedDateTime",
        "source",
        "sources",
        "inference",
        "isSearchable",
    }
)


class Row(NamedTuple):
    """One line of the file: whose phone, which phone (id, or else its type), what it should
    be. A field's value None clears the property (an empty cell with --clear-empty, or JSON
    null)."""

    line: int
    user: UserRef
    phone_id: str | None
    fields: Mapping[str, Any]


class ReadOptions(NamedTuple):
    delimiter: str | None = None  # None: sniffed from the header
    encoding: str | None = None  # None: UTF-8, with or without a BOM
    ignored_columns: frozenset[str] = frozenset()  # lower-cased
    clear_empty: bool = False
    numbers: NumberRules | None = None  # --normalize: numbers rewritten as they are read


def decode(data: bytes, name: str, encoding: str | None) -> str:
    """The file's text; a BOM is honoured; an undecodable byte is named by line."""
    import codecs

    if encoding is None and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    chosen = encoding or "utf-8"
    try:
        codecs.lookup(chosen)
    except LookupError:
        raise InvalidInput(f"unknown --encoding {chosen!r}", hint="e.g. utf-8, cp1252") from None
    try:
        return data.decode(chosen).removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInput(
            f"{name}:{line}: not valid {chosen} text (byte 0x{data[exc.start]:02x})",
            hint="say which encoding the file uses, e.g. --encoding cp1252 for Excel on Windows",
        ) from None


def detect_format(name: str, text: str, given: FileFormat | None) -> FileFormat:
    """--format, else the file's extension, else (stdin) the first character."""
    if given is not None:
        return given
    lowered = name.lower()
    if lowered.endswith((".csv", ".tsv")):
        return FileFormat.csv
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return FileFormat.jsonl
    if name == "-":
        return FileFormat.jsonl if text.lstrip().startswith(("{", "[")) else FileFormat.csv
    raise InvalidInput(
        f"cannot tell the format of {name} from its name", hint="pass --format csv or jsonl"
    )


DEFAULT_OPTIONS = ReadOptions()


def read_rows(
    text: str, fmt: FileFormat, name: str, options: ReadOptions = DEFAULT_OPTIONS
) -> list[Row]:
    """Every row, checked; InvalidInput naming each bad line (up to 20) if any is bad."""
    errors: list[tuple[int, str]] = []
    if fmt is FileFormat.csv:
        raw_rows = _csv_values(text, errors, options)
    elif text.lstrip().startswith("["):
        raw_rows = _json_array_values(text, errors, options)
    else:
        raw_rows = _jsonl_values(text, errors, options)
    rows = []
    # One UserRef per user, however many rows name it (50,000 rows are often 5,000 users).
    users: dict[str, UserRef] = {}
    for line, values in raw_rows:  # each raw row is checked, then dropped
        try:
            rows.append(
                _checked_row(
                    line, values, users, clear_empty=options.clear_empty, numbers=options.numbers
                )
            )
        except InvalidInput as exc:
            errors.append((line, exc.message))
    if errors:
        shown = sorted(errors)[:MAX_REPORTED_ERRORS]
        more = len(errors) - len(shown)
        details = [f"{name}:{line}: {message}" for line, message in shown]
        details += [f"... and {more} more"] if more else []
        raise InvalidInput(
            f"{name} has {len(errors)} invalid line{'s' if len(errors) != 1 else ''}; "
            "nothing was sent:",
            details=tuple(details),
        )
    if not rows:
        raise InvalidInput(f"{name} has no rows: nothing to do")
    return rows


def _canonical_column(name: str) -> str | None:
    wanted = name.strip().lower()
    return next((c for c in COLUMNS if c.lower() == wanted), None)


def sniff_delimiter(header: str) -> str:
    """The delimiter the header line uses most: comma, semicolon or tab (default comma)."""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_values(
    text: str, errors: list[tuple[int, str]], options: ReadOptions
) -> Iterator[tuple[int, dict[str, Any]]]:
    import csv
    import io

    delimiter = options.delimiter or sniff_delimiter(text.split("\n", 1)[0])
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        errors.append((1, "the file is empty: it needs a header row"))
        return
    except csv.Error as exc:
        errors.append((1, str(exc)))
        return
    kept = [
        i for i, cell in enumerate(header) if cell.strip().lower() not in options.ignored_columns
    ]
    unknown = [header[i] for i in kept if _canonical_column(header[i]) is None]
    if unknown:
        hint = "" if options.delimiter else f"; read as {DELIMITERS[delimiter]}-separated"
        errors.append(
            (
                1,
                f"unknown column {unknown[0]!r} (columns: {', '.join(COLUMNS)}; skip others "
                f"with --ignore-column{hint})",
            )
        )
        return
    columns = [str(_canonical_column(header[i])) for i in kept]
    if len(set(columns)) != len(columns):
        errors.append((1, "a column appears twice in the header"))
        return
    if not set(columns) & set(FIELDS):
        errors.append((1, f"no column to change: name at least one of {', '.join(FIELDS)}"))
        return
    try:
        for cells in reader:
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                errors.append(
                    (reader.line_num, f"{len(cells)} cells, the header has {len(header)}")
                )
                continue
            yield reader.line_num, {columns[n]: cells[i] for n, i in enumerate(kept)}
    except csv.Error as exc:
        errors.append((reader.line_num, str(exc)))


def _jsonl_values(
    text: str, errors: list[tuple[int, str]], options: ReadOptions
) -> Iterator[tuple[int, dict[str, Any]]]:
    import json

    for line, source in enumerate(text.splitlines(), start=1):
        if not source.strip():
            continue
        try:
            obj = json.loads(source)
        except json.JSONDecodeError as exc:
            errors.append((line, f"not valid JSON ({exc.msg})"))
            continue
        except RecursionError:
            errors.append((line, "JSON nested beyond reason"))
            continue
        row = _object_values(line, obj, errors, options, graph_keys=False)
        if row is not None:
            yield line, row


def _json_array_values(
    text: str, errors: list[tuple[int, str]], options: ReadOptions
) -> Iterator[tuple[int, dict[str, Any]]]:
    """A JSON array of objects, as `phonectl list -o json` prints it: item n is 'line' n."""
    import json

    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        errors.append((exc.lineno, f"not valid JSON ({exc.msg})"))
        return
    except RecursionError:
        errors.append((1, "JSON nested beyond reason"))
        return
    if not isinstance(items, list):
        errors.append((1, "expected a JSON array of objects"))
        return
    for n, obj in enumerate(items, start=1):
        row = _object_values(n, obj, errors, options, graph_keys=True)
        if row is not None:
            yield n, row


def _object_values(
    line: int,
    obj: Any,
    errors: list[tuple[int, str]],
    options: ReadOptions,
    *,
    graph_keys: bool,
) -> dict[str, Any] | None:
    """The row's values by column; None (and an error) for a bad row."""
    if not isinstance(obj, dict):
        errors.append((line, "each row must be a JSON object"))
        return None
    row: dict[str, Any] = {}
    for raw_key, value in obj.items():
        key = str(raw_key)
        if key.lower() in options.ignored_columns or key.startswith("@odata."):
            continue
        if graph_keys and key in GRAPH_ONLY_KEYS:
            continue
        column = _canonical_column(key)
        if column is None:
            errors.append((line, f"unknown key {key!r} (keys: {', '.join(COLUMNS)})"))
            return None
        if value is not None and not isinstance(value, str):
            errors.append((line, f"{column} must be a string or null, not {_json(value)}"))
            return None
        row[column] = value
    return row


def _json(value: Any) -> str:
    import json

    return json.dumps(value)[:40]


def _checked_row(
    line: int,
    values: Mapping[str, Any],
    users: dict[str, UserRef],
    *,
    clear_empty: bool,
    numbers: NumberRules | None = None,
) -> Row:
    present = {k: v for k, v in values.items() if isinstance(v, str) and v.strip()}
    fields: dict[str, Any] = {}
    for prop in FILE_FIELDS:
        column = str(prop.column)
        if column in present and prop.parse is not None:
            fields[prop.graph] = prop.read(present[column], column, numbers)
        elif column in values and (values[column] is None or clear_empty):
            # JSON null always clears; an empty cell clears with --clear-empty.
            if FIELD_BY_NAME[prop.graph].clearable:
                fields[prop.graph] = None
            elif values[column] is None:
                raise InvalidInput(f"{column} cannot be cleared (Graph requires it)")
    user = present.get("user")
    phone_id = present.get("id")
    if phone_id is None and not fields.get("type"):
        raise InvalidInput("a row needs an id, or a type to find the user's phone by")
    if user is not None:
        user = user.strip()
        if user not in users:
            users[user] = UserRef(check_identifier(user, "user"))
    return Row(
        line=line,
        user=SIGNED_IN if user is None else users[user],
        phone_id=None if phone_id is None else check_identifier(phone_id.strip(), "id"),
        fields=fields,
    )


def format_for_output(path: str | None, given: FileFormat | None) -> FileFormat:
    """--format, else the output file's extension (.jsonl/.ndjson/.json), else CSV."""
    if given is not None:
        return given
    if path and path.lower().endswith((".jsonl", ".ndjson", ".json")):
        return FileFormat.jsonl
    return FileFormat.csv


def phone_rows_text(
    entries: Sequence[tuple[UserRef, Mapping[str, Any]]], fmt: FileFormat, *, header: bool = True
) -> str:
    """Phones in the format apply reads (columns user, id and the file fields): reading it
    back plans no write. The signed-in user's cell is empty (null in JSON Lines). Without
    `header`, rows to add to such a file."""
    import csv
    import io
    import json

    from phonectl.phones import audience_text

    def cells(user: UserRef, phone: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {"user": user.ref, "id": phone.get("id")}
        for prop in FILE_FIELDS:
            value = phone.get(prop.graph)
            if prop.graph == "allowedAudiences" and value is not None:
                value = audience_text(phone)
            values[str(prop.column)] = value
        return values

    out = io.StringIO()
    if fmt is FileFormat.jsonl:
        for user, phone in entries:
            row = {
                k: v
                for k, v in cells(user, phone).items()
                if v is not None or k == "user" or _clearable_column(k)
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        return out.getvalue()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(COLUMNS)
    for user, phone in entries:
        writer.writerow(["" if v is None else v for v in cells(user, phone).values()])
    return out.getvalue()


def _clearable_column(column: str) -> bool:
    return any(f.column == column and f.clearable for f in FILE_FIELDS)
