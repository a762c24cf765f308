"""The catalog's `compensation:` section: plans per rep group, checked like the rest of the catalog.

Rates and amounts become Decimals straight from their YAML text (0.08 stays 0.08, not the float
nearest to it), so that payouts are exact to the cent.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from salescode.catalog.model import (
    Agg,
    Bonus,
    Catalog,
    Clawback,
    Compensation,
    CompPlan,
    MetricKind,
    Spif,
    Tier,
)

if TYPE_CHECKING:
    from salescode.catalog.parse import _Problems

_SECTION_KEYS = {"rep", "group", "plans"}
_PLAN_KEYS = {
    "label",
    "applies_to",
    "effective_from",
    "credit",
    "quota",
    "rate",
    "tiers",
    "retroactive",
    "monthly_cap",
    "bonuses",
    "spifs",
    "clawback",
}


def parse_compensation(raw: Any, problems: _Problems) -> Compensation | None:
    """The `compensation:` section, or None when the catalog has none."""
    if raw is None:
        return None
    spec = problems.mapping(raw, "compensation", _SECTION_KEYS, required=("plans",))
    if not spec:
        return None
    plans = problems.named_section(
        spec.get("plans"), "compensation.plans", lambda n, d, p: _plan(n, d, p, problems)
    )
    if spec.get("plans") is not None and not plans and not problems.lines:
        problems.add("compensation.plans", "expected at least one plan")
    return Compensation(
        rep=problems.text(spec.get("rep"), "compensation.rep") or "rep",
        group=problems.text(spec.get("group"), "compensation.group") or "role",
        plans=plans,
    )


def _decimal(value: Any, path: str, problems: _Problems, *, minimum: Decimal = Decimal(0)) -> Decimal | None:
    """A non-negative number as an exact Decimal of its written form."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        problems.add(path, f"expected a number, got {_describe(value)}")
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        problems.add(path, f"expected a number, got '{value}'")
        return None
    if not number.is_finite() or number < minimum:
        problems.add(path, f"expected a number of at least {minimum}, got {value}")
        return None
    return number


def _date(value: Any, path: str, problems: _Problems) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        problems.add(path, f"expected a date written YYYY-MM-DD, got {_describe(value)}")
        return None


def _describe(value: Any) -> str:
    return "nothing" if value is None else f"'{value}'"


def _plan(name: str, raw: Any, path: str, problems: _Problems) -> CompPlan | None:
    spec = problems.mapping(raw, path, _PLAN_KEYS, required=("applies_to", "credit"))
    if not spec:
        return None
    groups = problems.text_list(spec.get("applies_to"), f"{path}.applies_to")
    credit = problems.text(spec.get("credit"), f"{path}.credit")
    effective = _date(spec.get("effective_from"), f"{path}.effective_from", problems)
    if effective is not None and effective.day != 1:
        # Quotas are monthly: a plan changing mid-month would split a month's quota.
        problems.add(
            f"{path}.effective_from", f"{effective} is not the first day of a month (quotas are monthly)"
        )
    tiers = _tiers(spec, path, problems)
    cap = spec.get("monthly_cap")
    plan = CompPlan(
        name=name,
        label=problems.text(spec.get("label"), f"{path}.label") or name.replace("_", " ").capitalize(),
        groups=groups,
        credit=credit or "",
        tiers=tiers,
        quota=problems.text(spec.get("quota"), f"{path}.quota"),
        effective_from=effective,
        retroactive=problems.boolean(spec.get("retroactive", False), f"{path}.retroactive"),
        monthly_cap=None if cap is None else _decimal(cap, f"{path}.monthly_cap", problems),
        bonuses=_bonuses(spec.get("bonuses"), f"{path}.bonuses", problems),
        spifs=_spifs(spec.get("spifs"), f"{path}.spifs", problems),
        clawback=_clawback(spec.get("clawback"), f"{path}.clawback", problems),
    )
    if len(tiers) > 1 and plan.quota is None:
        problems.add(f"{path}.quota", "required with tiers (the metric holding each rep's quota)")
    if not groups or credit is None or not tiers:
        return None
    return plan


def _tiers(spec: dict[str, Any], path: str, problems: _Problems) -> tuple[Tier, ...]:
    """`rate: r` (one rate on all credit) or `tiers: [{from: attainment, rate: r}, ...]`."""
    if (spec.get("rate") is None) == (spec.get("tiers") is None):
        problems.add(path, "give either rate (one commission rate) or tiers (rates by quota attainment)")
        return ()
    if spec.get("rate") is not None:
        rate = _decimal(spec["rate"], f"{path}.rate", problems)
        return (Tier(Decimal(0), rate),) if rate is not None else ()
    raw = spec["tiers"]
    if not isinstance(raw, list) or not raw:
        problems.add(f"{path}.tiers", "expected a list of {from: attainment, rate: r}, lowest first")
        return ()
    tiers = []
    for i, item in enumerate(raw):
        where = f"{path}.tiers[{i}]"
        tier = problems.mapping(item, where, {"from", "rate"}, required=("from", "rate"))
        if tier.get("from") is None or tier.get("rate") is None:
            continue
        start = _decimal(tier["from"], f"{where}.from", problems)
        rate = _decimal(tier["rate"], f"{where}.rate", problems)
        if start is None or rate is None:
            continue
        if tiers and start <= tiers[-1].start:
            problems.add(f"{where}.from", f"{start} must be above the tier before ({tiers[-1].start})")
        tiers.append(Tier(start, rate))
    if tiers and tiers[0].start != 0:
        problems.add(f"{path}.tiers[0].from", "the first tier starts at 0 (attainment from nothing)")
    return tuple(tiers)


