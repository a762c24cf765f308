"""Small, vectorised statistics for `salescode drivers`, in polars (no numpy/scipy at run time).

Every function takes a long frame of paired observations, one row per unit, with a `link` column
naming the pair of series (so all links are computed in one query) and float columns `x` and `y`
without nulls. Results are one row per link. Undefined statistics (a constant series, too few
units) are null, never NaN, so that callers can say "insufficient data".

- Spearman's rho is Pearson's correlation of the average ranks (ties share the mean rank).
- The confidence interval is Fisher's z-transform with the Fieller-Hartley-Pearson variance
  1.06 / (n - 3), the usual interval for a rank correlation.
- The p-value is a two-sided permutation test: the share of random re-pairings of x with y whose
  |rho| is at least the observed one, counting the observed pairing itself ((k + 1) / (B + 1),
  never 0). The permutations come from one `random.Random(seed)`, so a run is reproducible.
- The slope is Theil-Sen: the median of the slopes between all pairs of units with different x
  (equal within a relative 1e-9 counts as equal), robust to outliers (a single huge deal) where least
  squares is not.
- Benjamini-Hochberg q-values turn the p-values of a family of tests into false-discovery rates.
"""

from __future__ import annotations

import random
from statistics import NormalDist

import polars as pl


def _ranked(pairs: pl.DataFrame) -> pl.LazyFrame:
    return pairs.lazy().with_columns(
        pl.col("x").rank("average").over("link").alias("rx"),
        pl.col("y").rank("average").over("link").alias("ry"),
    )


def _finite(expr: pl.Expr) -> pl.Expr:
    """NaN (polars' correlation of a constant series) as null."""
    return pl.when(expr.is_nan()).then(None).otherwise(expr)


def spearman(pairs: pl.DataFrame) -> pl.DataFrame:
    """Per link: n (units) and rho (null when either series is constant or n < 3)."""
    return (
        _ranked(pairs)
        .group_by("link", maintain_order=True)
        .agg(pl.len().alias("n"), pl.corr("rx", "ry").alias("rho"))
        .with_columns(
            pl.when(pl.col("n") >= 3).then(_finite(pl.col("rho"))).alias("rho"),
        )
        .collect()
    )


def fisher_interval(rho: pl.Expr, n: pl.Expr, level: float = 0.95) -> tuple[pl.Expr, pl.Expr]:
    """Lower and upper bounds of rho's confidence interval (null for n <= 3 or |rho| = 1)."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    # Clip so that rho = ±1 (a perfect rank match) gives a finite z and an interval that ends at ±1.
    centre = rho.clip(-0.999999, 0.999999).arctanh()
    spread = z * (1.06 / (n.cast(pl.Float64) - 3)).sqrt()
    defined = (n > 3) & rho.is_not_null()
    return (
        pl.when(defined).then((centre - spread).tanh()),
        pl.when(defined).then((centre + spread).tanh()),
    )


def permutation_pvalue(pairs: pl.DataFrame, permutations: int, seed: int) -> pl.DataFrame:
    """Per link: p_value of |rho| under random re-pairing (null where rho is undefined)."""
    observed = spearman(pairs)
    if pairs.is_empty():
        return observed.select("link", pl.lit(None, pl.Float64).alias("p_value"))
    width = int(observed["n"].max())  # type: ignore[arg-type]
    rng = random.Random(seed)
    # One random key per (permutation, position); ranking the first n keys of a permutation
    # gives a uniformly random order of a link's n units. Same keys for every link: reproducible.
    keys = pl.DataFrame(
        {
            "b": pl.int_range(0, permutations * width, eager=True) // width,
            "i": pl.int_range(0, permutations * width, eager=True) % width,
            "key": [rng.random() for _ in range(permutations * width)],
        }
    ).cast({"b": pl.Int32, "i": pl.Int32})
    ranked = _ranked(pairs).with_columns((pl.int_range(pl.len()).over("link")).cast(pl.Int32).alias("i"))
    shuffled = (
        ranked.select("link", "i", "rx")
        .join(keys.lazy(), on="i")
        .with_columns((pl.col("key").rank("ordinal").over("link", "b") - 1).cast(pl.Int32).alias("j"))
        .join(ranked.select("link", pl.col("i").alias("j"), "ry"), on=["link", "j"])
        .group_by("link", "b")
        .agg(pl.corr("rx", "ry").alias("rho_b"))
    )
    counted = (
        shuffled.join(observed.lazy(), on="link")
        # A permuted |rho| equal to the observed one up to rounding counts as "at least as extreme".
        .group_by("link")
        .agg((pl.col("rho_b").abs() >= pl.col("rho").abs() - 1e-12).sum().alias("k"))
        .collect()
    )
    return observed.join(counted, on="link", how="left").select(
        "link",
        pl.when(pl.col("rho").is_not_null())
        .then((pl.col("k").fill_null(0) + 1) / (permutations + 1))
        .alias("p_value"),
    )


def _tie_tolerance() -> pl.Expr:
    return 1e-9 * (pl.col("x").abs() + pl.col("x_j").abs())


def theil_sen(pairs: pl.DataFrame) -> pl.DataFrame:
    """Per link: slope, the median of (y_j - y_i) / (x_j - x_i) over pairs with x_i != x_j."""
    indexed = pairs.lazy().with_columns(pl.int_range(pl.len()).over("link").alias("i"))
    slopes = (
        indexed.join(indexed, on="link", suffix="_j")
        # x values equal up to rounding (two means of the same deals summed in another order) are
        # ties: their slope would be a huge number decided by floating-point noise.
        .filter((pl.col("i") < pl.col("i_j")) & ((pl.col("x_j") - pl.col("x")).abs() > _tie_tolerance()))
        .group_by("link")
        .agg(((pl.col("y_j") - pl.col("y")) / (pl.col("x_j") - pl.col("x"))).median().alias("slope"))
    )
    links = pairs.lazy().select("link").unique(maintain_order=True)
    return links.join(slopes, on="link", how="left").collect()


def benjamini_hochberg(p: pl.Expr) -> pl.Expr:
    """q-values of the p-values in p (nulls stay null and do not count as tests)."""
    m = p.is_not_null().sum()
    rank = p.rank("ordinal")
    raw = (p * m / rank).clip(upper_bound=1.0)
    # q_(i) = min over j >= i of p_(j) m / j: a running minimum from the largest p downwards.
    order = p.arg_sort(descending=True, nulls_last=True)
    running = raw.gather(order).cum_min()
    return running.gather(order.arg_sort())
