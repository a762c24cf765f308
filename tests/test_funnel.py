"""salescode funnel: stage reach, conversion, drop-off, time in stage, value, vs_team and bottleneck.

Part 1 runs small fixtures (tests/data/funnel) whose every figure is worked out by hand in the comments
below, one fixture per way a CRM export can say where a deal got to (DESIGN.md §2 and §5):
  (a) stage_column/  a current-stage column only (cumulative);
  (b) history/       a stage-history source (one row per stage entered);
  (c) conditions/    per-stage conditions on HubSpot-style "date entered" columns.
Part 2 compares every figure on the bundled sample data (metrics.yaml, funnel `pipeline`) with an
independent DuckDB SQL computation written from the documented semantics.

Documented semantics used throughout:
- reached(k): deals at stage k or beyond (cumulative from the furthest stage a deal got to);
  conversion = reached(k) / reached(k-1), empty for the first stage and when reached(k-1) = 0;
  overall = reached(k) / reached(first), empty when reached(first) = 0.
- dropped(k): lost deals whose furthest stage is k.
- value_reached(k): sum of the funnel's value column over the deals that reached k (0 over none).
- days in stage: from entering a stage to entering the next one; a deal's time in a stage it visited
  twice is summed; median and mean over the deals with a finished visit. No days without dates.
- bottleneck: without --by, the step with the lowest conversion; with --by, each group's step with the
  most negative vs_team = group conversion - team conversion (team: from reached summed over groups).
- --strict: a deal counts at a stage only if it entered every earlier stage too.
- --period P: deals active in P (created before its end, not closed before its start);
  --cohort: deals created in P; --period all: every deal.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import duckdb
import pytest
from conftest import DATA, REPO, run

FUNNEL_DATA = DATA / "funnel"
STAGE_COLUMN = FUNNEL_DATA / "stage_column" / "metrics.yaml"
HISTORY = FUNNEL_DATA / "history" / "metrics.yaml"
CONDITIONS = FUNNEL_DATA / "conditions" / "metrics.yaml"
SAMPLE = REPO / "metrics.yaml"

COLUMNS = [
    "funnel",
    "stage",
    "step",
    "reached",
    "conversion",
    "overall",
    "dropped",
    "median_days_in_stage",
    "mean_days_in_stage",
    "value_reached",
    "vs_team",
    "vs_previous",
    "bottleneck",
]
FIVE = ["Lead", "Qualified", "Demo", "Proposal", "Won"]
NO_DAYS = [None] * 5


# --- helpers ----------------------------------------------------------------------------------------


def funnel(catalog: Path, *args: str) -> tuple[list[dict], str]:
    """Run `salescode funnel` with --format json; the rows and stderr."""
    result = run("funnel", *args, "--catalog", str(catalog), "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def _same(got, expected) -> bool:
    if expected is None or isinstance(expected, bool) or isinstance(got, bool):
        return got is expected
    if got is None or not isinstance(expected, int | float):
        return got == expected
    return got == pytest.approx(expected, rel=1e-9, abs=1e-12)


def check(rows: list[dict], **expected: list) -> None:
    """Each named column, stage by stage, against the expected list (floats to 1e-9)."""
    for name, values in expected.items():
        got = [row[name] for row in rows]
        assert len(got) == len(values) and all(_same(g, e) for g, e in zip(got, values, strict=True)), (
            f"{name}: got {got}, expected {values}"
        )


def group(rows: list[dict], dim: str, value: str) -> list[dict]:
    return [row for row in rows if row[dim] == value]


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


# =====================================================================================================
# (a) Current-stage column only: tests/data/funnel/stage_column
#
# deal rep stage       lost_at   amount created     closed      furthest  furthest
#                                                               (no lost_stage) (lost_stage: lost_at)
# A01  ana Lead                  100   2025-07-05              0 Lead     0
# A02  ana Qualified             200   2025-06-10              1 Qual     1
# A03  ana Demo                  300   2025-08-01              2 Demo     2
# A04  ana Won                   400   2025-05-01 2025-07-20   4 Won      4
# A05  ana Closed Won            500   2025-07-10 2025-09-15   4 Won      4   (merged into Won by match:)
# A06  ana Lost        Qualified 600   2025-07-15 2025-08-20   3 Proposal 1   (lost: before the last stage)
# A07  ben Proposal              700   2025-04-01              3          3
# A08  ben Lost        Lead      800   2025-03-01 2025-06-15   3          0
# A09  ben Lost        Demo      900   2025-08-10 2025-09-01   3          2
# A10  ben Lead                  1000  2025-10-05              0          0
# A11  ben Nurture               1100  2025-07-01              unknown: left out with a warning
# A12  ana Nurture               1200  2025-11-01              unknown: left out with a warning
# A13  ben On Hold               1300  2025-07-02              unknown: left out with a warning
# A14  ana Duplicate             1400  2025-07-03              exclude: left out quietly
# =====================================================================================================


def test_stage_column_cumulative_all_deals():
    rows, stderr = funnel(STAGE_COLUMN, "cumulative", "--period", "all")
    assert list(rows[0]) == COLUMNS
    check(
        rows,
        funnel=["cumulative"] * 5,
        stage=FIVE,
        step=[1, 2, 3, 4, 5],
        # furthest >= k over A01..A10: 10; minus A01, A10 -> 8; minus A02 -> 7; minus A03 -> 6;
        # Won: A04, A05 -> 2
        reached=[10, 8, 7, 6, 2],
        conversion=[None, 8 / 10, 7 / 8, 6 / 7, 2 / 6],
        overall=[1.0, 0.8, 0.7, 0.6, 0.2],
        # the three lost deals (A06, A08, A09) reached every stage before Won: dropped at Proposal
        dropped=[0, 0, 0, 3, 0],
        median_days_in_stage=NO_DAYS,
        mean_days_in_stage=NO_DAYS,
        vs_team=[None] * 5,
        # 100+...+1000 = 5500; -100-1000 = 4400; -200 = 4200; -300 = 3900; A04+A05 = 900
        value_reached=[5500, 4400, 4200, 3900, 900],
        bottleneck=[False, False, False, False, True],  # lowest conversion: Won 1/3
    )


def test_stage_column_unknown_values_warn_with_counts_and_exclude_is_quiet():
    rows, stderr = funnel(STAGE_COLUMN, "cumulative", "--period", "all")
    lines = warnings(stderr)
    assert len(lines) == 1, stderr
    assert re.search(r"Nurture\W+2\b", lines[0]) and re.search(r"On Hold\W+1\b", lines[0]), lines[0]
    assert "Duplicate" not in stderr  # listed under exclude:
    # None of the unknown or excluded deals (1100, 1200, 1300, 1400) is in the funnel.
    assert rows[0]["reached"] == 10 and rows[0]["value_reached"] == pytest.approx(5500)


def test_stage_column_lost_stage_column():
    rows, stderr = funnel(STAGE_COLUMN, "with_lost_stage", "--period", "all")
    check(
        rows,
        stage=FIVE,
        # furthest: A01 0, A02 1, A03 2, A04 4, A05 4, A06 1, A07 3, A08 0, A09 2, A10 0
        # >=1: A02 A03 A04 A05 A06 A07 A09 = 7; >=2: A03 A04 A05 A07 A09 = 5; >=3: A04 A05 A07 = 3
        reached=[10, 7, 5, 3, 2],
        conversion=[None, 7 / 10, 5 / 7, 3 / 5, 2 / 3],
        overall=[1.0, 0.7, 0.5, 0.3, 0.2],
        dropped=[1, 1, 1, 0, 0],  # A08 at Lead, A06 at Qualified, A09 at Demo
        # Qual: 200+300+400+500+600+700+900 = 3600; Demo: 300+400+500+700+900 = 2800;
        # Proposal: 400+500+700 = 1600
        value_reached=[5500, 3600, 2800, 1600, 900],
        median_days_in_stage=NO_DAYS,
        bottleneck=[False, False, False, True, False],  # lowest: Proposal 0.6
    )


def test_stage_column_period_counts_deals_active_in_it():
    # 2025-Q3 = [2025-07-01, 2025-10-01). Active: created before 2025-10-01 and not closed before
    # 2025-07-01: A01..A07 and A09 (A08 closed 2025-06-15, A10 created 2025-10-05).
    rows, stderr = funnel(STAGE_COLUMN, "cumulative", "--period", "2025-Q3")
    check(
        rows,
        # furthest: A01 0, A02 1, A03 2, A04 4, A05 4, A06 3, A07 3, A09 3
        reached=[8, 7, 6, 5, 2],
        conversion=[None, 7 / 8, 6 / 7, 5 / 6, 2 / 5],
        overall=[1.0, 7 / 8, 6 / 8, 5 / 8, 2 / 8],
        dropped=[0, 0, 0, 2, 0],  # A06, A09
        # 100+200+300+400+500+600+700+900 = 3700; 3600; 3400; 400+500+600+700+900 = 3100; 900
        value_reached=[3700, 3600, 3400, 3100, 900],
        # The previous period, 2025-Q2, holds A02 (1), A04 (4), A07 (3) and A08 (lost: 3):
        # reached 4, 4, 3, 3, 1 -> conversion -, 1, 3/4, 1, 1/3.
        vs_previous=[None, 7 / 8 - 1, 6 / 7 - 3 / 4, 5 / 6 - 1, 2 / 5 - 1 / 3],
        # The bottleneck is the step whose conversion fell most: Proposal (-1/6; Qualified -1/8).
        bottleneck=[False, False, False, True, False],
    )
    # Left out in the period: A11 (Nurture) and A13 (On Hold); A12 is created after it.
    (line,) = warnings(stderr)
    assert re.search(r"Nurture\W+1\b", line) and re.search(r"On Hold\W+1\b", line), line


def test_stage_column_cohort_counts_deals_created_in_period():
    # Created in 2025-Q3: A01 (07-05), A03 (08-01), A05 (07-10), A06 (07-15), A09 (08-10);
    # unknown A11, A13; excluded A14.
    rows, stderr = funnel(STAGE_COLUMN, "cumulative", "--period", "2025-Q3", "--cohort")
    check(
        rows,
        # furthest: A01 0, A03 2, A05 4, A06 3, A09 3
        reached=[5, 4, 4, 3, 1],
        conversion=[None, 4 / 5, 1.0, 3 / 4, 1 / 3],
        overall=[1.0, 0.8, 0.8, 0.6, 0.2],
        dropped=[0, 0, 0, 2, 0],
        # 100+300+500+600+900 = 2400; 2300; 2300; 500+600+900 = 2000; 500
        value_reached=[2400, 2300, 2300, 2000, 500],
        # Created in 2025-Q2: A02 (1), A04 (4), A07 (3): reached 3, 3, 2, 2, 1 -> -, 1, 2/3, 1, 1/2.
        vs_previous=[None, 4 / 5 - 1, 1 - 2 / 3, 3 / 4 - 1, 1 / 3 - 1 / 2],
        bottleneck=[False, False, False, True, False],  # Proposal fell most (-0.25)
    )
    (line,) = warnings(stderr)
    assert re.search(r"Nurture\W+1\b", line) and re.search(r"On Hold\W+1\b", line), line


def test_stage_column_by_rep_lost_stage():
    rows, _ = funnel(STAGE_COLUMN, "with_lost_stage", "--period", "all", "--by", "rep")
    assert [row["rep"] for row in rows] == ["ana"] * 5 + ["ben"] * 5
    assert list(rows[0]) == COLUMNS[:3] + ["rep"] + COLUMNS[3:]
    # team (summed): 10, 7, 5, 3, 2 -> conversion -, .7, 5/7, .6, 2/3
    team = [None, 7 / 10, 5 / 7, 3 / 5, 2 / 3]
    # ana: A01 0, A02 1, A03 2, A04 4, A05 4, A06 1
    ana = [None, 5 / 6, 3 / 5, 2 / 3, 2 / 2]
    check(
        group(rows, "rep", "ana"),
        stage=FIVE,
        reached=[6, 5, 3, 2, 2],
        conversion=ana,
        overall=[1.0, 5 / 6, 3 / 6, 2 / 6, 2 / 6],
        dropped=[0, 1, 0, 0, 0],
        value_reached=[2100, 2000, 1200, 900, 900],
        vs_team=[None] + [a - t for a, t in zip(ana[1:], team[1:], strict=True)],
        bottleneck=[False, False, True, False, False],  # Demo: 0.6 - 5/7 = -0.114, the only one below
    )
    # ben: A07 3, A08 0, A09 2, A10 0
    ben = [None, 2 / 4, 2 / 2, 1 / 2, 0 / 1]
    check(
        group(rows, "rep", "ben"),
        reached=[4, 2, 2, 1, 0],
        conversion=ben,
        overall=[1.0, 0.5, 0.5, 0.25, 0.0],
        dropped=[1, 0, 1, 0, 0],
        value_reached=[3400, 1600, 1600, 700, 0],
        # -0.2, +0.286, -0.1, -0.667: furthest below the team at Won
        vs_team=[None] + [b - t for b, t in zip(ben[1:], team[1:], strict=True)],
        bottleneck=[False, False, False, False, True],
    )


def test_stage_column_by_rep_vs_previous_period():
    # 2025-Q3 against 2025-Q2, per rep (deals active in each; lost deals count up to Proposal).
    rows, _ = funnel(STAGE_COLUMN, "cumulative", "--period", "2025-Q3", "--by", "rep")
    # ana Q3: A01 0, A02 1, A03 2, A04 4, A05 4, A06 3 -> 6, 5, 4, 3, 2; Q2: A02 1, A04 4 -> 2, 2, 1, 1, 1
    check(
        group(rows, "rep", "ana"),
        reached=[6, 5, 4, 3, 2],
        vs_previous=[None, 5 / 6 - 1, 4 / 5 - 1 / 2, 3 / 4 - 1, 2 / 3 - 1],
    )
    # ben Q3: A07 3, A09 3; Q2: A07 3, A08 3 -> 2, 2, 2, 2, 0 both: no change
    check(group(rows, "rep", "ben"), reached=[2, 2, 2, 2, 0], vs_previous=[None, 0.0, 0.0, 0.0, 0.0])


def test_by_rep_matrix_is_a_row_per_rep():
    # The same figures as test_stage_column_by_rep_lost_stage: ana 6 deals, conversions -, 5/6, 3/5, 2/3, 1
    # against the team's -, .7, 5/7, .6, 2/3: gaps +13, -11 (bottleneck), +7, +33 points.
    result = run(
        "funnel", "with_lost_stage", "--period", "all", "--by", "rep", "--matrix",
        "--catalog", str(STAGE_COLUMN), "--format", "markdown",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "| Sales rep | Lead (deals) | Qualified | Demo | Proposal | Won |" in lines
    assert "| ana | 6 | 83.3% (+13) | 60.0% (-11) ◀ | 66.7% (+7) | 100.0% (+33) |" in lines
    # ben 4 deals: -, 2/4, 2/2, 1/2, 0/1: gaps -20, +29, -10, -67 (bottleneck)
    assert "| ben | 4 | 50.0% (-20) | 100.0% (+29) | 50.0% (-10) | 0.0% (-67) ◀ |" in lines
    # csv is the tidy funnel, whatever the view
    args = ["funnel", "with_lost_stage", "--period", "all", "--by", "rep", "--catalog", str(STAGE_COLUMN)]
    plain, matrix = run(*args, "-f", "csv"), run(*args, "--matrix", "-f", "csv")
    assert matrix.stdout == plain.stdout
    result = run("funnel", "--matrix", "--catalog", str(STAGE_COLUMN))
    assert result.exit_code == 2 and result.stderr.startswith("error: --matrix shows one row per --by group")


def test_stage_column_by_rep_cumulative():
    rows, _ = funnel(STAGE_COLUMN, "cumulative", "--period", "all", "--by", "rep")
    team = [None, 8 / 10, 7 / 8, 6 / 7, 2 / 6]
    # ana: A01 0, A02 1, A03 2, A04 4, A05 4, A06 3 -> 6, 5, 4, 3, 2
    ana = [None, 5 / 6, 4 / 5, 3 / 4, 2 / 3]
    check(
        group(rows, "rep", "ana"),
        reached=[6, 5, 4, 3, 2],
        dropped=[0, 0, 0, 1, 0],
        value_reached=[2100, 2000, 1800, 1500, 900],
        vs_team=[None] + [a - t for a, t in zip(ana[1:], team[1:], strict=True)],
        bottleneck=[False, False, False, True, False],  # +.033, -.075, -.107, +.333
    )
    # ben: A07 3, A08 3, A09 3, A10 0 -> 4, 3, 3, 3, 0
    ben = [None, 3 / 4, 3 / 3, 3 / 3, 0 / 3]
    check(
        group(rows, "rep", "ben"),
        reached=[4, 3, 3, 3, 0],
        dropped=[0, 0, 0, 2, 0],
        value_reached=[3400, 2400, 2400, 2400, 0],
        vs_team=[None] + [b - t for b, t in zip(ben[1:], team[1:], strict=True)],
        bottleneck=[False, False, False, False, True],  # -.05, +.125, +.143, -.333
    )


def test_stage_column_empty_stages_and_zero_denominators():
    # Created in 2025-10: only A10 (Lead). Qualified reached 0 (conversion 0/1 = 0); after it every
    # conversion is 0/0: empty, never an error or infinity.
    rows, _ = funnel(STAGE_COLUMN, "cumulative", "--period", "2025-10", "--cohort")
    check(
        rows,
        reached=[1, 0, 0, 0, 0],
        conversion=[None, 0.0, None, None, None],
        overall=[1.0, 0.0, 0.0, 0.0, 0.0],
        dropped=[0] * 5,
        value_reached=[1000, 0, 0, 0, 0],
        # No deal was created in 2025-09: nothing to compare with, so the lowest conversion.
        vs_previous=[None] * 5,
        bottleneck=[False, True, False, False, False],
    )
    # By rep: ben alone, so he is the team: vs_team 0 where both conversions exist, no bottleneck.
    rows, _ = funnel(STAGE_COLUMN, "cumulative", "--period", "2025-10", "--cohort", "--by", "rep")
    check(
        rows,
        rep=["ben"] * 5,
        reached=[1, 0, 0, 0, 0],
        conversion=[None, 0.0, None, None, None],
        vs_team=[None, 0.0, None, None, None],
        bottleneck=[False] * 5,
    )
    # No deal at all (created in 2024-01): zero counts, every ratio empty, no bottleneck.
    rows, _ = funnel(STAGE_COLUMN, "cumulative", "--period", "2024-01", "--cohort")
    check(
        rows,
        stage=FIVE,
        reached=[0] * 5,
        conversion=[None] * 5,
        overall=[None] * 5,
        dropped=[0] * 5,
        value_reached=[0] * 5,
        bottleneck=[False] * 5,
    )


def test_stage_column_cohort_table_by_quarter_created():
    # One funnel per quarter of creation (A11..A13: unknown stage, A14: excluded):
    # Q1 A08 (lost, 3); Q2 A02 1, A04 4, A07 3; Q3 A01 0, A03 2, A05 4, A06 3, A09 3; Q4 A10 0.
    rows, stderr = funnel(STAGE_COLUMN, "cumulative", "--cohort", "--grain", "quarter")
    assert list(rows[0]) == COLUMNS[:3] + ["cohort"] + COLUMNS[3:]
    assert [row["cohort"] for row in rows] == [f"2025-Q{q}" for q in (1, 2, 3, 4) for _ in FIVE]
    # All cohorts together: 10, 8, 7, 6, 2 -> conversion -, .8, 7/8, 6/7, 1/3.
    team = [None, 0.8, 7 / 8, 6 / 7, 1 / 3]
    cases = {
        "2025-Q1": ([1, 1, 1, 1, 0], [None, 1, 1, 1, 0], 4),  # Won: 0 - 1/3
        "2025-Q2": ([3, 3, 2, 2, 1], [None, 1, 2 / 3, 1, 1 / 2], 2),  # Demo: 2/3 - 7/8
        "2025-Q3": ([5, 4, 4, 3, 1], [None, 0.8, 1, 3 / 4, 1 / 3], 3),  # Proposal: 3/4 - 6/7
        "2025-Q4": ([1, 0, 0, 0, 0], [None, 0, None, None, None], 1),  # Qualified: 0 - 0.8
    }
    for cohort, (reached, conversion, worst) in cases.items():
        gaps = [None if c is None else c - t for c, t in zip(conversion, team, strict=True)]
        check(
            group(rows, "cohort", cohort),
            stage=FIVE,
            reached=reached,
            conversion=conversion,
            overall=[r / reached[0] for r in reached],
            vs_team=gaps,
            vs_previous=[None] * 5,
            bottleneck=[i == worst for i in range(5)],
        )
    # The period bounds the cohorts; deals left out for their stage are still named.
    rows, stderr = funnel(STAGE_COLUMN, "cumulative", "--cohort", "--grain", "month", "--period", "2025-Q2")
    assert sorted({row["cohort"] for row in rows}) == ["2025-04", "2025-05", "2025-06"]
    assert [row["reached"] for row in rows if row["step"] == 1] == [1, 1, 1]


def test_cohort_table_renders_a_row_per_cohort():
    for fmt in ("table", "markdown"):
        result = run(
            "funnel",
            "cumulative",
            "--cohort",
            "--grain",
            "quarter",
            "--catalog",
            str(STAGE_COLUMN),
            "-f",
            fmt,
        )
        assert result.exit_code == 0, result.stderr
        lines = [line for line in result.stdout.splitlines() if "2025-Q" in line]
        assert len(lines) == 4, result.stdout
        # Q2: 3 deals; Won reached by 1 of them (33.3%), its Demo step the furthest below the rest.
        assert re.search(r"2025-Q2\W+3\W+3 \(100\.0%\)\W+2 \(66\.7%\) ◀", lines[1]), lines[1]


def report_rows(catalog: Path, *args: str) -> list[dict]:
    result = run("report", *args, "--catalog", str(catalog), "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_conversion_metrics_in_report():
    # Active in 2025-Q3: reached 8, 7, 6, 5, 2 -> Qualified -> Proposal = 5/7; 2025-Q2: 4, 4, 3, 3, 1 -> 3/4.
    # Created in 2025-Q3: 5, 4, 4, 3, 1 -> Lead -> Won = 1/5; in 2025-Q2: 3, 3, 2, 2, 1 -> 1/3.
    rows = {row["metric"]: row for row in report_rows(STAGE_COLUMN, "--period", "2025-Q3")}
    step = rows["qualified_to_proposal"]
    assert (step["value"], step["previous"], step["target"]) == pytest.approx((5 / 7, 3 / 4, 0.75))
    assert step["attainment"] == pytest.approx((5 / 7) / 0.75)
    assert step["change"] == pytest.approx(5 / 7 - 3 / 4)
    won = rows["lead_to_won"]
    assert (won["value"], won["previous"], won["target"]) == pytest.approx((1 / 5, 1 / 3, None))
    assert [won["level"], step["level"]] == ["result", "objective"]


def test_conversion_metrics_by_rep_and_over_no_deals():
    rows = report_rows(STAGE_COLUMN, "--period", "2025-Q3", "--by", "rep", "-m", "qualified_to_proposal")
    # ana: 6, 5, 4, 3, 2 -> 3/5 (Q2: A02 1, A04 4 -> 2, 2, 1, 1, 1 -> 1/2); ben: 2, 2, 2, 2, 0 -> 1 (Q2: 1)
    values = {row["rep"]: (row["value"], row["previous"]) for row in rows}
    assert values == {"ana": pytest.approx((3 / 5, 1 / 2)), "ben": pytest.approx((1.0, 1.0))}
    # 2024-01: no deal at all: the conversion is empty (0 / 0), never an error.
    (row,) = report_rows(STAGE_COLUMN, "--period", "2024-01", "-m", "lead_to_won")
    assert row["value"] is None and row["previous"] is None


def test_stage_column_stage_that_never_occurs_warns_with_did_you_mean():
    # stages: [..., Proposl, ...]: 'Proposl' is never a stage value; the data's 'Proposal' (A07) is then
    # an unknown value, left out with its count.
    rows, stderr = funnel(STAGE_COLUMN, "typo", "--period", "all")
    lines = warnings(stderr)
    typo = [line for line in lines if "Proposl" in line]
    assert typo and "did you mean 'Proposal'" in typo[0], stderr
    unknown = [line for line in lines if "Proposl" not in line]
    assert len(unknown) == 1 and re.search(r"Proposal\W+1\b", unknown[0]), stderr
    # A01..A10 without A07: furthest 0,1,2,4,4,3,3,3,0 -> 9, 7, 6, 5, 2
    check(rows, stage=["Lead", "Qualified", "Demo", "Proposl", "Won"], reached=[9, 7, 6, 5, 2])


# =====================================================================================================
# (b) Stage history: tests/data/funnel/history (stage_history.csv; transitions.csv holds the same
# rows shuffled, with columns deal_id, to_stage, changed_at). Dates are 2025-01-dd / 2025-02-dd.
#
# deal rep stage(now) amount  history (entered)                                 furthest strict
# H01  ana Won         100    Lead 01 Qual 05 Demo 15 Prop 25 Won 02-04            4 Won   4
# H02  ana Won         200    Lead 02 Qual 04 Prop 10 Won 30 (skipped Demo)         4       1 Qual
# H03  ana Lost        400    Lead 03 Qual 10 Demo 20 Lost 02-09                    2 Demo  2
# H04  ana Proposal    800    Lead 01 Qual 11 Demo 21 Prop 31 Demo 02-10 Prop 02-15 3       3
# H05  ana Qualified   1600   Lead 05 Qual 08 Demo 18 Qual 28 (went back)           2 Demo  2
# H06  ben Lost        3200   Lead 02 Lost 12                                       0       0
# H07  ben Lost        6400   Lead 01 Demo 06 Lost 26 (skipped Qual)                2       0
# H08  ben Lead        12800  Lead 10                                               0       0
# H09  ben Won         25600  Lead 01 Qual 03 Demo 07 Prop 15 Won 31                4       4
# H10  ben Qualified   51200  Lead 04 Qual 09                                       1       1
# H11  ben Proposal    102400 Qual 02 Demo 12 Prop 22 (no Lead)                     3       none
# H99  (history only, not a deal of the source: ignored)
#
# Days in stage per deal (to the next entry, any stage incl. Lost/Won; repeated visits summed):
#        Lead Qual Demo      Prop
# H01    4    10   10        10
# H02    2    6    -         20
# H03    7    10   20        -
# H04    10   10   10+5=15   10 (second visit still open)
# H05    3    10   10        -    (second Qual visit still open)
# H06    10   -    -         -
# H07    5    -    20        -
# H09    2    4    8         16
# H10    5    -    -         -
# H11    -    10   10        -    (Proposal still open)
# Lead [2,2,3,4,5,5,7,10,10]: median 5, mean 48/9; Qual [4,6,10,10,10,10,10]: median 10, mean 60/7;
# Demo [8,10,10,10,15,20,20]: median 10, mean 93/7; Prop [10,10,16,20]: median 13, mean 14; Won none.
# =====================================================================================================

HISTORY_FUNNELS = ["history", "history_named"]
HISTORY_MEDIAN = [5, 10, 10, 13, None]
HISTORY_MEAN = [48 / 9, 60 / 7, 93 / 7, 14, None]


@pytest.mark.parametrize("name", HISTORY_FUNNELS)
def test_history_furthest_stage_entered(name):
    rows, _ = funnel(HISTORY, name, "--period", "all")
    check(
        rows,
        funnel=[name] * 5,
        stage=FIVE,
        # >=1: all but H06, H08 = 9; >=2: minus H10 = 8; >=3: H01 H02 H04 H09 H11 = 5;
        # Won: H01 H02 H09 = 3 (H04 went back to Demo, H05 to Qualified: the furthest still counts)
        reached=[11, 9, 8, 5, 3],
        conversion=[None, 9 / 11, 8 / 9, 5 / 8, 3 / 5],
        overall=[1.0, 9 / 11, 8 / 11, 5 / 11, 3 / 11],
        dropped=[1, 0, 2, 0, 0],  # H06 at Lead; H03 and H07 (skipped Qualified) at Demo
        # all 204700; -3200-12800 = 188700; -51200 = 137500; 100+200+800+25600+102400 = 129100;
        # 100+200+25600 = 25900
        value_reached=[204700, 188700, 137500, 129100, 25900],
        median_days_in_stage=HISTORY_MEDIAN,
        mean_days_in_stage=HISTORY_MEAN,
        vs_team=[None] * 5,
        bottleneck=[False, False, False, False, True],  # Won 0.6
    )


@pytest.mark.parametrize("name", HISTORY_FUNNELS)
def test_history_strict_counts_only_unbroken_runs(name):
    rows, _ = funnel(HISTORY, name, "--period", "all", "--strict")
    check(
        rows,
        # strict furthest: H01 4, H02 1, H03 2, H04 3, H05 2, H06 0, H07 0, H08 0, H09 4, H10 1, H11 none
        # Lead: all but H11 = 10; Qual: H01 H02 H03 H04 H05 H09 H10 = 7; Demo: H01 H03 H04 H05 H09 = 5;
        # Prop: H01 H04 H09 = 3; Won: H01 H09 = 2
        reached=[10, 7, 5, 3, 2],
        conversion=[None, 7 / 10, 5 / 7, 3 / 5, 2 / 3],
        overall=[1.0, 0.7, 0.5, 0.3, 0.2],
        dropped=[2, 0, 1, 0, 0],  # H06 and H07 at Lead, H03 at Demo
        # 204700-102400 = 102300; 100+200+400+800+1600+25600+51200 = 79900;
        # 100+400+800+1600+25600 = 28500; 100+800+25600 = 26500; 100+25600 = 25700
        value_reached=[102300, 79900, 28500, 26500, 25700],
        # time in stage is a property of the visits, the same with --strict
        median_days_in_stage=HISTORY_MEDIAN,
        mean_days_in_stage=HISTORY_MEAN,
        bottleneck=[False, False, False, True, False],  # Proposal 0.6
    )


@pytest.mark.parametrize("time", ["", " 09:30:00"], ids=["dates", "timestamps"])
def test_history_entries_on_the_same_date_keep_the_order_of_the_file(tmp_path, time):
    # T1 enters Qualified then Demo on 01-03, T2 Demo then Qualified on 01-05; the history file
    # mixes the two deals, and lists them in another order than the deals file.
    # T1: Lead 01-01..03 = 2, Qualified 03..03 = 0, Demo 03..10 = 7, Proposal open
    # T2: Lead 01-02..05 = 3, Demo 05..05 = 0, Qualified 05..09 = 4, Won
    # Lead [2, 3]: 2.5; Qualified [0, 4]: 2; Demo [7, 0]: 3.5 (file order reversed: 3.5 and 2)
    # The same with every entry at the same time of day (a datetime column sorts on two keys).
    (tmp_path / "deals.csv").write_text(
        "deal_id,rep,stage,amount,created_date,close_date\n"
        "T2,ana,Won,10,2025-01-02,2025-01-09\n"
        "T1,ana,Proposal,20,2025-01-01,\n"
    )
    entries = [
        ("T2", "Lead", "02"), ("T1", "Lead", "01"), ("T1", "Qualified", "03"), ("T2", "Demo", "05"),
        ("T1", "Demo", "03"), ("T2", "Qualified", "05"), ("T1", "Proposal", "10"), ("T2", "Won", "09"),
    ]  # fmt: skip
    (tmp_path / "stage_history.csv").write_text(
        "deal_id,stage,entered\n"
        + "".join(f"{deal},{stage},2025-01-{day}{time}\n" for deal, stage, day in entries)
    )
    catalog = tmp_path / "metrics.yaml"
    head = HISTORY.read_text().split("  transitions:")[0]
    catalog.write_text(
        (head.replace("types: {entered: date}", "types: {entered: datetime}") if time else head)
        + "metrics: {}\nfunnels:\n  history:\n    source: deals\n    stage: stage\n"
        "    stages: [Lead, Qualified, Demo, Proposal, Won]\n    lost: [Lost]\n    history: stage_history\n"
    )
    rows, _ = funnel(catalog, "history", "--period", "all")
    check(rows, median_days_in_stage=[2.5, 2, 3.5, None, None], reached=[2, 2, 2, 2, 1])


def test_history_by_rep():
    rows, _ = funnel(HISTORY, "history", "--period", "all", "--by", "rep")
    team = [None, 9 / 11, 8 / 9, 5 / 8, 3 / 5]
    # ana: H01 4, H02 4, H03 2, H04 3, H05 2
    ana = [None, 5 / 5, 5 / 5, 3 / 5, 2 / 3]
    check(
        group(rows, "rep", "ana"),
        reached=[5, 5, 5, 3, 2],
        conversion=ana,
        dropped=[0, 0, 1, 0, 0],
        value_reached=[3100, 3100, 3100, 1100, 300],
        # Lead [4,2,7,10,3]; Qual [10,6,10,10,10]; Demo [10,20,15,10]; Prop [10,20,10]
        median_days_in_stage=[4, 10, 12.5, 10, None],
        mean_days_in_stage=[26 / 5, 46 / 5, 55 / 4, 40 / 3, None],
        vs_team=[None] + [a - t for a, t in zip(ana[1:], team[1:], strict=True)],
        bottleneck=[False, False, False, True, False],  # +.18, +.11, -.025, +.067
    )
    # ben: H06 0, H07 2, H08 0, H09 4, H10 1, H11 3
    ben = [None, 4 / 6, 3 / 4, 2 / 3, 1 / 2]
    check(
        group(rows, "rep", "ben"),
        reached=[6, 4, 3, 2, 1],
        conversion=ben,
        dropped=[1, 0, 1, 0, 0],
        value_reached=[201600, 185600, 134400, 128000, 25600],
        # Lead [10,5,2,5]; Qual [4,10]; Demo [20,8,10]; Prop [16]
        median_days_in_stage=[5, 7, 10, 16, None],
        mean_days_in_stage=[22 / 4, 14 / 2, 38 / 3, 16, None],
        vs_team=[None] + [b - t for b, t in zip(ben[1:], team[1:], strict=True)],
        bottleneck=[False, True, False, False, False],  # -.152, -.139, +.042, -.1
    )


def test_history_period_days_come_from_the_deals_in_it():
    # 2025-02 active: created before 03-01, not closed before 02-01: H01 (closed 02-04), H03 (02-09),
    # H04, H05, H08, H10, H11 (open). Their whole histories give the days in stage.
    rows, _ = funnel(HISTORY, "history", "--period", "2025-02")
    check(
        rows,
        # furthest: H01 4, H03 2, H04 3, H05 2, H08 0, H10 1, H11 3
        reached=[7, 6, 5, 3, 1],
        dropped=[0, 0, 1, 0, 0],
        value_reached=[
            100 + 400 + 800 + 1600 + 12800 + 51200 + 102400,
            100 + 400 + 800 + 1600 + 51200 + 102400,
            100 + 400 + 800 + 1600 + 102400,
            100 + 800 + 102400,
            100,
        ],
        # Lead [4,7,10,3,5]; Qual [10,10,10,10,10]; Demo [10,20,15,10,10]; Prop [10,10]
        median_days_in_stage=[5, 10, 10, 10, None],
        mean_days_in_stage=[29 / 5, 10, 13, 10, None],
    )


def test_history_warns_only_about_stages_that_never_occur():
    # No deal is at Demo right now, but Demo occurs throughout the history: it is no typo.
    _, stderr = funnel(HISTORY, "history", "--period", "all")
    assert not [line for line in warnings(stderr) if "Demo" in line], stderr


# =====================================================================================================
# (c) Per-stage conditions (HubSpot style): tests/data/funnel/conditions. Stage k is reached when its
# filter holds (`<stage>_entered IS NOT NULL`; Won: dealstage = 'closedwon'); days in a stage run from
# its entered column to the next stage entered. Dates are 2025-03-dd. `rep` is renamed from
# hubspot_owner by columns:.
#
# deal rep dealstage             amount lead qual demo prop won  furthest  strict
# C01  ana closedwon             100    01   03   07   15   31   4 Won     4
# C02  ana closedwon             200    01   06   -    16   26   4         1 Qual (skipped Demo)
# C03  ana closedlost            400    02   04   10   -    -    2 Demo    2
# C04  ana contractsent          800    01   11   21   25   -    3         3
# C05  ben qualifiedtobuy        1600   05   08   -    -    -    1         1
# C06  ben closedlost            3200   02   -    -    -    -    0         0
# C07  ben qualifiedtobuy        6400   10   20   -    -    -    1         1
# C08  ben closedwon             12800  01   02   05   09   19   4         4
# C09  ben presentationscheduled 25600  -    03   13   -    -    2         none (no Lead)
# C10  ana decisionmakerboughtin 51200  unknown dealstage: left out with a warning
#
# Days: Lead (lead -> qual) [2,5,2,10,3,10,1]: median 3, mean 33/7.
#       Qual (qual -> next entered) C01 4, C02 10 (to Proposal), C03 6, C04 10, C08 3, C09 10:
#            [3,4,6,10,10,10] median 8, mean 43/6.
#       Demo (demo -> prop) [8,4,4]: median 4, mean 16/3.  Prop (prop -> won) [16,10,10]: median 10, 12.
# =====================================================================================================


def test_conditions_default():
    rows, stderr = funnel(CONDITIONS, "hubspot", "--period", "all")
    check(
        rows,
        stage=FIVE,
        # >=1: all but C06 = 8; >=2: minus C05, C07 = 6; >=3: C01 C02 C04 C08 = 4; Won: C01 C02 C08 = 3
        reached=[9, 8, 6, 4, 3],
        conversion=[None, 8 / 9, 6 / 8, 4 / 6, 3 / 4],
        overall=[1.0, 8 / 9, 6 / 9, 4 / 9, 3 / 9],
        dropped=[1, 0, 1, 0, 0],  # C06 at Lead, C03 at Demo
        # all 51100; -3200 = 47900; -1600-6400 = 39900; 100+200+800+12800 = 13900; 100+200+12800
        value_reached=[51100, 47900, 39900, 13900, 13100],
        vs_team=[None] * 5,
        bottleneck=[False, False, False, True, False],  # Proposal 2/3
    )
    (line,) = warnings(stderr)
    assert re.search(r"decisionmakerboughtin\W+1\b", line), line


def test_conditions_strict():
    rows, _ = funnel(CONDITIONS, "hubspot", "--period", "all", "--strict")
    check(
        rows,
        # Lead: all but C09 = 8; Qual: C01 C02 C03 C04 C05 C07 C08 = 7; Demo: C01 C03 C04 C08 = 4;
        # Prop: C01 C04 C08 = 3; Won: C01 C08 = 2
        reached=[8, 7, 4, 3, 2],
        conversion=[None, 7 / 8, 4 / 7, 3 / 4, 2 / 3],
        overall=[1.0, 7 / 8, 4 / 8, 3 / 8, 2 / 8],
        dropped=[1, 0, 1, 0, 0],
        # 51100-25600 = 25500; 100+200+400+800+1600+6400+12800 = 22300; 100+400+800+12800 = 14100;
        # 100+800+12800 = 13700; 100+12800 = 12900
        value_reached=[25500, 22300, 14100, 13700, 12900],
        bottleneck=[False, False, True, False, False],  # Demo 4/7
    )


@pytest.mark.parametrize("strict", [False, True])
def test_conditions_days_between_entered_columns(strict):
    rows, _ = funnel(CONDITIONS, "hubspot", "--period", "all", *(["--strict"] if strict else []))
    lead, demo, proposal, won = rows[0], rows[2], rows[3], rows[4]
    assert (lead["median_days_in_stage"], lead["mean_days_in_stage"]) == pytest.approx((3, 33 / 7))
    assert (demo["median_days_in_stage"], demo["mean_days_in_stage"]) == pytest.approx((4, 16 / 3))
    assert (proposal["median_days_in_stage"], proposal["mean_days_in_stage"]) == pytest.approx((10, 12))
    assert (won["median_days_in_stage"], won["mean_days_in_stage"]) == (None, None)


def test_conditions_days_in_stage_before_a_skipped_stage():
    # C02 entered Qualified on 03-06 and Proposal on 03-16, skipping Demo: it spent 10 days in
    # Qualified, exactly as the same deal told by a stage history (test_history_*: H02's 6 days in
    # Qualified before Proposal count). Qualified: [3,4,6,10,10,10] -> median 8, mean 43/6.
    rows, _ = funnel(CONDITIONS, "hubspot", "--period", "all")
    qualified = rows[1]
    assert (qualified["median_days_in_stage"], qualified["mean_days_in_stage"]) == pytest.approx((8, 43 / 6))
    # With a Trial stage no deal ever entered, the time in Qualified still runs to the next stage
    # entered (Demo or Proposal): the same figures, not "no data".
    rows, _ = funnel(CONDITIONS, "hubspot_trial", "--period", "all")
    qualified = rows[1]
    assert (qualified["median_days_in_stage"], qualified["mean_days_in_stage"]) == pytest.approx((8, 43 / 6))


def test_conditions_stage_nobody_entered():
    stages = ["Lead", "Qualified", "Trial", "Demo", "Proposal", "Won"]
    # Strict: nobody passes Trial: every later conversion is 0/0 (empty), overall 0.
    rows, _ = funnel(CONDITIONS, "hubspot_trial", "--period", "all", "--strict")
    check(
        rows,
        stage=stages,
        reached=[8, 7, 0, 0, 0, 0],
        conversion=[None, 7 / 8, 0.0, None, None, None],
        overall=[1.0, 7 / 8, 0.0, 0.0, 0.0, 0.0],
        dropped=[1, 1, 0, 0, 0, 0],  # C03 (lost after Demo) now counts up to Qualified only
        value_reached=[25500, 22300, 0, 0, 0, 0],
        bottleneck=[False, False, True, False, False, False],
    )
    # Nobody entered Trial: no days in it; Lead keeps its days (3 median); Won never has any.
    assert [rows[i]["median_days_in_stage"] for i in (0, 2, 5)] == [3, None, None]
    # Default: reach is cumulative from the furthest stage, so deals beyond Trial count at it.
    rows, _ = funnel(CONDITIONS, "hubspot_trial", "--period", "all")
    check(
        rows,
        reached=[9, 8, 6, 6, 4, 3],
        conversion=[None, 8 / 9, 6 / 8, 1.0, 4 / 6, 3 / 4],
        dropped=[1, 0, 0, 1, 0, 0],
        bottleneck=[False, False, False, False, True, False],
    )


def test_conditions_by_rep():
    rows, _ = funnel(CONDITIONS, "hubspot", "--period", "all", "--by", "rep")
    team = [None, 8 / 9, 6 / 8, 4 / 6, 3 / 4]
    ana = [None, 4 / 4, 4 / 4, 3 / 4, 2 / 3]  # C01 4, C02 4, C03 2, C04 3
    ben = [None, 4 / 5, 2 / 4, 1 / 2, 1 / 1]  # C05 1, C06 0, C07 1, C08 4, C09 2
    check(
        group(rows, "rep", "ana"),
        reached=[4, 4, 4, 3, 2],
        conversion=ana,
        dropped=[0, 0, 1, 0, 0],
        value_reached=[1500, 1500, 1500, 1100, 300],
        vs_team=[None] + [a - t for a, t in zip(ana[1:], team[1:], strict=True)],
        bottleneck=[False, False, False, False, True],  # +.11, +.25, +.083, -.083
    )
    # Days per group (Qualified: see test_conditions_days_in_stage_before_a_skipped_stage):
    # ana Lead [2,5,2,10] -> 3.5, Demo [8,4] -> 6, Proposal [16,10] -> 13;
    # ben Lead [3,10,1] -> 3, Demo [4], Proposal [10].
    medians = {(row["rep"], row["stage"]): row["median_days_in_stage"] for row in rows}
    assert [medians["ana", s] for s in ("Lead", "Demo", "Proposal", "Won")] == [3.5, 6, 13, None]
    assert [medians["ben", s] for s in ("Lead", "Demo", "Proposal", "Won")] == [3, 4, 10, None]
    check(
        group(rows, "rep", "ben"),
        reached=[5, 4, 2, 1, 1],
        conversion=ben,
        dropped=[1, 0, 0, 0, 0],
        value_reached=[49600, 46400, 38400, 12800, 12800],
        vs_team=[None] + [b - t for b, t in zip(ben[1:], team[1:], strict=True)],
        bottleneck=[False, False, True, False, False],  # -.089, -.25, -.167, +.25
    )


# --- output formats -------------------------------------------------------------------------------

FORMAT_CASES = [
    (STAGE_COLUMN, ["cumulative", "--period", "all"]),
    (STAGE_COLUMN, ["with_lost_stage", "--period", "2025-Q3", "--by", "rep"]),
    (STAGE_COLUMN, ["cumulative", "--period", "2024-01", "--cohort"]),
    (HISTORY, ["history", "--period", "all", "--strict", "--by", "rep"]),
    (CONDITIONS, ["hubspot_trial", "--period", "all", "--strict"]),
]


@pytest.mark.parametrize("fmt", ["csv", "json", "markdown", "table"])
@pytest.mark.parametrize(
    ("catalog", "args"), FORMAT_CASES, ids=lambda v: v.parent.name if isinstance(v, Path) else None
)
def test_every_format_exits_0(catalog, args, fmt):
    result = run("funnel", *args, "--catalog", str(catalog), "--format", fmt)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip()
    assert "Lead" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("catalog", "args"), FORMAT_CASES, ids=lambda v: v.parent.name if isinstance(v, Path) else None
)
def test_csv_holds_the_json_figures(catalog, args):
    rows, _ = funnel(catalog, *args)
    result = run("funnel", *args, "--catalog", str(catalog), "--format", "csv")
    assert result.exit_code == 0, result.stderr
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(table) == len(rows)
    for line, row in zip(table, rows, strict=True):
        assert list(line) == list(row)
        for name, value in row.items():
            if value is None:
                assert line[name] == ""
            elif isinstance(value, bool):
                assert line[name].lower() == str(value).lower()
            elif isinstance(value, int | float):
                assert float(line[name]) == pytest.approx(value, rel=1e-12)
            else:
                assert line[name] == value


# =====================================================================================================
# Part 2: the sample data (metrics.yaml, funnel `pipeline`), against DuckDB.
# =====================================================================================================

SAMPLE_STAGES = ["Lead", "Qualified", "Demo", "Proposal", "Negotiation", "Won"]


@pytest.fixture(scope="module")
def sample_db():
    db = duckdb.connect()

    def read(name: str) -> str:
        return f"read_csv('{REPO / 'sample_data' / name}', header = true, all_varchar = true, nullstr = '')"

    db.execute(
        f"""
        CREATE TABLE deals AS
        SELECT d.deal_id, d.stage, r.team, CAST(d.amount AS DOUBLE) AS amount,
               CAST(d.created_date AS DATE) AS created, CAST(d.close_date AS DATE) AS closed
        FROM {read("deals.csv")} d LEFT JOIN {read("reps.csv")} r ON r.rep = d.rep;
        CREATE TABLE history AS
        SELECT deal_id, stage, CAST(entered AS DATE) AS entered FROM {read("stage_history.csv")};
        CREATE TABLE stages AS
        SELECT * FROM (VALUES {", ".join(f"('{s}', {i})" for i, s in enumerate(SAMPLE_STAGES))}) t(name, idx);
        """
    )
    return db


# The deals of the funnel: --period all = every deal; active = created before the end and not closed
# before the start (open deals have no close date); cohort = created in [start, end).
Q2, Q3 = ("2025-04-01", "2025-07-01"), ("2025-07-01", "2025-10-01")


def active(start: str, end: str) -> str:
    return f"created < DATE '{end}' AND (closed IS NULL OR closed >= DATE '{start}')"


def created(start: str, end: str) -> str:
    return f"created >= DATE '{start}' AND created < DATE '{end}'"


# case: (arguments, the deals of the period, those of the period before (None for all))
SAMPLE_CASES = {
    "Q3": (["--period", "2025-Q3"], active(*Q3), active(*Q2)),
    "all": (["--period", "all"], "TRUE", None),
    "Q3-cohort": (["--period", "2025-Q3", "--cohort"], created(*Q3), created(*Q2)),
}


def sample_expected(db: duckdb.DuckDBPyConnection, where: str, strict: bool, by: str | None = None):
    """Every funnel figure, stage by stage (per group when by), in plain SQL."""
    if strict:
        # The unbroken run from the first stage: one before the first stage the deal never entered.
        furthest = """
            SELECT d.deal_id,
                   coalesce(min(s.idx) FILTER (WHERE e.deal_id IS NULL),
                            (SELECT count(*) FROM stages)) - 1 AS f
            FROM sel d CROSS JOIN stages s
            LEFT JOIN (SELECT DISTINCT h.deal_id, st.idx FROM history h JOIN stages st ON st.name = h.stage) e
                   ON e.deal_id = d.deal_id AND e.idx = s.idx
            GROUP BY d.deal_id"""
    else:
        # The furthest funnel stage actually entered (Lost rows are not funnel stages).
        furthest = """
            SELECT h.deal_id, max(s.idx) AS f
            FROM history h JOIN stages s ON s.name = h.stage
            WHERE h.deal_id IN (SELECT deal_id FROM sel) GROUP BY h.deal_id"""
    g = f"d.{by}" if by else "'all'"
    sql = f"""
    WITH sel AS (SELECT * FROM deals WHERE {where}),
    furthest AS ({furthest}),
    counts AS (
        SELECT {g} AS grp, s.idx, s.name,
               count(*) FILTER (WHERE f.f >= s.idx) AS reached,
               count(*) FILTER (WHERE d.stage = 'Lost' AND f.f = s.idx) AS dropped,
               coalesce(sum(d.amount) FILTER (WHERE f.f >= s.idx), 0) AS value_reached
        FROM sel d CROSS JOIN stages s LEFT JOIN furthest f ON f.deal_id = d.deal_id
        GROUP BY ALL
    ),
    -- each visit lasts until the deal's next entry (of any stage, Lost and Won included)
    visits AS (
        SELECT h.deal_id, s.idx, h.entered,
               lead(h.entered) OVER (PARTITION BY h.deal_id ORDER BY h.entered) AS next_entered
        FROM history h LEFT JOIN stages s ON s.name = h.stage
        WHERE h.deal_id IN (SELECT deal_id FROM sel)
    ),
    per_deal AS (
        SELECT {g} AS grp, v.idx, v.deal_id, sum(date_diff('day', v.entered, v.next_entered)) AS days
        FROM visits v JOIN sel d ON d.deal_id = v.deal_id
        WHERE v.idx IS NOT NULL AND v.next_entered IS NOT NULL
        GROUP BY ALL
    ),
    days AS (
        SELECT grp, idx, median(CAST(days AS DOUBLE)) AS median_days, avg(CAST(days AS DOUBLE)) AS mean_days
        FROM per_deal GROUP BY ALL
    ),
    team AS (SELECT idx, sum(reached) AS reached FROM counts GROUP BY idx),
    team_conversion AS (
        SELECT idx, reached / nullif(lag(reached) OVER (ORDER BY idx), 0) AS conversion FROM team
    )
    SELECT c.grp, c.name, c.idx + 1, c.reached,
           c.reached / nullif(lag(c.reached) OVER w, 0) AS conversion,
           c.reached / nullif(first_value(c.reached) OVER w, 0) AS overall,
           c.dropped, d.median_days, d.mean_days, c.value_reached,
           c.reached / nullif(lag(c.reached) OVER w, 0) - t.conversion AS vs_team
    FROM counts c LEFT JOIN days d USING (grp, idx) JOIN team_conversion t USING (idx)
    WINDOW w AS (PARTITION BY c.grp ORDER BY c.idx)
    ORDER BY c.grp, c.idx
    """
    names = ["group", "stage", "step", "reached", "conversion", "overall", "dropped"]
    names += ["median_days_in_stage", "mean_days_in_stage", "value_reached", "vs_team"]
    return [dict(zip(names, row, strict=True)) for row in db.execute(sql).fetchall()]


def _bottlenecks(values: list) -> list[bool]:
    """True where the value is the lowest (non-empty) one; for vs_team only when below zero."""
    present = [v for v in values if v is not None]
    low = min(present) if present else None
    return [v is not None and v == low for v in values]


@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
@pytest.mark.parametrize("case", list(SAMPLE_CASES))
def test_sample_funnel_matches_duckdb(sample_db, case, strict):
    args, where, where_before = SAMPLE_CASES[case]
    rows, _ = funnel(SAMPLE, "pipeline", *args, *(["--strict"] if strict else []))
    expected = sample_expected(sample_db, where, strict)
    assert [row["stage"] for row in rows] == SAMPLE_STAGES
    figures = ["step", "reached", "conversion", "overall", "dropped", "median_days_in_stage"]
    figures += ["mean_days_in_stage", "value_reached"]
    check(rows, **{name: [e[name] for e in expected] for name in figures})
    assert rows[0]["reached"] > 100  # a real check: the period holds many deals
    conversions = [e["conversion"] for e in expected]
    if where_before is None:
        check(rows, vs_team=[None] * 6, vs_previous=[None] * 6, bottleneck=_bottlenecks(conversions))
        return
    before = [e["conversion"] for e in sample_expected(sample_db, where_before, strict)]
    changes = [None if c is None or b is None else c - b for c, b in zip(conversions, before, strict=True)]
    fell = [c if c is not None and c < 0 else None for c in changes]
    # The step whose conversion fell most since the previous period; none fell: the lowest.
    expected_bottleneck = _bottlenecks(fell) if any(fell) else _bottlenecks(conversions)
    check(rows, vs_team=[None] * 6, vs_previous=changes, bottleneck=expected_bottleneck)


def test_sample_funnel_by_team_matches_duckdb(sample_db):
    args, where, _ = SAMPLE_CASES["Q3"]
    rows, _ = funnel(SAMPLE, "pipeline", *args, "--by", "team")
    expected = sample_expected(sample_db, where, strict=False, by="team")
    teams = sorted({e["group"] for e in expected})
    assert sorted({row["team"] for row in rows}) == teams
    for team in teams:
        want = [e for e in expected if e["group"] == team]
        got = group(rows, "team", team)
        figures = ["reached", "conversion", "overall", "dropped", "median_days_in_stage"]
        figures += ["mean_days_in_stage", "value_reached", "vs_team"]
        check(got, stage=SAMPLE_STAGES, **{name: [e[name] for e in want] for name in figures})
        gaps = [e["vs_team"] for e in want]
        below = [g if g is not None and g < 0 else None for g in gaps]
        check(got, bottleneck=_bottlenecks(below))


@pytest.mark.parametrize(
    ("catalog", "args"),
    [
        (SAMPLE, ["pipeline", "--period", "2025-Q3"]),
        (STAGE_COLUMN, ["cumulative", "--period", "all"]),
    ],
    ids=["sample", "stage_column"],
)
def test_overall_is_exactly_reached_over_first_reached(catalog, args):
    # overall = reached(k) / reached(first): a correctly rounded division, so exactly 1 at the first
    # stage and exactly 0.7 for 7 of 10 in the full-precision CSV/JSON output.
    rows, _ = funnel(catalog, *args)
    first = rows[0]["reached"]
    assert [row["overall"] for row in rows] == [row["reached"] / first for row in rows]
