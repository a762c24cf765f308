"""Metric specs -> polars expressions -> one tidy result frame.

All simple metrics of a source are computed in ONE group_by/agg over that source, as conditional
aggregations (each metric filters on its own condition and time column, for the period and the
period before); ratios, derived metrics and targets are then computed on the small aggregated
frame. Every lazy query of a run goes through a single `pl.collect_all`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from salescode.catalog import (
    ZERO_WHEN_EMPTY,
    Agg,
    Catalog,
    Conversion,
    Direction,
    Funnel,
    Grain,
    Level,
    Metric,
    MetricKind,
    did_you_mean,
)
from salescode.catalog.model import LEVEL_ORDER
from salescode.errors import SalescodeError, SourceError
from salescode.expressions import columns_of, sql_expr
from salescode.funnel import funnel_date_columns, open_funnel, reach_query
from salescode.periods import Period, comparison_period, grain_period, whole_grains
from salescode.sources import non_finite_message
from salescode.targets import file_target_query, month_labels
from salescode.workspace import Workspace, check_metric_columns, metric_closure, require_dimensions

CURRENT, PREVIOUS = "cur", "prev"
REPORT_COLUMNS = ("metric", "label", "level", "category", "period")
VALUE_COLUMNS = ("value", "previous", "change", "target", "attainment")


@dataclass(frozen=True)
class ReportRequest:
    metrics: tuple[str, ...] = ()  # empty: every metric (filtered by levels)
    levels: tuple[Level, ...] = ()
    by: tuple[str, ...] = ()
    period: Period | None = None  # None: the latest `grain` period that has data
    grain: Grain = Grain.MONTH
    compare: str = "previous"  # previous | year-ago | none


@dataclass
class Report:
    """A tidy frame (one row per metric x group) and what a renderer needs to show it."""

    frame: pl.DataFrame
    period: Period
    previous: Period | None  # the period compared with (previous, a year ago, or none)
    metrics: list[Metric]
    by: tuple[str, ...]
    warnings: list[str] = field(default_factory=list)
    partial: date | None = None  # the period is under way: its figures run to this day


def select_metrics(catalog: Catalog, request: ReportRequest) -> list[Metric]:
    """The metrics a request names (or all of them), validated, in catalog order."""
    for name in request.metrics:
        if name not in catalog.metrics:
            raise SalescodeError(
                f"--metric '{name}': no such metric in {catalog.path}"
                f"{did_you_mean(name, catalog.metrics)}; `salescode metrics` lists them"
            )
    require_dimensions(catalog, request.by)
    chosen = [
        m
        for m in catalog.metrics.values()
        if (not request.metrics or m.name in request.metrics)
        and (not request.levels or m.level in request.levels)
    ]
    if not chosen:
        raise SalescodeError("no metric matches the --metric/--level options; `salescode metrics` lists them")
    return chosen


def date_columns(catalog: Catalog, metrics: list[Metric]) -> dict[str, set[str]]:
    """Per source, the columns used as time columns (they must parse as dates)."""
    columns: dict[str, set[str]] = {}
    for metric in metrics:
        time = catalog.metric_time(metric)
        if metric.source and time:
            columns.setdefault(metric.source, set()).add(time)
    for source in catalog.sources.values():
        if source.time:
            columns.setdefault(source.name, set()).add(source.time)
    for funnel in _funnels(catalog, metrics):
        for source, names in funnel_date_columns(catalog, funnel).items():
            columns.setdefault(source, set()).update(names)
    return columns


def _funnels(catalog: Catalog, metrics: list[Metric]) -> list[Funnel]:
    """The funnels that conversion metrics read."""
    names = dict.fromkeys(m.conversion.funnel for m in metrics if m.conversion)
    return [catalog.funnels[name] for name in names]


@dataclass
class Plan:
    """The metrics a run computes, the workspace they read, and what it found out on the way."""

    workspace: Workspace
    chosen: list[Metric]  # the metrics to show
    needed: list[Metric]  # chosen plus the metrics they are computed from, inputs first
    by: tuple[str, ...]
    warnings: list[str]


def plan_metrics(catalog: Catalog, request: ReportRequest, workspace: Workspace | None) -> Plan:
    """Choose the metrics, open (or reuse) the workspace over their sources, check their columns."""
    chosen = select_metrics(catalog, request)
    needed = [catalog.metrics[n] for n in metric_closure(catalog, [m.name for m in chosen])]
    target_files = [t for t in catalog.targets if t.metric in {m.name for m in needed}]
    funnels = _funnels(catalog, needed)
    sources = [m.source for m in needed if m.source] + [t.source for t in target_files]
    sources += [s for f in funnels for s in (f.source, f.history.source if f.history else None) if s]
    workspace = workspace or Workspace.open(catalog, sources, date_columns(catalog, needed))
    check_metric_columns(workspace, needed)
    for funnel in funnels:
        open_funnel(catalog, funnel, workspace)
    warnings: list[str] = []
    chosen, needed = _drop_unavailable(workspace, request, chosen, needed, warnings)
    return Plan(workspace, chosen, needed, request.by, warnings)


Windows = dict[str, Period | None]  # window key -> the period it covers (None: nothing to compute)


def run_windows(
    plan: Plan, windows: Windows, present: list[str], extra: dict[str, pl.LazyFrame]
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """Every needed metric for every window, in one collect: a wide frame (a row per group present
    in the `present` windows, a column `<metric>\x1f<window>` each), and the `extra` queries
    collected with them (the targets, or what a plan or coaching page reads besides), by name."""
    workspace, needed, by = plan.workspace, plan.needed, plan.by
    queries = {
        source: _source_query(
            workspace, source, [m for m in needed if m.source == source], by, windows, present
        )
        for source in dict.fromkeys(m.source for m in needed if m.source)
    }
    conversions = _conversion_queries(workspace, needed, by, windows)
    checked = [*queries, *(f.source for f in _funnels(workspace.catalog, needed))]
    named = {
        **{("source", name): q for name, q in queries.items()},
        **{("funnel", key): q for key, q in conversions.items()},
        **{("extra", name): q for name, q in extra.items()},
    }
    frames = dict(zip(named, workspace.collect(list(named.values()), checked), strict=True))
    aggregated = {name: frames["source", name] for name in queries}
    for metric in needed:
        if metric.conversion:
            reached = {key: frames.get(("funnel", (metric.conversion, key))) for key in windows}
            aggregated[f"conversion {metric.name}"] = _conversion_frame(
                workspace, metric, reached, by, present
            )
    wide = _combine(workspace, aggregated, needed, by, list(windows))
    wide = _compute_dependent(wide, needed, list(windows))
    return wide, {name: frames["extra", name] for name in extra}


def evaluate(
    catalog: Catalog, request: ReportRequest, *, today: date, workspace: Workspace | None = None
) -> Report:
    """Compute the requested metrics for the period (and the one compared with) in one collect.

    workspace: one already opened over (at least) the sources the metrics need, to share it.
    """
    plan = plan_metrics(catalog, request, workspace)
    period = request.period or latest_period(plan.workspace, plan.needed, request.grain, today)
    previous, partial = comparison_period(period, request.compare, today, catalog.week_start)
    # A period under way counts the rows up to today only (with --as-of, later rows may exist).
    counted = Period(period.start, partial + timedelta(days=1), period.label) if partial else period
    targets = target_queries(plan, period)
    wide, target_frames = run_windows(plan, {CURRENT: counted, PREVIOUS: previous}, [CURRENT], targets)
    frame = _tidy(catalog, wide, plan.chosen, request.by, period, previous, target_frames)
    return Report(frame, period, previous, plan.chosen, request.by, plan.warnings, partial)


def target_queries(plan: Plan, period: Period, key: str = "") -> dict[str, pl.LazyFrame]:
    """The per-group target queries (targets: files) of the needed metrics for a period, by metric
    name (plus key, to tell periods apart)."""
    queries = {}
    names = {m.name for m in plan.needed}
    for target in plan.workspace.catalog.targets:
        if target.metric in names:
            query = file_target_query(plan.workspace, target, plan.by, month_labels(period))
            if query is not None:
                queries[target.metric + key] = query
    return queries


def _drop_unavailable(
    workspace: Workspace,
    request: ReportRequest,
    chosen: list[Metric],
    needed: list[Metric],
    warnings: list[str],
) -> tuple[list[Metric], list[Metric]]:
    """Leave out metrics whose source cannot be grouped by the --by dimensions."""
    if not request.by:
        return chosen, needed
    missing: dict[str, str] = {}
    for metric in needed:
        source = metric.source
        if metric.conversion:
            source = workspace.catalog.funnels[metric.conversion.funnel].source
        if source is not None:
            lacking = [d for d in request.by if d not in workspace.schemas[source]]
            if lacking:
                missing[metric.name] = f"source '{source}' has no column '{lacking[0]}'"
        else:
            blocked = [name for name in metric.inputs if name in missing]
            if blocked:
                missing[metric.name] = missing[blocked[0]]
    unavailable = [m for m in chosen if m.name in missing]
    if unavailable and request.metrics:
        metric = unavailable[0]
        raise SalescodeError(
            f"--metric {metric.name} cannot be broken down by {', '.join(request.by)}: "
            f"{missing[metric.name]}; add a join that brings the column in, or drop --by"
        )
    if unavailable:
        names = ", ".join(m.name for m in unavailable)
        warnings.append(f"not broken down by {', '.join(request.by)} (their sources lack it): {names}")
    kept = [m for m in chosen if m.name not in missing]
    if not kept:
        raise SalescodeError(f"no requested metric can be broken down by {', '.join(request.by)}")
    return kept, [m for m in needed if m.name not in missing]


def _time_expr(workspace: Workspace, source: str, column: str) -> pl.Expr:
    expr = pl.col(column)
    return expr.dt.date() if workspace.schemas[source].get(column) == pl.Datetime else expr


def _in_period(time: pl.Expr, period: Period) -> pl.Expr:
    assert period.start is not None and period.end is not None
    return (time >= period.start) & (time < period.end)


def latest_period(workspace: Workspace, metrics: list[Metric], grain: Grain, today: date) -> Period:
    """The most recent grain period holding any date of the metrics' time columns (for a
    conversion, its funnel's closing and creation dates)."""
    catalog = workspace.catalog
    columns: dict[str, set[str]] = {}
    for metric in metrics:
        time = catalog.metric_time(metric)
        if metric.source and time:
            columns.setdefault(metric.source, set()).add(time)
    for funnel in _funnels(catalog, metrics):
        dates = {catalog.sources[funnel.source].time, funnel.cohort} - {None}
        columns.setdefault(funnel.source, set()).update(c for c in dates if c)
    queries = []
    for source, times in columns.items():
        if times:
            queries.append(
                workspace.frame(source, times).select(
                    pl.max_horizontal(_time_expr(workspace, source, t).max() for t in sorted(times)).alias(
                        "latest"
                    )
                )
            )
    latest = [frame["latest"][0] for frame in workspace.collect(queries)]
    latest = [day for day in latest if day is not None]
    # Never after today: future dates (expected close dates, planned quotas) do not make a period.
    return grain_period(min(max(latest), today) if latest else today, grain, catalog.week_start)


