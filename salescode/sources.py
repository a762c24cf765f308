"""CRM CSV files -> normalised polars LazyFrames (canonical names, parsed types, joins).

A file is inspected once (header and a sample of rows, to learn its separator and column types),
then scanned lazily; polars pushes column selection and filters into the scan. Values that do not
fit their column's type stop the run with the file, line and column named: never a silent null.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from salescode.catalog import Catalog, ColumnType, Join, Source, did_you_mean
from salescode.errors import SourceError

SAMPLE_ROWS = 2000
_SAMPLE_BYTES = 1 << 20
_SEPARATORS = (",", ";", "\t", "|")
_INTEGER = r"^[+-]?(?:0|[1-9]\d*)$"
_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
# Formats tried on a date column's sample, in order. Slash dates are decided from the data
# (a day above 12 tells the order) or must be declared: 04/09/2025 is never guessed.
_DATE_FORMATS = (
    "%Y-%m-%d",
    "%d.%m.%Y",
    "%Y.%m.%d",
    "%Y/%m/%d",
    "%d %b %Y",
    "%d %b, %Y",
    "%b %d, %Y",
    "%d-%b-%Y",
    "%d %B %Y",
    "%B %d, %Y",
)
_DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%Y.%m.%d %H:%M:%S",
    "%Y.%m.%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%d %b, %Y %H:%M:%S",
    "%d %b %Y %H:%M:%S",
    "%b %d, %Y %H:%M:%S",
    "%d %b, %Y %H:%M",
    "%b %d, %Y %I:%M %p",
)
# An ISO time with a UTC offset (2025-09-01T10:00:00+03:00): the offset is dropped, keeping the
# date and time as written (converting to UTC would move late-evening deals to the next day).
_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"
_TRUE = ("true", "yes", "y", "1", "t", "да", "д", "sí", "si", "sim", "verdadero", "verdadeiro")
_FALSE = ("false", "no", "n", "0", "f", "нет", "н", "não", "nao", "falso")
_POLARS_TYPE = {
    ColumnType.INTEGER: pl.Int64,
    ColumnType.NUMBER: pl.Float64,
    ColumnType.DATE: pl.Date,
}


# A number as CRMs and spreadsheets write it: a sign, a currency symbol or code before or after,
# digits with thousands separators (, . space NBSP ') and a decimal point or comma, a percent sign.
_CODES = (
    "USD|EUR|GBP|RUB|RUR|UAH|KZT|BYN|JPY|CNY|INR|BRL|MXN|COP|PEN|CLP|ARS|CAD|AUD|NZD|CHF|SEK|NOK|DKK|"
    "PLN|CZK|HUF|RON|TRY|ZAR|AED|SAR|ILS|SGD|HKD|KRW|IDR|THB|MYR|PHP|VND|DOP|UYU|BOB|PYG|GTQ|CRC"
)
_CURRENCY = rf"(?:[$€£¥₽₹₴₸]|R\$|US\$|(?:{_CODES})\b|руб\.?|р\.)"
# The digits of a written number: plain, or grouped by three with one kind of separator, or in
# Indian lakh/crore groups ('1,23,456'), and a decimal part ('1 234 567,89', '1.234,5', '22,700.00').
_GROUPED = (
    r"^(?:\d+|\d{1,3}(?:(?P<g>[ ,.'\u00a0\u202f])\d{3})(?:(?P=g)\d{3})*|\d{1,2}(?:,\d{2})+,\d{3})"
    r"(?:[.,]\d+)?$"
)
_SPACES = "\u00a0\u202f "
_DECORATED = (
    rf"^\s*(?P<sign>[+-]?)\s*(?:{_CURRENCY}\s*)?(?P<sign2>[+-]?)\s*"
    rf"(?P<number>\d[\d.,'{_SPACES}]*?)\s*(?:{_CURRENCY})?\s*(?P<percent>%?)\s*$"
)


@dataclass(frozen=True)
class NumberFormat:
    """How a number column writes its numbers: '$22,700.00', '1 234,50 ₽', '12,5 %'."""

    decimal: str = "."
    thousands: str = ""  # '' | ',' | '.' | "'" (spaces are always thousands separators)
    percent: bool = False  # '12.5%' is 0.125


@dataclass(frozen=True)
class Layout:
    """What inspecting a file learned: how to read it and each column's type."""

    source: Source
    text: bytes | None  # the file re-encoded as UTF-8 when it is in another encoding (or a sheet)
    separator: str
    headers: tuple[str, ...]
    names: dict[str, str]  # header in the file -> canonical name
    types: dict[str, ColumnType]  # canonical name -> type
    formats: dict[str, str]  # canonical name -> strptime format, for dates not in ISO form
    numbers: dict[str, NumberFormat] = field(default_factory=dict)  # number columns not plain
    offsets: frozenset[str] = frozenset()  # datetime columns written with a UTC offset (dropped)
    encoding: str = "utf-8"  # how the file was decoded
    encoding_detected: bool = False  # True when salescode chose it (not declared)

    @property
    def columns(self) -> list[str]:
        return [self.names[header] for header in self.headers]

    def where(self) -> str:
        return str(self.source.path)


