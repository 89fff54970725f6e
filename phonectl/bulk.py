"""Bulk sync, the pure part: read a CSV or JSON Lines file into checked rows, and plan each
row's change against the phones Graph holds. No HTTP here (sync.py does that)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from phonectl.choices import FileFormat
from phonectl.errors import InvalidInput, PhonectlError
from phonectl.phones import FIELD_BY_NAME, FILE_FIELDS, check_identifier

FIELDS = tuple(str(f.column) for f in FILE_FIELDS)
COLUMNS = ("user", "id", *FIELDS)
MAX_REPORTED_ERRORS = 20


@dataclass(frozen=True)
class Row:
    """One line of the file: whose phone, which phone (id, or else its type), what it should be."""

    line: int
    user: str | None
    phone_id: str | None
    fields: Mapping[str, str]

    @property
    def user_key(self) -> str:
        # Graph matches user principal names case-insensitively.
        return "me" if self.user is None else self.user.lower()


class Outcome(str, Enum):
    unchanged = "unchanged"
    updated = "updated"
    added = "added"
    failed = "failed"
    would_update = "would-update"
    would_add = "would-add"


@dataclass
class RowResult:
    line: int
    user: str
    phone_id: str | None
    outcome: Outcome
    changed: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class PlannedWrite:
    """A write the plan calls for: PATCH a phone (phone_id set) or POST a new one."""

    row: Row
    phone_id: str | None
    body: dict[str, str] = field(default_factory=dict)


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
    fields: dict[str, str] = {}
    for prop in FILE_FIELDS:
        if prop.column in present and prop.parse is not None:
            fields[prop.graph] = prop.parse(present[prop.column], prop.column)
    user = present.get("user")
    phone_id = present.get("id")
    if phone_id is None and "type" not in fields:
        raise InvalidInput("a row needs an id, or a type to find the user's phone by")
    return Row(
        line=line,
        user=None if user is None else check_identifier(user.strip(), "user"),
        phone_id=None if phone_id is None else check_identifier(phone_id.strip(), "id"),
        fields=fields,
    )


def plan(
    rows: Sequence[Row],
    phones_by_user: Mapping[str, list[dict[str, Any]] | PhonectlError],
    *,
    dry_run: bool = False,
) -> tuple[list[RowResult], list[tuple[int, PlannedWrite]]]:
    """Each row's result so far, and the writes to send (index into the results)."""
    results: list[RowResult] = []
    writes: list[tuple[int, PlannedWrite]] = []
    claimed: dict[str, int] = {}
    for row in rows:
        user = row.user or "me"
        phones = phones_by_user[row.user_key]
        if isinstance(phones, PhonectlError):
            results.append(
                RowResult(row.line, user, row.phone_id, Outcome.failed, error=error_text(phones))
            )
            continue
        target, problem = _target(row, phones)
        phone_id = target.get("id") if target else None
        # Phone ids are GUIDs, unique across users: keyed on the id alone, a phone named once
        # through its user's id and once through the user principal name is still one phone.
        claim = str(phone_id) if target else f"{row.user_key}: new {row.fields.get('type')}"
        if problem is None and claim in claimed:
            problem = f"line {claimed[claim]} already changes this phone"
        if problem is not None:
            results.append(RowResult(row.line, user, row.phone_id, Outcome.failed, error=problem))
            continue
        claimed[claim] = row.line
        if target is None:
            outcome = Outcome.would_add if dry_run else Outcome.added
            results.append(RowResult(row.line, user, None, outcome, tuple(row.fields)))
            writes.append((len(results) - 1, PlannedWrite(row, None, dict(row.fields))))
            continue
        diff = {k: v for k, v in row.fields.items() if not FIELD_BY_NAME[k].same(target.get(k), v)}
        if not diff:
            results.append(RowResult(row.line, user, phone_id, Outcome.unchanged))
            continue
        outcome = Outcome.would_update if dry_run else Outcome.updated
        results.append(RowResult(row.line, user, phone_id, outcome, tuple(diff)))
        writes.append((len(results) - 1, PlannedWrite(row, phone_id, diff)))
    return results, writes


def _target(row: Row, phones: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str | None]:
    """The phone a row changes (None: add one), or why it cannot be decided."""
    if row.phone_id is not None:
        found = next((p for p in phones if p.get("id") == row.phone_id), None)
        if found is None:
            return None, f"the user has no phone with id {row.phone_id}"
        return found, None
    phone_type = row.fields["type"]
    same_type = [p for p in phones if p.get("type") == phone_type]
    if len(same_type) > 1:
        return None, f"ambiguous: the user has {len(same_type)} {phone_type} phones; give the id"
    if same_type:
        return same_type[0], None
    if "number" not in row.fields:
        return None, f"the user has no {phone_type} phone, and the row has no number to add one"
    return None, None


def error_text(error: PhonectlError) -> str:
    """A Graph error (status, code, message) as one line for a row result."""
    code = getattr(error, "code", None)
    status = getattr(error, "status", None)
    prefix = f"{status} {code}: " if status and code else (f"{status}: " if status else "")
    return prefix + error.message
