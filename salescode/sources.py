"""CRM CSV files -> normalised polars LazyFrames (canonical names, parsed types, joins).

A file is inspected once (header and a sample of rows, to learn its separator and column types),
then scanned lazily; polars pushes column selection and filters into the scan. Values that do not
fit their column's type stop the run with the file, line and column named: never a silent null.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from salescode.catalog import Catalog, ColumnType, Source, did_you_mean
from salescode.errors import SourceError

SAMPLE_ROWS = 2000
_SAMPLE_BYTES = 1 << 20
_SEPARATORS = (",", ";", "\t", "|")
_INTEGER = r"^[+-]?(?:0|[1-9]\d*)$"
_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
# Formats tried on a date column's sample, in order. Slash dates are decided from the data
# (a day above 12 tells the order) or must be declared: 04/09/2025 is never guessed.
_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%Y.%m.%d", "%Y/%m/%d")
_DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S%.f")
_TRUE = ("true", "yes", "y", "1")
_FALSE = ("false", "no", "n", "0")
_POLARS_TYPE = {
    ColumnType.INTEGER: pl.Int64,
    ColumnType.NUMBER: pl.Float64,
    ColumnType.DATE: pl.Date,
}


@dataclass(frozen=True)
class Layout:
    """What inspecting a file learned: how to read it and each column's type."""

    source: Source
    text: bytes | None  # the file re-encoded as UTF-8 when it is in another encoding
    separator: str
    headers: tuple[str, ...]
    names: dict[str, str]  # header in the file -> canonical name
    types: dict[str, ColumnType]  # canonical name -> type
    formats: dict[str, str]  # canonical name -> strptime format, for dates not in ISO form

    @property
    def columns(self) -> list[str]:
        return [self.names[header] for header in self.headers]

    def where(self) -> str:
        return str(self.source.path)


def inspect_source(source: Source, date_columns: set[str] = frozenset()) -> Layout:
    """Read the header and a sample of source's file; decide separator and column types.

    date_columns are columns used as dates (time columns, cohorts) that must parse as dates.
    """
    path = source.path
    raw = _read_head(path, source)
    encoding = source.reader.encoding or "utf-8"
    text_bytes = None
    if encoding.lower().replace("-", "") not in ("utf8", "utf8sig"):
        text_bytes = _reencode(path, encoding)
        raw = text_bytes[:_SAMPLE_BYTES]
    try:
        head = raw.decode("utf-8-sig", errors="strict" if len(raw) < _SAMPLE_BYTES else "ignore")
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{path}: is not UTF-8 text (byte {exc.start}); declare its encoding in "
            f"sources.{source.name}.encoding (e.g. cp1252 or cp1251)"
        ) from exc
    first_line = head.split("\n", 1)[0]
    separator = source.reader.separator or max(_SEPARATORS, key=first_line.count)
    sample = _read_sample(source, text_bytes, separator)
    headers = tuple(sample.columns)
    names = _canonical_names(source, headers)
    types, formats = _column_types(source, sample.rename(names), date_columns)
    return Layout(source, text_bytes, separator, headers, names, types, formats)


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
    if b"\x00" in raw[:4096] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SourceError(f"{path}: looks like a binary file, not CSV text; export it as CSV")
    return raw


def _reencode(path: Path, encoding: str) -> bytes:
    try:
        return path.read_bytes().decode(encoding).encode("utf-8")
    except LookupError as exc:
        raise SourceError(f"{path}: unknown encoding '{encoding}'; use e.g. utf-8, cp1252, cp1251") from exc
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{path}: byte {exc.start} is not valid {encoding}; check the declared encoding"
        ) from exc


def _csv_input(source: Source, text: bytes | None) -> str | Path | io.BytesIO:
    return io.BytesIO(text) if text is not None else source.path


def _read_sample(source: Source, text: bytes | None, separator: str) -> pl.DataFrame:
    try:
        return pl.read_csv(
            _csv_input(source, text),
            separator=separator,
            n_rows=SAMPLE_ROWS,
            infer_schema=False,
            null_values=list(source.reader.null_values),
            encoding="utf8-lossy",
        )
    except pl.exceptions.PolarsError as exc:
        raise SourceError(
            ragged_row_message(source, text, separator)
            or f"{source.path}: cannot be read as CSV: {_first_line(exc)}"
        ) from exc