def _conversion_queries(
    workspace: Workspace, metrics: list[Metric], by: tuple[str, ...], windows: Windows
) -> dict[tuple[Conversion, str], pl.LazyFrame]:
    """The funnel reach per group that each conversion reads, for each window."""
    queries = {}
    for metric in metrics:
        step = metric.conversion
        if step is None:
            continue
        funnel = workspace.catalog.funnels[step.funnel]
        for key, span in windows.items():
            if span is not None and (step, key) not in queries:
                queries[step, key] = reach_query(workspace, funnel, span, by, step.cohort, step.strict)
    return queries


def _conversion_frame(
    workspace: Workspace,
    metric: Metric,
    reached: dict[str, pl.DataFrame | None],
    by: tuple[str, ...],
    present: list[str],
) -> pl.DataFrame:
    """Per group: reached(to) / reached(from) for each window (empty over no deals); a group is
    present when it has deals in one of the `present` windows."""
    step = metric.conversion
    assert step is not None
    stages = [stage.name for stage in workspace.catalog.funnels[step.funnel].stages]
    start, end = (f"reached\x1f{stages.index(name)}" for name in (step.start, step.end))
    share = pl.when(pl.col(start) != 0).then(pl.col(end).cast(pl.Float64) / pl.col(start))
    parts = [
        counts.select(
            *by, share.alias(f"{metric.name}\x1f{key}"), pl.lit(key in present).alias(f"__in\x1f{key}")
        )
        for key, counts in reached.items()
        if counts is not None
    ]
    frame = parts[0]
    for part in parts[1:]:
        if by:
            frame = frame.join(part, on=list(by), how="full", coalesce=True, nulls_equal=True)
        else:
            frame = pl.concat([frame, part], how="horizontal")
    missing = [f"{metric.name}\x1f{key}" for key, counts in reached.items() if counts is None]
    flags = [c for c in frame.columns if c.startswith("__in")]
    return frame.with_columns(
        pl.any_horizontal(pl.col(flags).fill_null(False)).alias("__present"),
        *(pl.lit(None, pl.Float64).alias(name) for name in missing),
    ).drop(flags)


