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

from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import polars as pl

from salescode.catalog import Agg, Catalog, Direction, Grain, Level, Metric, MetricKind, did_you_mean
from salescode.engine import CURRENT, PREVIOUS, ReportRequest, latest_period, plan_metrics, run_windows
from salescode.errors import SalescodeError
from salescode.periods import Period, comparison_period
from salescode.workspace import metric_closure

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


def _presence_metrics(catalog: Catalog, names: tuple[str, ...]) -> dict[str, Metric]:
    """A row count per simple metric the ranked ones read, on the same time column: a group is
    on a period's board when it has rows in that period (as in `report`), counted per window."""
    counts = {}
    for name in metric_closure(catalog, names):
        metric = catalog.metrics[name]
        if metric.kind is MetricKind.SIMPLE:
            counts[f"__rows_{name}"] = replace(
                metric,
                name=f"__rows_{name}",
                agg=Agg.COUNT,
                expr=None,
                filter=None,
                time=catalog.metric_time(metric),
                target=None,
            )
    return counts


def build_leaderboard(catalog: Catalog, request: LeaderboardRequest, *, today: date) -> Leaderboard:
    """Rank the groups on the metric for the period and the one before, in one engine run.

    Each period's ranks are among the groups present in that period, so a rep who has left
    still counts in the ranks of the period before, as that period's board showed them.
    """
    metric = choose_metric(catalog, request.metric)
    volume = _volume_metric(catalog, metric, request.volume)
    names = tuple(dict.fromkeys([metric.name, *([volume.name] if volume else [])]))
    presence = _presence_metrics(catalog, names)
    full = replace(catalog, metrics={**catalog.metrics, **presence})
    plan = plan_metrics(full, ReportRequest(metrics=(*names, *presence), by=(request.by,)), None)
    period = request.period or latest_period(plan.workspace, plan.needed, request.grain, today)
    previous, partial = comparison_period(period, "previous", today, catalog.week_start)
    # A period under way counts its rows up to today, and is compared with as many days before it.
    counted = Period(period.start, partial + timedelta(days=1), period.label) if partial else period
    wide, _ = run_windows(plan, {CURRENT: counted, PREVIOUS: previous}, [CURRENT, PREVIOUS], {})

    def present(window: str) -> pl.Expr:
        if not presence:  # a conversion: the funnel's groups
            return pl.col(f"{metric.name}\x1f{window}").is_not_null()
        return pl.any_horizontal(pl.col(f"{name}\x1f{window}").fill_null(0) > 0 for name in presence)

    def column(name: str | None, window: str) -> pl.Expr:
        return pl.col(f"{name}\x1f{window}") if name else pl.lit(None, pl.Float64)

    by = request.by
    values = wide.select(
        by,
        column(metric.name, CURRENT).alias("value"),
        pl.when(present(PREVIOUS)).then(column(metric.name, PREVIOUS)).alias("previous"),
        column(volume.name if volume else None, CURRENT).alias("volume"),
        column(volume.name if volume else None, PREVIOUS).alias("__previous_volume"),
        present(CURRENT).alias("__present"),
    )
    lower = metric.direction is Direction.LOWER
    frame = rank_groups(values, by, lower, volume is not None, request.min_volume)
    frame = (
        frame.filter(pl.col("__present"))
        .drop("__present")
        .with_columns(
            pl.lit(metric.name).alias("metric"),
            pl.lit(period.label).alias("period"),
            pl.lit(previous.label if previous else None, pl.String).alias("previous_period"),
        )
    )
    frame = frame.select(*LEADERBOARD_COLUMNS[:3], by, *LEADERBOARD_COLUMNS[3:])
    return Leaderboard(
        frame, metric, volume, request.min_volume, by, period, previous, plan.warnings, partial
    )


def rank_groups(
    values: pl.DataFrame, by: str, lower: bool, has_volume: bool, min_volume: float
) -> pl.DataFrame:
    """Ranks, previous ranks and improvement ranks over a frame of by, value, previous, volume,
    __previous_volume and __present (on this period's board; the current ranks are among those);
    ordered by rank (the unranked last), then by name."""

    def eligible(value: str, volume: str) -> pl.Expr:
        ok = pl.col(value).is_not_null()
        return ok & (pl.col(volume).fill_null(0) >= min_volume) if has_volume else ok

    def rank(score: pl.Expr, keep: pl.Expr) -> pl.Expr:
        # "min": ties share the best rank (competition ranking); groups not kept get no rank.
        return pl.when(keep).then(score).rank(method="min", descending=not lower).cast(pl.Int64)

    now = eligible("value", "volume") & pl.col("__present")
    before = eligible("previous", "__previous_volume")
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
