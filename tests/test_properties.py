"""Property tests: small random deals tables, checked against arithmetic laws and plain Python.

Each example writes a deals CSV (with empty cells: no rep, no stage, no amount, no account, open deals
without a close date, and deals closed or created outside the period) and a small catalog into a
temporary folder, runs `salescode report` in-process and checks:

- additive metrics (count, sum, count_distinct of the key) summed over the `--by rep` groups give the
  overall value (a deal without a rep is a group of its own: an empty `rep` cell);
- ratios of counts stay within [0, 1] (or are empty) overall and in every group;
- the months of a quarter add up to the quarter for count and sum metrics;
- every value, overall and per group, equals a recomputation in plain Python (means included).
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import run
from hypothesis import given, settings
from hypothesis import strategies as st

CATALOG = """\
version: 1
name: Property test
sources:
  deals:
    path: deals.csv
    key: deal_id
    time: close_date
    types:
      deal_id: text
      rep: text
      stage: text
      account_id: text
      amount: number
      created_date: date
      close_date: date
dimensions:
  rep: {label: Rep}
metrics:
  deals_all: {level: result, category: financial, source: deals, agg: count}
  deals_won: {level: result, category: financial, source: deals, agg: count, filter: "stage = 'Won'"}
  deals_closed:
    level: result
    category: financial
    source: deals
    agg: count
    filter: "stage IN ('Won', 'Lost')"
  revenue:
    level: result
    category: financial
    source: deals
    agg: sum
    expr: amount
    filter: "stage = 'Won'"
  amount_total: {level: result, category: financial, source: deals, agg: sum, expr: amount}
  deal_keys: {level: result, category: financial, source: deals, agg: count_distinct, expr: deal_id}
  accounts: {level: result, category: financial, source: deals, agg: count_distinct, expr: account_id}
  avg_amount: {level: result, category: financial, source: deals, agg: mean, expr: amount}
  created: {level: activity, category: opportunity_management, source: deals, agg: count, time: created_date}
  pipeline:
    level: activity
    category: opportunity_management
    source: deals
    agg: sum
    expr: amount
    time: created_date
  win_rate: {level: result, category: financial, ratio: {numerator: deals_won, denominator: deals_closed}}
  won_share: {level: result, category: financial, ratio: {numerator: deals_won, denominator: deals_all}}
