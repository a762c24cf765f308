"""Plan, quota allocation and coaching views for people (tables and markdown)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO

import polars as pl
from rich.console import Console
from rich.table import Table
from rich.text import Text

from salescode.render import (
    EMPTY,
    MetricStyle,
    format_value,
    house_table,
    natural_width,
    write_markdown,
)

KIND_TITLES = {
    "result": "Result",
    "funnel": "Funnel",
    "objective": "Objectives",
    "activity": "Activities",
    "capacity": "Capacity",
}
COUNT = MetricStyle("number")


@dataclass(frozen=True)
class PlanView:
    title: str
    styles: dict[str, MetricStyle]  # per item: how its volumes read
    link_styles: dict[str, MetricStyle]  # per link: how its ratio reads
    notes: list[str] = field(default_factory=list)
    by: str | None = None  # the rep column of a plan per rep


def _volume(value: float | None, style: MetricStyle) -> str:
    """A required volume: counts to one decimal below 100 (12.4 deals), whole above."""
    if value is None:
        return EMPTY
    if style.format in ("integer", "number"):
        return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"
    return format_value(value, style)


def _gap(value: float | None, style: MetricStyle) -> str:
    if value is None:
        return EMPTY
    sign = "+" if value > 0 else "-" if value < 0 else ""
    return sign + _volume(abs(value), style)


PLAN_HEADERS = [
    "Item",
    "Required",
    "P10–P90",
    "Per rep",
    "Per week",
    "Basis",
    "Run-rate",
    "Gap",
    "Link",
    "Ratio",
    "n",
    "Status",
]


def plan_cells(row: dict, view: PlanView) -> list[str]:
    style = view.styles.get(row["item"], COUNT)
    link_style = view.link_styles.get(row["link"] or "", COUNT)
    span = f"{_volume(row['low'], style)}–{_volume(row['high'], style)}" if row["low"] is not None else EMPTY
    used = row["used"]
    return [
        row["label"],
        _volume(row["required"], style),
        span,
        _volume(row["per_rep"], style),
        _volume(row["per_week"], style),
        _volume(row["basis_value"], style),
        _volume(row["run_rate"], style),
        _gap(row["gap"], style),
        row["link"] or "",
        _ratio(row["observed"], used, link_style),
        EMPTY if row["sample"] is None else f"{row['sample']:,.0f}",
        row["status"] or "",
    ]


def _ratio(observed: float | None, used: float | None, style: MetricStyle) -> str:
    """The link's observed ratio, and the what-if value when one replaced it (50.0% → 80.0%)."""
    text = EMPTY if observed is None else format_value(observed, style)
    if used is not None and used != observed:
        text += f" → {format_value(used, style)}"
    return text


HIDE_FIRST = ("Link", "Basis", "Per week", "n")  # dropped in this order when the terminal is narrow


def _plan_table(rows: list[dict], view: PlanView, hidden: set[str]) -> Table:
    table = house_table(view.title)
    shown = [i for i, header in enumerate(PLAN_HEADERS) if header not in hidden]
    for i in shown:
        header = PLAN_HEADERS[i]
        left = header in ("Item", "Link", "Status")
        table.add_column(header, justify="left" if left else "right", no_wrap=header != "Item")
    section = None
    for row in rows:
        kind = KIND_TITLES.get(row["kind"], row["kind"])
        # A plan per rep: one set of sections per rep, named after the rep.
        title = f"{row[view.by]} — {kind}" if view.by else kind
        if title != section:
            section = title
            table.add_row(Text(title, style="bold underline"))
        cells = plan_cells(row, view)
        status = Text(cells[-1], style="" if cells[-1] in ("ok", "") else "yellow")
        table.add_row(*[status if i == len(cells) - 1 else cells[i] for i in shown])
    return table


def write_plan_table(frame: pl.DataFrame, console: Console, view: PlanView) -> None:
    """The plan by section; on a narrow terminal the link names, basis and per-week columns go first."""
    rows = frame.to_dicts()
    hidden: set[str] = set()
    table = _plan_table(rows, view, hidden)
    for header in HIDE_FIRST:
        if natural_width(console, table) <= console.width:
            break
        hidden.add(header)
        table = _plan_table(rows, view, hidden)
    console.print(table)
    for note in view.notes:
        console.print(note, style="dim", soft_wrap=True, markup=False)


def write_plan_markdown(frame: pl.DataFrame, out: IO[str], view: PlanView) -> None:
    out.write(f"## {view.title}\n\n")
    lead = [view.by] if view.by else []
    rows = [
        [*(str(row[c]) for c in lead), KIND_TITLES.get(row["kind"], row["kind"]), *plan_cells(row, view)]
        for row in frame.to_dicts()
    ]
    headers = [*(c.capitalize() for c in lead), "Section", *PLAN_HEADERS]
    right = {2, 3, 4, 5, 6, 7, 8, 10, 11}
    write_markdown(rows, headers, out, right={i + len(lead) for i in right})
    for note in view.notes:
        out.write(f"\n{note}\n")


@dataclass(frozen=True)
class AllocationView:
    title: str
    by: str  # the recipient column
    by_label: str
    money: MetricStyle  # the target metric's style
    note: str


def _allocation_rows(frame: pl.DataFrame, view: AllocationView) -> tuple[list[str], list[list[str]]]:
    """One row per recipient (months as columns), then the total."""
    months = list(dict.fromkeys(frame["period"].to_list()))
    wide = frame.pivot(
        on="period",
        index=[view.by, "target", "share", "potential_share", "history_share", "potential", "history"],
        values="quota_amount",
    )
    headers = [view.by_label, "Potential", "Share", "History", "Share", "Weighted share", "Quota", *months]
    percent = MetricStyle("percent")
    rows = [
        [
            str(row[view.by]),
            format_value(row["potential"], view.money),
            format_value(row["potential_share"], percent),
            format_value(row["history"], view.money),
            format_value(row["history_share"], percent),
            format_value(row["share"], percent),
            format_value(row["target"], view.money),
            *(format_value(row[m], view.money) for m in months),
        ]
        for row in wide.to_dicts()
    ]
    total = [
        "Total",
        format_value(wide["potential"].sum(), view.money),
        "",
        format_value(wide["history"].sum(), view.money),
        "",
        format_value(wide["share"].sum(), percent),
        format_value(wide["target"].sum(), view.money),
        *(format_value(wide[m].sum(), view.money) for m in months),
    ]
    return headers, [*rows, total]


def write_allocation_table(frame: pl.DataFrame, console: Console, view: AllocationView) -> None:
    headers, rows = _allocation_rows(frame, view)
    table = house_table(view.title)
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right", no_wrap=True)
    for i, row in enumerate(rows):
        table.add_row(*row, end_section=i == len(rows) - 2)
    console.print(table)
    console.print(view.note, style="dim", soft_wrap=True, markup=False)


def write_allocation_markdown(frame: pl.DataFrame, out: IO[str], view: AllocationView) -> None:
    out.write(f"## {view.title}\n\n")
    headers, rows = _allocation_rows(frame, view)
    write_markdown(rows, headers, out, right=set(range(1, len(headers))))
    out.write(f"\n{view.note}\n")
