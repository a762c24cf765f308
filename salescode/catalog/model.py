"""The catalog's spec objects: frozen, validated, and free of YAML and polars."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path


class Level(StrEnum):
    ACTIVITY = "activity"
    OBJECTIVE = "objective"
    RESULT = "result"


# The AOR model of "Cracking the Sales Management Code": what managers manage (activities),
# what those move (objectives), and what the business is judged on (results).
CATEGORIES: dict[Level, tuple[str, ...]] = {
    Level.ACTIVITY: (
        "call_management",
        "opportunity_management",
        "account_management",
        "territory_management",
        "sales_force_support",
    ),
    Level.OBJECTIVE: (
        "market_coverage",
        "sales_force_capability",
        "customer_focus",
        "product_focus",
    ),
    Level.RESULT: ("financial", "customer_satisfaction", "market_share"),
}
LEVEL_ORDER = {Level.ACTIVITY: 0, Level.OBJECTIVE: 1, Level.RESULT: 2}


class MetricKind(StrEnum):
    SIMPLE = "simple"  # an aggregation over one source's rows
    RATIO = "ratio"  # numerator metric / denominator metric
    DERIVED = "derived"  # arithmetic over other metrics
    CONVERSION = "conversion"  # deals reaching one funnel stage / deals reaching an earlier one


class Agg(StrEnum):
    COUNT = "count"
    COUNT_DISTINCT = "count_distinct"
    SUM = "sum"
    MEAN = "mean"
    MEDIAN = "median"
    MIN = "min"
    MAX = "max"


# Aggregations whose value over no rows is 0 rather than empty.
ZERO_WHEN_EMPTY = frozenset({Agg.COUNT, Agg.COUNT_DISTINCT, Agg.SUM})


class Format(StrEnum):
    INTEGER = "integer"
    NUMBER = "number"
    CURRENCY = "currency"
    PERCENT = "percent"
    DAYS = "days"


class Direction(StrEnum):
    HIGHER = "higher"
    LOWER = "lower"


class Grain(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class ColumnType(StrEnum):
    DATE = "date"
    DATETIME = "datetime"
    NUMBER = "number"
    INTEGER = "integer"
    TEXT = "text"
    BOOL = "bool"


@dataclass(frozen=True, slots=True)
class Target:
    value: float
    per: Grain | None = None


@dataclass(frozen=True, slots=True)
class Conversion:
    """A funnel step as a metric: of the deals that reached `start`, the share that reached `end`."""

    funnel: str
    start: str  # a stage name of the funnel
    end: str  # a later stage name
    cohort: bool = False  # deals created in the period (else the deals active in it)
    strict: bool = False  # count a deal at a stage only if it entered every earlier stage


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    label: str
    level: Level
    category: str
    kind: MetricKind
    source: str | None = None
    agg: Agg | None = None
    expr: str | None = None
    filter: str | None = None
    time: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    formula: str | None = None
    inputs: tuple[str, ...] = ()  # the metrics a ratio or derived formula reads
    conversion: Conversion | None = None
    format: Format = Format.NUMBER
    direction: Direction | None = None
    target: Target | None = None
    description: str = ""
    drives: tuple[str, ...] = ()

    @property
    def additive(self) -> bool:
        """True when the value over a period is the sum of its values over sub-periods."""
        return self.kind is MetricKind.SIMPLE and self.agg in (Agg.COUNT, Agg.SUM)

    @property
    def definition(self) -> str:
        """A one-line human description of how the value is computed."""
        if self.kind is MetricKind.RATIO:
            return f"{self.numerator} / {self.denominator}"
        if self.kind is MetricKind.DERIVED:
            return str(self.formula)
        if self.conversion is not None:
            step = self.conversion
            how = "".join(
                f", {word}" for word, on in (("cohort", step.cohort), ("strict", step.strict)) if on
            )
            return f"{step.start} → {step.end} conversion in funnel {step.funnel}{how}"
        assert self.agg is not None
        text = f"{self.agg.value}({self.expr})" if self.expr else f"{self.agg.value}(*)"
        text = f"{text} of {self.source}"
        if self.filter:
            text += f" where {self.filter}"
        return text


@dataclass(frozen=True, slots=True)
class Join:
    source: str
    left_on: str
    right_on: str
    columns: tuple[str, ...] | None = None  # the joined source's columns to bring; None = all

    def brings(self, right_columns: list[str]) -> list[str]:
        """The right-side columns this join adds (before the left-wins rule)."""
        wanted = right_columns if self.columns is None else [c for c in right_columns if c in self.columns]
        return [c for c in wanted if c != self.right_on]


@dataclass(frozen=True, slots=True)
class ReaderSettings:
    separator: str | None = None
    encoding: str | None = None
    decimal_comma: bool = False
    thousands: str | None = None
    date_format: str | None = None
    null_values: tuple[str, ...] = ("",)
    sheet: str | None = None  # for spreadsheets: the sheet to read (default: the first)


@dataclass(frozen=True, slots=True)
class CurrencyConversion:
    """Amounts in a per-row currency, converted into the catalog's currency when the source is read.

    A rate is how many units of the row's currency make one unit of the catalog's currency (as
    Salesforce's CurrencyType.ConversionRate): converted = amount / rate.
    """

    column: str  # the column holding each row's currency code
    convert: tuple[str, ...] = ("amount",)  # the columns converted in place
    rates: dict[str, float] = field(default_factory=dict)  # fixed rates by code
    source: str | None = None  # or a source with one row per currency
    code: str = "code"  # that source's column with the currency code
    rate: str = "rate"  # and its column with the rate


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    path: Path
    key: str | None = None
    time: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # canonical name -> header in the file
    types: dict[str, ColumnType] = field(default_factory=dict)
    reader: ReaderSettings = field(default_factory=ReaderSettings)
    joins: tuple[Join, ...] = ()
    currency: CurrencyConversion | None = None


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    label: str


@dataclass(frozen=True, slots=True)
class TargetFile:
    """Per-group targets read from a source, e.g. a quota per rep per month."""

    metric: str
    source: str
    value: str
    period: str = "period"
    by: str | None = None


@dataclass(frozen=True, slots=True)
class FunnelStage:
    name: str
    values: tuple[str, ...]  # the CRM stage values that mean this funnel stage
    filter: str | None = None  # per-stage condition, e.g. "demo_entered is not null"
    entered: str | None = None  # column holding the date the stage was entered


@dataclass(frozen=True, slots=True)
class History:
    source: str
    stage: str = "stage"
    entered: str = "entered"


@dataclass(frozen=True, slots=True)
class Funnel:
    name: str
    label: str
    source: str
    stage: str | None
    stages: tuple[FunnelStage, ...]
    lost: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    history: History | None = None
    cohort: str | None = None
    lost_stage: str | None = None
    value: str | None = None
    stage_since: str | None = None  # date the deal entered its current stage (without a history)
    stale_after: int = 30  # days in one stage after which an open deal is stale


@dataclass(frozen=True, slots=True)
class Headcount:
    """Who is on the team when: a source with one row per rep and its hire and exit dates."""

    source: str
    hired: str
    left: str | None = None


@dataclass(frozen=True, slots=True)
class Potential:
    """Market potential per territory (e.g. per region), the basis of quotas by potential."""

    source: str
    value: str
    by: str


@dataclass(frozen=True, slots=True)
class Planning:
    """Settings of `plan` and `coach` (catalog `planning:`)."""

    funnel: str | None = None  # None: the catalog's first funnel
    rep: str = "rep"  # the dimension that names reps
    headcount: Headcount | None = None
    potential: Potential | None = None
    ramp_months: int = 3  # a new hire's first months count as a linear ramp to full productivity
    min_sample: int = 10  # a ratio over fewer observations than this is not estimated


@dataclass(frozen=True, slots=True)
class Tier:
    """From an attainment (a fraction of quota, inclusive) upwards, credit pays this rate."""

    start: Decimal
    rate: Decimal


@dataclass(frozen=True, slots=True)
class Bonus:
    """A fixed amount for reaching a value of a metric in the period."""

    label: str
    metric: str
    at_least: float
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Spif:
    """An extra rate on the credit of matching rows (focus products) and/or a date window."""

    label: str
    rate: Decimal
    filter: str | None = None
    start: date | None = None
    end: date | None = None  # exclusive (the day after `to:`)


@dataclass(frozen=True, slots=True)
class Clawback:
    """Commission reversed, in the period of the churn, when a won account churns within N days."""

    churn_date: str  # a date column of the credit metric's source (after its joins)
    within_days: int
    rate: Decimal | None = None  # None: the plan's on-target rate


@dataclass(frozen=True, slots=True)
class CompPlan:
    """A compensation plan for the reps of some groups (roles), in force from a date."""

    name: str
    label: str
    groups: tuple[str, ...]  # values of Compensation.group that the plan applies to
    credit: str  # the metric commission is paid on (a sum, e.g. won revenue)
    tiers: tuple[Tier, ...]  # ascending; the first starts at 0
    quota: str | None = None  # the metric holding each rep's quota (tiers need it)
    effective_from: date | None = None  # None: from the beginning
    retroactive: bool = False  # True: the tier reached pays on all credit; else marginal brackets
    monthly_cap: Decimal | None = None  # the most commission + SPIFs pay per month of the period
    bonuses: tuple[Bonus, ...] = ()
    spifs: tuple[Spif, ...] = ()
    clawback: Clawback | None = None

    @property
    def on_target_rate(self) -> Decimal:
        """The rate of the tier just below 100% attainment (neither accelerated nor decelerated)."""
        return [tier.rate for tier in self.tiers if tier.start < 1][-1]


@dataclass(frozen=True, slots=True)
class Compensation:
    rep: str  # the dimension a statement is for
    group: str  # the column that chooses a rep's plan (e.g. role)
    plans: dict[str, CompPlan]


@dataclass(frozen=True, slots=True)
class Catalog:
    path: Path
    name: str
    currency: str
    week_start: str
    fiscal_year_start: int
    sources: dict[str, Source]
    dimensions: dict[str, Dimension]
    metrics: dict[str, Metric]
    targets: tuple[TargetFile, ...] = ()
    funnels: dict[str, Funnel] = field(default_factory=dict)
    planning: Planning = field(default_factory=Planning)
    compensation: Compensation | None = None

    def metric_time(self, metric: Metric) -> str | None:
        """The time column a simple metric is filtered on (its own, else its source's)."""
        if metric.time:
            return metric.time
        return self.sources[metric.source].time if metric.source else None
