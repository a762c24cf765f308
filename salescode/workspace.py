"""The data a run needs: each source file inspected and scanned once, joins applied, columns checked.

Every command builds one Workspace for the sources its metrics or funnels use, so a file is
never read twice in a run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from salescode.catalog import Catalog, Metric, MetricKind, did_you_mean
from salescode.errors import CatalogError, SalescodeError, SourceError
from salescode.expressions import columns_of, sql_expr
from salescode.sources import (
    Layout,
    bad_value_message,
    inspect_source,
    join_sources,
    ragged_row_message,
    scan_source,
)

_DATE_TYPES = (pl.Date, pl.Datetime)


def metric_closure(catalog: Catalog, names: Iterable[str]) -> list[str]:
    """names plus every metric they are computed from, inputs before the metrics that use them."""
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        for dependency in catalog.metrics[name].inputs:
            visit(dependency)
        ordered.append(name)

    for name in names:
        visit(name)
    return ordered


@dataclass
class Workspace:
    """Lazy frames for a set of sources, with joins, ready for one collect."""

    catalog: Catalog
    layouts: dict[str, Layout] = field(default_factory=dict)
    frames: dict[str, pl.LazyFrame] = field(default_factory=dict)  # per source, joins applied
    schemas: dict[str, pl.Schema] = field(default_factory=dict)

    @classmethod
    def open(cls, catalog: Catalog, sources: Iterable[str], date_columns: dict[str, set[str]]) -> Workspace:
        """Inspect and scan sources (and the sources they join), then apply the joins."""
        workspace = cls(catalog)
        needed = list(dict.fromkeys(sources))
        for name in list(needed):
            needed += [join.source for join in catalog.sources[name].joins if join.source not in needed]
        scanned = {}
        for name in needed:
            layout = inspect_source(catalog.sources[name], date_columns.get(name, set()))
            workspace.layouts[name] = layout
            scanned[name] = scan_source(layout)
        for name in needed:
            workspace._check_joins(name, scanned)
            frame = join_sources(catalog, name, scanned)
            workspace.frames[name] = frame
            workspace.schemas[name] = frame.collect_schema()
        return workspace

    def _check_joins(self, name: str, scanned: dict[str, pl.LazyFrame]) -> None:
        available = set(scanned[name].collect_schema().names())
        for i, join in enumerate(self.catalog.sources[name].joins):
            right = scanned[join.source].collect_schema().names()
            path = f"sources.{name}.joins[{i}].on"
            if join.left_on not in available:
                raise CatalogError(
                    self.catalog.path,
                    [
                        f"{path}: source '{name}' has no column '{join.left_on}'"
                        f"{did_you_mean(join.left_on, available)}"
                    ],
                )
            if join.right_on not in right:
                raise CatalogError(
                    self.catalog.path,
                    [
                        f"{path}: source '{join.source}' has no column '{join.right_on}'"
                        f"{did_you_mean(join.right_on, right)}"
                    ],
                )
            for column in join.columns or ():
                if column not in right:
                    raise CatalogError(
                        self.catalog.path,
                        [
                            f"sources.{name}.joins[{i}].columns: source '{join.source}' has no column "
                            f"'{column}'{did_you_mean(column, right)}"
                        ],
                    )
            available |= set(join.brings(right))

    def columns(self, source: str) -> list[str]:
        return list(self.schemas[source].names())

    def dtype(self, source: str, expr: pl.Expr) -> pl.DataType:
        """The type an expression has over a source (resolved from the plan; reads no data)."""
        return self.frames[source].select(expr).collect_schema().dtypes()[0]

    def is_date(self, source: str, column: str) -> bool:
        return isinstance(self.schemas[source].get(column), _DATE_TYPES)

    def missing_columns(self, source: str, expr: pl.Expr) -> list[str]:
        return [c for c in columns_of(expr) if c not in self.schemas[source]]

    def explain_failure(self, exc: pl.exceptions.PolarsError) -> SourceError:
        """Turn a polars error raised while collecting into a message naming file, line and column."""
        for layout in self.layouts.values():
            message = bad_value_message(layout) or ragged_row_message(
                layout.source, layout.text, layout.separator
            )
            if message:
                return SourceError(message)
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "m:1" in text or "validation" in text:
            return SourceError(
                self._duplicate_join_key()
                or f"{self.catalog.path}: a joined source has duplicate keys, which would multiply rows "
                f"({text}); make the join key unique in the joined file"
            )
        files = ", ".join(str(layout.source.path) for layout in self.layouts.values())
        return SourceError(f"cannot read the data ({files}): {text}")

    def _duplicate_join_key(self) -> str | None:
        """Name the joined file, key value and lines that break a many-to-one join (error path)."""
        for name in self.frames:
            for join in self.catalog.sources[name].joins:
                layout = self.layouts[join.source]
                repeated = (
                    scan_source(layout)
                    .with_row_index("__row")
                    .filter(pl.col(join.right_on).is_duplicated())
                    .select(pl.col(join.right_on).cast(pl.String), (pl.col("__row") + 2).alias("line"))
                    .head(20)
                    .collect()
                )
                if repeated.height:
                    value = repeated.item(0, 0)
                    lines = repeated.filter(pl.col(join.right_on) == value)["line"].to_list()
                    return (
                        f"{layout.where()}: '{join.right_on}' repeats '{value}' (lines "
                        f"{', '.join(map(str, lines))}), so joining it to '{name}' would count rows twice; "
                        f"make '{join.right_on}' unique in {layout.where()}"
                    )
        return None


def check_metric_columns(workspace: Workspace, metrics: Iterable[Metric]) -> None:
    """Every column a simple metric reads exists and has a usable type; all problems at once."""
    catalog = workspace.catalog
    problems = []
    for metric in metrics:
        if metric.kind is not MetricKind.SIMPLE:
            continue
        assert metric.source is not None
        path = f"metrics.{metric.name}"
        available = workspace.columns(metric.source)
        for key in ("expr", "filter"):
            text = getattr(metric, key)
            if not text:
                continue
            missing = workspace.missing_columns(metric.source, sql_expr(text))
            for column in missing:
                problems.append(
                    f"{path}.{key}: unknown column '{column}' in source '{metric.source}'"
                    f"{did_you_mean(column, available)} (available: {', '.join(available)})"
                )
            if missing:
                continue
            dtype = workspace.dtype(metric.source, sql_expr(text))
            if key == "filter" and dtype != pl.Boolean:
                problems.append(
                    f"{path}.filter: '{text}' is not a condition (it gives {dtype}, not true/false)"
                )
            if key == "expr" and metric.agg.value not in ("count_distinct", "min", "max"):
                if not (dtype.is_numeric() or isinstance(dtype, pl.Duration) or dtype == pl.Boolean):
                    problems.append(
                        f"{path}.expr: '{text}' is {dtype}, not a number; {metric.agg.value} needs "
                        f"numbers (declare sources.{metric.source}.types if the column holds numbers)"
                    )
        time = catalog.metric_time(metric)
        if time is not None:
            where = f"{path}.time" if metric.time else f"sources.{metric.source}.time"
            if time not in available:
                problems.append(
                    f"{where}: unknown column '{time}' in source '{metric.source}'"
                    f"{did_you_mean(time, available)}"
                )
            elif not workspace.is_date(metric.source, time):
                problems.append(f"{where}: column '{time}' is not a date column")
    if problems:
        raise CatalogError(catalog.path, problems)


def require_dimensions(catalog: Catalog, by: tuple[str, ...]) -> None:
    """Each --by name must be a declared dimension."""
    for dim in by:
        if dim not in catalog.dimensions:
            raise SalescodeError(
                f"--by '{dim}': not a dimension of {catalog.path}{did_you_mean(dim, catalog.dimensions)}"
                f" (dimensions: {', '.join(catalog.dimensions) or 'none declared'})"
            )
