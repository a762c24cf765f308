"""The benchmark's KPI job in pandas (CSV reading with the pyarrow engine when pyarrow is installed).

Usage::

    python bench/kpi_pandas.py report DATA_DIR   # rep,metric,value for the subset, --period all
    python bench/kpi_pandas.py funnel DATA_DIR   # rep,stage,reached from the stage history

Same definitions as bench/kpi_polars.py (see bench/README.md). Output is CSV on stdout.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd

ENGINE = "pyarrow" if importlib.util.find_spec("pyarrow") else "c"
STAGES = ("Lead", "Qualified", "Demo", "Proposal", "Negotiation", "Won")
INDEX = {name: float(i) for i, name in enumerate(STAGES)}
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
RATIOS = {
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


def read(path: Path, columns: list[str]) -> pd.DataFrame:
    return pd.read_csv(path, usecols=columns, engine=ENGINE)


def report(data: Path) -> pd.DataFrame:
    deals = read(data / "deals.csv", ["rep", "stage", "amount", "discount_pct", "created_date", "close_date"])
    won = deals["stage"].eq("Won").fillna(False)
    closed = deals["stage"].isin(["Won", "Lost"])
    cycle = (pd.to_datetime(deals["close_date"]) - pd.to_datetime(deals["created_date"])).dt.days
    per_deal = (
        pd.DataFrame(
            {
                "rep": deals["rep"],
                "won_amount": deals["amount"].where(won),
                "won": won,
                "closed": closed,
                "cycle": cycle.where(closed),
                "discount": deals["discount_pct"].where(won),
                "amount": deals["amount"],
            }
        )
        .groupby("rep", dropna=False)
        .agg(
            won_revenue=("won_amount", "sum"),
            deals_won=("won", "sum"),
            deals_closed=("closed", "sum"),
            sales_cycle=("cycle", "mean"),
            avg_discount=("discount", "mean"),
            new_opportunities=("amount", "size"),
            pipeline_created=("amount", "sum"),
        )
    )
    activities = read(data / "activities.csv", ["rep", "type", "outcome"])
    call = activities["type"].eq("call").fillna(False)
    per_activity = (
        pd.DataFrame(
            {
                "rep": activities["rep"],
                "call": call,
                "connected": call & activities["outcome"].eq("connected").fillna(False),
                "meeting": activities["type"].eq("meeting").fillna(False)
                & activities["outcome"].eq("held").fillna(False),
                "rep_value": activities["rep"],
            }
        )
        .groupby("rep", dropna=False)
        .agg(
            calls_made=("call", "sum"),
            calls_connected=("connected", "sum"),
            meetings_held=("meeting", "sum"),
            activities_logged=("call", "size"),
            active_reps=("rep_value", "nunique"),
        )
    )
    wide = per_deal.join(per_activity, how="outer").astype("float64")
    wide[list(ZERO_WHEN_EMPTY)] = wide[list(ZERO_WHEN_EMPTY)].fillna(0.0)
    for name, (num, den) in RATIOS.items():
        wide[name] = (wide[num] / wide[den]).where(wide[den] != 0)
    long = wide[list(SUBSET)].rename_axis("rep").reset_index()
    return long.melt(id_vars="rep", var_name="metric", value_name="value")


def funnel(data: Path) -> pd.DataFrame:
    history = read(data / "stage_history.csv", ["deal_id", "stage"])
    entered = history["stage"].map(INDEX).groupby(history["deal_id"]).max()
    deals = read(data / "deals.csv", ["deal_id", "rep", "stage", "lost_stage"])
    deals = deals[deals["stage"].isin([*STAGES, "Lost"])]
    # Without a history, a deal got to its current stage, a lost deal to its lost_stage.
    fallback = deals["lost_stage"].map(INDEX).where(deals["stage"].eq("Lost"), deals["stage"].map(INDEX))
    furthest = deals["deal_id"].map(entered).fillna(fallback)
    reached = pd.DataFrame({name: furthest >= i for i, name in enumerate(STAGES)})
    counts = reached.groupby(deals["rep"], dropna=False).sum().rename_axis("rep").reset_index()
    return counts.melt(id_vars="rep", var_name="stage", value_name="reached")


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in ("report", "funnel"):
        sys.exit("usage: kpi_pandas.py report|funnel DATA_DIR")
    job, data = argv[0], Path(argv[1])
    frame = report(data) if job == "report" else funnel(data)
    frame.to_csv(sys.stdout, index=False, lineterminator="\n", float_format="%.17g")


if __name__ == "__main__":
    main(sys.argv[1:])
