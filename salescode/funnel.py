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

import polars as pl

from salescode.catalog import Catalog, Funnel, Grain, did_you_mean
from salescode.errors import CatalogError, SalescodeError
from salescode.expressions import sql_expr
from salescode.periods import ALL, Period, grain_period
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
    "bottleneck",
)
_FURTHEST = "__furthest"
_LOST = "__lost"


@dataclass
class FunnelReport:
    frame: pl.DataFrame
    funnel: Funnel
    period: Period
    by: tuple[str, ...]
    cohort: bool
    strict: bool = False
    warnings: list[str] = field(default_factory=list)


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
    columns = {funnel.source: {c for c in (source.time, funnel.cohort) if c}}
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


def _deals_in_period(workspace: Workspace, funnel: Funnel, period: Period, cohort: bool) -> pl.LazyFrame:
    """Deals created in the period (cohort), or active in it: created before its end and not
    closed before its start."""
    frame = workspace.frames[funnel.source]
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


def _stage_index(funnel: Funnel, column: str) -> pl.Expr:
    mapping = {value: i for i, stage in enumerate(funnel.stages) for value in stage.values}
    return pl.col(column).cast(pl.String).replace_strict(mapping, default=None, return_dtype=pl.Int32)


def _furthest_from_stage_column(funnel: Funnel) -> pl.Expr:
    """Furthest stage index from the current stage: lost deals at lost_stage, else before the last."""
    assert funnel.stage is not None
    lost_at = (
        _stage_index(funnel, funnel.lost_stage)
        if funnel.lost_stage
        else pl.lit(len(funnel.stages) - 2, pl.Int32)
    )
    return pl.when(pl.col(_LOST)).then(lost_at).otherwise(_stage_index(funnel, funnel.stage))


def build_funnel(
    workspace: Workspace,
    funnel: Funnel,
    period: Period,
    by: tuple[str, ...],
    cohort: bool,
    strict: bool = False,
) -> FunnelReport:
    """Reach, conversion, drop-off and time in stage for each stage (per --by group).

    strict: a deal counts at a stage only if it entered every earlier stage too (history and
    per-stage conditions; a current-stage column cannot tell, so it changes nothing there).
    """
    require_dimensions(workspace.catalog, by)
    for dim in by:
        if dim not in workspace.schemas[funnel.source]:
            raise SalescodeError(
                f"--by {dim}: funnel '{funnel.name}' source '{funnel.source}' has no column '{dim}'; "
                "add a join that brings it in"
            )
    deals = _deals_in_period(workspace, funnel, period, cohort)
    warnings: list[str] = []
    unknown_query = None
    if funnel.stage:
        known = (
            [v for stage in funnel.stages for v in stage.values] + list(funnel.lost) + list(funnel.exclude)
        )
        stage_text = pl.col(funnel.stage).cast(pl.String)
        unknown_query = (
            deals.filter(~stage_text.is_in(known) | stage_text.is_null())
            .group_by(pl.col(funnel.stage).cast(pl.String).alias("value"))
            .len()
            .sort("len", descending=True)
        )
        deals = deals.filter(stage_text.is_in(known) & ~stage_text.is_in(list(funnel.exclude)))
        deals = deals.with_columns(stage_text.is_in(list(funnel.lost)).alias(_LOST))
    else:
        deals = deals.with_columns(pl.lit(False).alias(_LOST))
    days = None
    if funnel.history:
        deals, days = _with_history(workspace, funnel, deals, by, strict)
    elif any(stage.filter for stage in funnel.stages):
        deals = deals.with_columns(_furthest_from_filters(funnel, strict))
        days = _days_from_entered_columns(funnel, deals, by)
    else:
        deals = deals.with_columns(_furthest_from_stage_column(funnel).alias(_FURTHEST))
    counts = _reach_query(funnel, deals, by)
    occurring = _occurring_stage_queries(workspace, funnel)
    undated = None
    if funnel.cohort and not period.is_all:
        # Deals without the cohort date cannot be placed in a period: say so, never drop silently.
        undated = workspace.frames[funnel.source].select(pl.col(funnel.cohort).is_null().sum())
    checks = workspace.key_checks([funnel.source])
    queries = (
        [counts, *checks.values()]
        + ([days] if days is not None else [])
        + ([unknown_query] if unknown_query is not None else [])
        + [query for _, query in occurring]
        + ([undated] if undated is not None else [])
    )
    try:
        frames = pl.collect_all(queries)
    except pl.exceptions.PolarsError as exc:
        raise workspace.explain_failure(exc) from exc
    counted, rest = frames[0], frames[1:]
    workspace.raise_on_repeated_keys({source: rest.pop(0) for source in checks})
    day_frame = rest.pop(0) if days is not None else None
    if unknown_query is not None:
        unknown = rest.pop(0)
        if unknown.height:
            listed = ", ".join(f"'{v}' ({n})" for v, n in unknown.iter_rows())
            warnings.append(
                f"funnel '{funnel.name}': {unknown['len'].sum()} deal(s) left out, their stage is in neither "
                f"stages nor lost: {listed}; list such values under exclude: to leave them out quietly"
            )
    if undated is not None:
        missing = rest.pop().item()
        if missing:
            warnings.append(
                f"funnel '{funnel.name}': {missing} deal(s) with an empty {funnel.cohort} are left out "
                "(they cannot be placed in a period); --period all includes them"
            )
    present = {value for frame in rest for value in frame.to_series().drop_nulls().to_list()}
    warnings += _absent_stages(funnel, " or ".join(where for where, _ in occurring), present)
    frame = _tidy(funnel, counted, day_frame, by)
    return FunnelReport(frame, funnel, period, by, cohort, strict, warnings)


