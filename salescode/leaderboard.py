"""Leaderboards: groups (reps, teams) ranked on a metric, with their move since the period before.

Rules (README "salescode leaderboard"):
- Ranking is competition ranking ("1224"): equal values share the best rank and the next rank
  skips; tied groups are listed by name. Better is higher unless the metric's direction is lower.
- A minimum volume keeps small samples off the board: for a ratio the volume is its denominator
  (closed deals for a win rate), or any metric named with --volume; a group below the minimum,
  or without a value, is listed unranked. The same rule places the previous period's ranks.
- Most improved: the groups ranked in both periods, by their change in value (the same
  direction rule), ranked the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl

from salescode.catalog import Catalog, Direction, Grain, Level, Metric, MetricKind, did_you_mean
from salescode.engine import ReportRequest, evaluate
from salescode.errors import SalescodeError
from salescode.periods import Period

LEADERBOARD_COLUMNS = (
    "metric",
    "period",
    "previous_period",
    "rank",
    "value",
    "volume",
    "previous_rank",
    "previous",
    "change",
    "rank_change",
    "improvement_rank",
    "status",
)
RANKED, BELOW_MINIMUM, NO_VALUE = "ranked", "below minimum volume", "no value"


@dataclass(frozen=True)
class LeaderboardRequest:
    metric: str | None = None  # None: the catalog's first result metric
    by: str = "rep"
    period: Period | None = None  # None: the latest `grain` period with data
    grain: Grain = Grain.MONTH
    volume: str | None = None  # None: a ratio's denominator, else no minimum
    min_volume: float = 5


@dataclass
class Leaderboard:
    frame: pl.DataFrame
    metric: Metric
    volume: Metric | None
    min_volume: float
    by: str
    period: Period
    previous: Period | None
    warnings: list[str] = field(default_factory=list)
    partial: date | None = None


def choose_metric(catalog: Catalog, name: str | None) -> Metric:
    if name is None:
        results = [m for m in catalog.metrics.values() if m.level is Level.RESULT]
        if not results:
            raise SalescodeError(
                f"{catalog.path}: no result metric to rank; name one: salescode leaderboard NAME"
            )
        return results[0]
    if name not in catalog.metrics:
        raise SalescodeError(
            f"leaderboard {name}: no such metric in {catalog.path}{did_you_mean(name, catalog.metrics)}; "
            "`salescode metrics` lists them"
        )
    return catalog.metrics[name]


def _volume_metric(catalog: Catalog, metric: Metric, name: str | None) -> Metric | None:
    if name is not None:
        return choose_metric(catalog, name)
    if metric.kind is MetricKind.RATIO and metric.denominator:
        return catalog.metrics[metric.denominator]
    return None


def build_leaderboard(catalog: Catalog, request: LeaderboardRequest, *, today: date) -> Leaderboard:
    """Rank the groups on the metric, in one engine run (the period and the one before)."""
    metric = choose_metric(catalog, request.metric)
    volume = _volume_metric(catalog, metric, request.volume)
    names = tuple(dict.fromkeys([metric.name, *([volume.name] if volume else [])]))
    report = evaluate(
        catalog,
        ReportRequest(metrics=names, by=(request.by,), period=request.period, grain=request.grain),
        today=today,
    )
    by = request.by
    values = report.frame.filter(pl.col("metric") == metric.name).select(by, "value", "previous")
    if volume is not None:
        volumes = report.frame.filter(pl.col("metric") == volume.name).select(
            by, pl.col("value").alias("volume"), pl.col("previous").alias("__previous_volume")
        )
        values = values.join(volumes, on=by, how="left", nulls_equal=True)
    else:
        values = values.with_columns(
            pl.lit(None, pl.Float64).alias(c) for c in ("volume", "__previous_volume")
        )
    frame = rank_groups(
        values, by, metric.direction is Direction.LOWER, volume is not None, request.min_volume
    )
    frame = frame.with_columns(
        pl.lit(metric.name).alias("metric"),
        pl.lit(report.period.label).alias("period"),
        pl.lit(report.previous.label if report.previous else None, pl.String).alias("previous_period"),
    ).select(*LEADERBOARD_COLUMNS[:3], by, *LEADERBOARD_COLUMNS[3:])
    return Leaderboard(
        frame,
        metric,
        volume,
        request.min_volume,
        by,
        report.period,
        report.previous,
        report.warnings,
        report.partial,
    )


def rank_groups(
    values: pl.DataFrame, by: str, lower: bool, has_volume: bool, min_volume: float
) -> pl.DataFrame:
    """Ranks, previous ranks and improvement ranks over a frame of by, value, previous, volume and
    __previous_volume; ordered by rank (the unranked last), then by name."""

    def eligible(value: str, volume: str) -> pl.Expr:
        ok = pl.col(value).is_not_null()
        return ok & (pl.col(volume).fill_null(0) >= min_volume) if has_volume else ok

    def rank(score: pl.Expr, keep: pl.Expr) -> pl.Expr:
        # "min": ties share the best rank (competition ranking); groups not kept get no rank.
        return pl.when(keep).then(score).rank(method="min", descending=not lower).cast(pl.Int64)

    now, before = eligible("value", "volume"), eligible("previous", "__previous_volume")
    change = pl.col("value") - pl.col("previous")
    frame = values.with_columns(
        rank(pl.col("value"), now).alias("rank"),
        rank(pl.col("previous"), before).alias("previous_rank"),
        change.alias("change"),
        rank(change, now & before).alias("improvement_rank"),
        pl.when(pl.col("value").is_null())
        .then(pl.lit(NO_VALUE))
        .when(now)
        .then(pl.lit(RANKED))
        .otherwise(pl.lit(BELOW_MINIMUM))
        .alias("status"),
    )
    frame = frame.with_columns((pl.col("previous_rank") - pl.col("rank")).alias("rank_change"))
    return frame.sort(["rank", by], nulls_last=True).drop("__previous_volume")
