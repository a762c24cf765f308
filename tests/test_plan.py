"""salescode plan: a result target worked back through the funnel and the drives links.

The fixture tests/data/plan is small enough to check on paper. Basis 2025-Q1, funnel Lead -> Demo -> Won,
deals active in the quarter (created before 2025-04-01, not closed before 2025-01-01): D01-D12.
  reached (stage column; a lost deal reached up to its lost_stage):
    Ann: D01 Won, D02 Won, D03 lost at Demo, D04 lost at Lead, D05 at Demo -> Lead 5, Demo 4, Won 2
    Bob: D06 Won, D07 lost at Lead, D08 at Lead                           -> Lead 3, Demo 1, Won 1
    Cat: D09 Won, D10 lost at Demo, D11 at Demo, D12 at Lead              -> Lead 4, Demo 3, Won 1
    team                                                                   -> Lead 12, Demo 8, Won 4
  won revenue closed in Q1: Ann 1000 + 3000, Bob 2000, Cat 4000 = 10000
  activities in Q1: calls Ann 10, Bob 6, Cat 8 = 24; meetings Ann 4, Bob 2, Cat 0 = 6
Links: avg deal size 10000 / 4 = 2500; Demo->Won 4 / 8 = 0.5; Lead->Demo 8 / 12 = 2/3;
       calls per Lead 24 / 12 = 2; meetings per Lead 6 / 12 = 0.5.
Target 20000: Won 20000 / 2500 = 8; Demo 8 / 0.5 = 16; Lead 16 / (2/3) = 24; calls 48; meetings 12.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import statistics
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import DATA, REPO, run

PLAN = DATA / "plan" / "metrics.yaml"
SAMPLE = REPO / "metrics.yaml"


@functools.cache  # the same plan is read by several tests; each reads, none changes it
def plan(*args: str, catalog: Path = PLAN) -> dict[str, dict]:
    result = run("plan", "--catalog", str(catalog), "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    return {row["item"]: row for row in json.loads(result.stdout)}


def q1(*args: str) -> dict[str, dict]:
    return plan("--target", "won_revenue=20000", "--basis", "2025-Q1", "--period", "2025-Q2", *args)


def weekdays(first: date, last: date) -> int:
    """Monday-Friday days from first to last, counted one by one."""
    return sum(1 for i in range((last - first).days + 1) if (first + timedelta(i)).weekday() < 5)


def test_the_chain_worked_back_by_hand():
    rows = q1()
    assert [item for item, row in rows.items() if row["kind"] != "capacity"] == [
        "won_revenue",
        "Won",
        "Demo",
        "Lead",
        "calls_made",
        "meetings_held",
    ]
    required = {item: rows[item]["required"] for item in ("won_revenue", "Won", "Demo", "Lead")}
    assert required == pytest.approx({"won_revenue": 20000, "Won": 8, "Demo": 16, "Lead": 24})
    assert rows["calls_made"]["required"] == pytest.approx(48)
    assert rows["meetings_held"]["required"] == pytest.approx(12)
    links = {item: (row["link"], row["observed"], row["sample"], row["status"]) for item, row in rows.items()}
    assert links["Won"] == ("avg_deal_size", 2500, 4, "ok")
    assert links["Demo"] == ("Demo->Won", 0.5, 8, "ok")
    assert links["Lead"][:3] == ("Lead->Demo", pytest.approx(2 / 3), 12)
    assert links["calls_made"] == ("calls_made", 2, 12, "ok")


def test_per_rep_per_week_run_rate_and_gap():
    rows = q1()
    # Q2 2025: 65 weekdays = 13 working weeks; Q1 2025: 64 weekdays. On the team on 2025-04-01: Ann, Bob
    # (Cat left on 2025-03-15) -> 2 reps.
    assert weekdays(date(2025, 4, 1), date(2025, 6, 30)) == 65
    assert weekdays(date(2025, 1, 1), date(2025, 3, 31)) == 64
    lead = rows["Lead"]
    assert lead["per_rep"] == pytest.approx(24 / 2)
    assert lead["per_week"] == pytest.approx(24 / 13)
    assert lead["basis_value"] == 12
    assert lead["run_rate"] == pytest.approx(12 * 65 / 64)
    assert lead["gap"] == pytest.approx(24 - 12 * 65 / 64)
    assert rows["won_revenue"]["run_rate"] == pytest.approx(10000 * 65 / 64)


def test_the_range_is_the_plan_made_with_each_reps_own_ratios():
    # Each rep's chain telescopes to target x (rep's volume) / (rep's result):
    # Lead: Ann 20000 x 5 / 4000 = 25, Bob 20000 x 3 / 2000 = 30, Cat 20000 x 4 / 4000 = 20
    lead = [20000 * 5 / 4000, 20000 * 3 / 2000, 20000 * 4 / 4000]
    deciles = statistics.quantiles(lead, n=10, method="inclusive")  # linear interpolation
    rows = q1()
    assert (rows["Lead"]["low"], rows["Lead"]["high"]) == pytest.approx((deciles[0], deciles[-1]))
    assert (rows["Lead"]["low"], rows["Lead"]["high"]) == pytest.approx((21, 29))
    # meetings: Ann 20000 x 4 / 4000 = 20, Bob 20000 x 2 / 2000 = 20, Cat 0
    assert (rows["meetings_held"]["low"], rows["meetings_held"]["high"]) == pytest.approx((4, 20))
    assert rows["won_revenue"]["low"] is None  # the target itself is not uncertain


def test_round_trip_the_basis_result_gives_back_the_basis_volumes():
    rows = plan("--target", "won_revenue=10000", "--basis", "2025-Q1", "--period", "2025-Q1")
    for item in ("won_revenue", "Won", "Demo", "Lead", "calls_made", "meetings_held"):
        assert rows[item]["required"] == pytest.approx(rows[item]["basis_value"]), item
        assert rows[item]["gap"] == pytest.approx(0, abs=1e-9), item
    assert rows["calls_made"]["basis_value"] == 24


def test_round_trip_on_the_sample_data_against_the_csv_files():
    deals = list(csv.DictReader((REPO / "sample_data" / "deals.csv").open()))
    won_2025 = sum(float(d["amount"]) for d in deals if d["stage"] == "Won" and d["close_date"][:4] == "2025")
    activities = list(csv.DictReader((REPO / "sample_data" / "activities.csv").open()))
    calls = sum(1 for a in activities if a["type"] == "call" and a["date"][:4] == "2025")
    meetings = sum(
        1 for a in activities if a["type"] == "meeting" and a["outcome"] == "held" and a["date"][:4] == "2025"
    )
    rows = plan(
        "--target", f"won_revenue={won_2025:.2f}", "--basis", "2025", "--period", "2025", catalog=SAMPLE
    )
    assert rows["calls_made"]["basis_value"] == calls
    assert rows["meetings_held"]["basis_value"] == meetings
    for item, row in rows.items():
        if row["kind"] != "capacity":
            assert row["required"] == pytest.approx(row["basis_value"], rel=1e-9), item


@pytest.mark.parametrize(
    "text, expected",
    [
        ("win_rate=0.30", ("win_rate", 0.30, False)),
        ("win_rate=30%", ("win_rate", 0.30, False)),  # a value written as a percent
        ("avg_deal_size=+10%", ("avg_deal_size", 0.10, True)),
        ("Demo->Proposal = -5%", ("Demo->Proposal", -0.05, True)),
        ("calls_made=12", ("calls_made", 12.0, False)),
    ],
)
def test_assumptions_are_read(text: str, expected: tuple):
    from salescode.chain import parse_assumption

    found = parse_assumption(text)
    assert (found.link, found.value, found.relative) == pytest.approx(expected)


def test_what_if_win_rate_scales_every_step_to_the_assumed_overall_conversion():
    # observed win rate: Won / Lead = 4 / 12 = 1/3; assumed 0.5 -> each of the 2 steps x sqrt(1.5)
    rows = q1("--assume", "win_rate=0.5")
    assert rows["Won"]["required"] == pytest.approx(8)
    assert rows["Lead"]["required"] == pytest.approx(8 / 0.5)  # 16
    assert rows["Demo"]["used"] == pytest.approx(0.5 * math.sqrt(1.5))
    assert rows["Demo"]["required"] == pytest.approx(8 / (0.5 * math.sqrt(1.5)))
    assert rows["calls_made"]["required"] == pytest.approx(16 * 2)
    assert rows["Demo"]["status"] == "assumed"


def test_what_if_deal_size_and_one_conversion():
    rows = q1("--assume", "avg_deal_size=+25%", "--assume", "Demo->Won=0.8")
    # 2500 x 1.25 = 3125 -> Won 20000 / 3125 = 6.4; Demo 6.4 / 0.8 = 8; Lead 8 / (2/3) = 12; calls 24
    assert rows["Won"]["used"] == pytest.approx(3125)
    assert rows["Won"]["observed"] == 2500
    assert rows["Won"]["required"] == pytest.approx(6.4)
    assert rows["Demo"]["required"] == pytest.approx(8)
    assert rows["Lead"]["required"] == pytest.approx(12)
    assert rows["calls_made"]["required"] == pytest.approx(24)


def test_a_link_over_too_few_deals_is_reported_and_nothing_is_guessed_from_it():
    rows = q1("--min-sample", "5")  # only 4 won deals for the average deal size
    assert rows["Won"]["status"] == "too few (4 < 5)"
    assert rows["Won"]["observed"] == 2500  # shown, but not used
    for item in ("Won", "Demo", "Lead", "calls_made", "meetings_held"):
        assert rows[item]["required"] is None, item
    assert rows["Demo"]["status"] == "needs avg_deal_size"


def test_a_zero_conversion_stops_the_chain():
    # 2024-Q4: D13, D14, D15 all lost at Demo: Lead 3, Demo 3, Won 0 -> Demo->Won = 0 (and no revenue, so the
    # deal size is assumed to get that far): Won 20000 / 2500 = 8, then no way back through a zero conversion.
    rows = plan(
        "--target",
        "won_revenue=20000",
        "--basis",
        "2024-Q4",
        "--period",
        "2025-Q2",
        "-a",
        "avg_deal_size=2500",
    )
    assert rows["Won"]["required"] == pytest.approx(8)
    assert rows["Won"]["status"] == "assumed"
    assert rows["Demo"]["observed"] == 0
    assert rows["Demo"]["status"] == "zero: cannot plan back through it"
    assert rows["Demo"]["required"] is None
    assert rows["Lead"]["status"] == "needs Demo->Won"
    assert rows["calls_made"]["required"] is None


def test_a_win_rate_of_zero_cannot_be_scaled():
    rows = plan("-t", "won_revenue=100", "--basis", "2024-Q4", "-a", "win_rate=0.3", "-a", "avg_deal_size=50")
    assert rows["Won"]["required"] == pytest.approx(2)  # 100 / 50
    assert rows["Demo"]["status"] == "zero: cannot plan back through it"  # Demo->Won is 0 / 3
    assert rows["Lead"]["status"] == "what-if not applicable"  # 3 / 3, but x (0.3 / 0) ** 0.5
    assert rows["Lead"]["required"] is None and rows["Lead"]["used"] is None
    assert rows["reps_needed"]["status"] == "zero: no result in the basis"


def test_capacity_from_ramped_rep_months():
    # ramp_months 1: the hire month is a ramp month. Ramped rep-months of the basis (not the exit month):
    # Ann Jan 0, Feb 1000, Mar 3000; Bob (hired 2025-01) Feb 0, Mar 2000; Cat (left 2025-03-15) Jan 0, Feb 0
    # -> 6000 / 7 per rep-month. Needed for 20000 over 3 months: 20000 / (3 x 6000 / 7) = 70 / 9.
    # Team in Q2: Ann 1 + Bob 1 = 2. One hire from 2025-04-01: (1/2 + 1 + 1) / 3 = 5/6
    # -> hires: ceil((70/9 - 2) / (5/6)) = 7.
    rows = q1()
    assert rows["rep_productivity"]["basis_value"] == pytest.approx(6000 / 7)
    assert rows["rep_productivity"]["sample"] == 7
    assert rows["reps_needed"]["required"] == pytest.approx(70 / 9)
    assert rows["reps_needed"]["run_rate"] == pytest.approx(2)
    assert rows["reps_needed"]["gap"] == pytest.approx(70 / 9 - 2)
    assert rows["hires_needed"]["used"] == pytest.approx(5 / 6)
    assert rows["hires_needed"]["required"] == math.ceil((70 / 9 - 2) / (5 / 6))


def test_a_plan_per_rep_for_each_reps_share_at_their_own_ratios():
    # On the team on 2025-04-01: Ann and Bob (Cat left). Their shares of the basis result 4000 + 2000:
    # Ann 2/3 -> 13333.33, Bob 1/3 -> 6666.67. A rep's requirement: their target x volume / result.
    result = run(
        "plan", "-c", str(PLAN), "-t", "won_revenue=20000", "--basis", "2025-Q1", "--by", "rep", "-f", "csv"
    )
    assert result.exit_code == 0, result.stderr
    rows = {(r["rep"], r["item"]): r for r in csv.DictReader(result.stdout.splitlines())}
    assert {rep for rep, _ in rows} == {"Ann", "Bob"}
    assert list(next(iter(rows.values())))[:3] == ["period", "basis", "rep"]
    expected = {
        ("Ann", "won_revenue"): 20000 * 2 / 3,
        ("Ann", "Won"): 20000 * 2 / 3 * 2 / 4000,  # 2 won deals for 4000 -> 6.67
        ("Ann", "Lead"): 20000 * 2 / 3 * 5 / 4000,  # 16.67
        ("Ann", "calls_made"): 20000 * 2 / 3 * 10 / 4000,  # 33.33
        ("Bob", "Lead"): 20000 / 3 * 3 / 2000,  # 10
        ("Bob", "calls_made"): 20000 / 3 * 6 / 2000,  # 20
    }
    for key, value in expected.items():
        assert float(rows[key]["required"]) == pytest.approx(value), key
    assert rows["Bob", "Lead"]["observed"] == str(1 / 3)  # Bob's own Lead -> Demo
    assert not any(item in {"reps_needed", "hires_needed"} for _, item in rows)


def test_a_plan_per_rep_only_by_rep():
    result = run("plan", "-c", str(PLAN), "-t", "won_revenue=100", "--by", "region")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --by region: a plan breaks down per rep only (--by rep)")


def test_default_periods_on_the_sample_data():
    result = run("plan", "--target", "won_revenue=7500000", "--format", "csv", "--as-of", "2026-01-15")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(result.stdout.splitlines()))
    # basis: the four quarters ending with the latest with data (2025-Q4); the period: the quarter after
    assert {(r["period"], r["basis"]) for r in rows} == {("2026-Q1", "2025-01-01..2025-12-31")}
    items = [r["item"] for r in rows]
    assert items[:7] == ["won_revenue", "Won", "Negotiation", "Proposal", "Demo", "Qualified", "Lead"]
    assert {"calls_made", "meetings_held", "demos_held", "pipeline_created"} <= set(items)


@pytest.mark.parametrize("fmt, phrase", [("table", "Funnel"), ("markdown", "| Funnel | Deals reaching Demo")])
def test_people_formats(fmt: str, phrase: str):
    result = run("plan", "-c", str(PLAN), "-t", "won_revenue=20000", "--basis", "2025-Q1", "-f", fmt)
    assert result.exit_code == 0, result.stderr
    assert phrase in result.stdout
    assert "P10–P90: the same plan" in result.stdout


@pytest.mark.parametrize(
    "args, phrase",
    [
        (["-t", "won_revenue:20000"], "--target 'won_revenue:20000': write METRIC=VALUE"),
        (["-t", "revenue=5"], "--target revenue: no such metric"),
        (
            ["-t", "won_revenue=5", "-a", "win_rat=0.3"],
            "--assume win_rat: no such link (did you mean 'win_rate'?)",
        ),
        (["-t", "won_revenue=5", "-a", "win_rate=0.3", "-a", "Demo->Won=0.5"], "cannot be combined"),
        (["-t", "won_revenue=5", "-a", "win_rate"], "--assume 'win_rate': write LINK=VALUE"),
        (["-t", "won_revenue=5", "--basis", "all"], "--basis all has no length"),
    ],
)
def test_errors(args: list[str], phrase: str):
    result = run("plan", "-c", str(PLAN), *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert phrase in result.stderr


def test_a_target_must_be_a_count_or_a_sum():
    result = run("plan", "-t", "win_rate=0.4")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --target win_rate: a plan starts from a count or a sum")


CATALOG_HEAD = """\
version: 1
sources:
  deals: {path: deals.csv, time: close_date}
  reps: {path: reps.csv, key: rep}
