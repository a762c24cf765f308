"""`salescode why`: reports that explain results (lost deals, discounts, churn, rep attrition).

Each report reads the catalog's sources through a Workspace (one scan per source, one collect per
run) and returns a tidy frame for csv/json plus whatever its human view needs. Column names the
reports rely on beyond the catalog (a deal's lost reason, an account's churn date, ...) are options
with the sample's names as defaults; a missing one is an error naming the source and column.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from salescode.catalog import Catalog, Funnel
from salescode.catalog.parse import did_you_mean
from salescode.errors import SalescodeError
from salescode.periods import Period
from salescode.workspace import Workspace


def first_funnel(catalog: Catalog) -> Funnel:
    if not catalog.funnels:
        raise SalescodeError(
            f"{catalog.path}: no funnel in the catalog; `why` reads deals through a funnel "
            "(funnels: with source, stage, stages and lost)"
        )
    return next(iter(catalog.funnels.values()))


def won_values(funnel: Funnel) -> list[str]:
    """The CRM stage values of the funnel's last stage (won)."""
    return list(funnel.stages[-1].values)


def open_sources(catalog: Catalog, needs: dict[str, Iterable[str | None]]) -> Workspace:
    """A workspace over the sources named in needs, after checking each has the named columns
    (date columns among them are parsed as dates)."""
    for source in needs:
        if source not in catalog.sources:
            raise SalescodeError(
                f"{catalog.path}: no source '{source}'{did_you_mean(source, catalog.sources)}"
            )
    dates: dict[str, set[str]] = {}
    for name, source in catalog.sources.items():
        dates[name] = {c for c, kind in source.types.items() if kind.value in ("date", "datetime")}
    workspace = Workspace.open(catalog, list(needs), dates)
    for source, columns in needs.items():
        available = workspace.columns(source)
        for column in columns:
            if column is not None and column not in available:
                raise SalescodeError(
                    f"source '{source}' ({catalog.sources[source].path.name}) has no column '{column}'"
                    f"{did_you_mean(column, available)}; name the right one with the matching option"
                )
    return workspace


def source_frame(workspace: Workspace, source: str, columns: Iterable[str | None]) -> pl.LazyFrame:
    """The source with only the joins that bring the named columns (None entries skipped)."""
    return workspace.frame(source, [c for c in columns if c is not None])


def in_period(column: str, period: Period) -> pl.Expr:
    """Rows whose date column falls in the period (`all`: every row, undated ones included)."""
    if period.is_all:
        return pl.lit(True)
    day = pl.col(column).cast(pl.Date)
    return (day >= period.start) & (day < period.end)


def safe_ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """numerator / denominator, empty (never infinite) over zero."""
    return pl.when(denominator != 0).then(numerator / denominator)
