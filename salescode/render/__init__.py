"""Tidy result frames -> rich table | markdown, for people: formatted numbers, colour, bars.

The machine formats (csv, tsv, json, jsonl) are written by salescode.machine, unformatted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    import polars as pl

EMPTY = "—"
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "RUB": "₽", "INR": "₹", "BRL": "R$"}
LEVEL_TITLES = {"result": "Results", "objective": "Objectives", "activity": "Activities"}


@dataclass(frozen=True)
class MetricStyle:
    """How to show one metric's numbers: its format and which direction is good."""

    format: str  # integer | number | currency | percent | days
    direction: str | None = None  # higher | lower | None
    currency: str = "USD"


def format_value(value: float | None, style: MetricStyle) -> str:
    """A number as people read it: 1,234 · $12,500 · 31.5% · 12.3 days."""
    if value is None:
        return EMPTY
    if style.format == "percent":
        return f"{value:.1%}"
    if style.format == "integer":
        return f"{value:,.0f}"
    if style.format == "days":
        return f"{value:,.1f} d"
    if style.format == "currency":
        digits = 0 if abs(value) >= 100 or float(value).is_integer() else 2
        symbol = CURRENCY_SYMBOLS.get(style.currency)
        sign = "-" if value < 0 else ""
        amount = f"{abs(value):,.{digits}f}"
        return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {style.currency}"
    return f"{value:,.2f}"


def format_change(change: float | None, style: MetricStyle) -> str:
    if change is None:
        return EMPTY
    if change == 0:
        return "= 0"
    arrow = "▲" if change > 0 else "▼"
    if style.format == "percent":
        return f"{arrow} {change * 100:+.1f} pts"
    text = format_value(abs(change), style)
    return f"{arrow} {'+' if change > 0 else '-'}{text}"


def _change_colour(change: float | None, style: MetricStyle) -> str:
    if change is None or change == 0 or style.direction is None:
        return ""
    good = (change > 0) == (style.direction == "higher")
    return "green" if good else "red"


def _attainment_colour(attainment: float | None) -> str:
    if attainment is None:
        return ""
    return "green" if attainment >= 1 else "yellow" if attainment >= 0.9 else "red"


def _cell(value: object) -> str:
    return EMPTY if value is None else str(value)


def report_cells(row: dict, style: MetricStyle) -> list[Text]:
    """The formatted value, previous, change, target and attainment cells of one report row."""
    attainment = row["attainment"]
    return [
        Text(format_value(row["value"], style), style="bold"),
        Text(format_value(row["previous"], style)),
        Text(format_change(row["change"], style), style=_change_colour(row["change"], style)),
        Text(format_value(row["target"], style)),
        _attainment_cell(attainment),
    ]


def _attainment_cell(attainment: float | None) -> Text:
    return Text(EMPTY if attainment is None else f"{attainment:.0%}", style=_attainment_colour(attainment))


def write_report_table(
    frame: pl.DataFrame,
    console: Console,
    styles: dict[str, MetricStyle],
    by_labels: dict[str, str],
    title: str,
    caption: str | None = None,
) -> None:
    """The AOR scorecard: sections Results, Objectives, Activities; one row per metric (x group).

    Labels wrap only when the table would not fit the terminal otherwise.
    """
    rows = frame.to_dicts()  # the aggregated result: one row per metric x group
    table = _report_table(rows, styles, by_labels, title, caption, wrap=False)
    if natural_width(console, table) > console.width:
        table = _report_table(rows, styles, by_labels, title, caption, wrap=True)
    console.print(table)


def house_table(title: str | None, caption: str | None = None) -> Table:
    """The house table: a heavy rule under the header, title and caption on the left."""
    return Table(
        title=title,
        caption=caption,
        box=box.SIMPLE_HEAVY,
        title_justify="left",
        caption_justify="left",
        pad_edge=False,
    )


def natural_width(console: Console, table: Table) -> int:
    return console.measure(table, options=console.options.update_width(10_000)).maximum


