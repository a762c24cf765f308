"""`salescode why churn`: who churned, why, and what account management looked like before.

An account churned in the period when its churn date falls in it. For each churned account the
window is the --months months before its churn date; for each retained customer, the --months
months before the reference day (the period's last day, or the latest activity on or before today
when that is earlier, so that a window never runs past the data). Over each window: whether the
account was touched (any activity), the meetings held (the --meetings metric's filter), and the
days from the last touch before the window's end to that end (recency).

Retained customers are accounts not churned by the reference day that have a won deal by then
(when the funnel's source carries the accounts' key; otherwise every account not churned). At
risk: retained customers showing the churned pattern of their segment: no meeting in the window
and a last touch at least as old as the churned accounts' median recency (or none at all).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl

from salescode.catalog import Catalog, MetricKind
from salescode.catalog.parse import did_you_mean
from salescode.errors import SalescodeError
from salescode.expressions import columns_of, sql_expr
from salescode.periods import Period
from salescode.why import first_funnel, in_period, open_sources, safe_ratio, source_frame, won_values

ALL = "all"
COLUMNS = (
    "segment",
    "group",
    "reason",
    "accounts",
    "share",
    "touched_share",
    "meetings_per_account",
    "no_meeting_share",
    "median_days_since_touch",
)
AT_RISK_COLUMNS = ("account", "segment", "owner", "last_touch", "days_since_touch", "touches", "meetings")


@dataclass(frozen=True)
class ChurnRequest:
    period: Period
    accounts: str = "accounts"
    churn_date: str = "churn_date"
    reason: str = "churn_reason"
    segment: str = "segment"
    owner: str = "rep"
    meetings: str = "meetings_held"
    months: int = 6


@dataclass
class ChurnReport:
    frame: pl.DataFrame
    at_risk: pl.DataFrame
    reference: date | None
    warnings: list[str] = field(default_factory=list)


def _meetings_metric(catalog: Catalog, name: str) -> tuple[str, str, pl.Expr]:
    """The activity source, its date column and the meeting condition, from a count metric."""
    metric = catalog.metrics.get(name)
    if metric is None:
        raise SalescodeError(f"--meetings '{name}': no such metric{did_you_mean(name, catalog.metrics)}")
    time = catalog.metric_time(metric)
    if metric.kind is not MetricKind.SIMPLE or metric.source is None or time is None:
        raise SalescodeError(
            f"--meetings '{name}' must be a metric counting rows of a dated source (agg: count, a filter)"
        )
    return metric.source, time, sql_expr(metric.filter) if metric.filter else pl.lit(True)


def churn_report(catalog: Catalog, request: ChurnRequest, *, today: date) -> ChurnReport:
    if request.months < 1:
        raise SalescodeError("--months must be 1 or more")
    if request.accounts not in catalog.sources:
        raise SalescodeError(
            f"--accounts '{request.accounts}': no such source"
            f"{did_you_mean(request.accounts, catalog.sources)}"
        )
    key = catalog.sources[request.accounts].key
    if key is None:
        raise SalescodeError(
            f"sources.{request.accounts}: declare its key (e.g. key: account_id) for why churn"
        )
    activities, time, is_meeting = _meetings_metric(catalog, request.meetings)
    funnel = first_funnel(catalog)
    deal_time = catalog.sources[funnel.source].time
    needs: dict[str, list[str | None]] = {
        request.accounts: [key, request.churn_date, request.reason, request.segment],
        activities: [key, time],
        funnel.source: [funnel.stage],
    }
    workspace = open_sources(catalog, needs)
    owner = request.owner if request.owner in workspace.columns(request.accounts) else None
    # Customers are told from prospects by a won deal, when deals carry the accounts' key.
    deals_have_key = key in workspace.columns(funnel.source) and deal_time is not None

    acts = source_frame(workspace, activities, [key, time, *columns_of(is_meeting)]).select(
        pl.col(key).cast(pl.String).alias("key"),
        pl.col(time).cast(pl.Date).alias("day"),
        is_meeting.fill_null(False).alias("meeting"),
    )
    last_day = acts.filter(pl.col("day") <= today).select(pl.col("day").max().alias("reference"))
    if not request.period.is_all and request.period.end is not None:
        end = min(request.period.end.toordinal() - 1, today.toordinal())
        last_day = last_day.select(
            pl.min_horizontal("reference", pl.lit(date.fromordinal(end))).alias("reference")
        )
    churned = pl.col(request.churn_date).cast(pl.Date)
    accounts = (
        source_frame(workspace, request.accounts, [*needs[request.accounts], owner])
        .select(
            pl.col(key).cast(pl.String).alias("key"),
            pl.col(request.segment).cast(pl.String).fill_null("(none)").alias("segment"),
            churned.alias("churned_on"),
            pl.col(request.reason).cast(pl.String).fill_null("(not recorded)").alias("reason"),
            (pl.col(owner).cast(pl.String) if owner else pl.lit(None, pl.String)).alias("owner"),
            in_period(request.churn_date, request.period).fill_null(False).alias("in_period"),
        )
        .join(last_day, how="cross")
    )
    if deals_have_key:
        won = (
            source_frame(workspace, funnel.source, [key, funnel.stage, deal_time])
            .filter(pl.col(funnel.stage).cast(pl.String).is_in(won_values(funnel)))
            .group_by(pl.col(key).cast(pl.String).alias("key"))
            .agg(pl.col(deal_time).cast(pl.Date).min().alias("first_won"))
        )
        accounts = accounts.join(won, on="key", how="left")
        customer = pl.col("first_won") <= pl.col("reference")
    else:
        customer = pl.lit(True)
    accounts = accounts.with_columns(
        pl.when(
            pl.col("churned_on").is_not_null()
            & pl.col("in_period")
            & (pl.col("churned_on") <= pl.col("reference"))
        )
        .then(pl.lit("churned"))
        .when(
            (pl.col("churned_on").is_null() | (pl.col("churned_on") > pl.col("reference")))
            & customer.fill_null(False)
        )
        .then(pl.lit("retained"))
        .alias("group")
    ).filter(pl.col("group").is_not_null())
    accounts = accounts.with_columns(
        pl.when(pl.col("group") == "churned").then("churned_on").otherwise("reference").alias("end")
    ).with_columns(pl.col("end").dt.offset_by(f"-{request.months}mo").alias("start"))
    touched = (
        acts.join(accounts.select("key", "start", "end"), on="key")
        .filter(pl.col("day") < pl.col("end"))
        .group_by("key")
        .agg(
            pl.col("day").max().alias("last_touch"),
            (pl.col("day") >= pl.col("start")).sum().alias("touches"),
            ((pl.col("day") >= pl.col("start")) & pl.col("meeting")).sum().alias("meetings"),
        )
    )
    measured = (
        accounts.join(touched, on="key", how="left")
        .with_columns(
            pl.col("touches").fill_null(0).cast(pl.Int64),
            pl.col("meetings").fill_null(0).cast(pl.Int64),
            (pl.col("end") - pl.col("last_touch")).dt.total_days().alias("days_since_touch"),
        )
        .select(
            "key",
            "segment",
            "group",
            "reason",
            "owner",
            "last_touch",
            "touches",
            "meetings",
            "days_since_touch",
            "reference",
        )
    )
    (frame,) = workspace.collect([measured], needs)
    reference = frame["reference"].max() if frame.height else None
    return ChurnReport(_summary(frame), _at_risk(frame), reference)  # type: ignore[arg-type]


def _measures() -> list[pl.Expr]:
    return [
        pl.len().alias("accounts"),
        (pl.col("touches") > 0).mean().alias("touched_share"),
        pl.col("meetings").mean().alias("meetings_per_account"),
        (pl.col("meetings") == 0).mean().alias("no_meeting_share"),
        pl.col("days_since_touch").median().alias("median_days_since_touch"),
    ]


def _summary(frame: pl.DataFrame) -> pl.DataFrame:
    both = pl.concat([frame, frame.with_columns(pl.lit(ALL).alias("segment"))])
    groups = (
        both.group_by("segment", "group")
        .agg(_measures())
        .with_columns(pl.lit(None, pl.String).alias("reason"))
    )
    total = pl.col("accounts").sum().over("segment")
    groups = groups.with_columns(safe_ratio(pl.col("accounts"), total).alias("share"))
    reasons = (
        both.filter(pl.col("group") == "churned")
        .group_by("segment", "group", "reason")
        .agg(_measures())
        .with_columns(safe_ratio(pl.col("accounts"), pl.col("accounts").sum().over("segment")).alias("share"))
    )
    order = pl.when(pl.col("segment") == ALL).then(0).otherwise(1)
    return (
        pl.concat([groups.select(COLUMNS), reasons.select(COLUMNS)])
        .cast({"accounts": pl.Int64})
        .sort(
            [order, "segment", "group", pl.col("reason").is_not_null(), "accounts"],
            descending=[False, False, False, False, True],
        )
    )


def _at_risk(frame: pl.DataFrame) -> pl.DataFrame:
    churned_recency = (
        frame.filter(pl.col("group") == "churned")
        .group_by("segment")
        .agg(pl.col("days_since_touch").median().alias("churned_recency"))
    )
    return (
        frame.filter(pl.col("group") == "retained")
        .join(churned_recency, on="segment")
        .filter(
            (pl.col("meetings") == 0)
            & (
                pl.col("days_since_touch").is_null()
                | (pl.col("days_since_touch") >= pl.col("churned_recency"))
            )
        )
        .sort(["days_since_touch", "key"], descending=[True, False], nulls_last=False)
        .select(pl.col("key").alias("account"), *AT_RISK_COLUMNS[1:])
    )
