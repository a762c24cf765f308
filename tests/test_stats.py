"""salescode.stats against worked examples and second implementations written here in plain Python."""

from __future__ import annotations

import itertools
import math
import statistics

import polars as pl
import pytest

from salescode import stats


def pairs(**links: tuple[list[float], list[float]]) -> pl.DataFrame:
    rows = [(name, x, y) for name, (xs, ys) in links.items() for x, y in zip(xs, ys, strict=True)]
    return pl.DataFrame(rows, schema={"link": pl.String, "x": pl.Float64, "y": pl.Float64}, orient="row")


def average_ranks(values: list[float]) -> list[float]:
    """Ranks 1..n, tied values sharing the mean of the ranks they span."""
    ordered = sorted(values)
    return [ordered.index(v) + 1 + (ordered.count(v) - 1) / 2 for v in values]


def reference_rho(xs: list[float], ys: list[float]) -> float:
    """Spearman's rho as Pearson's r of average ranks, from the definition."""
    rx, ry = average_ranks(xs), average_ranks(ys)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    return cov / math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))


def by_link(frame: pl.DataFrame, column: str) -> dict[str, float | None]:
    return dict(zip(frame["link"], frame[column], strict=True))


def test_spearman_without_ties_matches_the_textbook_formula():
    # x = 1..6, y = 2 1 4 3 6 5: d = -1 1 -1 1 -1 1, sum d^2 = 6;
    # rho = 1 - 6 * 6 / (6 * (36 - 1)) = 1 - 36/210 = 0.828571...
    result = stats.spearman(pairs(a=([1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5])))
    assert result["n"].to_list() == [6]
    assert result["rho"][0] == pytest.approx(1 - 36 / 210)


def test_spearman_with_ties_uses_average_ranks():
    xs, ys = [1, 2, 2, 3, 5, 5, 5, 8], [4, 4, 1, 2, 9, 7, 7, 3]
    result = stats.spearman(pairs(t=(xs, ys)))
    assert result["rho"][0] == pytest.approx(reference_rho(xs, ys))
    # By hand for a small case: x = 1 2 2 -> ranks 1, 2.5, 2.5; y = 1 2 3 -> ranks 1 2 3;
    # centred: x -1, .5, .5; y -1, 0, 1; cov = 1 + 0 + .5 = 1.5; sx^2 = 1.5, sy^2 = 2 -> 1.5/sqrt(3)
    small = stats.spearman(pairs(s=([1, 2, 2], [1, 2, 3])))
    assert small["rho"][0] == pytest.approx(1.5 / math.sqrt(3))


def test_constant_series_and_tiny_samples_give_no_rho_never_nan():
    result = stats.spearman(
        pairs(flat=([3, 3, 3, 3], [1, 2, 3, 4]), flat_y=([1, 2, 3, 4], [0, 0, 0, 0]), two=([1, 2], [1, 2]))
    )
    assert by_link(result, "rho") == {"flat": None, "flat_y": None, "two": None}
    p = stats.permutation_pvalue(pairs(flat=([3, 3, 3, 3], [1, 2, 3, 4])), 99, seed=1)
    assert p["p_value"].to_list() == [None]
    assert stats.theil_sen(pairs(flat=([3, 3, 3, 3], [1, 2, 3, 4])))["slope"].to_list() == [None]


def exact_pvalue(xs: list[float], ys: list[float]) -> float:
    """Two-sided p over all n! re-pairings (the permutation test's exact value)."""
    observed = abs(reference_rho(xs, ys))
    values = [abs(reference_rho(list(p), ys)) for p in itertools.permutations(xs)]
    return sum(v >= observed - 1e-12 for v in values) / len(values)


