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

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from salescode.catalog import Catalog, Compensation, CompPlan, Grain, Metric, did_you_mean
from salescode.engine import ReportRequest, Windows, date_columns, latest_period, plan_metrics, run_windows
from salescode.errors import SalescodeError
from salescode.periods import Period
from salescode.targets import month_labels
from salescode.workspace import Workspace, metric_closure

CENT = Decimal("0.01")
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
KINDS = ("line", "total", "team_total")


@dataclass(frozen=True)
class Line:
    """One statement line: a component with its basis, rate and amount."""

    rep: str
    group: str
    plan: str
    start: date
    end: date  # last day, inclusive
    component: str  # commission | spif | cap | bonus | clawback
    detail: str
    amount: Decimal
    basis: Decimal | None = None
    rate: Decimal | None = None
    attainment: Decimal | None = None


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


def cents(value: float | Decimal | None) -> Decimal:
    """Money to the cent, half up (None is nothing: 0)."""
    if value is None:
        return Decimal(0).quantize(CENT)
    return Decimal(repr(value) if isinstance(value, float) else value).quantize(CENT, ROUND_HALF_UP)


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


def _key(period: Period | None) -> str | None:
    return None if period is None else f"{period.start}..{period.end}"


def _overlap(segment: Period, start: date | None, end: date | None) -> Period | None:
    lo = max(segment.start, start) if start else segment.start
    hi = min(segment.end, end) if end else segment.end
    assert lo is not None and hi is not None
    return Period(lo, hi, "") if lo < hi else None


def _and(*conditions: str | None) -> str:
    return " AND ".join(f"({c})" for c in conditions if c)


def _spif_name(plan: CompPlan, index: int) -> str:
    return f"__spif_{plan.name}_{index}"


def _clawback_name(plan: CompPlan) -> str:
    return f"__clawback_{plan.name}"


