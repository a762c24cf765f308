"""salescode coach: a rep against the team's median, percentile and top quartile, and the levers.

tests/data/plan in 2025-Q1 (the deals active in the quarter; see test_plan.py):
  calls Ann 10, Bob 6, Cat 8; meetings Ann 4, Bob 2, Cat 0; won revenue Ann 4000, Bob 2000, Cat 4000
  reached Lead / Demo / Won: Ann 5 / 4 / 2, Bob 3 / 1 / 1, Cat 4 / 3 / 1
Percentile: the share of the other reps the rep does better than, ties counted half.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import statistics
from collections import defaultdict
from datetime import date

import pytest
from conftest import DATA, REPO, run

from salescode.catalog import load_catalog
from salescode.coach import build_scorecard, ranking
from salescode.periods import parse_period

PLAN = DATA / "plan" / "metrics.yaml"


@functools.cache  # several tests read the same page; none changes it
def coach(*args: str, catalog=PLAN) -> list[dict]:
    result = run("coach", "--catalog", str(catalog), "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def items(rows: list[dict]) -> dict[str, dict]:
    return {row["item"]: row for row in rows}


def wilson(k: float, n: float, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval, written out from its textbook form."""
    p = k / n
    denominator = 1 + z * z / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / denominator, (centre + spread) / denominator


def test_medians_percentiles_and_top_quartile_by_hand():
    ann = items(coach("Ann", "-p", "2025-Q1"))
    assert ann["calls_made"]["value"] == 10
    assert ann["calls_made"]["team_median"] == 8  # median of 10, 6, 8
    assert ann["calls_made"]["percentile"] == 1  # better than Bob and Cat
    # won revenue 4000 vs Bob 2000 (better) and Cat 4000 (tie, half): (1 + 0.5) / 2
    assert ann["won_revenue"]["percentile"] == 0.75
    assert ann["won_revenue"]["assessment"] == "strength"
    # Lead -> Demo: Ann 4/5, Bob 1/3, Cat 3/4 -> median 0.75
    assert ann["Lead->Demo"]["value"] == pytest.approx(0.8)
    assert ann["Lead->Demo"]["team_median"] == pytest.approx(0.75)
    assert (ann["Lead->Demo"]["low"], ann["Lead->Demo"]["high"]) == pytest.approx(wilson(4, 5))
    # top quartile: result at or above the 75th percentile of 2000, 4000, 4000 (= 4000): Ann and Cat
    assert ann["calls_made"]["top_quartile"] == statistics.median([10, 8])
    assert ann["Lead->Demo"]["top_quartile"] == pytest.approx(statistics.median([0.8, 0.75]))


def test_gaps_turned_into_result():
    bob = items(coach("Bob", "-p", "2025-Q1"))
    # Lead -> Demo to the median: 3 deals x (0.75 - 1/3) x Bob's onward Demo -> Won 1/1 = 1.25 won deals,
    # at Bob's won deal of 2000 / 1 -> 2500
    assert bob["Lead->Demo"]["impact_deals"] == pytest.approx(3 * (0.75 - 1 / 3))
    assert bob["Lead->Demo"]["impact_result"] == pytest.approx(1.25 * 2000)
    # calls to the median 8: 2 more calls x Bob's 2000 won per 6 calls
    assert bob["calls_made"]["impact_result"] == pytest.approx(2 * 2000 / 6)
    assert bob["calls_made"]["impact_deals"] is None
    cat = items(coach("Cat", "-p", "2025-Q1"))
    # Demo -> Won: 3 x (0.5 - 1/3) x 1 = 0.5 deals x 4000; meetings: Cat has none, so the team's
    # 10000 won per 6 meetings values the 2 meetings to the median
    assert cat["Demo->Won"]["impact_result"] == pytest.approx(0.5 * 4000)
    assert cat["meetings_held"]["impact_result"] == pytest.approx(2 * 10000 / 6)
    assert cat["calls_made"]["impact_result"] is None  # above the median: no gap


def test_an_activity_over_few_units_is_valued_at_the_teams_ratio():
    # --min-sample 7: Bob's 6 calls are too few for his own 2000 / 6, so the team's 10000 won / 24 calls
    bob = items(coach("Bob", "-p", "2025-Q1", "--min-sample", "7"))
    assert bob["calls_made"]["impact_result"] == pytest.approx(2 * 10000 / 24)


def test_a_rate_from_few_deals_is_not_ranked():
    # n >= 4 to rank: Bob's Lead -> Demo (n = 3) is left out of the median: median(0.8, 0.75)
    bob = items(coach("Bob", "-p", "2025-Q1", "--min-sample", "4"))
    step = bob["Lead->Demo"]
    assert step["reliable"] is False
    assert step["percentile"] is None and step["assessment"] == ""
    assert (step["low"], step["high"]) == pytest.approx(wilson(1, 3))
    assert step["team_median"] == pytest.approx(0.775)
    assert step["impact_result"] is None
    page = run("coach", "Bob", "-c", str(PLAN), "-p", "2025-Q1", "--min-sample", "4", "-f", "markdown")
    assert "n=3: too few to rank (95% " in page.stdout