def test_permutation_pvalue_approaches_the_exact_one_and_is_reproducible():
    xs, ys = [1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5]
    tied_x, tied_y = [1, 2, 2, 3, 4, 4, 5], [1, 3, 2, 2, 5, 4, 6]
    frame = pairs(a=(xs, ys), t=(tied_x, tied_y))
    found = by_link(stats.permutation_pvalue(frame, 4999, seed=7), "p_value")
    # 4999 draws: the Monte-Carlo standard error of p near 0.06 is sqrt(.06 * .94 / 4999) = 0.0034.
    assert found["a"] == pytest.approx(exact_pvalue(xs, ys), abs=0.015)
    assert found["t"] == pytest.approx(exact_pvalue(tied_x, tied_y), abs=0.015)
    again = by_link(stats.permutation_pvalue(frame, 4999, seed=7), "p_value")
    assert again == found
    # (k + 1) / (B + 1): a perfect rank match is beaten by no re-pairing but itself -> about 1/n! = 1/720,
    # and never 0.
    perfect = stats.permutation_pvalue(pairs(p=([1, 2, 3, 4, 5, 6], [10, 20, 30, 40, 50, 60])), 999, seed=3)
    assert 1 / 1000 <= perfect["p_value"][0] <= 0.01


def test_fisher_interval_matches_the_formula():
    # rho 0.5, n 28: z = atanh(.5) = 0.549306; se = sqrt(1.06 / 25) = 0.205913;
    # 1.959964 * se = 0.403582 -> tanh(0.145724) = 0.144705, tanh(0.952888) = 0.741366
    frame = pl.DataFrame({"rho": [0.5, None, 0.3], "n": [28, 28, 3]})
    low, high = stats.fisher_interval(pl.col("rho"), pl.col("n"))
    result = frame.select(low.alias("low"), high.alias("high"))
    spread = statistics.NormalDist().inv_cdf(0.975) * math.sqrt(1.06 / 25)
    assert result["low"][0] == pytest.approx(math.tanh(math.atanh(0.5) - spread))
    assert result["high"][0] == pytest.approx(math.tanh(math.atanh(0.5) + spread))
    assert result["low"][0] == pytest.approx(0.144705, abs=1e-5)
    assert result["low"][1:].to_list() == [None, None]  # no rho; n = 3 leaves no degrees of freedom


def reference_theil_sen(xs: list[float], ys: list[float]) -> float:
    slopes = [
        (ys[j] - ys[i]) / (xs[j] - xs[i])
        for i in range(len(xs))
        for j in range(i + 1, len(xs))
        if xs[i] != xs[j]
    ]
    return statistics.median(slopes)


def test_theil_sen_is_the_median_pairwise_slope_and_ignores_an_outlier():
    # y = 2x + 1 with one wild value: least squares would tilt, the median slope stays 2.
    xs, ys = [1, 2, 3, 4, 5], [3, 5, 7, 9, 100]
    tied_x, tied_y = [1, 1, 2, 3, 3, 4], [2, 5, 3, 8, 1, 4]
    result = by_link(stats.theil_sen(pairs(o=(xs, ys), t=(tied_x, tied_y))), "slope")
    assert result["o"] == pytest.approx(2.0)
    assert result["t"] == pytest.approx(reference_theil_sen(tied_x, tied_y))
    # x equal up to floating-point noise are ties, not a slope of 1e16.
    noisy = stats.theil_sen(pairs(n=([0.1 + 0.2, 0.3, 1.0], [5.0, 1.0, 2.0])))["slope"][0]
    assert noisy == pytest.approx(statistics.median([(2.0 - 5.0) / (1.0 - 0.3), (2.0 - 1.0) / (1.0 - 0.3)]))


def test_benjamini_hochberg_by_hand():
    # sorted p: .01 .03 .04 .5 (m = 4): p*m/rank = .04 .06 .0533 .5; running minimum from the top:
    # .04 .0533 .0533 .5; the missing p stays missing and does not count as a test.
    frame = pl.DataFrame({"p": [0.01, 0.04, None, 0.03, 0.5]})
    q = frame.select(stats.benjamini_hochberg(pl.col("p")))["p"].to_list()
    assert q[2] is None
    assert q[:2] + q[3:] == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])
