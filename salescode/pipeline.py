"""Pipeline health: the open deals by stage on a date, stale deals, and sales velocity.

The open pipeline as of a date (the last day of the period): deals created by then and not
closed by then, at the stage they were in on that day (from the stage history; without one, the
stage in the export, which is the pipeline of today). A deal is stale when it has sat in that
stage for longer than the funnel's `stale_after` days.

Velocity = open deals x win rate x average won deal / average sales cycle: the value the
pipeline is expected to turn into per day. Win rate, deal size and cycle come from the deals
closed (won or lost) in the period.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from salescode.catalog import Funnel, did_you_mean
from salescode.errors import SalescodeError
from salescode.funnel import (
    FURTHEST,
    LOST,
    funnel_frame,
    latest_date,
    require_funnel_dimensions,
    stage_deals,
    stage_index,
    unknown_stages_warning,
)
from salescode.periods import Period
from salescode.workspace import Workspace

PIPELINE_COLUMNS = ("funnel", "as_of", "stage", "step")
VALUE_COLUMNS = (
    "open_deals",
    "open_value",
    "stale_deals",
    "stale_value",
    "median_days_in_stage",
    "max_days_in_stage",
    "won_deals",
    "lost_deals",
    "win_rate",
    "avg_deal_size",
    "avg_cycle_days",
    "velocity_per_day",
)
STATUS_ORDER = ("stale", "open", "dropped")
_STAGE, _SINCE, _OPEN, _WON, _CLOSED_IN_PERIOD = "__stage", "__since", "__open", "__won", "__closed"


@dataclass
class PipelineReport:
    """Per group and open stage: the open pipeline and, repeated on each row, the group's velocity."""

    frame: pl.DataFrame
    funnel: Funnel
    period: Period
    as_of: date
    by: tuple[str, ...]
    stale_after: int
    warnings: list[str] = field(default_factory=list)


@dataclass
class DealList:
    """The deals stuck at (open in) or dropped at one stage."""

    frame: pl.DataFrame
    funnel: Funnel
    stage: str
    as_of: date
    stale_after: int
    warnings: list[str] = field(default_factory=list)


def as_of_date(workspace: Workspace, funnel: Funnel, period: Period, today: date) -> date:
    """The pipeline's date: the period's last day (the latest date in the data for `all`),
    never after today."""
    if period.is_all:
        latest = latest_date(workspace, funnel)
        return min(latest, today) if latest else today
    assert period.end is not None
    return min(period.end - timedelta(days=1), today)


def _day(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Date)


def _staged_at(
    workspace: Workspace, funnel: Funnel, by: tuple[str, ...], period: Period, as_of: date
) -> tuple[pl.LazyFrame, pl.LazyFrame | None]:
    """Every deal with its stage on as_of (_STAGE, null when closed), since when (_SINCE), whether
    it was open then, won, and closed in the period; and the deals left out for an unknown stage."""
    source = workspace.catalog.sources[funnel.source]
    staged = stage_deals(workspace, funnel, funnel_frame(workspace, funnel, by), by, strict=False)
    deals = staged.deals
    last = len(funnel.stages) - 1
    won = (pl.col(FURTHEST) == last) & ~pl.col(LOST)
    closed = (won | pl.col(LOST)).fill_null(False)
    stage_now = pl.when(closed).then(None).otherwise(pl.col(FURTHEST))
    since_now = _since_from_columns(funnel)
    if funnel.history:
        key = source.key
        assert key is not None
        history = workspace.frame(
            funnel.history.source, [key, funnel.history.entered, funnel.history.stage]
        ).select(
            pl.col(key),
            _day(funnel.history.entered).alias("__entered"),
            stage_index(funnel, funnel.history.stage).alias("__index"),
        )
        # The last entry on or before as_of says where the deal was; a Lost/Won entry maps to no stage.
        # Entries of one deal on the same date keep the order of the history file.
        at = (
            history.filter(pl.col("__entered") <= as_of)
            .sort([key, "__entered"], maintain_order=True)
            .group_by(key)
            .agg(pl.col("__index").last().alias("__h_stage"), pl.col("__entered").last().alias("__h_since"))
        )
        known = history.select(key).unique().with_columns(pl.lit(True).alias("__has_history"))
        deals = deals.join(at, on=key, how="left").join(known, on=key, how="left")
        has_history = pl.col("__has_history").fill_null(False)
        stage_now = pl.when(has_history).then(pl.col("__h_stage")).otherwise(stage_now)
        since_now = pl.when(has_history).then(pl.col("__h_since")).otherwise(since_now)
    open_now = stage_now.is_not_null() & (stage_now < last)
    if source.time:
        # Closed by as_of (won or lost with a close date on or before it) is not open, whatever the history.
        open_now = open_now & ~(closed & (_day(source.time) <= as_of)).fill_null(False)
    if funnel.cohort:
        open_now = open_now & (_day(funnel.cohort) <= as_of).fill_null(True)
    in_period = pl.lit(True)
    if not period.is_all:
        assert period.start is not None and period.end is not None
        time = _day(source.time) if source.time else pl.lit(None, pl.Date)
        in_period = (time >= period.start) & (time < period.end)
    deals = deals.with_columns(
        stage_now.alias(_STAGE),
        since_now.alias(_SINCE),
        open_now.fill_null(False).alias(_OPEN),
        won.fill_null(False).alias(_WON),
        (closed & in_period).fill_null(False).alias(_CLOSED_IN_PERIOD),
    )
    return deals, staged.unknown


