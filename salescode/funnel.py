"""Funnel reports: how many deals reached each stage, conversion, drop-off and time in stage.

Three ways a CRM export can say where a deal got to (DESIGN.md §2):
- a current-stage column: a deal at stage k reached every stage up to k; a lost deal reached
  every stage before the last one, or up to the stage its `lost_stage` column names;
- a stage-history source (one row per stage entered): the furthest stage actually entered;
  time in stage comes from consecutive entry dates;
- per-stage conditions (e.g. HubSpot's "Date entered <stage>" columns): a deal reached a stage
  when that stage's filter holds.
All figures of a funnel come from one aggregation over the deals (plus one over the history).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

import polars as pl

from salescode.catalog import Catalog, Funnel, Grain, did_you_mean
from salescode.errors import CatalogError, SalescodeError
from salescode.expressions import columns_of, sql_expr
from salescode.periods import ALL, Period, grain_label, grain_period, previous_period
from salescode.workspace import Workspace, require_dimensions

FUNNEL_COLUMNS = (
    "funnel",
    "stage",
    "step",
)
VALUE_COLUMNS = (
    "reached",
    "conversion",
    "overall",
    "dropped",
    "median_days_in_stage",
    "mean_days_in_stage",
    "value_reached",
    "vs_team",
    "vs_previous",
    "bottleneck",
)
COHORT = "cohort"
FURTHEST = "__furthest"
LOST = "__lost"


class BottleneckRule(StrEnum):
    BELOW_TEAM = "below_team"  # with groups: the step furthest below the whole team's conversion
    FELL_MOST = "fell_most"  # the step whose conversion fell most since the previous period
    LOWEST = "lowest"  # the step with the lowest conversion


@dataclass
class FunnelReport:
    frame: pl.DataFrame
    funnel: Funnel
    period: Period
    by: tuple[str, ...]
    cohort: bool
    strict: bool = False
    warnings: list[str] = field(default_factory=list)
    previous: Period | None = None  # the period vs_previous compares with
    bottleneck_rule: BottleneckRule = BottleneckRule.LOWEST
    cohort_grain: Grain | None = None  # a cohort table: one funnel per creation period

    @property
    def bottleneck_note(self) -> str:
        """How the marked bottleneck was chosen, in words."""
        if self.bottleneck_rule is BottleneckRule.FELL_MOST:
            assert self.previous is not None
            return f"◀ bottleneck: the step whose conversion fell most since {self.previous.label}"
        if self.bottleneck_rule is BottleneckRule.BELOW_TEAM:
            whole = "the conversion of all cohorts together" if self.cohort_grain else "the team's conversion"
            return f"◀ bottleneck: the step furthest below {whole}"
        return "◀ bottleneck: the step with the lowest conversion from the stage before"


def choose_funnel(catalog: Catalog, name: str | None) -> Funnel:
    if not catalog.funnels:
        raise SalescodeError(f"{catalog.path} defines no funnels; add a funnels: section (see README)")
    if name is None:
        return next(iter(catalog.funnels.values()))
    if name not in catalog.funnels:
        raise SalescodeError(
            f"no funnel '{name}' in {catalog.path}{did_you_mean(name, catalog.funnels)} "
            f"(funnels: {', '.join(catalog.funnels)})"
        )
    return catalog.funnels[name]


def funnel_date_columns(catalog: Catalog, funnel: Funnel) -> dict[str, set[str]]:
    """Columns of the funnel's sources that must parse as dates."""
    source = catalog.sources[funnel.source]
    columns = {funnel.source: {c for c in (source.time, funnel.cohort, funnel.stage_since) if c}}
    columns[funnel.source] |= {s.entered for s in funnel.stages if s.entered}
    if funnel.history:
        columns[funnel.history.source] = {funnel.history.entered}
    return columns


def open_funnel(catalog: Catalog, funnel: Funnel, workspace: Workspace | None = None) -> Workspace:
    """The funnel's sources, scanned and checked (in the given workspace when there is one)."""
    sources = [funnel.source] + ([funnel.history.source] if funnel.history else [])
    workspace = workspace or Workspace.open(catalog, sources, funnel_date_columns(catalog, funnel))
    _check_columns(workspace, funnel)
    return workspace


