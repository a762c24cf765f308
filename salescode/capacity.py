"""Capacity: how many reps a result target needs, from the observed productivity of ramped reps.

Productivity is the target metric per rep-month over the basis months in which a rep was fully
ramped (past `ramp_months` months since the hire month, and not in the exit month). A
new hire's k-th month (k = 1 .. N) counts as k / (N + 1) of a ramped rep (N = 3: 1/4, 2/4, 3/4).
The current team's capacity in the plan period is the sum of those factors over its months; the
reps needed are target / (productivity x months); the gap is their difference, and the hires
needed are the gap divided by what a hire starting on the period's first day contributes.
"""

from __future__ import annotations

import math
from datetime import date
from typing import TYPE_CHECKING

import polars as pl

from salescode.catalog import Metric
from salescode.periods import Period

if TYPE_CHECKING:
    from salescode.basis import Observed


def _month_number(day: pl.Expr) -> pl.Expr:
    return day.dt.year() * 12 + day.dt.month()


def ramp_factor(tenure: pl.Expr, ramp_months: int) -> pl.Expr:
    """Share of a ramped rep's output in the month `tenure` months after the hire month (0 = it)."""
    return (
        pl.when(tenure < 0)
        .then(0.0)
        .when(tenure < ramp_months)
        .then((tenure + 1) / (ramp_months + 1))
        .otherwise(1.0)
    )


def _months_frame(months: list[Period]) -> pl.DataFrame:
    """One row per month: its index, first day, last day and the share of it the period covers."""
    rows = []
    for i, month in enumerate(months):
        assert month.start is not None and month.end is not None
        first = month.start.replace(day=1)
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        share = (month.end - month.start).days / (following - first).days
        rows.append((str(i), first, following, share))
    return pl.DataFrame(rows, schema=["month", "first", "following", "share"], orient="row")


def on_team(headcount: pl.DataFrame, period: Period) -> list[str]:
    """Reps on the team at the start of the period (hired by then, not gone before it)."""
    assert period.start is not None
    present = (pl.col("hired") <= period.start) & (
        pl.col("left").is_null() | (pl.col("left") >= period.start)
    )
    return headcount.filter(present)[headcount.columns[0]].cast(pl.String).to_list()


def productivity(observed: Observed, ramp_months: int) -> tuple[float | None, int]:
    """Mean result per fully ramped rep-month in the basis, and how many rep-months that is."""
    assert observed.headcount is not None and observed.rep_months is not None
    rep = observed.headcount.columns[0]
    months = _months_frame(observed.months).filter(pl.col("share") == 1)
    results = observed.rep_months.unpivot(index=rep, variable_name="month", value_name="result")
    rows = (
        observed.headcount.join(months, how="cross")
        .join(results, on=[rep, "month"], how="left", nulls_equal=True)
        .filter(
            (_month_number(pl.col("first")) - _month_number(pl.col("hired")) >= max(ramp_months, 1))
            & (pl.col("left").is_null() | (pl.col("left") >= pl.col("following")))
        )
    )
    if rows.is_empty():
        return None, 0
    return rows["result"].fill_null(0.0).mean(), rows.height  # type: ignore[return-value]


def team_capacity(headcount: pl.DataFrame, period: Period, ramp_months: int) -> tuple[float, float, float]:
    """In ramped reps per month over the period: the team's capacity, and one hire's (starting
    on the period's first day); and the period's length in months."""
    from salescode.periods import months_of

    months = _months_frame(months_of(period))
    assert period.start is not None
    team = (
        headcount.join(months, how="cross")
        .with_columns(
            ramp_factor(_month_number(pl.col("first")) - _month_number(pl.col("hired")), ramp_months).alias(
                "f"
            )
        )
        .with_columns(
            # Gone before the month starts: nothing; leaving during it: the days worked.
            pl.when(pl.col("left").is_null() | (pl.col("left") >= pl.col("following") - pl.duration(days=1)))
            .then(pl.col("f"))
            .when(pl.col("left") < pl.col("first"))
            .then(0.0)
            .otherwise(
                pl.col("f")
                * ((pl.col("left") - pl.col("first")).dt.total_days() + 1)
                / (pl.col("following") - pl.col("first")).dt.total_days()
            )
            .alias("f")
        )
    )
    length = months["share"].sum()
    capacity = (team["f"] * team["share"]).sum() / length if team.height else 0.0
    hire = months.with_columns(
        ramp_factor(_month_number(pl.col("first")) - _month_number(pl.lit(period.start)), ramp_months).alias(
            "f"
        )
    )
    one_hire = (hire["f"] * hire["share"]).sum() / length
    return capacity, one_hire, length


def capacity_rows(
    observed: Observed, metric: Metric, period: Period, target: float, ramp_months: int, minimum: int
) -> list[list[object]]:
    """The plan's capacity rows (empty without planning.headcount)."""
    if observed.headcount is None or observed.rep_months is None:
        return []
    per_month, sample = productivity(observed, ramp_months)
    enough = per_month is not None and sample >= minimum and per_month > 0
    status = "ok" if enough else "no data" if not sample else f"too few ({sample} < {minimum})"
    if per_month is not None and per_month <= 0 and sample >= minimum:
        status = "zero: no result in the basis"
    capacity, one_hire, length = team_capacity(observed.headcount, period, ramp_months)
    needed = target / (per_month * length) if enough and per_month else None
    gap = needed - capacity if needed is not None else None
    hires = (math.ceil(gap / one_hire - 1e-9) if gap > 0 else 0) if gap is not None and one_hire else None

    from salescode.plan import PLAN_COLUMNS

    def row(item: str, label: str, required: float | None, **values: object) -> list[object]:
        cells: dict[str, object] = {"item": item, "label": label, "kind": "capacity", "required": required}
        cells |= values
        return [cells.get(name) for name in PLAN_COLUMNS]

    return [
        row(
            "rep_productivity",
            f"{metric.label} per ramped rep-month",
            None,
            basis_value=per_month,
            link="rep_productivity",
            observed=per_month,
            used=per_month,
            sample=float(sample),
            status=status,
        ),
        row(
            "reps_needed",
            "Reps needed (ramped full-time equivalents)",
            needed,
            run_rate=capacity,
            gap=gap,
            status=status if needed is None else "ok",
        ),
        row(
            "hires_needed",
            f"New hires needed, starting {period.start}",
            None if hires is None else float(hires),
            observed=one_hire,
            used=one_hire,
            status=status if hires is None else "ok",
        ),
    ]