def inspect_source(source: Source, date_columns: set[str] = frozenset()) -> Layout:
    """Read the header and a sample of source's file; decide encoding, separator and column types.

    date_columns are columns used as dates (time columns, cohorts) that must parse as dates.
    """
    path = source.path
    if path.suffix.lower() in EXCEL_SUFFIXES:
        text_bytes, encoding, detected = _sheet_as_csv(source), "xlsx", False
        raw = text_bytes[:_SAMPLE_BYTES]
    else:
        raw = _read_head(path, source)
        encoding, detected = (
            (source.reader.encoding, False) if source.reader.encoding else (detect_encoding(raw), True)
        )
        text_bytes = None
        if encoding.lower().replace("-", "").replace("_", "") not in ("utf8", "utf8sig"):
            text_bytes = _reencode(path, encoding, declared=not detected)
            raw = text_bytes[:_SAMPLE_BYTES]
    try:
        head = raw.decode("utf-8-sig", errors="strict" if len(raw) < _SAMPLE_BYTES else "ignore")
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{path}: byte {exc.start} is not valid UTF-8; declare the file's encoding in "
            f"sources.{source.name}.encoding (e.g. cp1252 or cp1251)"
        ) from exc
    separator = source.reader.separator or sniff_separator(head)
    sample = _read_sample(source, text_bytes, separator)
    headers = tuple(sample.columns)
    names = _canonical_names(source, headers)
    types, formats, numbers, offsets = _column_types(source, sample.rename(names), date_columns, separator)
    return Layout(
        source, text_bytes, separator, headers, names, types, formats, numbers, offsets, encoding, detected
    )


EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")


