"""salescode pipeline: open deals by stage on a date, stale deals, velocity, and --list STAGE.

Every figure below is worked out by hand from tests/data/funnel/history (deals.csv and
stage_history.csv; the table of visits is in test_funnel.py) and tests/data/funnel/stage_column.

Documented semantics:
- as of: the period's last day (--period all: the latest creation or closing date), never after today;
- open on that day: created by then, not won or lost with a close date by then, and at an open stage
  (not the last) according to the last history entry on or before the day (a Lost/Won entry closes it);
- days in stage: from that entry to the as-of day; stale: more than --stale-days (default 30);
- won/lost: the deals closed (close date) in the period; win rate = won / (won + lost); average won
  deal and cycle (creation to close, days) over the won ones;
- velocity = open deals x win rate x average won deal / average cycle.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DATA, REPO, run

HISTORY = DATA / "funnel" / "history" / "metrics.yaml"
STAGE_COLUMN = DATA / "funnel" / "stage_column" / "metrics.yaml"
OPEN_STAGES = ["Lead", "Qualified", "Demo", "Proposal"]


def pipeline(catalog: Path, *args: str) -> tuple[list[dict], str]:
    result = run("pipeline", *args, "--catalog", str(catalog), "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def column(rows: list[dict], name: str) -> list:
    return [row[name] for row in rows]


# On 2025-01-31 (last entry on or before it): H01 Proposal since 01-25 (6 d), H03 Demo since 01-20 (11 d),
# H04 Proposal since 01-31 (0 d), H05 Qualified since 01-28 (3 d, went back), H08 Lead since 01-10 (21 d),
# H10 Qualified since 01-09 (22 d), H11 Proposal since 01-22 (9 d). Closed: H02 (Won 01-30), H06 and H07
# (Lost), H09 (Won 01-31). Closed in January: won H02 (200, 28 d), H09 (25600, 30 d); lost H06, H07.
JANUARY_VELOCITY = 7 * 0.5 * 12900 / 29


def test_open_pipeline_by_stage_on_the_periods_last_day():
    rows, _ = pipeline(HISTORY, "history", "--period", "2025-01", "--stale-days", "10")
    assert column(rows, "stage") == OPEN_STAGES
    assert column(rows, "as_of") == ["2025-01-31"] * 4
    assert column(rows, "open_deals") == [1, 2, 1, 3]
    assert column(rows, "open_value") == [12800, 1600 + 51200, 400, 100 + 800 + 102400]
    # stale: more than 10 days in the stage: H08 (21), H10 (22), H03 (11); not H11 (9)
    assert column(rows, "stale_deals") == [1, 1, 1, 0]
    assert column(rows, "stale_value") == [12800, 51200, 400, 0]
    assert column(rows, "median_days_in_stage") == [21, 12.5, 11, 6]
    assert column(rows, "max_days_in_stage") == [21, 22, 11, 9]
    first = rows[0]
    assert (first["won_deals"], first["lost_deals"], first["win_rate"]) == (2, 2, 0.5)
    assert (first["avg_deal_size"], first["avg_cycle_days"]) == (12900, 29)
    assert first["velocity_per_day"] == pytest.approx(JANUARY_VELOCITY, rel=1e-12)
    assert {row["velocity_per_day"] for row in rows} == {first["velocity_per_day"]}


def test_default_stale_threshold_and_a_later_date():
    # On 2025-02-28: H04 Proposal since 02-15 (13 d), H05 Qualified since 01-28 (31), H08 Lead since 01-10
    # (49), H10 Qualified since 01-09 (50), H11 Proposal since 01-22 (37); H01 won 02-04, H03 lost 02-09.
    rows, _ = pipeline(HISTORY, "history", "--period", "2025-02")
    assert column(rows, "open_deals") == [1, 2, 0, 2]
    assert column(rows, "stale_deals") == [1, 2, 0, 1]  # more than 30 days
    assert column(rows, "median_days_in_stage") == [49, 40.5, None, 25]
    first = rows[0]
    # closed in February: H01 won (100, 2025-01-01 -> 02-04 = 34 d), H03 lost
    assert (first["won_deals"], first["lost_deals"], first["win_rate"]) == (1, 1, 0.5)
    assert (first["avg_deal_size"], first["avg_cycle_days"]) == (100, 34)
    assert first["velocity_per_day"] == pytest.approx(5 * 0.5 * 100 / 34, rel=1e-12)


def test_by_rep():
    rows, _ = pipeline(HISTORY, "history", "--period", "2025-01", "--by", "rep")
    assert column(rows, "rep") == ["ana"] * 4 + ["ben"] * 4
    ana, ben = rows[:4], rows[4:]
    # ana: H05 Qualified, H03 Demo, H01 and H04 Proposal; won H02 (200, 28 d), none lost
    assert column(ana, "open_deals") == [0, 1, 1, 2]
    assert (ana[0]["won_deals"], ana[0]["lost_deals"], ana[0]["win_rate"]) == (1, 0, 1.0)
    assert ana[0]["velocity_per_day"] == pytest.approx(4 * 1.0 * 200 / 28, rel=1e-12)
    # ben: H08 Lead, H10 Qualified, H11 Proposal; won H09 (25600, 30 d), lost H06 and H07
    assert column(ben, "open_deals") == [1, 1, 0, 1]
    assert ben[0]["win_rate"] == pytest.approx(1 / 3, rel=1e-12)
    assert ben[0]["velocity_per_day"] == pytest.approx(3 * (1 / 3) * 25600 / 30, rel=1e-12)


def test_period_all_is_as_of_the_latest_date():
    # Latest creation or closing date: 2025-02-09 (H03 lost). Open then: H04 (Demo since 02-09... no:
    # Demo 02-10 is after it, so Proposal since 01-31), H05, H08, H10, H11; all closed deals count.
    rows, _ = pipeline(HISTORY, "history", "--period", "all")
    assert rows[0]["as_of"] == "2025-02-09"
    assert column(rows, "open_deals") == [1, 2, 0, 2]
    assert (rows[0]["won_deals"], rows[0]["lost_deals"]) == (3, 3)  # H01 H02 H09 / H03 H06 H07


def test_list_stage_shows_stuck_then_dropped_deals():
    rows, _ = pipeline(HISTORY, "history", "--period", "2025-01", "--list", "Demo", "--stale-days", "10")
    # open at Demo on 01-31: H03 (11 d, stale); lost at Demo in January: H07 (furthest Demo, lost 01-26)
    assert [(r["deal"], r["status"], r["days_in_stage"]) for r in rows] == [
        ("H03", "stale", 11),
        ("H07", "dropped", None),
    ]
    assert list(rows[0]) == [
        "deal",
        "rep",
        "stage",
        "status",
        "days_in_stage",
        "in_stage_since",
        "value",
        "created",
        "closed",
    ]
    assert rows[0]["in_stage_since"] == "2025-01-20" and rows[1]["closed"] == "2025-01-26"
    rows, _ = pipeline(HISTORY, "history", "--period", "2025-01", "--list", "Proposal", "--stale-days", "8")
    # longest in the stage first: H11 (9 d, stale), H01 (6), H04 (0)
    assert [(r["deal"], r["status"]) for r in rows] == [("H11", "stale"), ("H01", "open"), ("H04", "open")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--list", "Won"], "--list Won: the last stage of funnel 'history'"),
        (["--list", "Dmeo"], "--list Dmeo: funnel 'history' has no stage 'Dmeo' (did you mean 'Demo'?)"),
        (["--by", "team"], "--by 'team': not a dimension"),
        (["--stale-days", "0"], "--stale-days"),
    ],
)
def test_bad_options_are_one_error_line(args, message):
    result = run("pipeline", "history", "--catalog", str(HISTORY), *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_stage_column_only_is_todays_pipeline_without_ages():
    # On 2025-09-30: open A01 Lead, A02 Qualified, A03 Demo, A07 Proposal (A10 is created later; Nurture,
    # On Hold are unknown stages, named in a warning). Closed in Q3: won A04, A05; lost A06, A09.
    rows, stderr = pipeline(STAGE_COLUMN, "cumulative", "--period", "2025-Q3")
    assert column(rows, "open_deals") == [1, 1, 1, 1]
    assert column(rows, "open_value") == [100, 200, 300, 700]
    assert column(rows, "median_days_in_stage") == [None] * 4
    assert column(rows, "stale_deals") == [None] * 4  # unknown without dates, not zero
    assert (rows[0]["won_deals"], rows[0]["lost_deals"]) == (2, 2)
    # cycles: A04 2025-05-01 -> 07-20 = 80 d, A05 07-10 -> 09-15 = 67 d; average won deal 450
    assert rows[0]["avg_cycle_days"] == 73.5
    assert rows[0]["velocity_per_day"] == pytest.approx(4 * 0.5 * 450 / 73.5, rel=1e-12)
    assert "stage_since" in stderr and "Nurture" in stderr


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_every_format_on_the_sample(fmt):
    for args in (["--by", "team"], ["--list", "Proposal"]):
        result = run("pipeline", *args, "--catalog", str(REPO / "metrics.yaml"), "--format", fmt)
        assert result.exit_code == 0, result.stderr
        assert "Proposal" in result.stdout


@pytest.mark.parametrize(
    ("same_day", "stage_now"), [(["Qualified", "Demo"], "Demo"), (["Demo", "Qualified"], "Qualified")]
)
def test_entries_on_the_same_day_keep_the_order_of_the_history_file(tmp_path, same_day, stage_now):
    (tmp_path / "deals.csv").write_text("id,stage,created\nX1,Demo,2025-01-01\n")
    lines = ["X1,Lead,2025-01-01", *(f"X1,{stage},2025-01-05" for stage in same_day)]
    (tmp_path / "history.csv").write_text("id,stage,entered\n" + "\n".join(lines) + "\n")
    (tmp_path / "metrics.yaml").write_text(
        "version: 1\nsources:\n  deals: {path: deals.csv, key: id}\n  history: {path: history.csv}\n"
        "metrics: {}\nfunnels:\n  f: {source: deals, stage: stage, stages: [Lead, Qualified, Demo, Won],"
        " lost: [Lost], history: history, cohort: created}\n"
    )
    rows, _ = pipeline(tmp_path / "metrics.yaml", "--period", "2025-01")
    # On 2025-01-31 the deal is at the stage of the file's last entry of 2025-01-05, for 26 days.
    assert [(r["stage"], r["open_deals"], r["median_days_in_stage"]) for r in rows if r["open_deals"]] == [
        (stage_now, 1, 26)
    ]


def test_as_of_is_never_after_today():
    # --as-of 2025-01-31 stands in for today: February's pipeline is taken on 2025-01-31 (the January
    # figures of test_open_pipeline_by_stage_on_the_periods_last_day), with February's closed deals.
    rows, _ = pipeline(HISTORY, "history", "--period", "2025-02", "--as-of", "2025-01-31")
    assert column(rows, "as_of") == ["2025-01-31"] * 4
    assert column(rows, "open_deals") == [1, 2, 1, 3]
    assert (rows[0]["won_deals"], rows[0]["lost_deals"]) == (1, 1)  # H01 won, H03 lost in February