class _RowColumns:
    """Per-row columns computed before the aggregation, one per distinct expression.

    Each metric's condition and filtered value become a plain column, so that the aggregation is
    made of simple column aggregations (`col.sum()`, `col.mean()`), which polars computes on its
    fast group-by paths; a conditional inside the aggregation (`value.filter(condition).sum()`)
    is evaluated group by group, several times slower.
    """

    def __init__(self) -> None:
        self.columns: dict[bytes, pl.Expr] = {}

    def add(self, expr: pl.Expr) -> pl.Expr:
        if expr.meta.is_column():
            return expr  # a column as read needs no copy
        # Keyed by the serialized plan: two IN lists print alike ("[Series]") but differ.
        key = expr.meta.serialize()
        name = self.columns.setdefault(key, expr.alias(f"__row{len(self.columns)}")).meta.output_name()
        return pl.col(name)


def metric_expr(
    metric: Metric, condition: pl.Expr | None, value_dtype: pl.DataType | None, rows: _RowColumns
) -> pl.Expr:
    """The aggregation of a simple metric over the rows where condition holds (None: every row)."""
    assert metric.agg is not None
    if metric.filter:
        condition = sql_expr(metric.filter) if condition is None else condition & sql_expr(metric.filter)
    if metric.agg is Agg.COUNT:
        return pl.len() if condition is None else rows.add(condition.fill_null(False)).sum()
    assert metric.expr is not None
    value = sql_expr(metric.expr)
    if isinstance(value_dtype, pl.Duration):
        value = value.dt.total_days(fractional=True)  # durations are reported in days
    elif value_dtype == pl.Boolean and metric.agg is not Agg.COUNT_DISTINCT:
        value = value.cast(pl.Float64)
    # Rows outside the condition are empty, and every aggregation but count ignores empty values.
    selected = rows.add(value if condition is None else pl.when(condition.fill_null(False)).then(value))
    if metric.agg is Agg.COUNT_DISTINCT:
        return selected.drop_nulls().n_unique()
    return getattr(selected, metric.agg.value)()


