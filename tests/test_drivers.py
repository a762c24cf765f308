"""`salescode drivers` on a hand-made CRM whose numbers the test computes itself, and on the sample."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from conftest import REPO, run
from test_stats import reference_rho

from salescode.catalog import load_catalog
from salescode.drivers import drive_paths, parse_lags
from salescode.errors import SalescodeError

CATALOG = """\
version: 1
name: Tiny drivers
sources:
  deals: {path: deals.csv, key: deal_id, time: close_date, types: {amount: number, close_date: date}}
  activities: {path: activities.csv, time: date, types: {date: date}}
dimensions:
  rep: {label: Rep}
metrics:
  meetings: {label: Meetings, level: activity, category: call_management, source: activities, agg: count,
             filter: "type = 'meeting'", drives: [pipeline]}
  calls: {label: Calls, level: activity, category: call_management, source: activities, agg: count,
          filter: "type = 'call'", drives: [won_revenue]}
  emails: {label: Emails, level: activity, category: call_management, source: activities, agg: count,
           filter: "type = 'email'"}
  pipeline: {label: Pipeline, level: objective, category: sales_force_capability, source: deals, agg: count,
             drives: [won_revenue]}
  won_revenue: {label: Won revenue, level: result, category: financial, source: deals, agg: sum,
                expr: amount, filter: "stage = 'Won'"}
"""
MONTHS = ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06"]
# Meetings and emails per rep and month; rep C does nothing in June (a unit to leave out).
MEETINGS = {"A": [2, 4, 1, 5, 3, 6], "B": [1, 1, 3, 2, 2, 4], "C": [6, 5, 4, 4, 2, 0]}
EMAILS = {"A": [3, 1, 4, 1, 5, 9], "B": [2, 6, 5, 3, 5, 8], "C": [9, 7, 9, 3, 2, 0]}
# Won revenue follows meetings (1000 each) with a little noise, so the link should be supported.
NOISE = {"A": [120, -80, 40, 0, 60, -30], "B": [-50, 90, 10, -20, 30, 70], "C": [0, 40, -60, 80, -10, 0]}
ARGS = ("--period", "2025-01..2025-06", "--as-of", "2025-07-01")


@pytest.fixture
def crm(tmp_path: Path) -> Path:
    activities = ["activity_id,rep,type,date"]
    deals = ["deal_id,rep,stage,amount,close_date"]
    for rep in MEETINGS:
        for m, month in enumerate(MONTHS):
            kinds = ["meeting"] * MEETINGS[rep][m] + ["email"] * EMAILS[rep][m]
            if MEETINGS[rep][m] or EMAILS[rep][m]:
                kinds.append("call")  # one call in every active month: a constant series
            activities += [f"{rep}{m}{i},{rep},{kind},{month}-10" for i, kind in enumerate(kinds)]
            if MEETINGS[rep][m]:
                amount = 1000 * MEETINGS[rep][m] + NOISE[rep][m]
                deals.append(f"{rep}{m},{rep},Won,{amount},{month}-15")
    (tmp_path / "activities.csv").write_text("\n".join(activities) + "\n")
    (tmp_path / "deals.csv").write_text("\n".join(deals) + "\n")
    (tmp_path / "metrics.yaml").write_text(CATALOG)
    return tmp_path / "metrics.yaml"


def units(lag: int, series: dict[str, list[int]]) -> tuple[list[float], list[float]]:
    """The (metric at t, revenue at t + lag) pairs over units where the rep was active, from the
    fixture's own numbers (June of rep C had no rows at all)."""
    xs, ys = [], []
    for rep in MEETINGS:
        revenue = [1000 * m + n if m else 0 for m, n in zip(MEETINGS[rep], NOISE[rep], strict=True)]
        active = [bool(MEETINGS[rep][m] or EMAILS[rep][m]) for m in range(len(MONTHS))]
        for t in range(len(MONTHS) - lag):
            if active[t] and active[t + lag]:
                xs.append(series[rep][t])
                ys.append(revenue[t + lag])
    return xs, ys


