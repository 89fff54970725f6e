"""apply's input: a CSV or JSON Lines file read into checked rows, every bad line named
before anything is sent."""

from collections.abc import Mapping
from typing import Any, NamedTuple

from phonectl.choices import FileFormat
from phonectl.errors import InvalidInput
from phonectl.phones import FILE_FIELDS, SIGNED_IN, UserRef, check_identifier

FIELDS = tuple(str(f.column) for f in FILE_FIELDS)
COLUMNS = ("user", "id", *FIELDS)
MAX_REPORTED_ERRORS = 20


class Row(NamedTuple):
    """One line of the file: whose phone, which phone (id, or else its type), what it should be."""

    line: int
    user: UserRef
    phone_id: str | None
    fields: Mapping[str, Any]


def detect_format(name: str, text: str, given: FileFormat | None) -> FileFormat:
    """--format, else the file's extension, else (stdin) the first character."""
    if given is not None:
        return given
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return FileFormat.csv
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return FileFormat.jsonl
    if name == "-":
        return FileFormat.jsonl if text.lstrip().startswith("{") else FileFormat.csv
    raise InvalidInput(
        f"cannot tell the format of {name} from its name", hint="pass --format csv or jsonl"
    )


def read_rows(text: str, fmt: FileFormat, name: str) -> list[Row]:
    """Every row, checked; InvalidInput naming each bad line (up to 20) if any is bad."""
    errors: list[tuple[int, str]] = []
    raw_rows = _csv_values(text, errors) if fmt is FileFormat.csv else _jsonl_values(text, errors)
    rows = []
    for line, values in raw_rows:
        try:
            rows.append(_checked_row(line, values))
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


def _csv_values(text: str, errors: list[tuple[int, str]]) -> list[tuple[int, dict[str, Any]]]:
    import csv
    import io

    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))  # Excel writes a BOM
    try:
        header = next(reader)
    except StopIteration:
        errors.append((1, "the file is empty: it needs a header row"))
        return []
    except csv.Error as exc:
        errors.append((1, str(exc)))
        return []
    unknown = [cell for cell in header if _canonical_column(cell) is None]
    if unknown:
        errors.append((1, f"unknown column {unknown[0]!r} (columns: {', '.join(COLUMNS)})"))
        return []
    columns = [str(_canonical_column(cell)) for cell in header]
    if len(set(columns)) != len(columns):
        errors.append((1, "a column appears twice in the header"))
        return []
    if not set(columns) & set(FIELDS):
        errors.append((1, f"no column to change: name at least one of {', '.join(FIELDS)}"))
        return []
    values: list[tuple[int, dict[str, Any]]] = []
    try:
        for cells in reader:
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != len(columns):
                errors.append(
                    (reader.line_num, f"{len(cells)} cells, the header has {len(columns)}")
                )
                continue
            values.append((reader.line_num, dict(zip(columns, cells, strict=True))))
    except csv.Error as exc:
        errors.append((reader.line_num, str(exc)))
    return values


def _jsonl_values(text: str, errors: list[tuple[int, str]]) -> list[tuple[int, dict[str, Any]]]:
    import json

    values: list[tuple[int, dict[str, Any]]] = []
    for line, source in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
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
        if not isinstance(obj, dict):
            errors.append((line, "a line must be a JSON object"))
            continue
        row: dict[str, Any] = {}
        for key, value in obj.items():
            column = _canonical_column(str(key))
            if column is None:
                errors.append((line, f"unknown key {key!r} (keys: {', '.join(COLUMNS)})"))
                break
            if value is not None and not isinstance(value, str):
                errors.append((line, f"{column} must be a string, not {value!r}"))
                break
            row[column] = value
        else:
            values.append((line, row))
    return values


def _checked_row(line: int, values: Mapping[str, Any]) -> Row:
    present = {k: v for k, v in values.items() if isinstance(v, str) and v.strip()}
    fields: dict[str, Any] = {}
    for prop in FILE_FIELDS:
        if prop.column in present and prop.parse is not None:
            fields[prop.graph] = prop.parse(present[prop.column], prop.column)
    user = present.get("user")
    phone_id = present.get("id")
    if phone_id is None and "type" not in fields:
        raise InvalidInput("a row needs an id, or a type to find the user's phone by")
    return Row(
        line=line,
        user=SIGNED_IN if user is None else UserRef(check_identifier(user.strip(), "user")),
        phone_id=None if phone_id is None else check_identifier(phone_id.strip(), "id"),
        fields=fields,
    )