def _source_query(
    workspace: Workspace,
    source: str,
    metrics: list[Metric],
    by: tuple[str, ...],
    windows: Windows,
    present: list[str],
) -> pl.LazyFrame:
    """One aggregation over the source for all its metrics and every window; a group is present
    when it has rows in one of the `present` windows."""
    catalog = workspace.catalog
    times = {m.name: catalog.metric_time(m) for m in metrics}
    read = {*by, *(t for t in times.values() if t)}
    for metric in metrics:
        read |= {c for text in (metric.expr, metric.filter) if text for c in columns_of(sql_expr(text))}
    frame = workspace.frame(source, read)

    def condition(metric: Metric, window: str) -> pl.Expr | None:
        """The rows of the window: None for every row."""
        time, span = times[metric.name], windows[window]
        assert span is not None
        if time is None or span.is_all:
            return None
        return _in_period(_time_expr(workspace, source, time), span)

    spans = [p for p in windows.values() if p is not None]
    if spans and not any(p.is_all for p in spans) and all(times.values()):
        # Read only the rows some window needs (pushed down to the scan).
        covering = Period(min(p.start for p in spans), max(p.end for p in spans), "")
        frame = frame.filter(
            pl.any_horizontal(
                _in_period(_time_expr(workspace, source, t), covering).fill_null(False)
                for t in sorted(set(times.values()))
            )
        )
    rows = _RowColumns()
    aggregations = []
    for metric in metrics:
        dtype = workspace.dtype(source, sql_expr(metric.expr)) if metric.expr else None
        for window, span in windows.items():
            expr = (
                pl.lit(None) if span is None else metric_expr(metric, condition(metric, window), dtype, rows)
            )
            aggregations.append(expr.cast(pl.Float64).alias(f"{metric.name}\x1f{window}"))
    conditions = [condition(m, w) for m in metrics for w in present if windows[w] is not None]
    if not conditions or any(c is None for c in conditions):
        aggregations.append(pl.lit(True).alias("__present"))  # a group has rows, so rows in the window
    else:
        aggregations.append(rows.add(pl.any_horizontal(conditions).fill_null(False)).any().alias("__present"))
    aggregations += _non_finite_checks(workspace, source, metrics, rows)
    if rows.columns:
        frame = frame.with_columns(rows.columns.values())
    if by:
        return frame.group_by(list(by)).agg(aggregations)
    return frame.select(aggregations)