def rows(stdout: str) -> dict[tuple[str, int], dict[str, str]]:
    return {(r["metric"], int(r["lag"])): r for r in csv.DictReader(io.StringIO(stdout))}


def test_drivers_measures_each_linked_metric_against_an_independent_computation(crm):
    result = run("drivers", "--catalog", str(crm), *ARGS, "--format", "csv")
    assert result.exit_code == 0, result.output
    found = rows(result.stdout)
    assert set(found) == {("meetings", 0), ("calls", 0), ("pipeline", 0)}  # emails: not linked
    meetings = found["meetings", 0]
    xs, ys = units(0, MEETINGS)
    assert int(meetings["n"]) == len(xs) == 17  # 18 rep-months, rep C's empty June left out
    assert float(meetings["rho"]) == pytest.approx(reference_rho(xs, ys))
    assert meetings["path"] == "meetings → pipeline → won_revenue"
    # Calls are 1 in every active unit: a constant series has no correlation.
    assert found["calls", 0]["verdict"] == "insufficient data"
    assert found["calls", 0]["rho"] == "" and found["calls", 0]["q_value"] == ""
    assert meetings["verdict"] == "supported"
    assert float(meetings["q_value"]) <= 0.10


def test_lags_pair_this_period_with_later_results(crm):
    result = run("drivers", "--catalog", str(crm), *ARGS, "--lag", "0..1", "--all", "--format", "csv")
    assert result.exit_code == 0, result.output
    found = rows(result.stdout)
    for lag in (0, 1):
        for name, series in (("meetings", MEETINGS), ("emails", EMAILS)):
            xs, ys = units(lag, series)
            assert int(found[name, lag]["n"]) == len(xs)
            assert float(found[name, lag]["rho"]) == pytest.approx(reference_rho(xs, ys))
    assert int(found["meetings", 1]["n"]) == 14  # A and B: 5 pairs each; C: Jan-Apr to Feb-May
    assert found["emails", 0]["linked"] == "false" and found["emails", 0]["path"] == ""


def test_same_seed_same_p_values_and_json_numbers_are_plain(crm):
    first = run("drivers", "--catalog", str(crm), *ARGS, "--format", "json", "--seed", "5")
    second = run("drivers", "--catalog", str(crm), *ARGS, "--format", "json", "--seed", "5")
    assert first.exit_code == 0, first.output
    assert first.stdout == second.stdout
    data = json.loads(first.stdout)
    assert isinstance(data[0]["rho"], float) and isinstance(data[0]["n"], int)


def test_table_and_markdown_show_the_verdicts_and_the_caveat(crm):
    table = run("drivers", "--catalog", str(crm), *ARGS, "--format", "table")
    assert table.exit_code == 0, table.output
    assert "Catalog links the data do not support" in table.stdout
    assert "What a correlation cannot show" in table.stdout
    markdown = run("drivers", "--catalog", str(crm), *ARGS, "--format", "markdown")
    assert "| Meetings | yes | 0 | 17 |" in markdown.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--result", "revenue"), "--result 'revenue': no such metric"),
        (("--lag", "soon"), "--lag 'soon' is not a number"),
        (("--lag", "3..1"), "--lag '3..1'"),
        (("--unit", "team"), "team"),
        (("--fdr", "2"), "--fdr"),
        (("--result", "emails"), "no activity or objective metric drives 'emails'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(crm, args, message):
    result = run("drivers", "--catalog", str(crm), *ARGS, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_parse_lags():
    assert parse_lags("2") == (2,)
    assert parse_lags("0..3") == (0, 1, 2, 3)
    with pytest.raises(SalescodeError):
        parse_lags("-1")


def test_drive_paths_of_the_sample_catalog_follow_the_drives_graph():
    paths = drive_paths(load_catalog(REPO / "metrics.yaml"), "won_revenue")
    assert paths["pipeline_created"] == ["pipeline_created", "won_revenue"]
    assert paths["meetings_held"] == ["meetings_held", "pipeline_created", "won_revenue"]
    assert "avg_meeting_minutes" not in paths  # no drives link
