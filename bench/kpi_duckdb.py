"""The benchmark's KPI job in DuckDB SQL over the same CSV files.

Usage::

    python bench/kpi_duckdb.py report DATA_DIR   # rep,metric,value for the subset, --period all
    python bench/kpi_duckdb.py funnel DATA_DIR   # rep,stage,reached from the stage history

Same definitions as bench/kpi_polars.py (see bench/README.md). Output is CSV on stdout.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import duckdb

STAGES = ("Lead", "Qualified", "Demo", "Proposal", "Negotiation", "Won")
SUBSET = (
    "won_revenue",
    "deals_won",
    "deals_closed",
    "win_rate",
    "avg_deal_size",
    "sales_cycle",
    "avg_discount",
    "new_opportunities",
    "pipeline_created",
    "calls_made",
    "meetings_held",
    "connect_rate",
    "activities_logged",
    "active_reps",
)

REPORT_SQL = """
WITH d AS (
    SELECT
        rep,
        coalesce(sum(amount) FILTER (WHERE stage = 'Won'), 0) AS won_revenue,
        count(*) FILTER (WHERE stage = 'Won') AS deals_won,
        count(*) FILTER (WHERE stage IN ('Won', 'Lost')) AS deals_closed,
        avg(close_date - created_date) FILTER (WHERE stage IN ('Won', 'Lost')) AS sales_cycle,
        avg(discount_pct) FILTER (WHERE stage = 'Won') AS avg_discount,
        count(*) AS new_opportunities,
        coalesce(sum(amount), 0) AS pipeline_created
    FROM read_csv({deals}, header = true, types = {{
        'amount': 'DOUBLE', 'discount_pct': 'DOUBLE', 'created_date': 'DATE', 'close_date': 'DATE'
    }})
    GROUP BY rep
), a AS (
    SELECT
        rep,
        count(*) FILTER (WHERE type = 'call') AS calls_made,
        count(*) FILTER (WHERE type = 'call' AND outcome = 'connected') AS calls_connected,
        count(*) FILTER (WHERE type = 'meeting' AND outcome = 'held') AS meetings_held,
        count(*) AS activities_logged,
        count(DISTINCT rep) AS active_reps
    FROM read_csv({activities}, header = true, all_varchar = true)
    GROUP BY rep
), w AS (
    SELECT
        coalesce(d.rep, a.rep) AS rep,
        coalesce(won_revenue, 0) AS won_revenue,
        coalesce(deals_won, 0) AS deals_won,
        coalesce(deals_closed, 0) AS deals_closed,
        sales_cycle,
        avg_discount,
        coalesce(new_opportunities, 0) AS new_opportunities,
        coalesce(pipeline_created, 0) AS pipeline_created,
        coalesce(calls_made, 0) AS calls_made,
        coalesce(calls_connected, 0) AS calls_connected,
        coalesce(meetings_held, 0) AS meetings_held,
        coalesce(activities_logged, 0) AS activities_logged,
        coalesce(active_reps, 0) AS active_reps
    FROM d FULL OUTER JOIN a ON d.rep IS NOT DISTINCT FROM a.rep
)
SELECT
    rep,
    won_revenue,
    deals_won,
    deals_closed,
    CASE WHEN deals_closed <> 0 THEN deals_won / deals_closed END AS win_rate,
    CASE WHEN deals_won <> 0 THEN won_revenue / deals_won END AS avg_deal_size,
    sales_cycle,
    avg_discount,
    new_opportunities,
    pipeline_created,
    calls_made,
    meetings_held,
    CASE WHEN calls_made <> 0 THEN calls_connected / calls_made END AS connect_rate,
    activities_logged,
    active_reps
FROM w
ORDER BY rep NULLS LAST
"""

STAGE_CASE = "CASE {column} " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(STAGES)) + " END"

FUNNEL_SQL = """
WITH h AS (
    SELECT deal_id, max({stage_index}) AS entered
    FROM read_csv({history}, header = true, all_varchar = true)
    GROUP BY deal_id
), d AS (
    SELECT deal_id, rep, stage, lost_stage
    FROM read_csv({deals}, header = true, all_varchar = true)
    WHERE stage IN ({known})
), f AS (
    SELECT
        d.rep,
        coalesce(h.entered, CASE WHEN d.stage = 'Lost' THEN {lost_index} ELSE {current_index} END) AS furthest
    FROM d LEFT JOIN h USING (deal_id)
)
SELECT rep, {reached}
FROM f
GROUP BY rep
ORDER BY rep NULLS LAST
"""


def quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def report(con: duckdb.DuckDBPyConnection, data: Path) -> list[tuple[object, str, object]]:
    sql = REPORT_SQL.format(deals=quoted(data / "deals.csv"), activities=quoted(data / "activities.csv"))
    return [
        (row[0], name, value)
        for row in con.sql(sql).fetchall()
        for name, value in zip(SUBSET, row[1:], strict=True)
    ]


def funnel(con: duckdb.DuckDBPyConnection, data: Path) -> list[tuple[object, str, object]]:
    sql = FUNNEL_SQL.format(
        history=quoted(data / "stage_history.csv"),
        deals=quoted(data / "deals.csv"),
        stage_index=STAGE_CASE.format(column="stage"),
        lost_index=STAGE_CASE.format(column="d.lost_stage"),
        current_index=STAGE_CASE.format(column="d.stage"),
        known=", ".join(f"'{s}'" for s in (*STAGES, "Lost")),
        reached=", ".join(f"count(*) FILTER (WHERE furthest >= {i})" for i in range(len(STAGES))),
    )
    return [
        (row[0], stage, n)
        for row in con.sql(sql).fetchall()
        for stage, n in zip(STAGES, row[1:], strict=True)
    ]


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in ("report", "funnel"):
        sys.exit("usage: kpi_duckdb.py report|funnel DATA_DIR")
    job, data = argv[0], Path(argv[1])
    con = duckdb.connect()
    rows = report(con, data) if job == "report" else funnel(con, data)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["rep", "metric", "value"] if job == "report" else ["rep", "stage", "reached"])
    writer.writerows((rep, name, "" if value is None else repr(value)) for rep, name, value in rows)


if __name__ == "__main__":
    main(sys.argv[1:])
