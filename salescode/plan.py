"""`salescode plan`: from a result target back to the activity volumes that produce it.

The AOR model manages results through the activities that drive them. A plan walks back from a
result target through ratios observed in a basis period:

    target result --(result per won deal)--> won deals --(stage conversions)--> deals entering
    the funnel --(activity per deal entering the funnel)--> every additive activity and objective
    with a `drives` path to the target's results

Every link is a ratio of two basis totals, so required(y) = required(x) x basis(y) / basis(x): a
plan for the basis period's own result gives back its actual volumes. A link over fewer than
`planning.min_sample` observations, or a conversion of zero, is reported and what depends on it
is left empty, never guessed. The range of each requirement is the 10th-90th percentile of the
same chain computed with each rep's own ratios. (Not across months: a funnel counts the deals
active in a period, a stock, while a month's result is a flow, so a month's ratios would not chain.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from salescode.basis import TEAM, observe
from salescode.catalog import Agg, Catalog, Funnel, Grain, Level, Metric, MetricKind, did_you_mean
from salescode.chain import (
    RESULT,
    Assumption,
    Link,
    chain_links,
    check_assumptions,
    requirements,
    stage_column,
)
from salescode.errors import SalescodeError
from salescode.periods import Period, grain_period, working_days

PLAN_SCHEMA = {
    "period": pl.String,
    "basis": pl.String,
    "item": pl.String,
    "label": pl.String,
    "kind": pl.String,
    "required": pl.Float64,
    "low": pl.Float64,
    "high": pl.Float64,
    "per_rep": pl.Float64,
    "per_week": pl.Float64,
    "basis_value": pl.Float64,
    "run_rate": pl.Float64,
    "gap": pl.Float64,
    "link": pl.String,
    "observed": pl.Float64,
    "used": pl.Float64,
    "sample": pl.Float64,
    "status": pl.String,
}
PLAN_COLUMNS = tuple(PLAN_SCHEMA)
LOW, HIGH = 0.1, 0.9  # the range: 10th to 90th percentile across reps
MIN_UNITS = 3  # fewer reps with a value than this give no range


def parse_target(text: str) -> tuple[str, float]:
    """`won_revenue=1500000` -> ('won_revenue', 1500000.0)."""
    match = re.fullmatch(r"\s*([a-z][a-z0-9_]*)\s*=\s*(\d+(?:\.\d+)?)\s*", text)
    if not match:
        raise SalescodeError(f"--target '{text}': write METRIC=VALUE, e.g. --target won_revenue=1500000")
    return match[1], float(match[2])


@dataclass(frozen=True)
class PlanRequest:
    metric: str
    target: float
    period: Period | None = None  # None: the quarter after the basis
    basis: str | None = None  # a period, or last-N-months/quarters/years; None: last-4-quarters
    assumptions: tuple[Assumption, ...] = ()
    min_sample: int | None = None  # None: planning.min_sample
    by_rep: bool = False  # one plan per rep, for the rep's share of the target


@dataclass
class PlanResult:
    frame: pl.DataFrame
    period: Period
    basis: Period
    metric: Metric
    funnel: Funnel
    headcount: int | None
    warnings: list[str] = field(default_factory=list)
    by: str | None = None  # the rep column, for a plan per rep


def plan_drivers(catalog: Catalog, target: Metric) -> list[Metric]:
    """Additive, time-filtered activities and objectives with a `drives` path to a result of the
    target's category (or to a ratio/derived metric on such a path, through its inputs)."""
    linked = {
        m.name for m in catalog.metrics.values() if m.level is Level.RESULT and m.category == target.category
    }
    changed = True
    while changed:
        changed = False
        for metric in catalog.metrics.values():
            if metric.name not in linked and any(name in linked for name in metric.drives):
                linked.add(metric.name)
                changed = True
            if metric.name in linked and metric.level is not Level.RESULT:
                for name in set(metric.inputs) - linked:
                    linked.add(name)
                    changed = True
    return [
        m
        for m in catalog.metrics.values()
        if m.name in linked
        and m.level is not Level.RESULT
        and m.kind is MetricKind.SIMPLE
        and m.agg in (Agg.COUNT, Agg.SUM)
        and catalog.metric_time(m) is not None
    ]


def target_metric(catalog: Catalog, name: str, option: str = "--target") -> Metric:
    """The metric a target is set on: additive (count or sum) and time-filtered, so that it
    scales with the period and splits over reps."""
    if name not in catalog.metrics:
        raise SalescodeError(
            f"{option} {name}: no such metric in {catalog.path}{did_you_mean(name, catalog.metrics)}"
        )
    metric = catalog.metrics[name]
    if metric.kind is not MetricKind.SIMPLE or metric.agg not in (Agg.COUNT, Agg.SUM):
        raise SalescodeError(
            f"{option} {name}: a plan starts from a count or a sum (e.g. won_revenue), not a "
            f"{metric.agg.value if metric.agg else metric.kind.value}"
        )
    if catalog.metric_time(metric) is None:
        raise SalescodeError(f"{option} {name}: the metric has no time column, so it has no run-rate")
    return metric


def plan_period(catalog: Catalog, request: PlanRequest, basis: Period) -> Period:
    """--period, by default the quarter after the basis."""
    assert basis.end is not None
    period = request.period or grain_period(basis.end, Grain.QUARTER, catalog.week_start)
    if period.is_all:
        raise SalescodeError("--period all is not a plan period; give one, e.g. 2026-Q1")
    return period


