"""The benchmark's KPI job as a hand-written polars lazy script (the baseline salescode is held to).

Usage::

    python bench/kpi_polars.py report DATA_DIR   # rep,metric,value for the subset, --period all
    python bench/kpi_polars.py funnel DATA_DIR   # rep,stage,reached from the stage history

DATA_DIR holds deals.csv, activities.csv and stage_history.csv as written by
sample_data/generate.py. The metric definitions (filters, aggregations) are those of
metrics.yaml, written out by hand; see bench/README.md for the list. Output is CSV on stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

STAGES = ("Lead", "Qualified", "Demo", "Proposal", "Negotiation", "Won")
LOST = "Lost"
RATIOS = {  # name: (numerator, denominator)
    "win_rate": ("deals_won", "deals_closed"),
    "avg_deal_size": ("won_revenue", "deals_won"),
    "connect_rate": ("calls_connected", "calls_made"),
}
ZERO_WHEN_EMPTY = (
    "won_revenue",
    "deals_won",
    "deals_closed",
    "new_opportunities",
    "pipeline_created",
    "calls_made",
    "calls_connected",
    "meetings_held",
    "activities_logged",
    "active_reps",
)
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


def report(data: Path) -> pl.DataFrame:
    deals = pl.scan_csv(
        data / "deals.csv",
        schema_overrides={
            "amount": pl.Float64,
            "discount_pct": pl.Float64,
            "created_date": pl.Date,
            "close_date": pl.Date,
        },
    )
    activities = pl.scan_csv(data / "activities.csv", infer_schema=False)
    won = pl.col("stage") == "Won"
    closed = pl.col("stage").is_in(["Won", "Lost"])
    per_deal = deals.group_by("rep").agg(
        won_revenue=pl.col("amount").filter(won).sum(),
        deals_won=won.sum(),
        deals_closed=closed.sum(),
        sales_cycle=(pl.col("close_date") - pl.col("created_date")).dt.total_days().filter(closed).mean(),
        avg_discount=pl.col("discount_pct").filter(won).mean(),
        new_opportunities=pl.len(),
        pipeline_created=pl.col("amount").sum(),
    )
    call = pl.col("type") == "call"
    per_activity = activities.group_by("rep").agg(
        calls_made=call.sum(),
        calls_connected=(call & (pl.col("outcome") == "connected")).sum(),
        meetings_held=((pl.col("type") == "meeting") & (pl.col("outcome") == "held")).sum(),
        activities_logged=pl.len(),
        active_reps=pl.col("rep").drop_nulls().n_unique(),
    )
    d, a = pl.collect_all([per_deal, per_activity])
    wide = d.join(a, on="rep", how="full", coalesce=True, nulls_equal=True).with_columns(
        pl.col(c).cast(pl.Float64).fill_null(0.0) for c in ZERO_WHEN_EMPTY
    )
    wide = wide.with_columns(
        pl.when(pl.col(den) != 0).then(pl.col(num) / pl.col(den)).alias(name)
        for name, (num, den) in RATIOS.items()
    )
    return (
        wide.select("rep", *(pl.col(m).cast(pl.Float64) for m in SUBSET))
        .unpivot(index="rep", variable_name="metric", value_name="value")
        .sort("rep", "metric", nulls_last=True)
    )


def funnel(data: Path) -> pl.DataFrame:
    # Stages read as an Enum in funnel order (an unknown value is an error, not a miscount): a
    # stage's index is its physical value, Lost (last) excluded.
    stage = pl.Enum([*STAGES, LOST])
    furthest_entered = (
        pl.scan_csv(
            data / "stage_history.csv", schema={"deal_id": pl.String, "stage": stage, "entered": pl.String}
        )
        .group_by("deal_id")
        .agg(pl.col("stage").filter(pl.col("stage") != LOST).to_physical().max().alias("entered"))
    )
    deals = pl.scan_csv(
        data / "deals.csv", infer_schema=False, schema_overrides={"stage": stage, "lost_stage": stage}
    )
    # Without a history, a deal got to its current stage, a lost deal to its lost_stage.
    fallback = pl.when(pl.col("stage") == LOST).then(pl.col("lost_stage")).otherwise(pl.col("stage"))
    furthest = pl.coalesce("entered", fallback.to_physical())
    reached = (
        deals.select("deal_id", "rep", "stage", "lost_stage")
        .filter(pl.col("stage").is_not_null())  # as salescode: a deal without a stage is left out
        .join(furthest_entered, on="deal_id", how="left")
        .group_by("rep")
        .agg((furthest >= i).sum().alias(name) for i, name in enumerate(STAGES))
        .collect()
    )
    return (
        reached.unpivot(index="rep", variable_name="stage", value_name="reached")
        .with_columns(pl.col("reached").cast(pl.Int64))
        .sort("rep", "stage", nulls_last=True)
    )


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in ("report", "funnel"):
        sys.exit("usage: kpi_polars.py report|funnel DATA_DIR")
    job, data = argv[0], Path(argv[1])
    frame = report(data) if job == "report" else funnel(data)
    sys.stdout.write(frame.write_csv())


if __name__ == "__main__":
    main(sys.argv[1:])
