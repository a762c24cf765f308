"""`drivers` and `why`: test the catalog's theory of the business and explain losses."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from salescode.cli.common import (
    AsOfOption,
    CatalogOption,
    GrainOption,
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

    from salescode.catalog import Catalog
    from salescode.output import Destination
    from salescode.periods import Period
    from salescode.render.analysis import View

why_app = typer.Typer(
    help="Why results happen: lost deals, discounts, customer churn and rep attrition.\n\n"
    "\b\nExamples:\n"
    "  salescode why lost --period 2025\n"
    "  salescode why discounts --format csv > discounts.csv\n"
    "  salescode why churn --at-risk\n"
    "  salescode why attrition",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(why_app, name="why")

RangeOption = Annotated[
    str | None,
    typer.Option(
        "--period",
        "-p",
        help="The range to analyse, e.g. 2025 or 2024-07..2025-06. Default: see the command's help.",
        metavar="PERIOD",
        show_default=False,
    ),
]


def send_analysis(dest: Destination, frame: pl.DataFrame, view: View) -> None:
    """Machine formats get the tidy frame; table and markdown the view built from it."""
    from salescode.render.analysis import write_view_markdown, write_view_table

    send_view(
        dest,
        frame,
        markdown=lambda out: write_view_markdown(view, out),
        terminal=lambda console: write_view_table(view, console),
    )


@app.command()
@output_options
def drivers(
    catalog: CatalogOption = None,
    result: Annotated[
        str | None,
        typer.Option(
            "--result",
            "-r",
            help="The result metric to explain. Default: won_revenue, else the catalog's first result.",
            metavar="NAME",
            show_default=False,
        ),
    ] = None,
    period: RangeOption = None,
    as_of: AsOfOption = None,
    grain: Annotated[
        GrainOption,
        typer.Option("--grain", "-g", help="A unit is one --unit group in one period of this grain."),
    ] = GrainOption.month,
    lag: Annotated[
        str,
        typer.Option(
            "--lag",
            help="Pair the metric in period t with the result in t + LAG (e.g. 1: this month's meetings "
            "with next month's revenue); a range such as 0..3 tests every lag in it.",
            metavar="LAG",
        ),
    ] = "0",
    unit: Annotated[
        str,
        typer.Option("--unit", help="The dimension whose groups, per period, are the units.", metavar="DIM"),
    ] = "rep",
    everything: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Test every activity and objective metric, not only those with a drives path to the "
            "result; needed to find strong associations the catalog lacks.",
        ),
    ] = False,
    fdr: Annotated[
        float,
        typer.Option(
            "--fdr", help="False-discovery rate (Benjamini-Hochberg) below which a link is supported."
        ),
    ] = 0.10,
    permutations: Annotated[
        int, typer.Option("--permutations", help="Random re-pairings behind each p-value.", metavar="N")
    ] = 499,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the permutations (same seed, same p-values).")
    ] = 42,
    *,
    dest: Destination,
) -> None:
    """Test the catalog's drives links on the data: does more of an activity go with more of the
    result, rep by rep and month by month?

    For each activity and objective metric with a drives path to the result (every one with
    --all), the metric and the result are computed per rep and month (the --period, default the
    24 latest months with data), paired (the result --lag months later), and measured by Spearman's
    rank correlation with its confidence interval, a seeded permutation p-value and a Theil-Sen
    slope. Benjamini-Hochberg q-values keep the share of chance findings below --fdr. Each link gets
    a verdict (supported, not supported, insufficient data), and two lists follow: catalog links
    the data do not support, and strong associations the catalog lacks (with --all). Rep-months
    without any activity (before hiring, after leaving) are left out.

    A correlation is not a cause: read the notes under the table.

    \b
    Examples:
      salescode drivers                                  # the catalog's links to won_revenue
      salescode drivers --all --lag 0..2                 # every metric, this month to two months on
      salescode drivers --result win_rate --period 2025 --format csv > drivers.csv
    """
    from salescode.catalog import Grain
    from salescode.drivers import DriversRequest, find_drivers, parse_lags
    from salescode.render.analysis import drivers_view

    with user_errors():
        spec = load_catalog_option(catalog)
        today = today_or_as_of(as_of)
        request = DriversRequest(
            result=result,
            lags=parse_lags(lag),
            grain=Grain(grain.value),
            unit=unit,
            period=parse_period_option(spec, period, today) if period else None,
            everything=everything,
            fdr=fdr,
            permutations=permutations,
            seed=seed,
        )
        with progress("Testing the drivers…"):
            found = find_drivers(spec, request, today=today)
        for warning in found.warnings:
            warn(warning)
        label = spec.metrics[found.result].label
        span = f"{found.periods[0].label} to {found.periods[-1].label}"
        note(f"units: {unit} × {grain.value}, {span}")
        title = f"{spec.name} — what drives {label}? ({unit} × {grain.value}, {span})"
        send_analysis(dest, found.frame, drivers_view(found.frame, title, request.fdr, request.confidence))


def _range(spec: Catalog, period: str | None, today: date) -> Period:
    """The --period of a why report; all the data when it is not given."""
    return parse_period_option(spec, period or "all", today)


@why_app.command("lost")
@output_options
def why_lost(
    catalog: CatalogOption = None,
    period: RangeOption = None,
    as_of: AsOfOption = None,
    by: Annotated[
        list[str] | None,
        typer.Option(
            "--by",
            "-b",
            help="Break the reasons down by this column of the deals (repeatable). Default: rep, "
            "product and lead_source, besides the stage lost at.",
            metavar="COLUMN",
            show_default=False,
        ),
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="The deals' column holding the lost reason.")] = (
        "lost_reason"
    ),
    grain: Annotated[
        GrainOption, typer.Option("--grain", "-g", help="The periods of the share-by-period table.")
    ] = GrainOption.quarter,
    *,
    dest: Destination,
) -> None:
    """Why deals are lost: reasons by the stage lost at, rep, product, lead source and period,
    with their share of the lost value and which reasons are growing.

    Over the deals of the first funnel closed at a lost stage in --period (default: all the data).
    A reason is growing when its share of the lost deals in the later half of the range is at
    least 5 points above the earlier half. CSV/JSON: one row per breakdown, group and reason.

    \b
    Examples:
      salescode why lost                                 # every lost deal in the data
      salescode why lost --period 2025 --by rep
      salescode why lost --format csv > lost.csv
    """
    from salescode.catalog import Grain
    from salescode.render.why import lost_view
    from salescode.why.lost import LostRequest, lost_reasons

    with user_errors():
        spec = load_catalog_option(catalog)
        chosen = _range(spec, period, today_or_as_of(as_of))
        request = LostRequest(chosen, tuple(by) if by else LostRequest.by, reason, Grain(grain.value))
        with progress("Reading the lost deals…"):
            found = lost_reasons(spec, request)
        for warning in found.warnings:
            warn(warning)
        title = f"{spec.name} — why deals are lost ({chosen.label})"
        send_analysis(dest, found.frame, lost_view(found.frame, title, spec.currency))


@why_app.command("discounts")
@output_options
def why_discounts(
    catalog: CatalogOption = None,
    period: RangeOption = None,
    as_of: AsOfOption = None,
    discount: Annotated[
        str, typer.Option("--discount", help="The deals' column holding the discount (a fraction: 0.12).")
    ] = "discount_pct",
    list_amounts: Annotated[
        bool,
        typer.Option(
            "--list-amounts",
            help="The deals' amounts are list prices (before discount); by default they are the price "
            "after discount, as most CRMs record them.",
        ),
    ] = False,
    *,
    dest: Destination,
) -> None:
    """Discounts against win rate, deal size and cycle per discount band, rep and product; the
    reps who buy wins with discounts; and the revenue given away.

    Over the deals of the first funnel closed (won or lost) in --period (default: all the data).
    A rep buys wins when their average discount on won deals is 5 or more points above the team's
    and their win rate is no better (over 10 or more closed deals). Revenue given away: list price
    minus amount over the won deals. CSV/JSON: one row per breakdown and group.

    \b
    Examples:
      salescode why discounts
      salescode why discounts --period 2025 --format markdown > discounts.md
    """
    from salescode.render.why import discounts_view
    from salescode.why.discounts import DiscountRequest, discount_effects

    with user_errors():
        spec = load_catalog_option(catalog)
        chosen = _range(spec, period, today_or_as_of(as_of))
        with progress("Reading the closed deals…"):
            found = discount_effects(spec, DiscountRequest(chosen, discount, list_amounts=list_amounts))
        for warning in found.warnings:
            warn(warning)
        title = f"{spec.name} — discounts ({chosen.label})"
        send_analysis(dest, found.frame, discounts_view(found.frame, title, spec.currency))


MonthsOption = Annotated[
    int, typer.Option("--months", help="Months of activity to compare before the event.", min=1, metavar="N")
]


@why_app.command("churn")
@output_options
def why_churn(
    catalog: CatalogOption = None,
    period: RangeOption = None,
    as_of: AsOfOption = None,
    months: MonthsOption = 6,
    meetings: Annotated[
        str,
        typer.Option("--meetings", help="The metric that counts meetings (its source and filter are used)."),
    ] = "meetings_held",
    accounts: Annotated[str, typer.Option("--accounts", help="The source of accounts.")] = "accounts",
    at_risk: Annotated[
        bool,
        typer.Option("--at-risk", help="Output the at-risk customers (every one) instead of the comparison."),
    ] = False,
    *,
    dest: Destination,
) -> None:
    """Customer churn and its reasons, the account management in the months before churn against
    retained customers of the same segment, and the customers at risk now.

    Churned: accounts whose churn_date falls in --period (default: all the data). Over the --months
    before churn (retained customers: before the reference day, the period's end or the latest
    activity): the share touched, meetings held per account, accounts without a meeting, and days
    since the last touch. At risk: customers with no meeting in the window, untouched for at least
    as long as the churned accounts of their segment. CSV/JSON: one row per segment and group
    (and churn reason); with --at-risk, one row per account at risk.

    \b
    Examples:
      salescode why churn
      salescode why churn --months 3 --period 2025
      salescode why churn --at-risk --format csv > at_risk.csv
    """
    from salescode.render.why import churn_view
    from salescode.why.churn import ChurnRequest, churn_report

    with user_errors():
        spec = load_catalog_option(catalog)
        today = today_or_as_of(as_of)
        chosen = _range(spec, period, today)
        request = ChurnRequest(chosen, accounts=accounts, meetings=meetings, months=months)
        with progress("Comparing churned and retained accounts…"):
            found = churn_report(spec, request, today=today)
        note(f"retained customers measured up to {found.reference}")
        title = f"{spec.name} — why customers leave ({chosen.label})"
        view = churn_view(found.frame, found.at_risk, title, months)
        send_analysis(dest, found.at_risk if at_risk else found.frame, view)


@why_app.command("attrition")
@output_options
def why_attrition(
    catalog: CatalogOption = None,
    period: RangeOption = None,
    as_of: AsOfOption = None,
    months: MonthsOption = 3,
    attainment: Annotated[
        str,
        typer.Option("--attainment", help="The metric whose per-rep targets give attainment (e.g. quota)."),
    ] = "won_revenue",
    activity: Annotated[
        str, typer.Option("--activity", help="The activity metric whose trend is watched.")
    ] = ("activities_logged"),
    pipeline: Annotated[str, typer.Option("--pipeline", help="The pipeline metric.")] = "pipeline_created",
    *,
    dest: Destination,
) -> None:
    """Reps who left: their reasons, tenure and performance before leaving (attainment, activity
    trend, pipeline), and an early-warning list of current reps with the same signals.

    Per rep and month over --period (default: the 24 latest months with data), as `trend --by rep`
    computes them. A leaver's window is the --months whole months before the exit month; a current
    rep's, the last --months months. Early warning: two or more of low attainment, falling activity
    and thin pipeline, each against the leavers' median. CSV/JSON: one row per rep.

    \b
    Examples:
      salescode why attrition
      salescode why attrition --months 6 --format csv > attrition.csv
    """
    from salescode.render.why import attrition_view
    from salescode.why.attrition import AttritionRequest, attrition_report

    with user_errors():
        spec = load_catalog_option(catalog)
        today = today_or_as_of(as_of)
        request = AttritionRequest(
            period=parse_period_option(spec, period, today) if period else None,
            attainment=attainment,
            activity=activity,
            pipeline=pipeline,
            months=months,
        )
        with progress("Reading the reps' months…"):
            found = attrition_report(spec, request, today=today)
        for warning in found.warnings:
            warn(warning)
        span = f"{found.periods[0].label} to {found.periods[-1].label}"
        title = f"{spec.name} — why reps leave ({span})"
        view = attrition_view(found.frame, found.reasons, title, spec.currency, months)
        send_analysis(dest, found.frame, view)
