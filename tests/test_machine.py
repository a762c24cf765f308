"""The machine writers on hand-made rows: every cell written as a script would expect it, and
catalog-only commands start without importing polars."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from salescode.machine import MachineFormat, Rows, write_machine

ROWS = Rows(
    ("name", "value", "count", "when", "flag", "money"),
    [
        ("=SUM(A1)", 0.1, 3, date(2025, 9, 30), True, Decimal("12.50")),
        ("plain, with comma", 2.0, None, None, False, None),
        ("-5 dollars", 1 / 3, 0, date(2025, 1, 1), None, Decimal("0.01")),
    ],
)


def written(table, **options) -> str:
    out = io.StringIO()
    write_machine(table, out, MachineFormat(**options))
    return out.getvalue()


def test_csv_cells():
    text = written(ROWS, kind="csv")
    assert text.splitlines() == [
        "name,value,count,when,flag,money",
        "'=SUM(A1),0.1,3,2025-09-30,true,12.50",
        '"plain, with comma",2,,,false,',
        f"'-5 dollars,{1 / 3!r},0,2025-01-01,,0.01",
    ]
    rows = list(csv.reader(io.StringIO(text)))
    assert float(rows[3][1]) == 1 / 3  # full precision reads back exactly


def test_decimal_comma_and_no_escaping_and_no_header():
    text = written(ROWS, kind="csv", separator=";", decimal_comma=True, escape_formulas=False, header=False)
    assert text.splitlines()[0] == "=SUM(A1);0,1;3;2025-09-30;true;12,50"
    assert len(text.splitlines()) == 3


def test_tsv_uses_tabs_whatever_the_separator():
    assert written(ROWS, kind="tsv", separator=";").splitlines()[2] == "\t".join(
        ["plain, with comma", "2", "", "", "false", ""]
    )


def test_json_and_jsonl_values():
    records = json.loads(written(ROWS, kind="json"))
    assert records[0] == {
        "name": "=SUM(A1)", "value": 0.1, "count": 3, "when": "2025-09-30", "flag": True, "money": 12.5,
    }  # fmt: skip
    assert records[1]["value"] == 2 and isinstance(records[1]["value"], int)
    lines = written(ROWS, kind="jsonl").splitlines()
    assert [json.loads(line) for line in lines] == records


@pytest.mark.parametrize(
    "options",
    [
        {"kind": "csv"},
        {"kind": "tsv"},
        {"kind": "csv", "separator": ";", "decimal_comma": True, "escape_formulas": False, "header": False},
    ],
)
def test_a_polars_frame_is_written_like_its_rows(options):
    dtypes = [pl.String, pl.Float64, pl.Int64, pl.Date, pl.Boolean, pl.Decimal(10, 2)]
    frame = pl.DataFrame(
        [list(column) for column in zip(*ROWS.rows, strict=True)],
        schema=dict(zip(ROWS.columns, dtypes, strict=True)),
        orient="col",
    )
    assert written(frame, **options) == written(ROWS, **options)


@pytest.mark.parametrize("args", [["--help"], ["metrics", "--format", "csv"], ["tree"], ["report", "--help"]])
def test_catalog_only_commands_do_not_import_polars(args):
    code = (
        "import sys\n"
        "from salescode.cli import main\n"
        f"sys.argv = ['salescode', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('polars' in sys.modules, file=sys.stderr)\n"
    )
    repo = Path(__file__).resolve().parents[1]  # its metrics.yaml is the catalog
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo
    )
    assert result.stderr.strip().splitlines()[-1] == "False"
