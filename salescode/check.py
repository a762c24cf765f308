"""`salescode check`: every target of the period, met or missed — the cron alert.

A target is met when attainment (value / target, or target / value for `direction: lower`) is at
least 1 - tolerance. Where attainment has no value because of a zero (a target of 0, or a
lower-is-better value of 0), the value is compared with the target directly. A row without a
value (a ratio over no deals) cannot be judged: it is reported as "no value", not as a miss.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from salescode.catalog import Direction
from salescode.engine import Report
from salescode.errors import SalescodeError

MET, MISSED, NO_VALUE = "met", "missed", "no value"


@dataclass
class CheckResult:
    frame: pl.DataFrame  # the report's rows that have a target, with a `status` column
    checked: int
    missed: int
    no_value: int

    def rows(self, everything: bool) -> pl.DataFrame:
        """The rows to print: the misses and the rows without a value, or every row checked."""
        return self.frame if everything else self.frame.filter(pl.col("status") != MET)

    def summary(self, period: str, tolerance: float) -> str:
        allowed = f", {tolerance:.0%} tolerance" if tolerance else ""
        unknown = f"; {self.no_value} without a value" if self.no_value else ""
        return f"{self.missed} of {self.checked} targets missed in {period}{allowed}{unknown}"


def check_targets(report: Report, tolerance: float) -> CheckResult:
    """The report's rows with a target, each marked met, missed or no value."""
    lower = [m.name for m in report.metrics if m.direction is Direction.LOWER]
    value, target, attainment = pl.col("value"), pl.col("target"), pl.col("attainment")
    beyond_zero = pl.when(pl.col("metric").is_in(lower)).then(value <= target).otherwise(value >= target)
    status = (
        pl.when(value.is_null())
        .then(pl.lit(NO_VALUE))
        .when(pl.when(attainment.is_not_null()).then(attainment >= 1 - tolerance).otherwise(beyond_zero))
        .then(pl.lit(MET))
        .otherwise(pl.lit(MISSED))
    )
    frame = report.frame.filter(target.is_not_null()).with_columns(status.alias("status"))
    if frame.is_empty():
        raise SalescodeError(
            f"nothing to check: no selected metric has a target for {report.period.label}; give metrics a "
            "target: (or a targets: file), or choose others with --metric/--level"
        )
    counts = frame["status"].value_counts()
    count = dict(zip(counts["status"], counts["count"], strict=True))
    return CheckResult(frame, frame.height, count.get(MISSED, 0), count.get(NO_VALUE, 0))
