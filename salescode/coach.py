"""`salescode coach`: one rep against the team, for a one-to-one.

Every metric that can be broken down by rep (conversion metrics aside: the funnel's own steps
stand for them) and every funnel step, for each rep: the team median (over the reps with a
value), the rep's percentile (the share of the other reps the rep does better than, ties counted
half, in the metric's direction) and the median of the top quartile (the reps whose result is at
or above the team's 75th percentile). A rate from fewer than `planning.min_sample` observations
carries its Wilson 95% interval and is not ranked. Strengths are percentiles of 75% or more,
weaknesses 25% or less.

Impact, at the rep's own ratios (the linear chain `plan` uses): a funnel step raised to the team
median adds won deals = deals entering the step x (median - own) x the rep's onward conversion
to the last stage, worth the rep's average won deal; an activity that drives the result, raised
to the median, adds result = (median - own) x the rep's result per unit of activity (the team's
when the rep has fewer than `min_sample` units). Only activities (additive, with a drives path
to the result) and funnel steps are levers: they are what a rep changes directly; a gap worth
less than 1% of the rep's result is not one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl

from salescode.basis import planning_workspace
from salescode.catalog import Agg, Catalog, Direction, Funnel, Grain, Level, Metric, MetricKind, did_you_mean
from salescode.engine import ReportRequest, latest_period, plan_metrics, run_windows
from salescode.errors import SalescodeError
from salescode.funnel import choose_funnel, reach_query, require_funnel_dimensions
from salescode.periods import Period
from salescode.plan import plan_drivers, target_metric
from salescode.workspace import metric_closure

Z = 1.959963984540054  # the 97.5th percentile of the normal distribution: 95% intervals
STRONG, WEAK = 0.75, 0.25
MATERIAL = 0.01  # a gap worth less than 1% of the rep's result is not a lever
COACH_COLUMNS = (
    "rep",
    "period",
    "item",
    "label",
    "level",
    "value",
    "team_median",
    "percentile",
    "top_quartile",
    "low",
    "high",
    "sample",
    "reliable",
    "assessment",
    "impact_deals",
    "impact_result",
)
RANKING_COLUMNS = (
    "rank",
    "rep",
    "period",
    "result",
    "result_percentile",
    "strengths",
    "weaknesses",
    "lever",
    "lever_label",
    "lever_value",
    "lever_median",
    "impact_deals",
    "impact_result",
)


def wilson(successes: pl.Expr, n: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The Wilson score 95% interval of successes out of n (empty for n = 0)."""
    p = successes / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z * ((p * (1 - p) / n + Z**2 / (4 * n**2)).sqrt()) / (1 + Z**2 / n)
    valid = n > 0
    return pl.when(valid).then(centre - half), pl.when(valid).then(centre + half)


@dataclass
class Scorecard:
    """Every rep x item with the team comparison; the coaching view filters one rep."""

    frame: pl.DataFrame  # COACH_COLUMNS, every rep
    period: Period
    result: Metric
    funnel: Funnel
    rep_label: str
    min_sample: int
    warnings: list[str] = field(default_factory=list)

    def reps(self) -> list[str]:
        return sorted(set(self.frame["rep"].to_list()))

    def of(self, rep: str) -> pl.DataFrame:
        if rep not in self.reps():
            raise SalescodeError(
                f"no rep '{rep}' with data in {self.period.label}{did_you_mean(rep, self.reps())}"
            )
        return self.frame.filter(pl.col("rep") == rep)


def default_result(catalog: Catalog) -> str:
    """The first result metric that is a sum (e.g. won revenue), else the first count."""
    results = [
        m
        for m in catalog.metrics.values()
        if m.level.value == "result" and m.kind is MetricKind.SIMPLE and m.agg in (Agg.SUM, Agg.COUNT)
    ]
    results.sort(key=lambda m: m.agg is not Agg.SUM)
    if not results:
        raise SalescodeError(
            f"{catalog.path} has no result metric that is a sum or a count; name one with --result"
        )
    return results[0].name


def build_scorecard(
    catalog: Catalog, period: Period | None, result: str | None, *, today: date, min_sample: int | None = None
) -> Scorecard:
    """Every rep's metrics and funnel steps in one engine run, compared with the team."""
    planning = catalog.planning
    rep = planning.rep
    if rep not in catalog.dimensions:
        raise SalescodeError(
            f"coach needs a rep dimension: {catalog.path} has no dimension '{rep}' (planning.rep)"
        )
    metric = target_metric(catalog, result or default_result(catalog), "--result")
    funnel = choose_funnel(catalog, planning.funnel)
    every = [catalog.metrics[name] for name in metric_closure(catalog, catalog.metrics)]
    workspace = planning_workspace(catalog, every, funnel)
    plan = plan_metrics(catalog, ReportRequest(by=(rep,)), workspace)
    require_funnel_dimensions(workspace, funnel, (rep,))
    if metric.name not in {m.name for m in plan.needed}:
        raise SalescodeError(f"--result {metric.name}: its source has no '{rep}' column")
    span = period or latest_period(workspace, plan.needed, Grain.QUARTER, today)
    extra = {"reach": reach_query(workspace, funnel, span, (rep,))}
    wide, frames = run_windows(plan, {"cur": span}, ["cur"], extra)
    shown = [m for m in plan.chosen if m.kind is not MetricKind.CONVERSION]
    long = _long(wide, frames["reach"], shown, funnel, rep)
    minimum = min_sample or planning.min_sample
    frame = _compare(long, minimum)
    # Activities are what a rep manages directly; objectives such as pipeline follow from them.
    levers = [m for m in plan_drivers(catalog, metric) if m.level is Level.ACTIVITY]
    frame = _impact(frame, wide, frames["reach"], metric, funnel, levers, rep, minimum)
    frame = frame.with_columns(pl.lit(span.label).alias("period")).select(COACH_COLUMNS)
    label = catalog.dimensions[rep].label
    return Scorecard(frame, span, metric, funnel, label, minimum, plan.warnings)


