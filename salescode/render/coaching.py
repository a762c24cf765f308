"""The coaching page and the ranking of reps, for people (tables and markdown)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

import polars as pl
from rich.console import Console

from salescode.render import EMPTY, MetricStyle, format_value, simple_table, write_markdown
from salescode.render.planning import COUNT, KIND_TITLES


@dataclass(frozen=True)
class CoachView:
    title: str
    rep: str
    styles: dict[str, MetricStyle]  # per item
    result: str  # the result metric's item name
    until: str  # the end of the plan's time frame, e.g. "the end of 2026-Q1"
    period: str
    reps: int  # reps compared


def _percent_rank(value: float | None) -> str:
    return EMPTY if value is None else f"{value:.0%}"


def _coach_note(row: dict, style: MetricStyle) -> str:
    """Strength/weakness marks; an unreliable rate shows its interval and is not ranked."""
    if not row["reliable"]:
        span = f"{format_value(row['low'], style)}–{format_value(row['high'], style)}"
        return f"n={row['sample']:.0f}: too few to rank (95% {span})"
    return {"strength": "▲ strength", "weakness": "▼ weakness"}.get(row["assessment"], "")


COACH_HEADERS = ["Level", "Metric", "Value", "Team median", "Percentile", "Top quartile", "Note"]


def _scorecard_rows(frame: pl.DataFrame, view: CoachView) -> list[list[str]]:
    rows = []
    for row in frame.to_dicts():
        style = view.styles.get(row["item"], MetricStyle("percent"))
        rows.append(
            [
                KIND_TITLES.get(row["level"], row["level"].capitalize()),
                row["label"],
                format_value(row["value"], style),
                format_value(row["team_median"], style),
                _percent_rank(row["percentile"]),
                format_value(row["top_quartile"], style),
                _coach_note(row, style),
            ]
        )
    return rows


def coach_sections(frame: pl.DataFrame, levers: pl.DataFrame, view: CoachView, result_label: str) -> dict:
    """The one-page coaching text: headline, strengths, weaknesses, levers, top quartile, plan."""
    result = frame.filter(pl.col("item") == view.result).row(0, named=True)
    money = view.styles[view.result]
    headline = (
        f"{result_label}: {format_value(result['value'], money)} in {view.period} "
        f"(team median {format_value(result['team_median'], money)}; better than "
        f"{_percent_rank(result['percentile'])} of the {view.reps} reps)."
    )

    def line(row: dict) -> str:
        style = view.styles.get(row["item"], MetricStyle("percent"))
        return (
            f"{row['label']}: {format_value(row['value'], style)} (team median "
            f"{format_value(row['team_median'], style)}; better than "
            f"{_percent_rank(row['percentile'])} of the team)"
        )

    ranked = frame.filter(pl.col("assessment") != "").sort("percentile", descending=True)
    strengths = [line(r) for r in ranked.filter(pl.col("assessment") == "strength").head(5).to_dicts()]
    weaknesses = [
        line(r) for r in ranked.filter(pl.col("assessment") == "weakness").reverse().head(5).to_dicts()
    ]
    lever_lines, plan = [], []
    for row in levers.to_dicts():
        style = view.styles.get(row["item"], MetricStyle("percent"))
        deals = f"~{row['impact_deals']:.0f} more won deals ≈ " if row["impact_deals"] is not None else "≈ "
        worth = f"{deals}{format_value(row['impact_result'], money)} more {result_label.lower()}"
        own, median = format_value(row["value"], style), format_value(row["team_median"], style)
        lever_lines.append(
            f"If your {row['label']} matched the team median ({median}, now {own}): {worth} in {view.period}."
        )
        measured = (
            "conversion of the deals reaching the step" if row["level"] == "funnel" else "logged in the CRM"
        )
        plan.append(
            f"Raise {row['label']} from {own} to {median} (team median) by {view.until}, measured as the "
            f"{measured}, checked every week; worth {worth}."
        )
    activities = frame.filter((pl.col("level") == "activity") & pl.col("top_quartile").is_not_null())
    top = [
        [
            row["label"],
            format_value(row["value"], view.styles.get(row["item"], COUNT)),
            format_value(row["top_quartile"], view.styles.get(row["item"], COUNT)),
        ]
        for row in activities.to_dicts()
    ]
    return {
        "headline": headline,
        "strengths": strengths or ["None stand out (no percentile of 75% or more)."],
        "weaknesses": weaknesses or ["None stand out (no percentile of 25% or less)."],
        "levers": lever_lines or ["No gap to the team median on a funnel step or an activity."],
        "top": top,
        "plan": plan or ["Keep the current activity levels and conversions; no gap to the team median."],
    }


def write_coach_markdown(
    frame: pl.DataFrame, levers: pl.DataFrame, out: IO[str], view: CoachView, result_label: str
) -> None:
    text = coach_sections(frame, levers, view, result_label)
    out.write(f"## {view.title}\n\n{text['headline']}\n\n### Scorecard\n\n")
    write_markdown(_scorecard_rows(frame, view), COACH_HEADERS, out, right={2, 3, 4, 5})
    for key, heading in (
        ("strengths", "Strengths"),
        ("weaknesses", "Weaknesses"),
        ("levers", "Biggest levers"),
    ):
        out.write(f"\n### {heading}\n\n" + "".join(f"- {item}\n" for item in text[key]))
    out.write("\n### What the top quartile does\n\n")
    write_markdown(text["top"], ["Activity", view.rep, "Top quartile (median)"], out, right={1, 2})
    out.write(
        "\n### Improvement plan\n\n" + "".join(f"{i}. {item}\n" for i, item in enumerate(text["plan"], 1))
    )


def write_coach_table(
    frame: pl.DataFrame, levers: pl.DataFrame, console: Console, view: CoachView, result_label: str
) -> None:
    text = coach_sections(frame, levers, view, result_label)
    console.print(view.title, style="bold", markup=False)
    console.print(text["headline"], markup=False)
    rows = _scorecard_rows(frame, view)
    console.print(simple_table(None, COACH_HEADERS, rows, 2))
    for key, heading in (
        ("strengths", "Strengths"),
        ("weaknesses", "Weaknesses"),
        ("levers", "Biggest levers"),
    ):
        console.print(heading, style="bold underline", markup=False)
        for item in text[key]:
            console.print(f"  • {item}", markup=False)
    console.print(
        simple_table(
            "What the top quartile does", ["Activity", view.rep, "Top quartile (median)"], text["top"], 1
        )
    )
    console.print("Improvement plan", style="bold underline", markup=False)
    for i, item in enumerate(text["plan"], 1):
        console.print(f"  {i}. {item}", markup=False)


RANKING_HEADERS = [
    "Rank",
    "Rep",
    "Result",
    "Percentile",
    "Strengths",
    "Weaknesses",
    "Biggest lever",
    "Rep → team median",
    "Worth",
]


def _ranking_rows(frame: pl.DataFrame, view: CoachView) -> list[list[str]]:
    money = view.styles[view.result]
    rows = []
    for row in frame.to_dicts():
        style = view.styles.get(row["lever"] or "", MetricStyle("percent"))
        lever = row["lever_label"] or EMPTY
        move = (
            f"{format_value(row['lever_value'], style)} → {format_value(row['lever_median'], style)}"
            if row["lever"]
            else EMPTY
        )
        rows.append(
            [
                str(row["rank"]),
                row["rep"],
                format_value(row["result"], money),
                _percent_rank(row["result_percentile"]),
                str(row["strengths"]),
                str(row["weaknesses"]),
                lever,
                move,
                format_value(row["impact_result"], money),
            ]
        )
    return rows


def write_ranking_table(frame: pl.DataFrame, console: Console, view: CoachView) -> None:
    console.print(simple_table(view.title, RANKING_HEADERS, _ranking_rows(frame, view), 2))
    console.print(RANKING_NOTE, style="dim", soft_wrap=True, markup=False)


def write_ranking_markdown(frame: pl.DataFrame, out: IO[str], view: CoachView) -> None:
    out.write(f"## {view.title}\n\n")
    write_markdown(_ranking_rows(frame, view), RANKING_HEADERS, out, right={0, 2, 3, 4, 5, 8})
    out.write(f"\n{RANKING_NOTE}\n")


RANKING_NOTE = (
    "Biggest lever: the funnel step or activity whose gap to the team median is worth most, at the rep's "
    "own ratios; Worth: the result it would add in the period."
)
