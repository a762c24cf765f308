"""The Maven "CRM Sales Opportunities" catalog (examples/maven) on a real CRM export.

Every expected value is computed independently, in DuckDB SQL over the same CSV files, from the
meaning of the data (won = deal_stage 'Won', period = close date in [start, end), manager = the
agent's row in sales_teams.csv, ...), never copied from salescode's output.

Each test runs on the bundled extract (tests/data/maven_extract, always there) and on the full export
in ../shared/datasets/maven-crm (skipped when that folder is absent).
"""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from conftest import DATA, REPO, run, shared_dataset

CATALOG = REPO / "examples" / "maven" / "metrics.yaml"
EXTRACT = DATA / "maven_extract"
FILES = ("sales_pipeline.csv", "sales_teams.csv", "accounts.csv", "products.csv")

# period argument -> (start, end) of the period and of the one before it; None = --period all.
PERIODS: dict[str, tuple[tuple[str, str], tuple[str, str]] | None] = {
    "2017-06": (("2017-06-01", "2017-07-01"), ("2017-05-01", "2017-06-01")),
    "2017-Q3": (("2017-07-01", "2017-10-01"), ("2017-04-01", "2017-07-01")),
    "all": None,
}
DIMENSIONS = ("sales_agent", "manager", "regional_office", "product", "sector")


@dataclass
class Maven:
    """A folder holding the export's CSVs with the catalog copied next to them, and a DuckDB copy
    of the same files."""

    name: str
    catalog: Path
    db: duckdb.DuckDBPyConnection

    def rows(self, sql: str) -> list[tuple]:
        return self.db.execute(sql).fetchall()

    def one(self, sql: str):
        return self.db.execute(sql).fetchone()[0]


def _open_db(folder: Path) -> duckdb.DuckDBPyConnection:
    db = duckdb.connect()

    def read(name: str) -> str:
        # Everything as text, empty cells as NULL; types are cast explicitly below.
        return f"read_csv('{folder / name}', header = true, all_varchar = true, nullstr = '')"

    db.execute(
        f"""
        CREATE TABLE deals AS
        SELECT p.opportunity_id, p.sales_agent, p.product, p.account, p.deal_stage,
               CAST(p.engage_date AS DATE) AS engage_date,
               CAST(p.close_date AS DATE) AS close_date,
               CAST(p.close_value AS DOUBLE) AS close_value,
               t.manager, t.regional_office, a.sector,
               CAST(pr.sales_price AS DOUBLE) AS sales_price
        FROM {read("sales_pipeline.csv")} p
        LEFT JOIN {read("sales_teams.csv")} t ON t.sales_agent = p.sales_agent
        LEFT JOIN {read("accounts.csv")} a ON a.account = p.account
        LEFT JOIN {read("products.csv")} pr ON pr.product = p.product
        """
    )
    db.execute(f"CREATE TABLE accounts AS SELECT * FROM {read('accounts.csv')}")
    # The reference must see every deal once: no row lost to parsing, none multiplied by a join.
    lines = (folder / "sales_pipeline.csv").read_bytes().splitlines()
    assert db.execute("SELECT COUNT(*), COUNT(DISTINCT opportunity_id) FROM deals").fetchone() == (
        len(lines) - 1,
        len(lines) - 1,
    )
    return db


@pytest.fixture(scope="module", params=["extract", "full"])
def maven(request, tmp_path_factory) -> Maven:
    source = EXTRACT if request.param == "extract" else shared_dataset("maven-crm")
    folder = tmp_path_factory.mktemp(f"maven_{request.param}")
    for name in FILES:
        shutil.copyfile(source / name, folder / name)
    # The catalog names the export's files relative to itself: it is used from the export's folder.
    shutil.copyfile(CATALOG, folder / "metrics.yaml")
    db = _open_db(folder)
    yield Maven(request.param, folder / "metrics.yaml", db)
    db.close()


def _csv(result) -> list[dict[str, str]]:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstderr: {result.stderr}\nstdout: {result.stdout}"
    return list(csv.DictReader(io.StringIO(result.stdout)))


def report(maven: Maven, *args: str) -> list[dict[str, str]]:
    return _csv(run("report", "--catalog", str(maven.catalog), "--format", "csv", *args))


def funnel(maven: Maven, *args: str) -> list[dict[str, str]]:
    return _csv(run("funnel", "--catalog", str(maven.catalog), "--format", "csv", *args))


