"""The chain of a plan: the links from a result back to activities, and what each requires.

Each link is a ratio of two basis totals (result per won deal, a stage conversion, an activity per
deal entering the funnel), so required(item) = required(of) x basis(item) / basis(of). A what-if
(`--assume`) replaces a link's value or changes it by a fraction; `win_rate` scales every stage
conversion by the same factor so that their product is the assumed overall conversion. A link
over too few observations, or with a value of zero, stops the chain: what depends on it is empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from salescode.catalog import Funnel, Metric, did_you_mean
from salescode.errors import SalescodeError

RESULT = "__result"
WIN_RATE = "win_rate"
AVG_DEAL_SIZE = "avg_deal_size"


@dataclass(frozen=True)
class Assumption:
    """A what-if: a link's value set (0.30) or changed by a fraction (+10% -> +0.10)."""

    link: str
    value: float
    relative: bool = False

    def apply(self, observed: pl.Expr) -> pl.Expr:
        return observed * (1 + self.value) if self.relative else pl.lit(self.value, pl.Float64)

    @property
    def text(self) -> str:
        return f"{self.value:+.0%}" if self.relative else f"{self.value:g}"


def parse_assumption(text: str) -> Assumption:
    """`win_rate=0.30`, `avg_deal_size=+10%`, `Demo->Proposal=-5%`, `calls_made=12`."""
    match = re.fullmatch(r"\s*([^=]+?)\s*=\s*([+-]?\d+(?:\.\d+)?)(%?)\s*", text)
    if not match:
        raise SalescodeError(
            f"--assume '{text}': write LINK=VALUE (win_rate=0.30) or LINK=+N% (avg_deal_size=+10%)"
        )
    link, number, percent = match[1], float(match[2]), bool(match[3])
    signed = match[2].startswith(("+", "-"))
    if percent and not signed:
        return Assumption(link, number / 100)  # win_rate=30%: a value written as a percent
    if percent:
        return Assumption(link, number / 100, relative=True)
    return Assumption(link, number)


@dataclass(frozen=True)
class Link:
    """One step back: required(item) = required(of) x factor, the factor from an observed ratio."""

    name: str  # what --assume calls it
    item: str  # column of the item it yields
    of: str  # column of the item it is computed from
    numerator: str  # the ratio people read (avg deal size, a conversion, calls per deal)
    denominator: str
    divides: bool  # required(item) = required(of) / ratio (else x ratio)


def stage_column(i: int) -> str:
    return f"__reached{i}"


def chain_links(funnel: Funnel, drivers: list[Metric]) -> list[Link]:
    """The links from the result back to the top of the funnel, then out to each driver."""
    stages = [stage.name for stage in funnel.stages]
    last = len(stages) - 1
    links = [
        Link(
            AVG_DEAL_SIZE,
            stage_column(last),
            RESULT,
            RESULT,
            stage_column(last),
            True,
        )
    ]
    for k in range(last, 0, -1):
        name = f"{stages[k - 1]}->{stages[k]}"
        links.append(
            Link(
                name,
                stage_column(k - 1),
                stage_column(k),
                stage_column(k),
                stage_column(k - 1),
                True,
            )
        )
    links += [
        Link(
            m.name,
            m.name,
            stage_column(0),
            m.name,
            stage_column(0),
            False,
        )
        for m in drivers
    ]
    return links


def check_assumptions(links: list[Link], assumptions: tuple[Assumption, ...]) -> dict[str, Assumption]:
    names = [link.name for link in links] + [WIN_RATE]
    found: dict[str, Assumption] = {}
    for item in assumptions:
        if item.link not in names:
            raise SalescodeError(
                f"--assume {item.link}: no such link{did_you_mean(item.link, names)} "
                f"(links: {', '.join(names)})"
            )
        if item.link in found:
            raise SalescodeError(f"--assume {item.link} is given twice; keep one")
        found[item.link] = item
    steps = [link.name for link in links if link.divides and link.name != AVG_DEAL_SIZE]
    clash = [name for name in steps if name in found]
    if WIN_RATE in found and clash:
        raise SalescodeError(
            f"--assume win_rate scales every stage conversion; it cannot be combined with --assume {clash[0]}"
        )
    return found


def _status(link: Link, n: pl.Expr, observed: pl.Expr, used: pl.Expr, how: str, minimum: int) -> pl.Expr:
    """Why a link can or cannot be used, per unit. how: observed | assumed (a value, needs no data)
    | changed (a change of the observed value, or win_rate's scaling)."""
    estimated = (n >= minimum) & observed.is_finite()
    unusable = used.is_null() | ~used.is_finite() | (used <= 0 if link.divides else used < 0)
    over = (used > 1) if link.divides and link.name != AVG_DEAL_SIZE else pl.lit(False)
    short = (
        pl.when(n == 0)
        .then(pl.lit("no data"))
        .otherwise(pl.format("too few ({} < {})", n.cast(pl.Int64), pl.lit(minimum)))
    )
    # A what-if that cannot be applied (a win rate of 0 scaled) is not a zero observed value.
    failed = "what-if not applicable" if how == "changed" else "zero: cannot plan back through it"
    status = (
        pl.when(unusable & (observed > 0))
        .then(pl.lit(failed))
        .when(unusable)
        .then(pl.lit("zero: cannot plan back through it"))
        .when(over)
        .then(pl.lit("over 100%"))
    )
    status = status.otherwise(pl.lit("ok" if how == "observed" else "assumed"))
    return status if how == "assumed" else pl.when(~estimated.fill_null(False)).then(short).otherwise(status)


def requirements(
    units: pl.DataFrame, links: list[Link], target: float, assumptions: dict[str, Assumption], minimum: int
) -> pl.DataFrame:
    """Per unit: each link's observed and used value, its status, and each item's requirement."""
    frame = units.with_columns(pl.lit(target, pl.Float64).alias(f"req\x1f{RESULT}"))
    steps = [link for link in links if link.divides and link.name != AVG_DEAL_SIZE]
    factor = pl.lit(1.0)
    if WIN_RATE in assumptions and steps:
        observed = pl.col(steps[0].numerator) / pl.col(steps[-1].denominator)  # last stage / first
        factor = (assumptions[WIN_RATE].apply(observed) / observed).pow(1 / len(steps))  # same on each step
    for link in links:
        numerator, denominator = pl.col(link.numerator), pl.col(link.denominator)
        observed = pl.when(denominator != 0).then(numerator / denominator)
        own = assumptions.get(link.name)
        if own is not None:
            used, how = own.apply(observed), "changed" if own.relative else "assumed"
        elif WIN_RATE in assumptions and link in steps:
            used, how = observed * factor, "changed"
        else:
            used, how = observed, "observed"
        used = pl.when(used.is_finite()).then(used)  # a win rate scaled from 0 has no factor
        status = _status(link, denominator, observed, used, how, minimum)
        upstream = pl.col(f"req\x1f{link.of}")
        required = upstream / used if link.divides else upstream * used
        frame = frame.with_columns(
            observed.alias(f"observed\x1f{link.name}"),
            used.alias(f"used\x1f{link.name}"),
            denominator.alias(f"sample\x1f{link.name}"),
            status.alias(f"status\x1f{link.name}"),
        ).with_columns(
            pl.when(pl.col(f"status\x1f{link.name}").is_in(["ok", "assumed"]))
            .then(required)
            .alias(f"req\x1f{link.item}"),
        )
    return frame
