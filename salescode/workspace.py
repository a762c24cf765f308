"""The data a run needs: each source file inspected and scanned once, joins applied, columns checked.

Every command builds one Workspace for the sources its metrics or funnels use, so a file is
never read twice in a run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import polars as pl

from salescode.cache import Cache, passed_marker
from salescode.catalog import Catalog, Metric, MetricKind, did_you_mean
from salescode.currency import CurrencyRates, currency_rates
from salescode.errors import CatalogError, SalescodeError, SourceError
from salescode.expressions import columns_of, sql_expr
from salescode.sources import (
    Layout,
    bad_value_message,
    field_count_query,
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
    scanned: dict[str, pl.LazyFrame] = field(default_factory=dict)  # per source, as in its file
    currencies: dict[str, CurrencyRates] = field(default_factory=dict)  # sources converting amounts
    frames: dict[str, pl.LazyFrame] = field(default_factory=dict)  # per source, joins applied
    schemas: dict[str, pl.Schema] = field(default_factory=dict)
    cached: dict[str, Path] = field(default_factory=dict)  # per source read from a cache entry, the entry

    @classmethod
    def open(cls, catalog: Catalog, sources: Iterable[str], date_columns: dict[str, set[str]]) -> Workspace:
        """Inspect and scan sources (and the sources they join), then apply the joins."""
        workspace = cls(catalog)
        needed = list(dict.fromkeys(sources))
        for name in list(needed):
            needed += [join.source for join in catalog.sources[name].joins if join.source not in needed]
        # A date column that a join brings by name (`columns:`) is parsed as a date in its own source.
        dates = {name: set(columns) for name, columns in date_columns.items()}
        for name in needed:
            for join in catalog.sources[name].joins:
                brought = set(join.columns or ()) & dates.get(name, set())
                dates.setdefault(join.source, set()).update(brought)
        cache = Cache.from_environment()
        for name in needed:
            source, dated = catalog.sources[name], dates.get(name, set())
            if cache:
                layout, scanned, entry = cache.open(source, dated)
                if entry:
                    workspace.cached[name] = entry
            else:
                layout = inspect_source(source, dated)
                scanned = scan_source(layout)
            workspace.layouts[name] = layout
            workspace.scanned[name] = scanned
            if catalog.sources[name].currency:
                rates = workspace.currencies[name] = currency_rates(catalog, catalog.sources[name])
                workspace.scanned[name] = rates.apply(workspace.scanned[name], layout)
        for name in needed:
            workspace._check_joins(name)
            frame = join_sources(catalog, name, workspace.scanned)
            workspace.frames[name] = frame
            workspace.schemas[name] = frame.collect_schema()
        return workspace

    def _check_joins(self, name: str) -> None:
        available = set(self.scanned[name].collect_schema().names())
        for i, join in enumerate(self.catalog.sources[name].joins):
            right = self.scanned[join.source].collect_schema().names()
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

    def frame(self, source: str, columns: Iterable[str]) -> pl.LazyFrame:
        """The source's frame with only the joins that bring (or lead to) the given columns."""
        return join_sources(self.catalog, source, self.scanned, columns)

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
        for name, rates in self.currencies.items():
            message = rates.unknown_message(self.layouts[name])
            if message:
                return SourceError(message)
        for layout in self.layouts.values():
            message = bad_value_message(layout) or ragged_row_message(
                layout.source, layout.text, layout.separator
            )
            if message:
                return SourceError(message)
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "utf-8" in text.lower() or "utf8" in text.lower():
            guessed = [layout for layout in self.layouts.values() if layout.encoding_detected]
            if guessed:
                layout = guessed[0]
                return SourceError(
                    f"{layout.where()}: is not valid UTF-8 further down than the part salescode samples; "
                    f"declare its encoding in sources.{layout.source.name}.encoding (e.g. cp1252 or cp1251)"
                )
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
                repeated = self.repeated_keys(join.source, join.right_on).collect()
                if repeated.height:
                    return _repeated_key_message(
                        self.layouts[join.source],
                        join.right_on,
                        repeated,
                        f"joining it to '{name}' would count rows twice; make '{join.right_on}' unique",
                    )
        return None

    def repeated_keys(self, source: str, key: str) -> pl.LazyFrame:
        """Rows of source's file whose key value repeats: the value and its line (header = line 1).

        Read from the file as scanned, before joins, so that line numbers are the file's.
        """
        return (
            self.scanned[source]
            .with_row_index("__row")
            .filter(pl.col(key).is_duplicated())
            .select(pl.col(key).cast(pl.String).alias("value"), (pl.col("__row") + 2).alias("line"))
            .head(50)
        )

    def data_checks(self, sources: Iterable[str]) -> dict[Check, pl.LazyFrame]:
        """The checks a run collects with its queries, each a one-row frame whose `ok` is the verdict:
        that every line of each file has the header's fields, and that each key column is unique:
        the declared key of each source, and the right side of each of its joins, whose key must
        be unique even where a query leaves the join out (it would multiply rows where applied)."""
        checks: dict[tuple[str, str | None], Check] = {}  # one per file and per key column
        for source in sources:
            for name in (source, *(join.source for join in self.catalog.sources[source].joins)):
                checks.setdefault((name, None), Check(name))
            key = self.catalog.sources[source].key
            if key:
                if key not in self.scanned[source].collect_schema():
                    raise SourceError(
                        f"sources.{source}.key: no column '{key}' in {self.layouts[source].where()}"
                        f"{did_you_mean(key, self.columns(source))}"
                    )
                checks[source, key] = Check(source, key)
            for join in self.catalog.sources[source].joins:
                checks.setdefault((join.source, join.right_on), Check(join.source, join.right_on, source))
        queries = {check: self._check_query(check) for check in checks.values() if not self._passed(check)}
        return {check: query for check, query in queries.items() if query is not None}

    def collect(self, queries: list[pl.LazyFrame], sources: Iterable[str] = ()) -> list[pl.DataFrame]:
        """The data checks of sources (field counts, unique keys), then the queries in one collect.

        The checks run one at a time, before the queries: a file they read is not parsed by several
        of them at once, which would add up their memory (they run only until each has passed on a
        cached file). An unreadable value or a failed check is a SourceError naming the file, line
        and column.
        """
        try:
            checks = self.data_checks(sources)
            self.raise_on_failed_checks({check: query.collect() for check, query in checks.items()})
            return pl.collect_all(queries) if queries else []
        except pl.exceptions.PolarsError as exc:
            raise self.explain_failure(exc) from exc

    def _check_query(self, check: Check) -> pl.LazyFrame | None:
        if check.key is None:
            return field_count_query(self.layouts[check.source])
        # Distinct hashes prove distinct values; a repeated hash (a repeated value, or in theory a
        # collision) is looked into by raise_on_failed_checks, on the error path only. Hashing is
        # about half the cost of finding the repeated rows themselves.
        key = pl.col(check.key)
        return self.scanned[check.source].select((key.hash().n_unique() == pl.len()).alias("ok"))

    def _passed(self, check: Check) -> bool:
        """Passed on this very file before: recorded beside its cache entry."""
        entry = self.cached.get(check.source)
        return entry is not None and passed_marker(entry, check.marker).exists()

    def raise_on_failed_checks(self, found: dict[Check, pl.DataFrame]) -> None:
        """A row with missing fields, or a key that repeats (a row counted twice): stop, naming the
        line and value. found: the collected data_checks. A check passed on a cached file is
        recorded, so that later runs need not repeat it.
        """
        for check, verdict in found.items():
            problem = None if verdict["ok"][0] else self._problem(check)
            if problem is None:
                if check.source in self.cached:
                    with contextlib.suppress(OSError):  # a cache that cannot be written is skipped
                        passed_marker(self.cached[check.source], check.marker).touch()
                continue
            raise SourceError(problem)

    def _problem(self, check: Check) -> str | None:
        """What a failed check found (None: nothing after all, e.g. a hash collision)."""
        layout = self.layouts[check.source]
        if check.key is None:
            return ragged_row_message(layout.source, layout.text, layout.separator)
        repeated = self.repeated_keys(check.source, check.key).collect()
        if not repeated.height:
            return None
        if check.joined_to:
            consequence = (
                f"joining it to '{check.joined_to}' would count rows twice; make '{check.key}' unique"
            )
        else:
            consequence = (
                f"a repeated row would be counted twice; remove the duplicates, or drop "
                f"sources.{check.source}.key if rows are not unique"
            )
        return _repeated_key_message(layout, check.key, repeated, consequence)


class Check(NamedTuple):
    """A check of a source's file: every row has the header's fields (key None), or a column does
    not repeat a value: its declared key, or the key another source joins it on (joined_to)."""

    source: str
    key: str | None = None
    joined_to: str | None = None

    @property
    def marker(self) -> str:
        return "fields" if self.key is None else f"unique {self.key}"


def _repeated_key_message(layout: Layout, key: str, repeated: pl.DataFrame, consequence: str) -> str:
    value = repeated["value"][0]
    lines = repeated.filter(pl.col("value") == value)["line"].to_list()
    listed = ", ".join(map(str, lines))
    return f"{layout.where()}: key column '{key}' repeats '{value}' (lines {listed}); {consequence}"


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
            try:
                dtype = workspace.dtype(metric.source, sql_expr(text))
            except pl.exceptions.PolarsError as exc:  # e.g. a date minus a column read as text
                reason = str(exc).strip().splitlines()[0]
                problems.append(
                    f"{path}.{key}: '{text}' cannot be computed over source '{metric.source}' ({reason}); "
                    f"check the types of its columns (declare sources.{metric.source}.types)"
                )
                continue
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
