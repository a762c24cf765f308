"""salescode pipeline on the bundled sample data, against an independent DuckDB SQL computation.

The SQL below is written from the documented semantics (tests/test_pipeline.py, salescode/pipeline.py),
not from the polars code. Funnel `pipeline` of metrics.yaml: stages Lead, Qualified, Demo, Proposal,
Negotiation, Won (indices 0..5), lost value 'Lost', history sample_data/stage_history.csv, cohort column
created_date, time column close_date, value column amount; `team` comes from reps.csv joined on rep.

Semantics checked:
- as of: the period's last day;
- furthest stage: the highest funnel-stage index among the deal's history entries (any date);
  won: furthest is Won and the current stage is not Lost; lost: the current stage is Lost;
- open on as_of: created by then, not (won or lost) with a close date by then, and the stage of the
  deal's last history entry on or before as_of is an open stage (a Lost or Won entry closes it);
- days in stage: as_of - that entry's date; stale: more than --stale-days (default 30);
- per open stage: open deals and value, stale deals and value, median and max days in stage;
- per group: won and lost among the deals closed (close date) in the period, win rate, average won deal,
  average cycle (creation to close) of the won ones, velocity = open deals (all open stages of the
  group) x win rate x average won deal / average cycle;
- --list STAGE: the deals open at STAGE on as_of (stale or open, with days in stage), then the deals
  lost in the period whose furthest stage is STAGE (dropped).
"""

from __future__ import annotations

import json

import duckdb
import pytest
from conftest import REPO, run

SAMPLE = REPO / "metrics.yaml"
STAGES = ["Lead", "Qualified", "Demo", "Proposal", "Negotiation", "Won"]
OPEN_STAGES = STAGES[:-1]
OPEN_FIGURES = ["open_deals", "open_value", "stale_deals", "stale_value"]
OPEN_FIGURES += ["median_days_in_stage", "max_days_in_stage"]
GROUP_FIGURES = ["won_deals", "lost_deals", "win_rate", "avg_deal_size", "avg_cycle_days", "velocity_per_day"]
COUNTS = {"open_deals", "stale_deals", "won_deals", "lost_deals"}

# (as_of, start, end): the period's last day, and the period as [start, end).
DECEMBER = ("2025-12-31", "2025-12-01", "2026-01-01")
Q3 = ("2025-09-30", "2025-07-01", "2025-10-01")


