"""Per-group targets read from a source, e.g. a quota per rep per month (catalog `targets:`)."""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from salescode.catalog import ColumnType, Grain, TargetFile, did_you_mean
from salescode.errors import CatalogError, SourceError
from salescode.periods import Period, grain_period, whole_grains
from salescode.sources import bad_value_message
from salescode.workspace import Workspace


def month_labels(period: Period) -> list[str] | None:
    """'2025-07'-style labels of the months making up period, or None if not whole months."""
    if whole_grains(period, Grain.MONTH) is None:
        return None
    labels, cursor = [], period.start
    assert cursor is not None and period.end is not None
    while cursor < period.end:
        month = grain_period(cursor, Grain.MONTH)
        labels.append(month.label)
        assert month.end is not None
        cursor = month.end
    return labels


def file_target_query(
    workspace: Workspace, target: TargetFile, by: tuple[str, ...], months: list[str] | None
) -> pl.LazyFrame | None:
    """Sum of the target column over the period's months, per --by group; None when not defined.

    A target file defines targets only for periods made of whole months, and only for --by
    dimensions its rows carry (directly or through the source's joins).
    """
    columns = workspace.columns(target.source)
    index = workspace.catalog.targets.index(target)
    for key, column in (("value", target.value), ("period", target.period), ("by", target.by)):
        if column is not None and column not in columns:
            raise CatalogError(
                workspace.catalog.path,
                [
                    f"targets[{index}].{key}: source '{target.source}' has no column '{column}'"
                    f"{did_you_mean(column, columns)} (available: {', '.join(columns)})"
                ],
            )
    schema = workspace.schemas[target.source]
    if not schema[target.value].is_numeric():
        layout = workspace.layouts[target.source]
        as_number = replace(layout, types={**layout.types, target.value: ColumnType.NUMBER})
        raise SourceError(
            bad_value_message(as_number)
            or f"{layout.where()}: targets[{index}].value: column '{target.value}' is not numeric"
        )
    if months is None or any(d not in columns for d in by):
        return None
    label = pl.col(target.period)
    if isinstance(schema[target.period], (pl.Date, pl.Datetime)):
        label = label.dt.strftime("%Y-%m")
    else:
        label = label.cast(pl.String).str.strip_chars()
    rows = workspace.frame(target.source, [*by, target.period, target.value]).filter(label.is_in(months))
    total = pl.when(pl.len() > 0).then(pl.col(target.value).cast(pl.Float64).sum()).alias("target")
    if by:
        return rows.group_by(list(by)).agg(total)
    return rows.select(total)