def number(text: str) -> float | None:
    return None if text == "" else float(text)


def close_enough(got: float | None, expected: float | None) -> bool:
    if expected is None or got is None:
        return got is None and expected is None
    return got == pytest.approx(expected, rel=1e-9, abs=1e-9)


def in_period(column: str, span: tuple[str, str] | None) -> str:
    if span is None:
        return "TRUE"
    return f"{column} >= DATE '{span[0]}' AND {column} < DATE '{span[1]}'"


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def won_revenue_and_win_rate(maven: Maven, span: tuple[str, str] | None, by: str | None = None) -> dict:
    """{group: (won revenue, win rate)} over the deals closed in the span (all deals when None)."""
    group = by or "'total'"
    rows = maven.rows(
        f"""
        SELECT {group} AS g,
               COALESCE(SUM(close_value) FILTER (WHERE deal_stage = 'Won'), 0),
               COUNT(*) FILTER (WHERE deal_stage = 'Won'),
               COUNT(*) FILTER (WHERE deal_stage IN ('Won', 'Lost'))
        FROM deals WHERE {in_period("close_date", span)} GROUP BY g
        """
    )
    return {("" if g is None else g): (revenue, ratio(won, closed)) for g, revenue, won, closed in rows}


# ---------------------------------------------------------------------------------------------- catalog


def test_catalog_validates_next_to_the_export(maven):
    result = run("validate", "--catalog", str(maven.catalog))
    assert result.exit_code == 0, result.stderr
    assert "valid" in result.stderr


def test_catalog_levels_and_categories(maven):
    result = run("metrics", "--catalog", str(maven.catalog), "--format", "csv")
    assert result.exit_code == 0, result.stderr
    placed = {r["metric"]: (r["level"], r["category"]) for r in csv.DictReader(io.StringIO(result.stdout))}
    assert {
        name: placed.get(name)
        for name in ("won_revenue", "win_rate", "sales_cycle", "products_sold", "deals_engaged", "open_deals")
    } == {
        "won_revenue": ("result", "financial"),
        "win_rate": ("result", "financial"),
        "sales_cycle": ("objective", "sales_force_capability"),
        "products_sold": ("objective", "product_focus"),
        "deals_engaged": ("activity", "opportunity_management"),
        "open_deals": ("activity", "opportunity_management"),
    }
    assert {level for level, _ in placed.values()} == {"activity", "objective", "result"}


# ---------------------------------------------------------------------------------------------- totals


@pytest.mark.parametrize("period", list(PERIODS))
def test_win_rate_and_won_revenue(maven, period):
    spans = PERIODS[period]
    current, previous = spans if spans else (None, None)
    rows = {r["metric"]: r for r in report(maven, "--period", period, "-m", "won_revenue", "-m", "win_rate")}
    revenue, win_rate = won_revenue_and_win_rate(maven, current)["total"]
    assert close_enough(number(rows["won_revenue"]["value"]), revenue)
    assert close_enough(number(rows["win_rate"]["value"]), win_rate)
    if previous is None:
        assert rows["won_revenue"]["previous"] == "" and rows["win_rate"]["previous"] == ""
    else:
        before_revenue, before_rate = won_revenue_and_win_rate(maven, previous)["total"]
        assert close_enough(number(rows["won_revenue"]["previous"]), before_revenue)
        assert close_enough(number(rows["win_rate"]["previous"]), before_rate)


