"""`salescode why discounts`: does discounting win deals, and what does it cost?

Over the deals closed (won or lost) in the period, by their close date: win rate, deal size and
cycle per discount band, rep and product, each against the whole team. A rep "buys wins" when the
rep's average discount on won deals is at least BUYING (5 points) above the team's and the rep's
win rate is no better than the team's (over at least MIN_DEALS closed deals).

The revenue given away is the list price minus the amount of each won deal. CRM amounts are usually
the price after discount (the sample's are: amount = list price x (1 - discount)), so the list
price is amount / (1 - discount) and the give-away amount x discount / (1 - discount); with
--list-amounts the amount is the list price and the give-away amount x discount.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from salescode.catalog import Catalog
from salescode.periods import Period
from salescode.why import first_funnel, in_period, open_sources, safe_ratio, source_frame, won_values

BUYING = 0.05
MIN_DEALS = 10
BANDS = (0.05, 0.10, 0.15, 0.20)  # upper bounds; the last band is 20% and more
BAND_LABELS = (
    *[f"{round(lo * 100)}-{round(hi * 100)}%" for lo, hi in zip((0.0, *BANDS), BANDS, strict=False)],
    f"{round(BANDS[-1] * 100)}%+",
)
COLUMNS = (
    "dimension",
    "group",
    "closed_deals",
    "won_deals",
    "win_rate",
    "avg_discount",
    "avg_won_deal",
    "avg_cycle_days",
    "won_value",
    "given_away",
    "discount_vs_team",
    "win_rate_vs_team",
    "buys_wins",
)


@dataclass(frozen=True)
class DiscountRequest:
    period: Period
    discount: str = "discount_pct"
    by: tuple[str, ...] = ("rep", "product")
    list_amounts: bool = False  # amounts are list prices (before discount)


@dataclass
class DiscountReport:
    frame: pl.DataFrame
    warnings: list[str] = field(default_factory=list)


def _band(discount: pl.Expr) -> pl.Expr:
    """`0-5%`, `5-10%`, ... `20%+`: the discount band of each deal."""
    band = pl.lit(BAND_LABELS[-1])
    for upper, label in reversed(list(zip(BANDS, BAND_LABELS, strict=False))):
        band = pl.when(discount < upper).then(pl.lit(label)).otherwise(band)
    return pl.when(discount.is_not_null()).then(band)


def discount_effects(catalog: Catalog, request: DiscountRequest) -> DiscountReport:
    funnel = first_funnel(catalog)
    time = catalog.sources[funnel.source].time
    needed = [funnel.stage, funnel.value, funnel.cohort, time, request.discount, *request.by]
    workspace = open_sources(catalog, {funnel.source: needed})
    won = pl.col(funnel.stage).cast(pl.String).is_in(won_values(funnel))
    lost = pl.col(funnel.stage).cast(pl.String).is_in(list(funnel.lost))
    discount = pl.col(request.discount).cast(pl.Float64)
    amount = pl.col(funnel.value).cast(pl.Float64) if funnel.value else pl.lit(None, pl.Float64)
    given = amount * discount if request.list_amounts else amount * safe_ratio(discount, 1 - discount)
    cycle = (
        (pl.col(time).cast(pl.Date) - pl.col(funnel.cohort).cast(pl.Date)).dt.total_days()
        if time and funnel.cohort
        else pl.lit(None, pl.Int64)
    )
    closed = (
        source_frame(workspace, funnel.source, needed)
        .filter((won | lost) & (in_period(time, request.period) if time else pl.lit(True)))
        .select(
            won.alias("won"),
            discount.alias("discount"),
            amount.alias("amount"),
            given.alias("given"),
            cycle.cast(pl.Float64).alias("cycle"),
            _band(discount).alias("band"),
            *[pl.col(d).cast(pl.String).fill_null("(none)") for d in request.by],
        )
    )
    (deals,) = workspace.collect([closed], [funnel.source])
    warnings = []
    undiscounted = int(deals["discount"].is_null().sum())
    if undiscounted:
        warnings.append(
            f"{undiscounted} closed deal(s) have no '{request.discount}': counted in win rates, "
            "left out of the discount bands and averages"
        )
    team = _summary(deals.with_columns(pl.lit("all").alias("__group")))
    parts = [team.with_columns(pl.lit("all").alias("dimension"))]
    for dimension in ("band", *request.by):
        keyed = deals.filter(pl.col(dimension).is_not_null()).with_columns(pl.col(dimension).alias("__group"))
        summary = _summary(keyed).with_columns(pl.lit(dimension).alias("dimension"))
        order = pl.col("group").cast(pl.Enum(BAND_LABELS)) if dimension == "band" else pl.col("group")
        parts.append(summary.sort(order))
    frame = pl.concat(parts, how="vertical_relaxed")
    base_discount, base_rate = team["avg_discount"][0], team["win_rate"][0]
    frame = frame.with_columns(
        (pl.col("avg_discount") - base_discount).alias("discount_vs_team"),
        (pl.col("win_rate") - base_rate).alias("win_rate_vs_team"),
    ).with_columns(
        pl.when((pl.col("dimension") == "rep") & (pl.col("closed_deals") >= MIN_DEALS))
        .then((pl.col("discount_vs_team") >= BUYING) & (pl.col("win_rate_vs_team") <= 0))
        .alias("buys_wins")
    )
    return DiscountReport(frame.select(COLUMNS), warnings)


def _summary(deals: pl.DataFrame) -> pl.DataFrame:
    won = pl.col("won")
    return (
        deals.group_by("__group")
        .agg(
            pl.len().alias("closed_deals"),
            won.sum().alias("won_deals"),
            pl.col("discount").filter(won).mean().alias("avg_discount"),
            pl.col("amount").filter(won).mean().alias("avg_won_deal"),
            pl.col("cycle").filter(won).mean().alias("avg_cycle_days"),
            pl.col("amount").filter(won).sum().alias("won_value"),
            pl.col("given").filter(won).sum().alias("given_away"),
        )
        .with_columns(safe_ratio(pl.col("won_deals"), pl.col("closed_deals")).alias("win_rate"))
        .rename({"__group": "group"})
        .cast({"closed_deals": pl.Int64, "won_deals": pl.Int64})
    )
