"""`salescode validate`: the catalog against the data, beyond what loading the catalog checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from salescode.allocation import potential_query
from salescode.basis import planning_workspace
from salescode.catalog import Catalog
from salescode.compensation import compute_payout
from salescode.engine import ReportRequest, date_columns, evaluate
from salescode.funnel import build_funnel, funnel_date_columns, open_funnel
from salescode.hygiene import data_warnings
from salescode.periods import ALL
from salescode.sources import NumberFormat
from salescode.workspace import Workspace


@dataclass(frozen=True)
class Validation:
    warnings: list[str]
    notes: list[str]  # how each file was read, where salescode had to decide


def validate_catalog(catalog: Catalog) -> Validation:
    """Evaluate every metric and funnel over all rows (which reads and parses every column they use),
    and check the planning and compensation sections against the data.

    Every source is inspected once, in one workspace shared by the checks. Raises the first data
    problem as a SalescodeError; returns warnings and notes on how the files were read.
    """
    dates = date_columns(catalog, list(catalog.metrics.values()))
    for funnel in catalog.funnels.values():
        for source, columns in funnel_date_columns(catalog, funnel).items():
            dates[source] = dates.get(source, set()) | columns
    workspace = Workspace.open(catalog, catalog.sources, dates)
    warnings = _join_collisions(workspace)
    evaluate(catalog, ReportRequest(period=ALL), today=date.today(), workspace=workspace)
    for funnel in catalog.funnels.values():
        open_funnel(catalog, funnel, workspace)
        warnings += build_funnel(workspace, funnel, ALL, by=(), cohort=False).warnings
    warnings += data_warnings(workspace, date.today()) + _planning_and_pay(catalog)
    return Validation(warnings, _reading_notes(workspace))


def _planning_and_pay(catalog: Catalog) -> list[str]:
    """The planning: and compensation: sections against the data, as plan, coach and payout read
    them: the headcount and potential columns exist (the dates as dates), and the latest month's
    payout computes. Returns payout's warnings."""
    planning = catalog.planning
    if planning.headcount or planning.potential:
        potential = planning.potential
        workspace = planning_workspace(catalog, [], None, (potential.source,) if potential else ())
        if potential:
            potential_query(workspace, potential.source, potential.value, potential.by)
    compensation = catalog.compensation
    if compensation is None or not compensation.plans:
        return []
    return compute_payout(catalog, None, today=date.today()).warnings


def _reading_notes(workspace: Workspace) -> list[str]:
    """How each file was read, where salescode had to decide: a detected encoding, a sheet, and
    which amounts are converted into the catalog's currency."""
    notes = []
    for name, source in workspace.catalog.sources.items():
        layout = workspace.layouts[name]
        if layout.encoding_detected and layout.encoding not in ("utf-8", "utf-8-sig"):
            notes.append(
                f"sources.{name}: {source.path.name} read as {layout.encoding} (detected; declare "
                f"sources.{name}.encoding to make it explicit)"
            )
        numbers = ", ".join(f"{column} ({_describe(fmt)})" for column, fmt in sorted(layout.numbers.items()))
        if numbers:
            notes.append(f"sources.{name}: numbers written with separators or symbols: {numbers}")
        if source.currency:
            rates = workspace.currencies[name]
            where = (
                f"the rates of sources.{source.currency.source}" if source.currency.source else "fixed rates"
            )
            notes.append(
                f"sources.{name}: {', '.join(source.currency.convert)} converted from each row's "
                f"{source.currency.column} into {rates.currency} with {where} "
                f"({', '.join(f'{code} {rate:g}' for code, rate in sorted(rates.rates.items()))})"
            )
    return notes


def _describe(fmt: NumberFormat) -> str:
    parts = [f"decimal '{fmt.decimal}'"]
    if fmt.thousands:
        parts.append(f"thousands '{fmt.thousands}'")
    if fmt.percent:
        parts.append("percent")
    return ", ".join(parts)


def _join_collisions(workspace: Workspace) -> list[str]:
    """Joined columns hidden because the left side has a column of the same name."""
    warnings = []
    for name, source in workspace.catalog.sources.items():
        columns = set(workspace.layouts[name].columns)
        for join in source.joins:
            brought = set(join.brings(list(workspace.layouts[join.source].columns)))
            hidden = sorted(brought & columns)
            if hidden:
                warnings.append(
                    f"sources.{name}: joined source '{join.source}' also has {', '.join(hidden)}; "
                    f"the '{name}' column(s) win (rename with columns:, or list the columns the join brings)"
                )
            columns |= brought
    return warnings
