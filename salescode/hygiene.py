"""Data checks for `salescode validate` that are warnings, not errors: the data reads, but parts of
it look wrong to a sales-operations eye (lookups that miss, dates in the future or long past,
empty columns, negative or zero amounts, closes before creation, skipped stages, deals moving
backwards). Every check is a small aggregation; all of them run in one collect.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import polars as pl

from salescode.funnel import stage_index
from salescode.workspace import Workspace

OLDEST = date(1990, 1, 1)  # dates before this are typos (0205 for 2025) more often than history
EXAMPLES = 3

Check = tuple[pl.LazyFrame, Callable[[pl.DataFrame], str | None]]


def data_warnings(workspace: Workspace, today: date) -> list[str]:
    checks = [
        *_join_coverage(workspace),
        *_date_ranges(workspace, today),
        *_empty_columns(workspace),
        *_funnel_checks(workspace),
    ]
    if not checks:
        return []
    frames = pl.collect_all([query for query, _ in checks])
    return [text for (_, say), frame in zip(checks, frames, strict=True) if (text := say(frame))]


def _examples(values: pl.Series) -> str:
    shown = ", ".join(f"'{v}'" for v in values.head(EXAMPLES).to_list())
    return shown + (", …" if values.len() > EXAMPLES else "")


def _join_coverage(workspace: Workspace) -> list[Check]:
    """Rows whose join key finds nothing on the right (their joined columns are empty)."""
    checks: list[Check] = []
    for name, source in workspace.catalog.sources.items():
        if name not in workspace.frames:
            continue
        for join in source.joins:
            # The joined frame: a join may use a column an earlier join brought in.
            left = workspace.frames[name].select(pl.col(join.left_on).cast(pl.String).alias("key"))
            right = workspace.scanned[join.source].select(pl.col(join.right_on).cast(pl.String).alias("key"))
            missing = (
                left.drop_nulls()
                .join(right.unique(), on="key", how="anti")
                .group_by("key")
                .len()
                .sort(["len", "key"], descending=[True, False])
            )

            def say(
                frame: pl.DataFrame, name: str = name, join_source: str = join.source, on: str = join.left_on
            ):
                if frame.is_empty():
                    return None
                return (
                    f"sources.{name}: {frame['len'].sum()} row(s) have a {on} that {join_source} does not "
                    f"list ({_examples(frame['key'])}); their {join_source} columns are empty"
                )

            checks.append((missing, say))
    return checks


def _date_ranges(workspace: Workspace, today: date) -> list[Check]:
    """Dates after today in time columns, and dates before 1990 in any date column."""
    checks: list[Check] = []
    for name, layout in workspace.layouts.items():
        schema = workspace.scanned[name].collect_schema()
        time = workspace.catalog.sources[name].time
        for column, dtype in schema.items():
            if not isinstance(dtype, pl.Date | pl.Datetime):
                continue
            day = pl.col(column).cast(pl.Date)
            query = workspace.scanned[name].select(
                (day < OLDEST).sum().alias("old"),
                day.min().alias("first"),
                (day > today).sum().alias("future"),
                day.max().alias("last"),
            )

            def say(
                frame: pl.DataFrame,
                where: str = layout.where(),
                column: str = column,
                time: bool = column == time,
            ):
                row = frame.row(0, named=True)
                notes = []
                if row["old"]:
                    notes.append(
                        f"{row['old']} before {OLDEST} (earliest {row['first']}): a typo in the year?"
                    )
                if row["future"] and time:
                    notes.append(
                        f"{row['future']} after today (latest {row['last']}): expected dates of open deals? "
                        "they count only in future periods"
                    )
                return f"{where}: column '{column}': {'; '.join(notes)}" if notes else None

            checks.append((query, say))
    return checks


def _empty_columns(workspace: Workspace) -> list[Check]:
    """Columns the catalog relies on (time, key, joins, funnel columns) that hold no value at all."""
    catalog = workspace.catalog
    wanted: dict[str, set[str]] = {}
    for name, source in catalog.sources.items():
        wanted.setdefault(name, set()).update(c for c in (source.time, source.key) if c)
        wanted[name].update(join.left_on for join in source.joins)
    for funnel in catalog.funnels.values():
        columns = (funnel.stage, funnel.cohort, funnel.value, funnel.lost_stage, funnel.stage_since)
        wanted.setdefault(funnel.source, set()).update(c for c in columns if c)
    checks: list[Check] = []
    for name, columns in wanted.items():
        if name not in workspace.scanned:
            continue
        present = [c for c in sorted(columns) if c in workspace.scanned[name].collect_schema()]
        if not present:
            continue
        query = workspace.scanned[name].select(pl.col(present).is_not_null().any())

        def say(frame: pl.DataFrame, where: str = workspace.layouts[name].where()) -> str | None:
            empty = [c for c, filled in frame.row(0, named=True).items() if not filled]
            if not empty:
                return None
            return f"{where}: column(s) {', '.join(empty)} hold no value at all; are they the right columns?"

        checks.append((query, say))
    return checks


def _funnel_checks(workspace: Workspace) -> list[Check]:
    """Per funnel: negative values, won deals worth nothing, closes before creation, and with a
    history, deals that skipped a stage or went back to an earlier one."""
    catalog = workspace.catalog
    checks: list[Check] = []
    for funnel in catalog.funnels.values():
        if funnel.source not in workspace.frames:
            continue
        deals = workspace.frames[funnel.source]
        source = catalog.sources[funnel.source]
        name = f"funnel '{funnel.name}'"
        measures = []
        if funnel.value:
            value = pl.col(funnel.value).cast(pl.Float64)
            measures.append((value < 0).sum().alias("negative"))
            if funnel.stage:
                won = stage_index(funnel, funnel.stage) == len(funnel.stages) - 1
                measures.append((won & (value.fill_null(0) == 0)).sum().alias("won_for_nothing"))
        if source.time and funnel.cohort:
            closed, created = pl.col(source.time).cast(pl.Date), pl.col(funnel.cohort).cast(pl.Date)
            measures.append((closed < created).sum().alias("closed_before_created"))
        if measures:
            labels = {
                "negative": f"deals with a negative {funnel.value}",
                "won_for_nothing": f"won deals with an empty or zero {funnel.value}",
                "closed_before_created": (
                    f"deals closed ({source.time}) before they were created ({funnel.cohort})"
                ),
            }

            def say(frame: pl.DataFrame, name: str = name, labels: dict = labels) -> str | None:
                found = [f"{n} {labels[k]}" for k, n in frame.row(0, named=True).items() if n]
                return f"{name}: {'; '.join(found)}" if found else None

            checks.append((deals.select(measures), say))
        if funnel.history and source.key:
            checks.append(_history_check(workspace, funnel.name, source.key))
    return checks


def _history_check(workspace: Workspace, funnel_name: str, key: str) -> Check:
    """Deals whose history skips a funnel stage or returns to an earlier one."""
    funnel = workspace.catalog.funnels[funnel_name]
    assert funnel.history is not None
    history = (
        workspace.scanned[funnel.history.source]
        .with_row_index("__row")
        .select(
            pl.col(key),
            pl.col(funnel.history.entered).alias("__entered"),
            pl.col("__row"),
            stage_index(funnel, funnel.history.stage).alias("__index"),
        )
        .drop_nulls("__index")
        .sort([key, "__entered", "__row"])
    )
    step = pl.col("__index") - pl.col("__index").shift(1).over(key)
    per_deal = history.group_by(key).agg(
        (step > 1).any().alias("skipped"),
        (step < 0).any().alias("backwards"),
    )
    query = per_deal.select(pl.col("skipped").sum(), pl.col("backwards").sum())

    def say(frame: pl.DataFrame) -> str | None:
        row = frame.row(0, named=True)
        notes = []
        if row["skipped"]:
            notes.append(f"{row['skipped']} deal(s) skipped a stage (--strict counts them up to the gap)")
        if row["backwards"]:
            notes.append(f"{row['backwards']} deal(s) went back to an earlier stage")
        return f"funnel '{funnel_name}' history: {'; '.join(notes)}" if notes else None

    return query, say