def ragged_row_message(source: Source, text: bytes | None, separator: str) -> str | None:
    """Name the first row whose field count differs from the header's (the error path only)."""
    stream = io.TextIOWrapper(
        io.BytesIO(text) if text is not None else source.path.open("rb"),
        encoding="utf-8-sig",
        errors="replace",
    )
    with stream:
        rows = csv.reader(stream, delimiter=separator)
        header = next(rows, [])
        for row in rows:
            if row and len(row) != len(header):
                return (
                    f"{source.path}: line {rows.line_num} has {len(row)} fields but the header has "
                    f"{len(header)}; fix that row (a stray '{separator}' or an unquoted value?)"
                )
    return None


def _canonical_names(source: Source, headers: tuple[str, ...]) -> dict[str, str]:
    """Map each header to its canonical name, per the catalog's `columns:`."""
    duplicates = sorted({h for h in headers if headers.count(h) > 1})
    if duplicates:
        raise SourceError(f"{source.path}: line 1: column '{duplicates[0]}' appears twice in the header")
    names = {header: header for header in headers}
    for canonical, header in source.columns.items():
        if header not in names:
            raise SourceError(
                f"{source.path}: sources.{source.name}.columns.{canonical}: no column '{header}' in the "
                f"header{did_you_mean(header, headers)}; the file has: {', '.join(headers)}"
            )
        names[header] = canonical
    return names


def _column_types(
    source: Source, sample: pl.DataFrame, date_columns: set[str]
) -> tuple[dict[str, ColumnType], dict[str, str]]:
    types: dict[str, ColumnType] = {}
    formats: dict[str, str] = {}
    for column in source.types:
        if column not in sample.columns:
            raise SourceError(
                f"{source.path}: sources.{source.name}.types.{column}: no column '{column}'"
                f"{did_you_mean(column, sample.columns)}; the columns are: {', '.join(sample.columns)}"
            )
    for column in sample.columns:
        values = sample[column].drop_nulls()
        declared = source.types.get(column)
        if declared in (ColumnType.DATE, ColumnType.DATETIME) or (
            declared is None and column in date_columns
        ):
            column_type, fmt = _date_type(source, column, values, declared)
            types[column] = column_type
            if fmt:
                formats[column] = fmt
        elif declared is not None:
            types[column] = declared
        else:
            types[column] = _infer_type(values)
    return types, formats


def _infer_type(values: pl.Series) -> ColumnType:
    if values.is_empty():
        return ColumnType.TEXT
    if values.str.contains(_INTEGER).all():
        return ColumnType.INTEGER
    if values.str.contains(_NUMBER).all():
        return ColumnType.NUMBER
    if values.str.to_lowercase().is_in(["true", "false"]).all():
        return ColumnType.BOOL
    if values.str.strptime(pl.Date, "%Y-%m-%d", strict=False).null_count() == 0:
        return ColumnType.DATE
    return ColumnType.TEXT