dimensions:
  rep: {label: Rep}
metrics:
  won: {level: result, category: financial, source: deals, agg: count}
funnels:
  pipeline: {source: deals, stage: stage, stages: [Lead, Won]}
"""


def catalog_problems(planning: str) -> list[str]:
    from salescode.catalog import parse_catalog
    from salescode.errors import CatalogError

    with pytest.raises(CatalogError) as caught:
        parse_catalog(CATALOG_HEAD + planning, source=Path("/c/metrics.yaml"), check_expressions=False)
    return caught.value.problems


def test_the_planning_section_is_read():
    from salescode.catalog import Headcount, Potential, parse_catalog

    text = CATALOG_HEAD + (
        "planning:\n  funnel: pipeline\n  headcount: {source: reps, hired: hired_on}\n"
        "  potential: {source: reps, value: potential, by: region}\n  ramp_months: 0\n  min_sample: 3\n"
    )
    planning = parse_catalog(text, source=Path("/c/metrics.yaml"), check_expressions=False).planning
    assert planning.headcount == Headcount("reps", "hired_on", None)
    assert planning.potential == Potential("reps", "potential", "region")
    assert (planning.funnel, planning.rep, planning.ramp_months, planning.min_sample) == (
        "pipeline",
        "rep",
        0,
        3,
    )


@pytest.mark.parametrize(
    "planning, problem",
    [
        ("planning: {funnl: pipeline}", "planning.funnl: unknown key (did you mean 'funnel'?)"),
        ("planning: {funnel: pipe}", "planning.funnel: unknown funnel 'pipe' (did you mean 'pipeline'?)"),
        ("planning: {rep: owner}", "planning.rep: 'owner' is not a dimension"),
        (
            "planning: {headcount: {source: staff, hired: h}}",
            "planning.headcount.source: unknown source 'staff'",
        ),
        ("planning: {headcount: {source: reps}}", "planning.headcount.hired: required key is missing"),
        ("planning: {potential: {source: reps, value: v}}", "planning.potential.by: required key is missing"),
        ("planning: {ramp_months: -1}", "planning.ramp_months: expected a whole number of 0 or more"),
        ("planning: {min_sample: 0}", "planning.min_sample: expected a whole number of 1 or more"),
    ],
)
def test_planning_problems_name_their_key(planning: str, problem: str):
    assert any(p.startswith(problem) for p in catalog_problems(planning + "\n")), catalog_problems(
        planning + "\n"
    )


def test_a_headcount_column_that_is_not_there(tmp_path: Path):
    text = (
        PLAN.read_text()
        .replace("path: ", f"path: {PLAN.parent}/")
        .replace("hired: hire_date", "hired: hired")
    )
    (tmp_path / "metrics.yaml").write_text(text)
    result = run("plan", "-c", str(tmp_path / "metrics.yaml"), "-t", "won_revenue=100", "--basis", "2025-Q1")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert (
        "planning.headcount.hired: source 'reps' has no column 'hired' (did you mean 'hire_date'?)"
        in result.stderr
    )