def _plan_metrics(catalog: Catalog, compensation: Compensation) -> dict[str, Metric]:
    """The credit metric narrowed to each SPIF's rows, and to the deals each clawback reverses
    (by churn date, within N days of the close), as metrics the engine computes with the rest."""
    extra: dict[str, Metric] = {}
    for plan in compensation.plans.values():
        credit = catalog.metrics[plan.credit]
        for i, spif in enumerate(plan.spifs):
            extra[_spif_name(plan, i)] = replace(
                credit, name=_spif_name(plan, i), filter=_and(credit.filter, spif.filter) or None, target=None
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
            extra[_clawback_name(plan)] = replace(
                credit, name=_clawback_name(plan), filter=_and(credit.filter, within), time=churn, target=None
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
    assert period.end is not None
    partial = today if period.end > today + timedelta(days=1) else None
    segments = plan_segments(compensation, period)
    windows = _windows(compensation, segments, partial)
    wide, _ = run_windows(plan, windows, [_key(s) for s in segments if _key(s) in windows], {})
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
    team_total = None if rep else sum(totals.values(), Decimal(0)).quantize(CENT)
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
        counted = _overlap(segment, None, end)
        if counted is None:
            continue
        windows[_key(segment)] = counted
        for plan in compensation.plans.values():
            for spif in plan.spifs:
                span = _overlap(counted, spif.start, spif.end)
                if span is not None:
                    windows[_key(_overlap(segment, spif.start, spif.end))] = span
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
    for row in wide.sort([rep_col, group_col], nulls_last=True).to_dicts():
        name, group = row[rep_col], row[group_col]
        for segment in segments:
            assert segment.start is not None
            plan = plan_in_force(compensation, group, segment.start)
            column = f"{plan.credit}\x1f{_key(segment)}" if plan else None
            if plan is None or column not in row:  # no plan, or a segment after today
                if plan is None and name is not None:
                    unpaid["no plan"].append(f"{name} ({group or 'no ' + group_col})")
                continue
            if name is None:
                if row[column]:
                    unpaid["no rep"].append(f"{cents(row[column])} ({group or 'no ' + group_col})")
                continue
            lines = _segment_lines(plan, row, segment, str(name), str(group), unpaid["no quota"])
            quota = row[f"{plan.quota}\x1f{_key(segment)}"] if plan.quota else None
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


def _percent(fraction: Decimal) -> str:
    return f"{(fraction * 100).normalize():f}%"


def _segment_lines(
    plan: CompPlan, row: dict, segment: Period, rep: str, group: str, no_quota: list[str]
) -> list[Line]:
    """The lines one plan pays a rep over one segment."""
    key = _key(segment)
    assert segment.start is not None and segment.end is not None
    last = segment.end - timedelta(days=1)

    def line(component: str, detail: str, amount: Decimal, **numbers: Decimal | None) -> Line:
        assert segment.start is not None
        return Line(rep, group, plan.name, segment.start, last, component, detail, amount, **numbers)

    credit = cents(row[f"{plan.credit}\x1f{key}"])
    quota = cents(row[f"{plan.quota}\x1f{key}"]) if plan.quota else Decimal(0)
    attainment = credit / quota if quota else None
    lines = _commission(plan, credit, quota, attainment, line, f"{rep} ({segment.label})", no_quota)
    for i, spif in enumerate(plan.spifs):
        window = _overlap(segment, spif.start, spif.end)
        basis = cents(row.get(f"{_spif_name(plan, i)}\x1f{_key(window)}")) if window else Decimal(0)
        if basis:  # a SPIF the rep sold nothing under is left off the statement
            lines.append(line("spif", spif.label, _money(basis * spif.rate), basis=basis, rate=spif.rate))
    if plan.monthly_cap is not None:
        months = len(month_labels(segment) or ())
        cap = plan.monthly_cap * months
        earned = sum((item.amount for item in lines), Decimal(0))
        if earned > cap:
            detail = f"commission and SPIFs capped at {cap} ({months} × {plan.monthly_cap} a month)"
            lines.append(line("cap", detail, cap - earned, basis=earned))
    for bonus in plan.bonuses:
        value = row.get(f"{bonus.metric}\x1f{key}")
        reached = value is not None and value >= bonus.at_least
        shown = "no value" if value is None else f"{value:g}"
        detail = (
            f"{bonus.label}: {shown} ({'reached' if reached else 'not reached'}, needs {bonus.at_least:g})"
        )
        basis = None if value is None else Decimal(repr(value))
        lines.append(line("bonus", detail, bonus.amount.quantize(CENT) if reached else cents(0), basis=basis))
    if plan.clawback:
        basis = cents(row[f"{_clawback_name(plan)}\x1f{key}"])
        if basis:
            rate = plan.clawback.rate if plan.clawback.rate is not None else plan.on_target_rate
            detail = f"won deals whose account churned within {plan.clawback.within_days} days"
            lines.append(line("clawback", detail, -_money(basis * rate), basis=basis, rate=rate))
    return lines


def _commission(
    plan: CompPlan,
    credit: Decimal,
    quota: Decimal,
    attainment: Decimal | None,
    line: Callable[..., Line],
    who: str,
    no_quota: list[str],
) -> list[Line]:
    """Commission on the credit: one line per tier reached (marginal), or one line."""
    tiers = plan.tiers
    if len(tiers) == 1:
        return [
            line(
                "commission",
                "on all credit",
                _money(credit * tiers[0].rate),
                basis=credit,
                rate=tiers[0].rate,
                attainment=attainment,
            )
        ]
    if not quota:
        if credit:
            no_quota.append(who)
        rate = plan.on_target_rate
        return [
            line("commission", "no quota: on-target rate", _money(credit * rate), basis=credit, rate=rate)
        ]
    # Compare credit with start x quota rather than a rounded attainment: exactly 100% is exact.
    reached = [i for i, tier in enumerate(tiers) if credit >= tier.start * quota][-1]
    if plan.retroactive:
        rate = tiers[reached].rate
        detail = f"tier {reached + 1} (from {_percent(tiers[reached].start)}), retroactive on all credit"
        return [
            line("commission", detail, _money(credit * rate), basis=credit, rate=rate, attainment=attainment)
        ]
    lines = []
    for i in range(reached + 1):
        low = tiers[i].start * quota
        high = tiers[i + 1].start * quota if i + 1 < len(tiers) else None
        part = (credit if high is None else min(credit, high)) - low
        span = (
            f"{_percent(tiers[i].start)}–{_percent(tiers[i + 1].start)}"
            if high is not None
            else f"{_percent(tiers[i].start)}+"
        )
        lines.append(
            line(
                "commission",
                f"tier {i + 1}: {span} of quota",
                _money(part * tiers[i].rate),
                basis=part,
                rate=tiers[i].rate,
                attainment=attainment,
            )
        )
    return lines


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


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