def _check_columns(workspace: Workspace, funnel: Funnel) -> None:
    catalog = workspace.catalog
    path = f"funnels.{funnel.name}"
    source = catalog.sources[funnel.source]
    wanted = {
        "stage": funnel.stage,
        "cohort": funnel.cohort,
        "lost_stage": funnel.lost_stage,
        "value": funnel.value,
        "stage_since": funnel.stage_since,
        f"sources.{funnel.source}.time": source.time,
    }
    if funnel.history:
        wanted[f"sources.{funnel.source}.key"] = source.key
    problems = []
    columns = workspace.columns(funnel.source)
    for key, column in wanted.items():
        if column is not None and column not in columns:
            problems.append(
                f"{path}.{key}: source '{funnel.source}' has no column '{column}'"
                f"{did_you_mean(column, columns)}"
            )
    if funnel.history:
        if not source.key:
            problems.append(
                f"{path}.history: the funnel source '{funnel.source}' needs a key: to match its history"
            )
        history_columns = workspace.columns(funnel.history.source)
        for key in (source.key, funnel.history.stage, funnel.history.entered):
            if key and key not in history_columns:
                problems.append(
                    f"{path}.history: source '{funnel.history.source}' has no column '{key}'"
                    f"{did_you_mean(key, history_columns)}"
                )
    for i, stage in enumerate(funnel.stages):
        for text in (stage.filter, stage.entered):
            if text:
                missing = workspace.missing_columns(funnel.source, sql_expr(text))
                problems += [
                    f"{path}.stages[{i}]: source '{funnel.source}' has no column '{c}'"
                    f"{did_you_mean(c, columns)}"
                    for c in missing
                ]
    if problems:
        raise CatalogError(catalog.path, problems)


def require_funnel_dimensions(workspace: Workspace, funnel: Funnel, by: tuple[str, ...]) -> None:
    """--by names catalog dimensions that the funnel's source has."""
    require_dimensions(workspace.catalog, by)
    for dim in by:
        if dim not in workspace.schemas[funnel.source]:
            raise SalescodeError(
                f"--by {dim}: funnel '{funnel.name}' source '{funnel.source}' has no column '{dim}'; "
                "add a join that brings it in"
            )


def funnel_frame(workspace: Workspace, funnel: Funnel, by: tuple[str, ...]) -> pl.LazyFrame:
    """The funnel source's frame with the joins the funnel reads (grouped by `by`), and no others."""
    source = workspace.catalog.sources[funnel.source]
    columns = {*by, source.key, source.time, funnel.stage, funnel.lost_stage, funnel.value, funnel.cohort}
    columns |= {funnel.stage_since}
    for stage in funnel.stages:
        columns |= {stage.entered} | set(columns_of(sql_expr(stage.filter)) if stage.filter else ())
    return workspace.frame(funnel.source, {c for c in columns if c})


def _deals_in_period(
    workspace: Workspace, funnel: Funnel, period: Period, cohort: bool, by: tuple[str, ...]
) -> pl.LazyFrame:
    """Deals created in the period (cohort), or active in it: created before its end and not
    closed before its start."""
    frame = funnel_frame(workspace, funnel, by)
    if period.is_all:
        return frame
    source = workspace.catalog.sources[funnel.source]
    created = pl.col(funnel.cohort) if funnel.cohort else None
    closed = pl.col(source.time) if source.time else None
    if cohort:
        if created is None:
            raise SalescodeError(
                f"--cohort needs funnels.{funnel.name}.cohort (the date that places a deal in a period)"
            )
        return frame.filter((created >= period.start) & (created < period.end))
    condition = pl.lit(True)
    if created is not None:
        condition = condition & (created < period.end)
    if closed is not None:
        condition = condition & (closed.is_null() | (closed >= period.start))
    if created is None and closed is None:
        raise SalescodeError(
            f"funnel '{funnel.name}' has no dates to place deals in a period; declare "
            f"funnels.{funnel.name}.cohort or sources.{funnel.source}.time, or use --period all"
        )
    return frame.filter(condition.fill_null(False))