def _expected_scorecard(maven: Maven, span: tuple[str, str] | None) -> dict[str, float | None]:
    closed = in_period("close_date", span)
    engaged = in_period("engage_date", span)
    won = f"deal_stage = 'Won' AND {closed}"
    q = maven.one
    won_revenue = q(f"SELECT COALESCE(SUM(close_value), 0) FROM deals WHERE {won}")
    deals_won = q(f"SELECT COUNT(*) FROM deals WHERE {won}")
    deals_closed = q(f"SELECT COUNT(*) FROM deals WHERE deal_stage IN ('Won', 'Lost') AND {closed}")
    agents = q(f"SELECT COUNT(DISTINCT sales_agent) FROM deals WHERE close_date IS NOT NULL AND {closed}")
    accounts_won = q(f"SELECT COUNT(DISTINCT account) FROM deals WHERE {won}")
    # List price is known only where the product name matches products.csv exactly (not 'GTXPro').
    priced = maven.db.execute(
        f"SELECT SUM(close_value), SUM(sales_price) FROM deals WHERE {won} AND sales_price IS NOT NULL"
    ).fetchone()
    gtx = q(f"SELECT COALESCE(SUM(close_value), 0) FROM deals WHERE {won} AND product LIKE 'GTX%'")
    gtk = q(f"SELECT COALESCE(SUM(close_value), 0) FROM deals WHERE {won} AND product = 'GTK 500'")
    open_stage = "deal_stage IN ('Prospecting', 'Engaging')"
    return {
        "won_revenue": won_revenue,
        "deals_won": deals_won,
        "deals_lost": q(f"SELECT COUNT(*) FROM deals WHERE deal_stage = 'Lost' AND {closed}"),
        "deals_closed": deals_closed,
        "win_rate": ratio(deals_won, deals_closed),
        "avg_deal_size": ratio(won_revenue, deals_won),
        "active_agents": agents,
        "revenue_per_agent": ratio(won_revenue, agents),
        "deals_closed_per_agent": ratio(deals_closed, agents),
        "sales_cycle": q(
            f"SELECT AVG(close_date - engage_date) FROM deals "
            f"WHERE deal_stage IN ('Won', 'Lost') AND {closed}"
        ),
        "won_sales_cycle": q(f"SELECT MEDIAN(close_date - engage_date) FROM deals WHERE {won}"),
        "accounts_won": accounts_won,
        "accounts_in_book": q("SELECT COUNT(*) FROM accounts"),
        "account_penetration": ratio(accounts_won, q("SELECT COUNT(*) FROM accounts")),
        "revenue_per_account": ratio(won_revenue, accounts_won),
        "price_realisation": ratio(priced[0] or 0, priced[1] or 0),
        "products_sold": q(f"SELECT COUNT(DISTINCT product) FROM deals WHERE {won}"),
        "gtx_series_revenue": gtx,
        "gtx_series_share": ratio(gtx, won_revenue),
        "gtk_share": ratio(gtk, won_revenue),
        "deals_engaged": q(f"SELECT COUNT(*) FROM deals WHERE engage_date IS NOT NULL AND {engaged}"),
        "accounts_engaged": q(
            f"SELECT COUNT(DISTINCT account) FROM deals WHERE engage_date IS NOT NULL AND {engaged}"
        ),
        # Snapshots of the export: the same whatever the period.
        "open_deals": q(f"SELECT COUNT(*) FROM deals WHERE {open_stage}"),
        "prospecting_deals": q("SELECT COUNT(*) FROM deals WHERE deal_stage = 'Prospecting'"),
        "engaging_deals": q("SELECT COUNT(*) FROM deals WHERE deal_stage = 'Engaging'"),
        "accounts_with_open_deals": q(f"SELECT COUNT(DISTINCT account) FROM deals WHERE {open_stage}"),
    }


@pytest.mark.parametrize("period", list(PERIODS))
def test_scorecard(maven, period):
    spans = PERIODS[period]
    expected = _expected_scorecard(maven, spans[0] if spans else None)
    got = {r["metric"]: number(r["value"]) for r in report(maven, "--period", period)}
    wrong = {
        name: (got.get(name), value)
        for name, value in expected.items()
        if not close_enough(got.get(name), value)
    }
    assert not wrong, f"metric: (salescode, expected) {wrong}"


# ---------------------------------------------------------------------------------------------- by group


@pytest.mark.parametrize("period", list(PERIODS))
@pytest.mark.parametrize("dim", DIMENSIONS)
def test_won_revenue_and_win_rate_by_group(maven, dim, period):
    spans = PERIODS[period]
    rows = report(maven, "--period", period, "--by", dim, "-m", "won_revenue", "-m", "win_rate")
    got: dict[str, dict[str, float | None]] = {}
    for row in rows:
        got.setdefault(row[dim], {})[row["metric"]] = number(row["value"])
    # The groups are those with a deal in the period: closed in it, or (with --period all) any deal.
    expected = won_revenue_and_win_rate(maven, spans[0] if spans else None, by=dim)
    assert set(got) == set(expected)
    wrong = {
        group: ((values["won_revenue"], values["win_rate"]), expected[group])
        for group, values in got.items()
        if not (
            close_enough(values["won_revenue"], expected[group][0])
            and close_enough(values["win_rate"], expected[group][1])
        )
    }
    assert not wrong, f"{dim}: (salescode, expected) {wrong}"


