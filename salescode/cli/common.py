"""Shared pieces of the command line: the Typer app, its options, errors and output helpers.

Heavy modules (polars, the engine) are imported inside commands so `--help` stays fast.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from salescode import __version__
from salescode.errors import SalescodeError

if TYPE_CHECKING:
    from salescode.catalog import Catalog
    from salescode.machine import Table
    from salescode.output import Destination
    from salescode.periods import Period

EXIT_OK, EXIT_MISSED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
DEFAULT_CATALOG = Path("metrics.yaml")
SETTINGS = {"quiet": False}  # global options taken anywhere on the command line (see _Group.main)


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
        SETTINGS["quiet"] = "--quiet" in arguments or "-q" in arguments
        no_cache = "--no-cache" in arguments
        arguments = [a for a in arguments if a not in ("--debug", "--quiet", "-q", "--no-cache")]
        kwargs["standalone_mode"] = False
        try:
            with _environment("SALESCODE_NO_CACHE", "1" if no_cache else None):  # read by salescode.cache
                code = super().main(arguments, *pargs, **kwargs)
        except typer.Exit as exc:
            code = exc.exit_code
        except typer.Abort:
            print_error("aborted")
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
        print_error(f"{exc.format_message()}{hint}")
        return EXIT_USAGE
    if isinstance(exc, ClickException):
        print_error(exc.format_message())
        return exc.exit_code
    if isinstance(exc, BrokenPipeError):
        return EXIT_OK  # `salescode report | head`: the reader left; not an error
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    print_error(
        f"internal error ({type(exc).__name__}: {exc}); this is a bug in salescode "
        f"{__version__} — please report it with the output of the same command run with --debug"
    )
    return EXIT_INTERNAL


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_error(message: str) -> None:
    stderr_console().print(f"error: {message}", markup=False, highlight=False)


def warn(message: str) -> None:
    note(f"warning: {message}")


def note(message: str) -> None:
    """A line for people on stderr (a warning, a summary); --quiet leaves only errors."""
    if not SETTINGS["quiet"]:
        stderr_console().print(message, markup=False, highlight=False)


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except SalescodeError as exc:
        print_error(str(exc))
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


def load_catalog_option(option: Path | None, *, check_expressions: bool = True) -> Catalog:
    from salescode.catalog import load_catalog

    return load_catalog(_catalog_path(option), check_expressions=check_expressions)


def parse_period_option(spec: Catalog, text: str, today: date) -> Period:
    from salescode.periods import parse_period

    return parse_period(
        text, today=today, week_start=spec.week_start, fiscal_year_start=spec.fiscal_year_start
    )


def output_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command the output options (--format, --output, --append, --no-header, --separator,
    --decimal-comma, --escape-formulas) without repeating them: the command declares a keyword
    argument `dest` instead and receives them checked together, as one Destination.

    Use it under @app.command(). Typer reads the wrapper's signature: the command's own parameters
    (their annotations evaluated in the command's module), then the output options.
    """
    namespace = command.__globals__
    own = [p for p in inspect.signature(command).parameters.values() if p.name != "dest"]
    own = [
        p.replace(annotation=eval(p.annotation, namespace)) if isinstance(p.annotation, str) else p
        for p in own
    ]
    options = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, (annotation, default) in _OUTPUT_OPTIONS.items()
    ]

    @functools.wraps(command)
    def with_destination(**arguments: Any) -> None:
        chosen = {name: arguments.pop(name) for name in _OUTPUT_OPTIONS}
        with user_errors():
            dest = _destination(**chosen)
        command(**arguments, dest=dest)

    parameters = [*own, *options]
    with_destination.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    with_destination.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_destination


_OUTPUT_OPTIONS: dict[str, tuple[Any, Any]] = {
    "fmt": (FormatOption, None),
    "output": (OutputOption, None),
    "append": (AppendOption, False),
    "no_header": (NoHeaderOption, False),
    "separator": (SeparatorOption, None),
    "decimal_comma": (DecimalCommaOption, False),
    "escape_formulas": (EscapeFormulasOption, True),
}


def _destination(
    fmt: OutputFormat | None,
    output: Path | None,
    append: bool,
    no_header: bool,
    separator: str | None,
    decimal_comma: bool,
    escape_formulas: bool,
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


def send_view(
    dest: Destination,
    table: Table,
    markdown: Callable[[IO[str]], None],
    terminal: Callable[[Console], None],
) -> None:
    """The table in a machine format, or, for people, its markdown or its view on a console."""
    dest.send(table, lambda out: markdown(out) if dest.format == "markdown" else terminal(table_console(out)))


def table_console(file: Any) -> Console:
    """A console for data: a terminal's width and colours (rich honours NO_COLOR), else plain and wide."""
    if file is sys.stdout and file.isatty():
        plain = bool(os.environ.get("NO_COLOR"))  # no colour and no bold/underline either
        return Console(file=file, highlight=False, color_system=None if plain else "auto")
    width = None if os.environ.get("COLUMNS") else 160  # rich reads COLUMNS itself
    return Console(file=file, highlight=False, color_system=None, width=width)


@contextmanager
def progress(message: str) -> Iterator[None]:
    """A spinner on stderr while work runs, only when stderr is a terminal."""
    console = stderr_console()
    if console.is_terminal and not os.environ.get("NO_COLOR") and not SETTINGS["quiet"]:
        with console.status(message):
            yield
    else:
        yield


def today_or_as_of(as_of: str | None) -> date:
    """Today, or the --as-of date standing in for it."""
    if as_of is None:
        return date.today()
    try:
        return date.fromisoformat(as_of)
    except ValueError:
        raise SalescodeError(f"--as-of '{as_of}' is not a date; write it as YYYY-MM-DD") from None
