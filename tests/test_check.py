"""salescode check (the cron alert) and --as-of, on the tiny fixture whose figures are worked out by hand
in test_oracle.py (test_tiny_*):

2025-09 overall: won_revenue 3000 against the quota file's 4000 (attainment 0.75); win_rate 2/4 = 0.5
against 0.4 (1.25); new_deals 3 against 3 per month (1.0). By rep: won_revenue ann 1000/1500, bob
2000/2000, cat 0/500; win_rate ann 0.5, bob 0.5, cat no closed deal (no value) against 0.4 each.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pytest
from conftest import TINY, run

CATALOG = str(TINY / "metrics.yaml")


def check(*args: str):
    return run("check", "--catalog", CATALOG, *args)


def rows(result) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_a_missed_target_exits_1_and_is_printed():
    result = check("--period", "2025-09", "-f", "csv")
    assert result.exit_code == 1, result.stderr
    (miss,) = rows(result)
    assert (miss["metric"], miss["value"], miss["target"], miss["status"]) == (
        "won_revenue",
        "3000",
        "4000",
        "missed",
    )
    assert float(miss["attainment"]) == 0.75
    assert "check: 1 of 3 targets missed in 2025-09" in result.stderr


def test_all_met_exits_0_with_only_a_header():
    # win_rate (1.25) and new_deals (1.0) are met; won_revenue is left out.
    result = check("--period", "2025-09", "-m", "win_rate", "-m", "new_deals", "-f", "csv")
    assert result.exit_code == 0, result.stderr
    assert rows(result) == [] and result.stdout.startswith("metric,label,")
    assert "0 of 2 targets missed" in result.stderr


@pytest.mark.parametrize(("tolerance", "code"), [("0.25", 0), ("0.2499", 1)])
def test_tolerance_is_a_fraction_of_the_target(tolerance, code):
    # won_revenue's attainment is exactly 0.75: met within 25%, missed within 24.99%.
    assert check("--period", "2025-09", "--tolerance", tolerance, "-f", "csv").exit_code == code


def test_by_rep_every_rep_against_quota():
    result = check("--period", "2025-09", "--by", "rep", "--all", "-f", "csv")
    assert result.exit_code == 1
    status = {(r["metric"], r["rep"]): r["status"] for r in rows(result)}
    assert status == {
        ("won_revenue", "ann"): "missed",  # 1000 / 1500
        ("won_revenue", "bob"): "met",  # 2000 / 2000
        ("won_revenue", "cat"): "missed",  # 0 / 500
        ("win_rate", "ann"): "met",
        ("win_rate", "bob"): "met",
        ("win_rate", "cat"): "no value",  # no closed deal: not judged
    }
    assert "2 of 6 targets missed in 2025-09; 1 without a value" in result.stderr
    # Without --all: the misses and the rows without a value.
    shown = rows(check("--period", "2025-09", "--by", "rep", "-f", "csv"))
    assert sorted((r["metric"], r["rep"]) for r in shown) == [
        ("win_rate", "cat"),
        ("won_revenue", "ann"),
        ("won_revenue", "cat"),
    ]


def test_warn_only_prints_misses_and_exits_0():
    result = check("--period", "2025-09", "--warn-only", "-f", "csv")
    assert result.exit_code == 0 and len(rows(result)) == 1


def test_lower_is_better_and_zero_targets(tmp_path):
    # sales_cycle (lower is better): 2025-09 mean 18.5 days. A target of 20 is met (20/18.5 >= 1), 18 is
    # missed. A target of 0 on a count (value 3) is met though value / 0 has no attainment.
    text = (TINY / "metrics.yaml").read_text()
    for target, code in (("20", 0), ("18", 1)):
        catalog = tmp_path / f"cycle{target}.yaml"
        catalog.write_text(
            text.replace(
                "    format: days\n    direction: lower\n",
                f"    format: days\n    direction: lower\n    target: {{value: {target}}}\n",
            )
        )
        for name in ("deals.csv", "reps.csv", "quotas.csv"):
            (tmp_path / name).write_text((TINY / name).read_text())
        result = run(
            "check", "--catalog", str(catalog), "--period", "2025-09", "-m", "sales_cycle", "-f", "csv"
        )
        assert result.exit_code == code, result.stderr
    catalog = tmp_path / "zero.yaml"
    catalog.write_text(text.replace("target: {value: 3, per: month}", "target: {value: 0}"))
    result = run(
        "check", "--catalog", str(catalog), "--period", "2025-09", "-m", "new_deals", "-f", "csv", "--all"
    )
    assert result.exit_code == 0 and rows(result)[0]["status"] == "met", result.stdout


def test_nothing_to_check_is_an_error():
    result = check("--period", "2025-09", "-m", "deals_won")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: nothing to check: no selected metric has a target for 2025-09")


def test_exit_codes_in_a_real_process():
    base = [sys.executable, "-m", "salescode", "check", "--catalog", CATALOG, "--period", "2025-09"]
    assert subprocess.run([*base, "-f", "csv"], capture_output=True).returncode == 1
    assert subprocess.run([*base, "-m", "win_rate"], capture_output=True).returncode == 0
    failed = subprocess.run([*base, "--period", "2025-13"], capture_output=True, text=True)
    assert failed.returncode == 2 and failed.stderr.startswith("error: ")


# --- --as-of ---------------------------------------------------------------------------------------


def test_as_of_makes_relative_periods_reproducible():
    # On 2025-10-15, last-month is 2025-09 and last-quarter 2025-Q3, whatever today is.
    for relative, absolute in (("last-month", "2025-09"), ("last-quarter", "2025-Q3")):
        got = run("report", "--catalog", CATALOG, "--as-of", "2025-10-15", "--period", relative, "-f", "csv")
        want = run("report", "--catalog", CATALOG, "--period", absolute, "-f", "csv")
        assert got.exit_code == 0 and got.stdout == want.stdout


def test_as_of_caps_the_default_period():
    # The latest data is of 2025-09; on 2025-08-31 the default period is 2025-08.
    result = run("report", "--catalog", CATALOG, "--as-of", "2025-08-31", "-m", "deals_won", "-f", "csv")
    assert rows(result)[0]["period"] == "2025-08"
    result = run("check", "--catalog", CATALOG, "--as-of", "2025-08-31", "-f", "csv", "--all")
    assert {r["period"] for r in rows(result)} == {"2025-08"}


def test_as_of_must_be_a_date():
    result = run("report", "--catalog", CATALOG, "--as-of", "2025-13-01")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --as-of '2025-13-01' is not a date; write it as YYYY-MM-DD"


# --- --compare and periods under way ------------------------------------------------------------------


def report_rows(*args: str) -> dict[str, dict[str, str]]:
    result = run("report", "--catalog", CATALOG, "-f", "csv", *args)
    assert result.exit_code == 0, result.stderr
    return {row["metric"]: row for row in rows(result)}


def test_compare_none_and_year_ago():
    plain = report_rows("--period", "2025-09", "--compare", "none")
    assert plain["won_revenue"]["value"] == "3000"
    assert (plain["won_revenue"]["previous"], plain["won_revenue"]["change"]) == ("", "")
    # A year earlier (2024-09) the fixture has no deals: counts and sums 0, ratios empty.
    year_ago = report_rows("--period", "2025-09", "--compare", "year-ago")
    assert (year_ago["won_revenue"]["previous"], year_ago["won_revenue"]["change"]) == ("0", "3000")
    assert year_ago["win_rate"]["previous"] == "" and year_ago["win_rate"]["value"] == "0.5"


def test_a_period_under_way_is_compared_over_as_many_days():
    # On 2025-09-10 September is under way: closed by then D1 (won 1000, 09-05) and D2 (lost, 09-10);
    # compared with 2025-08-01..2025-08-10, when nothing closed (D4 08-15, D5 08-20, D8 08-30).
    result = run("report", "--catalog", CATALOG, "-f", "csv", "--as-of", "2025-09-10")
    got = {row["metric"]: row for row in rows(result)}
    assert got["won_revenue"]["period"] == "2025-09"
    assert (got["won_revenue"]["value"], got["won_revenue"]["previous"]) == ("1000", "0")
    assert (got["deals_closed"]["value"], got["deals_closed"]["previous"]) == ("2", "0")
    assert (got["win_rate"]["value"], got["win_rate"]["previous"]) == ("0.5", "")
    assert (
        "2025-09 is not over: its figures run to 2025-09-10, compared with 2025-08-01..2025-08-10"
        in result.stderr
    )
    table = run("report", "--catalog", CATALOG, "-f", "markdown", "--as-of", "2025-09-10")
    assert table.stdout.startswith("## Tiny Co — 2025-09 (to 2025-09-10) vs 2025-08-01..2025-08-10")


def test_fiscal_periods_follow_the_catalog(tmp_path):
    # fiscal_year_start: 8 -> FY2026-Q1 is August to October 2025; FY2026-Q2 the quarter after.
    for name in ("deals.csv", "reps.csv", "quotas.csv"):
        (tmp_path / name).write_text((TINY / name).read_text())
    text = (
        (TINY / "metrics.yaml")
        .read_text()
        .replace("currency: USD\n", "currency: USD\nfiscal_year_start: 8\n")
    )
    (tmp_path / "metrics.yaml").write_text(text)
    result = run("report", "--catalog", str(tmp_path / "metrics.yaml"), "--period", "FY2026-Q1", "-f", "csv")
    got = {row["metric"]: row for row in rows(result)}
    # closed Aug-Oct 2025: all but D6 (open); won D1 1000, D3 2000, D4 1500, D8 700
    assert got["won_revenue"]["period"] == "FY2026-Q1" and got["won_revenue"]["value"] == "5200"
    assert got["won_revenue"]["previous"] == "0"  # FY2025-Q4: May to July 2025
