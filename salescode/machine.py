"""Tidy output for scripts and spreadsheets: CSV, TSV, JSON and JSON Lines.

A polars frame is written column by column, with polars; plain Python rows (Rows) without it,
so that commands that only read the catalog (`salescode metrics`) start in a fraction of a
second. Both follow the same rules, and the tests hold both to the same expected text.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Union

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class MachineFormat:
    """How to write a tidy table for scripts and spreadsheets."""

    kind: str  # csv | tsv | json | jsonl
    header: bool = True  # csv/tsv: a header line
    separator: str = ","  # csv: the field separator (tsv: always a tab)
    decimal_comma: bool = False  # csv/tsv: 0,75 instead of 0.75, for comma-decimal spreadsheets
    escape_formulas: bool = True  # csv/tsv: a text cell starting with = + - @ is prefixed with '

    @property
    def delimited(self) -> bool:
        return self.kind in ("csv", "tsv")


@dataclass(frozen=True)
class Rows:
    """A table as column names and rows of Python values (None for a missing value)."""

    columns: Sequence[str]
    rows: Sequence[Sequence[object]]


Table = Union["pl.DataFrame", Rows]

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_START = re.compile(r"^[=+\-@\t\r]")


def write_machine(table: Table, out: IO[str], spec: MachineFormat) -> None:
    if spec.kind in ("json", "jsonl"):
        rows = table if isinstance(table, Rows) else Rows(table.columns, table.rows())
        (write_json if spec.kind == "json" else write_jsonl)(rows, out)
    elif isinstance(table, Rows):
        write_delimited(table, out, spec)
    else:
        write_frame_delimited(table, out, spec)


def write_delimited(table: Rows, out: IO[str], spec: MachineFormat) -> None:
    """Tidy CSV/TSV: full-precision numbers, whole ones without a trailing '.0'; empty cells for
    missing values; text cells that a spreadsheet would run as a formula neutralised (opt-out)."""
    writer = csv.writer(out, delimiter=_separator(spec), lineterminator="\n")
    if spec.header:
        writer.writerow(table.columns)
    writer.writerows([_cell(value, spec) for value in row] for row in table.rows)


def write_frame_delimited(frame: pl.DataFrame, out: IO[str], spec: MachineFormat) -> None:
    """write_delimited for a polars frame, column by column: a report by rep has many rows."""
    import polars as pl  # a frame means polars is loaded already

    texts = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    numbers = [name for name, dtype in frame.schema.items() if dtype.is_float() or dtype.is_decimal()]
    if numbers:
        frame = frame.with_columns(pl.col(numbers).cast(pl.String).str.replace(r"\.0$", ""))
        if spec.decimal_comma:
            frame = frame.with_columns(pl.col(numbers).str.replace(".", ",", literal=True))
    if spec.escape_formulas and texts:
        frame = frame.with_columns(
            pl.when(pl.col(c).str.contains(FORMULA_START.pattern))
            .then("'" + pl.col(c))
            .otherwise(pl.col(c))
            .alias(c)
            for c in texts
        )
    out.write(frame.write_csv(include_header=spec.header, separator=_separator(spec)))


def _separator(spec: MachineFormat) -> str:
    return "\t" if spec.kind == "tsv" else spec.separator


def _cell(value: object, spec: MachineFormat) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | Decimal):
        text = _number_text(value)
        return text.replace(".", ",") if spec.decimal_comma else text
    if isinstance(value, str):
        return "'" + value if spec.escape_formulas and FORMULA_START.match(value) else value
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _number_text(value: float | Decimal) -> str:
    """The shortest text that reads back as the same number, without a trailing '.0'."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    text = str(value)
    return text[:-2] if text.endswith(".0") else text


def write_jsonl(table: Rows, out: IO[str]) -> None:
    """One JSON object per line (JSON Lines): appendable, streamable."""
    for row in table.rows:
        out.write(json.dumps(_record(table.columns, row), ensure_ascii=False, allow_nan=False))
        out.write("\n")


def write_json(table: Rows, out: IO[str]) -> None:
    """A JSON array of row objects; missing values are null."""
    records = [_record(table.columns, row) for row in table.rows]
    json.dump(records, out, indent=2, ensure_ascii=False, allow_nan=False)
    out.write("\n")


def _record(columns: Sequence[str], row: Sequence[object]) -> dict[str, object]:
    return {name: _json_value(value) for name, value in zip(columns, row, strict=True)}


def _json_value(value: object) -> object:
    """Whole floats as integers, exact decimals as numbers, dates as ISO text."""
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, date):
        return value.isoformat()
    return value
