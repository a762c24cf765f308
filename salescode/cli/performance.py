"""`payout` and `leaderboard`: what reps earn under the compensation plans, and who leads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from salescode.cli.common import (
    AsOfOption,
    CatalogOption,
    GrainOpt,
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
    from salescode.catalog import Catalog
    from salescode.compensation import Payout
    from salescode.leaderboard import Leaderboard
    from salescode.output import Destination


@app.command()
@output_options
def payout(
    catalog: CatalogOption = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            "-p",
            help="The whole months to pay: 2025-09, 2025-Q3, 2025, 2025-07..2025-09, last-month, ... "
            "Default: the latest month with data.",
            metavar="PERIOD",
            show_default=False,
        ),
    ] = None,
    as_of: AsOfOption = None,
    rep: Annotated[
        str | None,
        typer.Option("--rep", "-r", help="Only this rep's statement.", metavar="NAME", show_default=False),
    ] = None,
    summary: Annotated[
        bool,
        typer.Option("--summary", help="Table and markdown: only the one-row-per-rep summary."),
    ] = False,
    *,
    dest: Destination,
) -> None:
    """Commission statements: what each rep earns for the period under the catalog's
    compensation plans.

    One statement per rep: the commission by tier of quota attainment, SPIFs, the cap, bonuses
    and clawbacks, each with its basis, rate and amount, and the total; then a summary whose
    rows add up to the team total. Money is exact to the cent (each line rounded half up).
    A plan change inside the period splits it: each part is paid under its own plan. The same
    period computed again from the same data gives the same figures.

    CSV and JSON have one row per line (kind=line), per rep total (kind=total) and the team
    total (kind=team_total): sum the lines or take the totals, not both.

    \b
    Examples:
      salescode payout --period 2025-Q3
      salescode payout --period 2025-09 --rep "Maya Chen" --format markdown > maya.md
      salescode payout --period last-month --format csv -o payroll.csv
    """
    from salescode.compensation import compute_payout

    with user_errors():
        spec = load_catalog_option(catalog)
        today = today_or_as_of(as_of)
        span = parse_period_option(spec, period, today) if period else None
        with progress("Computing payouts…"):
            result = compute_payout(spec, span, today=today, rep=rep)
        for warning in result.warnings:
            warn(warning)
        if result.partial:
            note(f"note: {result.period.label} is not over: its figures run to {result.partial}")
        _write_payout(spec, result, dest, summary)


def _write_payout(spec: Catalog, result: Payout, dest: Destination, summary: bool) -> None:
    from salescode.render.performance import PayoutView, write_payout_markdown, write_payout_table

    group = spec.dimensions[result.group].label
    partial = f" (to {result.partial})" if result.partial else ""
    view = PayoutView(f"{spec.name}, {result.period.label}{partial}", group, spec.currency, summary)

    send_view(
        dest,
        result.frame,
        markdown=lambda out: write_payout_markdown(result.frame, out, view),
        terminal=lambda console: write_payout_table(result.frame, console, view),
    )


@app.command()
@output_options
def leaderboard(
    metric: Annotated[
        str | None,
        typer.Argument(
            help="The metric to rank on (default: the catalog's first result metric).", metavar="[METRIC]"
        ),
    ] = None,
    catalog: CatalogOption = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            "-p",
            help="Period to rank: 2025-Q3, 2025-09, last-month, ytd, ... (compared with the period of the "
            "same length before it). Default: the latest --grain period with data.",
            metavar="PERIOD",
            show_default=False,
        ),
    ] = None,
    as_of: AsOfOption = None,
    grain: GrainOpt = GrainOption.month,
    by: Annotated[
        str,
        typer.Option("--by", "-b", help="Rank these groups: rep, team, or any dimension.", metavar="DIM"),
    ] = "rep",
    volume: Annotated[
        str | None,
        typer.Option(
            "--volume",
            help="The metric that must reach --min-volume for a group to be ranked (default: a ratio's "
            "denominator, e.g. deals closed for a win rate; otherwise no minimum).",
            metavar="METRIC",
            show_default=False,
        ),
    ] = None,
    min_volume: Annotated[
        float,
        typer.Option("--min-volume", help="The least volume a group needs to be ranked.", min=0, metavar="N"),
    ] = 5,
    *,
    dest: Destination,
) -> None:
    """Rank reps (or teams) on a metric, with their move since the previous period and the most
    improved.

    Ties share a rank (1, 2, 2, 4) and are listed by name; a metric whose direction is lower
    (sales cycle) ranks the lowest first. A ratio ranks only the groups with enough volume: a
    win rate over two deals does not top the board (--min-volume, default 5 of the ratio's
    denominator); the others are listed unranked. Most improved: the largest change among the
    groups ranked in both periods.

    \b
    Examples:
      salescode leaderboard                              # won revenue, latest month
      salescode leaderboard win_rate --period 2025-Q3 --min-volume 10
      salescode leaderboard quota_attainment --by team --period 2025
      salescode leaderboard deals_won --period last-month --format csv > board.csv
    """
    from salescode.catalog import Grain
    from salescode.leaderboard import LeaderboardRequest, build_leaderboard

    with user_errors():
        spec = load_catalog_option(catalog)
        today = today_or_as_of(as_of)
        request = LeaderboardRequest(
            metric=metric,
            by=by,
            period=parse_period_option(spec, period, today) if period else None,
            grain=Grain(grain.value),
            volume=volume,
            min_volume=min_volume,
        )
        with progress("Ranking…"):
            result = build_leaderboard(spec, request, today=today)
        for warning in result.warnings:
            warn(warning)
        if result.partial:
            note(f"note: {result.period.label} is not over: its figures run to {result.partial}")
        _write_leaderboard(spec, result, dest)


def _write_leaderboard(spec: Catalog, result: Leaderboard, dest: Destination) -> None:
    from salescode.render import MetricStyle
    from salescode.render.performance import (
        LeaderboardView,
        write_leaderboard_markdown,
        write_leaderboard_table,
    )

    metric = result.metric
    compared = f" vs {result.previous.label}" if result.previous else ""
    partial = f" (to {result.partial})" if result.partial else ""
    view = LeaderboardView(
        title=f"{spec.name} — {metric.label} by {spec.dimensions[result.by].label.lower()}, "
        f"{result.period.label}{partial}{compared}",
        by=result.by,
        by_label=spec.dimensions[result.by].label,
        style=MetricStyle(
            metric.format.value, metric.direction.value if metric.direction else None, spec.currency
        ),
        volume_label=result.volume.label if result.volume else None,
        min_volume=result.min_volume,
    )

    send_view(
        dest,
        result.frame,
        markdown=lambda out: write_leaderboard_markdown(result.frame, out, view),
        terminal=lambda console: write_leaderboard_table(result.frame, console, view),
    )
