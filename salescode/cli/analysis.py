"""`drivers` and `why`: test the catalog's theory of the business and explain losses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from salescode.cli.common import (
    AppendOption,
    AsOfOption,
    CatalogOption,
    DecimalCommaOption,
    EscapeFormulasOption,
    FormatOption,
    GrainOption,
    NoHeaderOption,
    OutputOption,
    SeparatorOption,
    app,
    load_catalog_option,
    note,
    output_destination,
    parse_period_option,
    progress,
    table_console,
    today_or_as_of,
    user_errors,
    warn,
)

if TYPE_CHECKING:
    import polars as pl

    from salescode.output import Destination
    from salescode.render.analysis import View

why_app = typer.Typer(
    help="Why results happen: lost deals and discounts.\n\n"
    "\b\nExamples:\n"
    "  salescode why lost --period 2025\n"
    "  salescode why discounts --format csv > discounts.csv",
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


def send_view(dest: Destination, frame: pl.DataFrame, view: View) -> None:
    """Machine formats get the tidy frame; table and markdown the view built from it."""
    from salescode.render.analysis import write_view_markdown, write_view_table

    def human(out: Any) -> None:
        if dest.format == "markdown":
            write_view_markdown(view, out)
        else:
            write_view_table(view, table_console(out))

    dest.send(frame, human)


@app.command()
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
    fmt: FormatOption = None,
    output: OutputOption = None,
    append: AppendOption = False,
    no_header: NoHeaderOption = False,
    separator: SeparatorOption = None,
    decimal_comma: DecimalCommaOption = False,
    escape_formulas: EscapeFormulasOption = True,
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
        dest = output_destination(fmt, output, append, no_header, separator, decimal_comma, escape_formulas)
        send_view(dest, found.frame, drivers_view(found.frame, title, request.fdr, request.confidence))