def test_ranking_of_all_reps():
    rows = coach("--all", "-p", "2025-Q1")
    assert [(r["rank"], r["rep"]) for r in rows] == [(1, "Ann"), (2, "Cat"), (3, "Bob")]  # ties by name
    bob = rows[-1]
    # Bob's levers: Lead -> Demo 2500, calls 666.67, meetings (at the median, none) -> Lead -> Demo
    assert (bob["lever"], bob["impact_result"]) == ("Lead->Demo", pytest.approx(2500))


def test_one_page_markdown_for_a_one_to_one():
    result = run("coach", "Bob", "-c", str(PLAN), "-p", "2025-Q1", "-f", "markdown")
    assert result.exit_code == 0, result.stderr
    page = result.stdout
    for heading in (
        "### Scorecard",
        "### Strengths",
        "### Weaknesses",
        "### Biggest levers",
        "### What the top quartile does",
        "### Improvement plan",
    ):
        assert heading in page
    assert (
        "If your Lead → Demo matched the team median (75.0%, now 33.3%): ~1 more won deals ≈ $2,500" in page
    )
    assert "by the end of 2025-Q2" in page


def per_rep_2025() -> dict[str, dict[str, float]]:
    """Won revenue and average discount of won deals per rep in 2025, straight from the CSV."""
    won: dict[str, list[dict]] = defaultdict(list)
    for deal in csv.DictReader((REPO / "sample_data" / "deals.csv").open()):
        if deal["stage"] == "Won" and deal["close_date"][:4] == "2025":
            won[deal["rep"]].append(deal)
    return {
        rep: {
            "revenue": sum(float(d["amount"]) for d in deals),
            "discount": statistics.mean(float(d["discount_pct"]) for d in deals),
        }
        for rep, deals in won.items()
    }


@pytest.fixture(scope="module")
def sample_card() -> dict[str, dict[str, dict]]:
    """The 2025 scorecard of the sample team, computed once (the library behind coach --all)."""
    card = build_scorecard(
        load_catalog(REPO / "metrics.yaml"),
        parse_period("2025", today=date(2026, 1, 1)),
        None,
        today=date(2026, 1, 1),
    )
    pages = {
        rep: items(card.of(rep).to_dicts())
        for rep in ("Derek Lawson", "Ryan Mitchell", "Gary Pruitt", "Victor Hale")
    }
    return {"ranking": {r["rep"]: r for r in ranking(card).to_dicts()}, **pages}


def test_sample_percentiles_and_medians_against_the_csv(sample_card):
    truth = per_rep_2025()
    ranking = sample_card["ranking"]
    revenue = {rep: ranking[rep]["result"] for rep in ranking}
    # reps with no won deal in 2025 have 0 revenue; the rest must match the CSV
    assert {rep: value for rep, value in revenue.items() if value} == pytest.approx(
        {rep: t["revenue"] for rep, t in truth.items()}
    )
    for rep in ("Derek Lawson", "Gary Pruitt"):
        others = [v for name, v in revenue.items() if name != rep]
        better = sum(v < revenue[rep] for v in others) + 0.5 * sum(v == revenue[rep] for v in others)
        assert ranking[rep]["result_percentile"] == pytest.approx(better / len(others))
    victor = sample_card["Victor Hale"]["avg_discount"]
    assert victor["value"] == pytest.approx(truth["Victor Hale"]["discount"])
    assert victor["team_median"] == pytest.approx(statistics.median(t["discount"] for t in truth.values()))


def test_sample_coach_finds_the_planted_weaknesses(sample_card):
    for rep in ("Derek Lawson", "Ryan Mitchell"):  # busy, but Demo -> Proposal about half the others'
        page = sample_card[rep]
        assert page["Demo->Proposal"]["assessment"] == "weakness"
        assert sample_card["ranking"][rep]["lever"] == "Demo->Proposal"
    gary = sample_card["Gary Pruitt"]  # a third of the busiest reps' activity
    for activity in ("calls_made", "meetings_held", "activities_logged"):
        assert gary[activity]["assessment"] == "weakness", activity
    assert sample_card["ranking"]["Gary Pruitt"]["lever"] in {
        "calls_made",
        "meetings_held",
        "demos_held",
        "new_opportunities",
        "activities_logged",
    }
    victor = sample_card["Victor Hale"]  # discounts ~22% against ~8%
    assert victor["avg_discount"]["assessment"] == "weakness"
    assert victor["avg_discount"]["percentile"] == 0  # the heaviest discounter of all


@pytest.mark.parametrize(
    "args, phrase",
    [
        ([], "name one rep"),
        (["Ann", "--all"], "name one rep"),
        (["Zed", "-p", "2025-Q1"], "no rep 'Zed' with data in 2025-Q1"),
        (["Ann", "--result", "calls"], "--result calls: no such metric"),
        (["Ann", "-p", "all"], "--period all has no next period"),
    ],
)
def test_errors(args: list[str], phrase: str):
    result = run("coach", "-c", str(PLAN), *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert phrase in result.stderr
