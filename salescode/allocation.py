"""Quota allocation: a team target split over reps (or regions) by potential, history or a blend.

Each recipient's share is the weighted sum of its share of the market potential and its share of
the basis period's result (`--weights potential=0.5,history=0.5`; the weights are normalised).
Recipients are the reps on the team at the start of the period (planning.headcount), or the
values of another dimension. A rep's potential is their region's potential divided equally among
the region's reps. Amounts are whole cents: the largest-remainder method makes them add up to the
target exactly, and each recipient's amount is split the same way over the period's months, so
the quotas CSV (`--format csv`) is what a catalog's `targets:` reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from salescode.basis import basis_period, planning_workspace
from salescode.catalog import Catalog, did_you_mean
from salescode.engine import ReportRequest, plan_metrics, run_windows
from salescode.errors import SalescodeError
from salescode.periods import Period
from salescode.plan import PlanRequest, plan_period, target_metric
from salescode.workspace import Workspace, require_dimensions

ALLOCATION_COLUMNS = (
    "period",
    "quota_amount",
    "target",
    "share",
    "potential_share",
    "history_share",
    "potential",
    "history",
)
BASES = ("potential", "history")


def parse_weights(text: str | None, has_potential: bool) -> dict[str, float]:
    """`potential=0.5,history=0.5` -> normalised weights; default: half and half (history alone
    when the catalog declares no potential)."""
    if text is None:
        return {"potential": 0.5, "history": 0.5} if has_potential else {"potential": 0.0, "history": 1.0}
    weights = {"potential": 0.0, "history": 0.0}
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\w+)\s*=\s*(\d+(?:\.\d+)?)\s*", part)
        if not match or match[1] not in BASES:
            raise SalescodeError(
                f"--weights '{text}': write potential=W,history=W with numbers 0 or more, e.g. "
                "potential=0.5,history=0.5"
            )
        weights[match[1]] = float(match[2])
    total = sum(weights.values())
    if total <= 0:
        raise SalescodeError(f"--weights '{text}': at least one weight must be above 0")
    if weights["potential"] and not has_potential:
        raise SalescodeError(
            "--weights potential=...: the catalog declares no planning.potential (the source with the "
            "market potential per territory)"
        )
    return {name: value / total for name, value in weights.items()}


def split_cents(total: Decimal, weights: list[float]) -> list[Decimal]:
    """total (in currency units) split in proportion to weights, in whole cents adding up exactly
    (largest remainder; ties to the earlier entry)."""
    cents = int((total * 100).to_integral_value(ROUND_HALF_UP))
    whole = sum(weights)
    if whole <= 0:
        raise SalescodeError("nothing to allocate by: every recipient's weight is 0")
    exact = [cents * w / whole for w in weights]
    floors = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[: cents - sum(floors)]:
        floors[i] += 1
    return [Decimal(c) / 100 for c in floors]


@dataclass
class Allocation:
    frame: pl.DataFrame  # one row per recipient x month
    by: str
    period: Period
    basis: Period
    weights: dict[str, float]
    target: float
    metric: str


def _months(period: Period) -> list[str]:
    from salescode.targets import month_labels

    labels = month_labels(period)
    if labels is None:
        raise SalescodeError(
            f"--allocate: quotas are monthly, so --period must be whole months, not {period.label}"
        )
    return labels


def allocate(
    catalog: Catalog, request: PlanRequest, by: str, weights: dict[str, float], *, today: date
) -> Allocation:
    """Per recipient: potential, history, shares and the quota, split into months."""
    metric = target_metric(catalog, request.metric)
    require_dimensions(catalog, (by,))
    planning = catalog.planning
    rep = planning.rep
    potential, headcount = planning.potential, planning.headcount
    workspace = planning_workspace(catalog, [metric], None, (potential.source,) if potential else ())
    if by not in workspace.schemas[metric.source or ""]:
        raise SalescodeError(f"--by {by}: source '{metric.source}' of {metric.name} has no column '{by}'")
    plan = plan_metrics(catalog, ReportRequest(metrics=(metric.name,), by=(by,)), workspace)
    basis = basis_period(workspace, metric, request.basis, request.period, today)
    period = plan_period(catalog, request, basis)
    months = _months(period)
    extra = {}
    if potential:
        extra["potential"] = potential_query(workspace, potential.source, potential.value, potential.by)
    if headcount and by == rep:
        extra["team"] = _team_query(workspace, headcount.source, headcount.hired, headcount.left, rep, period)
    wide, frames = run_windows(plan, {"basis": basis}, ["basis"], extra)
    history = wide.select(pl.col(by).cast(pl.String), pl.col(f"{metric.name}\x1fbasis").alias("history"))
    recipients = _recipients(frames, history, by, rep, potential.by if potential else None)
    shares = _shares(recipients, weights)
    amounts = split_cents(Decimal(str(request.target)), shares["share"].to_list())
    rows = []
    for group, amount, record in zip(
        shares[by].to_list(), amounts, shares.iter_rows(named=True), strict=True
    ):
        for month, part in zip(months, split_cents(amount, [1.0] * len(months)), strict=True):
            rows.append(
                {
                    by: group,
                    "period": month,
                    "quota_amount": float(part),
                    "target": float(amount),
                    **{
                        k: record[k]
                        for k in ("share", "potential_share", "history_share", "potential", "history")
                    },
                }
            )
    schema = {by: pl.String, **dict.fromkeys(ALLOCATION_COLUMNS, pl.Float64)} | {"period": pl.String}
    frame = pl.DataFrame(rows, schema=schema)
    return Allocation(
        frame.select(by, *ALLOCATION_COLUMNS), by, period, basis, weights, request.target, metric.name
    )


def potential_query(workspace: Workspace, source: str, value: str, by: str) -> pl.LazyFrame:
    """The potential summed per `by` value (planning.potential); an error when a column is missing."""
    for column in (value, by):
        if column not in workspace.schemas[source]:
            raise SalescodeError(
                f"{workspace.catalog.path}: planning.potential: source '{source}' has no column "
                f"'{column}'{did_you_mean(column, workspace.columns(source))}"
            )
    return (
        workspace.frame(source, [value, by])
        .group_by(pl.col(by).cast(pl.String))
        .agg(pl.col(value).cast(pl.Float64).sum().alias("potential"))
    )


def _team_query(
    workspace: Workspace, source: str, hired: str, left: str | None, rep: str, period: Period
) -> pl.LazyFrame:
    """The reps on the team on the period's first day, with every column (their region, ...)."""
    assert period.start is not None
    start: date = period.start
    on_team = pl.col(hired) <= start
    if left:
        on_team = on_team & (pl.col(left).is_null() | (pl.col(left) >= start))
    return workspace.frames[source].filter(on_team.fill_null(False)).with_columns(pl.col(rep).cast(pl.String))


