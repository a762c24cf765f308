"""The money of a statement: what one plan pays one rep over one stretch of days, in Decimals.

Works on one rep's row of the engine's aggregated frame (a column per metric and window, named
`<metric>\x1f<window key>`): credit, quota, the SPIFs' and clawbacks' bases, the bonus metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from salescode.catalog import CompPlan
from salescode.periods import Period
from salescode.targets import month_labels

CENT = Decimal("0.01")


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


def money(value: Decimal) -> Decimal:
    """To the cent, half up: the rounding of every statement line."""
    return value.quantize(CENT, ROUND_HALF_UP)


def cents(value: float | None) -> Decimal:
    """An aggregated amount to the cent (None is nothing: 0). repr gives the float's shortest exact
    text, so a sum of cent amounts off by float error (1234.5699999999) comes back as 1234.57."""
    return money(Decimal(0 if value is None else repr(value)))


def window_key(period: Period | None) -> str | None:
    return None if period is None else f"{period.start}..{period.end}"


def overlap(segment: Period, start: date | None, end: date | None) -> Period | None:
    lo = max(segment.start, start) if start else segment.start
    hi = min(segment.end, end) if end else segment.end
    assert lo is not None and hi is not None
    return Period(lo, hi, "") if lo < hi else None


def spif_name(plan: CompPlan, index: int) -> str:
    return f"__spif_{plan.name}_{index}"


def clawback_name(plan: CompPlan) -> str:
    return f"__clawback_{plan.name}"


def _percent(fraction: Decimal) -> str:
    return f"{(fraction * 100).normalize():f}%"


def segment_lines(
    plan: CompPlan, row: dict, segment: Period, rep: str, group: str, no_quota: list[str]
) -> list[Line]:
    """The lines one plan pays a rep over one segment."""
    key = window_key(segment)
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
        window = overlap(segment, spif.start, spif.end)
        basis = cents(row.get(f"{spif_name(plan, i)}\x1f{window_key(window)}")) if window else Decimal(0)
        if basis:  # a SPIF the rep sold nothing under is left off the statement
            lines.append(line("spif", spif.label, money(basis * spif.rate), basis=basis, rate=spif.rate))
    if plan.monthly_cap is not None:
        months = len(month_labels(segment) or ())
        cap = plan.monthly_cap * months
        earned = sum((item.amount for item in lines), Decimal(0))
        if earned > cap:
            detail = f"commission and SPIFs capped at {cap} ({months} × {plan.monthly_cap} a month)"
            lines.append(line("cap", detail, money(cap - earned), basis=earned))
    for bonus in plan.bonuses:
        value = row.get(f"{bonus.metric}\x1f{key}")
        reached = value is not None and value >= bonus.at_least
        shown = "no value" if value is None else f"{value:g}"
        detail = (
            f"{bonus.label}: {shown} ({'reached' if reached else 'not reached'}, needs {bonus.at_least:g})"
        )
        basis = None if value is None else Decimal(repr(value))
        lines.append(line("bonus", detail, money(bonus.amount) if reached else cents(0), basis=basis))
    if plan.clawback:
        basis = cents(row[f"{clawback_name(plan)}\x1f{key}"])
        if basis:
            rate = plan.clawback.rate if plan.clawback.rate is not None else plan.on_target_rate
            detail = f"account churned within {plan.clawback.within_days} days of the win"
            lines.append(line("clawback", detail, -money(basis * rate), basis=basis, rate=rate))
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
                money(credit * tiers[0].rate),
                basis=credit,
                rate=tiers[0].rate,
                attainment=attainment,
            )
        ]
    if not quota:
        if credit:
            no_quota.append(who)
        rate = plan.on_target_rate
        return [line("commission", "no quota: on-target rate", money(credit * rate), basis=credit, rate=rate)]
    # Compare credit with start x quota rather than a rounded attainment: exactly 100% is exact.
    # (Credit below 0, after credit notes, stays in the first tier and pays back at its rate.)
    reached = max((i for i, tier in enumerate(tiers) if credit >= tier.start * quota), default=0)
    if plan.retroactive:
        rate = tiers[reached].rate
        detail = f"tier {reached + 1} (from {_percent(tiers[reached].start)}), retroactive on all credit"
        return [
            line("commission", detail, money(credit * rate), basis=credit, rate=rate, attainment=attainment)
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
                money(part * tiers[i].rate),
                basis=part,
                rate=tiers[i].rate,
                attainment=attainment,
            )
        )
    return lines
