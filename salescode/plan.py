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
from datetime import date, timedelta

import polars as pl

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
from salescode.engine import ReportRequest, date_columns, latest_period, plan_metrics, run_windows
from salescode.errors import CatalogError, SalescodeError
from salescode.funnel import (
    funnel_date_columns,
    open_funnel,
    reach_query,
    require_funnel_dimensions,
)
from salescode.periods import Period, grain_period, months_of, previous_period, range_period, working_days
from salescode.workspace import Workspace

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


@dataclass
class PlanResult:
    frame: pl.DataFrame
    period: Period
    basis: Period
    metric: Metric
    funnel: Funnel
    headcount: int | None
    warnings: list[str] = field(default_factory=list)


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


def resolve_basis(text: str | None, latest: date, week_start: str) -> Period | None:
    """last-N-months/quarters/years: N whole periods ending with the one holding `latest`;
    None for any other text (a plain period)."""
    match = re.fullmatch(r"last-(\d+)-(month|quarter|year)s?", (text or "last-4-quarters").strip().lower())
    if not match:
        return None
    count, grain = int(match[1]), Grain(match[2])
    if count < 1:
        raise SalescodeError(f"--basis '{text}': the number of periods must be 1 or more")
    last = grain_period(latest, grain, week_start)
    first = last
    for _ in range(count - 1):
        first = previous_period(first, week_start) or first
    assert first.start is not None and last.end is not None
    return range_period(first.start, last.end)


@dataclass
class Observed:
    """What a plan reads from the data: one row per rep (and per month), columns per chain item."""

    units: pl.DataFrame  # `__unit` (team, rep or month) and one column per chain item
    drivers: list[Metric]  # the drivers whose sources could be read by rep
    rep_months: pl.DataFrame | None  # per rep and basis month: the result, for capacity
    headcount: pl.DataFrame | None  # rep, hired, left
    workspace: Workspace
    basis: Period
    months: list[Period]
    warnings: list[str]


def planning_workspace(
    catalog: Catalog, metrics: list[Metric], funnel: Funnel | None, extra: tuple[str, ...] = ()
) -> Workspace:
    """The sources of the metrics, the funnel, the headcount (and extra), scanned once and checked."""
    headcount = catalog.planning.headcount
    sources = [m.source for m in metrics if m.source] + list(extra)
    columns = date_columns(catalog, metrics)
    if funnel is not None:
        sources += [funnel.source] + ([funnel.history.source] if funnel.history else [])
        for source, names in funnel_date_columns(catalog, funnel).items():
            columns.setdefault(source, set()).update(names)
    if headcount:
        sources.append(headcount.source)
        columns.setdefault(headcount.source, set()).update(c for c in (headcount.hired, headcount.left) if c)
    workspace = Workspace.open(catalog, sources, columns)
    if funnel is not None:
        open_funnel(catalog, funnel, workspace)
    if headcount:
        available = workspace.columns(headcount.source)
        wanted = {"source": catalog.planning.rep, "hired": headcount.hired, "left": headcount.left}
        for key, column in wanted.items():
            if column and column not in available:
                raise CatalogError(
                    catalog.path,
                    [
                        f"planning.headcount.{key}: source '{headcount.source}' has no column '{column}'"
                        f"{did_you_mean(column, available)}"
                    ],
                )
            if key != "source" and column and not workspace.is_date(headcount.source, column):
                raise CatalogError(
                    catalog.path,
                    [f"planning.headcount.{key}: column '{column}' is not a date column"],
                )
    return workspace