def stage_index(funnel: Funnel, column: str) -> pl.Expr:
    """The index of the stage a value names (null for other values)."""
    mapping = {value: i for i, stage in enumerate(funnel.stages) for value in stage.values}
    values_of: dict[int, list[str]] = {}
    for value, i in mapping.items():
        values_of.setdefault(i, []).append(value)
    if not values_of:
        return pl.lit(None, pl.Int32)
    # A chain of comparisons: several times faster than replace_strict over millions of rows.
    text = pl.col(column).cast(pl.String)

    def names(values: list[str]) -> pl.Expr:
        return text == values[0] if len(values) == 1 else text.is_in(values)

    (first, first_values), *others = values_of.items()
    chain = pl.when(names(first_values)).then(pl.lit(first, pl.Int32))
    for i, values in others:
        chain = chain.when(names(values)).then(pl.lit(i, pl.Int32))
    return chain.otherwise(pl.lit(None, pl.Int32))


def _furthest_from_stage_column(funnel: Funnel) -> pl.Expr:
    """Furthest stage index from the current stage: lost deals at lost_stage, else before the last."""
    assert funnel.stage is not None
    lost_at = (
        stage_index(funnel, funnel.lost_stage)
        if funnel.lost_stage
        else pl.lit(len(funnel.stages) - 2, pl.Int32)
    )
    return pl.when(pl.col(LOST)).then(lost_at).otherwise(stage_index(funnel, funnel.stage))


@dataclass
class Staged:
    """The funnel's deals in a period, each with its furthest stage (FURTHEST) and lost flag."""

    deals: pl.LazyFrame
    days: pl.LazyFrame | None  # days in stage per (group, step), where dates allow
    unknown: pl.LazyFrame | None  # stage values in neither stages nor lost, with their counts


def stage_deals(
    workspace: Workspace,
    funnel: Funnel,
    deals: pl.LazyFrame,
    by: tuple[str, ...],
    strict: bool,
) -> Staged:
    """Where each deal got to, from the stage column, the history or the per-stage conditions."""
    unknown = None
    if funnel.stage:
        known = (
            [v for stage in funnel.stages for v in stage.values] + list(funnel.lost) + list(funnel.exclude)
        )
        stage_text = pl.col(funnel.stage).cast(pl.String)
        unknown = (
            deals.filter(~stage_text.is_in(known) | stage_text.is_null())
            .group_by(stage_text.alias("value"))
            .len()
            .sort("len", descending=True)
        )
        deals = deals.filter(stage_text.is_in(known) & ~stage_text.is_in(list(funnel.exclude)))
        deals = deals.with_columns(stage_text.is_in(list(funnel.lost)).alias(LOST))
    else:
        deals = deals.with_columns(pl.lit(False).alias(LOST))
    days = None
    if funnel.history:
        deals, days = _with_history(workspace, funnel, deals, by, strict)
    elif any(stage.filter for stage in funnel.stages):
        deals = deals.with_columns(_furthest_from_filters(funnel, strict))
        days = _days_from_entered_columns(funnel, deals, by)
    else:
        deals = deals.with_columns(_furthest_from_stage_column(funnel).alias(FURTHEST))
    return Staged(deals, days, unknown)


def reach_query(
    workspace: Workspace,
    funnel: Funnel,
    period: Period,
    by: tuple[str, ...],
    cohort: bool = False,
    strict: bool = False,
) -> pl.LazyFrame:
    """Per group, the deals that reached each stage: columns `reached\x1f<step index>` (and
    dropped, value). Lazy, so a report can collect it with its other queries."""
    deals = _deals_in_period(workspace, funnel, period, cohort, by)
    return _reach_query(funnel, stage_deals(workspace, funnel, deals, by, strict).deals, by)


