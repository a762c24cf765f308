"""Payout statements and leaderboards for people: rich tables and markdown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

import polars as pl
from rich.console import Console

from salescode.render import (
    CURRENCY_SYMBOLS,
    EMPTY,
    MetricStyle,
    _cell,  # the package's own cell text (empty -> —)
    format_change,
    format_value,
    simple_table,
    write_markdown,
)

COMPONENTS = {
    "commission": "Commission",
    "spif": "SPIF",
    "cap": "Cap",
    "bonus": "Bonus",
    "clawback": "Clawback",
}


@dataclass(frozen=True)
class PayoutView:
    title: str
    group_label: str  # e.g. Role
    currency: str
    summary_only: bool = False


def money(value: float | None, currency: str) -> str:
    """Money to the cent, as on a pay slip: $1,234.50 · -$12.00."""
    if value is None:
        return EMPTY
    symbol = CURRENCY_SYMBOLS.get(currency)
    sign = "-" if value < 0 else ""
    amount = f"{abs(value):,.2f}"
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency}"


def _rate(value: float | None) -> str:
    return EMPTY if value is None else f"{value:.4g}" if value >= 1 else f"{value * 100:.4g}%"


def _basis(row: dict, currency: str) -> str:
    if row["basis"] is None:
        return EMPTY
    # A bonus's basis is its metric's value (deals, meetings), not money.
    return f"{row['basis']:,.4g}" if row["component"] == "bonus" else money(row["basis"], currency)


def _statement_rows(lines: list[dict], currency: str, total: float | None) -> list[list[str]]:
    """The lines under a heading per plan segment (plan and dates), then the total."""
    rows, segment = [], None
    for row in lines:
        if (row["plan"], row["start"], row["end"]) != segment:
            segment = (row["plan"], row["start"], row["end"])
            rows.append(["", f"{row['plan']}: {row['start']} – {row['end']}", "", "", "", ""])
        attainment = EMPTY if row["attainment"] is None else f"{row['attainment']:.1%}"
        rows.append(
            [
                row["component"],
                row["detail"],
                attainment if row["component"] == "commission" else "",
                _basis(row, currency),
                _rate(row["rate"]),
                money(row["amount"], currency),
            ]
        )
    rows.append(["total", "", "", "", "", money(total, currency)])
    return rows


_STATEMENT_HEADERS = ["Component", "Detail", "Attainment", "Basis", "Rate", "Amount"]


def _summary(frame: pl.DataFrame, view: PayoutView) -> tuple[list[str], list[list[str]]]:
    """One row per rep: the amount of each component and the total; the team total last."""
    headers = ["Rep", view.group_label, *COMPONENTS.values(), "Total"]
    lines = frame.filter(pl.col("kind") == "line")
    rows = []
    for total in frame.filter(pl.col("kind") == "total").to_dicts():
        mine = lines.filter(pl.col("rep") == total["rep"])
        parts = [mine.filter(pl.col("component") == c)["amount"] for c in COMPONENTS]
        rows.append(
            [
                total["rep"],
                _cell(total["group"]),
                *(money(part.sum(), view.currency) if len(part) else EMPTY for part in parts),
                money(total["amount"], view.currency),
            ]
        )
    team = frame.filter(pl.col("kind") == "team_total")
    if team.height:
        parts = [lines.filter(pl.col("component") == c)["amount"] for c in COMPONENTS]
        sums = [money(part.sum(), view.currency) if len(part) else EMPTY for part in parts]
        rows.append(["Team total", "", *sums, money(team["amount"][0], view.currency)])
    return headers, rows


def reconciliation(frame: pl.DataFrame, currency: str) -> str | None:
    """'N statements add up to the team total $X' (None with --rep: no team total)."""
    team = frame.filter(pl.col("kind") == "team_total")
    if not team.height:
        return None
    totals = frame.filter(pl.col("kind") == "total")
    return (
        f"{totals.height} statements add up to the team total {money(team['amount'][0], currency)}; "
        "each line is rounded to the cent (half up), totals are sums of the lines"
    )


def _statements(frame: pl.DataFrame) -> list[tuple[dict, list[dict]]]:
    lines = frame.filter(pl.col("kind") == "line")
    return [
        (total, lines.filter(pl.col("rep") == total["rep"]).to_dicts())
        for total in frame.filter(pl.col("kind") == "total").to_dicts()
    ]


def write_payout_table(frame: pl.DataFrame, console: Console, view: PayoutView) -> None:
    if not view.summary_only:
        for total, lines in _statements(frame):
            title = f"{total['rep']} ({_cell(total['group'])}) — {view.title}"
            rows = _statement_rows(lines, view.currency, total["amount"])
            console.print(simple_table(title, _STATEMENT_HEADERS, rows, 2))
    headers, rows = _summary(frame, view)
    console.print(simple_table(f"Payouts — {view.title}", headers, rows, 2))
    note = reconciliation(frame, view.currency)
    if note:
        console.print(note, style="dim", soft_wrap=True)


def write_payout_markdown(frame: pl.DataFrame, out: IO[str], view: PayoutView) -> None:
    if not view.summary_only:
        for total, lines in _statements(frame):
            out.write(f"## {total['rep']} ({_cell(total['group'])}) — {view.title}\n\n")
            rows = _statement_rows(lines, view.currency, total["amount"])
            write_markdown(rows, _STATEMENT_HEADERS, out, right={2, 3, 4, 5})
            out.write("\n")
    out.write(f"## Payouts — {view.title}\n\n")
    headers, rows = _summary(frame, view)
    write_markdown(rows, headers, out, right=set(range(2, len(headers))))
    note = reconciliation(frame, view.currency)
    if note:
        out.write(f"\n{note}\n")


@dataclass(frozen=True)
class LeaderboardView:
    title: str
    by: str
    by_label: str
    style: MetricStyle  # of the ranked metric
    volume_label: str | None  # None: no minimum volume
    min_volume: float
    improved: int = 3  # rows in the "most improved" table


def _movement(row: dict) -> str:
    """▲2: up two places since the previous period; new: not ranked then; unranked: why."""
    change = row["rank_change"]
    if row["rank"] is None:
        return row["status"]
    if change is None:
        return "new"
    return "=" if change == 0 else f"▲{change}" if change > 0 else f"▼{-change}"


def _board(frame: pl.DataFrame, view: LeaderboardView) -> tuple[list[str], list[list[str]]]:
    headers = ["Rank", view.by_label, "Value", "Previous", "Change", "Prev. rank", "Move"]
    if view.volume_label:
        headers.insert(3, view.volume_label)
    rows = []
    for row in frame.to_dicts():
        cells = [
            EMPTY if row["rank"] is None else str(row["rank"]),
            _cell(row[view.by]),
            format_value(row["value"], view.style),
            format_value(row["previous"], view.style),
            format_change(row["change"], view.style),
            EMPTY if row["previous_rank"] is None else str(row["previous_rank"]),
            _movement(row),
        ]
        if view.volume_label:
            cells.insert(3, EMPTY if row["volume"] is None else f"{row['volume']:,.4g}")
        rows.append(cells)
    return headers, rows


def _improved(frame: pl.DataFrame, view: LeaderboardView) -> tuple[list[str], list[list[str]]]:
    # Only those that got better: a smaller fall is not an improvement.
    better = pl.col("change") < 0 if view.style.direction == "lower" else pl.col("change") > 0
    best = frame.filter(pl.col("improvement_rank").is_not_null() & better).sort(["improvement_rank", view.by])
    headers = ["#", view.by_label, "Change", "Previous", "Value", "Rank"]
    rows = [
        [
            str(row["improvement_rank"]),
            _cell(row[view.by]),
            format_change(row["change"], view.style),
            format_value(row["previous"], view.style),
            format_value(row["value"], view.style),
            f"{row['previous_rank']} → {row['rank']}",
        ]
        for row in best.filter(pl.col("improvement_rank") <= view.improved).to_dicts()
    ]
    return headers, rows


def _rules(view: LeaderboardView) -> str:
    text = "ties share a rank (1, 2, 2, 4) and are listed by name"
    if view.volume_label:
        text += f"; ranked only with {view.volume_label.lower()} ≥ {view.min_volume:g}"
    return text


def write_leaderboard_table(frame: pl.DataFrame, console: Console, view: LeaderboardView) -> None:
    headers, rows = _board(frame, view)
    console.print(simple_table(view.title, headers, rows, 2))
    headers, rows = _improved(frame, view)
    if rows:
        console.print(simple_table("Most improved", headers, rows, 2))
    console.print(_rules(view), style="dim", soft_wrap=True)


def write_leaderboard_markdown(frame: pl.DataFrame, out: IO[str], view: LeaderboardView) -> None:
    out.write(f"## {view.title}\n\n")
    headers, rows = _board(frame, view)
    write_markdown(rows, headers, out, right={0, *range(2, len(headers) - 1)})
    headers, rows = _improved(frame, view)
    if rows:
        out.write("\n### Most improved\n\n")
        write_markdown(rows, headers, out, right={0, 2, 3, 4})
    out.write(f"\n{_rules(view)}\n")