def observe(
    catalog: Catalog, metric: Metric, funnel: Funnel, drivers: list[Metric], request: PlanRequest, today: date
) -> Observed:
    """One engine run (one collect) over the basis and its months, by rep when reps are known."""
    planning = catalog.planning
    rep = planning.rep if planning.rep in catalog.dimensions else None
    headcount = planning.headcount
    workspace = planning_workspace(catalog, [metric, *drivers], funnel)
    by = (rep,) if rep else ()
    if rep:
        require_funnel_dimensions(workspace, funnel, by)
        if rep not in workspace.schemas[metric.source or ""]:
            raise SalescodeError(f"--target {metric.name}: source '{metric.source}' has no column '{rep}'")
    warnings = []
    lacking = [m.name for m in drivers if rep and rep not in workspace.schemas[m.source or ""]]
    if lacking:
        warnings.append(f"left out of the plan (their sources have no '{rep}' column): {', '.join(lacking)}")
        drivers = [m for m in drivers if m.name not in lacking]
    plan = plan_metrics(
        catalog, ReportRequest(metrics=(metric.name, *(m.name for m in drivers)), by=by), workspace
    )
    basis = basis_period(workspace, metric, request, today)
    months = months_of(basis)
    windows: dict[str, Period | None] = {"basis": basis} | {f"m{i}": m for i, m in enumerate(months)}
    # run_windows collects any extra lazy queries with its own, in the same collect_all.
    extra = {"reach\x1fbasis": reach_query(workspace, funnel, basis, by)}
    if headcount and rep:
        left = pl.col(headcount.left) if headcount.left else pl.lit(None, pl.Date)
        extra["headcount"] = workspace.frames[headcount.source].select(
            pl.col(rep), pl.col(headcount.hired).alias("hired"), left.alias("left")
        )
    wide, frames = run_windows(plan, windows, ["basis"], extra)
    stages = len(funnel.stages)
    units = _units(wide, frames, metric, drivers, by, stages)
    rep_months = None
    if rep:
        rep_months = wide.select(
            pl.col(rep), *(pl.col(f"{metric.name}\x1fm{i}").alias(str(i)) for i in range(len(months)))
        )
    return Observed(
        units,
        drivers,
        rep_months,
        frames.get("headcount"),
        workspace,
        basis,
        months,
        warnings + plan.warnings,
    )


def basis_period(workspace: Workspace, metric: Metric, request: PlanRequest, today: date) -> Period:
    """--basis resolved: last-N-... ends with the latest date with data (before --period)."""
    catalog = workspace.catalog
    latest = latest_period(workspace, [metric], Grain.DAY, today).start
    assert latest is not None
    if request.period is not None and request.period.start is not None:
        latest = min(latest, request.period.start - timedelta(days=1))
    basis = resolve_basis(request.basis, latest, catalog.week_start)
    if basis is None:
        from salescode.periods import parse_period

        basis = parse_period(
            str(request.basis),
            today=today,
            week_start=catalog.week_start,
            fiscal_year_start=catalog.fiscal_year_start,
        )
    if basis.is_all:
        raise SalescodeError("--basis all has no length to scale run-rates by; give a period, e.g. 2025")
    return basis