def _report_table(
    rows: list[dict],
    styles: dict[str, MetricStyle],
    by_labels: dict[str, str],
    title: str,
    caption: str | None,
    wrap: bool,
) -> Table:
    table = house_table(title, caption)
    table.add_column("Metric", no_wrap=not wrap, min_width=12)
    for label in by_labels.values():
        table.add_column(label, no_wrap=not wrap)
    for header in ("Value", "Previous", "Change", "Target", "Attainment"):
        table.add_column(header, justify="right", no_wrap=True)
    level = None
    for i, row in enumerate(rows):
        if row["level"] != level:
            level = row["level"]
            table.add_row(Text(LEVEL_TITLES.get(level, level), style="bold underline"))
        first = i == 0 or rows[i - 1]["metric"] != row["metric"]
        groups = [
            Text(_cell(row[d])) if row[d] is not None else Text("(empty)", style="dim") for d in by_labels
        ]
        last_of_metric = by_labels and (i + 1 == len(rows) or rows[i + 1]["metric"] != row["metric"])
        table.add_row(
            Text(row["label"] if first else ""),
            *groups,
            *report_cells(row, styles[row["metric"]]),
            end_section=bool(last_of_metric),
        )
    return table


def write_markdown(
    rows: Sequence[Sequence[str]], headers: Sequence[str], out: IO[str], right: set[int]
) -> None:
    """A GitHub-flavoured markdown table of already formatted cells."""

    def escape(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    out.write("| " + " | ".join(escape(h) for h in headers) + " |\n")
    out.write("|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|\n")
    for row in rows:
        out.write("| " + " | ".join(escape(cell) for cell in row) + " |\n")


def write_report_markdown(
    frame: pl.DataFrame, out: IO[str], styles: dict[str, MetricStyle], by_labels: dict[str, str], title: str
) -> None:
    out.write(f"## {title}\n\n")
    headers = ["Level", "Metric", *by_labels.values(), "Value", "Previous", "Change", "Target", "Attainment"]
    rows = []
    for row in frame.to_dicts():
        cells = [cell.plain for cell in report_cells(row, styles[row["metric"]])]
        rows.append(
            [
                LEVEL_TITLES.get(row["level"], row["level"]),
                row["label"],
                *[_cell(row[d]) for d in by_labels],
                *cells,
            ]
        )
    first_number = 2 + len(by_labels)
    write_markdown(rows, headers, out, right=set(range(first_number, len(headers))))


BAR_WIDTH = 24


def _bar(reached: int, top: int, width: int = BAR_WIDTH) -> str:
    """A horizontal bar scaled to the top of the funnel, in eighths of a character."""
    if top <= 0:
        return ""
    eighths = round(width * 8 * reached / top)
    full, rest = divmod(eighths, 8)
    return "█" * full + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[rest]


def percent_text(value: float | None) -> str:
    return EMPTY if value is None else f"{value:.1%}"


def days_text(value: float | None) -> str:
    return EMPTY if value is None else f"{value:,.1f}"


@dataclass(frozen=True)
class FunnelView:
    """What a funnel table shows besides the figures."""

    title: str
    by_labels: dict[str, str]  # --by dimension -> label
    currency: str
    note: str  # how the bottleneck was chosen
    show_previous: bool = False  # a 'vs prev.' column (the change since the previous period)


def _points(value: float | None) -> str:
    return EMPTY if value is None else f"{value * 100:+.1f} pts"


def funnel_cells(row: dict, top: int, currency: str, bar_width: int = BAR_WIDTH) -> list[str]:
    money = MetricStyle("currency", currency=currency)
    return [
        f"{row['reached']:,}",
        _bar(row["reached"], top, bar_width),
        percent_text(row["conversion"]) + (" ◀" if row["bottleneck"] else "  "),
        _points(row["vs_team"]),
        _points(row["vs_previous"]),
        percent_text(row["overall"]),
        f"{row['dropped']:,}",
        days_text(row["median_days_in_stage"]),
        days_text(row["mean_days_in_stage"]),
        format_value(row["value_reached"], money) if row["value_reached"] is not None else EMPTY,
    ]


_FUNNEL_HEADERS = (
    "Reached",
    "",
    "Conversion",
    "vs team",
    "vs prev.",
    "Overall",
    "Dropped",
    "Days med.",
    "Days mean",
    "Value",
)


def write_funnel_table(frame: pl.DataFrame, console: Console, view: FunnelView) -> None:
    """The funnel as a table with a bar per stage; one block of stages per --by group.

    On a narrow terminal the bar shrinks, then the least essential columns are left out.
    """
    rows = frame.to_dicts()  # one row per stage x group: small
    optional = ["Days mean", "Value", "Days med."]  # left out in this order when space is short
    hidden: set[str] = set()
    bar_width = BAR_WIDTH
    table = _funnel_table(rows, view, bar_width, hidden)
    while natural_width(console, table) > console.width and (bar_width > 8 or optional):
        if bar_width > 8:
            bar_width = max(8, bar_width - 8)
        else:
            hidden.add(optional.pop(0))
        table = _funnel_table(rows, view, bar_width, hidden)
    console.print(table)


def _funnel_table(rows: list[dict], view: FunnelView, bar_width: int, hidden: set[str]) -> Table:
    table = house_table(view.title, view.note)
    for label in view.by_labels.values():
        table.add_column(label, no_wrap=True)
    table.add_column("Stage", no_wrap=True)
    shown = _funnel_columns(view, hidden)
    for i in shown:
        table.add_column(_FUNNEL_HEADERS[i], justify="left" if i == 1 else "right", no_wrap=True)
    top = 0
    for i, row in enumerate(rows):
        first = row["step"] == 1
        if first:
            top = row["reached"]
        cells: list[str | Text] = list(funnel_cells(row, top, view.currency, bar_width))
        cells[1] = Text(str(cells[1]), style="cyan")
        cells[2] = Text(str(cells[2]), style="bold red" if row["bottleneck"] else "")
        groups = [_cell(row[d]) if first else "" for d in view.by_labels]
        last = i + 1 == len(rows) or rows[i + 1]["step"] == 1
        table.add_row(
            *groups, row["stage"], *(cells[j] for j in shown), end_section=bool(view.by_labels) and last
        )
    return table


def _funnel_columns(view: FunnelView, hidden: set[str] | frozenset[str] = frozenset()) -> list[int]:
    """Indexes of the funnel cells to show: 'vs team' only with --by groups, 'vs prev.' only
    without them and when there is a previous period."""
    hidden = {*hidden, "vs prev."} if view.by_labels or not view.show_previous else set(hidden)
    if not view.by_labels:
        hidden.add("vs team")
    return [i for i, header in enumerate(_FUNNEL_HEADERS) if header not in hidden]


def write_funnel_markdown(frame: pl.DataFrame, out: IO[str], view: FunnelView) -> None:
    out.write(f"## {view.title}\n\n")
    shown = _funnel_columns(view)
    headers = [*view.by_labels.values(), "Stage", *(_FUNNEL_HEADERS[i] or "Bar" for i in shown)]
    rows, top = [], 0
    for row in frame.to_dicts():
        if row["step"] == 1:
            top = row["reached"]
        cells = funnel_cells(row, top, view.currency)
        rows.append(
            [*[_cell(row[d]) for d in view.by_labels], row["stage"], *(cells[i].rstrip() for i in shown)]
        )
    numeric = {i for i, h in enumerate(headers) if h not in ("Stage", "Bar", *view.by_labels.values())}
    write_markdown(rows, headers, out, right=numeric)
    out.write(f"\n{view.note}\n")


def _cohort_cell(row: dict) -> str:
    """In a cohort table: how many of the cohort reached the stage, and what share of it."""
    if row["step"] == 1:
        return f"{row['reached']:,}"
    return f"{row['reached']:,} ({percent_text(row['overall'])})" + (" ◀" if row["bottleneck"] else "")


def _matrix_cell(row: dict) -> str:
    """In a --by matrix: the step's conversion and its gap to the team's."""
    if row["step"] == 1:
        return f"{row['reached']:,}"
    gap = "" if row["vs_team"] is None else f" ({row['vs_team'] * 100:+.0f})"
    return percent_text(row["conversion"]) + gap + (" ◀" if row["bottleneck"] else "")


def _matrix(frame: pl.DataFrame, view: FunnelView) -> tuple[list[str], list[list[str]], int]:
    """Headers, one row per group (the group cells, then a cell per stage), and the group count."""
    cohorts = "cohort" in frame.columns
    groups = ["cohort"] * cohorts + list(view.by_labels)
    cell = _cohort_cell if cohorts else _matrix_cell
    stages = frame.select("step", "stage").unique().sort("step")["stage"].to_list()
    if not cohorts:
        stages = [f"{stages[0]} (deals)", *stages[1:]]
    rows = [
        [_cell(k) for k in keys] + [cell(r) for r in part.sort("step").to_dicts()]
        for keys, part in frame.group_by(groups, maintain_order=True)
    ]
    headers = ["Cohort"] * cohorts + list(view.by_labels.values()) + stages
    return headers, rows, len(groups)


def write_funnel_matrix_table(frame: pl.DataFrame, console: Console, view: FunnelView) -> None:
    """One row per group: a cohort table (the deals of each creation period, how many reached each
    later stage and what share of the cohort that is), or the --by matrix (each step's conversion
    and, in brackets, its gap to the team's in points)."""
    headers, rows, groups = _matrix(frame, view)
    table = house_table(view.title, view.note)
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i < groups else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def write_funnel_matrix_markdown(frame: pl.DataFrame, out: IO[str], view: FunnelView) -> None:
    headers, rows, groups = _matrix(frame, view)
    out.write(f"## {view.title}\n\n")
    write_markdown(rows, headers, out, right=set(range(groups, len(headers))))
    out.write(f"\n{view.note}\n")


@dataclass(frozen=True)
class PipelineView:
    title: str
    by_labels: dict[str, str]
    currency: str
    stale_after: int


def money_text(value: float | None, currency: str) -> str:
    return format_value(value, MetricStyle("currency", currency=currency))


def _velocity_rows(frame: pl.DataFrame, view: PipelineView) -> tuple[list[str], list[list[str]]]:
    """One row per group: its open pipeline in total and the velocity figures."""
    by = list(view.by_labels)
    headers = [*view.by_labels.values(), "Open deals", "Open value", "Stale", "Won", "Lost", "Win rate"]
    headers += ["Avg won deal", "Avg cycle", "Velocity / day"]
    totals = frame.group_by(by, maintain_order=True) if by else [((), frame)]
    rows = []
    for keys, part in totals:
        first = part.row(0, named=True)
        rows.append(
            [
                *(_cell(k) for k in keys),
                f"{part['open_deals'].sum():,}",
                money_text(_total(part["open_value"]), view.currency),
                count_text(_total(part["stale_deals"])),
                count_text(first["won_deals"]),
                count_text(first["lost_deals"]),
                percent_text(first["win_rate"]),
                money_text(first["avg_deal_size"], view.currency),
                EMPTY if first["avg_cycle_days"] is None else f"{first['avg_cycle_days']:,.1f} d",
                money_text(first["velocity_per_day"], view.currency),
            ]
        )
    return headers, rows


def _total(values: pl.Series) -> float | None:
    """The sum, or empty when every value is (an unknown is not a zero)."""
    return None if values.null_count() == len(values) else values.sum()


def count_text(value: float | None) -> str:
    return EMPTY if value is None else f"{value:,}"


def _stage_rows(frame: pl.DataFrame, view: PipelineView) -> tuple[list[str], list[list[str]]]:
    headers = [*view.by_labels.values(), "Stage", "Open", "Open value", f"Stale (>{view.stale_after} d)"]
    headers += ["Stale value", "Days med.", "Days max"]
    rows = []
    for row in frame.to_dicts():
        first = row["step"] == 1
        rows.append(
            [
                *(_cell(row[d]) if first else "" for d in view.by_labels),
                row["stage"],
                f"{row['open_deals']:,}",
                money_text(row["open_value"], view.currency),
                count_text(row["stale_deals"]),
                money_text(row["stale_value"], view.currency),
                days_text(row["median_days_in_stage"]),
                days_text(row["max_days_in_stage"]),
            ]
        )
    return headers, rows


def simple_table(title: str | None, headers: list[str], rows: list[list[str]], left: int) -> Table:
    table = house_table(title)
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i < left else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


def write_pipeline_table(frame: pl.DataFrame, console: Console, view: PipelineView) -> None:
    """Sales velocity per group, then the open pipeline by stage with its stale deals."""
    groups = len(view.by_labels)
    headers, rows = _velocity_rows(frame, view)
    console.print(simple_table(view.title, headers, rows, groups))
    headers, rows = _stage_rows(frame, view)
    console.print(simple_table(None, headers, rows, groups + 1))
    console.print(VELOCITY_NOTE, style="dim", soft_wrap=True)


VELOCITY_NOTE = (
    "velocity = open deals × win rate × avg won deal ÷ avg cycle (days from creation to close of "
    "the deals won in the period)"
)


def write_pipeline_markdown(frame: pl.DataFrame, out: IO[str], view: PipelineView) -> None:
    groups = len(view.by_labels)
    out.write(f"## {view.title}\n\n")
    headers, rows = _velocity_rows(frame, view)
    write_markdown(rows, headers, out, right=set(range(groups, len(headers))))
    out.write("\n")
    headers, rows = _stage_rows(frame, view)
    write_markdown(rows, headers, out, right=set(range(groups + 1, len(headers))))
    out.write(f"\n{VELOCITY_NOTE}\n")


_DEAL_HEADERS = {"days_in_stage": "days", "in_stage_since": "since"}  # shorter, for people
_NUMERIC_DEAL_COLUMNS = {"value", "days_in_stage"}


def _deal_view(frame: pl.DataFrame, currency: str) -> tuple[list[str], list[list[str]], set[int]]:
    """Headers, formatted cells and right-aligned columns of the --list view (the stage, which
    the title names, left out)."""
    shown = [c for c in frame.columns if c != "stage"]
    rows = []
    for row in frame.select(shown).to_dicts():
        cells = []
        for name, value in row.items():
            if name == "value":
                cells.append(money_text(value, currency))
            elif name == "days_in_stage":
                cells.append(EMPTY if value is None else f"{value:,.0f}")
            else:
                cells.append(_cell(value))
        rows.append(cells)
    right = {i for i, name in enumerate(shown) if name in _NUMERIC_DEAL_COLUMNS}
    return [_DEAL_HEADERS.get(c, c) for c in shown], rows, right


def write_deal_table(frame: pl.DataFrame, console: Console, title: str, currency: str) -> None:
    """One row per deal (the --list view); stale deals in red."""
    headers, rows, right = _deal_view(frame, currency)
    table = house_table(title)
    for i, header in enumerate(headers):
        table.add_column(header, justify="right" if i in right else "left", no_wrap=True)
    for cells, status in zip(rows, frame["status"], strict=True):
        table.add_row(*cells, style="red" if status == "stale" else "")
    console.print(table)


def write_deal_markdown(frame: pl.DataFrame, out: IO[str], title: str, currency: str) -> None:
    out.write(f"## {title}\n\n")
    headers, rows, right = _deal_view(frame, currency)
    write_markdown(rows, headers, out, right=right)


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None]) -> str:
    """One character per value, from ▁ (the lowest) to █ (the highest); a blank where empty."""
    present = [v for v in values if v is not None]
    if not present:
        return " " * len(values)
    low, high = min(present), max(present)
    span = high - low
    return "".join(
        " " if v is None else SPARKS[3 if span == 0 else round((v - low) / span * (len(SPARKS) - 1))]
        for v in values
    )