def _sheet_as_csv(source: Source) -> bytes:
    """A spreadsheet's sheet as CSV text (every cell as text, then typed like a CSV column)."""
    path = source.path
    if not path.exists():
        raise SourceError(
            f"{path}: file not found (sources.{source.name}.path, relative to the catalog's folder)"
        )
    sheet = source.reader.sheet
    try:
        frame = (
            pl.read_excel(path, sheet_name=sheet, infer_schema_length=0, raise_if_empty=False)
            if sheet
            else pl.read_excel(path, infer_schema_length=0, raise_if_empty=False)
        )
    except ModuleNotFoundError as exc:  # pragma: no cover - fastexcel is a dependency
        raise SourceError(f"{path}: reading spreadsheets needs the fastexcel package ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - the reader's errors have no common base class
        where = f" sheet '{sheet}'" if sheet else ""
        raise SourceError(
            f"{path}{where}: cannot be read as a spreadsheet ({_first_line(exc)}); name the sheet with "
            f"sources.{source.name}.sheet, or export it as CSV"
        ) from exc
    if not frame.columns:
        raise SourceError(f"{path}: the sheet is empty; expected a header row and rows")
    return frame.write_csv().encode("utf-8")


def detect_encoding(raw: bytes) -> str:
    """The encoding of a file's first bytes: a BOM's, else UTF-8 when they decode, else cp1251 for
    Cyrillic text (letters are runs of high bytes), else cp1252 (latin-1 where cp1252 has holes)."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(raw) - 3 and len(raw) >= _SAMPLE_BYTES:  # a character cut by the sample end
            return "utf-8"
    # Russian words are all high bytes ('Иван', 'Да'); accented Latin letters sit next to ASCII
    # letters in their words ('Peña', 'Conceição').
    letters = len(re.findall(rb"[\xc0-\xff]", raw))
    mixed = len(re.findall(rb"[A-Za-z](?=[\xc0-\xff])|[\xc0-\xff](?=[A-Za-z])", raw))
    if letters and mixed * 4 < letters:
        return "cp1251"
    try:
        raw.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def sniff_separator(head: str) -> str:
    """The separator that splits the first lines into the same number of fields (most fields wins)."""
    lines = [line for line in head.splitlines()[:20] if line.strip()]
    best, best_fields = ",", 0
    for separator in _SEPARATORS:
        try:
            counts = {len(row) for row in csv.reader(lines, delimiter=separator)}
        except csv.Error:
            continue
        fields = max(counts) if counts else 0
        consistent = len(counts) == 1 or len(lines) == 1
        if fields > 1 and consistent and fields > best_fields:
            best, best_fields = separator, fields
    if best_fields == 0:  # no separator splits every line alike: the most frequent in the header
        first = lines[0] if lines else ""
        best = max(_SEPARATORS, key=first.count)
    return best


def _read_head(path: Path, source: Source) -> bytes:
    try:
        with path.open("rb") as handle:
            raw = handle.read(_SAMPLE_BYTES)
    except FileNotFoundError as exc:
        raise SourceError(
            f"{path}: file not found (sources.{source.name}.path, relative to the catalog's folder)"
        ) from exc
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror})") from exc
    if not raw.strip():
        raise SourceError(f"{path}: the file is empty; expected a header line and rows")
    utf16 = raw.startswith((b"\xff\xfe", b"\xfe\xff"))
    declared = (source.reader.encoding or "").lower().replace("-", "").replace("_", "")
    if utf16 and declared and not declared.startswith("utf16"):
        raise SourceError(
            f"{path}: the file starts with a UTF-16 byte order mark, but sources.{source.name}.encoding "
            f"says {source.reader.encoding}; remove the setting or write utf-16"
        )
    if b"\x00" in raw[:4096] and not utf16 and not declared.startswith("utf16"):
        raise SourceError(f"{path}: looks like a binary file, not CSV text; export it as CSV")
    return raw


def _reencode(path: Path, encoding: str, declared: bool = True) -> bytes:
    try:
        return path.read_bytes().decode(encoding).encode("utf-8")
    except LookupError as exc:
        raise SourceError(f"{path}: unknown encoding '{encoding}'; use e.g. utf-8, cp1252, cp1251") from exc
    except UnicodeDecodeError as exc:
        what = "the declared" if declared else "the detected"
        raise SourceError(
            f"{path}: byte {exc.start} is not valid {encoding} ({what} encoding); declare the file's "
            "encoding in the catalog (encoding: utf-8, cp1252, cp1251, utf-16, ...)"
        ) from exc


def _csv_input(source: Source, text: bytes | None) -> str | Path | io.BytesIO:
    return io.BytesIO(text) if text is not None else source.path


def _read_sample(source: Source, text: bytes | None, separator: str) -> pl.DataFrame:
    """The first SAMPLE_ROWS rows, as text."""

    def read(data: str | Path | io.BytesIO, rows: int) -> pl.DataFrame:
        return pl.read_csv(
            data,
            separator=separator,
            n_rows=rows,
            infer_schema=False,
            null_values=list(source.reader.null_values),
            encoding="utf8-lossy",
        )

    # From the file's first lines when they hold the sample and the row after it: polars reading a
    # few rows of a big file still goes over much of it (a tenth of a second per 100 MB).
    head = _head_lines(source.path) if text is None else None
    if head is not None:
        with contextlib.suppress(pl.exceptions.PolarsError):  # e.g. a quoted field cut at the end
            sample = read(io.BytesIO(head), SAMPLE_ROWS + 1)
            if sample.height > SAMPLE_ROWS:
                return sample.head(SAMPLE_ROWS)
    try:
        return read(_csv_input(source, text), SAMPLE_ROWS)
    except pl.exceptions.PolarsError as exc:
        raise SourceError(
            ragged_row_message(source, text, separator)
            or f"{source.path}: cannot be read as CSV: {_first_line(exc)}"
        ) from exc


def _head_lines(path: Path, size: int = 4 << 20) -> bytes | None:
    """The complete lines within the file's first `size` bytes (None: the file is no bigger)."""
    with path.open("rb") as handle:
        head = handle.read(size + 1)
    if len(head) <= size:
        return None
    return head[: head.rfind(b"\n") + 1] or None


def _text_stream(source: Source, text: bytes | None) -> io.TextIOWrapper:
    return io.TextIOWrapper(
        io.BytesIO(text) if text is not None else source.path.open("rb"),
        encoding="utf-8-sig",
        errors="replace",
    )


def physical_lines(source: Source, text: bytes | None, separator: str, rows: Iterable[int]) -> dict[int, int]:
    """The line of the file each data row (0-based, as polars counts them) starts on: a quoted field
    may span lines, so row + 2 is right only before the first such field (the error path only)."""
    wanted, found = set(rows), {}
    with _text_stream(source, text) as stream:
        reader = csv.reader(stream, delimiter=separator)
        next(reader, None)
        start = reader.line_num + 1
        for index, _ in enumerate(reader):
            if index in wanted:
                found[index] = start
                if len(found) == len(wanted):
                    break
            start = reader.line_num + 1
    return found


def field_count_query(layout: Layout) -> pl.LazyFrame | None:
    """A one-row frame whose `ok` says whether every line has as many fields as the header.

    polars pads a row with too few fields with empty values, silently; this check, collected with
    the run, turns such a row into an error (ragged_row_message then names it, on the error path).
    A line holding a quoted separator counts without its quoted parts; the lines of a quoted field
    that spans lines are not counted (the CSV reader checks those rows itself). None for
    spreadsheets, whose sheets are rectangular.
    """
    if layout.encoding == "xlsx":
        return None
    source = layout.source
    line, quotes, separators = pl.col("line"), pl.col("quotes"), pl.col("separators")
    # Most lines hold no quote and enough separators: only the others are looked at closely.
    # Dropping lines without quotes leaves the running count of quotes as it was.
    suspects = (
        pl.scan_lines(layout.text if layout.text is not None else source.path)
        .select(
            line,
            quotes=line.str.count_matches('"', literal=True),
            separators=line.str.count_matches(layout.separator, literal=True),
        )
        .filter((quotes > 0) | (separators + 1 < len(layout.headers)))
    )
    # A line starts inside a quoted field when the quotes before it are unbalanced.
    inside = (quotes.cum_sum() - quotes) % 2 == 1
    unquoted_separators = (
        pl.when(quotes == 0)
        .then(separators)
        .otherwise(line.str.replace_all(r'"[^"]*"', "").str.count_matches(layout.separator, literal=True))
    )
    counted = ~inside & (quotes % 2 == 0) & (line.str.strip_chars() != "")
    short = counted & (unquoted_separators + 1 < len(layout.headers))
    return suspects.select((~short.any()).alias("ok"))


def ragged_row_message(source: Source, text: bytes | None, separator: str) -> str | None:
    """Name the first row whose field count differs from the header's, or whose quotes do not
    close (the error path only)."""
    with _text_stream(source, text) as stream:
        rows = csv.reader(stream, delimiter=separator, strict=True)
        start = 1
        try:
            header = next(rows, [])
            start = rows.line_num + 1
            for row in rows:
                if row and len(row) != len(header):
                    return (
                        f"{source.path}: line {start} has {len(row)} fields but the header has "
                        f"{len(header)}; fix that row (a stray '{separator}' or an unquoted value?)"
                    )
                start = rows.line_num + 1
        except csv.Error as exc:
            if "end of data" in str(exc):
                return (
                    f"{source.path}: line {start}: a quoted field starts there and is never closed "
                    "(the file may be cut off); fix the quotes or export the file again"
                )
            return f"{source.path}: line {start}: {exc}; fix the quotes of that row"
    return None


def _canonical_names(source: Source, headers: tuple[str, ...]) -> dict[str, str]:
    """Map each header to its canonical name, per the catalog's `columns:`."""
    duplicates = sorted({h for h in headers if headers.count(h) > 1})
    if duplicates:
        raise SourceError(f"{source.path}: line 1: column '{duplicates[0]}' appears twice in the header")
    names = {header: header for header in headers}
    # A header written with doubled quotes ("Date entered ""Demo""") keeps them in the file's header.
    unescaped = {header.replace('""', '"'): header for header in headers}
    for canonical, header in source.columns.items():
        header = header if header in names else unescaped.get(header, header)
        if header not in names:
            raise SourceError(
                f"{source.path}: sources.{source.name}.columns.{canonical}: no column '{header}' in the "
                f"header{did_you_mean(header, headers)}; the file has: {', '.join(headers)}"
            )
        names[header] = canonical
    return names


def _column_types(
    source: Source, sample: pl.DataFrame, date_columns: set[str], separator: str
) -> tuple[dict[str, ColumnType], dict[str, str], dict[str, NumberFormat], frozenset[str]]:
    types: dict[str, ColumnType] = {}
    formats: dict[str, str] = {}
    numbers: dict[str, NumberFormat] = {}
    offsets: set[str] = set()
    for column in source.types:
        if column not in sample.columns:
            raise SourceError(
                f"{source.path}: sources.{source.name}.types.{column}: no column '{column}'"
                f"{did_you_mean(column, sample.columns)}; the columns are: {', '.join(sample.columns)}"
            )
    # Blank cells are empty: every decision below is about the values written.
    cleaned = sample.select(
        pl.when(pl.col(c).str.strip_chars() != "").then(pl.col(c).str.strip_chars()) for c in sample.columns
    )
    dated = [
        c
        for c in sample.columns
        if source.types.get(c) in (ColumnType.DATE, ColumnType.DATETIME)
        or (source.types.get(c) is None and c in date_columns)
    ]
    inferred = [c for c in sample.columns if source.types.get(c) is None and c not in dated]
    facts = _sample_facts(cleaned, inferred, dated)
    for column in sample.columns:
        declared = source.types.get(column)
        values = cleaned[column]
        if column in dated:
            parsed = facts[column, "parsed"]
            if not source.reader.date_format and facts[column, "n"] and facts[column, "offset"]:
                offsets.add(column)
                values, parsed = values.drop_nulls().str.replace(_OFFSET, ""), None
            column_type, fmt = _date_type(source, column, values.drop_nulls(), declared, parsed)
            types[column] = column_type
            if fmt:
                formats[column] = fmt
        elif declared in (ColumnType.NUMBER, ColumnType.INTEGER):
            types[column] = declared
            number = (
                number_format(values.drop_nulls(), source, separator) if facts[column, "decorated"] else None
            )
            if number is not None and number != NumberFormat():
                types[column] = ColumnType.NUMBER
                numbers[column] = number
        elif declared is not None:
            types[column] = declared
        else:
            types[column] = _infer_type(facts, column)
            number = (
                number_format(values.drop_nulls(), source, separator)
                if types[column] is ColumnType.TEXT and facts[column, "decorated"]
                else None
            )
            if number is not None:
                types[column] = ColumnType.NUMBER
                numbers[column] = number
    return types, formats, numbers, frozenset(offsets)


_DATE_CANDIDATES = [(fmt, pl.Date) for fmt in _DATE_FORMATS] + [
    (fmt, pl.Datetime) for fmt in _DATETIME_FORMATS
]
_BOOL_SETS = (("true", "false"), ("y", "n"), ("yes", "no"), ("да", "нет"))


def _sample_facts(cleaned: pl.DataFrame, inferred: list[str], dated: list[str]) -> dict[tuple[str, str], Any]:
    """What type inference needs to know of each sample column, in one pass over the sample
    (column by column, each question would be a query of its own): how many values, whether all
    of them match a pattern, and how many each date format reads."""
    exprs = []
    for c in cleaned.columns:
        value = pl.col(c)
        exprs += [
            value.count().alias(f"{c}\x1fn"),
            value.str.contains(_DECORATED).all().alias(f"{c}\x1fdecorated"),
        ]
    for c in inferred:
        value, lowered = pl.col(c), pl.col(c).str.to_lowercase()
        exprs += [
            value.str.contains(_INTEGER).all().alias(f"{c}\x1finteger"),
            value.str.contains(_NUMBER).all().alias(f"{c}\x1fnumber"),
            pl.any_horizontal(lowered.is_in(pair).all() for pair in _BOOL_SETS).alias(f"{c}\x1fbool"),
            (value.str.strptime(pl.Date, "%Y-%m-%d", strict=False).count() == value.count()).alias(
                f"{c}\x1fdate"
            ),
        ]
    for c in dated:
        value = pl.col(c)
        exprs.append(value.str.contains(_OFFSET).all().alias(f"{c}\x1foffset"))
        exprs += [
            value.str.strptime(dtype, fmt, strict=False).count().alias(f"{c}\x1fparsed{i}")
            for i, (fmt, dtype) in enumerate(_DATE_CANDIDATES)
        ]
    row = cleaned.select(exprs).row(0, named=True)
    facts: dict[tuple[str, str], Any] = {}
    for name, value in row.items():
        column, fact = name.split("\x1f")
        facts[column, fact] = value
    for c in dated:
        facts[c, "parsed"] = [facts[c, f"parsed{i}"] for i in range(len(_DATE_CANDIDATES))]
    return facts


def _infer_type(facts: dict[tuple[str, str], Any], column: str) -> ColumnType:
    if not facts[column, "n"]:
        return ColumnType.TEXT
    for fact, column_type in (
        ("integer", ColumnType.INTEGER),
        ("number", ColumnType.NUMBER),
        ("bool", ColumnType.BOOL),
        ("date", ColumnType.DATE),
    ):
        if facts[column, fact]:
            return column_type
    return ColumnType.TEXT


def number_format(values: pl.Series, source: Source, separator: str) -> NumberFormat | None:
    """How the sample's numbers are written, when every value is a number ('$22,700.00',
    '1 234,50 ₽', '€ 1.234,50', '12,5%'); None when some value is not.

    Decimal and thousands separators follow the values: with both '.' and ',' the last one is the
    decimal; a lone ',' is thousands when every value groups digits by three after it ('1,234') in
    a comma-separated file, else decimal; reader settings (decimal_comma, thousands) come first.
    """
    reader = source.reader
    if values.is_empty() or (values.str.contains(_NUMBER).all() and not reader.decimal_comma):
        return None  # plain numbers: read natively
    parts = values.str.extract_groups(_DECORATED)
    written = parts.struct.field("number")
    if written.null_count() or not all(re.match(_GROUPED, text) for text in written.unique().to_list()):
        return None  # '415 555 1234' is a phone number, not one with thousands separators
    numbers = written.str.replace_all(f"[{_SPACES}']", "")
    percent = bool((parts.struct.field("percent") == "%").all())
    if reader.decimal_comma or reader.thousands:
        return NumberFormat("," if reader.decimal_comma else ".", reader.thousands or "", percent)
    both = numbers.filter(numbers.str.contains(r"\.") & numbers.str.contains(","))
    commas = numbers.filter(numbers.str.contains(",") & ~numbers.str.contains(r"\."))
    dots = numbers.filter(numbers.str.contains(r"\.") & ~numbers.str.contains(","))
    last = both.str.extract(r"([.,])\d*$").unique().to_list()
    if len(last) > 1:
        return None  # 1,234.5 and 1.234,5 in one column: cannot tell
    grouped_commas = commas.str.contains(r"^\d{1,3}(,\d{3})+$").all()
    grouped_dots = dots.str.contains(r"^\d{1,3}(\.\d{3}){2,}$").all() and not dots.is_empty()
    if last == [","] or (not commas.is_empty() and not (grouped_commas and separator != ";")):
        decimal, thousands = ",", "."
    elif grouped_dots and dots.str.contains(r"\.\d{3}\.").any():
        decimal, thousands = ",", "."
    else:
        decimal, thousands = ".", ","
    if decimal == "," and not dots.is_empty() and not grouped_dots:
        return None  # '1.5' next to '2,5'
    return NumberFormat(decimal, thousands, percent)


def _date_type(
    source: Source, column: str, values: pl.Series, declared: ColumnType | None, parsed: list[int] | None
) -> tuple[ColumnType, str | None]:
    """Decide whether a date column holds dates or datetimes, and in which format.

    parsed: how many of the values each of _DATE_CANDIDATES reads, when already counted."""
    if source.reader.date_format:
        fmt = source.reader.date_format
        has_time = any(code in fmt for code in ("%H", "%M", "%S", "%T"))
        return (ColumnType.DATETIME if has_time else ColumnType.DATE), fmt
    if values.is_empty():
        return declared or ColumnType.DATE, None
    # How many sample values each known format reads; the first format that reads them all wins.
    candidates = _DATE_CANDIDATES
    if parsed is None:
        parsed = [values.str.strptime(dtype, fmt, strict=False).count() for fmt, dtype in candidates]
    best = max(range(len(candidates)), key=parsed.__getitem__)
    slash = _slash_order(values) if parsed[best] < len(values) else None
    if slash:
        return (ColumnType.DATETIME if "%H" in slash else ColumnType.DATE), slash
    # Mostly dates with a few bad values: take the format most of them follow, so that reading the
    # file stops at the first bad value and names its line.
    if parsed[best] * 2 > len(values):
        fmt, dtype = candidates[best]
        if dtype == pl.Date:
            return ColumnType.DATE, None if fmt == "%Y-%m-%d" else fmt
        return ColumnType.DATETIME, fmt
    example = values[0]
    if values.str.contains(r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{4}").all():
        raise SourceError(
            f"{source.path}: column '{column}': cannot tell day from month in dates like "
            f"'{example}'; declare sources.{source.name}.date_format: '%d/%m/%Y' or '%m/%d/%Y'"
        )
    raise SourceError(
        f"{source.path}: column '{column}' is used as a date but values like '{example}' are not "
        f"dates; declare sources.{source.name}.date_format (e.g. '%d.%m.%Y')"
    )


def _slash_order(values: pl.Series) -> str | None:
    """'%d/%m/%Y' or '%m/%d/%Y' (with the time format when the values have one) when the sample
    proves the order, else None."""
    parts = values.str.extract_groups(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}:\d{2})(:\d{2})?)?$")
    if parts.struct.field("1").null_count():
        return None
    first = parts.struct.field("1").cast(pl.Int32)
    second = parts.struct.field("2").cast(pl.Int32)
    if (first > 12).any() and not (second > 12).any():
        order = "%d/%m/%Y"
    elif (second > 12).any() and not (first > 12).any():
        order = "%m/%d/%Y"
    else:
        return None
    times = parts.struct.field("4").is_not_null()
    if not times.any():
        return order
    if not times.all():
        return None
    return order + (" %H:%M:%S" if parts.struct.field("5").is_not_null().all() else " %H:%M")


