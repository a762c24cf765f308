"""`salescode trend`: metric values per grain period over a range, in one run of the engine.

Every period of the trend is one window of the same aggregation (see engine.run_windows), so a
trend value is exactly the report's value for that period. With --rolling N each value covers the
N grain periods ending with its period; with --cumulative, the range from its start to the period's
end: both are computed from the rows (a rolling win rate is won / closed over the window), never
by averaging values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from salescode.catalog import Catalog, Grain, Level, Metric
from salescode.catalog.model import LEVEL_ORDER
from salescode.engine import (
    ReportRequest,
    attach_target,
    latest_period,
    plan_metrics,
    run_windows,
    target_queries,
    target_value,
)
from salescode.errors import SalescodeError
from salescode.periods import Period, grain_period, range_period
from salescode.workspace import Workspace

TREND_COLUMNS = ("metric", "label", "level", "category", "period", "window")
VALUE_COLUMNS = ("value", "target", "attainment")
DEFAULT_PERIODS = 12  # without --period: this many --grain periods, up to the latest with data
MAX_PERIODS = 400  # more windows than this make one aggregation too wide: ask for a coarser grain


@dataclass(frozen=True)
class TrendRequest:
    metrics: tuple[str, ...] = ()
    levels: tuple[Level, ...] = ()
    by: tuple[str, ...] = ()
    period: Period | None = None  # None: the DEFAULT_PERIODS latest grain periods with data
    grain: Grain = Grain.MONTH
    rolling: int = 1  # each value covers this many grain periods, ending with its own
    cumulative: bool = False  # each value covers the range from its start
    count: int = DEFAULT_PERIODS  # without a period: this many grain periods, up to the latest with data


@dataclass
class Trend:
    """A tidy frame: one row per metric x group x period, periods in order."""

    frame: pl.DataFrame
    periods: list[Period]
    metrics: list[Metric]
    by: tuple[str, ...]
    warnings: list[str] = field(default_factory=list)
    partial: date | None = None  # the last period is under way: its figures run to this day


def split(period: Period, grain: Grain, week_start: str = "monday") -> list[Period]:
    """The grain periods that make up period, the first and last cut to its bounds."""
    if period.is_all:
        raise SalescodeError("trend needs a bounded --period (e.g. 2025 or 2024-07..2025-06), not all")
    assert period.start is not None and period.end is not None
    pieces, cursor = [], period.start
    while cursor < period.end:
        piece = grain_period(cursor, grain, week_start)
        assert piece.start is not None and piece.end is not None
        if piece.start < period.start or piece.end > period.end:
            piece = range_period(max(piece.start, period.start), min(piece.end, period.end))
        pieces.append(piece)
        cursor = piece.end
        if len(pieces) > MAX_PERIODS:
            raise SalescodeError(
                f"--period {period.label} holds more than {MAX_PERIODS} {grain.value}s; use a coarser "
                "--grain or a shorter --period"
            )
    return pieces


def build_trend(
    catalog: Catalog, request: TrendRequest, *, today: date, workspace: Workspace | None = None
) -> Trend:
    if request.rolling < 1:
        raise SalescodeError("--rolling must be 1 or more (the number of periods each value covers)")
    if request.rolling > 1 and request.cumulative:
        raise SalescodeError("--rolling and --cumulative exclude each other; choose one")
    plan = plan_metrics(
        catalog, ReportRequest(request.metrics, request.levels, request.by, grain=request.grain), workspace
    )
    week_start = catalog.week_start
    if request.period is None:
        last = latest_period(plan.workspace, plan.needed, request.grain, today)
        assert last.end is not None
        first = last
        for _ in range(request.count - 1):
            assert first.start is not None
            first = grain_period(first.start - timedelta(days=1), request.grain, week_start)
        assert first.start is not None
        period = range_period(first.start, last.end)
    else:
        period = request.period
    periods = split(period, request.grain, week_start)
    periods, partial = _up_to(periods, today)
    windows = _windows(periods, request, week_start)
    targets = {}
    for key, window in windows.items():
        targets |= target_queries(plan, window, key)
    wide, target_frames = run_windows(plan, dict(windows), list(windows), targets)
    parts = []
    for index, metric in enumerate(sorted(plan.chosen, key=lambda m: -LEVEL_ORDER[m.level])):
        for key, window in windows.items():
            own = target_frames.get(metric.name + key)
            frames = {metric.name: own} if own is not None else {}
            part = wide.select(
                pl.lit(metric.name).alias("metric"),
                pl.lit(metric.label).alias("label"),
                pl.lit(metric.level.value).alias("level"),
                pl.lit(metric.category).alias("category"),
                pl.lit(periods[int(key)].label).alias("period"),
                pl.lit(window.label).alias("window"),
                *[pl.col(d) for d in request.by],
                pl.col(f"{metric.name}\x1f{key}").alias("value"),
                pl.lit(index).alias("__metric"),
                pl.lit(int(key)).alias("__period"),
            )
            target = target_value(catalog, metric, request.by, window, frames)
            parts.append(attach_target(part, target, metric, request.by))
    frame = (
        pl.concat(parts, how="vertical_relaxed")
        .sort(["__metric", *request.by, "__period"], nulls_last=True)
        .select(*TREND_COLUMNS, *request.by, *VALUE_COLUMNS)
    )
    return Trend(frame, periods, plan.chosen, request.by, plan.warnings, partial)


def _up_to(periods: list[Period], today: date) -> tuple[list[Period], date | None]:
    """The periods that have begun by today, the one holding today cut to it (then partial)."""
    begun = [p for p in periods if p.start is not None and p.start <= today]
    if not begun:
        raise SalescodeError(f"the trend's periods all begin after {today}; choose an earlier --period")
    last = begun[-1]
    assert last.start is not None and last.end is not None
    if today + timedelta(days=1) < last.end:
        begun[-1] = Period(last.start, today + timedelta(days=1), last.label)
        return begun, today
    return begun, None


def _windows(periods: list[Period], request: TrendRequest, week_start: str) -> dict[str, Period]:
    """Per period (keyed by its index): the period itself, the --rolling periods ending with it
    (reaching back before the range when needed), or the range up to it (--cumulative)."""
    windows = {}
    for i, piece in enumerate(periods):
        assert piece.start is not None and piece.end is not None
        start = piece.start
        if request.cumulative:
            start = periods[0].start or start
        for _ in range(request.rolling - 1):
            start = grain_period(start - timedelta(days=1), request.grain, week_start).start or start
        windows[str(i)] = piece if start == piece.start else range_period(start, piece.end)
    return windows