def _non_finite_checks(
    workspace: Workspace, source: str, metrics: list[Metric], rows: _RowColumns
) -> list[pl.Expr]:
    """Counts of NaN/inf in the float columns metrics read (CSV readers accept 'NaN' and 'inf')."""
    columns = set()
    for metric in metrics:
        for text in (metric.expr, metric.filter):
            if text:
                columns |= {
                    c
                    for c in sql_expr(text).meta.root_names()
                    if workspace.schemas[source].get(c) in (pl.Float64, pl.Float32)
                }
    return [
        rows.add((~pl.col(c).is_finite()).fill_null(False)).sum().alias(f"__nonfinite\x1f{c}")
        for c in sorted(columns)
    ]


def _combine(
    workspace: Workspace,
    aggregated: dict[str, pl.DataFrame],
    metrics: list[Metric],
    by: tuple[str, ...],
    windows: list[str],
) -> pl.DataFrame:
    """One wide frame: a row per group present in the period, a column per metric and window."""
    for source, frame in aggregated.items():
        for column in [c for c in frame.columns if c.startswith("__nonfinite")]:
            if frame[column].sum():
                name = column.split("\x1f")[1]
                raise SourceError(non_finite_message(workspace.layouts[source], name))
    frames = [
        frame.drop([c for c in frame.columns if c.startswith("__nonfinite")]).rename(
            {"__present": f"__present\x1f{source}"}
        )
        for source, frame in aggregated.items()
    ]
    if by:
        wide = frames[0]
        for frame in frames[1:]:
            wide = wide.join(frame, on=list(by), how="full", coalesce=True, nulls_equal=True)
        present = [c for c in wide.columns if c.startswith("__present")]
        wide = wide.filter(pl.any_horizontal(pl.col(present).fill_null(False))).drop(present)
        wide = wide.sort(list(by), nulls_last=True)
    else:
        wide = pl.concat(frames, how="horizontal") if frames else pl.DataFrame()
        wide = wide.drop([c for c in wide.columns if c.startswith("__present")])
    zero = [
        f"{m.name}\x1f{w}"
        for m in metrics
        if m.kind is MetricKind.SIMPLE and m.agg in ZERO_WHEN_EMPTY
        for w in windows
    ]
    # A group absent from one source's rows has 0 of that source's counts and sums, not "empty".
    return wide.with_columns(pl.col(c).fill_null(0.0) for c in zero if c in wide.columns)