def _recipients(
    frames: dict[str, pl.DataFrame], history: pl.DataFrame, by: str, rep: str, potential_by: str | None
) -> pl.DataFrame:
    """One row per recipient with its potential and history (0 where it has none)."""
    potential = frames.get("potential")
    team = frames.get("team")
    if team is not None:
        keep = [pl.col(rep).alias(by)]
        if potential is not None and potential_by:
            if potential_by not in team.columns:
                raise SalescodeError(
                    f"planning.potential.by: the headcount source has no column '{potential_by}' to place "
                    "reps in territories"
                )
            keep.append(pl.col(potential_by).cast(pl.String))
        recipients = team.select(keep)
        if potential is not None and potential_by:
            # A territory's potential is shared equally by its reps.
            recipients = recipients.join(potential, on=potential_by, how="left").with_columns(
                (pl.col("potential").fill_null(0.0) / pl.len().over(potential_by)).alias("potential")
            )
    elif potential is not None:
        if potential_by != by:
            raise SalescodeError(
                f"--allocate --by {by}: the potential is given per {potential_by}; allocate --by "
                f"{potential_by}, or by rep with planning.headcount"
            )
        recipients = potential.join(history.select(by), on=by, how="full", coalesce=True)
    else:
        recipients = history.select(by)
    if "potential" not in recipients.columns:
        recipients = recipients.with_columns(pl.lit(0.0).alias("potential"))
    recipients = recipients.join(history, on=by, how="left").with_columns(
        pl.col("potential").fill_null(0.0), pl.col("history").fill_null(0.0)
    )
    return recipients.select(by, "potential", "history").filter(pl.col(by).is_not_null()).sort(by)


def _shares(recipients: pl.DataFrame, weights: dict[str, float]) -> pl.DataFrame:
    parts = []
    for basis in BASES:
        total = recipients[basis].sum()
        if weights[basis] and not total:
            raise SalescodeError(
                f"--allocate: the recipients' {basis} adds up to 0, so it cannot weigh shares"
            )
        share = pl.col(basis) / total if total else pl.lit(0.0)
        parts.append(share.alias(f"{basis}_share"))
    frame = recipients.with_columns(parts)
    return frame.with_columns(
        (
            weights["potential"] * pl.col("potential_share") + weights["history"] * pl.col("history_share")
        ).alias("share")
    )