def build_funnel(
    workspace: Workspace,
    funnel: Funnel,
    period: Period,
    by: tuple[str, ...],
    cohort: bool,
    strict: bool = False,
    cohort_grain: Grain | None = None,
) -> FunnelReport:
    """Reach, conversion, drop-off and time in stage for each stage (per --by group).

    strict: a deal counts at a stage only if it entered every earlier stage too (history and
    per-stage conditions; a current-stage column cannot tell, so it changes nothing there).
    cohort_grain: a cohort table, one funnel per creation period of this grain (a `cohort` column).
    Each step is compared with the previous period and, with groups, with the whole team.
    """
    require_funnel_dimensions(workspace, funnel, by)
    groups = by
    # The counts, the time in stage and the unknown stages all read these deals: one read for all.
    deals = _deals_in_period(workspace, funnel, period, cohort or cohort_grain is not None, by).cache()
    if cohort_grain is not None:
        assert funnel.cohort is not None  # _deals_in_period has checked
        label = grain_label(pl.col(funnel.cohort), cohort_grain, workspace.catalog.week_start)
        deals = deals.filter(pl.col(funnel.cohort).is_not_null()).with_columns(label.alias(COHORT))
        groups = (COHORT, *by)
    staged = stage_deals(workspace, funnel, deals, groups, strict)
    previous = None if cohort_grain else previous_period(period, workspace.catalog.week_start)
    queries: dict[str, pl.LazyFrame] = {"counts": _reach_query(funnel, staged.deals, groups)}
    if previous is not None:
        queries["previous"] = reach_query(workspace, funnel, previous, by, cohort, strict)
    if staged.days is not None:
        queries["days"] = staged.days
    if staged.unknown is not None:
        queries["unknown"] = staged.unknown
    if funnel.cohort and (not period.is_all or cohort_grain is not None):
        undated = workspace.frame(funnel.source, [funnel.cohort]).select(
            pl.col(funnel.cohort).is_null().sum()
        )
        queries["undated"] = undated
    occurring = _occurring_stage_queries(workspace, funnel)
    queries |= {f"occurring\x1f{where}": query for where, query in occurring}
    checked = [funnel.source, *([funnel.history.source] if funnel.history else [])]
    frames = dict(zip(queries, workspace.collect(list(queries.values()), checked), strict=True))
    # Deals without the cohort date cannot be placed in a period: say so, never drop silently.
    hint = (
        "they have no cohort"
        if cohort_grain
        else "they cannot be placed in a period; --period all includes them"
    )
    warnings = _stage_warnings(funnel, frames, " or ".join(where for where, _ in occurring), hint)
    frame = _tidy(funnel, frames["counts"], frames.get("days"), groups, frames.get("previous"))
    rule = _bottleneck_rule(frame, groups, previous)
    frame = frame.with_columns(_bottleneck(rule, groups).alias("bottleneck")).select(
        *FUNNEL_COLUMNS, *groups, *VALUE_COLUMNS
    )
    return FunnelReport(frame, funnel, period, by, cohort, strict, warnings, previous, rule, cohort_grain)


def _stage_warnings(
    funnel: Funnel, frames: dict[str, pl.DataFrame], where: str, undated_hint: str
) -> list[str]:
    """Deals left out (unknown stage, no date to place them) and stages that never occur."""
    warnings = []
    unknown = frames.get("unknown")
    if unknown is not None and unknown.height:
        warnings.append(unknown_stages_warning(funnel, unknown))
    undated = frames.get("undated")
    if undated is not None and undated.item():
        warnings.append(
            f"funnel '{funnel.name}': {undated.item()} deal(s) with an empty {funnel.cohort} are left out "
            f"({undated_hint})"
        )
    present = {
        value
        for key, frame in frames.items()
        if key.startswith("occurring")
        for value in frame.to_series().drop_nulls().to_list()
    }
    return warnings + _absent_stages(funnel, where, present)


def unknown_stages_warning(funnel: Funnel, unknown: pl.DataFrame) -> str:
    """The deals left out because their stage is in neither stages nor lost (value, len rows)."""
    listed = ", ".join(f"'{v}' ({n})" for v, n in unknown.iter_rows())
    return (
        f"funnel '{funnel.name}': {unknown['len'].sum()} deal(s) left out, their stage is in neither "
        f"stages nor lost: {listed}; list such values under exclude: to leave them out quietly"
    )


def _occurring_stage_queries(workspace: Workspace, funnel: Funnel) -> list[tuple[str, pl.LazyFrame]]:
    """The distinct stage values in the stage column and the history, over all rows."""
    columns = []
    if funnel.stage:
        columns.append((funnel.source, funnel.stage))
    if funnel.history:
        columns.append((funnel.history.source, funnel.history.stage))
    return [
        (
            f"{source}.{column}",
            workspace.frame(source, [column]).select(pl.col(column).cast(pl.String).unique()),
        )
        for source, column in columns
    ]


def _absent_stages(funnel: Funnel, where: str, present: set[str]) -> list[str]:
    """Warnings for stage values found neither in the stage column nor in the history: a typo?"""
    warnings = []
    expected = [(stage.name, value) for stage in funnel.stages if not stage.filter for value in stage.values]
    expected += [(value, value) for value in funnel.lost]
    # Suggest only values the catalog does not already use ('Closed Lost' is no typo of 'Closed Won').
    unused = present - {value for _, value in expected}
    for name, value in expected:
        if value not in present:
            shown = f"'{name}'" if name == value else f"'{name}' (value '{value}')"
            warnings.append(
                f"funnel '{funnel.name}': stage {shown} never occurs in {where}"
                f"{did_you_mean(value, unused)}; check the spelling in funnels.{funnel.name}"
            )
    return warnings


