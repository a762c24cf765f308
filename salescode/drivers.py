"""`salescode drivers`: test the catalog's `drives` claims (activity → objective → result) on the data.

A unit is one group of `--unit` (a rep, by default) in one `--grain` period. Each candidate metric
and the result are computed per unit by the same engine run as `trend --by rep` (so each figure
equals the report's), then every candidate is paired with the result `lag` periods later and
measured by Spearman's rho (with a confidence interval and a permutation p-value) and a Theil-Sen
slope; Benjamini-Hochberg q-values control the false-discovery rate over all links of the run.

Units where the group has no activity at all (every metric counted over time empty or zero: a rep
before hiring or after leaving) are left out, because pairs of zeros would manufacture a correlation.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from salescode import stats
from salescode.catalog import Catalog, Direction, Grain, Level
from salescode.catalog.parse import did_you_mean
from salescode.engine import ReportRequest, plan_metrics
from salescode.errors import SalescodeError
from salescode.periods import Period
from salescode.trend import TrendRequest, build_trend
from salescode.workspace import require_dimensions

DEFAULT_RESULT = "won_revenue"
DEFAULT_PERIODS = 24  # two years of months: enough rep-months for a lagged correlation
MIN_UNITS = 10  # fewer paired units than this: insufficient data
STRONG = 0.3  # |rho| from which an association missing from the catalog is worth a look
MAX_LAG = 12
SUPPORTED, NOT_SUPPORTED, INSUFFICIENT = "supported", "not supported", "insufficient data"
UNSUPPORTED_LINK, MISSING_LINK = "catalog link not supported", "strong association not in catalog"
COLUMNS = (
    "result",
    "metric",
    "label",
    "level",
    "linked",
    "path",
    "lag",
    "n",
    "rho",
    "ci_low",
    "ci_high",
    "slope",
    "p_value",
    "q_value",
    "expected",
    "verdict",
    "finding",
)


@dataclass(frozen=True)
class DriversRequest:
    result: str | None = None  # None: won_revenue, else the catalog's first result metric
    lags: tuple[int, ...] = (0,)
    grain: Grain = Grain.MONTH
    unit: str = "rep"
    period: Period | None = None  # None: the DEFAULT_PERIODS latest grain periods with data
    everything: bool = False  # test every activity and objective metric, not only the linked ones
    fdr: float = 0.10
    permutations: int = 499
    seed: int = 42
    confidence: float = 0.95


@dataclass
class Drivers:
    frame: pl.DataFrame  # COLUMNS, one row per candidate metric x lag
    result: str
    periods: list[Period]
    request: DriversRequest
    warnings: list[str] = field(default_factory=list)


def parse_lags(text: str) -> tuple[int, ...]:
    """`2` -> (2,); `0..3` -> (0, 1, 2, 3)."""
    low, _, high = text.partition("..")
    try:
        first, last = int(low), int(high or low)
    except ValueError:
        raise SalescodeError(f"--lag '{text}' is not a number of periods; write e.g. 1 or 0..3") from None
    if not 0 <= first <= last <= MAX_LAG:
        raise SalescodeError(
            f"--lag '{text}': lags run from 0 to {MAX_LAG} periods, the first not above the last"
        )
    return tuple(range(first, last + 1))


def drive_paths(catalog: Catalog, result: str) -> dict[str, list[str]]:
    """Per metric with a `drives` path to result: the shortest such path (metric first)."""
    feeders: dict[str, list[str]] = {}
    for metric in catalog.metrics.values():
        for target in metric.drives:
            feeders.setdefault(target, []).append(metric.name)
    paths, queue = {result: [result]}, deque([result])
    while queue:  # breadth-first backwards from the result: the first path found is a shortest one
        name = queue.popleft()
        for feeder in feeders.get(name, []):
            if feeder not in paths:
                paths[feeder] = [feeder, *paths[name]]
                queue.append(feeder)
    del paths[result]
    return paths


def _resolve_result(catalog: Catalog, name: str | None) -> str:
    if name is None:
        if DEFAULT_RESULT in catalog.metrics:
            return DEFAULT_RESULT
        results = [m.name for m in catalog.metrics.values() if m.level is Level.RESULT]
        if not results:
            raise SalescodeError("the catalog has no result metric to explain; name one with --result")
        return results[0]
    if name not in catalog.metrics:
        raise SalescodeError(
            f"--result '{name}': no such metric in the catalog{did_you_mean(name, catalog.metrics)}"
        )
    return name


def _expected_sign(catalog: Catalog, metric: str, result: str) -> int:
    """+1 when more of the metric should mean more of the result; -1 when exactly one is `lower`."""
    lower = [catalog.metrics[name].direction is Direction.LOWER for name in (metric, result)]
    return -1 if lower[0] != lower[1] else 1


def find_drivers(catalog: Catalog, request: DriversRequest, *, today: date) -> Drivers:
    if not 0 < request.fdr < 1:
        raise SalescodeError(f"--fdr {request.fdr}: the false-discovery rate is a fraction, e.g. 0.1")
    if request.permutations < 99:
        raise SalescodeError("--permutations must be at least 99 (499 gives p-values down to 0.002)")
    require_dimensions(catalog, (request.unit,))
    result = _resolve_result(catalog, request.result)
    paths = drive_paths(catalog, result)
    levels = (Level.ACTIVITY, Level.OBJECTIVE)
    candidates = [
        m.name
        for m in catalog.metrics.values()
        if m.level in levels and m.name != result and (request.everything or m.name in paths)
    ]
    if not candidates:
        raise SalescodeError(
            f"no activity or objective metric drives '{result}' in the catalog (drives:); run with --all "
            "to test every activity and objective metric"
        )
    # Plan every metric once, leniently, to learn which candidates can be computed per unit
    # (a metric on a source without the unit's column cannot) without failing on them.
    plan = plan_metrics(catalog, ReportRequest(by=(request.unit,)), None)
    available = {m.name for m in plan.chosen}
    if result not in available:
        raise SalescodeError(
            f"--result '{result}' cannot be computed per {request.unit}; choose another result"
        )
    lacking = [name for name in candidates if name not in available]
    candidates = [name for name in candidates if name in available]
    warnings = (
        [f"not tested (cannot be computed per {request.unit}): {', '.join(lacking)}"] if lacking else []
    )
    if not candidates:
        raise SalescodeError(f"no candidate metric of '{result}' can be computed per {request.unit}")
    trend = build_trend(
        catalog,
        TrendRequest(
            metrics=(result, *candidates),
            by=(request.unit,),
            period=request.period,
            grain=request.grain,
            count=DEFAULT_PERIODS,
        ),
        today=today,
        workspace=plan.workspace,
    )
    warnings += trend.warnings
    # Activity is judged on the metrics counted over time; a snapshot (the account book as exported)
    # is the same in every period and would make a rep look active before being hired.
    dated = [m.name for m in trend.metrics if m.source and catalog.metric_time(m)]
    labels = [p.label for p in trend.periods]
    pairs = _pairs(trend.frame, result, candidates, dated, request.unit, labels, request.lags)
    frame = _measure(catalog, pairs, result, candidates, paths, request)
    return Drivers(frame, result, trend.periods, request, warnings)


def _pairs(
    tidy: pl.DataFrame,
    result: str,
    metrics: list[str],
    dated: list[str],
    unit: str,
    labels: list[str],
    lags: tuple[int, ...],
) -> pl.DataFrame:
    """Long frame link, metric, lag, x, y: the metric in period t and the result in t + lag."""
    order = pl.DataFrame({"period": labels, "t": list(range(len(labels)))})
    values = tidy.select("metric", unit, "period", "value").join(order, on="period")
    active = (
        values.filter(pl.col("metric").is_in(dated) if dated else pl.lit(True))
        .group_by(unit, "t")
        .agg((pl.col("value").fill_null(0) != 0).any().alias("active"))
        .filter("active")
        .select(unit, "t")
    )
    values = values.join(active, on=[unit, "t"])
    outcome = values.filter(pl.col("metric") == result).select(unit, "t", pl.col("value").alias("y"))
    parts = []
    for lag in lags:
        shifted = outcome.with_columns(pl.col("t") - lag)
        parts.append(
            values.filter(pl.col("metric").is_in(metrics))
            .join(shifted, on=[unit, "t"])
            .select("metric", pl.lit(lag).alias("lag"), pl.col("value").alias("x"), "y")
        )
    return (
        pl.concat(parts)
        .drop_nulls(["x", "y"])
        .filter(pl.col("x").is_finite() & pl.col("y").is_finite())
        .with_columns(pl.format("{}\x1f{}", "metric", "lag").alias("link"))
        .cast({"x": pl.Float64, "y": pl.Float64})
    )


def _measure(
    catalog: Catalog,
    pairs: pl.DataFrame,
    result: str,
    metrics: list[str],
    paths: dict[str, list[str]],
    request: DriversRequest,
) -> pl.DataFrame:
    links = pl.DataFrame(
        [
            {
                "link": f"{name}\x1f{lag}",
                "metric": name,
                "label": catalog.metrics[name].label,
                "level": catalog.metrics[name].level.value,
                "linked": name in paths,
                "path": " → ".join(paths.get(name, [])),
                "lag": lag,
                "sign": _expected_sign(catalog, name, result),
            }
            for name in metrics
            for lag in request.lags
        ],
        schema_overrides={"lag": pl.Int64, "sign": pl.Int64},
    )
    measured = stats.spearman(pairs)
    low, high = stats.fisher_interval(pl.col("rho"), pl.col("n"), request.confidence)
    measured = measured.with_columns(low.alias("ci_low"), high.alias("ci_high"))
    measured = measured.join(stats.permutation_pvalue(pairs, request.permutations, request.seed), on="link")
    measured = measured.join(stats.theil_sen(pairs), on="link", how="left")
    frame = links.join(measured, on="link", how="left").with_columns(pl.col("n").fill_null(0).cast(pl.Int64))
    enough = (pl.col("n") >= MIN_UNITS) & pl.col("rho").is_not_null()
    frame = frame.with_columns(
        pl.when(enough).then(pl.col("p_value")).alias("p_value"),
    ).with_columns(stats.benjamini_hochberg(pl.col("p_value")).alias("q_value"))
    significant = pl.col("q_value") <= request.fdr
    right_way = pl.col("rho").sign() == pl.col("sign")
    frame = frame.with_columns(
        pl.when(~enough)
        .then(pl.lit(INSUFFICIENT))
        .when(significant & right_way)
        .then(pl.lit(SUPPORTED))
        .otherwise(pl.lit(NOT_SUPPORTED))
        .alias("verdict"),
        pl.when(pl.col("sign") > 0).then(pl.lit("positive")).otherwise(pl.lit("negative")).alias("expected"),
    ).with_columns(
        pl.when(pl.col("linked") & (pl.col("verdict") == NOT_SUPPORTED))
        .then(pl.lit(UNSUPPORTED_LINK))
        .when(~pl.col("linked") & significant & (pl.col("rho").abs() >= STRONG))
        .then(pl.lit(MISSING_LINK))
        .alias("finding"),
        pl.lit(result).alias("result"),
    )
    return frame.select(COLUMNS)
