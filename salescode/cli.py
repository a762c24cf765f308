"""The command line: parse options, call the library, render, map errors to exit codes.

Heavy modules (polars, the engine) are imported inside commands so `--help` stays fast.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from salescode import __version__
from salescode.errors import SalescodeError

if TYPE_CHECKING:
    import polars as pl

    from salescode.catalog import Catalog, Metric
    from salescode.engine import Report
    from salescode.funnel import FunnelReport
    from salescode.output import Destination
    from salescode.periods import Period
    from salescode.pipeline import DealList, PipelineReport
    from salescode.render import MetricStyle
    from salescode.trend import Trend

EXIT_OK, EXIT_MISSED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
DEFAULT_CATALOG = Path("metrics.yaml")
_SETTINGS = {"quiet": False}  # global options taken anywhere on the command line (see _Group.main)


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    tsv = "tsv"
    json = "json"
    jsonl = "jsonl"
    markdown = "markdown"


class CompareOption(StrEnum):
    previous = "previous"
    year_ago = "year-ago"
    none = "none"


class CrmOption(StrEnum):
    salesforce = "salesforce"
    hubspot = "hubspot"
    pipedrive = "pipedrive"
    zoho = "zoho"
    amocrm = "amocrm"
    bitrix24 = "bitrix24"
    generic = "generic"


class GrainOption(StrEnum):
    day = "day"
    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"


class LevelOption(StrEnum):
    activity = "activity"
    objective = "objective"
    result = "result"


class _Group(TyperGroup):
    """Turns usage errors into one plain `error:` line and bugs into exit code 3."""

    def main(self, args: Any = None, *pargs: Any, **kwargs: Any) -> Any:
        arguments = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in arguments or bool(os.environ.get("SALESCODE_DEBUG"))
        _SETTINGS["quiet"] = "--quiet" in arguments or "-q" in arguments
        no_cache = "--no-cache" in arguments
        arguments = [a for a in arguments if a not in ("--debug", "--quiet", "-q", "--no-cache")]
        kwargs["standalone_mode"] = False
        try:
            with _environment("SALESCODE_NO_CACHE", "1" if no_cache else None):  # read by salescode.cache
                code = super().main(arguments, *pargs, **kwargs)
        except typer.Exit as exc:
            code = exc.exit_code
        except typer.Abort:
            _error("aborted")
            code = EXIT_USAGE
        except Exception as exc:  # noqa: BLE001 - the one place that reports bugs
            code = _report_exception(exc, debug)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


@contextmanager
def _environment(name: str, value: str | None) -> Iterator[None]:
    """Set an environment variable for the duration of a command (None: leave it as it is)."""
    if value is None:
        yield
        return
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _report_exception(exc: Exception, debug: bool) -> int:
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

    if isinstance(exc, NoArgsIsHelpError):
        print(exc.ctx.get_help() if exc.ctx else exc.format_message(), file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, UsageError):
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        _error(f"{exc.format_message()}{hint}")
        return EXIT_USAGE
    if isinstance(exc, ClickException):
        _error(exc.format_message())
        return exc.exit_code
    if isinstance(exc, BrokenPipeError):
        return EXIT_OK  # `salescode report | head`: the reader left; not an error
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    _error(
        f"internal error ({type(exc).__name__}: {exc}); this is a bug in salescode "
        f"{__version__} — please report it with the output of the same command run with --debug"
    )
    return EXIT_INTERNAL


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _error(message: str) -> None:
    _stderr().print(f"error: {message}", markup=False, highlight=False)


def _warn(message: str) -> None:
    _note(f"warning: {message}")


def _note(message: str) -> None:
    """A line for people on stderr (a warning, a summary); --quiet leaves only errors."""
    if not _SETTINGS["quiet"]:
        _stderr().print(message, markup=False, highlight=False)


@contextmanager
def _user_errors() -> Iterator[None]:
    try:
        yield
    except SalescodeError as exc:
        _error(str(exc))
        raise typer.Exit(code=EXIT_USAGE) from exc


app = typer.Typer(
    cls=_Group,
    name="salescode",
    help=(
        "Sales KPIs from CRM exports, organised as Activities → Objectives → Results.\n\n"
        "Point it at a metric catalog (metrics.yaml) that names your CSV exports and defines "
        "the metrics; it prints a scorecard and funnels, and writes CSV/JSON for scripts.\n\n"
        "\b\nExamples:\n"
        "  salescode report --period 2025-Q3 --by team\n"
        "  salescode funnel --period last-quarter\n"
        "  salescode report --format csv > scorecard.csv\n\n"
        "Global options (anywhere on the line): --debug shows tracebacks; --quiet (-q) prints "
        "nothing on stderr but errors; --no-cache reads the CSV files without the Parquet cache "
        "(see 'salescode cache --help')."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode=None,
)

CatalogOption = Annotated[
    Path | None,
    typer.Option(
        "--catalog",
        "-c",
        help="The metric catalog (YAML). Default: $SALESCODE_CATALOG, else ./metrics.yaml.",
        envvar="SALESCODE_CATALOG",
        metavar="PATH",
        show_default=False,
        dir_okay=True,
    ),
]
PeriodOption = Annotated[
    str | None,
    typer.Option(
        "--period",
        "-p",
        help=(
            "Period to report: all, 2025, 2025-Q3, 2025-09, 2025-W37, 2025-09-01..2025-09-30, "
            "last-month, this-quarter, ytd, last-30-days, ... Default: the latest --grain period "
            "with data."
        ),
        metavar="PERIOD",
        show_default=False,
    ),
]
MetricOption = Annotated[
    list[str] | None,
    typer.Option("--metric", "-m", help="Only this metric (repeatable).", metavar="NAME", show_default=False),
]
LevelOpt = Annotated[
    list[LevelOption] | None,
    typer.Option(
        "--level",
        "-l",
        help="Only metrics of this AOR level: activity, objective or result (repeatable).",
        metavar="LEVEL",
        show_default=False,
    ),
]
CompareOpt = Annotated[
    CompareOption,
    typer.Option(
        "--compare",
        help="Compare each value with the previous period of the same length, the same period a "
        "year earlier, or nothing. A period still under way is compared over as many days.",
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Take DATE (YYYY-MM-DD) as today: relative periods (last-month, ytd, …) count from it and "
        "the default period is the latest with data on or before it. For back-fills and reproducible runs.",
        metavar="DATE",
        show_default=False,
    ),
]
FunnelArgument = Annotated[
    str | None, typer.Argument(help="Funnel name (default: the first in the catalog).", metavar="[NAME]")
]
GrainOpt = Annotated[GrainOption, typer.Option("--grain", "-g", help="Grain of the default period.")]
ByOption = Annotated[
    list[str] | None,
    typer.Option(
        "--by",
        "-b",
        help="Break down by a dimension (repeatable), e.g. --by rep.",
        metavar="DIM",
        show_default=False,
    ),
]
FormatOption = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format",
        "-f",
        help="Output format. Default: table on a terminal; with --output, the file's extension "
        "(.csv .tsv .json .jsonl .md); else csv.",
        show_default=False,
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Write to this file (atomically: a failed run leaves no partial file).",
        metavar="FILE",
        show_default=False,
        dir_okay=False,
    ),
]
AppendOption = Annotated[
    bool,
    typer.Option(
        "--append",
        help="Add to the --output file (csv, tsv, jsonl) instead of replacing it, under a lock; the "
        "header is written only into a new or empty file.",
    ),
]
NoHeaderOption = Annotated[bool, typer.Option("--no-header", help="csv/tsv: leave out the header line.")]
SeparatorOption = Annotated[
    str | None,
    typer.Option(
        "--separator",
        help="csv: the field separator, e.g. ';' (default ',').",
        metavar="CHAR",
        show_default=False,
    ),
]
DecimalCommaOption = Annotated[
    bool,
    typer.Option(
        "--decimal-comma",
        help="csv/tsv: write 0,75 for 0.75 (for spreadsheets in comma-decimal locales; csv then uses ';').",
    ),
]
EscapeFormulasOption = Annotated[
    bool,
    typer.Option(
        "--escape-formulas/--no-escape-formulas",
        help="csv/tsv: prefix text cells starting with = + - @ with ' so spreadsheets do not run them.",
    ),
]


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.")] = False,
) -> None:
    """Sales KPIs from CRM exports (Activities → Objectives → Results).

    Global options (anywhere on the line): --debug shows tracebacks; --quiet (-q) prints
    nothing on stderr but errors; --no-cache bypasses the Parquet cache.
    """
    if version:
        Console().print(f"salescode {__version__}", highlight=False)
        raise typer.Exit()


def _catalog_path(option: Path | None) -> Path:
    path = option or DEFAULT_CATALOG
    if not path.exists():
        if option is None:
            raise SalescodeError(
                "no metrics.yaml in the current folder; pass --catalog PATH or set SALESCODE_CATALOG "
                "(run salescode from the repository folder to use the bundled sample)"
            )
        raise SalescodeError(f"--catalog {path}: file not found")
    if path.is_dir():
        raise SalescodeError(
            f"--catalog {path}: is a folder; name the catalog file (e.g. {path / 'metrics.yaml'})"
        )
    return path


def _load(option: Path | None, *, check_expressions: bool = True) -> Catalog:
    from salescode.catalog import load_catalog

    return load_catalog(_catalog_path(option), check_expressions=check_expressions)


def _period(spec: Catalog, text: str, today: date) -> Period:
    from salescode.periods import parse_period

    return parse_period(
        text, today=today, week_start=spec.week_start, fiscal_year_start=spec.fiscal_year_start
    )


def _destination(
    fmt: OutputFormat | None,
    output: Path | None,
    append: bool = False,
    no_header: bool = False,
    separator: str | None = None,
    decimal_comma: bool = False,
    escape_formulas: bool = True,
) -> Destination:
    from salescode.output import destination

    return destination(
        fmt.value if fmt else None,
        output,
        terminal=sys.stdout.isatty(),
        append=append,
        no_header=no_header,
        separator=separator,
        decimal_comma=decimal_comma,
        escape_formulas=escape_formulas,
    )


def _table_console(file: Any) -> Console:
    """A console for data: a terminal's width and colours (rich honours NO_COLOR), else plain and wide."""
    if file is sys.stdout and file.isatty():
        plain = bool(os.environ.get("NO_COLOR"))  # no colour and no bold/underline either
        return Console(file=file, highlight=False, color_system=None if plain else "auto")
    width = None if os.environ.get("COLUMNS") else 160  # rich reads COLUMNS itself
    return Console(file=file, highlight=False, color_system=None, width=width)