def _trend_rows(
    frame: pl.DataFrame, styles: dict[str, MetricStyle], by_labels: dict[str, str]
) -> tuple[list[str], list[list[str | Text]]]:
    """One row per metric (x group): the sparkline, the first and the latest value, and the
    latest value against its target."""
    periods = frame["period"].unique(maintain_order=True).to_list()
    headers = ["Metric", *by_labels.values(), "Trend", periods[0], periods[-1], "Target", "Attainment"]
    rows: list[list[str | Text]] = []
    for keys, part in frame.group_by(["metric", *by_labels], maintain_order=True):
        style = styles[str(keys[0])]
        values = part["value"].to_list()
        last = part.row(-1, named=True)
        rows.append(
            [
                Text(str(last["label"])),
                *(Text(_cell(k)) for k in keys[1:]),
                Text(sparkline(values), style="cyan"),
                Text(format_value(values[0], style)),
                Text(format_value(values[-1], style), style="bold"),
                Text(format_value(last["target"], style)),
                _attainment_cell(last["attainment"]),
            ]
        )
    return headers, rows


def write_trend_table(
    frame: pl.DataFrame,
    console: Console,
    styles: dict[str, MetricStyle],
    by_labels: dict[str, str],
    title: str,
) -> None:
    headers, rows = _trend_rows(frame, styles, by_labels)
    table = house_table(title)
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i <= len(by_labels) + 1 else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def write_trend_markdown(
    frame: pl.DataFrame, out: IO[str], styles: dict[str, MetricStyle], by_labels: dict[str, str], title: str
) -> None:
    headers, rows = _trend_rows(frame, styles, by_labels)
    out.write(f"## {title}\n\n")
    cells = [[cell.plain if isinstance(cell, Text) else cell for cell in row] for row in rows]
    write_markdown(cells, headers, out, right=set(range(len(by_labels) + 2, len(headers))))
