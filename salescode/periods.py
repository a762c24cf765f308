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
    "all | 2025 | 2025-Q3 | 2025-09 | 2025-W37 | 2025-09-15 | 2025-07..2025-09 | today | "
    "yesterday | this-week/month/quarter/year | last-week/month/quarter/year | ytd | qtd | mtd | "
    "last-N-days"
)


@dataclass(frozen=True, slots=True)
class Period:
    start: date | None
    end: date | None  # exclusive
    label: str
    grain: Grain | None = None  # set when the period is exactly one calendar grain

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


def previous_period(period: Period, week_start: str = "monday") -> Period | None:
    """The period of the same length just before: the previous calendar grain for grain periods,
    as many whole months before for a range of whole months, else as many days before."""
    if period.is_all:
        return None
    assert period.start is not None
    if period.grain is Grain.WEEK:
        return _week(period.start - timedelta(days=7))  # ISO weeks start on Monday whatever week_start
    if period.grain is not None:
        return grain_period(period.start - timedelta(days=1), period.grain, week_start)
    months = whole_grains(period, Grain.MONTH, week_start)
    if months:
        total = period.start.year * 12 + period.start.month - 1 - months
        return _range(date(total // 12, total % 12 + 1, 1), period.start)
    start = period.start - timedelta(days=period.days)
    return _range(start, period.start)


def _range(start: date, end: date) -> Period:
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


def parse_period(text: str, *, today: date, week_start: str = "monday") -> Period:
    """Parse a --period value; relative periods are relative to today."""
    value = text.strip().lower()
    if value == "all":
        return ALL
    if ".." in value:
        first, _, last = value.partition("..")
        try:
            start = parse_period(first, today=today, week_start=week_start)
            end = parse_period(last, today=today, week_start=week_start)
        except PeriodError as exc:
            raise PeriodError(f"--period '{text}': in the range A..B, {exc}") from None
        if start.is_all or end.is_all:
            raise PeriodError(f"--period '{text}': 'all' cannot be one end of a range")
        assert start.start is not None and end.end is not None
        if end.end <= start.start:
            raise PeriodError(
                f"--period '{text}': the range ends before it starts; write it as A..B with A first"
            )
        return _range(start.start, end.end)
    period = _absolute(value, text, week_start) or _relative(value, today, week_start)
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
        return _range(start, today + timedelta(days=1))
    if match := re.fullmatch(r"last-(\d+)-days", value):
        days = int(match[1])
        if days < 1:
            return None
        return _range(today - timedelta(days=days - 1), today + timedelta(days=1))
    return None


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
