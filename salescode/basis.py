"""What a plan observes: the basis period and, per rep, the totals its chain is made of.

One engine run by rep (one collect_all) over the basis and its months gives the target metric and
the drivers (engine.run_windows), the funnel reach (funnel.reach_query) and the headcount. The
team's totals are the sums over reps: every quantity is a count or a sum.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from salescode.catalog import Catalog, Funnel, Grain, Metric, did_you_mean
from salescode.chain import RESULT, stage_column
from salescode.engine import ReportRequest, date_columns, latest_period, plan_metrics, run_windows
from salescode.errors import CatalogError, SalescodeError
from salescode.funnel import funnel_date_columns, open_funnel, reach_query, require_funnel_dimensions
from salescode.periods import Period, grain_period, months_of, parse_period, previous_period, range_period
from salescode.workspace import Workspace

TEAM = "\x1fteam"  # the team's unit, apart from any rep's name


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
    """What a plan reads from the data: the team's and each rep's totals of every chain item."""

    units: pl.DataFrame  # `__unit` (TEAM or a rep) and one column per chain item
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
    catalog: Catalog,
    metric: Metric,
    funnel: Funnel,
    drivers: list[Metric],
    basis_text: str | None,
    period: Period | None,
    today: date,
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
    basis = basis_period(workspace, metric, basis_text, period, today)
    months = months_of(basis)
    windows: dict[str, Period | None] = {"basis": basis}
    # run_windows collects any extra lazy queries with its own, in the same collect_all.
    extra = {"reach": reach_query(workspace, funnel, basis, by)}
    if headcount and rep:  # capacity: the result per rep and month, and who was on the team when
        windows |= {f"m{i}": m for i, m in enumerate(months)}
        hired, left = headcount.hired, headcount.left
        extra["headcount"] = workspace.frame(
            headcount.source, [rep, hired, *([left] if left else [])]
        ).select(
            pl.col(rep),
            pl.col(hired).alias("hired"),
            (pl.col(left) if left else pl.lit(None, pl.Date)).alias("left"),
        )
    wide, frames = run_windows(plan, windows, ["basis"], extra)
    stages = len(funnel.stages)
    units = _units(wide, frames, metric, drivers, by, stages)
    rep_months = None
    if headcount and rep:
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


def basis_period(
    workspace: Workspace, metric: Metric, text: str | None, period: Period | None, today: date
) -> Period:
    """--basis resolved: last-N-... ends with the latest date with data (before --period)."""
    catalog = workspace.catalog
    latest = latest_period(workspace, [metric], Grain.DAY, today).start
    assert latest is not None
    if period is not None and period.start is not None:
        latest = min(latest, period.start - timedelta(days=1))
    basis = resolve_basis(text, latest, catalog.week_start)
    if basis is None:
        basis = parse_period(
            str(text),
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
    """Team and per-rep chain quantities in the basis: the team is the sum over reps (every
    quantity is a count or a sum, so it adds up over reps)."""
    reach = frames["reach"].select(
        *by, *(pl.col(f"reached\x1f{i}").cast(pl.Float64).alias(stage_column(i)) for i in range(stages))
    )
    values = wide.select(
        *by,
        pl.col(f"{metric.name}\x1fbasis").alias(RESULT),
        *(pl.col(f"{m.name}\x1fbasis").alias(m.name) for m in drivers),
    )
    if by:
        basis = values.join(reach, on=list(by), how="full", coalesce=True, nulls_equal=True).fill_null(0.0)
    else:
        basis = pl.concat([values, reach], how="horizontal")
    numbers = [c for c in basis.columns if c not in by]
    team = basis.select(pl.lit(TEAM).alias("__unit"), *(pl.col(c).sum() for c in numbers))
    if not by:  # no rep dimension: no range
        return team
    reps = basis.select(pl.col(by[0]).cast(pl.String).fill_null("(none)").alias("__unit"), *numbers)
    return pl.concat([team, reps], how="vertical_relaxed")