"""

ADDITIVE = (
    "deals_all",
    "deals_won",
    "deals_closed",
    "revenue",
    "amount_total",
    "deal_keys",
    "created",
    "pipeline",
)
RATIOS = ("win_rate", "won_share")
COLUMNS = ("deal_id", "rep", "stage", "account_id", "amount", "created_date", "close_date")

QUARTER = (date(2025, 7, 1), date(2025, 10, 1))
MONTHS = {
    "2025-07": (date(2025, 7, 1), date(2025, 8, 1)),
    "2025-08": (date(2025, 8, 1), date(2025, 9, 1)),
    "2025-09": (date(2025, 9, 1), date(2025, 10, 1)),
}
FIRST, LAST = date(2025, 5, 1), date(2025, 11, 30)  # deals on both sides of 2025-Q3

dates = st.integers(0, (LAST - FIRST).days).map(lambda n: FIRST + timedelta(days=n))
rows = st.fixed_dictionaries(
    {
        "rep": st.sampled_from(["ann", "bob", "Lee, Cy", None]),
        "stage": st.sampled_from(["Won", "Lost", "Proposal", None]),
        "account_id": st.one_of(st.none(), st.sampled_from(["A1", "A2", "A3", "A4", "A5"])),
        "amount": st.one_of(
            st.none(), st.integers(-50_000, 5_000_000).map(lambda cents: f"{cents / 100:.2f}")
        ),
        "created_date": dates,
        "close_date": st.one_of(st.none(), dates),
    }
)
tables = st.lists(rows, min_size=0, max_size=30)


def _write(folder: Path, deals: list[dict]) -> Path:
    with open(folder / "deals.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for i, deal in enumerate(deals):
            cells = {**deal, "deal_id": f"D{i + 1}"}
            writer.writerow(["" if cells[c] is None else str(cells[c]) for c in COLUMNS])
    (folder / "metrics.yaml").write_text(CATALOG)
    return folder / "metrics.yaml"


def _report(catalog: Path, *args: str) -> list[dict[str, str]]:
    result = run("report", "--catalog", str(catalog), "--format", "csv", *args)
    assert result.exit_code == 0, f"exit {result.exit_code}\nstderr: {result.stderr}"
    return list(csv.DictReader(io.StringIO(result.stdout)))


def _number(text: str) -> float | None:
    return None if text == "" else float(text)


def _values(report: list[dict[str, str]], by: str | None = None) -> dict:
    """{metric: value} overall, or {(metric, group): value} by a dimension."""
    if by is None:
        return {r["metric"]: _number(r["value"]) for r in report}
    return {(r["metric"], r[by]): _number(r["value"]) for r in report}


def _close(got: float | None, expected: float | None) -> bool:
    if expected is None or got is None:
        return got is None and expected is None
    return got == pytest.approx(expected, rel=1e-9, abs=1e-6)


# ------------------------------------------------------------------------------------- plain Python


def _within(day: date | None, span: tuple[date, date]) -> bool:
    return day is not None and span[0] <= day < span[1]


def _expected(deals: list[dict], span: tuple[date, date]) -> dict[str | None, dict[str, float | None]]:
    """{group: {metric: value}} with group None for the total and "" for deals without a rep."""
    by_close = [(i, d) for i, d in enumerate(deals) if _within(d["close_date"], span)]
    by_created = [(i, d) for i, d in enumerate(deals) if _within(d["created_date"], span)]
    groups = {None} | {d["rep"] or "" for _, d in by_close + by_created}
    out: dict[str | None, dict[str, float | None]] = {}
    for g in groups:
        closed = [(i, d) for i, d in by_close if g is None or (d["rep"] or "") == g]
        created = [(i, d) for i, d in by_created if g is None or (d["rep"] or "") == g]
        amounts = [float(d["amount"]) for _, d in closed if d["amount"] is not None]
        m: dict[str, float | None] = {
            "deals_all": len(closed),
            "deals_won": sum(d["stage"] == "Won" for _, d in closed),
            "deals_closed": sum(d["stage"] in ("Won", "Lost") for _, d in closed),
            "revenue": sum(
                float(d["amount"]) for _, d in closed if d["stage"] == "Won" and d["amount"] is not None
            ),
            "amount_total": sum(amounts),
            "deal_keys": len({i for i, _ in closed}),
            "accounts": len({d["account_id"] for _, d in closed if d["account_id"] is not None}),
            "avg_amount": sum(amounts) / len(amounts) if amounts else None,
            "created": len(created),
            "pipeline": sum(float(d["amount"]) for _, d in created if d["amount"] is not None),
        }
        m["win_rate"] = m["deals_won"] / m["deals_closed"] if m["deals_closed"] else None
        m["won_share"] = m["deals_won"] / m["deals_all"] if m["deals_all"] else None
        out[g] = m
    return out


def _by_rep(report: list[dict[str, str]]) -> dict[str, dict[str, float | None]]:
    grouped: dict[str, dict[str, float | None]] = defaultdict(dict)
    for r in report:
        grouped[r["rep"]][r["metric"]] = _number(r["value"])
    return dict(grouped)


# ------------------------------------------------------------------------------------------ properties

SETTINGS = settings(max_examples=25, deadline=None)


@SETTINGS
@given(deals=tables)
def test_additive_metrics_sum_over_groups_and_ratios_stay_in_range(deals):
    with tempfile.TemporaryDirectory() as tmp:
        catalog = _write(Path(tmp), deals)
        total = _values(_report(catalog, "--period", "2025-Q3"))
        groups = _by_rep(_report(catalog, "--period", "2025-Q3", "--by", "rep"))

    for name in ADDITIVE:
        assert _close(sum(g[name] for g in groups.values()), total[name]), name
    # Distinct accounts are not additive across reps (two reps may share an account), but bounded.
    assert sum(g["accounts"] for g in groups.values()) >= total["accounts"]
    assert all(g["accounts"] <= total["accounts"] for g in groups.values())

    for name in RATIOS:
        for where, value in [("total", total[name])] + [(rep, g[name]) for rep, g in groups.items()]:
            assert value is None or 0 <= value <= 1, (name, where, value)


@SETTINGS
@given(deals=tables)
def test_months_of_a_quarter_add_up_to_the_quarter(deals):
    with tempfile.TemporaryDirectory() as tmp:
        catalog = _write(Path(tmp), deals)
        quarter = _values(_report(catalog, "--period", "2025-Q3"))
        months = [_values(_report(catalog, "--period", month)) for month in MONTHS]

    for name in ADDITIVE:
        assert _close(sum(m[name] for m in months), quarter[name]), name
    # A month's distinct accounts never exceed the quarter's.
    assert all(m["accounts"] <= quarter["accounts"] for m in months)


@SETTINGS
@given(deals=tables)
def test_every_value_matches_plain_python(deals):
    """Overall for the quarter and one month, and per rep for the quarter, means and ratios included."""
    with tempfile.TemporaryDirectory() as tmp:
        catalog = _write(Path(tmp), deals)
        quarter = _values(_report(catalog, "--period", "2025-Q3"))
        september = _values(_report(catalog, "--period", "2025-09"))
        groups = _by_rep(_report(catalog, "--period", "2025-Q3", "--by", "rep"))
    expected = _expected(deals, QUARTER)
    for name, value in expected[None].items():
        assert _close(quarter[name], value), (name, quarter[name], value)
    for name, value in _expected(deals, MONTHS["2025-09"])[None].items():
        assert _close(september[name], value), (name, september[name], value)

    assert set(groups) == {g for g in expected if g is not None}, "groups: the reps present in the period"
    for rep, metrics in groups.items():
        for name, value in expected[rep].items():
            assert _close(metrics[name], value), (rep, name, metrics[name], value)


def test_the_generator_reaches_the_interesting_cases():
    """Sanity: the strategy produces nulls, a no-rep group and deals outside the period."""
    seen = {"no rep": False, "no amount": False, "open": False, "outside": False}

    @settings(max_examples=60, deadline=None)
    @given(deals=tables)
    def look(deals):
        for d in deals:
            seen["no rep"] |= d["rep"] is None
            seen["no amount"] |= d["amount"] is None
            seen["open"] |= d["close_date"] is None
            seen["outside"] |= d["close_date"] is not None and not _within(d["close_date"], QUARTER)

    look()
    assert all(seen.values()), seen