def scan_source(layout: Layout) -> pl.LazyFrame:
    """The file as a LazyFrame with canonical names and parsed types."""
    source = layout.source
    schema = dict.fromkeys(layout.headers, pl.String)
    for header, name in layout.names.items():
        column_type = layout.types[name]
        if column_type is ColumnType.DATE and name not in layout.formats and name not in layout.offsets:
            schema[header] = pl.Date
        elif column_type in (ColumnType.INTEGER, ColumnType.NUMBER) and name not in layout.numbers:
            schema[header] = _POLARS_TYPE[column_type]
    frame = pl.scan_csv(
        _csv_input(source, layout.text),
        separator=layout.separator,
        schema=schema,
        null_values=list(source.reader.null_values),
        encoding="utf8",
    ).rename({h: n for h, n in layout.names.items() if h != n})
    conversions = [
        _parse_expr(name, layout)
        for header, name in layout.names.items()
        if schema[header] == pl.String and layout.types[name] is not ColumnType.TEXT
    ]
    return frame.with_columns(conversions) if conversions else frame


def _parse_expr(name: str, layout: Layout) -> pl.Expr:
    """Strict conversion of a text column: an unparseable value raises, never becomes null."""
    column_type, fmt = layout.types[name], layout.formats.get(name)
    column = pl.col(name)
    if column_type in (ColumnType.DATE, ColumnType.DATETIME):
        text = column.str.strip_chars()
        if name in layout.offsets:
            text = text.str.replace(_OFFSET, "")
        dtype = pl.Date if column_type is ColumnType.DATE else pl.Datetime("us")
        return text.str.strptime(dtype, fmt, strict=True)
    if column_type is ColumnType.BOOL:
        mapping = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}
        return column.str.to_lowercase().str.strip_chars().replace_strict(mapping, return_dtype=pl.Boolean)
    number = layout.numbers.get(name)
    if number is None:
        return column.str.strip_chars().cast(_POLARS_TYPE[column_type], strict=True)
    # A value that is not a number keeps its text, so the strict cast fails on it (never a null).
    return pl.coalesce(_decorated_number(column, number), column).cast(pl.Float64, strict=True).alias(name)