def _collect(
    workspace: Workspace, funnel: Funnel, queries: list[pl.LazyFrame], unknown: pl.LazyFrame | None
) -> tuple[list[pl.DataFrame], list[str]]:
    """The queries' frames and warnings, after the funnel source's data checks."""
    extra = [unknown] if unknown is not None else []
    frames = workspace.collect([*queries, *extra], [funnel.source])
    warnings = []
    if unknown is not None and frames[len(queries)].height:
        warnings.append(unknown_stages_warning(funnel, frames[len(queries)]))
    return frames[: len(queries)], warnings


def _since_from_columns(funnel: Funnel) -> pl.Expr:
    """When the deal entered its current stage, from the stage's `entered` column or stage_since."""
    since = _day(funnel.stage_since) if funnel.stage_since else pl.lit(None, pl.Date)
    for i, stage in enumerate(funnel.stages):
        if stage.entered:
            since = pl.when(pl.col(FURTHEST) == i).then(_day(stage.entered)).otherwise(since)
    return since


def _can_age(funnel: Funnel) -> bool:
    return bool(funnel.history or funnel.stage_since or any(s.entered for s in funnel.stages))


def build_pipeline(
    workspace: Workspace,
    funnel: Funnel,
    period: Period,
    by: tuple[str, ...],
    as_of: date,
    stale_after: int | None = None,
) -> PipelineReport:
    require_funnel_dimensions(workspace, funnel, by)
    source = workspace.catalog.sources[funnel.source]
    stale_after = stale_after or funnel.stale_after
    deals, unknown = _staged_at(workspace, funnel, by, period, as_of)
    value = pl.col(funnel.value).cast(pl.Float64) if funnel.value else None

    def money(aggregation: Callable[[pl.Expr], pl.Expr], name: str) -> pl.Expr:
        """An aggregation of the value column; empty (not 0) when the funnel has no value."""
        return (aggregation(value) if value is not None else pl.lit(None, pl.Float64)).alias(name)

    days = (pl.lit(as_of) - pl.col(_SINCE)).dt.total_days()
    stale = (days > stale_after).fill_null(False)
    open_query = (
        deals.filter(pl.col(_OPEN))
        .group_by([*by, _STAGE])
        .agg(
            pl.len().alias("open_deals"),
            money(lambda v: v.sum(), "open_value"),
            stale.sum().alias("stale_deals"),
            money(lambda v: v.filter(stale).sum(), "stale_value"),
            days.median().cast(pl.Float64).alias("median_days_in_stage"),
            days.max().cast(pl.Float64).alias("max_days_in_stage"),
        )
    )
    won = pl.col(_WON)
    cycle = (
        (_day(source.time) - _day(funnel.cohort)).dt.total_days().cast(pl.Float64)
        if source.time and funnel.cohort
        else pl.lit(None, pl.Float64)
    )
    closed_aggregations = [
        won.sum().alias("won_deals"),
        (~won).sum().alias("lost_deals"),
        money(lambda v: v.filter(won).mean(), "avg_deal_size"),
        cycle.filter(won).mean().alias("avg_cycle_days"),
    ]
    closed = deals.filter(pl.col(_CLOSED_IN_PERIOD))
    closed_query = (
        closed.group_by(list(by)).agg(closed_aggregations) if by else closed.select(closed_aggregations)
    )
    (opened, closed_frame), warnings = _collect(workspace, funnel, [open_query, closed_query], unknown)
    frame = _tidy(funnel, opened, closed_frame, by, as_of)
    if not _can_age(funnel):  # unknown, not zero
        frame = frame.with_columns(
            pl.lit(None, pl.Int64).alias("stale_deals"), pl.lit(None, pl.Float64).alias("stale_value")
        )
        warnings.append(
            f"funnel '{funnel.name}': no dates say when a deal entered its stage, so days in stage and "
            f"stale deals are unknown; declare funnels.{funnel.name}.stage_since (or a history)"
        )
    if not source.time:
        warnings.append(
            f"funnel '{funnel.name}': source '{funnel.source}' has no time column (close date), so win "
            "rate, deal size, cycle and velocity are unknown"
        )
    return PipelineReport(frame, funnel, period, as_of, by, stale_after, warnings)