def _units(
    wide: pl.DataFrame,
    frames: dict[str, pl.DataFrame],
    metric: Metric,
    drivers: list[Metric],
    by: tuple[str, ...],
    stages: int,
) -> pl.DataFrame:
    """Team and per-rep chain quantities: the team is the sum over reps (every quantity is a count
    or a sum, so it adds up over reps)."""

    def quantities(window: str) -> pl.DataFrame:
        reach = frames[f"reach\x1f{window}"].select(
            *by, *(pl.col(f"reached\x1f{i}").cast(pl.Float64).alias(stage_column(i)) for i in range(stages))
        )
        values = wide.select(
            *by,
            pl.col(f"{metric.name}\x1f{window}").alias(RESULT),
            *(pl.col(f"{m.name}\x1f{window}").alias(m.name) for m in drivers),
        )
        if not by:
            return pl.concat([values, reach], how="horizontal")
        return values.join(reach, on=list(by), how="full", coalesce=True, nulls_equal=True).fill_null(0.0)

    basis = quantities("basis")
    numbers = [c for c in basis.columns if c not in by]
    team = basis.select(pl.lit("team").alias("__unit"), *(pl.col(c).sum() for c in numbers))
    if not by:  # no rep dimension: no range
        return team
    reps = basis.select(pl.col(by[0]).cast(pl.String).fill_null("(none)").alias("__unit"), *numbers)
    return pl.concat([team, reps], how="vertical_relaxed")


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
    from salescode.capacity import capacity_rows, current_headcount
    from salescode.funnel import choose_funnel

    metric = target_metric(catalog, request.metric)
    funnel = choose_funnel(catalog, catalog.planning.funnel)
    drivers = [m for m in plan_drivers(catalog, metric) if m.name != metric.name]
    check_assumptions(chain_links(funnel, drivers, metric), request.assumptions)
    observed = observe(catalog, metric, funnel, drivers, request, today)
    links = chain_links(funnel, observed.drivers, metric)
    assumptions = check_assumptions(links, request.assumptions)
    basis = observed.basis
    period = plan_period(catalog, request, basis)
    minimum = request.min_sample or catalog.planning.min_sample
    frame = requirements(observed.units, links, request.target, assumptions, minimum)
    headcount = current_headcount(observed.headcount, period) if observed.headcount is not None else None
    rows = _rows(frame, links, metric, funnel, observed.drivers, period, basis, headcount)
    rows += capacity_rows(observed, metric, period, request.target, catalog.planning.ramp_months, minimum)
    plan_frame = pl.DataFrame(rows, schema=PLAN_SCHEMA, orient="row").with_columns(
        pl.lit(period.label).alias("period"), pl.lit(basis.label).alias("basis")
    )
    return PlanResult(
        plan_frame.select(PLAN_COLUMNS), period, basis, metric, funnel, headcount, observed.warnings
    )


def _rows(
    frame: pl.DataFrame,
    links: list[Link],
    metric: Metric,
    funnel: Funnel,
    drivers: list[Metric],
    period: Period,
    basis: Period,
    headcount: int | None,
) -> list[list[object]]:
    """One row per item, team figures with the range across the other units (loops over items)."""
    team = frame.filter(pl.col("__unit") == "team").row(0, named=True)
    others = frame.filter(pl.col("__unit") != "team")
    weeks = working_days(period) / 5
    scale = working_days(period) / working_days(basis)
    stages = [stage.name for stage in funnel.stages]
    labels = {RESULT: (metric.name, metric.label, metric.level.value)}
    labels |= {stage_column(i): (name, f"Deals reaching {name}", "funnel") for i, name in enumerate(stages)}
    labels |= {m.name: (m.name, m.label, m.level.value) for m in drivers}
    yielding = {link.item: link for link in links}
    rows = []
    for column in [RESULT, *(link.item for link in links)]:
        item, label, kind = labels[column]
        required = team[f"req\x1f{column}"]
        link = yielding.get(column)
        values = others[f"req\x1f{column}"].drop_nulls()
        spread = link is not None and values.len() >= MIN_UNITS
        low = values.quantile(LOW, "linear") if spread else None
        high = values.quantile(HIGH, "linear") if spread else None
        basis_value = team[column]
        run_rate = basis_value * scale
        status = team[f"status\x1f{link.name}"] if link else None
        if link and status in ("ok", "assumed") and required is None:
            status = f"needs {_failed_upstream(team, links, link)}"
        rows.append(
            [
                None,
                None,
                item,
                label,
                kind,
                required,
                low,
                high,
                required / headcount if required is not None and headcount else None,
                required / weeks if required is not None and weeks else None,
                basis_value,
                run_rate,
                required - run_rate if required is not None else None,
                link.name if link else None,
                team[f"observed\x1f{link.name}"] if link else None,
                team[f"used\x1f{link.name}"] if link else None,
                team[f"sample\x1f{link.name}"] if link else None,
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
