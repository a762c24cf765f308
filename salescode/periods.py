"""Report periods: parsing `--period`, grains, and the period to compare with.

A Period is a half-open date range [start, end). `all` has no bounds and nothing before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from salescode.catalog import Grain
from salescode.errors import PeriodError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

PERIOD_HELP = (
    "all | 2025 | 2025-Q3 | 2025-09 | 2025-W37 | 2025-09-15 | 2025-07..2025-09 | FY2025 | FY2025-Q1 | "
    "today | yesterday | this-week/month/quarter/year | last-week/month/quarter/year | "
    "this-fiscal-year/quarter | last-fiscal-year/quarter | ytd | qtd | mtd | wtd | fytd | last-N-days"
)
COMPARISONS = ("previous", "year-ago", "none")


@dataclass(frozen=True, slots=True)
class Period:
    start: date | None
    end: date | None  # exclusive
    label: str
    grain: Grain | None = None  # set when the period is exactly one calendar grain
    to_date: Grain | None = None  # ytd/qtd/mtd/wtd: compared with the same days of the grain before
    fiscal_start: int | None = None  # a fiscal year or quarter, of a year starting in this month

    @property
    def is_all(self) -> bool:
        return self.start is None

    @property
    def days(self) -> int:
        assert self.start is not None and self.end is not None
        return (self.end - self.start).days


ALL = Period(None, None, "all")


def _month_start(year: int, month: int) -> date:
    """First day of a month, months counted past 12 or below 1."""
    year += (month - 1) // 12
    return date(year, (month - 1) % 12 + 1, 1)


def grain_period(day: date, grain: Grain, week_start: str = "monday") -> Period:
    """The calendar period of the given grain that contains day."""
    if grain is Grain.DAY:
        return Period(day, day + timedelta(days=1), day.isoformat(), grain)
    if grain is Grain.WEEK:
        return _week(day - timedelta(days=(day.weekday() - WEEKDAYS.index(week_start)) % 7))
    if grain is Grain.MONTH:
        start = date(day.year, day.month, 1)
        return Period(start, _month_start(day.year, day.month + 1), f"{day:%Y-%m}", grain)
    if grain is Grain.QUARTER:
        quarter = (day.month - 1) // 3 + 1
        start = date(day.year, 3 * quarter - 2, 1)
        return Period(start, _month_start(day.year, 3 * quarter + 1), f"{day.year}-Q{quarter}", grain)
    return Period(date(day.year, 1, 1), date(day.year + 1, 1, 1), str(day.year), Grain.YEAR)


def _week(start: date) -> Period:
    """The seven days from start, labelled with the ISO week holding most of them."""
    iso_year, iso_week, _ = (start + timedelta(days=3)).isocalendar()
    return Period(start, start + timedelta(days=7), f"{iso_year}-W{iso_week:02d}", Grain.WEEK)


def fiscal_period(day: date, months: int, fiscal_start: int) -> Period:
    """The fiscal year (months=12) or quarter (3) holding day, for a year starting in fiscal_start.

    A fiscal year is named after the calendar year of its last day: with fiscal_start 7, FY2025
    runs from 2024-07-01 to 2025-06-30.
    """
    since_start = (day.month - fiscal_start) % 12
    start = _month_start(day.year, day.month - since_start % months)
    end = _month_start(start.year, start.month + months)
    year_end = _month_start(start.year, start.month + 12 - (since_start - since_start % months))
    year = (year_end - timedelta(days=1)).year
    label = f"FY{year}" if months == 12 else f"FY{year}-Q{since_start // 3 + 1}"
    return Period(start, end, label, fiscal_start=fiscal_start)


def _fiscal_months(period: Period) -> int:
    assert period.start is not None and period.end is not None
    return (period.end.year - period.start.year) * 12 + period.end.month - period.start.month


def previous_period(period: Period, week_start: str = "monday") -> Period | None:
    """The period of the same length just before: the previous calendar grain for grain periods,
    the previous fiscal year or quarter, the same days of the grain before for ytd/qtd/mtd/wtd, as
    many whole months before for a range of whole months, else as many days before."""
    if period.is_all:
        return None
    assert period.start is not None
    day_before = period.start - timedelta(days=1)
    if period.to_date is Grain.YEAR:  # ytd, fytd: the same dates a year earlier
        return year_ago(period, week_start)
    if period.to_date is not None:
        return _same_days(period, grain_period(day_before, period.to_date, week_start))
    if period.fiscal_start is not None:
        return fiscal_period(day_before, _fiscal_months(period), period.fiscal_start)
    if period.grain is Grain.WEEK:
        return _week(period.start - timedelta(days=7))  # ISO weeks start on Monday whatever week_start
    if period.grain is not None:
        return grain_period(period.start - timedelta(days=1), period.grain, week_start)
    months = whole_grains(period, Grain.MONTH, week_start)
    if months:
        total = period.start.year * 12 + period.start.month - 1 - months
        return range_period(date(total // 12, total % 12 + 1, 1), period.start)
    start = period.start - timedelta(days=period.days)
    return range_period(start, period.start)


def year_ago(period: Period, week_start: str = "monday") -> Period | None:
    """The same period a year earlier: the same ISO week number, month, quarter, fiscal period or
    dates (29 February becoming the 28th)."""
    if period.is_all:
        return None
    assert period.start is not None and period.end is not None
    if period.fiscal_start is not None and period.to_date is None:
        return fiscal_period(_a_year_before(period.start), _fiscal_months(period), period.fiscal_start)
    if period.grain is Grain.WEEK:
        # The same ISO week number (53 becomes 52 in a year without it), starting on the same weekday.
        year, week, _ = (period.start + timedelta(days=3)).isocalendar()
        offset = period.start - date.fromisocalendar(year, week, 1)
        week = min(week, date(year - 1, 12, 28).isocalendar()[1])
        return _week(date.fromisocalendar(year - 1, week, 1) + offset)
    if period.grain is not None:
        return grain_period(_a_year_before(period.start), period.grain, week_start)
    start = _a_year_before(period.start)
    before = range_period(start, _a_year_before(period.end - timedelta(days=1)) + timedelta(days=1))
    return before


def _a_year_before(day: date) -> date:
    return (
        day.replace(year=day.year - 1, day=28)
        if (day.month, day.day) == (2, 29)
        else day.replace(year=day.year - 1)
    )


def _same_days(period: Period, before: Period) -> Period:
    """The first days of `before`, as many as `period` has (never beyond before's end)."""
    assert before.start is not None and before.end is not None
    return range_period(before.start, min(before.start + timedelta(days=period.days), before.end))


def comparison_period(
    period: Period, compare: str, today: date, week_start: str = "monday"
) -> tuple[Period | None, date | None]:
    """The period to compare with (previous, year-ago or none) and, when the period is still under
    way on `today`, the last day it covers so far (the comparison then covers as many days)."""
    if compare not in COMPARISONS:
        raise PeriodError(f"--compare '{compare}': use one of {', '.join(COMPARISONS)}")
    partial = None
    if not period.is_all and period.start is not None and period.end is not None:
        if period.start <= today and today + timedelta(days=1) < period.end:
            partial = today
    if compare == "none":
        return None, partial
    other = previous_period(period, week_start) if compare == "previous" else year_ago(period, week_start)
    if other is None or partial is None:
        return other, partial
    assert period.start is not None
    elapsed = Period(period.start, today + timedelta(days=1), "")
    return _same_days(elapsed, other), partial


def range_period(start: date, end: date) -> Period:
    last = end - timedelta(days=1)
    label = start.isoformat() if last == start else f"{start.isoformat()}..{last.isoformat()}"
    return Period(start, end, label)


def whole_grains(period: Period, grain: Grain, week_start: str = "monday") -> int | None:
    """How many whole `grain` periods make up period, or None when it is not made of whole ones."""
    if period.is_all:
        return None
    assert period.start is not None and period.end is not None
    count, cursor = 0, period.start
    while cursor < period.end:
        piece = grain_period(cursor, grain, week_start)
        if piece.start != cursor or piece.end > period.end:
            return None
        count += 1
        cursor = piece.end
    return count


def parse_period(text: str, *, today: date, week_start: str = "monday", fiscal_year_start: int = 1) -> Period:
    """Parse a --period value; relative periods are relative to today."""
    value = text.strip().lower()
    if value == "all":
        return ALL
    if ".." in value:
        first, _, last = value.partition("..")
        try:
            start = parse_period(
                first, today=today, week_start=week_start, fiscal_year_start=fiscal_year_start
            )
            end = parse_period(last, today=today, week_start=week_start, fiscal_year_start=fiscal_year_start)
        except PeriodError as exc:
            raise PeriodError(f"--period '{text}': in the range A..B, {exc}") from None
        if start.is_all or end.is_all:
            raise PeriodError(f"--period '{text}': 'all' cannot be one end of a range")
        assert start.start is not None and end.end is not None
        if end.end <= start.start:
            raise PeriodError(
                f"--period '{text}': the range ends before it starts; write it as A..B with A first"
            )
        return range_period(start.start, end.end)
    period = (
        _absolute(value, text, week_start)
        or _fiscal(value, text, today, fiscal_year_start)
        or _relative(value, today, week_start)
    )
    if period is None:
        raise PeriodError(f"--period '{text}' is not a period; use one of: {PERIOD_HELP}")
    return period


def _absolute(value: str, text: str, week_start: str) -> Period | None:
    try:
        if match := re.fullmatch(r"(\d{4})", value):
            return grain_period(date(int(match[1]), 1, 1), Grain.YEAR)
        if match := re.fullmatch(r"(\d{4})-q(\d)", value):
            quarter = int(match[2])
            if not 1 <= quarter <= 4:
                raise PeriodError(f"--period '{text}': quarters are Q1 to Q4")
            return grain_period(date(int(match[1]), 3 * quarter - 2, 1), Grain.QUARTER)
        if match := re.fullmatch(r"(\d{4})-(\d{1,2})", value):
            month = int(match[2])
            if not 1 <= month <= 12:
                raise PeriodError(f"--period '{text}': months are 01 to 12")
            return grain_period(date(int(match[1]), month, 1), Grain.MONTH)
        if match := re.fullmatch(r"(\d{4})-w(\d{1,2})", value):
            year, week = int(match[1]), int(match[2])
            try:
                monday = date.fromisocalendar(year, week, 1)
            except ValueError as exc:
                raise PeriodError(f"--period '{text}': {year} has no ISO week {week}") from exc
            return Period(monday, monday + timedelta(days=7), f"{year}-W{week:02d}", Grain.WEEK)
        if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", value):
            return grain_period(date.fromisoformat(_pad_date(value)), Grain.DAY)
    except ValueError as exc:
        raise PeriodError(f"--period '{text}': {exc}") from exc
    return None


def _fiscal(value: str, text: str, today: date, fiscal_start: int) -> Period | None:
    """FY2025, FY2025-Q1, this/last-fiscal-year/quarter and fytd."""
    if match := re.fullmatch(r"fy(\d{4})(?:-q(\d))?", value):
        year, quarter = int(match[1]), int(match[2] or 0)
        if match[2] and not 1 <= quarter <= 4:
            raise PeriodError(f"--period '{text}': fiscal quarters are Q1 to Q4")
        # FY<year> ends in <year>: it starts in <year> only when the fiscal year is the calendar one.
        first = date(year if fiscal_start == 1 else year - 1, fiscal_start, 1)
        if quarter:
            return fiscal_period(_month_start(first.year, first.month + 3 * (quarter - 1)), 3, fiscal_start)
        return fiscal_period(first, 12, fiscal_start)
    if match := re.fullmatch(r"(this|last)-fiscal-(year|quarter)", value):
        months = 12 if match[2] == "year" else 3
        current = fiscal_period(today, months, fiscal_start)
        if match[1] == "this":
            return current
        assert current.start is not None
        return fiscal_period(current.start - timedelta(days=1), months, fiscal_start)
    if value == "fytd":
        start = fiscal_period(today, 12, fiscal_start).start
        assert start is not None
        to_date = range_period(start, today + timedelta(days=1))
        return Period(
            to_date.start, to_date.end, to_date.label, to_date=Grain.YEAR, fiscal_start=fiscal_start
        )
    return None


def _pad_date(value: str) -> str:
    year, month, day = value.split("-")
    return f"{year}-{int(month):02d}-{int(day):02d}"


def _relative(value: str, today: date, week_start: str) -> Period | None:
    grains = {"week": Grain.WEEK, "month": Grain.MONTH, "quarter": Grain.QUARTER, "year": Grain.YEAR}
    if value == "today":
        return grain_period(today, Grain.DAY)
    if value == "yesterday":
        return grain_period(today - timedelta(days=1), Grain.DAY)
    if match := re.fullmatch(r"(this|last)-(week|month|quarter|year)", value):
        current = grain_period(today, grains[match[2]], week_start)
        if match[1] == "this":
            return current
        return previous_period(current, week_start)
    if value in ("ytd", "qtd", "mtd", "wtd"):
        grain = {"y": Grain.YEAR, "q": Grain.QUARTER, "m": Grain.MONTH, "w": Grain.WEEK}[value[0]]
        start = grain_period(today, grain, week_start).start
        assert start is not None
        to_date = range_period(start, today + timedelta(days=1))
        return Period(to_date.start, to_date.end, to_date.label, to_date=grain)
    if match := re.fullmatch(r"last-(\d+)-days", value):
        days = int(match[1])
        if days < 1:
            return None
        return range_period(today - timedelta(days=days - 1), today + timedelta(days=1))
    return None


def working_days(period: Period) -> int:
    """Monday-Friday days in the period (holidays are not known)."""
    assert period.start is not None and period.end is not None
    days = (period.end - period.start).days
    weeks, rest = divmod(days, 7)
    first = period.start.weekday()
    return weeks * 5 + sum(1 for i in range(rest) if (first + i) % 7 < 5)


def months_of(period: Period) -> list[Period]:
    """The calendar months overlapping period, each cut to it."""
    assert period.start is not None and period.end is not None
    months, cursor = [], period.start
    while cursor < period.end:
        month = grain_period(cursor, Grain.MONTH)
        assert month.start is not None and month.end is not None
        months.append(Period(max(month.start, period.start), min(month.end, period.end), month.label))
        cursor = month.end
    return months


def grain_label(day: pl.Expr, grain: Grain, week_start: str = "monday") -> pl.Expr:
    """The label of the grain period holding each date, as `grain_period(...).label` writes it."""
    if grain is Grain.DAY:
        return day.dt.strftime("%Y-%m-%d")
    if grain is Grain.WEEK:
        # A week is labelled with the ISO week holding most of its days: that of its fourth day.
        offset = (day.dt.weekday() - 1 - WEEKDAYS.index(week_start)) % 7
        return (day - pl.duration(days=offset) + pl.duration(days=3)).dt.strftime("%G-W%V")
    if grain is Grain.MONTH:
        return day.dt.strftime("%Y-%m")
    if grain is Grain.QUARTER:
        return pl.format("{}-Q{}", day.dt.year(), day.dt.quarter())
    return day.dt.year().cast(pl.String)