def test_manager_comes_from_sales_teams(maven):
    """Each agent's won revenue rolls up to the manager sales_teams.csv names for the agent."""
    agents = {
        r["sales_agent"]: number(r["value"])
        for r in report(maven, "--period", "all", "--by", "sales_agent")
        if r["metric"] == "won_revenue"
    }
    managers = {
        r["manager"]: number(r["value"])
        for r in report(maven, "--period", "all", "--by", "manager")
        if r["metric"] == "won_revenue"
    }
    team_of = dict(maven.rows("SELECT DISTINCT sales_agent, manager FROM deals"))
    rolled: dict[str, float] = {}
    for agent, revenue in agents.items():
        rolled[team_of[agent]] = rolled.get(team_of[agent], 0.0) + revenue
    assert managers == pytest.approx(rolled)


# ---------------------------------------------------------------------------------------------- funnel

# The stages in order; a deal at stage k reached every stage up to k, a lost deal reached Engaging.
REACHED = {
    "Prospecting": "deal_stage IN ('Prospecting', 'Engaging', 'Won', 'Lost')",
    "Engaging": "deal_stage IN ('Engaging', 'Won', 'Lost')",
    "Won": "deal_stage = 'Won'",
}


def _expected_funnel(maven: Maven, where: str, by: str | None = None) -> dict[tuple[str, str], tuple]:
    """{(group, stage): (reached, dropped)} over the deals selected by `where`."""
    group = by or "'total'"
    counts = ", ".join(f"COUNT(*) FILTER (WHERE {condition})" for condition in REACHED.values())
    rows = maven.rows(
        f"SELECT {group} AS g, {counts}, COUNT(*) FILTER (WHERE deal_stage = 'Lost') "
        f"FROM deals WHERE {where} GROUP BY g"
    )
    expected = {}
    for g, *reached, lost in rows:
        for stage, n in zip(REACHED, reached, strict=True):
            expected[("" if g is None else g, stage)] = (n, lost if stage == "Engaging" else 0)
    return expected


def _funnel_counts(rows: list[dict[str, str]], by: str | None = None) -> dict[tuple[str, str], tuple]:
    return {
        (row[by] if by else "total", row["stage"]): (int(row["reached"]), int(row["dropped"])) for row in rows
    }


@pytest.mark.parametrize("by", [None, "manager", "regional_office"])
def test_funnel_all(maven, by):
    rows = funnel(maven, "--period", "all", *(["--by", by] if by else []))
    assert [r["stage"] for r in rows[:3]] == list(REACHED)
    assert _funnel_counts(rows, by) == _expected_funnel(maven, "TRUE", by)


def test_funnel_conversion_and_days_in_engaging(maven):
    rows = {r["stage"]: r for r in funnel(maven, "--period", "all")}
    total, engaged, won = (maven.one(f"SELECT COUNT(*) FROM deals WHERE {c}") for c in REACHED.values())
    assert close_enough(number(rows["Engaging"]["conversion"]), engaged / total)
    assert close_enough(number(rows["Won"]["conversion"]), won / engaged)
    assert close_enough(number(rows["Won"]["overall"]), won / total)
    # Time in Engaging: from engage date to close date, whether the deal was then won or lost.
    median, mean = maven.db.execute(
        "SELECT MEDIAN(close_date - engage_date), AVG(close_date - engage_date) FROM deals "
        "WHERE close_date IS NOT NULL"
    ).fetchone()
    assert close_enough(number(rows["Engaging"]["median_days_in_stage"]), median)
    assert close_enough(number(rows["Engaging"]["mean_days_in_stage"]), mean)


@pytest.mark.parametrize("period", ["2017-06", "2017-Q3"])
def test_funnel_in_a_period(maven, period):
    spans = PERIODS[period]
    assert spans is not None
    start, end = spans[0]
    # Default: the deals active in the period: engaged before it ended and not closed before it began
    # (Prospecting deals have no engage date, so they are in no period).
    active = f"engage_date < DATE '{end}' AND (close_date IS NULL OR close_date >= DATE '{start}')"
    assert _funnel_counts(funnel(maven, "--period", period)) == _expected_funnel(maven, active)
    # --cohort: the deals engaged in the period, followed to wherever they got.
    cohort = in_period("engage_date", (start, end))
    assert _funnel_counts(funnel(maven, "--period", period, "--cohort")) == _expected_funnel(maven, cohort)
