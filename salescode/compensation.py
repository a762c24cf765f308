"""Payouts: what each rep earns in a period under the catalog's compensation plans.

The engine computes, in one collect, every metric the plans read per rep and group (role) for
each plan segment of the period; the money is then worked out in exact Decimals on those small
per-rep aggregates. Rules (README "Compensation plans"):

- A plan change (`effective_from`) inside the period splits it into segments; each segment is
  paid as a period of its own under the plan then in force: its credit, quota, tiers, cap and
  bonus thresholds.
- Tiers are marginal, like tax brackets: the credit between 100% and 150% of quota pays that
  tier's rate, the credit below it the lower rates. With `retroactive: true`, the rate of the
  tier reached pays on all credit. A tier's `from` is inclusive: exactly 100% is in the 100% tier.
- Without a quota (none, or 0) tiers cannot be placed: all credit pays the on-target rate (the
  tier just below 100%), with a warning.
- The monthly cap limits commission plus SPIFs (cap x months of the segment); bonuses and
  clawbacks are outside it.
- A clawback reverses, in the period in which the account churned, commission on won deals whose
  account churned within N days of the close, at a flat rate (the on-target rate unless given):
  the tier a deal was paid at depends on the whole period, not on the deal.
- Money is rounded to the cent once per statement line (half up); credit and quota are first
  rounded to the cent (CRM amounts are in cents, so this undoes float summation error only).
  A statement's total is the sum of its lines and the team total the sum of the statements, so
  every figure adds up exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal

import polars as pl

from salescode.catalog import Catalog, Compensation, CompPlan, Grain, Metric, did_you_mean
from salescode.commission import (
    Line,
    cents,
    clawback_name,
    overlap,
    segment_lines,
    spif_name,
    window_key,
)
from salescode.engine import ReportRequest, Windows, date_columns, latest_period, plan_metrics, run_windows
from salescode.errors import SalescodeError
from salescode.periods import Period
from salescode.targets import month_labels
from salescode.workspace import Workspace, metric_closure

PAYOUT_COLUMNS = (
    "period",
    "kind",
    "rep",
    "group",
    "plan",
    "start",
    "end",
    "component",
    "detail",
    "attainment",
    "basis",
    "rate",
    "amount",
)


@dataclass
class Payout:
    """The statements of a period, one per rep, and their reconciliation with the team total."""

    frame: pl.DataFrame
    period: Period
    group: str  # the column that chose each rep's plan (e.g. role)
    statements: dict[str, list[Line]]
    totals: dict[str, Decimal]
    team_total: Decimal | None  # None with --rep (one statement is not the team)
    warnings: list[str] = field(default_factory=list)
    partial: date | None = None  # the period is under way: figures run to this day


def plan_in_force(compensation: Compensation, group: str | None, day: date) -> CompPlan | None:
    """The plan for a group on a day: the latest effective_from on or before it."""
    candidates = [
        plan
        for plan in compensation.plans.values()
        if group in plan.groups and (plan.effective_from is None or plan.effective_from <= day)
    ]
    return max(candidates, key=lambda p: p.effective_from or date.min, default=None)


def plan_segments(compensation: Compensation, period: Period) -> list[Period]:
    """The period split at every plan change inside it."""
    assert period.start is not None and period.end is not None
    start, end = period.start, period.end
    cuts = sorted({p.effective_from for p in compensation.plans.values() if p.effective_from} - {None})
    bounds = [start, *(day for day in cuts if start < day < end), end]
    if len(bounds) == 2:
        return [period]
    return [Period(a, b, f"{a}..{b - timedelta(days=1)}") for a, b in zip(bounds, bounds[1:], strict=False)]


def _and(*conditions: str | None) -> str:
    return " AND ".join(f"({c})" for c in conditions if c)


def _plan_metrics(catalog: Catalog, compensation: Compensation) -> dict[str, Metric]:
    """The credit metric narrowed to each SPIF's rows, and to the deals each clawback reverses
    (by churn date, within N days of the close), as metrics the engine computes with the rest."""
    extra: dict[str, Metric] = {}
    for plan in compensation.plans.values():
        credit = catalog.metrics[plan.credit]
        for i, spif in enumerate(plan.spifs):
            extra[spif_name(plan, i)] = replace(
                credit, name=spif_name(plan, i), filter=_and(credit.filter, spif.filter) or None, target=None
            )
        if plan.clawback:
            close = catalog.metric_time(credit)
            if close is None:
                raise SalescodeError(
                    f"{catalog.path}: compensation.plans.{plan.name}.clawback: the credit metric "
                    f"'{credit.name}' has no time column (the close date a churn is measured from)"
                )
            churn, days = plan.clawback.churn_date, plan.clawback.within_days
            within = f"{churn} >= {close} AND {churn} <= {close} + INTERVAL '{days} days'"
            extra[clawback_name(plan)] = replace(
                credit, name=clawback_name(plan), filter=_and(credit.filter, within), time=churn, target=None
            )
    return extra


def compute_payout(catalog: Catalog, period: Period | None, *, today: date, rep: str | None = None) -> Payout:
    """Every rep's statement for the period (default: the latest month with data)."""
    compensation = catalog.compensation
    if compensation is None or not compensation.plans:
        raise SalescodeError(
            f"{catalog.path}: no compensation: section; add plans to pay (see README, Compensation plans)"
        )
    extra = _plan_metrics(catalog, compensation)
    full = replace(catalog, metrics={**catalog.metrics, **extra})
    plans = list(compensation.plans.values())
    names = [p.credit for p in plans] + [p.quota for p in plans if p.quota]
    names += [b.metric for p in plans for b in p.bonuses] + list(extra)
    by = (compensation.rep, compensation.group)
    request = ReportRequest(metrics=tuple(dict.fromkeys(names)), by=by)
    plan = plan_metrics(full, request, _open(full, request, compensation))
    if period is None:
        credits = [full.metrics[p.credit] for p in plans]
        period = latest_period(plan.workspace, credits, Grain.MONTH, today)
    labels = None if period.is_all else month_labels(period)
    if labels is None:
        raise SalescodeError(
            f"--period {period.label}: payouts are for whole months (a month, a quarter, a year or "
            "a range of months such as 2025-07..2025-09), as quotas are monthly"
        )
    assert period.start is not None and period.end is not None
    # A period holding today is paid to date (as `report` counts it), a later one as it stands.
    partial = today if period.start <= today < period.end - timedelta(days=1) else None
    segments = plan_segments(compensation, period)
    windows = _windows(compensation, segments, partial)
    wide, _ = run_windows(plan, windows, [window_key(s) for s in segments if window_key(s) in windows], {})
    warnings: list[str] = []
    statements = _statements(full, compensation, wide, segments, warnings)
    if rep is not None:
        if rep not in statements:
            raise SalescodeError(
                f"--rep '{rep}': no statement in {period.label}{did_you_mean(rep, statements)} "
                f"(reps paid: {', '.join(statements) or 'none'})"
            )
        statements = {rep: statements[rep]}
    totals = {name: sum((line.amount for line in lines), Decimal(0)) for name, lines in statements.items()}
    team_total = None if rep else sum(totals.values(), Decimal(0))
    frame = _frame(period, statements, totals, team_total)
    return Payout(frame, period, compensation.group, statements, totals, team_total, warnings, partial)


