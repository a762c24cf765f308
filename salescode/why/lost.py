"""`salescode why lost`: why deals are lost, where, and which reasons are growing.

The deals are the funnel source's rows at a lost stage whose time column (the close date) falls
in the period. Each reason's share is measured overall and within every group of each breakdown
(the stage the deal was lost at, the rep, the product, the lead source) and per --grain period.
Its trend compares the reason's share of the lost deals in the earlier and the later half of the
range (split at the midpoint between the first and the last loss): a reason whose share grew by at
least GROWTH (5 points), and by more than chance would explain (a two-proportion z-test at 5%), is
growing; shrinking likewise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from salescode.catalog import Catalog, Grain
from salescode.periods import Period, grain_label
from salescode.why import first_funnel, in_period, open_sources, safe_ratio, source_frame

GROWTH = 0.05  # five points of share
Z_95 = 1.959964  # and a change that chance alone would reach less than 5% of the time
NOT_RECORDED = "(not recorded)"
ALL = "all"
COLUMNS = (
    "dimension",
    "group",
    "reason",
    "lost_deals",
    "lost_value",
    "value_share",
    "deal_share",
    "earlier_share",
    "recent_share",
    "change",
    "trend",
)


@dataclass(frozen=True)
class LostRequest:
    period: Period
    by: tuple[str, ...] = ("rep", "product", "lead_source")
    reason: str = "lost_reason"
    grain: Grain = Grain.QUARTER


@dataclass
class LostReport:
    frame: pl.DataFrame
    value: str | None  # the funnel's value column (None: lost_value is empty)
    warnings: list[str] = field(default_factory=list)


def lost_reasons(catalog: Catalog, request: LostRequest) -> LostReport:
    funnel = first_funnel(catalog)
    source = catalog.sources[funnel.source]
    time = source.time
    stage_column = funnel.lost_stage
    needed = [funnel.stage, request.reason, funnel.value, time, stage_column, *request.by]
    workspace = open_sources(catalog, {funnel.source: needed})
    value = pl.col(funnel.value).cast(pl.Float64) if funnel.value else pl.lit(None, pl.Float64)
    dimensions = {"stage": stage_column} if stage_column else {}
    dimensions |= {d: d for d in request.by}
    lost = (
        source_frame(workspace, funnel.source, needed)
        .filter(pl.col(funnel.stage).cast(pl.String).is_in(list(funnel.lost)))
        .filter(in_period(time, request.period) if time else pl.lit(True))
        .select(
            pl.col(request.reason).cast(pl.String).fill_null(NOT_RECORDED).alias("reason"),
            value.alias("value"),
            *[pl.col(c).cast(pl.String).alias(d) for d, c in dimensions.items()],
            (
                grain_label(pl.col(time).cast(pl.Date), request.grain, catalog.week_start)
                if time
                else pl.lit(None)
            )
            .cast(pl.String)
            .alias("period"),
            _half(time),
        )
    )
    (deals,) = workspace.collect([lost], [funnel.source])
    warnings = []
    missing = int((deals["reason"] == NOT_RECORDED).sum())
    if missing:
        warnings.append(f"{missing} lost deal(s) have no '{request.reason}'; shown as {NOT_RECORDED}")
    groups = {ALL: pl.lit(ALL), **{d: pl.col(d).fill_null("(none)") for d in dimensions}}
    if time:
        groups["period"] = pl.col("period")
    parts = [_shares(deals, name, expr, trend=name != "period") for name, expr in groups.items()]
    frame = pl.concat(parts).select(COLUMNS) if parts else pl.DataFrame(schema=dict.fromkeys(COLUMNS))
    return LostReport(frame, funnel.value, warnings)


def _half(time: str | None) -> pl.Expr:
    """True for losses in the later half of the range, between the first and the last loss."""
    if time is None:
        return pl.lit(None, pl.Boolean).alias("recent")
    day = pl.col(time).cast(pl.Date)
    middle = day.min() + (day.max() - day.min()) / 2
    return (day > middle).alias("recent")


def _shares(deals: pl.DataFrame, dimension: str, group: pl.Expr, trend: bool) -> pl.DataFrame:
    """One row per group x reason: counts, value, shares within the group, and the trend."""
    keyed = deals.with_columns(group.alias("group"))
    per_reason = keyed.group_by("group", "reason").agg(
        pl.len().alias("lost_deals"),
        pl.col("value").sum().alias("lost_value"),
        (pl.col("recent") == False).sum().alias("__earlier"),  # noqa: E712 - a polars comparison
        (pl.col("recent") == True).sum().alias("__recent"),  # noqa: E712
    )
    halves = pl.col("__earlier").sum().over("group"), pl.col("__recent").sum().over("group")
    earlier = safe_ratio(pl.col("__earlier"), halves[0])
    recent = safe_ratio(pl.col("__recent"), halves[1])
    change = recent - earlier
    # A two-proportion z statistic keeps small groups' noise from looking like a trend.
    pooled = safe_ratio(pl.col("__earlier") + pl.col("__recent"), halves[0] + halves[1])
    spread = (pooled * (1 - pooled) * (1 / halves[0] + 1 / halves[1])).sqrt()
    z = safe_ratio(change, spread)
    shares = per_reason.with_columns(
        pl.lit(dimension).alias("dimension"),
        safe_ratio(pl.col("lost_value"), pl.col("lost_value").sum().over("group")).alias("value_share"),
        safe_ratio(pl.col("lost_deals"), pl.col("lost_deals").sum().over("group")).alias("deal_share"),
        (earlier if trend else pl.lit(None, pl.Float64)).alias("earlier_share"),
        (recent if trend else pl.lit(None, pl.Float64)).alias("recent_share"),
        (change if trend else pl.lit(None, pl.Float64)).alias("change"),
        z.alias("__z"),
    ).with_columns(
        pl.when((pl.col("change") >= GROWTH) & (pl.col("__z") >= Z_95))
        .then(pl.lit("growing"))
        .when((pl.col("change") <= -GROWTH) & (pl.col("__z") <= -Z_95))
        .then(pl.lit("shrinking"))
        .when(pl.col("change").is_not_null())
        .then(pl.lit("steady"))
        .alias("trend")
    )
    order = ["group", "lost_value", "lost_deals", "reason"]
    return shares.sort(order, descending=[False, True, True, False], nulls_last=True).cast(
        {"lost_deals": pl.Int64}
    )