def step_name(funnel: Funnel, k: int) -> str:
    return f"{funnel.stages[k - 1].name}->{funnel.stages[k].name}"


def _long(
    wide: pl.DataFrame, reach: pl.DataFrame, metrics: list[Metric], funnel: Funnel, rep: str
) -> pl.DataFrame:
    """One row per rep x item: value, direction (1 higher is better, -1 lower, 0 none), and for
    rates of counts their successes and observations."""
    wide = wide.filter(pl.col(rep).is_not_null()).with_columns(pl.col(rep).cast(pl.String))
    counts = {m.name for m in metrics if m.kind is MetricKind.SIMPLE and m.agg is Agg.COUNT}
    parts = []
    for order, m in enumerate(metrics):
        rate = m.kind is MetricKind.RATIO and m.numerator in counts and m.denominator in counts
        sign = {Direction.HIGHER: 1, Direction.LOWER: -1}.get(m.direction, 0) if m.direction else 0
        parts.append(
            wide.select(
                pl.col(rep).alias("rep"),
                pl.lit(m.name).alias("item"),
                pl.lit(m.label).alias("label"),
                pl.lit(m.level.value).alias("level"),
                pl.lit(order).alias("__order"),
                pl.lit(sign).alias("__sign"),
                pl.col(f"{m.name}\x1fcur").alias("value"),
                (pl.col(f"{m.numerator}\x1fcur") if rate else pl.lit(None, pl.Float64)).alias("__successes"),
                (pl.col(f"{m.denominator}\x1fcur") if rate else pl.lit(None, pl.Float64)).alias("sample"),
            )
        )
    reach = reach.filter(pl.col(rep).is_not_null()).with_columns(pl.col(rep).cast(pl.String))
    for k in range(1, len(funnel.stages)):
        before, after = (
            pl.col(f"reached\x1f{k - 1}").cast(pl.Float64),
            pl.col(f"reached\x1f{k}").cast(pl.Float64),
        )
        parts.append(
            reach.select(
                pl.col(rep).alias("rep"),
                pl.lit(step_name(funnel, k)).alias("item"),
                pl.lit(f"{funnel.stages[k - 1].name} → {funnel.stages[k].name}").alias("label"),
                pl.lit("funnel").alias("level"),
                pl.lit(len(metrics) + k).alias("__order"),
                pl.lit(1).alias("__sign"),
                pl.when(before != 0).then(after / before).alias("value"),
                after.alias("__successes"),
                before.alias("sample"),
            )
        )
    return pl.concat(parts, how="vertical_relaxed")


def _compare(long: pl.DataFrame, minimum: int) -> pl.DataFrame:
    """Team median, percentile, Wilson interval, reliability, strength/weakness per rep x item."""
    low, high = wilson(pl.col("__successes"), pl.col("sample"))
    frame = long.with_columns(
        low.alias("low"),
        high.alias("high"),
        (pl.col("sample").is_null() | (pl.col("sample") >= minimum)).alias("reliable"),
    )
    ranked = pl.col("value").is_not_null() & pl.col("reliable")
    score = pl.when(ranked).then(pl.col("value") * pl.when(pl.col("__sign") == -1).then(-1).otherwise(1))
    n = ranked.sum().over("item")
    frame = frame.with_columns(
        pl.when(ranked).then(pl.col("value")).median().over("item").alias("team_median"),
        pl.when(ranked & (n > 1))
        .then((score.rank("average").over("item") - 1) / (n - 1))
        .alias("percentile"),
    )
    return frame.with_columns(
        pl.when(pl.col("__sign") == 0)
        .then(pl.lit(""))
        .when(pl.col("percentile") >= STRONG)
        .then(pl.lit("strength"))
        .when(pl.col("percentile") <= WEAK)
        .then(pl.lit("weakness"))
        .otherwise(pl.lit(""))
        .alias("assessment")
    )