def _items(raw: Any, path: str, shape: str, problems: _Problems) -> list[tuple[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.add(path, f"expected a list of {shape}")
        return []
    return [(f"{path}[{i}]", item) for i, item in enumerate(raw)]


def _bonuses(raw: Any, path: str, problems: _Problems) -> tuple[Bonus, ...]:
    built = []
    for where, item in _items(raw, path, "{metric:, at_least:, amount:}", problems):
        spec = problems.mapping(
            item, where, {"label", "metric", "at_least", "amount"}, ("metric", "at_least", "amount")
        )
        metric = problems.text(spec.get("metric"), f"{where}.metric")
        at_least = problems.number(spec.get("at_least"), f"{where}.at_least")
        amount = _decimal(spec.get("amount"), f"{where}.amount", problems) if "amount" in spec else None
        if metric is None or at_least is None or amount is None:
            continue
        label = problems.text(spec.get("label"), f"{where}.label") or f"{metric} ≥ {at_least:g}"
        built.append(Bonus(label, metric, at_least, amount))
    return tuple(built)


def _spifs(raw: Any, path: str, problems: _Problems) -> tuple[Spif, ...]:
    built = []
    for where, item in _items(raw, path, "{label:, rate:, filter:, from:, to:}", problems):
        spec = problems.mapping(item, where, {"label", "rate", "filter", "from", "to"}, ("rate",))
        rate = _decimal(spec.get("rate"), f"{where}.rate", problems) if "rate" in spec else None
        condition = problems.text(spec.get("filter"), f"{where}.filter")
        start, last = (
            _date(spec.get("from"), f"{where}.from", problems),
            _date(spec.get("to"), f"{where}.to", problems),
        )
        if condition is None and start is None and last is None:
            problems.add(where, "a SPIF needs a filter (e.g. focus products) or a date window (from/to)")
        if start and last and last < start:
            problems.add(f"{where}.to", f"{last} is before from: {start}")
        if rate is None:
            continue
        label = problems.text(spec.get("label"), f"{where}.label") or condition or "SPIF"
        end = None if last is None else date.fromordinal(last.toordinal() + 1)
        built.append(Spif(label, rate, condition, start, end))
    return tuple(built)


def _clawback(raw: Any, path: str, problems: _Problems) -> Clawback | None:
    if raw is None:
        return None
    spec = problems.mapping(raw, path, {"churn_date", "within_days", "rate"}, ("churn_date", "within_days"))
    column = problems.text(spec.get("churn_date"), f"{path}.churn_date")
    days = spec.get("within_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
        problems.add(
            f"{path}.within_days", f"expected a whole number of days (1 or more), got {_describe(days)}"
        )
        days = None
    rate = _decimal(spec["rate"], f"{path}.rate", problems) if spec.get("rate") is not None else None
    if column is None or days is None:
        return None
    return Clawback(column, days, rate)


def check_compensation(catalog: Catalog, problems: _Problems) -> None:
    """References to metrics, and one plan per group and date."""
    from salescode.catalog.parse import did_you_mean

    compensation = catalog.compensation
    if compensation is None:
        return
    for key in ("rep", "group"):
        name = getattr(compensation, key)
        if name not in catalog.dimensions:
            problems.add(
                f"compensation.{key}",
                f"'{name}' is not a dimension{did_you_mean(name, catalog.dimensions)}; "
                "declare it under dimensions:",
            )
    seen: dict[tuple[str, date | None], str] = {}
    for plan in compensation.plans.values():
        path = f"compensation.plans.{plan.name}"

        def need(name: str | None, where: str) -> None:
            if name is not None and name not in catalog.metrics:
                problems.add(where, f"unknown metric '{name}'" + did_you_mean(name, catalog.metrics))

        need(plan.credit, f"{path}.credit")
        need(plan.quota, f"{path}.quota")
        for i, bonus in enumerate(plan.bonuses):
            need(bonus.metric, f"{path}.bonuses[{i}].metric")
        credit = catalog.metrics.get(plan.credit)
        if credit is not None and (credit.kind is not MetricKind.SIMPLE or credit.agg is not Agg.SUM):
            problems.add(
                f"{path}.credit",
                f"'{plan.credit}' is not a sum over a source "
                "(commission is a rate on a sum, e.g. won revenue)",
            )
        for group in plan.groups:
            other = seen.setdefault((group, plan.effective_from), plan.name)
            if other != plan.name:
                when = f"from {plan.effective_from}" if plan.effective_from else "without effective_from"
                problems.add(
                    f"{path}.applies_to",
                    f"plans '{other}' and '{plan.name}' both apply to '{group}' {when}; "
                    "give one a later effective_from",
                )


def plan_expressions(catalog: Catalog) -> list[tuple[str, str]]:
    """(key path, SQL text) of the compensation's expressions, to compile at load time."""
    if catalog.compensation is None:
        return []
    return [
        (f"compensation.plans.{plan.name}.spifs[{i}].filter", spif.filter)
        for plan in catalog.compensation.plans.values()
        for i, spif in enumerate(plan.spifs)
        if spif.filter
    ]