def _open(catalog: Catalog, request: ReportRequest, compensation: Compensation) -> Workspace:
    """The workspace over the plans' sources; each must carry the rep and group columns."""
    needed = [catalog.metrics[n] for n in metric_closure(catalog, request.metrics)]
    sources = [m.source for m in needed if m.source]
    workspace = Workspace.open(catalog, sources, date_columns(catalog, needed))
    for source in dict.fromkeys(sources):
        for column, key in ((compensation.rep, "rep"), (compensation.group, "group")):
            if column not in workspace.schemas[source]:
                users = sorted({m.name for m in needed if m.source == source and not m.name.startswith("__")})
                raise SalescodeError(
                    f"{catalog.path}: compensation.{key}: source '{source}' (of metric "
                    f"{', '.join(users)}) has no column '{column}'; "
                    "join the source that holds it (e.g. reps)"
                )
    return workspace


def _windows(compensation: Compensation, segments: list[Period], partial: date | None) -> Windows:
    """Each segment, and each SPIF's date window within it; cut to today when under way."""
    end = partial + timedelta(days=1) if partial else None
    windows: Windows = {}
    for segment in segments:
        counted = overlap(segment, None, end)
        if counted is None:
            continue
        windows[window_key(segment)] = counted
        for plan in compensation.plans.values():
            for spif in plan.spifs:
                span = overlap(counted, spif.start, spif.end)
                if span is not None:
                    windows[window_key(overlap(segment, spif.start, spif.end))] = span
    return windows


