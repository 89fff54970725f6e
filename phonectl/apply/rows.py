"""apply's input: a CSV or JSON Lines file (as HR systems and Excel write them, and as
`phonectl export` and `list -o json` write them) read into checked rows, every bad line
named before anything is sent."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from phonectl.choices import FileFormat
from phonectl.errors import InvalidInput
from phonectl.phones import (
    FILE_FIELDS,
    GRAPH_ONLY_PROPERTIES,
    SIGNED_IN,
    UserRef,
    check_identifier,
)
from phonectl.words import counted

if TYPE_CHECKING:
    from phonectl.numbers import NumberRules

FIELDS = tuple(str(f.column) for f in FILE_FIELDS)
# Each file field with its column, looked up once (a row looks at every one).
_FIELD_COLUMNS = tuple(zip(FILE_FIELDS, FIELDS, strict=True))
COLUMNS = ("user", "id", *FIELDS)
MAX_REPORTED_ERRORS = 20
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}


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
    user: str | None = None  # apply --user: the user of rows that name none


# A CSV cell holding only this clears its property: export and backups write it for a
# property that is empty, so applying them puts the emptiness back. A spreadsheet shows it
# as an empty cell, and no real value is written so (a value starting with ' is written
# with one more, see spreadsheet_safe).
CLEAR_MARKER = "'"
# A cell a spreadsheet would run as a formula starts so; + and - only when what follows is
# not a phone number ("+1 (555) 010-0100" stays as it is).
_FORMULA_START = ("=", "@", "+", "-")
_PHONE_CHARACTERS = frozenset("0123456789 ()+-./x#*")


def spreadsheet_safe(value: str) -> str:
    """A cell's text as export writes it: a leading ' keeps a spreadsheet from running it
    (and a value that itself starts with ' gets one more); apply strips it back."""
    if value.startswith(("=", "@", CLEAR_MARKER)) or (
        value.startswith(("+", "-")) and not set(value[1:]) <= _PHONE_CHARACTERS
    ):
        return CLEAR_MARKER + value
    return value


def _from_spreadsheet(value: str) -> str:
    """The value of an exported cell: spreadsheet_safe's ' taken off again."""
    if value[:1] == CLEAR_MARKER and value[1:2] in (*_FORMULA_START, CLEAR_MARKER):
        return value[1:]
    return value


def decode(data: bytes, name: str, encoding: str | None) -> str:
    """The file's text; a BOM is honoured; an undecodable byte is named by line."""
    import codecs

    chosen = encoding or "utf-8"
    if encoding is None and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    elif encoding is None and data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        chosen = "utf-16"  # Excel's "Unicode text"; the codec reads the BOM's byte order
    try:
        found = codecs.lookup(chosen)
    except LookupError:
        raise InvalidInput(f"unknown --encoding {chosen!r}", hint="e.g. utf-8, cp1252") from None
    # hex, base64, rot13 and the like are codecs too, but bytes-to-bytes or str-to-str.
    if not getattr(found, "_is_text_encoding", True):
        raise InvalidInput(f"--encoding {chosen!r} is not a text encoding", hint="e.g. utf-8")
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
    return list(store_rows(text, fmt, name, options))


# Rows a stored chunk holds: one marshal call packs (or unpacks) this many at C speed; a
# round unpacks its own and at most two chunks more.
CHUNK_ROWS = 1024


class StoredRows:
    """Every checked row of a file, kept compactly: in chunks packed by marshal (about 60
    bytes a row, where a Row with its dict takes over 400), and each row's user as an index
    into `users` (4 bytes a row), so that apply can cut the file into rounds without
    unpacking it. `rows(start, stop)` unpacks a stretch again: the file need not be read
    twice (stdin cannot be), nor can it change in between. `regroup` puts the rows in the
    order of apply's rounds when the file's order does not already keep them together."""

    def __init__(self) -> None:
        from array import array

        self.users: list[UserRef] = []  # each user once, in file order
        self.user_of = array("I")  # each row's user, an index into `users`
        self._index: dict[UserRef, int] = {}
        self._chunks: list[bytes] = []
        self._starts: list[int] = []  # each packed chunk's first row
        self.regrouped = False  # stored in another order than the file's
        self._open: list[tuple[Any, ...]] = []  # the last chunk, not yet packed

    def append(self, row: Row) -> None:
        index = self._index.get(row.user)
        if index is None:
            index = self._index[row.user] = len(self.users)
            self.users.append(row.user)
        self.user_of.append(index)
        self._open.append((row.line, index, row.phone_id, dict(row.fields)))
        if len(self._open) == CHUNK_ROWS:
            self._pack()

    def _pack(self) -> None:
        import marshal

        self._starts.append(len(self.user_of) - len(self._open))
        self._chunks.append(marshal.dumps(self._open))
        self._open = []

    def __len__(self) -> int:
        return len(self.user_of)

    def __iter__(self) -> Iterator[Row]:
        for start in range(0, len(self), CHUNK_ROWS):
            yield from self.rows(start, min(start + CHUNK_ROWS, len(self)))

    def rows(self, start: int, stop: int) -> list[Row]:
        """Rows start to stop (in stored order), unpacked."""
        import marshal
        from bisect import bisect_right

        users = self.users
        found: list[Row] = []
        make = Row._make
        stop = min(stop, len(self))
        n = max(bisect_right(self._starts, start) - 1, 0)
        while start < stop:
            if n < len(self._chunks):
                first, chunk = self._starts[n], marshal.loads(self._chunks[n])
            else:
                first, chunk = len(self.user_of) - len(self._open), self._open
            found += [
                make((line, users[user], phone_id, fields))
                for line, user, phone_id, fields in chunk[start - first : stop - first]
            ]
            start = first + len(chunk)
            n += 1
        return found

    def regroup(self, group_of: Sequence[int], groups: int) -> None:
        """Reorder the rows by group (`group_of[n]`: row n's, 0 to groups - 1), keeping file
        order within each group, so that each group is one stretch. A chunk at a time is
        unpacked and dropped; each group's rows are packed as they gather, in pieces small
        enough that all groups' unpacked rows stay within a few chunks."""
        import marshal
        from array import array

        if self._open:
            self._pack()
        # All groups' gathering rows together: about 4 chunks' worth (32 rows a group at least).
        piece = min(CHUNK_ROWS, max(32, CHUNK_ROWS * 4 // max(groups, 1)))
        packed: list[list[tuple[int, bytes]]] = [[] for _ in range(groups)]  # (rows, chunk)
        open_rows: list[list[tuple[Any, ...]]] = [[] for _ in range(groups)]
        users_of = [array("I") for _ in range(groups)]
        for n, chunk in enumerate(self._chunks):
            self._chunks[n] = b""  # its rows now belong to their groups
            for offset, row in enumerate(marshal.loads(chunk)):
                group = group_of[self._starts[n] + offset]
                users_of[group].append(row[1])
                gathering = open_rows[group]
                gathering.append(row)
                if len(gathering) == piece:
                    packed[group].append((piece, marshal.dumps(gathering)))
                    open_rows[group] = []
        self._chunks, self._starts, self.user_of = [], [], array("I")
        for group in range(groups):
            if open_rows[group]:
                packed[group].append((len(open_rows[group]), marshal.dumps(open_rows[group])))
            start = len(self.user_of)
            for count, chunk in packed[group]:
                self._starts.append(start)
                self._chunks.append(chunk)
                start += count
            self.user_of.extend(users_of[group])
            packed[group], users_of[group] = [], array("I")
        self.regrouped = True


def store_rows(
    text: str, fmt: FileFormat, name: str, options: ReadOptions = DEFAULT_OPTIONS
) -> StoredRows:
    """Every row, checked and stored compactly (StoredRows); InvalidInput naming each bad
    line (up to 20) if any is bad."""
    errors: list[tuple[int, str]] = []
    if fmt is FileFormat.csv:
        raw_rows = _csv_values(text, errors, options)
    elif text.lstrip().startswith("["):
        raw_rows = _json_array_values(text, errors, options)
    else:
        raw_rows = _jsonl_values(text, errors, options)
    rows = StoredRows()
    users: dict[str, UserRef] = {}
    default_user = None if options.user is None else _user(options.user, users)
    unnamed: list[int] = []  # lines whose user cell is empty
    named = False
    for line, values in raw_rows:  # each raw row is checked, then dropped
        try:
            row = _checked_row(
                line, values, users, clear_empty=options.clear_empty, numbers=options.numbers
            )
        except InvalidInput as exc:
            errors.append((line, exc.message))
            continue
        if row.user is SIGNED_IN:
            if default_user is not None:
                row = row._replace(user=default_user)
            else:
                unnamed.append(line)
        else:
            named = True
        rows.append(row)
    if fmt is FileFormat.jsonl and text.lstrip().startswith("[") and unnamed:
        raise InvalidInput(
            f"{name} is a JSON array of phones (list -o json?) and names no user",
            hint="say whose phones they are: apply --user USER",
        )
    if named and unnamed:
        # An empty cell beside named users is more likely a gap in an HR export than the
        # admin's own phone: never guess whose phone it is.
        errors += [
            (line, "no user, while other rows name theirs (give it one, or use --user)")
            for line in unnamed
        ]
    if errors:
        shown = sorted(errors)[:MAX_REPORTED_ERRORS]
        more = len(errors) - len(shown)
        details = [f"{name}:{line}: {message}" for line, message in shown]
        details += [f"... and {more} more"] if more else []
        raise InvalidInput(
            f"{name} has {counted(len(errors), 'invalid line')}; nothing was sent:",
            details=tuple(details),
        )
    if not len(rows):
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

    start, skipped, delimiter = _csv_start(text, options)
    reader = csv.reader(_lines(text, start), delimiter=delimiter)
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
    columns = _csv_columns([header[i] for i in kept], errors, options, delimiter)
    if columns is None:
        return
    try:
        for cells in reader:
            if not cells or all(not c.strip() for c in cells):
                continue
            line = reader.line_num + skipped
            if len(cells) != len(header):
                errors.append((line, f"{len(cells)} cells, the header has {len(header)}"))
                continue
            # A lone ' is a property that was empty: JSON Lines' null, it clears.
            yield (
                line,
                {
                    column: None if cells[i] == CLEAR_MARKER else _from_spreadsheet(cells[i])
                    for column, i in zip(columns, kept, strict=True)
                },
            )
    except csv.Error as exc:
        errors.append((reader.line_num + skipped, str(exc)))


def _csv_start(text: str, options: ReadOptions) -> tuple[int, int, str]:
    """Where the header starts, how many lines come before it, and the delimiter: Excel's
    "sep=;" first line names the delimiter (the header follows it); else --delimiter, or
    the one the header line shows."""
    end = text.find("\n")
    first = text if end < 0 else text[:end]
    excel_sep = first.rstrip("\r")
    if excel_sep.lower().startswith("sep=") and len(excel_sep) == 5:
        return len(text) if end < 0 else end + 1, 1, options.delimiter or excel_sep[4]
    return 0, 0, options.delimiter or sniff_delimiter(first)


def _csv_columns(
    names: list[str], errors: list[tuple[int, str]], options: ReadOptions, delimiter: str
) -> list[str] | None:
    """The header's kept cells as apply's column names; None (and an error on line 1) for a
    header apply cannot read."""
    unknown = [name for name in names if _canonical_column(name) is None]
    if unknown:
        hint = "" if options.delimiter else f"; read as {DELIMITERS[delimiter]}-separated"
        errors.append(
            (
                1,
                f"unknown column {unknown[0]!r} (columns: {', '.join(COLUMNS)}; skip others "
                f"with --ignore-column{hint})",
            )
        )
        return None
    columns = [str(_canonical_column(name)) for name in names]
    if len(set(columns)) != len(columns):
        errors.append((1, "a column appears twice in the header"))
        return None
    if not set(columns) & set(FIELDS):
        errors.append((1, f"no column to change: name at least one of {', '.join(FIELDS)}"))
        return None
    return columns


def _lines(text: str, start: int) -> Iterator[str]:
    """The text's lines from `start`, each with its newline, one at a time: a StringIO
    would copy the whole text (at four bytes a character once it holds one that is not
    Latin-1), and splitlines would make every line at once."""
    find = text.find
    while start < len(text):
        end = find("\n", start) + 1 or len(text)
        yield text[start:end]
        start = end


def _split_lines(text: str, size: int = 1 << 20) -> Iterator[str]:
    """text.splitlines(), a piece of about `size` characters at a time (each piece ends
    just after a newline, where every line break splitlines knows ends a line anyway)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + size) + 1 or len(text)
        yield from text[start:end].splitlines()
        start = end


def _jsonl_values(
    text: str, errors: list[tuple[int, str]], options: ReadOptions
) -> Iterator[tuple[int, dict[str, Any]]]:
    import json

    for line, source in enumerate(_split_lines(text), start=1):
        if not source.strip():
            continue
        try:
            obj = json.loads(source, object_pairs_hook=_one_key_per_column)
        except json.JSONDecodeError as exc:
            errors.append((line, f"not valid JSON ({exc.msg})"))
            continue
        except _TwoKeys as exc:
            errors.append((line, str(exc)))
            continue
        except RecursionError:
            errors.append((line, "JSON nested beyond reason"))
            continue
        row = _object_values(line, obj, errors, options, graph_keys=False)
        if row is not None:
            yield line, row


class _TwoKeys(ValueError):
    """A JSON object naming one column twice (keys that differ only in letter case)."""


def _one_key_per_column(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, str] = {}
    for key, _ in pairs:
        folded = key.strip().lower()
        if folded in seen:
            raise _TwoKeys(f"keys {seen[folded]!r} and {key!r} name one column: keep one")
        seen[folded] = key
    return dict(pairs)


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
        if graph_keys and key in GRAPH_ONLY_PROPERTIES:  # list -o json's, left alone
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
    if present.keys() <= {"user"} and not any(values.get(c) is None for c in FIELDS if c in values):
        # Only a user: a backup's user who had no phones. It changes nothing, but puts
        # the user in the file (for --prune).
        if "user" not in present:
            raise InvalidInput("an empty row")
        return Row(line, _user(present["user"], users), None, {})
    fields: dict[str, Any] = {}
    for prop, column in _FIELD_COLUMNS:
        if column in present:
            fields[prop.name] = prop.read_cell(present[column], column, numbers)
        elif column in values and (values[column] is None or clear_empty):
            # JSON null (CSV: a lone ') always clears; an empty cell clears with --clear-empty.
            if prop.clearable:
                fields[prop.name] = None
            elif values[column] is None:
                raise InvalidInput(f"{column} cannot be cleared (Graph requires it)")
    user = present.get("user")
    phone_id = present.get("id")
    if phone_id is None and not fields.get("type"):
        raise InvalidInput("a row needs an id, or a type to find the user's phone by")
    return Row(
        line=line,
        user=SIGNED_IN if user is None else _user(user, users),
        phone_id=None if phone_id is None else check_identifier(phone_id.strip(), "id"),
        fields=fields,
    )


def _user(cell: str, users: dict[str, UserRef]) -> UserRef:
    """One UserRef per user, however many rows name it (50,000 rows are often 5,000 users)."""
    name = cell.strip()
    found = users.get(name)
    if found is None:
        found = users[name] = UserRef(check_identifier(name, "user"))
    return found


def format_for_output(path: str | None, given: FileFormat | None) -> FileFormat:
    """--format, else the output file's extension (.jsonl/.ndjson/.json), else CSV. An
    extension that names another format (.xlsx; .json with --format csv) is refused: the
    file would not be what its name says."""
    suffix = _suffix(path)
    if suffix and suffix not in _NAMED_FORMATS and suffix != "txt":  # .txt: any text, CSV here
        raise InvalidInput(
            f"cannot write {path}: .{suffix} is not a format phonectl writes",
            hint="name the file .csv (Excel opens it) or .jsonl",
        )
    by_name = format_named_by(path)
    if given is not None and by_name is not None and by_name is not given:
        raise InvalidInput(
            f"{path} names {by_name.value}, but --format {given.value} was given",
            hint=f"name the file .{given.value}, or drop --format",
        )
    return given or by_name or FileFormat.csv


_NAMED_FORMATS = {
    "jsonl": FileFormat.jsonl,
    "ndjson": FileFormat.jsonl,
    "json": FileFormat.jsonl,
    "csv": FileFormat.csv,
    "tsv": FileFormat.csv,
}


def format_named_by(path: str | None) -> FileFormat | None:
    """The format a file's extension names (.csv, .tsv, .json, .jsonl, .ndjson); None when it
    names none (no extension, .txt, stdout)."""
    return _NAMED_FORMATS.get(_suffix(path))


def _suffix(path: str | None) -> str:
    name = "" if not path or path == "-" else path.rpartition("/")[2]
    return name.lower().rpartition(".")[2] if "." in name else ""


def phone_rows_text(
    entries: Sequence[tuple[UserRef, Mapping[str, Any] | None]],
    fmt: FileFormat,
    *,
    header: bool = True,
    delimiter: str = ",",
    mark_empty: bool = True,
) -> str:
    """Phones in the format apply reads (columns user, id and the file fields): reading it
    back plans no write. Every user is named (never an empty cell: the same file applied
    by another admin must change the same people); a user with no phones is one row of
    the user alone (phone None). An empty property is null in JSON Lines and CLEAR_MARKER
    in CSV, so applying the file empties it again (without `mark_empty`, as lint's fixes
    that change numbers alone, it is left out: applying leaves it as it is); a CSV cell a
    spreadsheet would run as a formula starts with '. Without `header`, rows to add to
    such a file."""
    import csv
    import io
    import json

    def cells(user: UserRef, phone: Mapping[str, Any]) -> dict[str, Any]:
        assert user.ref is not None, "a file phonectl writes names every user"
        values: dict[str, Any] = {"user": user.ref, "id": phone.get("id")}
        for prop in FILE_FIELDS:
            value = prop.text_in(phone)
            if value == "" and prop.clearable:
                value = None
            values[str(prop.column)] = value
        return values

    out = io.StringIO()
    if fmt is FileFormat.jsonl:
        for user, phone in entries:
            if phone is None:
                out.write(json.dumps({"user": user.ref}, ensure_ascii=False) + "\n")
                continue
            row = {
                k: v
                for k, v in cells(user, phone).items()
                if v is not None or (mark_empty and _clearable_column(k))
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        return out.getvalue()
    # CRLF ends a record, as RFC 4180 has it: the writer quotes every cell holding a
    # character of its line terminator, so a name with a lone CR (another client wrote it)
    # is quoted, and read back whole.
    writer = csv.writer(out, lineterminator="\r\n", delimiter=delimiter)
    if header:
        writer.writerow(COLUMNS)
    for user, phone in entries:
        if phone is None:
            writer.writerow([spreadsheet_safe(str(user.ref))] + [""] * (len(COLUMNS) - 1))
            continue
        writer.writerow(
            [
                (CLEAR_MARKER if mark_empty and _clearable_column(k) else "")
                if v is None
                else spreadsheet_safe(str(v))
                for k, v in cells(user, phone).items()
            ]
        )
    return out.getvalue()


def _clearable_column(column: str) -> bool:
    return any(f.column == column and f.clearable for f in FILE_FIELDS)
