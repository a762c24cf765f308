"""parse_period and previous_period: every form of the --period grammar, with a fixed today.

Expected dates are written out by hand (or built with datetime); a Period is half-open [start, end).
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from salescode.catalog import Grain
from salescode.errors import PeriodError
from salescode.periods import (
    ALL,
    WEEKDAYS,
    Period,
    comparison_period,
    grain_label,
    grain_period,
    parse_period,
    previous_period,
    year_ago,
)

# A Wednesday in the middle of Q3: the week (Monday start) is 2025-09-15 .. 2025-09-21.
TODAY = date(2025, 9, 17)
D = date


def span(text: str, today: date = TODAY, week_start: str = "monday") -> tuple[date | None, date | None]:
    period = parse_period(text, today=today, week_start=week_start)
    return period.start, period.end


def test_today_is_a_wednesday():
    # The relative cases below rely on this.
    assert TODAY.isoweekday() == 3


# --- absolute periods -------------------------------------------------------------------------


def test_all_has_no_bounds():
    period = parse_period("all", today=TODAY)
    assert period.is_all
    assert (period.start, period.end) == (None, None)
    assert period == ALL


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2025", D(2025, 1, 1), D(2026, 1, 1)),
        ("2024", D(2024, 1, 1), D(2025, 1, 1)),
        ("2025-Q1", D(2025, 1, 1), D(2025, 4, 1)),
        ("2025-Q3", D(2025, 7, 1), D(2025, 10, 1)),
        ("2025-q4", D(2025, 10, 1), D(2026, 1, 1)),
        ("2025-09", D(2025, 9, 1), D(2025, 10, 1)),
        ("2025-12", D(2025, 12, 1), D(2026, 1, 1)),
        ("2024-02", D(2024, 2, 1), D(2024, 3, 1)),
        ("2025-09-01", D(2025, 9, 1), D(2025, 9, 2)),
        ("2024-02-29", D(2024, 2, 29), D(2024, 3, 1)),
        ("2025-12-31", D(2025, 12, 31), D(2026, 1, 1)),
    ],
)
def test_absolute_periods(text, start, end):
    assert span(text) == (start, end)


def test_absolute_periods_do_not_depend_on_today():
    assert span("2025-Q3", today=D(2030, 1, 1)) == span("2025-Q3", today=D(2000, 6, 6))


def test_surrounding_space_and_case_are_ignored():
    assert span("  2025-Q3 ") == (D(2025, 7, 1), D(2025, 10, 1))
    assert span("LAST-MONTH") == (D(2025, 8, 1), D(2025, 9, 1))


def test_iso_week_starts_on_monday():
    start, end = span("2025-W37")
    assert start == D(2025, 9, 8)
    assert start.isoweekday() == 1
    assert end == start + timedelta(days=7)
    assert start.isocalendar()[:2] == (2025, 37)


def test_iso_week_1_can_start_in_the_previous_year():
    # 2025-01-01 is a Wednesday, so ISO week 1 of 2025 begins on Monday 2024-12-30.
    assert span("2025-W01") == (D(2024, 12, 30), D(2025, 1, 6))


def test_iso_week_53_exists_in_2026():
    # 2026 starts on a Thursday: it has 53 ISO weeks; the last starts on Monday 2026-12-28.
    assert span("2026-W53") == (D(2026, 12, 28), D(2027, 1, 4))


def test_iso_week_is_monday_based_even_when_the_catalog_weeks_start_on_sunday():
    assert span("2025-W37", week_start="sunday") == (D(2025, 9, 8), D(2025, 9, 15))


# --- ranges: A..B, end inclusive ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2025-09-01..2025-09-30", D(2025, 9, 1), D(2025, 10, 1)),
        ("2025-09-10..2025-09-10", D(2025, 9, 10), D(2025, 9, 11)),
        ("2025-07..2025-09", D(2025, 7, 1), D(2025, 10, 1)),
        ("2025-Q1..2025-Q2", D(2025, 1, 1), D(2025, 7, 1)),
        ("2024..2025", D(2024, 1, 1), D(2026, 1, 1)),
        ("2025-W36..2025-W37", D(2025, 9, 1), D(2025, 9, 15)),
        ("2025-09-01..today", D(2025, 9, 1), D(2025, 9, 18)),
    ],
)
def test_ranges_include_their_last_period(text, start, end):
    assert span(text) == (start, end)


def test_a_range_is_not_a_calendar_grain():
    period = parse_period("2025-09-01..2025-09-30", today=TODAY)
    assert period.grain is None
    assert period.days == 30


# --- relative periods ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("today", D(2025, 9, 17), D(2025, 9, 18)),
        ("yesterday", D(2025, 9, 16), D(2025, 9, 17)),
        ("this-week", D(2025, 9, 15), D(2025, 9, 22)),
        ("last-week", D(2025, 9, 8), D(2025, 9, 15)),
        ("this-month", D(2025, 9, 1), D(2025, 10, 1)),
        ("last-month", D(2025, 8, 1), D(2025, 9, 1)),
        ("this-quarter", D(2025, 7, 1), D(2025, 10, 1)),
        ("last-quarter", D(2025, 4, 1), D(2025, 7, 1)),
        ("this-year", D(2025, 1, 1), D(2026, 1, 1)),
        ("last-year", D(2024, 1, 1), D(2025, 1, 1)),
        ("ytd", D(2025, 1, 1), D(2025, 9, 18)),
        ("qtd", D(2025, 7, 1), D(2025, 9, 18)),
        ("mtd", D(2025, 9, 1), D(2025, 9, 18)),
        ("wtd", D(2025, 9, 15), D(2025, 9, 18)),
        ("last-1-days", D(2025, 9, 17), D(2025, 9, 18)),
        ("last-7-days", D(2025, 9, 11), D(2025, 9, 18)),
        ("last-30-days", D(2025, 8, 19), D(2025, 9, 18)),
    ],
)
def test_relative_periods(text, start, end):
    assert span(text) == (start, end)


def test_last_n_days_is_n_days_ending_today():
    for n in (1, 2, 10, 90, 365):
        start, end = span(f"last-{n}-days")
        assert end == TODAY + timedelta(days=1)
        assert (end - start).days == n


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("yesterday", D(2024, 12, 31), D(2025, 1, 1)),
        ("last-week", D(2024, 12, 23), D(2024, 12, 30)),
        ("this-week", D(2024, 12, 30), D(2025, 1, 6)),
        ("last-month", D(2024, 12, 1), D(2025, 1, 1)),
        ("last-quarter", D(2024, 10, 1), D(2025, 1, 1)),
        ("last-year", D(2024, 1, 1), D(2025, 1, 1)),
        ("ytd", D(2025, 1, 1), D(2025, 1, 2)),
        ("wtd", D(2024, 12, 30), D(2025, 1, 2)),
    ],
)
def test_relative_periods_across_a_year_boundary(text, start, end):
    assert span(text, today=D(2025, 1, 1)) == (start, end)


def test_last_month_from_march_31_is_february():
    assert span("last-month", today=D(2025, 3, 31)) == (D(2025, 2, 1), D(2025, 3, 1))
    assert span("last-month", today=D(2024, 3, 31)) == (D(2024, 2, 1), D(2024, 3, 1))


def test_weeks_follow_the_catalogs_week_start():
    # week_start: sunday -> the week holding Wednesday 2025-09-17 starts on Sunday 2025-09-14.
    assert span("this-week", week_start="sunday") == (D(2025, 9, 14), D(2025, 9, 21))
    assert span("last-week", week_start="sunday") == (D(2025, 9, 7), D(2025, 9, 14))
    assert span("wtd", week_start="sunday") == (D(2025, 9, 14), D(2025, 9, 18))
    # On a Sunday the Sunday week has just begun; the Monday week is about to end.
    sunday = D(2025, 9, 21)
    assert span("this-week", today=sunday, week_start="sunday") == (sunday, D(2025, 9, 28))
    assert span("this-week", today=sunday) == (D(2025, 9, 15), D(2025, 9, 22))


# --- previous_period ----------------------------------------------------------------------------


def previous(text: str, today: date = TODAY, week_start: str = "monday") -> tuple[date, date]:
    before = previous_period(parse_period(text, today=today, week_start=week_start), week_start)
    assert before is not None
    return before.start, before.end


def test_all_has_no_previous_period():
    assert previous_period(ALL) is None


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2025-03", D(2025, 2, 1), D(2025, 3, 1)),  # 28 days, not 31
        ("2024-03", D(2024, 2, 1), D(2024, 3, 1)),  # leap year: 29 days
        ("2025-01", D(2024, 12, 1), D(2025, 1, 1)),
        ("2025-10", D(2025, 9, 1), D(2025, 10, 1)),  # 30 days, not 31
        ("2025-Q3", D(2025, 4, 1), D(2025, 7, 1)),
        ("2025-Q1", D(2024, 10, 1), D(2025, 1, 1)),
        ("2025", D(2024, 1, 1), D(2025, 1, 1)),
        ("2025-W37", D(2025, 9, 1), D(2025, 9, 8)),
        ("2025-W01", D(2024, 12, 23), D(2024, 12, 30)),
        ("2025-03-01", D(2025, 2, 28), D(2025, 3, 1)),
        ("today", D(2025, 9, 16), D(2025, 9, 17)),
        ("last-month", D(2025, 7, 1), D(2025, 8, 1)),
    ],
)
def test_previous_of_a_calendar_period_is_the_calendar_period_before(text, start, end):
    assert previous(text) == (start, end)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        # 28 days (not whole months) -> the 28 days before
        ("2025-09-03..2025-09-30", D(2025, 8, 6), D(2025, 9, 3)),
        ("last-7-days", D(2025, 9, 4), D(2025, 9, 11)),
    ],
)
def test_previous_of_a_range_has_the_same_length_just_before(text, start, end):
    assert previous(text) == (start, end)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        # to-date periods are compared with the same days of the grain before (today: Wed 2025-09-17)
        ("mtd", D(2025, 8, 1), D(2025, 8, 18)),  # Sep 1-17 -> Aug 1-17
        ("wtd", D(2025, 9, 8), D(2025, 9, 11)),  # Mon-Wed -> Mon-Wed of the week before
        ("qtd", D(2025, 4, 1), D(2025, 6, 19)),  # 79 days of Q3 -> the first 79 days of Q2
        ("ytd", D(2024, 1, 1), D(2024, 9, 18)),  # the same dates a year earlier (2024 is a leap year)
    ],
)
def test_previous_of_a_to_date_period_is_the_same_days_of_the_grain_before(text, start, end):
    assert previous(text) == (start, end)


def test_mtd_on_march_31_is_compared_with_all_of_february():
    # 31 days of March -> February has only 28: the comparison stops at its end.
    assert previous("mtd", today=D(2025, 3, 31)) == (D(2025, 2, 1), D(2025, 3, 1))


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        # a range of whole months is compared with as many whole months just before
        ("2025-09-01..2025-09-30", D(2025, 8, 1), D(2025, 9, 1)),
        ("2025-03-01..2025-03-31", D(2025, 2, 1), D(2025, 3, 1)),
        ("2025-07..2025-09", D(2025, 4, 1), D(2025, 7, 1)),
        ("2025-02..2025-03", D(2024, 12, 1), D(2025, 2, 1)),
        ("2025-12..2026-01", D(2025, 10, 1), D(2025, 12, 1)),
    ],
)
def test_previous_of_a_range_of_whole_months_is_as_many_months_before(text, start, end):
    assert previous(text) == (start, end)


def test_previous_period_is_adjacent_and_of_the_same_length_for_ranges():
    for text in ("2025-09-03..2025-09-30", "last-30-days", "last-7-days", "2025-02-10..2025-03-10"):
        period = parse_period(text, today=TODAY)
        before = previous_period(period)
        assert before is not None
        assert before.end == period.start
        assert before.days == period.days


def test_previous_of_an_iso_week_does_not_overlap_it_with_sunday_weeks():
    # 2025-W37 is Monday 2025-09-08 .. Sunday 2025-09-14 whatever the catalog's week_start;
    # the period before it must end where it starts, and be a week long.
    period = parse_period("2025-W37", today=TODAY, week_start="sunday")
    before = previous_period(period, "sunday")
    assert before is not None
    assert before.end == period.start
    assert before.days == 7


def test_previous_period_labels():
    assert previous_period(parse_period("2025-03", today=TODAY)).label == "2025-02"
    assert previous_period(parse_period("2025-Q1", today=TODAY)).label == "2024-Q4"
    assert previous_period(parse_period("2025-W01", today=TODAY)).label == "2024-W52"
    assert previous_period(Period(D(2025, 9, 2), D(2025, 10, 1), "x")).label == "2025-08-04..2025-09-01"


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("2025-Q5", "Q1 to Q4"),
        ("2025-Q0", "Q1 to Q4"),
        ("2025-13", "01 to 12"),
        ("2025-00", "01 to 12"),
        ("2025-W54", "no ISO week 54"),
        ("2025-W53", "no ISO week 53"),  # 2025 has 52 ISO weeks
        ("2025-02-30", "2025-02-30"),
        ("2025-09..2025-08", "A..B"),
        ("all..2025", "'all'"),
        ("foo", "ytd"),  # the grammar is listed
        ("last-fortnight", "last-N-days"),
        ("last-0-days", "last-N-days"),
        ("25-09", "2025-09"),
        ("", "use one of"),
    ],
)
def test_bad_periods_raise_period_error_with_a_hint(text, hint):
    with pytest.raises(PeriodError) as caught:
        parse_period(text, today=TODAY)
    message = str(caught.value)
    assert f"--period '{text}'" in message
    assert hint in message


@pytest.mark.parametrize("text", ["2025-09-01..", "..2025-09-30", "2025-09-01..foo"])
def test_bad_range_errors_quote_what_the_user_typed(text):
    with pytest.raises(PeriodError) as caught:
        parse_period(text, today=TODAY)
    assert f"'{text}'" in str(caught.value)


@pytest.mark.parametrize("week_start", WEEKDAYS)
@pytest.mark.parametrize("grain", list(Grain))
def test_grain_label_expression_matches_grain_period(grain, week_start):
    # The vectorised label (cohort tables) against the period arithmetic, day by day over three
    # years that include ISO years of 53 weeks (2020) and weeks straddling the new year.
    days = [date(2019, 12, 1) + timedelta(days=i) for i in range(3 * 366)]
    labels = (
        pl.DataFrame({"day": days})
        .select(grain_label(pl.col("day"), grain, week_start))
        .to_series()
        .to_list()
    )
    assert labels == [grain_period(day, grain, week_start).label for day in days]


# --- fiscal years (named after the calendar year of their last day) -----------------------------


def fiscal(text: str, start_month: int, today: date = TODAY) -> tuple[date | None, date | None, str]:
    period = parse_period(text, today=today, fiscal_year_start=start_month)
    return period.start, period.end, period.label


@pytest.mark.parametrize(
    ("text", "start_month", "start", "end", "label"),
    [
        ("FY2025", 1, D(2025, 1, 1), D(2026, 1, 1), "FY2025"),
        ("FY2025", 7, D(2024, 7, 1), D(2025, 7, 1), "FY2025"),
        ("fy2026", 2, D(2025, 2, 1), D(2026, 2, 1), "FY2026"),
        ("FY2025-Q1", 7, D(2024, 7, 1), D(2024, 10, 1), "FY2025-Q1"),
        ("FY2025-Q3", 7, D(2025, 1, 1), D(2025, 4, 1), "FY2025-Q3"),
        ("FY2025-Q4", 7, D(2025, 4, 1), D(2025, 7, 1), "FY2025-Q4"),
        ("FY2025-Q4", 2, D(2024, 11, 1), D(2025, 2, 1), "FY2025-Q4"),  # Nov, Dec, Jan
        ("FY2025-Q3", 1, D(2025, 7, 1), D(2025, 10, 1), "FY2025-Q3"),  # the calendar quarter
        # relative to Wednesday 2025-09-17
        ("this-fiscal-year", 7, D(2025, 7, 1), D(2026, 7, 1), "FY2026"),
        ("last-fiscal-year", 7, D(2024, 7, 1), D(2025, 7, 1), "FY2025"),
        ("this-fiscal-quarter", 7, D(2025, 7, 1), D(2025, 10, 1), "FY2026-Q1"),
        ("last-fiscal-quarter", 7, D(2025, 4, 1), D(2025, 7, 1), "FY2025-Q4"),
        ("this-fiscal-quarter", 2, D(2025, 8, 1), D(2025, 11, 1), "FY2026-Q3"),
        ("fytd", 7, D(2025, 7, 1), D(2025, 9, 18), "2025-07-01..2025-09-17"),
        ("fytd", 10, D(2024, 10, 1), D(2025, 9, 18), "2024-10-01..2025-09-17"),
    ],
)
def test_fiscal_periods(text, start_month, start, end, label):
    assert fiscal(text, start_month) == (start, end, label)


@pytest.mark.parametrize(
    ("text", "start_month", "before"),
    [
        ("FY2025", 7, (D(2023, 7, 1), D(2024, 7, 1), "FY2024")),
        ("FY2025-Q1", 7, (D(2024, 4, 1), D(2024, 7, 1), "FY2024-Q4")),  # across the fiscal year
        ("FY2025-Q2", 2, (D(2024, 2, 1), D(2024, 5, 1), "FY2025-Q1")),
        ("fytd", 7, (D(2024, 7, 1), D(2024, 9, 18), "2024-07-01..2024-09-17")),
    ],
)
def test_previous_fiscal_period(text, start_month, before):
    period = previous_period(parse_period(text, today=TODAY, fiscal_year_start=start_month))
    assert period is not None and (period.start, period.end, period.label) == before


@pytest.mark.parametrize(
    "text", ["FY2025-Q5", "FY2025-Q0", "FY25", "FY2025-H1", "2025-13", "2025-Q5", "2025-W54"]
)
def test_invalid_periods_are_clear_errors(text):
    with pytest.raises(PeriodError, match=f"--period '{text}'"):
        parse_period(text, today=TODAY, fiscal_year_start=7)


# --- year-ago and partial periods ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "before"),
    [
        ("2025-09", (D(2024, 9, 1), D(2024, 10, 1), "2024-09")),
        ("2025-Q3", (D(2024, 7, 1), D(2024, 10, 1), "2024-Q3")),
        ("2025", (D(2024, 1, 1), D(2025, 1, 1), "2024")),
        ("2025-W37", (D(2024, 9, 9), D(2024, 9, 16), "2024-W37")),  # the same ISO week number
        ("2026-W53", (D(2025, 12, 22), D(2025, 12, 29), "2025-W52")),  # 2025 has no week 53
        ("2024-02-29", (D(2023, 2, 28), D(2023, 3, 1), "2023-02-28")),  # leap day -> 28 February
        ("2025-09-03..2025-09-30", (D(2024, 9, 3), D(2024, 10, 1), "2024-09-03..2024-09-30")),
        ("2024-02-01..2024-02-29", (D(2023, 2, 1), D(2023, 3, 1), "2023-02-01..2023-02-28")),
    ],
)
def test_year_ago(text, before):
    period = year_ago(parse_period(text, today=TODAY))
    assert period is not None and (period.start, period.end, period.label) == before


def test_year_ago_of_a_sunday_week_keeps_its_weekday():
    period = parse_period("this-week", today=TODAY, week_start="sunday")  # Sun 2025-09-14 .. 20
    before = year_ago(period, "sunday")
    assert before is not None and before.start == D(2024, 9, 15) and before.start.isoweekday() == 7


@pytest.mark.parametrize(
    ("text", "compare", "expected", "partial"),
    [
        # this-month on the 17th: under way; compared with the first 17 days of the other month
        ("this-month", "previous", (D(2025, 8, 1), D(2025, 8, 18)), TODAY),
        ("this-month", "year-ago", (D(2024, 9, 1), D(2024, 9, 18)), TODAY),
        ("this-quarter", "previous", (D(2025, 4, 1), D(2025, 6, 19)), TODAY),
        ("this-week", "previous", (D(2025, 9, 8), D(2025, 9, 11)), TODAY),
        ("this-month", "none", None, TODAY),
        # over: whole periods
        ("last-month", "previous", (D(2025, 7, 1), D(2025, 8, 1)), None),
        ("last-month", "year-ago", (D(2024, 8, 1), D(2024, 9, 1)), None),
        ("2025-08", "none", None, None),
        # the last day of a period is not partial: it is complete by the end of today
        ("today", "previous", (D(2025, 9, 16), D(2025, 9, 17)), None),
    ],
)
def test_comparison_period(text, compare, expected, partial):
    other, through = comparison_period(parse_period(text, today=TODAY), compare, TODAY)
    assert (None if other is None else (other.start, other.end)) == expected
    assert through == partial


def test_all_has_nothing_to_compare_with():
    assert comparison_period(ALL, "year-ago", TODAY) == (None, None)