def _impact(
    frame: pl.DataFrame,
    wide: pl.DataFrame,
    reach: pl.DataFrame,
    result: Metric,
    funnel: Funnel,
    drivers: list[Metric],
    rep: str,
    minimum: int,
) -> pl.DataFrame:
    """Won deals and result gained if the rep's step or activity matched the team median, and the
    top quartile's median of each item."""
    last = len(funnel.stages) - 1
    per_rep = (
        wide.filter(pl.col(rep).is_not_null())
        .select(pl.col(rep).cast(pl.String).alias("rep"), pl.col(f"{result.name}\x1fcur").alias("__result"))
        .join(
            reach.filter(pl.col(rep).is_not_null()).select(
                pl.col(rep).cast(pl.String).alias("rep"),
                *(pl.col(f"reached\x1f{k}").cast(pl.Float64).alias(f"__r{k}") for k in range(last + 1)),
            ),
            on="rep",
            how="full",
            coalesce=True,
        )
        .fill_null(0.0)
    )
    team = per_rep.select(pl.exclude("rep").sum()).row(0, named=True)
    team_deal = team["__result"] / team[f"__r{last}"] if team[f"__r{last}"] else None
    frame = frame.join(per_rep, on="rep", how="left")
    won = pl.col(f"__r{last}")
    deal_value = pl.when(won > 0).then(pl.col("__result") / won).otherwise(pl.lit(team_deal, pl.Float64))
    gap = pl.col("team_median") - pl.col("value")
    deals = pl.lit(None, pl.Float64)
    for k in range(1, last + 1):
        reached_k = pl.col(f"__r{k}")
        team_onward = team[f"__r{last}"] / team[f"__r{k}"] if team[f"__r{k}"] else None
        onward = pl.when(reached_k > 0).then(won / reached_k).otherwise(pl.lit(team_onward, pl.Float64))
        deals = (
            pl.when(pl.col("item") == step_name(funnel, k))
            .then(pl.col(f"__r{k - 1}") * gap * onward)
            .otherwise(deals)
        )
    steps = pl.col("level") == "funnel"
    lever = pl.col("reliable") & (gap > 0)
    result_impact = pl.when(steps).then(deals * deal_value)
    for driver in drivers:
        column = f"{driver.name}\x1fcur"
        if column not in wide.columns:
            continue
        team_total = wide[column].sum()
        team_ratio = team["__result"] / team_total if team_total else None
        # The rep's own result per unit only over enough units: 1 lead and $1M won is no rate.
        per_unit = (
            pl.when(pl.col("value") >= minimum)
            .then(pl.col("__result") / pl.col("value"))
            .otherwise(pl.lit(team_ratio, pl.Float64))
        )
        result_impact = pl.when(pl.col("item") == driver.name).then(gap * per_unit).otherwise(result_impact)
    lever = lever & (result_impact >= MATERIAL * pl.col("__result"))
    frame = frame.with_columns(
        pl.when(lever & steps).then(deals).alias("impact_deals"),
        pl.when(lever).then(result_impact).alias("impact_result"),
    )
    # The top quartile: reps whose result is at or above the 75th percentile of the team's.
    cut = per_rep["__result"].quantile(0.75, "linear")
    top = per_rep.filter(pl.col("__result") >= cut)["rep"].to_list() if cut is not None else []
    in_top = pl.col("rep").is_in(top) & pl.col("reliable") & pl.col("value").is_not_null()
    return frame.with_columns(
        pl.when(in_top).then(pl.col("value")).median().over("item").alias("top_quartile")
    )


def ranking(card: Scorecard) -> pl.DataFrame:
    """`coach --all`: reps by their result, each with strengths, weaknesses and biggest lever."""
    frame = card.frame
    result = frame.filter(pl.col("item") == card.result.name).select(
        "rep", pl.col("value").alias("result"), pl.col("percentile").alias("result_percentile")
    )
    counts = frame.group_by("rep").agg(
        (pl.col("assessment") == "strength").sum().alias("strengths"),
        (pl.col("assessment") == "weakness").sum().alias("weaknesses"),
    )
    levers = (
        frame.filter(pl.col("impact_result").is_not_null())
        .sort(["rep", "impact_result"], descending=[False, True])
        .group_by("rep", maintain_order=True)
        .first()
        .select(
            "rep",
            pl.col("item").alias("lever"),
            pl.col("label").alias("lever_label"),
            pl.col("value").alias("lever_value"),
            pl.col("team_median").alias("lever_median"),
            "impact_deals",
            "impact_result",
        )
    )
    table = result.join(counts, on="rep", how="left").join(levers, on="rep", how="left")
    table = table.sort(["result", "rep"], descending=[True, False], nulls_last=True)
    return table.with_columns(
        pl.int_range(1, pl.len() + 1).alias("rank"), pl.lit(card.period.label).alias("period")
    ).select(RANKING_COLUMNS)


def levers(card: Scorecard, rep: str, count: int = 3) -> pl.DataFrame:
    """The rep's biggest levers: the items whose gap to the team median is worth most."""
    return card.of(rep).filter(pl.col("impact_result") > 0).sort("impact_result", descending=True).head(count)
