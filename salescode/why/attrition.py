"""`salescode why attrition`: which reps left, why, how they were doing, and who may be next.

Per rep and month the attainment metric (with its per-rep targets, e.g. won revenue against quota),
the activity metric and the pipeline metric come from the same engine run as `trend --by rep`.
For a rep who left in the range, the window is the --months whole months before the exit month;
for a current rep, the range's last --months months. Over the window: attainment (the metric's sum
over the targets' sum), the activity's change against the --months before the window, and the
pipeline per month. Tenure is counted from the hire date to the exit (or to the range's end).

Early warning: a current rep showing at least two of the leavers' signals, each measured against
the leavers' median: attainment at or below it, activity falling at least as fast (when the
leavers' activity fell), pipeline per month at or below it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl

from salescode.catalog import Catalog, Grain
from salescode.catalog.parse import did_you_mean
from salescode.engine import date_columns
from salescode.errors import SalescodeError
from salescode.periods import Period
from salescode.trend import TrendRequest, build_trend
from salescode.why import safe_ratio
from salescode.workspace import Workspace, metric_closure

DEFAULT_MONTHS = 24
COLUMNS = (
    "rep",
    "status",
    "exit_date",
    "exit_reason",
    "tenure_months",
    "attainment",
    "activity_change",
    "pipeline_per_month",
    "signals",
    "warning",
)
SIGNALS = ("low attainment", "falling activity", "thin pipeline")
DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class AttritionRequest:
    period: Period | None = None  # None: the 24 latest months with data
    reps: str = "reps"
    rep: str = "rep"
    hire_date: str = "hire_date"
    exit_date: str = "exit_date"
    reason: str = "exit_reason"
    attainment: str = "won_revenue"
    activity: str = "activities_logged"
    pipeline: str = "pipeline_created"
    months: int = 3


@dataclass
class AttritionReport:
    frame: pl.DataFrame
    reasons: pl.DataFrame  # per exit reason: leavers, median tenure and attainment
    periods: list[Period]
    warnings: list[str] = field(default_factory=list)


def attrition_report(catalog: Catalog, request: AttritionRequest, *, today: date) -> AttritionReport:
    if request.months < 1:
        raise SalescodeError("--months must be 1 or more")
    for option, name in (
        ("--attainment", request.attainment),
        ("--activity", request.activity),
        ("--pipeline", request.pipeline),
    ):
        if name not in catalog.metrics:
            raise SalescodeError(f"{option} '{name}': no such metric{did_you_mean(name, catalog.metrics)}")
    if request.reps not in catalog.sources:
        raise SalescodeError(
            f"--reps '{request.reps}': no such source{did_you_mean(request.reps, catalog.sources)}"
        )
    names = metric_closure(catalog, [request.attainment, request.activity, request.pipeline])
    needed = [catalog.metrics[n] for n in names]
    sources = [m.source for m in needed if m.source] + [
        t.source for t in catalog.targets if t.metric in names
    ]
    # One workspace for the trend and the reps' file, so that no file is scanned twice.
    workspace = Workspace.open(catalog, [*sources, request.reps], date_columns(catalog, needed))
    columns = [request.rep, request.hire_date, request.exit_date, request.reason]
    for column in columns:
        if column not in workspace.columns(request.reps):
            raise SalescodeError(
                f"source '{request.reps}' has no column '{column}'"
                f"{did_you_mean(column, workspace.columns(request.reps))}; name it with the matching option"
            )
    trend = build_trend(
        catalog,
        TrendRequest(
            metrics=(request.attainment, request.activity, request.pipeline),
            by=(request.rep,),
            period=request.period,
            grain=Grain.MONTH,
            count=DEFAULT_MONTHS,
        ),
        today=today,
        workspace=workspace,
    )
    reps_query = workspace.frame(request.reps, columns).select(
        pl.col(request.rep).cast(pl.String).alias("rep"),
        pl.col(request.hire_date).cast(pl.Date).alias("hired"),
        pl.col(request.exit_date).cast(pl.Date).alias("exit_date"),
        pl.col(request.reason).cast(pl.String).alias("exit_reason"),
    )
    (reps,) = workspace.collect([reps_query], [request.reps])
    monthly = _monthly(trend.frame, request, [p.label for p in trend.periods])
    frame = _measure(monthly, reps, request, trend.periods)
    reasons = (
        frame.filter(pl.col("status") == "left")
        .group_by(pl.col("exit_reason").fill_null("(not recorded)"))
        .agg(
            pl.len().alias("leavers"),
            pl.col("tenure_months").median().alias("median_tenure_months"),
            pl.col("attainment").median().alias("median_attainment"),
        )
        .sort(["leavers", "exit_reason"], descending=[True, False])
    )
    return AttritionReport(frame, reasons, trend.periods, trend.warnings)


def _monthly(tidy: pl.DataFrame, request: AttritionRequest, labels: list[str]) -> pl.DataFrame:
    """rep, t (month index), achieved, target, activity, pipeline."""
    order = pl.DataFrame({"period": labels, "t": list(range(len(labels)))})
    values = tidy.join(order, on="period").rename({request.rep: "rep"})

    def series(metric: str, column: str, alias: str) -> pl.DataFrame:
        return values.filter(pl.col("metric") == metric).select("rep", "t", pl.col(column).alias(alias))

    frame = series(request.attainment, "value", "achieved")
    for metric, column, alias in (
        (request.attainment, "target", "target"),
        (request.activity, "value", "activity"),
        (request.pipeline, "value", "pipeline"),
    ):
        frame = frame.join(series(metric, column, alias), on=["rep", "t"], how="full", coalesce=True)
    return frame


def _measure(
    monthly: pl.DataFrame, reps: pl.DataFrame, request: AttritionRequest, periods: list[Period]
) -> pl.DataFrame:
    first, last = periods[0].start, periods[-1].end
    assert first is not None and last is not None
    span = len(periods)
    m = request.months
    exit_index = (
        (pl.col("exit_date").dt.year() - first.year) * 12 + pl.col("exit_date").dt.month() - first.month
    )
    people = reps.with_columns(
        pl.when(pl.col("exit_date").is_null() | (pl.col("exit_date") >= last))
        .then(pl.lit("current"))
        .when(pl.col("exit_date") >= first)
        .then(pl.lit("left"))
        .alias("status"),
    ).filter(pl.col("status").is_not_null() & (pl.col("hired").is_null() | (pl.col("hired") < last)))
    people = people.with_columns(
        pl.when(pl.col("status") == "left").then(exit_index).otherwise(pl.lit(span)).alias("end_t"),
        (
            (
                pl.when(pl.col("status") == "left").then(pl.col("exit_date")).otherwise(pl.lit(last))
                - pl.col("hired")
            ).dt.total_days()
            / DAYS_PER_MONTH
        ).alias("tenure_months"),
    )
    joined = people.select("rep", "end_t").join(monthly, on="rep")
    window = (pl.col("t") >= pl.col("end_t") - m) & (pl.col("t") < pl.col("end_t"))
    before = (pl.col("t") >= pl.col("end_t") - 2 * m) & (pl.col("t") < pl.col("end_t") - m)
    measured = joined.group_by("rep").agg(
        pl.col("achieved").filter(window).sum().alias("__achieved"),
        pl.col("target").filter(window).sum().alias("__target"),
        pl.col("activity").filter(window).sum().alias("__activity"),
        pl.col("activity").filter(before).sum().alias("__before"),
        pl.col("pipeline").filter(window).sum().alias("__pipeline"),
    )
    frame = people.join(measured, on="rep", how="left").with_columns(
        safe_ratio(pl.col("__achieved"), pl.col("__target")).alias("attainment"),
        (safe_ratio(pl.col("__activity"), pl.col("__before")) - 1).alias("activity_change"),
        (pl.col("__pipeline") / m).alias("pipeline_per_month"),
    )
    left = frame.filter(pl.col("status") == "left")
    medians = {
        "attainment": left["attainment"].median(),
        "activity_change": left["activity_change"].median(),
        "pipeline_per_month": left["pipeline_per_month"].median(),
    }
    falling = medians["activity_change"]
    checks = [
        pl.col("attainment") <= medians["attainment"] if medians["attainment"] is not None else pl.lit(False),
        pl.col("activity_change") <= falling if falling is not None and falling < 0 else pl.lit(False),
        (pl.col("pipeline_per_month") <= medians["pipeline_per_month"])
        if medians["pipeline_per_month"] is not None
        else pl.lit(False),
    ]
    flags = [
        pl.when(check.fill_null(False)).then(pl.lit(name))
        for check, name in zip(checks, SIGNALS, strict=True)
    ]
    frame = frame.with_columns(pl.concat_list(flags).list.drop_nulls().alias("__signals")).with_columns(
        pl.col("__signals").list.join(", ").alias("signals"),
        ((pl.col("status") == "current") & (pl.col("__signals").list.len() >= 2)).alias("warning"),
    )
    status_order = pl.when(pl.col("status") == "left").then(0).otherwise(1)
    return frame.sort([status_order, "exit_date", "rep"], nulls_last=True).select(COLUMNS)