def _furthest_from_filters(funnel: Funnel, strict: bool) -> pl.Expr:
    """The last stage whose condition holds (stages without a filter match their stage values);
    strict: the last stage of the unbroken run of stages from the first whose conditions hold."""
    furthest = pl.lit(None, pl.Int32)
    run = pl.lit(True)
    for i, stage in enumerate(funnel.stages):
        if stage.filter:
            reached = sql_expr(stage.filter).fill_null(False)
        else:
            assert funnel.stage is not None
            reached = (stage_index(funnel, funnel.stage) >= i).fill_null(False)
        run = run & reached
        furthest = pl.when(run if strict else reached).then(pl.lit(i, pl.Int32)).otherwise(furthest)
    return furthest.alias(FURTHEST)


def _days_from_entered_columns(
    funnel: Funnel, deals: pl.LazyFrame, by: tuple[str, ...]
) -> pl.LazyFrame | None:
    """Days between consecutive stages' entry dates, when the stages name `entered` columns."""
    # A stage lasts until the next stage entered, skipped stages aside (as with a stage history).
    pairs = [
        (i, stage.entered, [later.entered for later in funnel.stages[i + 1 :] if later.entered])
        for i, stage in enumerate(funnel.stages)
        if stage.entered
    ]
    pairs = [(i, entered, later) for i, entered, later in pairs if later]
    if not pairs:
        return None
    spans = [
        (pl.coalesce(later) - pl.col(entered)).dt.total_days(fractional=True).alias(f"d{i}")
        for i, entered, later in pairs
    ]
    rows = (
        deals.select(*by, *spans)
        .unpivot(
            index=list(by), on=[f"d{i}" for i, _, _ in pairs], variable_name="step_key", value_name="days"
        )
        .with_columns(pl.col("step_key").str.slice(1).cast(pl.Int32).alias("step_index"))
    )
    return _summarise_days(rows.drop("step_key"), by)


def _summarise_days(rows: pl.LazyFrame, by: tuple[str, ...]) -> pl.LazyFrame:
    return (
        rows.drop_nulls("days")
        .group_by([*by, "step_index"])
        .agg(
            pl.col("days").median().alias("median_days_in_stage"),
            pl.col("days").mean().alias("mean_days_in_stage"),
        )
    )