def build_plan(catalog: Catalog, request: PlanRequest, *, today: date) -> PlanResult:
    """The plan: one row per chain item (result, funnel stages, drivers), then capacity rows."""
    from salescode.capacity import capacity_rows, on_team
    from salescode.funnel import choose_funnel

    metric = target_metric(catalog, request.metric)
    funnel = choose_funnel(catalog, catalog.planning.funnel)
    drivers = [m for m in plan_drivers(catalog, metric) if m.name != metric.name]
    check_assumptions(chain_links(funnel, drivers), request.assumptions)
    observed = observe(catalog, metric, funnel, drivers, request.basis, request.period, today)
    links = chain_links(funnel, observed.drivers)
    assumptions = check_assumptions(links, request.assumptions)
    basis = observed.basis
    period = plan_period(catalog, request, basis)
    minimum = request.min_sample or catalog.planning.min_sample
    frame = requirements(observed.units, links, request.target, assumptions, minimum)
    team = on_team(observed.headcount, period) if observed.headcount is not None else None
    headcount = len(team) if team is not None else None
    rows = Rows(links, metric, funnel, observed.drivers, period, basis)
    units = frame.filter(pl.col("__unit") != TEAM)
    if not request.by_rep:
        plan_rows = rows.of(frame.filter(pl.col("__unit") == TEAM).row(0, named=True), units, headcount)
        plan_rows += capacity_rows(
            observed, metric, period, request.target, catalog.planning.ramp_months, minimum
        )
        plan_frame = pl.DataFrame(plan_rows, schema=PLAN_SCHEMA, orient="row")
        by = None
    else:
        by = catalog.planning.rep
        plan_frame = _per_rep(rows, units, team, by, metric)
    plan_frame = plan_frame.with_columns(
        pl.lit(period.label).alias("period"), pl.lit(basis.label).alias("basis")
    )
    columns = [*PLAN_COLUMNS[:2], *([by] if by else []), *PLAN_COLUMNS[2:]]
    return PlanResult(
        plan_frame.select(columns), period, basis, metric, funnel, headcount, observed.warnings, by
    )


def _per_rep(
    rows: Rows, units: pl.DataFrame, team: list[str] | None, by: str, metric: Metric
) -> pl.DataFrame:
    """A plan per rep (on the team when the headcount is known) for the rep's share of the target:
    their share of the basis result, with their own ratios (loops over reps, a small aggregate)."""
    if units.is_empty():
        raise SalescodeError(f"--by {by}: the catalog has no '{by}' dimension to plan per rep (planning.rep)")
    if team is not None:
        units = units.filter(pl.col("__unit").is_in(team))
    total = units[RESULT].sum()
    if not total:
        raise SalescodeError(
            f"--by {by}: the reps' {metric.label.lower()} in the basis adds up to 0, so it cannot split "
            "the target"
        )
    frames = []
    for unit in units.sort("__unit").iter_rows(named=True):  # one row per rep
        part = pl.DataFrame(rows.of(unit, None, None, unit[RESULT] / total), schema=PLAN_SCHEMA, orient="row")
        frames.append(part.with_columns(pl.lit(unit["__unit"]).alias(by)))
    return pl.concat(frames)


@dataclass
class Rows:
    """Turns one unit's chain (the team's or a rep's) into plan rows."""

    links: list[Link]
    metric: Metric
    funnel: Funnel
    drivers: list[Metric]
    period: Period
    basis: Period

    def of(
        self, unit: dict, others: pl.DataFrame | None, headcount: int | None, share: float = 1.0
    ) -> list[list[object]]:
        """One row per item for the unit's share of the target; the range across `others`."""
        links = self.links
        weeks = working_days(self.period) / 5
        scale = working_days(self.period) / working_days(self.basis)
        stages = [stage.name for stage in self.funnel.stages]
        labels = {RESULT: (self.metric.name, self.metric.label, self.metric.level.value)}
        labels |= {
            stage_column(i): (name, f"Deals reaching {name}", "funnel") for i, name in enumerate(stages)
        }
        labels |= {m.name: (m.name, m.label, m.level.value) for m in self.drivers}
        yielding = {link.item: link for link in links}
        rows = []
        for column in [RESULT, *(link.item for link in links)]:
            item, label, kind = labels[column]
            # The chain is linear in the target: a share of it needs that share of every volume.
            required = unit[f"req\x1f{column}"]
            required = required * share if required is not None else None
            link = yielding.get(column)
            values = others[f"req\x1f{column}"].drop_nulls() if others is not None else pl.Series([])
            spread = link is not None and values.len() >= MIN_UNITS
            basis_value = unit[column]
            run_rate = basis_value * scale
            status = unit[f"status\x1f{link.name}"] if link else None
            if link and status in ("ok", "assumed") and required is None:
                status = f"needs {_failed_upstream(unit, links, link)}"
            rows.append(
                [
                    None,
                    None,
                    item,
                    label,
                    kind,
                    required,
                    values.quantile(LOW, "linear") if spread else None,
                    values.quantile(HIGH, "linear") if spread else None,
                    required / headcount if required is not None and headcount else None,
                    required / weeks if required is not None and weeks else None,
                    basis_value,
                    run_rate,
                    required - run_rate if required is not None else None,
                    link.name if link else None,
                    unit[f"observed\x1f{link.name}"] if link else None,
                    unit[f"used\x1f{link.name}"] if link else None,
                    unit[f"sample\x1f{link.name}"] if link else None,
                    status,
                ]
            )
        return rows


def _failed_upstream(team: dict, links: list[Link], link: Link) -> str:
    """The first link between the result and this one that could not be used."""
    by_item = {item.item: item for item in links}
    current = by_item.get(link.of)
    while current is not None:
        if team[f"status\x1f{current.name}"] not in ("ok", "assumed"):
            return current.name
        current = by_item.get(current.of)
    return "an earlier link"
