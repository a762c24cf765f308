"""salescode trend: values per grain period, rolling and cumulative windows.

Checked two ways: by hand on the tiny fixture (figures as in test_oracle.py: won deals D4 1500 on
2025-08-15, D8 700 on 08-30, D1 1000 on 09-05, D3 2000 on 09-20; lost D5 08-20, D2 09-10, D7 09-25),
and against `salescode report` run separately for each window on the sample data (the report itself
is checked against DuckDB in test_oracle.py).
"""

from __future__ import annotations

import csv
import io

import pytest
from conftest import REPO, TINY, run

from salescode.render import sparkline

TINY_CATALOG = str(TINY / "metrics.yaml")
SAMPLE = str(REPO / "metrics.yaml")


def table(*args: str, catalog: str = TINY_CATALOG) -> list[dict[str, str]]:
    result = run(*args, "--catalog", catalog, "-f", "csv")
    assert result.exit_code == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


def values(rows: list[dict[str, str]], metric: str, column: str = "value") -> list[str]:
    return [row[column] for row in rows if row["metric"] == metric]


def test_monthly_values_by_hand():
    rows = table("trend", "--period", "2025-Q3", "-m", "won_revenue", "-m", "win_rate")
    assert list(rows[0]) == [
        "metric", "label", "level", "category", "period", "window", "value", "target", "attainment",
    ]  # fmt: skip
    assert values(rows, "won_revenue", "period") == ["2025-07", "2025-08", "2025-09"]
    assert values(rows, "won_revenue", "window") == ["2025-07", "2025-08", "2025-09"]
    assert values(rows, "won_revenue") == ["0", "2200", "3000"]
    # quotas: no July rows; August 2000, September 4000
    assert values(rows, "won_revenue", "target") == ["", "2000", "4000"]
    assert [float(v) for v in values(rows, "won_revenue", "attainment")[1:]] == [1.1, 0.75]
    # win rate: July closes nothing (empty), August 2 of 3, September 2 of 4
    assert values(rows, "win_rate")[0] == ""
    assert [float(v) for v in values(rows, "win_rate")[1:]] == pytest.approx([2 / 3, 0.5])


def test_rolling_windows_are_computed_from_the_rows():
    rows = table(
        "trend", "--period", "2025-08..2025-09", "-m", "won_revenue", "-m", "win_rate", "--rolling", "2"
    )
    assert values(rows, "won_revenue", "window") == ["2025-07-01..2025-08-31", "2025-08-01..2025-09-30"]
    assert values(rows, "won_revenue") == ["2200", "5200"]
    # Aug-Sep: 4 won of 7 closed -- not the mean of 2/3 and 1/2
    assert float(values(rows, "win_rate")[1]) == pytest.approx(4 / 7, rel=1e-12)
    # the quota of the window: August 2000 + September 4000
    assert values(rows, "won_revenue", "target") == ["2000", "6000"]


def test_cumulative_windows_run_from_the_start():
    rows = table("trend", "--period", "2025-Q3", "-m", "won_revenue", "--by", "rep", "--cumulative")
    ann = [row for row in rows if row["rep"] == "ann"]
    assert [row["window"] for row in ann] == ["2025-07", "2025-07-01..2025-08-31", "2025-07-01..2025-09-30"]
    assert [row["value"] for row in ann] == ["0", "700", "1700"]
    assert [row["target"] for row in ann] == ["", "1000", "2500"]  # ann's quotas: Aug 1000, Sep 1500


@pytest.mark.parametrize("by", [(), ("--by", "team")])
def test_every_value_equals_the_report_for_its_window(by):
    rows = table("trend", "--period", "2025-Q3", *by, catalog=SAMPLE)
    group = by[1] if by else None
    for month in ("2025-07", "2025-08", "2025-09"):
        report = table("report", "--period", month, *by, catalog=SAMPLE)
        expected = {(r["metric"], r[group] if group else None): r for r in report}
        got = {(r["metric"], r[group] if group else None): r for r in rows if r["period"] == month}
        assert got.keys() == expected.keys()
        for key, row in got.items():
            for column in ("value", "target", "attainment"):
                want = expected[key][column]
                assert (row[column] == want == "") or float(row[column]) == pytest.approx(
                    float(want), rel=1e-9
                ), (
                    key,
                    month,
                    column,
                )


def test_rolling_and_cumulative_equal_the_report_over_the_same_range():
    rolling = table(
        "trend",
        "--period",
        "2025-Q3",
        "--rolling",
        "3",
        "-m",
        "win_rate",
        "-m",
        "won_revenue",
        catalog=SAMPLE,
    )
    report = table(
        "report", "--period", "2025-07..2025-09", "-m", "win_rate", "-m", "won_revenue", catalog=SAMPLE
    )
    last = {r["metric"]: r for r in rolling if r["period"] == "2025-09"}
    for row in report:
        assert float(last[row["metric"]]["value"]) == pytest.approx(float(row["value"]), rel=1e-12)
        assert last[row["metric"]]["target"] == row["target"]
    cumulative = table("trend", "--period", "2025-Q3", "--cumulative", "-m", "won_revenue", catalog=SAMPLE)
    quarter = {row["metric"]: row for row in report}["won_revenue"]
    assert float(cumulative[-1]["value"]) == pytest.approx(float(quarter["value"]), rel=1e-12)


def test_default_range_is_the_twelve_latest_months_with_data():
    rows = table("trend", "-m", "won_revenue", catalog=SAMPLE)
    periods = [row["period"] for row in rows]
    assert periods == [f"2025-{m:02d}" for m in range(1, 13)]  # the sample ends in December 2025


def test_the_period_under_way_is_cut_to_today():
    # On 2025-09-10: September counts D1 only (won 1000 on 09-05; D3 comes on 09-20).
    result = run(
        "trend",
        "--catalog",
        TINY_CATALOG,
        "--period",
        "2025-Q3",
        "-m",
        "won_revenue",
        "--as-of",
        "2025-09-10",
    )
    assert result.exit_code == 0, result.stderr
    assert [row["value"] for row in csv.DictReader(io.StringIO(result.stdout))] == ["0", "2200", "1000"]
    assert "2025-09 is not over: its figures run to 2025-09-10" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "all"], "trend needs a bounded --period"),
        (["--rolling", "2", "--cumulative"], "--rolling and --cumulative exclude each other"),
        (["--period", "2024..2025", "--grain", "day"], "holds more than 400 days"),
        (["--period", "2030", "--as-of", "2025-10-01"], "all begin after 2025-10-01"),
    ],
)
def test_errors(args, message):
    result = run("trend", "--catalog", TINY_CATALOG, *args)
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and message in result.stderr, (
        result.stderr
    )


@pytest.mark.parametrize("fmt", ["table", "markdown", "json", "jsonl", "tsv"])
def test_formats(fmt):
    result = run(
        "trend", "--catalog", SAMPLE, "--period", "2025", "--level", "result", "--by", "team", "-f", fmt
    )
    assert result.exit_code == 0, result.stderr
    assert "Won revenue" in result.stdout or "won_revenue" in result.stdout


def test_sparkline():
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([0, None, 10]) == "▁ █"
    assert sparkline([5, 5]) == "▄▄"
    assert sparkline([None, None]) == "  "
