"""`report`, `trend` and `check`: the AOR scorecard, over one period or many."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from salescode.cli.common import (
    EXIT_MISSED,
    AsOfOption,
    ByOption,
    CatalogOption,
    CompareOpt,
    CompareOption,
    GrainOpt,
    GrainOption,
    LevelOpt,
    LevelOption,
    MetricOption,
    PeriodOption,
    app,
    load_catalog_option,
    note,
    output_options,
    parse_period_option,
    progress,
    send_view,
    today_or_as_of,
    user_errors,
    warn,
)

if TYPE_CHECKING:
    import polars as pl
    from rich.console import Console

    from salescode.catalog import Catalog, Metric
    from salescode.engine import Report
    from salescode.output import Destination
    from salescode.render import MetricStyle
    from salescode.trend import Trend


@app.command()
@output_options
def report(
    catalog: CatalogOption = None,
    period: PeriodOption = None,
    as_of: AsOfOption = None,
    grain: GrainOpt = GrainOption.month,
    by: ByOption = None,
    metric: MetricOption = None,
    level: LevelOpt = None,
    compare: CompareOpt = CompareOption.previous,
    *,
    dest: Destination,
) -> None:
    """The AOR scorecard: every metric for a period, against the period before and the target.

    Results come first, then the objectives and activities that drive them. Each value is
    compared with the period of the same length just before it (change), and with its target
    (attainment). With --by, one row per metric and group.

    \b
    Examples:
      salescode report                     # the latest month with data
      salescode report --period 2025-Q3 --by team --level result
      salescode report --period last-month --format csv > scorecard.csv
    """
    with user_errors():
        spec = load_catalog_option(catalog)
        result = _evaluate(spec, period, as_of, grain, by, metric, level, compare)
        _write_report(
            spec,
            result,
            dest,
        )


def _evaluate(
    spec: Catalog,
    period: str | None,
    as_of: str | None,
    grain: GrainOption,
    by: list[str] | None,
    metric: list[str] | None,
    level: list[LevelOption] | None,
    compare: CompareOption,
) -> Report:
    """The report the options ask for, its warnings on stderr."""
    from salescode.catalog import Grain, Level
    from salescode.engine import ReportRequest, evaluate

    today = today_or_as_of(as_of)
    request = ReportRequest(
        metrics=tuple(metric or ()),
        levels=tuple(Level(item.value) for item in level or ()),
        by=tuple(by or ()),
        period=parse_period_option(spec, period, today) if period else None,
        grain=Grain(grain.value),
        compare=compare.value,
    )
    with progress("Computing metrics…"):
        result = evaluate(spec, request, today=today)
    for warning in result.warnings:
        warn(warning)
    if result.partial:
        compared = f", compared with {result.previous.label}" if result.previous else ""
        note(f"note: {result.period.label} is not over: its figures run to {result.partial}{compared}")
    return result


@app.command()
@output_options
def trend(
    catalog: CatalogOption = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            "-p",
            help="The range to show, split into --grain periods, e.g. 2025 or 2024-07..2025-06. "
            "Default: the 12 latest --grain periods with data.",
            metavar="PERIOD",
            show_default=False,
        ),
    ] = None,
    as_of: AsOfOption = None,
    grain: Annotated[
        GrainOption, typer.Option("--grain", "-g", help="One value per period of this grain.")
    ] = (GrainOption.month),
    by: ByOption = None,
    metric: MetricOption = None,
    level: LevelOpt = None,
    rolling: Annotated[
        int,
        typer.Option(
            "--rolling",
            help="Each value covers this many --grain periods, ending with its own (e.g. 3: a rolling "
            "quarter of months), computed from the rows, not averaged.",
            min=1,
            metavar="N",
        ),
    ] = 1,
    cumulative: Annotated[
        bool,
        typer.Option("--cumulative", help="Each value covers the range from its start to the period's end."),
    ] = False,
    *,
    dest: Destination,
) -> None:
    """Metrics over time: one value per --grain period, with a sparkline and the latest value
    against target.

    CSV and JSON are tidy: one row per metric, group and period, with the window each value
    covers (the period itself, or the span of --rolling/--cumulative). Each value equals the
    report's value for that window.

    \b
    Examples:
      salescode trend --period 2025 --level result        # monthly, with sparklines
      salescode trend --metric won_revenue --by team --rolling 3
      salescode trend --period 2025 --grain week --format csv > weekly.csv
    """
    from salescode.catalog import Grain, Level
    from salescode.trend import TrendRequest, build_trend

    with user_errors():
        spec = load_catalog_option(catalog)
        today = today_or_as_of(as_of)
        request = TrendRequest(
            metrics=tuple(metric or ()),
            levels=tuple(Level(item.value) for item in level or ()),
            by=tuple(by or ()),
            period=parse_period_option(spec, period, today) if period else None,
            grain=Grain(grain.value),
            rolling=rolling,
            cumulative=cumulative,
        )
        with progress("Computing the trend…"):
            result = build_trend(spec, request, today=today)
        for warning in result.warnings:
            warn(warning)
        if result.partial:
            note(f"note: {result.periods[-1].label} is not over: its figures run to {result.partial}")
        _write_trend(spec, result, dest, rolling, cumulative)


def _write_trend(spec: Catalog, result: Trend, dest: Destination, rolling: int, cumulative: bool) -> None:
    from salescode.render import write_trend_markdown, write_trend_table

    styles = _styles(spec, result.metrics)
    by_labels = {d: spec.dimensions[d].label for d in result.by}
    span = f"{result.periods[0].label} to {result.periods[-1].label}"
    kind = " (cumulative)" if cumulative else f" (rolling {rolling})" if rolling > 1 else ""
    title = f"{spec.name} — {span}{kind}"

    send_view(
        dest,
        result.frame,
        markdown=lambda out: write_trend_markdown(result.frame, out, styles, by_labels, title),
        terminal=lambda console: write_trend_table(result.frame, console, styles, by_labels, title),
    )


@app.command()
@output_options
def check(
    catalog: CatalogOption = None,
    period: PeriodOption = None,
    as_of: AsOfOption = None,
    grain: GrainOpt = GrainOption.month,
    by: ByOption = None,
    metric: MetricOption = None,
    level: LevelOpt = None,
    compare: CompareOpt = CompareOption.previous,
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance",
            "-t",
            help="Count a target as met within this fraction of it (0.05: attainment of 95% or more).",
            min=0.0,
            max=1.0,
            metavar="FRACTION",
        ),
    ] = 0.0,
    warn_only: Annotated[
        bool, typer.Option("--warn-only", help="Print the misses but exit 0 (report without alerting).")
    ] = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="Print every target checked (status met, missed or no value).")
    ] = False,
    *,
    dest: Destination,
) -> None:
    """Check the period's targets; exit code 1 when any is missed: the cron alert.

    Every metric with a target (its own, or per group from a targets: file, e.g. each rep's
    quota with --by rep) is met when its attainment is at least 1 - tolerance. The misses are
    printed (all targets with --all), a summary goes to stderr, and the exit code is 0 when
    all are met, 1 when any is missed, 2 on errors. A target whose metric has no value (a
    ratio over no deals) is counted as "no value", not as a miss.

    \b
    Examples:
      salescode check --period last-month --by rep || mail -s "targets missed" sales@example.com
      salescode check --level result --tolerance 0.05 --format markdown
      salescode check --period last-week --warn-only --all --format csv >> checks.csv
    """
    from salescode.check import check_targets

    with user_errors():
        spec = load_catalog_option(catalog)
        result = _evaluate(spec, period, as_of, grain, by, metric, level, compare)
        checked = check_targets(result, tolerance)
        caption = f"missed: attainment below {1 - tolerance:.0%}"
        _write_report(
            spec,
            result,
            dest,
            checked.rows(show_all),
            caption,
        )
    note(f"check: {checked.summary(result.period.label, tolerance)}")
    if checked.missed and not warn_only:
        raise typer.Exit(code=EXIT_MISSED)


def _styles(spec: Catalog, metrics: list[Metric]) -> dict[str, MetricStyle]:
    from salescode.render import MetricStyle

    return {
        m.name: MetricStyle(m.format.value, m.direction.value if m.direction else None, spec.currency)
        for m in metrics
    }


def _write_report(
    spec: Catalog,
    result: Report,
    dest: Destination,
    frame: pl.DataFrame | None = None,
    caption: str | None = None,
) -> None:
    """The report (or the given rows of it, such as check's misses)."""
    from salescode.render import write_report_markdown, write_report_table

    styles = _styles(spec, result.metrics)
    by_labels = {d: spec.dimensions[d].label for d in result.by}
    partial = f" (to {result.partial})" if result.partial else ""
    compared = f" vs {result.previous.label}" if result.previous else ""
    title = f"{spec.name} — {result.period.label}{partial}{compared}"
    rows = result.frame if frame is None else frame

    def terminal(console: Console) -> None:
        if not rows.is_empty():
            write_report_table(rows, console, styles, by_labels, title, caption)

    send_view(
        dest,
        rows,
        markdown=lambda out: write_report_markdown(rows, out, styles, by_labels, title),
        terminal=terminal,
    )