def _tidy(
    funnel: Funnel, opened: pl.DataFrame, closed: pl.DataFrame, by: tuple[str, ...], as_of: date
) -> pl.DataFrame:
    """Every open stage for every group (zeros where none), the group's velocity on each row."""
    open_stages = pl.DataFrame({_STAGE: list(range(len(funnel.stages) - 1))}, schema={_STAGE: pl.Int32})
    if by:
        groups = pl.concat([opened.select(by), closed.select(by)], how="vertical_relaxed").unique()
        grid = groups.sort(list(by), nulls_last=True).join(open_stages, how="cross")
    else:
        grid = open_stages
    counts = ["open_deals", "stale_deals"]
    sums = ["open_value", "stale_value"] if funnel.value else []
    frame = grid.join(opened, on=[*by, _STAGE], how="left", nulls_equal=True).with_columns(
        pl.col(counts).fill_null(0).cast(pl.Int64), pl.col(sums).fill_null(0.0)
    )
    if by:
        frame = frame.join(closed, on=list(by), how="left", nulls_equal=True)
    else:
        frame = frame.with_columns(
            pl.lit(value).alias(name) for name, value in closed.row(0, named=True).items()
        )
    frame = frame.with_columns(pl.col("won_deals", "lost_deals").fill_null(0).cast(pl.Int64))
    won, lost = pl.col("won_deals").cast(pl.Float64), pl.col("lost_deals").cast(pl.Float64)
    # Element-wise divisions (see funnel._conversions): exact, and x/0 is empty.
    win_rate = pl.when(won + lost != 0).then(won / (won + lost))
    total_open = pl.col("open_deals").sum().over(list(by) or pl.lit(0)).cast(pl.Float64)
    velocity = total_open * pl.col("win_rate") * pl.col("avg_deal_size") / pl.col("avg_cycle_days")
    stages = [stage.name for stage in funnel.stages]
    return (
        frame.with_columns(win_rate.alias("win_rate"))
        .with_columns(
            pl.when(velocity.is_finite()).then(velocity).alias("velocity_per_day"),
            pl.lit(funnel.name).alias("funnel"),
            pl.lit(as_of).alias("as_of"),
            pl.col(_STAGE)
            .replace_strict(list(range(len(stages))), stages, return_dtype=pl.String)
            .alias("stage"),
            (pl.col(_STAGE) + 1).alias("step"),
        )
        .with_columns(pl.col(c).cast(pl.Float64) for c in ("open_value", "stale_value", "avg_deal_size"))
        .select(*PIPELINE_COLUMNS, *by, *VALUE_COLUMNS)
    )


def list_deals(
    workspace: Workspace,
    funnel: Funnel,
    stage: str,
    period: Period,
    as_of: date,
    by: tuple[str, ...] = (),
    stale_after: int | None = None,
) -> DealList:
    """The deals open at the stage on as_of (stale first, longest in the stage first), then those
    lost at it in the period (the funnel's `dropped`). Columns: the deal key, the `by` dimensions
    (default: the catalog's first dimension the source has, usually the rep), then the details."""
    names = [s.name for s in funnel.stages]
    if stage not in names[:-1]:
        if stage in names:
            raise SalescodeError(
                f"--list {stage}: the last stage of funnel '{funnel.name}'; no deal waits there"
            )
        raise SalescodeError(
            f"--list {stage}: funnel '{funnel.name}' has no stage '{stage}'{did_you_mean(stage, names)} "
            f"(stages: {', '.join(names)})"
        )
    stale_after = stale_after or funnel.stale_after
    catalog = workspace.catalog
    source = catalog.sources[funnel.source]
    require_funnel_dimensions(workspace, funnel, by)
    dimensions = list(by) or [d for d in catalog.dimensions if d in workspace.schemas[funnel.source]][:1]
    deals, unknown = _staged_at(workspace, funnel, tuple(dimensions), period, as_of)
    index = names.index(stage)
    days = (pl.lit(as_of) - pl.col(_SINCE)).dt.total_days()
    here = pl.col(_OPEN) & (pl.col(_STAGE) == index)
    dropped = pl.col(_CLOSED_IN_PERIOD) & pl.col(LOST) & (pl.col(FURTHEST) == index)
    status = (
        pl.when(here & (days > stale_after).fill_null(False))
        .then(pl.lit("stale"))
        .when(here)
        .then(pl.lit("open"))
        .otherwise(pl.lit("dropped"))
    )
    details = {"value": funnel.value, "created": funnel.cohort, "closed": source.time}
    query = (
        deals.filter(here | dropped.fill_null(False))
        .select(
            *([pl.col(source.key).alias("deal")] if source.key else []),
            *dimensions,
            pl.lit(stage).alias("stage"),
            status.alias("status"),
            pl.when(here).then(days).cast(pl.Float64).alias("days_in_stage"),
            pl.when(here).then(pl.col(_SINCE)).alias("in_stage_since"),
            *(pl.col(column).alias(name) for name, column in details.items() if column),
        )
        .sort(
            [
                pl.col("status").replace_strict(list(STATUS_ORDER), [0, 1, 2], return_dtype=pl.Int8),
                "days_in_stage",
            ],
            descending=[False, True],
            nulls_last=True,
        )
    )
    (frame,), warnings = _collect(workspace, funnel, [query], unknown)
    return DealList(frame, funnel, stage, as_of, stale_after, warnings)