def pipeline(*args: str) -> list[dict]:
    result = run("pipeline", *args, "--catalog", str(SAMPLE), "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def same(got, expected, name: str) -> bool:
    if expected is None or got is None:
        return got is expected
    if name in COUNTS:
        return got == expected
    return got == pytest.approx(expected, rel=1e-9)


@pytest.fixture(scope="module")
def db():
    con = duckdb.connect()

    def read(name: str) -> str:
        return f"read_csv('{REPO / 'sample_data' / name}', header = true, all_varchar = true, nullstr = '')"

    stages = ", ".join(f"('{name}', {i})" for i, name in enumerate(STAGES))
    con.execute(
        f"""
        CREATE TABLE deals AS
        SELECT d.deal_id, d.rep, r.team, d.stage, CAST(d.amount AS DOUBLE) AS amount,
               CAST(d.created_date AS DATE) AS created, CAST(d.close_date AS DATE) AS closed
        FROM {read("deals.csv")} d LEFT JOIN {read("reps.csv")} r ON r.rep = d.rep;
        CREATE TABLE history AS
        SELECT deal_id, stage, CAST(entered AS DATE) AS entered FROM {read("stage_history.csv")};
        CREATE TABLE stages AS SELECT * FROM (VALUES {stages}) t(name, idx);
        """
    )
    return con


def deals_on(as_of: str, start: str, end: str, group: str) -> str:
    """One row per deal: its group, won/lost, the stage index and date of its last history entry on or
    before as_of, days in that stage, whether it is open on as_of and whether it closed in the period."""
    return f"""
    WITH furthest AS (
        SELECT h.deal_id, max(s.idx) AS f
        FROM history h JOIN stages s ON s.name = h.stage
        GROUP BY h.deal_id
    ),
    last_entry AS (
        SELECT deal_id, stage, entered,
               row_number() OVER (PARTITION BY deal_id ORDER BY entered DESC) AS newest
        FROM history WHERE entered <= DATE '{as_of}'
    ),
    flagged AS (
        SELECT d.deal_id, d.rep, {group} AS grp, d.amount, d.created, d.closed, f.f AS furthest,
               coalesce(f.f = 5 AND d.stage <> 'Lost', false) AS won,
               d.stage = 'Lost' AS lost,
               s.idx AS stage_then, e.entered AS since,
               date_diff('day', e.entered, DATE '{as_of}') AS days
        FROM deals d
        LEFT JOIN furthest f ON f.deal_id = d.deal_id
        LEFT JOIN last_entry e ON e.deal_id = d.deal_id AND e.newest = 1
        LEFT JOIN stages s ON s.name = e.stage
    )
    SELECT *,
           coalesce(stage_then BETWEEN 0 AND 4, false)
             AND (created IS NULL OR created <= DATE '{as_of}')
             AND NOT coalesce((won OR lost) AND closed <= DATE '{as_of}', false) AS is_open,
           coalesce((won OR lost) AND closed >= DATE '{start}' AND closed < DATE '{end}', false)
             AS closed_in_period
    FROM flagged
    """


def expected_pipeline(
    db, period: tuple[str, str, str], stale_days: int, by: str | None = None
) -> dict[tuple, dict]:
    """Every pipeline figure, keyed by (group, stage); the group is 'all' without --by."""
    as_of, start, end = period
    group = f"d.{by}" if by else "'all'"
    sql = f"""
    WITH deal AS ({deals_on(as_of, start, end, group)}),
    open_stats AS (
        SELECT grp, stage_then AS idx, count(*) AS open_deals, sum(amount) AS open_value,
               count(*) FILTER (WHERE days > {stale_days}) AS stale_deals,
               coalesce(sum(amount) FILTER (WHERE days > {stale_days}), 0) AS stale_value,
               median(days) AS median_days, max(days) AS max_days
        FROM deal WHERE is_open GROUP BY grp, stage_then
    ),
    closed_stats AS (
        SELECT grp, count(*) FILTER (WHERE won) AS won_deals, count(*) FILTER (WHERE lost) AS lost_deals,
               avg(amount) FILTER (WHERE won) AS avg_deal_size,
               avg(date_diff('day', created, closed)) FILTER (WHERE won) AS avg_cycle
        FROM deal WHERE closed_in_period GROUP BY grp
    ),
    groups AS (SELECT grp FROM open_stats UNION SELECT grp FROM closed_stats),
    grid AS (
        SELECT g.grp, s.idx, s.name,
               coalesce(o.open_deals, 0) AS open_deals, coalesce(o.open_value, 0) AS open_value,
               coalesce(o.stale_deals, 0) AS stale_deals, coalesce(o.stale_value, 0) AS stale_value,
               o.median_days, o.max_days,
               coalesce(c.won_deals, 0) AS won_deals, coalesce(c.lost_deals, 0) AS lost_deals,
               c.avg_deal_size, c.avg_cycle
        FROM groups g CROSS JOIN stages s
        LEFT JOIN open_stats o ON o.grp = g.grp AND o.idx = s.idx
        LEFT JOIN closed_stats c ON c.grp = g.grp
        WHERE s.idx < 5
    ),
    rated AS (
        SELECT *, won_deals / nullif(won_deals + lost_deals, 0) AS win_rate,
               sum(open_deals) OVER (PARTITION BY grp) AS group_open
        FROM grid
    )
    SELECT grp, name, idx + 1, open_deals, open_value, stale_deals, stale_value, median_days, max_days,
           won_deals, lost_deals, win_rate, avg_deal_size, avg_cycle,
           group_open * win_rate * avg_deal_size / nullif(avg_cycle, 0)
    FROM rated ORDER BY grp, idx
    """
    names = ["step", *OPEN_FIGURES, *GROUP_FIGURES]
    return {
        (grp, stage): dict(zip(names, values, strict=True))
        for grp, stage, *values in db.execute(sql).fetchall()
    }


def check_against(rows: list[dict], expected: dict[tuple, dict], as_of: str, by: str | None = None) -> None:
    assert len(rows) == len(expected)
    groups = sorted({grp for grp, _ in expected})
    # Rows come group by group (sorted), each with every open stage in funnel order.
    assert [(row[by] if by else "all", row["stage"]) for row in rows] == [
        (grp, stage) for grp in groups for stage in OPEN_STAGES
    ]
    mismatches = []
    for row in rows:
        assert row["funnel"] == "pipeline" and row["as_of"] == as_of
        want = expected[(row[by] if by else "all", row["stage"])]
        for name, value in want.items():
            if not same(row[name], value, name):
                mismatches.append(
                    f"{row.get(by, 'all')}/{row['stage']} {name}: got {row[name]}, want {value}"
                )
    assert not mismatches, "\n".join(mismatches)


def open_at_exactly(db, period: tuple[str, str, str], days: int) -> int:
    """Open deals that have sat exactly `days` days in their stage (stale only when strictly more)."""
    deals = deals_on(*period, group="'all'")
    sql = f"SELECT count(*) FROM ({deals}) WHERE is_open AND days = {days}"
    return db.execute(sql).fetchone()[0]


def nontrivial(expected: dict[tuple, dict]) -> None:
    """The case exercises every figure: open and stale deals, won and lost deals in the period."""
    rows = list(expected.values())
    assert sum(r["open_deals"] for r in rows) > 50
    assert 0 < sum(r["stale_deals"] for r in rows) < sum(r["open_deals"] for r in rows)
    assert all(r["won_deals"] > 0 and r["lost_deals"] > 0 for r in rows)
    assert all(r["velocity_per_day"] is not None for r in rows)


# --- the oracle's assumptions about the sample ----------------------------------------------------------


def test_sample_history_is_unambiguous(db):
    # No deal has two history entries on one day, so "the last entry on or before as_of" is well defined.
    same_day = db.execute(
        "SELECT count(*) FROM (SELECT deal_id, entered FROM history GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()
    assert same_day == (0,)
    # Every deal has a history (no fallback to the stage column), and every entry belongs to a deal.
    assert db.execute(
        "SELECT count(*) FROM deals WHERE deal_id NOT IN (SELECT deal_id FROM history)"
    ).fetchone() == (0,)
    assert db.execute(
        "SELECT count(*) FROM history WHERE deal_id NOT IN (SELECT deal_id FROM deals)"
    ).fetchone() == (0,)
    # Every deal has a team (the --by team groups cover every deal).
    assert db.execute("SELECT count(*) FROM deals WHERE team IS NULL").fetchone() == (0,)


# --- the summary ------------------------------------------------------------------------------------------


def test_december_matches_duckdb(db):
    expected = expected_pipeline(db, DECEMBER, stale_days=30)
    nontrivial(expected)
    assert open_at_exactly(db, DECEMBER, 30) > 0  # on the threshold: not stale
    check_against(pipeline("--period", "2025-12"), expected, as_of="2025-12-31")


def test_q3_by_team_matches_duckdb(db):
    expected = expected_pipeline(db, Q3, stale_days=30, by="team")
    nontrivial(expected)
    assert len({grp for grp, _ in expected}) == 4
    check_against(pipeline("--period", "2025-Q3", "--by", "team"), expected, as_of="2025-09-30", by="team")


def test_q3_stale_days_matches_duckdb(db):
    expected = expected_pipeline(db, Q3, stale_days=14)
    nontrivial(expected)
    assert open_at_exactly(db, Q3, 14) > 0  # on the threshold: not stale
    # The threshold matters: more deals are stale after 14 days than after 30.
    default = expected_pipeline(db, Q3, stale_days=30)
    assert sum(e["stale_deals"] for e in expected.values()) > sum(e["stale_deals"] for e in default.values())
    check_against(pipeline("--period", "2025-Q3", "--stale-days", "14"), expected, as_of="2025-09-30")


# --- --list STAGE -----------------------------------------------------------------------------------------


def expected_list(db, stage: str, period: tuple[str, str, str], stale_days: int) -> list[tuple]:
    """(deal, rep, status, days_in_stage, in_stage_since, value) of the deals open at the stage on as_of,
    then of those lost in the period whose furthest stage is the stage."""
    as_of, start, end = period
    idx = STAGES.index(stage)
    sql = f"""
    WITH deal AS ({deals_on(as_of, start, end, "'all'")})
    SELECT deal_id, rep, CASE WHEN days > {stale_days} THEN 'stale' ELSE 'open' END, days,
           CAST(since AS VARCHAR), amount
    FROM deal WHERE is_open AND stage_then = {idx}
    UNION ALL
    SELECT deal_id, rep, 'dropped', NULL, NULL, amount
    FROM deal WHERE closed_in_period AND lost AND furthest = {idx}
    """
    return db.execute(sql).fetchall()


def test_list_proposal_q3_matches_duckdb(db):
    expected = expected_list(db, "Proposal", Q3, stale_days=30)
    statuses = [e[2] for e in expected]
    assert all(statuses.count(s) > 0 for s in ("stale", "open", "dropped")), statuses
    rows = pipeline("--list", "Proposal", "--period", "2025-Q3")
    assert all(row["stage"] == "Proposal" for row in rows)
    got = {(r["deal"], r["status"], r["days_in_stage"]) for r in rows}
    assert len(got) == len(rows)  # no deal twice
    assert got == {(deal, status, days) for deal, _, status, days, _, _ in expected}
    details = {r["deal"]: (r["rep"], r["in_stage_since"], r["value"]) for r in rows}
    for deal, rep, _, _, since, value in expected:
        assert details[deal][:2] == (rep, since), deal
        assert details[deal][2] == pytest.approx(value, rel=1e-9), deal
    # Documented order: stale, then open, then dropped; longest in the stage first.
    order = {"stale": 0, "open": 1, "dropped": 2}
    keys = [(order[r["status"]], -(r["days_in_stage"] or 0)) for r in rows]
    assert keys == sorted(keys)