def _decorated_number(column: pl.Expr, number: NumberFormat) -> pl.Expr:
    """'-$1,234.50' -> '-1234.50' and '12,5 %' -> '0.125', as text for the cast; null when the
    value is not a number."""
    parts = column.str.extract_groups(_DECORATED)
    digits = parts.struct.field("number").str.replace_all(f"[{_SPACES}']", "")
    if number.thousands:
        digits = digits.str.replace_all(number.thousands, "", literal=True)
    if number.decimal == ",":
        digits = digits.str.replace(",", ".", literal=True)
    negative = (parts.struct.field("sign") == "-") | (parts.struct.field("sign2") == "-")
    text = pl.when(negative).then("-" + digits).otherwise(digits)
    if not number.percent:
        return text
    value = text.cast(pl.Float64, strict=False)
    scaled = pl.when(parts.struct.field("percent") == "%").then(value / 100).otherwise(value)
    return pl.when(value.is_not_null()).then(scaled.cast(pl.String))


def bad_value_message(layout: Layout) -> str | None:
    """Find the first value that does not fit its column's type (the error path only).

    Re-reads the file as text, so it is called only after a scan has failed.
    """
    source = layout.source
    checked = {
        name: column_type for name, column_type in layout.types.items() if column_type is not ColumnType.TEXT
    }
    if not checked:
        return None
    text = (
        pl.scan_csv(
            _csv_input(source, layout.text),
            separator=layout.separator,
            infer_schema=False,
            null_values=list(source.reader.null_values),
            encoding="utf8-lossy",
        )
        .rename({h: n for h, n in layout.names.items() if h != n})
        .with_row_index("__row")
    )
    lenient = {name: _lenient_expr(name, layout) for name in checked}
    bad = (
        text.select(
            "__row",
            *[pl.col(name).alias(f"raw_{name}") for name in checked],
            *[
                (pl.col(name).is_not_null() & lenient[name].is_null()).alias(f"bad_{name}")
                for name in checked
            ],
        )
        .filter(pl.any_horizontal(pl.col(f"bad_{name}") for name in checked))
        .collect()
    )
    if bad.is_empty():
        return None
    row = bad.row(0, named=True)
    shown = [row["__row"]] + [
        r for name in checked for r in bad.filter(pl.col(f"bad_{name}"))["__row"].head(3).to_list()
    ]
    lines = physical_lines(source, layout.text, layout.separator, shown)
    name = next(name for name in checked if row[f"bad_{name}"])
    header = next(h for h, n in layout.names.items() if n == name)
    more = bad.height - 1
    column_type = checked[name]
    expected = {
        ColumnType.DATE: f"a date ({layout.formats.get(name, '%Y-%m-%d')})",
        ColumnType.DATETIME: "a date and time",
        ColumnType.BOOL: "true/false",
        ColumnType.INTEGER: "a whole number",
        ColumnType.NUMBER: "a number",
    }[column_type]
    declared = "declared" if name in source.types else "inferred from the first rows"
    return (
        f"{source.path}: line {lines[row['__row']]}, column '{header}': '{row[f'raw_{name}']}' is not "
        f"{expected} (type {column_type.value}, {declared})"
        + (
            f"; {more} more row(s) have bad values ({_bad_summary(bad, layout, checked, lines)})"
            if more
            else ""
        )
        + f"; fix the data, add the value to sources.{source.name}.null_values if it means empty, "
        f"or declare sources.{source.name}.types.{name}"
    )


