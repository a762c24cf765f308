"""Views of the `why` reports (lost deals, discounts, churn, attrition), as Sections."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from salescode.render import EMPTY, money_text, percent_text
from salescode.render.analysis import Section, View, count_cell, number_text, points_text, rows_of

# ----------------------------------------------------------------------------- why lost

MIN_GROWING = 10  # lost deals a growing reason needs in a group before it is listed


def lost_view(frame: pl.DataFrame, title: str, currency: str) -> View:
    def money(key: str) -> Callable[[dict], str]:
        return lambda r: money_text(r[key], currency)

    overall = frame.filter(pl.col("dimension") == "all")
    headers = ["Reason", "Lost deals", "Lost value", "Share of value", "Earlier", "Recent", "Change", "Trend"]
    cells: list[Callable[[dict], str]] = [
        lambda r: r["reason"],
        lambda r: count_cell(r["lost_deals"]),
        money("lost_value"),
        lambda r: percent_text(r["value_share"]),
        lambda r: percent_text(r["earlier_share"]),
        lambda r: percent_text(r["recent_share"]),
        lambda r: points_text(r["change"]),
        lambda r: r["trend"] or EMPTY,
    ]
    sections = [Section("Lost reasons", headers, rows_of(overall, cells))]
    growing = frame.filter((pl.col("trend") == "growing") & (pl.col("lost_deals") >= MIN_GROWING))
    sections.append(
        Section(
            "Growing reasons (share of lost deals up 5+ points, more than chance explains)",
            ["Breakdown", "Group", "Reason", "Earlier", "Recent", "Change"],
            rows_of(
                growing.sort("change", descending=True),
                [lambda r: r["dimension"], lambda r: r["group"], *[cells[i] for i in (0, 4, 5, 6)]],
            ),
            left=3,
        )
    )
    for dimension in [d for d in dict.fromkeys(frame["dimension"].to_list()) if d not in ("all", "period")]:
        part = frame.filter(pl.col("dimension") == dimension)
        summary = (
            part.group_by("group", maintain_order=True)
            .agg(
                pl.col("lost_deals").sum(),
                pl.col("lost_value").sum(),
                pl.col("reason").first().alias("top"),
                pl.col("value_share").first().alias("top_share"),
                pl.col("reason").get(1, null_on_oob=True).alias("second"),
                pl.col("value_share").get(1, null_on_oob=True).alias("second_share"),
            )
            .sort("lost_value", descending=True, nulls_last=True)
        )
        sections.append(
            Section(
                f"By {dimension}",
                [dimension.capitalize(), "Lost deals", "Lost value", "Top reason", "Share", "Next", "Share"],
                rows_of(
                    summary,
                    [
                        lambda r: r["group"],
                        lambda r: count_cell(r["lost_deals"]),
                        money("lost_value"),
                        lambda r: r["top"],
                        lambda r: percent_text(r["top_share"]),
                        lambda r: r["second"] or EMPTY,
                        lambda r: percent_text(r["second_share"]),
                    ],
                ),
            )
        )
    periods = frame.filter(pl.col("dimension") == "period")
    if periods.height:
        reasons = overall["reason"].to_list()
        matrix = periods.pivot(on="reason", index="group", values="value_share").sort("group")
        sections.append(
            Section(
                "Share of lost value by period",
                ["Period", *reasons],
                [
                    [row["group"], *[percent_text(row.get(reason)) for reason in reasons]]
                    for row in matrix.to_dicts()
                ],
            )
        )
    notes = [
        "Lost deals are those closed at a lost stage in the period (by close date). Shares are of the "
        "lost value; Earlier and Recent are each reason's share of the lost deals in the first and the "
        "second half of the range, so a growing reason is one losing more deals than before."
    ]
    return View(title, sections, notes)


# ----------------------------------------------------------------------------- why discounts


def discounts_view(frame: pl.DataFrame, title: str, currency: str) -> View:
    def money(key: str) -> Callable[[dict], str]:
        return lambda r: money_text(r[key], currency)

    team = frame.filter(pl.col("dimension") == "all").row(0, named=True)
    band_cells: list[Callable[[dict], str]] = [
        lambda r: r["group"],
        lambda r: count_cell(r["closed_deals"]),
        lambda r: percent_text(r["win_rate"]),
        money("avg_won_deal"),
        lambda r: number_text(r["avg_cycle_days"], 0),
        money("given_away"),
    ]
    sections = [
        Section(
            "Win rate, deal size and cycle by discount band",
            ["Discount", "Closed", "Win rate", "Avg won deal", "Cycle (days)", "Given away"],
            rows_of(frame.filter(pl.col("dimension") == "band"), band_cells),
        )
    ]
    group_cells: list[Callable[[dict], str]] = [
        lambda r: r["group"],
        lambda r: count_cell(r["closed_deals"]),
        lambda r: percent_text(r["win_rate"]),
        lambda r: points_text(r["win_rate_vs_team"]),
        lambda r: percent_text(r["avg_discount"]),
        lambda r: points_text(r["discount_vs_team"]),
        money("avg_won_deal"),
        lambda r: number_text(r["avg_cycle_days"], 0),
        money("given_away"),
    ]
    headers = [
        "Closed",
        "Win rate",
        "vs team",
        "Avg discount",
        "vs team",
        "Avg won deal",
        "Cycle",
        "Given away",
    ]
    for dimension in [d for d in dict.fromkeys(frame["dimension"].to_list()) if d not in ("all", "band")]:
        part = frame.filter(pl.col("dimension") == dimension).sort(
            "given_away", descending=True, nulls_last=True
        )
        sections.append(
            Section(f"By {dimension}", [dimension.capitalize(), *headers], rows_of(part, group_cells))
        )
    buyers = frame.filter(pl.col("buys_wins").fill_null(False))
    sections.append(
        Section(
            "Reps who buy wins with discounts (5+ points above the team's discount, no better win rate)",
            ["Rep", *headers],
            rows_of(buyers, group_cells),
        )
    )
    share = team["given_away"] / (team["won_value"] + team["given_away"]) if team["won_value"] else None
    notes = [
        f"Revenue given away: {money_text(team['given_away'], currency)} on "
        f"{money_text(team['won_value'], currency)} won ({percent_text(share)} of list price). "
        f"Team: win rate {percent_text(team['win_rate'])}, average discount on won deals "
        f"{percent_text(team['avg_discount'])}.",
        "A discount that does not raise the win rate is margin given away; a band whose win rate is no "
        "higher than the band below it is where selling value beats cutting price.",
    ]
    return View(title, sections, notes)


# ----------------------------------------------------------------------------- why churn

AT_RISK_SHOWN = 15


def churn_view(frame: pl.DataFrame, at_risk: pl.DataFrame, title: str, months: int) -> View:
    cells: list[Callable[[dict], str]] = [
        lambda r: r["segment"],
        lambda r: r["group"] if r["reason"] is None else f"  {r['reason']}",
        lambda r: count_cell(r["accounts"]),
        lambda r: percent_text(r["share"]),
        lambda r: percent_text(r["touched_share"]),
        lambda r: number_text(r["meetings_per_account"]),
        lambda r: percent_text(r["no_meeting_share"]),
        lambda r: number_text(r["median_days_since_touch"], 0),
    ]
    headers = [
        "Segment",
        "Group",
        "Accounts",
        "Share",
        "Touched",
        "Meetings each",
        "No meeting",
        "Days since touch",
    ]
    groups = frame.filter(pl.col("reason").is_null())
    reasons = frame.filter(pl.col("reason").is_not_null())
    shown = at_risk.head(AT_RISK_SHOWN)
    sections = [
        Section(
            f"The {months} months before churn, against retained customers",
            headers,
            rows_of(groups, cells),
            2,
        ),
        Section("Churn reasons", headers, rows_of(reasons, cells), 2),
        Section(
            f"At risk: {at_risk.height} customers with the churned pattern"
            + (
                f" (the {AT_RISK_SHOWN} longest untouched; --at-risk lists all)"
                if at_risk.height > AT_RISK_SHOWN
                else ""
            ),
            ["Account", "Segment", "Owner", "Last touch", "Days since", "Touches"],
            [
                [
                    r["account"],
                    r["segment"],
                    r["owner"] or EMPTY,
                    EMPTY if r["last_touch"] is None else r["last_touch"].isoformat(),
                    count_cell(r["days_since_touch"]),
                    count_cell(r["touches"]),
                ]
                for r in shown.to_dicts()
            ],
            4,
        ),
    ]
    notes = [
        f"Share: of the segment's churned and retained customers (for reasons, of its churned ones). "
        f"Touched: any activity in the {months} months before churn (retained: before the reference day); "
        "Meetings each: meetings held in that window per account; Days since touch: median days from the "
        "last activity to the window's end. At risk: no meeting in the window and untouched for at least "
        "as long as the segment's churned accounts were.",
    ]
    return View(title, sections, notes)


# ----------------------------------------------------------------------------- why attrition


def attrition_view(
    frame: pl.DataFrame, reasons: pl.DataFrame, title: str, currency: str, months: int
) -> View:
    cells: list[Callable[[dict], str]] = [
        lambda r: r["rep"],
        lambda r: EMPTY if r["exit_date"] is None else r["exit_date"].isoformat(),
        lambda r: r["exit_reason"] or EMPTY,
        lambda r: r["signals"] or EMPTY,
        lambda r: number_text(r["tenure_months"], 0),
        lambda r: percent_text(r["attainment"]),
        lambda r: EMPTY if r["activity_change"] is None else f"{r['activity_change']:+.0%}",
        lambda r: money_text(r["pipeline_per_month"], currency),
    ]
    headers = [
        "Rep",
        "Left",
        "Reason",
        "Signals",
        "Tenure (mo)",
        "Attainment",
        "Activity",
        "Pipeline/mo",
    ]
    sections = [
        Section(
            "Exit reasons",
            ["Reason", "Leavers", "Median tenure (months)", "Median attainment"],
            [
                [
                    r["exit_reason"],
                    count_cell(r["leavers"]),
                    number_text(r["median_tenure_months"], 0),
                    percent_text(r["median_attainment"]),
                ]
                for r in reasons.to_dicts()
            ],
        ),
        Section(
            f"Reps who left: the {months} months before leaving",
            headers,
            rows_of(frame.filter(pl.col("status") == "left"), cells),
            4,
        ),
        Section(
            f"Early warning: current reps with two or more of the leavers' signals (last {months} months)",
            [headers[0], *headers[3:]],
            rows_of(frame.filter(pl.col("warning")), [cells[0], *cells[3:]]),
            2,
            empty="(none)",
        ),
    ]
    notes = [
        f"Attainment: won against target over the {months} whole months before the exit month (current "
        f"reps: the last {months} months); Activity: change against the {months} months before that; "
        "signals compare with the leavers' medians. People leave for reasons no CRM records (a manager, "
        "pay, a move): read the list as a prompt for a conversation, not a forecast."
    ]
    return View(title, sections, notes)