@contextmanager
def _progress(message: str) -> Iterator[None]:
    """A spinner on stderr while work runs, only when stderr is a terminal."""
    console = _stderr()
    if console.is_terminal and not os.environ.get("NO_COLOR") and not _SETTINGS["quiet"]:
        with console.status(message):
            yield
    else:
        yield


def _today(as_of: str | None) -> date:
    """Today, or the --as-of date standing in for it."""
    if as_of is None:
        return date.today()
    try:
        return date.fromisoformat(as_of)
    except ValueError:
        raise SalescodeError(f"--as-of '{as_of}' is not a date; write it as YYYY-MM-DD") from None


@app.command()
def report(
    catalog: CatalogOption = None,
    period: PeriodOption = None,
    as_of: AsOfOption = None,
    grain: GrainOpt = GrainOption.month,
    by: ByOption = None,
    metric: MetricOption = None,
    level: LevelOpt = None,
    compare: CompareOpt = CompareOption.previous,
    fmt: FormatOption = None,
    output: OutputOption = None,
    append: AppendOption = False,
    no_header: NoHeaderOption = False,
    separator: SeparatorOption = None,
    decimal_comma: DecimalCommaOption = False,
    escape_formulas: EscapeFormulasOption = True,
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
    with _user_errors():
        spec = _load(catalog)
        result = _evaluate(spec, period, as_of, grain, by, metric, level, compare)
        _write_report(
            spec,
            result,
            _destination(fmt, output, append, no_header, separator, decimal_comma, escape_formulas),
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

    today = _today(as_of)
    request = ReportRequest(
        metrics=tuple(metric or ()),
        levels=tuple(Level(item.value) for item in level or ()),
        by=tuple(by or ()),
        period=_period(spec, period, today) if period else None,
        grain=Grain(grain.value),
        compare=compare.value,
    )
    with _progress("Computing metrics…"):
        result = evaluate(spec, request, today=today)
    for warning in result.warnings:
        _warn(warning)
    if result.partial:
        compared = f", compared with {result.previous.label}" if result.previous else ""
        _note(f"note: {result.period.label} is not over: its figures run to {result.partial}{compared}")
    return result


@app.command()
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
    fmt: FormatOption = None,
    output: OutputOption = None,
    append: AppendOption = False,
    no_header: NoHeaderOption = False,
    separator: SeparatorOption = None,
    decimal_comma: DecimalCommaOption = False,
    escape_formulas: EscapeFormulasOption = True,
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

    with _user_errors():
        spec = _load(catalog)
        today = _today(as_of)
        request = TrendRequest(
            metrics=tuple(metric or ()),
            levels=tuple(Level(item.value) for item in level or ()),
            by=tuple(by or ()),
            period=_period(spec, period, today) if period else None,
            grain=Grain(grain.value),
            rolling=rolling,
            cumulative=cumulative,
        )
        with _progress("Computing the trend…"):
            result = build_trend(spec, request, today=today)
        for warning in result.warnings:
            _warn(warning)
        if result.partial:
            _note(f"note: {result.periods[-1].label} is not over: its figures run to {result.partial}")
        dest = _destination(fmt, output, append, no_header, separator, decimal_comma, escape_formulas)
        _write_trend(spec, result, dest, rolling, cumulative)


def _write_trend(spec: Catalog, result: Trend, dest: Destination, rolling: int, cumulative: bool) -> None:
    from salescode.render import write_trend_markdown, write_trend_table

    styles = _styles(spec, result.metrics)
    by_labels = {d: spec.dimensions[d].label for d in result.by}
    span = f"{result.periods[0].label} to {result.periods[-1].label}"
    kind = " (cumulative)" if cumulative else f" (rolling {rolling})" if rolling > 1 else ""
    title = f"{spec.name} — {span}{kind}"

    def human(out: Any) -> None:
        if dest.format == "markdown":
            write_trend_markdown(result.frame, out, styles, by_labels, title)
        else:
            write_trend_table(result.frame, _table_console(out), styles, by_labels, title)

    dest.send(result.frame, human)


@app.command()
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
    fmt: FormatOption = None,
    output: OutputOption = None,
    append: AppendOption = False,
    no_header: NoHeaderOption = False,
    separator: SeparatorOption = None,
    decimal_comma: DecimalCommaOption = False,
    escape_formulas: EscapeFormulasOption = True,
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

    with _user_errors():
        spec = _load(catalog)
        result = _evaluate(spec, period, as_of, grain, by, metric, level, compare)
        checked = check_targets(result, tolerance)
        caption = f"missed: attainment below {1 - tolerance:.0%}"
        _write_report(
            spec,
            result,
            _destination(fmt, output, append, no_header, separator, decimal_comma, escape_formulas),
            checked.rows(show_all),
            caption,
        )
    _note(f"check: {checked.summary(result.period.label, tolerance)}")
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

    def human(out: Any) -> None:
        if dest.format == "markdown":
            write_report_markdown(rows, out, styles, by_labels, title)
        elif not rows.is_empty():
            write_report_table(rows, _table_console(out), styles, by_labels, title, caption)

    dest.send(rows, human)


@app.command()
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
    fmt: FormatOption = None,
    output: OutputOption = None,
    append: AppendOption = False,
    no_header: NoHeaderOption = False,
    separator: SeparatorOption = None,
    decimal_comma: DecimalCommaOption = False,
    escape_formulas: EscapeFormulasOption = True,
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

    with _user_errors():
        spec = _load(catalog)
        today = _today(as_of)
        chosen = choose_funnel(spec, name)
        cohort_grain = Grain(grain.value) if cohort and grain else None
        if matrix and not by:
            raise SalescodeError("--matrix shows one row per --by group; add --by (e.g. --by rep)")
        with _progress("Computing the funnel…"):
            workspace = open_funnel(spec, chosen)
            if period:
                span = _period(spec, period, today)
            elif cohort_grain:
                span = ALL
            else:
                span = latest_funnel_period(
                    workspace, chosen, Grain((grain or GrainOption.month).value), today
                )
            result = build_funnel(workspace, chosen, span, tuple(by or ()), cohort, strict, cohort_grain)
        for warning in result.warnings:
            _warn(warning)
        _write_funnel(
            spec,
            result,
            _destination(fmt, output, append, no_header, separator, decimal_comma, escape_formulas),
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

    def human(out: Any) -> None:
        if dest.format == "markdown":
            markdown = (
                render.write_funnel_matrix_markdown if one_row_per_group else render.write_funnel_markdown
            )
            markdown(result.frame, out, view)
        else:
            table = render.write_funnel_matrix_table if one_row_per_group else render.write_funnel_table
            table(result.frame, _table_console(out), view)

    dest.send(result.frame, human)


@app.command()
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
    fmt: FormatOption = None,
    output: OutputOption = None,
    append: AppendOption = False,
    no_header: NoHeaderOption = False,
    separator: SeparatorOption = None,
    decimal_comma: DecimalCommaOption = False,
    escape_formulas: EscapeFormulasOption = True,
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

    with _user_errors():
        spec = _load(catalog)
        today = _today(as_of)
        chosen = choose_funnel(spec, name)
        with _progress("Computing the pipeline…"):
            workspace = open_funnel(spec, chosen)
            if period:
                span = _period(spec, period, today)
            else:
                span = latest_funnel_period(workspace, chosen, Grain(grain.value), today)
            day = as_of_date(workspace, chosen, span, today)
            if list_stage is not None:
                deals = list_deals(workspace, chosen, list_stage, span, day, tuple(by or ()), stale_days)
            else:
                result = build_pipeline(workspace, chosen, span, tuple(by or ()), day, stale_days)
        for warning in (deals if list_stage is not None else result).warnings:
            _warn(warning)
        dest = _destination(fmt, output, append, no_header, separator, decimal_comma, escape_formulas)
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

    def human(out: Any) -> None:
        if dest.format == "markdown":
            render.write_pipeline_markdown(result.frame, out, view)
        else:
            render.write_pipeline_table(result.frame, _table_console(out), view)

    dest.send(result.frame, human)


def _write_deals(spec: Catalog, deals: DealList, period: str, dest: Destination) -> None:
    from salescode import render

    title = (
        f"{spec.name} — deals at {deals.stage} on {deals.as_of.isoformat()} (stale after "
        f"{deals.stale_after} days) and lost at it in {period}"
    )

    def human(out: Any) -> None:
        if dest.format == "markdown":
            render.write_deal_markdown(deals.frame, out, title, spec.currency)
        else:
            render.write_deal_table(deals.frame, _table_console(out), title, spec.currency)

    dest.send(deals.frame, human)


@app.command("metrics")
def list_metrics(
    catalog: CatalogOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
    append: AppendOption = False,
    no_header: NoHeaderOption = False,
    separator: SeparatorOption = None,
    decimal_comma: DecimalCommaOption = False,
    escape_formulas: EscapeFormulasOption = True,
) -> None:
    """List the catalog's metrics: name, level, category, definition and target.

    Example: salescode metrics --format markdown
    """
    from salescode.catalog_view import metrics_frame, write_metrics_markdown, write_metrics_table

    with _user_errors():
        spec = _load(catalog, check_expressions=False)
        dest = _destination(fmt, output, append, no_header, separator, decimal_comma, escape_formulas)

        def human(out: Any) -> None:
            if dest.format == "markdown":
                write_metrics_markdown(spec, out)
            else:
                write_metrics_table(spec, _table_console(out))

        dest.send(metrics_frame(spec), human)


@app.command()
def tree(catalog: CatalogOption = None) -> None:
    """Show the AOR drives-graph: each result, the objectives that drive it, and their activities.

    Example: salescode tree
    """
    from salescode.catalog_view import write_tree

    with _user_errors():
        spec = _load(catalog, check_expressions=False)
        write_tree(spec, _table_console(sys.stdout))


@app.command()
def validate(catalog: CatalogOption = None) -> None:
    """Check the catalog and the data: every problem is listed; exit code 2 if any.

    Reads every source the catalog uses, checks every column a metric needs, parses every
    typed value, and checks declared keys for duplicates.

    Example: salescode validate --catalog examples/maven/metrics.yaml
    """
    from salescode.validation import reading_notes, validate_catalog

    with _user_errors():
        spec = _load(catalog)
        with _progress("Validating…"):
            warnings = validate_catalog(spec)
            notes = reading_notes(spec)
        for note in notes:
            _note(f"note: {note}")
        for warning in warnings:
            _warn(warning)
        noted = f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''} above)" if warnings else ""
        _note(
            f"ok: {spec.path}: {len(spec.metrics)} metrics, {len(spec.funnels)} funnel(s) over "
            f"{len(spec.sources)} sources are valid{noted}"
        )


@app.command()
def init(
    folder: Annotated[
        Path, typer.Argument(help="The folder of the CRM export files.", metavar="[DIR]", file_okay=False)
    ] = Path("."),
    crm: Annotated[
        CrmOption | None,
        typer.Option(
            "--crm", help="The CRM the files come from (default: recognised from names and headers)."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Where to write the catalog (default: DIR/metrics.yaml).", metavar="FILE"
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing catalog file.")] = False,
) -> None:
    """Write a starter metrics.yaml for a folder of CRM export files.

    Recognises the CRM, gives each file a role (deals, users, accounts, stage history,
    activities), maps the columns, orders the funnel's stages as found in the data, and writes
    the standard metrics the columns support; it says which it could not create, and why. The
    catalog is validated before init returns. An existing file is never overwritten without --force.

    \b
    Examples:
      salescode init exports/ && cd exports && salescode report
      salescode init sf_export --crm salesforce --output sf.yaml
    """
    from salescode.output import emit
    from salescode.starter import build_starter
    from salescode.validation import validate_catalog

    with _user_errors():
        target = output or folder / "metrics.yaml"
        if target.exists() and not force:
            raise SalescodeError(
                f"{target} exists; pass --force to overwrite it, or --output to write elsewhere"
            )
        with _progress("Reading the export…"):
            starter = build_starter(folder, crm.value if crm else None)
        emit(lambda out: out.write(starter.text), target)
        for note in starter.notes:
            _note(f"init: {note}")
        for missing in starter.missing:
            _note(f"init: not created: {missing}")
        with _progress("Validating…"):
            warnings = validate_catalog(_load(target))
        for warning in warnings:
            _warn(warning)
        _note(f"ok: wrote {target}; next: salescode report --catalog {target}")


cache_app = typer.Typer(
    help=(
        "The Parquet cache of parsed CSV files: each export is parsed once, later runs read the "
        "Parquet copy. An entry is keyed by the file's path, size, modification time, first and "
        "last bytes and the catalog's reader settings, so a changed file is always read afresh. "
        "Location: $SALESCODE_CACHE_DIR, else $XDG_CACHE_HOME/salescode, else ~/.cache/salescode. "
        "--no-cache (anywhere on a command line) or SALESCODE_NO_CACHE=1 bypasses it."
    ),
    no_args_is_help=True,
)
app.add_typer(cache_app, name="cache")


@cache_app.command("info")
def cache_info() -> None:
    """Where the cache is and how much it holds."""
    from salescode.cache import cache_directory, usage

    directory = cache_directory()
    entries, size = usage(directory)
    Console().print(f"{directory}: {entries} file(s), {size / 1e6:,.1f} MB", markup=False, highlight=False)


@cache_app.command("clear")
def cache_clear() -> None:
    """Remove every cached file (they are rebuilt on the next runs)."""
    from salescode.cache import cache_directory, clear

    directory = cache_directory()
    removed, freed = clear(directory)
    _note(f"removed {removed} file(s), {freed / 1e6:,.1f} MB, from {directory}")


def main() -> None:
    """Console-script entry point."""
    app()