def _bad_summary(
    bad: pl.DataFrame, layout: Layout, checked: dict[str, ColumnType], lines: dict[int, int]
) -> str:
    """Per column: how many bad values, and the first few with their lines."""
    parts = []
    for name in checked:
        rows = bad.filter(pl.col(f"bad_{name}"))
        if rows.is_empty():
            continue
        header = next(h for h, n in layout.names.items() if n == name)
        shown = "; ".join(f"line {lines[r['__row']]}: '{r[f'raw_{name}']}'" for r in rows.head(3).to_dicts())
        parts.append(f"'{header}' {rows.height:,} in all, e.g. {shown}")
    return " / ".join(parts)


def _lenient_expr(name: str, layout: Layout) -> pl.Expr:
    """Like _parse_expr but bad values become null (so they can be found); NaN/inf count as bad."""
    column_type, fmt = layout.types[name], layout.formats.get(name)
    column = pl.col(name)
    if column_type in (ColumnType.DATE, ColumnType.DATETIME):
        text = column.str.strip_chars()
        if name in layout.offsets:
            text = text.str.replace(_OFFSET, "")
        if column_type is ColumnType.DATE:
            return text.str.strptime(pl.Date, fmt or "%Y-%m-%d", strict=False)
        return text.str.strptime(pl.Datetime("us"), fmt, strict=False)
    if column_type is ColumnType.BOOL:
        lowered = column.str.to_lowercase().str.strip_chars()
        return pl.when(lowered.is_in(_TRUE)).then(True).when(lowered.is_in(_FALSE)).then(False)
    number = layout.numbers.get(name)
    text = column.str.strip_chars() if number is None else _decorated_number(column, number)
    pattern = _INTEGER if column_type is ColumnType.INTEGER and number is None else _NUMBER
    return pl.when(text.str.contains(pattern)).then(text.cast(pl.Float64, strict=False))