def _statements(
    catalog: Catalog,
    compensation: Compensation,
    wide: pl.DataFrame,
    segments: list[Period],
    warnings: list[str],
) -> dict[str, list[Line]]:
    """Each rep's lines, segment by segment, in rep order; what cannot be paid is warned about."""
    statements: dict[str, list[Line]] = {}
    unpaid: dict[str, list[str]] = {"no rep": [], "no plan": [], "no quota": []}
    rep_col, group_col = compensation.rep, compensation.group
    credits = dict.fromkeys(plan.credit for plan in compensation.plans.values())
    for row in wide.sort([rep_col, group_col], nulls_last=True).to_dicts():
        name, group = row[rep_col], row[group_col]
        for segment in segments:
            assert segment.start is not None
            key = window_key(segment)
            if name is None:  # rows without a rep: nobody to pay (their group, if any, has no say)
                credit = sum(row.get(f"{c}\x1f{key}") or 0 for c in credits)
                if credit:
                    unpaid["no rep"].append(f"{cents(credit)} in {segment.label}")
                continue
            plan = plan_in_force(compensation, group, segment.start)
            column = f"{plan.credit}\x1f{key}" if plan else None
            if plan is None or column not in row:  # no plan, or a segment after today
                if plan is None:
                    unpaid["no plan"].append(f"{name} ({group or 'no ' + group_col})")
                continue
            lines = segment_lines(plan, row, segment, str(name), str(group), unpaid["no quota"])
            quota = row[f"{plan.quota}\x1f{key}"] if plan.quota else None
            # A rep with neither credit nor quota nor anything to pay (say, an account of a rep who
            # left churning now, outside the clawback window) has no statement for the segment.
            if row[column] or quota or any(item.amount for item in lines):
                statements.setdefault(str(name), []).extend(lines)
    if unpaid["no rep"]:
        warnings.append(f"credit without a {rep_col} is not paid: {', '.join(unpaid['no rep'])}")
    if unpaid["no plan"]:
        listed = ", ".join(dict.fromkeys(unpaid["no plan"]))
        warnings.append(f"no compensation plan applies to {listed}: not paid")
    if unpaid["no quota"]:
        listed = ", ".join(dict.fromkeys(unpaid["no quota"]))
        warnings.append(f"no quota (or 0) for {listed}: all credit paid at the on-target rate, without tiers")
    return statements


def _frame(
    period: Period, statements: dict[str, list[Line]], totals: dict[str, Decimal], team_total: Decimal | None
) -> pl.DataFrame:
    """The tidy payout: each statement's lines then its total; the team total last."""

    def number(value: Decimal | None) -> float | None:
        # Floats print as the shortest text that reads back the same: 1234.5 for 1234.50 (exact).
        return None if value is None else float(value)

    rows = []
    for rep, lines in statements.items():
        for item in lines:
            rows.append(
                {
                    "kind": "line",
                    "rep": rep,
                    "group": item.group,
                    "plan": item.plan,
                    "start": item.start,
                    "end": item.end,
                    "component": item.component,
                    "detail": item.detail,
                    "attainment": number(item.attainment),
                    "basis": number(item.basis),
                    "rate": number(item.rate),
                    "amount": number(item.amount),
                }
            )
        group = lines[0].group if lines else None
        rows.append({"kind": "total", "rep": rep, "group": group, "amount": number(totals[rep])})
    if team_total is not None:
        rows.append({"kind": "team_total", "amount": number(team_total)})
    schema = {
        "period": pl.String,
        "kind": pl.String,
        "rep": pl.String,
        "group": pl.String,
        "plan": pl.String,
        "start": pl.Date,
        "end": pl.Date,
        "component": pl.String,
        "detail": pl.String,
        "attainment": pl.Float64,
        "basis": pl.Float64,
        "rate": pl.Float64,
        "amount": pl.Float64,
    }
    frame = pl.DataFrame([{**row, "period": period.label} for row in rows], schema=schema)
    return frame.select(PAYOUT_COLUMNS)
