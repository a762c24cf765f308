"""Views of `drivers` and `why`: titled sections of formatted cells, then plain-words notes.

Each view is built once as `Section`s and written either as rich tables or as markdown, so the
two human formats always show the same figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

import polars as pl
from rich.console import Console

from salescode.render import EMPTY, simple_table, write_markdown


@dataclass
class Section:
    title: str
    headers: list[str]
    rows: list[list[str]]
    left: int = 1  # the first `left` columns are text (left-aligned), the rest numbers
    empty: str = "(none)"  # shown instead of an empty table


@dataclass
class View:
    title: str
    sections: list[Section]
    notes: list[str] = field(default_factory=list)


def write_view_table(view: View, console: Console) -> None:
    console.print(view.title, style="bold", markup=False)
    for section in view.sections:
        if section.rows:
            console.print(simple_table(section.title, section.headers, section.rows, section.left))
        else:
            console.print(f"{section.title}: {section.empty}", markup=False)
        console.print()
    for note in view.notes:
        console.print(note, style="dim", markup=False, soft_wrap=True)


def write_view_markdown(view: View, out: IO[str]) -> None:
    out.write(f"## {view.title}\n\n")
    for section in view.sections:
        out.write(f"### {section.title}\n\n")
        if section.rows:
            right = set(range(section.left, len(section.headers)))
            write_markdown(section.rows, section.headers, out, right=right)
        else:
            out.write(f"{section.empty}\n")
        out.write("\n")
    for note in view.notes:
        out.write(f"{note}\n\n")


def number_text(value: float | None, digits: int = 2) -> str:
    return EMPTY if value is None else f"{value:,.{digits}f}"


def count_cell(value: float | None) -> str:
    return EMPTY if value is None else f"{value:,.0f}"


def points_text(value: float | None) -> str:
    """A difference of two fractions, in percentage points."""
    return EMPTY if value is None else f"{value * 100:+.1f} pts"


def rows_of(frame: pl.DataFrame, cells: list[Callable[[dict], str]]) -> list[list[str]]:
    return [[cell(row) for cell in cells] for row in frame.to_dicts()]


# ----------------------------------------------------------------------------- drivers

DRIVERS_NOTES = (
    "How to read this: rho is the rank correlation (-1..1) between the metric in a rep's month and "
    "the result {lag_words}, over n rep-months; the interval is its {confidence:.0%} confidence "
    "interval; slope is the typical change in the result per unit of the metric (Theil-Sen); q is "
    "the chance-finding rate after testing {tests} links at once (Benjamini-Hochberg). Supported = "
    "q ≤ {fdr} and the sign the catalog expects.",
    "What a correlation cannot show: that the metric causes the result. Busy reps do more of "
    "everything, big territories make both numbers large, and a result can drive an activity "
    "(reps who are winning log more meetings). A supported link is consistent with the catalog's "
    "theory; a link not supported is a question to ask, not proof the activity is useless. Test a "
    "change by trying it on some reps and comparing.",
)


def drivers_view(frame: pl.DataFrame, title: str, fdr: float, confidence: float) -> View:
    def slope(row: dict) -> str:
        value = row["slope"]
        if value is None:
            return EMPTY
        return f"{value:+,.0f}" if abs(value) >= 100 else f"{value:+.3g}"

    def interval(row: dict) -> str:
        if row["ci_low"] is None:
            return EMPTY
        return f"{row['ci_low']:+.2f} .. {row['ci_high']:+.2f}"

    cells: list[Callable[[dict], str]] = [
        lambda r: r["label"],
        lambda r: "yes" if r["linked"] else "no",
        lambda r: str(r["lag"]),
        lambda r: count_cell(r["n"]),
        lambda r: EMPTY if r["rho"] is None else f"{r['rho']:+.2f}",
        interval,
        slope,
        lambda r: EMPTY if r["q_value"] is None else f"{r['q_value']:.3f}",
        lambda r: r["verdict"],
    ]
    headers = ["Metric", "In catalog", "Lag", "n", "rho", "Interval", "Slope", "q", "Verdict"]
    ordered = frame.sort(["linked", "lag", "rho"], descending=[True, False, True], nulls_last=True)
    sections = [Section("Links tested", headers, rows_of(ordered, cells))]
    unsupported = ordered.filter(pl.col("finding") == "catalog link not supported")
    sections.append(
        Section(
            "Catalog links the data do not support",
            ["Path", "Lag", "rho", "Expected", "Verdict"],
            rows_of(
                unsupported, [lambda r: r["path"], cells[2], cells[4], lambda r: r["expected"], cells[8]]
            ),
            empty="(none: every link with enough data is supported)",
        )
    )
    missing = ordered.filter(pl.col("finding") == "strong association not in catalog")
    everything = not frame["linked"].all()
    sections.append(
        Section(
            "Strong associations the catalog lacks",
            ["Metric", "Lag", "rho", "Interval", "q"],
            rows_of(missing, [cells[0], cells[2], cells[4], cells[5], cells[7]]),
            empty="(none)" if everything else "(run with --all to test metrics the catalog does not link)",
        )
    )
    lags = sorted(set(frame["lag"].to_list()))
    lag_words = "in the same period" if lags == [0] else "the given number of periods later (lag)"
    tests = int(frame["q_value"].is_not_null().sum())
    notes = [
        n.format(lag_words=lag_words, confidence=confidence, tests=tests, fdr=fdr) for n in DRIVERS_NOTES
    ]
    return View(title, sections, notes)