def non_finite_message(layout: Layout, column: str) -> str:
    """The error for NaN/inf in a number column (polars parses them as floats)."""
    found = bad_value_message(layout)
    return found or f"{layout.where()}: column '{column}' holds NaN or infinite values; fix the data"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def join_sources(
    catalog: Catalog, name: str, frames: dict[str, pl.LazyFrame], needed: Iterable[str] | None = None
) -> pl.LazyFrame:
    """Source name's frame with its many-to-one joins applied, in the order listed.

    A joined column whose name already exists on the left is left out (the left one wins).
    `validate="m:1"` makes a right side with duplicate keys an error instead of multiplying rows.
    With `needed` (the columns a query reads), only the joins that bring one of them are applied
    (and those bringing a key a later applied join uses): a many-to-one left join adds columns and
    never rows, so leaving out one whose columns are not read changes no figure, and polars cannot
    prune a validated join by itself.
    """
    frame = frames[name]
    columns = list(frame.collect_schema().names())
    joins = catalog.sources[name].joins
    added = _join_columns(joins, columns, frames)
    wanted = None if needed is None else set(needed)
    applied = []
    for i in reversed(range(len(joins))):
        if wanted is None or wanted & set(added[i]):
            applied.append(i)
            if wanted is not None:
                wanted.add(joins[i].left_on)
    for i in sorted(applied):
        join, new = joins[i], added[i]
        right = frames[join.source]
        right_schema = right.collect_schema()
        left_type = frame.collect_schema().get(join.left_on)
        right_type = right_schema.get(join.right_on)
        right = right.select(pl.col(join.right_on), *new)
        if left_type != right_type:
            frame = frame.with_columns(pl.col(join.left_on).cast(pl.String).alias("__join_key"))
            right = right.with_columns(pl.col(join.right_on).cast(pl.String).alias("__join_key"))
            frame = frame.join(right.drop(join.right_on), on="__join_key", how="left", validate="m:1")
            frame = frame.drop("__join_key")
        else:
            frame = frame.join(
                right,
                left_on=join.left_on,
                right_on=join.right_on,
                how="left",
                validate="m:1",
                coalesce=True,
            )
    return frame


def _join_columns(
    joins: tuple[Join, ...], columns: list[str], frames: dict[str, pl.LazyFrame]
) -> list[list[str]]:
    """The columns each join adds: those it brings that are not on the left already."""
    columns = list(columns)
    added = []
    for join in joins:
        new = [c for c in join.brings(frames[join.source].collect_schema().names()) if c not in columns]
        added.append(new)
        columns += new
    return added
