"""`funnel` and `pipeline`: stage conversion and pipeline health."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from salescode.cli.common import (
    AsOfOption,
    ByOption,
    CatalogOption,
    FunnelArgument,
    GrainOpt,
    GrainOption,
    PeriodOption,
    app,
    load_catalog_option,
    output_options,
    parse_period_option,
    progress,
    send_view,
    today_or_as_of,
    user_errors,
    warn,
)
from salescode.errors import SalescodeError

if TYPE_CHECKING:
    from salescode.catalog import Catalog
    from salescode.funnel import FunnelReport
    from salescode.output import Destination
    from salescode.pipeline import DealList, PipelineReport


@app.command()
@output_options
def funnel(
    name: FunnelArgument = None,
    catalog: CatalogOption = None,
    period: PeriodOption = None,
    as_of: AsOfOption = None,
    grain: Annotated[
        GrainOption | None,
        typer.Option(
            "--grain",
            "-g",
            help="Grain of the default period (default: month). With --cohort: a cohort table, one "
            "row per creation period of this grain (over --period, default all).",
            show_default=False,
        ),
    ] = None,
    by: ByOption = None,
    cohort: Annotated[
        bool,
        typer.Option(
            "--cohort",
            help="Follow the deals created in the period to wherever they got (instead of the deals "
            "active in the period).",
        ),
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Count a deal at a stage only if it entered every earlier stage too (needs a stage "
            "history or per-stage conditions).",
        ),
    ] = False,
    matrix: Annotated[
        bool,
        typer.Option(
            "--matrix",
            help="With --by: one row per group, each step's conversion and its gap to the team "
            "(table and markdown; csv and json are the same).",
        ),
    ] = False,
    *,
    dest: Destination,
) -> None:
    """Stage-by-stage funnel: deals reached, conversion, drop-off, time in stage, bottleneck.

    By default the funnel counts the deals active in the period (created before it ended and
    not closed before it began): what the team worked on. --cohort counts the deals created in
    the period, followed to wherever they got: the honest view of conversion, though recent
    cohorts are still maturing.

    Each step's conversion is compared with the previous period (vs prev.) and, with --by, with
    the whole team (vs team); the bottleneck is the step furthest below the team, else the one
    that fell most since the previous period, else the lowest conversion.

    \b
    Examples:
      salescode funnel                     # the first funnel, latest month with data
      salescode funnel pipeline --period 2025-Q3 --cohort
      salescode funnel --cohort --grain month --period 2025    # conversion by creation month
      salescode funnel --period 2025 --by rep --matrix      # a row per rep
      salescode funnel --period 2025 --by team --format csv > funnel.csv
    """
    from salescode.catalog import Grain
    from salescode.funnel import build_funnel, choose_funnel, latest_funnel_period, open_funnel
    from salescode.periods import ALL

    with user_errors():
        spec = load_catalog_option(catalog)
        today = today_or_as_of(as_of)
        chosen = choose_funnel(spec, name)
        cohort_grain = Grain(grain.value) if cohort and grain else None
        if matrix and not by:
            raise SalescodeError("--matrix shows one row per --by group; add --by (e.g. --by rep)")
        with progress("Computing the funnel…"):
            workspace = open_funnel(spec, chosen)
            if period:
                span = parse_period_option(spec, period, today)
            elif cohort_grain:
                span = ALL
            else:
                span = latest_funnel_period(
                    workspace, chosen, Grain((grain or GrainOption.month).value), today
                )
            result = build_funnel(workspace, chosen, span, tuple(by or ()), cohort, strict, cohort_grain)
        for warning in result.warnings:
            warn(warning)
        _write_funnel(
            spec,
            result,
            dest,
            matrix,
        )


def _write_funnel(spec: Catalog, result: FunnelReport, dest: Destination, matrix: bool) -> None:
    from salescode import render

    if result.cohort_grain:
        deals = f"by {result.cohort_grain.value} created, over {result.period.label}"
    else:
        deals = f"{'cohort created in' if result.cohort else 'deals active in'} {result.period.label}"
    view = render.FunnelView(
        title=f"{spec.name} — {result.funnel.label} funnel, {deals}",
        by_labels={d: spec.dimensions[d].label for d in result.by},
        currency=spec.currency,
        note=result.bottleneck_note + ("; (±n): conversion minus the team's, in points" if matrix else ""),
        show_previous=result.previous is not None,
    )
    one_row_per_group = matrix or result.cohort_grain is not None

    markdown = render.write_funnel_matrix_markdown if one_row_per_group else render.write_funnel_markdown
    table = render.write_funnel_matrix_table if one_row_per_group else render.write_funnel_table
    send_view(
        dest,
        result.frame,
        markdown=lambda out: markdown(result.frame, out, view),
        terminal=lambda console: table(result.frame, console, view),
    )


@app.command()
@output_options
def pipeline(
    name: FunnelArgument = None,
    catalog: CatalogOption = None,
    period: PeriodOption = None,
    as_of: AsOfOption = None,
    grain: GrainOpt = GrainOption.month,
    by: ByOption = None,
    stale_days: Annotated[
        int | None,
        typer.Option(
            "--stale-days",
            help="An open deal is stale after this many days in one stage (default: the funnel's "
            "stale_after, else 30).",
            min=1,
            metavar="N",
            show_default=False,
        ),
    ] = None,
    list_stage: Annotated[
        str | None,
        typer.Option(
            "--list",
            help="List the deals stuck at (open in) this stage, stale first, and those lost at it in "
            "the period, instead of the summary (--by adds columns).",
            metavar="STAGE",
            show_default=False,
        ),
    ] = None,
    *,
    dest: Destination,
) -> None:
    """Pipeline health: open deals by stage, stale deals, win rate, cycle and sales velocity.

    The open pipeline is taken on the period's last day (with --period all, the latest date in
    the data; never after today): deals created by then and not yet closed, at the stage they
    were in that day (from the stage history; without one, the stage in the export). Win rate,
    average won deal and sales cycle come from the deals closed in the period, and
    velocity = open deals × win rate × average won deal ÷ average cycle, in value per day.

    \b
    Examples:
      salescode pipeline                          # as of the end of the latest month with data
      salescode pipeline --period 2025-Q4 --by team
      salescode pipeline --list Proposal --stale-days 21 --format csv > chase.csv
    """
    from salescode.catalog import Grain
    from salescode.funnel import choose_funnel, latest_funnel_period, open_funnel
    from salescode.pipeline import as_of_date, build_pipeline, list_deals

    with user_errors():
        spec = load_catalog_option(catalog)
        today = today_or_as_of(as_of)
        chosen = choose_funnel(spec, name)
        with progress("Computing the pipeline…"):
            workspace = open_funnel(spec, chosen)
            if period:
                span = parse_period_option(spec, period, today)
            else:
                span = latest_funnel_period(workspace, chosen, Grain(grain.value), today)
            day = as_of_date(workspace, chosen, span, today)
            if list_stage is not None:
                deals = list_deals(workspace, chosen, list_stage, span, day, tuple(by or ()), stale_days)
            else:
                result = build_pipeline(workspace, chosen, span, tuple(by or ()), day, stale_days)
        for warning in (deals if list_stage is not None else result).warnings:
            warn(warning)
        if list_stage is not None:
            _write_deals(spec, deals, span.label, dest)
        else:
            _write_pipeline(spec, result, dest)


def _write_pipeline(spec: Catalog, result: PipelineReport, dest: Destination) -> None:
    from salescode import render

    view = render.PipelineView(
        title=(
            f"{spec.name} — {result.funnel.label}: open deals on {result.as_of.isoformat()}, "
            f"closed deals of {result.period.label}"
        ),
        by_labels={d: spec.dimensions[d].label for d in result.by},
        currency=spec.currency,
        stale_after=result.stale_after,
    )

    send_view(
        dest,
        result.frame,
        markdown=lambda out: render.write_pipeline_markdown(result.frame, out, view),
        terminal=lambda console: render.write_pipeline_table(result.frame, console, view),
    )


def _write_deals(spec: Catalog, deals: DealList, period: str, dest: Destination) -> None:
    from salescode import render

    title = (
        f"{spec.name} — deals at {deals.stage} on {deals.as_of.isoformat()} (stale after "
        f"{deals.stale_after} days) and lost at it in {period}"
    )

    send_view(
        dest,
        deals.frame,
        markdown=lambda out: render.write_deal_markdown(deals.frame, out, title, spec.currency),
        terminal=lambda console: render.write_deal_table(deals.frame, console, title, spec.currency),
    )