def _compute_dependent(wide: pl.DataFrame, metrics: list[Metric], windows: list[str]) -> pl.DataFrame:
    """Ratios and derived metrics on the aggregated frame, inputs first; x/0 is empty."""
    for metric in metrics:
        if metric.kind in (MetricKind.SIMPLE, MetricKind.CONVERSION):
            continue
        columns = []
        for window in windows:
            if metric.kind is MetricKind.RATIO:
                value = pl.col(f"{metric.numerator}\x1f{window}") / pl.col(
                    f"{metric.denominator}\x1f{window}"
                )
            else:
                # The formula names metrics; evaluate it over this window's columns under those names.
                inputs = wide.select(pl.col(f"{name}\x1f{window}").alias(name) for name in metric.inputs)
                value = pl.lit(inputs.select(sql_expr(metric.formula).cast(pl.Float64)).to_series())
            # Any division by zero (in a ratio or inside a formula) gives null, never inf/NaN.
            columns.append(pl.when(value.is_finite()).then(value).alias(f"{metric.name}\x1f{window}"))
        wide = wide.with_columns(columns)
    return wide


def _tidy(
    catalog: Catalog,
    wide: pl.DataFrame,
    metrics: list[Metric],
    by: tuple[str, ...],
    period: Period,
    previous: Period | None,
    target_frames: dict[str, pl.DataFrame],
) -> pl.DataFrame:
    """One row per metric x group with value, previous, change, target and attainment."""
    ordered = sorted(metrics, key=lambda m: -LEVEL_ORDER[m.level])
    parts = []
    for metric in ordered:
        value = pl.col(f"{metric.name}\x1f{CURRENT}")
        before = pl.col(f"{metric.name}\x1f{PREVIOUS}")
        target = target_value(catalog, metric, by, period, target_frames)
        part = wide.select(
            pl.lit(metric.name).alias("metric"),
            pl.lit(metric.label).alias("label"),
            pl.lit(metric.level.value).alias("level"),
            pl.lit(metric.category).alias("category"),
            pl.lit(period.label).alias("period"),
            *[pl.col(d) for d in by],
            value.alias("value"),
            (before if previous else pl.lit(None, pl.Float64)).alias("previous"),
        )
        part = attach_target(part, target, metric, by)
        parts.append(part)
    frame = pl.concat(parts, how="vertical_relaxed") if parts else pl.DataFrame()
    return frame.with_columns(
        (pl.col("value") - pl.col("previous")).alias("change"),
    ).select(*REPORT_COLUMNS, *by, *VALUE_COLUMNS)


def target_value(
    catalog: Catalog,
    metric: Metric,
    by: tuple[str, ...],
    period: Period,
    target_frames: dict[str, pl.DataFrame],
) -> pl.DataFrame | float | None:
    """The target: a frame of per-group targets (from a targets file) or one number, or None."""
    if metric.name in target_frames:
        return target_frames[metric.name]
    if metric.target is None:
        return None
    if by and metric.additive:
        return None  # a team-wide total is not each group's target
    if metric.target.per is None:
        return metric.target.value
    grains = whole_grains(period, metric.target.per, catalog.week_start)
    if grains is None:
        return None
    return metric.target.value * grains if metric.additive else metric.target.value


def attach_target(
    part: pl.DataFrame, target: pl.DataFrame | float | None, metric: Metric, by: tuple[str, ...]
) -> pl.DataFrame:
    if isinstance(target, pl.DataFrame):
        if by:
            part = part.join(target, on=list(by), how="left", nulls_equal=True)
        else:
            part = part.with_columns(
                pl.lit(target["target"][0] if target.height else None, pl.Float64).alias("target")
            )
    else:
        part = part.with_columns(pl.lit(target, pl.Float64).alias("target"))
    ratio = (
        pl.col("target") / pl.col("value")
        if metric.direction is Direction.LOWER
        else pl.col("value") / pl.col("target")
    )
    return part.with_columns(pl.when(ratio.is_finite()).then(ratio).alias("attainment"))
