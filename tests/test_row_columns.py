"""Metrics whose conditions differ only in their literals are computed apart (engine row columns)."""

from __future__ import annotations

import csv
import io

from conftest import run

DEALS = "id,stage\n1,A\n2,B\n3,C\n4,A\n"
CATALOG = """\
version: 1
sources:
  deals: {path: deals.csv}
metrics:
  a: {level: result, category: financial, source: deals, agg: count, filter: "stage IN ('A')"}
  ab: {level: result, category: financial, source: deals, agg: count, filter: "stage IN ('A', 'B')"}
  abc: {level: result, category: financial, source: deals, agg: count, filter: "stage IN ('A', 'B', 'C')"}
"""


def test_in_lists_of_different_values_are_different_conditions(tmp_path):
    (tmp_path / "deals.csv").write_text(DEALS, encoding="utf-8")
    (tmp_path / "metrics.yaml").write_text(CATALOG, encoding="utf-8")
    result = run("report", "--catalog", str(tmp_path / "metrics.yaml"), "--period", "all", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    values = {r["metric"]: r["value"] for r in csv.DictReader(io.StringIO(result.stdout))}
    # A: deals 1 and 4; A or B: 1, 2, 4; A, B or C: all four
    assert values == {"a": "2", "ab": "3", "abc": "4"}