def _with_history(
    workspace: Workspace, funnel: Funnel, deals: pl.LazyFrame, by: tuple[str, ...], strict: bool
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Furthest stage entered per deal, and days in each stage, from the stage history.

    strict: the furthest stage of the unbroken run entered from the first stage on (a deal that
    skipped Demo counts up to Qualified, as HubSpot's strict funnel does).
    """
    assert funnel.history is not None
    key = workspace.catalog.sources[funnel.source].key
    assert key is not None
    history = workspace.frame(
        funnel.history.source, [key, funnel.history.entered, funnel.history.stage]
    ).select(
        pl.col(key),
        pl.col(funnel.history.entered).alias("__entered"),
        stage_index(funnel, funnel.history.stage).alias("__index"),
    )
    # Each deal is numbered (__deal) once, so that the sorting and grouping below work on integers
    # rather than on the key's text. The visits keep the order of the history file, and both the
    # furthest stage and the time in stage read them (one scan and join, cached for both).
    deals = deals.with_row_index("__deal")
    visits = (
        history.join(deals.select("__deal", key), on=key, how="inner", maintain_order="left")
        .drop(key)
        .cache()
    )
    if strict:
        # Distinct stages entered, ascending: the unbroken run from stage 0 is where index == rank.
        entered = visits.select("__deal", "__index").drop_nulls().unique().sort("__deal", "__index")
        rank = pl.int_range(pl.len()).over("__deal")
        furthest = (
            entered.with_columns(rank.alias("__rank"))
            .group_by("__deal")
            .agg(((pl.col("__index") == pl.col("__rank")).sum().cast(pl.Int32) - 1).alias("__from_history"))
        )
    else:
        furthest = visits.group_by("__deal").agg(pl.col("__index").max().alias("__from_history"))
    fallback = _furthest_from_stage_column(funnel) if funnel.stage else pl.lit(None, pl.Int32)
    staged = deals.join(furthest, on="__deal", how="left").with_columns(
        pl.coalesce("__from_history", fallback).alias(FURTHEST)
    )
    # Time in stage: from entering a stage to entering the next one (a visit to Lost/Won ends it).
    # Sorted by deal, the next entry is the next row when it belongs to the same deal. The sort is
    # stable: entries of one deal on the same date keep the order of the history file. Dates sort
    # with the deal as one integer (the deal above, the day below), faster than two keys.
    order: list[str | pl.Expr] = ["__deal", "__entered"]
    if visits.collect_schema()["__entered"] == pl.Date:
        day = pl.col("__entered").cast(pl.Int32).cast(pl.Int64) + (1 << 31)
        order = [pl.col("__deal").cast(pl.Int64) * (1 << 32) + day]
    ordered = visits.sort(order, maintain_order=True)
    same_deal = pl.col("__deal").shift(-1) == pl.col("__deal")
    steps = len(funnel.stages)
    per_deal = (
        ordered.with_columns(pl.when(same_deal).then(pl.col("__entered").shift(-1)).alias("__next"))
        .filter(pl.col("__index").is_not_null() & pl.col("__next").is_not_null())
        .select(
            # One integer for (deal, stage): grouping on it is faster than on the pair.
            (pl.col("__deal").cast(pl.Int64) * steps + pl.col("__index")).alias("__visit"),
            (pl.col("__next") - pl.col("__entered")).dt.total_days(fractional=True).alias("days"),
        )
        .group_by("__visit")
        .agg(pl.col("days").sum())
        .select(
            (pl.col("__visit") // steps).cast(pl.UInt32).alias("__deal"),
            (pl.col("__visit") % steps).cast(pl.Int32).alias("step_index"),
            "days",
        )
    )
    if by:
        per_deal = per_deal.join(deals.select("__deal", *by), on="__deal", how="left")
    return staged.drop("__deal"), _summarise_days(per_deal.drop("__deal"), by)


def _reach_query(funnel: Funnel, deals: pl.LazyFrame, by: tuple[str, ...]) -> pl.LazyFrame:
    furthest, lost = pl.col(FURTHEST), pl.col(LOST)
    # Per-row columns first, then plain sums: polars' fast group-by path (see engine._RowColumns).
    columns = []
    for i in range(len(funnel.stages)):
        columns.append((furthest >= i).fill_null(False).alias(f"reached\x1f{i}"))
        columns.append((lost & (furthest == i)).fill_null(False).alias(f"dropped\x1f{i}"))
        if funnel.value:
            value = pl.col(funnel.value).cast(pl.Float64)
            columns.append(pl.when(furthest >= i).then(value).alias(f"value\x1f{i}"))
    names = [c.meta.output_name() for c in columns]
    rows = deals.select(*by, *columns)
    if by:
        return rows.group_by(list(by)).agg(pl.col(names).sum())
    return rows.select(pl.col(names).sum())


def _long(counted: pl.DataFrame, by: tuple[str, ...]) -> pl.DataFrame:
    """The wide per-group counts as one row per group x step_index, a column per measure."""
    long = (
        counted.unpivot(index=list(by), variable_name="key", value_name="n")
        .with_columns(
            pl.col("key").str.split_exact("\x1f", 1).struct.rename_fields(["measure", "step_index"])
        )
        .unnest("key")
        .with_columns(pl.col("step_index").cast(pl.Int32))
    )
    frame = long.pivot(on="measure", index=[*by, "step_index"], values="n")
    # No groups at all (--by over an empty period): no measure columns to pivot into.
    missing = [m for m in ("reached", "dropped", "value") if m not in frame.columns]
    frame = frame.with_columns(pl.lit(None, pl.Float64).alias(m) for m in missing)
    return frame.sort([*by, "step_index"], nulls_last=True)


def _conversions(frame: pl.DataFrame, by: tuple[str, ...]) -> pl.DataFrame:
    """conversion = reached(k) / reached(k-1) and overall = reached(k) / reached(first), per group."""
    reached = pl.col("reached").cast(pl.Float64)
    # Windows even without groups: a division by a scalar may be folded into a multiplication by its
    # reciprocal (7/10 -> 0.7000000000000001); element-wise division stays exact.
    window = list(by) or pl.lit(0)
    first = reached.first().over(window)
    before = reached.shift(1).over(window)
    return frame.with_columns(
        pl.when(before != 0).then(reached / before).alias("conversion"),
        pl.when(first != 0).then(reached / first).alias("overall"),
    )


def _tidy(
    funnel: Funnel,
    counted: pl.DataFrame,
    days: pl.DataFrame | None,
    by: tuple[str, ...],
    previous: pl.DataFrame | None,
) -> pl.DataFrame:
    """One row per stage (x group); conversions computed on the small counted frame.

    previous: the counts of the period before (grouped by the same dimensions), for vs_previous.
    """
    frame = _conversions(_long(counted, by), by)
    if days is not None:
        frame = frame.join(days, on=[*by, "step_index"], how="left", nulls_equal=True)
    else:
        frame = frame.with_columns(
            pl.lit(None, pl.Float64).alias("median_days_in_stage"),
            pl.lit(None, pl.Float64).alias("mean_days_in_stage"),
        )
    if by:
        # Each group against the whole team: conversion from reached summed over the groups.
        team = _conversions(frame.group_by("step_index").agg(pl.col("reached").sum()).sort("step_index"), ())
        frame = frame.join(
            team.select("step_index", pl.col("conversion").alias("__team")), on="step_index", how="left"
        ).with_columns((pl.col("conversion") - pl.col("__team")).alias("vs_team"))
    else:
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias("vs_team"))
    if previous is not None:
        before = _conversions(_long(previous, by), by).select(
            *by, "step_index", pl.col("conversion").alias("__previous")
        )
        frame = frame.join(before, on=[*by, "step_index"], how="left", nulls_equal=True).with_columns(
            (pl.col("conversion") - pl.col("__previous")).alias("vs_previous")
        )
    else:
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias("vs_previous"))
    stages = [stage.name for stage in funnel.stages]
    return frame.with_columns(
        pl.lit(funnel.name).alias("funnel"),
        pl.col("step_index")
        .replace_strict(list(range(len(stages))), stages, return_dtype=pl.String)
        .alias("stage"),
        (pl.col("step_index") + 1).alias("step"),
        pl.col("reached").cast(pl.Int64),
        pl.col("dropped").cast(pl.Int64),
        pl.col("value").alias("value_reached"),
    )


def _bottleneck_rule(frame: pl.DataFrame, by: tuple[str, ...], previous: Period | None) -> BottleneckRule:
    if by:
        return BottleneckRule.BELOW_TEAM
    if previous is not None and (frame["vs_previous"] < 0).any():
        return BottleneckRule.FELL_MOST
    return BottleneckRule.LOWEST


def _bottleneck(rule: BottleneckRule, by: tuple[str, ...]) -> pl.Expr:
    """True on each group's bottleneck step (the worst, below zero where it is a gap)."""
    if rule is BottleneckRule.LOWEST:
        conversion = pl.col("conversion")
        return conversion.is_not_null() & (conversion == conversion.min())
    gap = pl.col("vs_team" if rule is BottleneckRule.BELOW_TEAM else "vs_previous")
    worst = gap.min().over(list(by)) if by else gap.min()
    return (gap.is_not_null() & (gap == worst) & (gap < 0)).fill_null(False)


def latest_date(workspace: Workspace, funnel: Funnel) -> date | None:
    """The latest closing or creation date of the funnel's deals."""
    source = workspace.catalog.sources[funnel.source]
    columns = [c for c in (source.time, funnel.cohort) if c]
    if not columns:
        return None
    latest = (
        workspace.frame(funnel.source, columns)
        .select(pl.max_horizontal(pl.col(c).max() for c in columns))
        .collect()
    )
    day = latest.item()
    return day.date() if isinstance(day, datetime) else day


def latest_funnel_period(workspace: Workspace, funnel: Funnel, grain: Grain, today: date) -> Period:
    """The latest grain period holding a date of the funnel's deals (closing or creation)."""
    source = workspace.catalog.sources[funnel.source]
    if not (source.time or funnel.cohort):
        return ALL
    latest = latest_date(workspace, funnel)
    day = min(latest, today) if latest else today  # never after today
    return grain_period(day, grain, workspace.catalog.week_start)