def _date_type(
    source: Source, column: str, values: pl.Series, declared: ColumnType | None
) -> tuple[ColumnType, str | None]:
    """Decide whether a date column holds dates or datetimes, and in which format."""
    if source.reader.date_format:
        fmt = source.reader.date_format
        has_time = any(code in fmt for code in ("%H", "%M", "%S", "%T"))
        return (ColumnType.DATETIME if has_time else ColumnType.DATE), fmt
    if values.is_empty():
        return declared or ColumnType.DATE, None
    # How many sample values each known format reads; the first format that reads them all wins.
    candidates = [(fmt, pl.Date) for fmt in _DATE_FORMATS] + [(fmt, pl.Datetime) for fmt in _DATETIME_FORMATS]
    parsed = [values.str.strptime(dtype, fmt, strict=False).is_not_null().sum() for fmt, dtype in candidates]
    best = max(range(len(candidates)), key=parsed.__getitem__)
    slash = _slash_order(values) if parsed[best] < len(values) else None
    if slash:
        return ColumnType.DATE, slash
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
    """'%d/%m/%Y' or '%m/%d/%Y' when the sample proves the order, else None."""
    parts = values.str.extract_groups(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
    if parts.struct.field("1").null_count():
        return None
    first = parts.struct.field("1").cast(pl.Int32)
    second = parts.struct.field("2").cast(pl.Int32)
    if (first > 12).any() and not (second > 12).any():
        return "%d/%m/%Y"
    if (second > 12).any() and not (first > 12).any():
        return "%m/%d/%Y"
    return None


def scan_source(layout: Layout) -> pl.LazyFrame:
    """The file as a LazyFrame with canonical names and parsed types."""
    source = layout.source
    schema = dict.fromkeys(layout.headers, pl.String)
    native_numbers = not source.reader.decimal_comma and not source.reader.thousands
    for header, name in layout.names.items():
        column_type = layout.types[name]
        if column_type is ColumnType.DATE and name not in layout.formats:
            schema[header] = pl.Date
        elif column_type in (ColumnType.INTEGER, ColumnType.NUMBER) and native_numbers:
            schema[header] = _POLARS_TYPE[column_type]
    frame = pl.scan_csv(
        _csv_input(source, layout.text),
        separator=layout.separator,
        schema=schema,
        null_values=list(source.reader.null_values),
        encoding="utf8",
    ).rename({h: n for h, n in layout.names.items() if h != n})
    conversions = [
        _parse_expr(name, layout.types[name], layout.formats.get(name), source)
        for header, name in layout.names.items()
        if schema[header] == pl.String and layout.types[name] is not ColumnType.TEXT
    ]
    return frame.with_columns(conversions) if conversions else frame


def _parse_expr(name: str, column_type: ColumnType, fmt: str | None, source: Source) -> pl.Expr:
    """Strict conversion of a text column: an unparseable value raises, never becomes null."""
    column = pl.col(name)
    if column_type is ColumnType.DATE:
        return column.str.strptime(pl.Date, fmt, strict=True)
    if column_type is ColumnType.DATETIME:
        return column.str.strptime(pl.Datetime("us"), fmt, strict=True)
    if column_type is ColumnType.BOOL:
        mapping = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}
        return column.str.to_lowercase().str.strip_chars().replace_strict(mapping, return_dtype=pl.Boolean)
    text = column.str.strip_chars()
    if source.reader.thousands:
        text = text.str.replace_all(source.reader.thousands, "", literal=True)
    if source.reader.decimal_comma:
        text = text.str.replace(",", ".", literal=True)
    return text.cast(_POLARS_TYPE[column_type], strict=True)


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
    lenient = {
        name: _lenient_expr(name, column_type, layout.formats.get(name), source)
        for name, column_type in checked.items()
    }
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
        f"{source.path}: line {row['__row'] + 2}, column '{header}': '{row[f'raw_{name}']}' is not "
        f"{expected} (type {column_type.value}, {declared})"
        + (f"; {more} more row(s) have bad values" if more else "")
        + f"; fix the data, add the value to sources.{source.name}.null_values if it means empty, "
        f"or declare sources.{source.name}.types.{name}"
    )


def _lenient_expr(name: str, column_type: ColumnType, fmt: str | None, source: Source) -> pl.Expr:
    """Like _parse_expr but bad values become null (so they can be found); NaN/inf count as bad."""
    column = pl.col(name)
    if column_type is ColumnType.DATE:
        return column.str.strptime(pl.Date, fmt or "%Y-%m-%d", strict=False)
    if column_type is ColumnType.DATETIME:
        return column.str.strptime(pl.Datetime("us"), fmt, strict=False)
    if column_type is ColumnType.BOOL:
        lowered = column.str.to_lowercase().str.strip_chars()
        return pl.when(lowered.is_in(_TRUE)).then(True).when(lowered.is_in(_FALSE)).then(False)
    text = column.str.strip_chars()
    if source.reader.thousands:
        text = text.str.replace_all(source.reader.thousands, "", literal=True)
    if source.reader.decimal_comma:
        text = text.str.replace(",", ".", literal=True)
    pattern = _INTEGER if column_type is ColumnType.INTEGER else _NUMBER
    return pl.when(text.str.contains(pattern)).then(text.cast(pl.Float64, strict=False))


def non_finite_message(layout: Layout, column: str) -> str:
    """The error for NaN/inf in a number column (polars parses them as floats)."""
    found = bad_value_message(layout)
    return found or f"{layout.where()}: column '{column}' holds NaN or infinite values; fix the data"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def join_sources(catalog: Catalog, name: str, frames: dict[str, pl.LazyFrame]) -> pl.LazyFrame:
    """Source name's frame with its many-to-one joins applied, in the order listed.

    A joined column whose name already exists on the left is left out (the left one wins).
    `validate="m:1"` makes a right side with duplicate keys an error instead of multiplying rows.
    """
    frame = frames[name]
    columns = list(frame.collect_schema().names())
    for join in catalog.sources[name].joins:
        right = frames[join.source]
        right_schema = right.collect_schema()
        new = [c for c in join.brings(right_schema.names()) if c not in columns]
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
        columns += new
    return frame