def _occurring_stage_queries(workspace: Workspace, funnel: Funnel) -> list[tuple[str, pl.LazyFrame]]:
    """The distinct stage values in the stage column and the history, over all rows."""
    columns = []
    if funnel.stage:
        columns.append((funnel.source, funnel.stage))
    if funnel.history:
        columns.append((funnel.history.source, funnel.history.stage))
    return [
        (f"{source}.{column}", workspace.frames[source].select(pl.col(column).cast(pl.String).unique()))
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
            reached = (_stage_index(funnel, funnel.stage) >= i).fill_null(False)
        run = run & reached
        furthest = pl.when(run if strict else reached).then(pl.lit(i, pl.Int32)).otherwise(furthest)
    return furthest.alias(_FURTHEST)


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
    history = workspace.frames[funnel.history.source].select(
        pl.col(key),
        pl.col(funnel.history.entered).alias("__entered"),
        _stage_index(funnel, funnel.history.stage).alias("__index"),
    )
    visits = deals.select(key, *by).join(history, on=key, how="inner")
    if strict:
        # Distinct stages entered, ascending: the unbroken run from stage 0 is where index == rank.
        entered = visits.select(key, "__index").drop_nulls().unique().sort(key, "__index")
        rank = pl.int_range(pl.len()).over(key)
        furthest = (
            entered.with_columns(rank.alias("__rank"))
            .group_by(key)
            .agg(((pl.col("__index") == pl.col("__rank")).sum().cast(pl.Int32) - 1).alias("__from_history"))
        )
    else:
        furthest = visits.group_by(key).agg(pl.col("__index").max().alias("__from_history"))
    fallback = _furthest_from_stage_column(funnel) if funnel.stage else pl.lit(None, pl.Int32)
    deals = deals.join(furthest, on=key, how="left").with_columns(
        pl.coalesce("__from_history", fallback).alias(_FURTHEST)
    )
    # Time in stage: from entering a stage to entering the next one (a visit to Lost/Won ends it).
    ordered = visits.sort([key, "__entered"]).with_columns(
        pl.col("__entered").shift(-1).over(key).alias("__next")
    )
    per_deal = (
        ordered.filter(pl.col("__index").is_not_null() & pl.col("__next").is_not_null())
        .with_columns((pl.col("__next") - pl.col("__entered")).dt.total_days(fractional=True).alias("days"))
        .group_by([key, *by, "__index"])
        .agg(pl.col("days").sum())
        .rename({"__index": "step_index"})
        .drop(key)
    )
    return deals, _summarise_days(per_deal, by)


def _reach_query(funnel: Funnel, deals: pl.LazyFrame, by: tuple[str, ...]) -> pl.LazyFrame:
    furthest, lost = pl.col(_FURTHEST), pl.col(_LOST)
    aggregations = []
    for i in range(len(funnel.stages)):
        aggregations.append((furthest >= i).fill_null(False).sum().alias(f"reached\x1f{i}"))
        aggregations.append((lost & (furthest == i)).fill_null(False).sum().alias(f"dropped\x1f{i}"))
        if funnel.value:
            aggregations.append(
                pl.col(funnel.value).cast(pl.Float64).filter(furthest >= i).sum().alias(f"value\x1f{i}")
            )
    if by:
        return deals.group_by(list(by)).agg(aggregations)
    return deals.select(aggregations)


def _tidy(
    funnel: Funnel, counted: pl.DataFrame, days: pl.DataFrame | None, by: tuple[str, ...]
) -> pl.DataFrame:
    """One row per stage (x group); conversions computed on the small counted frame."""
    stage_count = len(funnel.stages)
    long = (
        counted.unpivot(index=list(by), variable_name="key", value_name="n")
        .with_columns(
            pl.col("key").str.split_exact("\x1f", 1).struct.rename_fields(["measure", "step_index"])
        )
        .unnest("key")
        .with_columns(pl.col("step_index").cast(pl.Int32))
    )
    frame = long.pivot(on="measure", index=[*by, "step_index"], values="n").sort(
        [*by, "step_index"], nulls_last=True
    )
    if "value" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias("value"))
    if days is not None:
        frame = frame.join(days, on=[*by, "step_index"], how="left", nulls_equal=True)
    else:
        frame = frame.with_columns(
            pl.lit(None, pl.Float64).alias("median_days_in_stage"),
            pl.lit(None, pl.Float64).alias("mean_days_in_stage"),
        )
    over = list(by) or None
    reached = pl.col("reached").cast(pl.Float64)
    # Windows even without groups: a division by a scalar may be folded into a multiplication by its
    # reciprocal (7/10 -> 0.7000000000000001); element-wise division stays exact.
    window = over or pl.lit(0)
    first = reached.first().over(window)
    before = reached.shift(1).over(window)
    frame = frame.with_columns(
        pl.when(before != 0).then(reached / before).alias("conversion"),
        pl.when(first != 0).then(reached / first).alias("overall"),
    )
    if over:
        # Each group against the whole team: the bottleneck is the step furthest below the team.
        team = frame.group_by("step_index").agg(pl.col("reached").sum().cast(pl.Float64).alias("__team"))
        team = team.sort("step_index").with_columns(
            pl.when(pl.col("__team").shift(1) != 0)
            .then(pl.col("__team") / pl.col("__team").shift(1))
            .alias("__team_conversion")
        )
        frame = frame.join(team.drop("__team"), on="step_index", how="left").with_columns(
            (pl.col("conversion") - pl.col("__team_conversion")).alias("vs_team")
        )
        gap = pl.col("vs_team")
        worst = gap.min().over(over)
        bottleneck = gap.is_not_null() & (gap == worst) & (gap < 0)
    else:
        # The step with the lowest conversion from the stage before.
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias("vs_team"))
        bottleneck = pl.col("conversion").is_not_null() & (pl.col("conversion") == pl.col("conversion").min())
    stages = [stage.name for stage in funnel.stages]
    frame = frame.with_columns(
        pl.lit(funnel.name).alias("funnel"),
        pl.col("step_index")
        .replace_strict(list(range(stage_count)), stages, return_dtype=pl.String)
        .alias("stage"),
        (pl.col("step_index") + 1).alias("step"),
        bottleneck.alias("bottleneck"),
        pl.col("reached").cast(pl.Int64),
        pl.col("dropped").cast(pl.Int64),
        pl.col("value").alias("value_reached"),
    )
    return frame.select(*FUNNEL_COLUMNS, *by, *VALUE_COLUMNS)


def latest_funnel_period(workspace: Workspace, funnel: Funnel, grain: Grain, today: date) -> Period:
    """The latest grain period holding a date of the funnel's deals (closing or creation)."""
    source = workspace.catalog.sources[funnel.source]
    columns = [c for c in (source.time, funnel.cohort) if c]
    if not columns:
        return ALL
    latest = (
        workspace.frames[funnel.source].select(pl.max_horizontal(pl.col(c).max() for c in columns)).collect()
    )
    day = latest.item()
    if isinstance(day, datetime):
        day = day.date()
    return grain_period(day or today, grain, workspace.catalog.week_start)
