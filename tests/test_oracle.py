"""Every metric of the default catalog (metrics.yaml over sample_data/) against a second implementation.

The expected values are computed in DuckDB SQL straight from the sample CSVs, written by hand from each
metric's definition and the catalog's `joins:` (many-to-one left joins; a `columns:` list limits what a
join brings; accounts' `owner` is the canonical `rep`, its `region` is `account_region` and its
`created_date` is `account_created`). Nothing here reads the catalog programmatically and no expected
value is taken from salescode's output.

Periods are half-open date ranges: 2025-Q3 = [2025-07-01, 2025-10-01), compared with 2025-Q2.
`--period all` applies no time filter at all (rows with an empty date included) and has no previous.
A source without `time:` (accounts, territories) is a snapshot: its metrics are never time-filtered
unless the metric names its own time column.

The tiny fixture (tests/data/tiny, 8 deals) is checked against values worked out by hand.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pytest
from conftest import REPO, TINY, run

CATALOG = REPO / "metrics.yaml"
SAMPLE = REPO / "sample_data"
FILES = (
    "deals.csv",
    "activities.csv",
    "accounts.csv",
    "reps.csv",
    "quotas.csv",
    "territories.csv",
    "surveys.csv",
    "stage_history.csv",
)

Span = tuple[str, str] | None  # [start, end) as ISO dates; None = --period all
Q3: Span = ("2025-07-01", "2025-10-01")
Q2: Span = ("2025-04-01", "2025-07-01")
Q3_MONTHS = ("2025-07", "2025-08", "2025-09")


# ------------------------------------------------------------------------------------------ the oracle


def _read(name: str, types: dict[str, str]) -> str:
    """A DuckDB table function over one sample CSV, every column typed explicitly, empty = NULL."""
    spec = ", ".join(f"'{column}': '{kind}'" for column, kind in types.items())
    return f"read_csv('{SAMPLE / name}', header = true, columns = {{{spec}}}, nullstr = '', quote = '\"')"


DEALS = {
    "deal_id": "VARCHAR",
    "account_id": "VARCHAR",
    "rep": "VARCHAR",
    "product": "VARCHAR",
    "lead_source": "VARCHAR",
    "stage": "VARCHAR",
    "amount": "DOUBLE",
    "discount_pct": "DOUBLE",
    "created_date": "DATE",
    "close_date": "DATE",
    "lost_reason": "VARCHAR",
    "lost_stage": "VARCHAR",
}
ACTIVITIES = {
    "activity_id": "VARCHAR",
    "rep": "VARCHAR",
    "account_id": "VARCHAR",
    "deal_id": "VARCHAR",
    "type": "VARCHAR",
    "date": "DATE",
    "outcome": "VARCHAR",
    "duration_min": "INTEGER",
}
ACCOUNTS = {
    "account_id": "VARCHAR",
    "account_name": "VARCHAR",
    "segment": "VARCHAR",
    "industry": "VARCHAR",
    "region": "VARCHAR",
    "owner": "VARCHAR",
    "is_key_account": "BOOLEAN",
    "created_date": "DATE",
    "churn_date": "DATE",
    "churn_reason": "VARCHAR",
}
REPS = {
    "rep": "VARCHAR",
    "team": "VARCHAR",
    "region": "VARCHAR",
    "manager": "VARCHAR",
    "role": "VARCHAR",
    "hire_date": "DATE",
    "exit_date": "DATE",
    "exit_reason": "VARCHAR",
}
QUOTAS = {"rep": "VARCHAR", "period": "VARCHAR", "month_start": "DATE", "quota_amount": "DOUBLE"}
TERRITORIES = {
    "region": "VARCHAR",
    "segment": "VARCHAR",
    "market_potential": "DOUBLE",
    "target_accounts": "INTEGER",
}
SURVEYS = {
    "response_id": "VARCHAR",
    "account_id": "VARCHAR",
    "date": "DATE",
    "csat": "INTEGER",
    "nps": "INTEGER",
}


def _open_db() -> duckdb.DuckDBPyConnection:
    """The catalog's sources, with their joins done by hand."""
    db = duckdb.connect()
    db.execute(f"CREATE TABLE reps AS SELECT * FROM {_read('reps.csv', REPS)}")
    db.execute(f"CREATE TABLE raw_accounts AS SELECT * FROM {_read('accounts.csv', ACCOUNTS)}")
    rep_columns = "r.team, r.region, r.manager, r.role, r.hire_date, r.exit_date, r.exit_reason"
    # accounts: owner -> rep, region -> account_region, created_date -> account_created; joins reps on rep
    # (reps' `region` is then the owner's region; no clash since the account's own one was renamed).
    db.execute(
        f"""
        CREATE TABLE accounts AS
        SELECT a.account_id, a.account_name, a.segment, a.industry, a.region AS account_region,
               a.owner AS rep, a.is_key_account, a.created_date AS account_created, a.churn_date,
               a.churn_reason, {rep_columns}
        FROM raw_accounts a LEFT JOIN reps r ON r.rep = a.owner
        """
    )
    # deals: join reps on rep, then accounts on account_id bringing only the four listed columns.
    db.execute(
        f"""
        CREATE TABLE deals AS
        SELECT d.*, {rep_columns}, a.segment, a.industry, a.is_key_account, a.account_created
        FROM {_read("deals.csv", DEALS)} d
        LEFT JOIN reps r ON r.rep = d.rep
        LEFT JOIN accounts a ON a.account_id = d.account_id
        """
    )
    db.execute(
        f"""
        CREATE TABLE activities AS
        SELECT x.*, {rep_columns}, a.segment, a.industry, a.is_key_account
        FROM {_read("activities.csv", ACTIVITIES)} x
        LEFT JOIN reps r ON r.rep = x.rep
        LEFT JOIN accounts a ON a.account_id = x.account_id
        """
    )
    # surveys: accounts bring the owner as `rep`; reps is then joined on that rep.
    db.execute(
        f"""
        CREATE TABLE surveys AS
        SELECT s.*, a.rep, a.segment, a.industry, a.is_key_account, {rep_columns}
        FROM {_read("surveys.csv", SURVEYS)} s
        LEFT JOIN accounts a ON a.account_id = s.account_id
        LEFT JOIN reps r ON r.rep = a.rep
        """
    )
    db.execute(
        f"""
        CREATE TABLE quotas AS
        SELECT q.*, {rep_columns} FROM {_read("quotas.csv", QUOTAS)} q LEFT JOIN reps r ON r.rep = q.rep
        """
    )
    db.execute(f"CREATE TABLE territories AS SELECT * FROM {_read('territories.csv', TERRITORIES)}")
    history = {"deal_id": "VARCHAR", "stage": "VARCHAR", "entered": "DATE"}
    db.execute(f"CREATE TABLE history AS SELECT * FROM {_read('stage_history.csv', history)}")
    # Many-to-one joins must neither lose nor multiply rows: each joined table has one row per line.
    for table, name in [("deals", "deals.csv"), ("activities", "activities.csv"), ("surveys", "surveys.csv")]:
        lines = len((SAMPLE / name).read_text().splitlines()) - 1
        assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == lines
    return db


@dataclass(frozen=True)
class Simple:
    """A metric computed straight from one source: SQL aggregate, SQL condition, time column."""

    table: str
    agg: str  # COUNT(*) / SUM(x) / COUNT(DISTINCT x) / AVG(x)
    where: str = "TRUE"
    time: str | None = None  # None: a snapshot, never time-filtered

    @property
    def empty(self) -> float | None:
        """The value over no rows: 0 for count / count_distinct / sum, empty for a mean."""
        return None if self.agg.startswith("AVG") else 0


# Written by hand from metrics.yaml (source, agg, expr, filter, time), not read from it.
SIMPLE: dict[str, Simple] = {
    # activities, by activity date
    "calls_made": Simple("activities", "COUNT(*)", "type = 'call'", "date"),
    "calls_connected": Simple("activities", "COUNT(*)", "type = 'call' AND outcome = 'connected'", "date"),
    "emails_sent": Simple("activities", "COUNT(*)", "type = 'email'", "date"),
    "meetings_held": Simple("activities", "COUNT(*)", "type = 'meeting' AND outcome = 'held'", "date"),
    "avg_meeting_minutes": Simple(
        "activities", "AVG(duration_min)", "type = 'meeting' AND outcome = 'held'", "date"
    ),
    "demos_held": Simple("activities", "COUNT(*)", "type = 'demo' AND outcome = 'held'", "date"),
    "accounts_touched": Simple("activities", "COUNT(DISTINCT account_id)", "TRUE", "date"),
    "key_account_meetings": Simple(
        "activities", "COUNT(*)", "type = 'meeting' AND outcome = 'held' AND is_key_account", "date"
    ),
    "prospect_accounts_contacted": Simple(
        "activities", "COUNT(DISTINCT account_id)", "deal_id IS NULL", "date"
    ),
    "activities_logged": Simple("activities", "COUNT(*)", "TRUE", "date"),
    "activities_with_outcome": Simple("activities", "COUNT(*)", "outcome IS NOT NULL", "date"),
    "active_reps": Simple("activities", "COUNT(DISTINCT rep)", "TRUE", "date"),
    "key_accounts_touched": Simple("activities", "COUNT(DISTINCT account_id)", "is_key_account", "date"),
    # deals, by close date unless the metric names created_date
    "won_revenue": Simple("deals", "SUM(amount)", "stage = 'Won'", "close_date"),
    "deals_won": Simple("deals", "COUNT(*)", "stage = 'Won'", "close_date"),
    "deals_closed": Simple("deals", "COUNT(*)", "stage IN ('Won', 'Lost')", "close_date"),
    # a duration in (fractional) days: date difference in days, averaged
    "sales_cycle": Simple(
        "deals", "AVG(DATE_DIFF('day', created_date, close_date))", "stage IN ('Won', 'Lost')", "close_date"
    ),
    "avg_discount": Simple("deals", "AVG(discount_pct)", "stage = 'Won'", "close_date"),
    "repeat_customer_deals": Simple(
        "deals",
        "COUNT(*)",
        "stage = 'Won' AND account_created < created_date - INTERVAL 365 DAY",
        "close_date",
    ),
    "focus_product_revenue": Simple(
        "deals", "SUM(amount)", "stage = 'Won' AND product = 'Analytics Add-on'", "close_date"
    ),
    "new_opportunities": Simple("deals", "COUNT(*)", "TRUE", "created_date"),
    "pipeline_created": Simple("deals", "SUM(amount)", "TRUE", "created_date"),
    # reps, by exit date
    "rep_exits": Simple("reps", "COUNT(*)", "exit_date IS NOT NULL", "exit_date"),
    # quotas, by month start
    "quota": Simple("quotas", "SUM(quota_amount)", "TRUE", "month_start"),
    # surveys, by response date
    "csat": Simple("surveys", "AVG(csat)", "TRUE", "date"),
    "nps_promoters": Simple("surveys", "COUNT(*)", "nps >= 9", "date"),
    "nps_detractors": Simple("surveys", "COUNT(*)", "nps <= 6", "date"),
    "nps_responses": Simple("surveys", "COUNT(*)", "nps IS NOT NULL", "date"),
    # accounts: a snapshot, except churn by churn date
    "accounts_churned": Simple("accounts", "COUNT(*)", "churn_date IS NOT NULL", "churn_date"),
    "customer_accounts": Simple("accounts", "COUNT(*)"),
    "key_accounts": Simple("accounts", "COUNT(*)", "is_key_account"),
    # territories: plan figures, a snapshot
    "target_accounts": Simple("territories", "SUM(target_accounts)"),
    "market_potential": Simple("territories", "SUM(market_potential)"),
}

RATIOS: dict[str, tuple[str, str]] = {
    "connect_rate": ("calls_connected", "calls_made"),
    "crm_hygiene": ("activities_with_outcome", "activities_logged"),
    "territory_coverage": ("accounts_touched", "target_accounts"),
    "key_account_coverage": ("key_accounts_touched", "key_accounts"),
    "rep_attrition": ("rep_exits", "active_reps"),
    "focus_product_share": ("focus_product_revenue", "won_revenue"),
    "win_rate": ("deals_won", "deals_closed"),
    "market_share": ("won_revenue", "market_potential"),
}

Values = dict[str, float | None]


def div(a: float | None, b: float | None) -> float | None:
    """Division where any division by zero (or an empty operand) is empty."""
    if a is None or b is None or b == 0:
        return None
    return a / b


DERIVED: dict[str, Callable[[Values], float | None]] = {
    "activities_per_rep": lambda m: div(m["activities_logged"], m["active_reps"]),
    "meetings_per_opportunity": lambda m: div(m["meetings_held"], m["new_opportunities"]),
    "avg_deal_size": lambda m: div(m["won_revenue"], m["deals_won"]),
    "quota_attainment": lambda m: div(m["won_revenue"], m["quota"]),
    "nps": lambda m: div((m["nps_promoters"] - m["nps_detractors"]) * 100, m["nps_responses"]),
    "customer_retention": lambda m: (
        None if (share := div(m["accounts_churned"], m["customer_accounts"])) is None else 1 - share
    ),
}

# Funnel conversions (funnel `pipeline`: a deal's furthest stage is the furthest funnel stage it entered
# in stage_history.csv): of the deals that reached `from`, the share that reached `to`. "active": deals
# created before the period's end and not closed before its start; "created": created in the period.
PIPELINE_STAGES = ("Lead", "Qualified", "Demo", "Proposal", "Negotiation", "Won")
CONVERSIONS: dict[str, tuple[str, str, str]] = {
    "demo_to_proposal": ("Demo", "Proposal", "active"),
    "qualified_to_won": ("Qualified", "Won", "created"),
}

ALL_METRICS = sorted([*SIMPLE, *RATIOS, *DERIVED, *CONVERSIONS])
NO_REP = {"target_accounts", "market_potential", "territory_coverage", "market_share"}  # territories lack rep
BY_REP_METRICS = [name for name in ALL_METRICS if name not in NO_REP]

# The metrics' own targets: (value, scaled per month?) and which way is better.
OWN_TARGETS: dict[str, tuple[float, bool]] = {
    "calls_made": (560, True),
    "meetings_held": (260, True),
    "new_opportunities": (240, True),
    "won_revenue": (1_500_000, True),  # overridden by the quotas file for whole-month periods
    "connect_rate": (0.33, False),
    "crm_hygiene": (0.9, False),
    "territory_coverage": (0.5, False),
    "key_account_coverage": (0.8, False),
    "sales_cycle": (75, False),
    "avg_discount": (0.12, False),
    "focus_product_share": (0.25, False),
    "win_rate": (0.35, False),
    "quota_attainment": (1, False),
    "demo_to_proposal": (0.8, False),
    "csat": (4.2, False),
    "nps": (30, False),
    "customer_retention": (0.99, False),
}
LOWER_IS_BETTER = {
    "sales_cycle",
    "avg_discount",
    "rep_exits",
    "rep_attrition",
    "nps_detractors",
    "accounts_churned",
}
ADDITIVE = {name for name, simple in SIMPLE.items() if not simple.agg.startswith("AVG")}


class Oracle:
    def __init__(self, db: duckdb.DuckDBPyConnection) -> None:
        self.db = db

    def simple(self, name: str, span: Span, by_rep: bool) -> dict[str | None, float | None]:
        """{rep or None (overall): value} for the groups with rows; absent groups take `Simple.empty`."""
        metric = SIMPLE[name]
        when = "TRUE"
        if span is not None and metric.time is not None:
            when = f"{metric.time} >= DATE '{span[0]}' AND {metric.time} < DATE '{span[1]}'"
        group = "rep" if by_rep else "NULL"
        rows = self.db.execute(
            f"SELECT {group} AS g, {metric.agg} FROM {metric.table} "
            f"WHERE ({metric.where}) AND ({when}) GROUP BY g"
        ).fetchall()
        return {g: (metric.empty if v is None else float(v)) for g, v in rows}

    def conversion(self, name: str, span: Span, by_rep: bool) -> dict[str | None, float | None]:
        """{rep or None: reached(to) / reached(from)} over the funnel's deals of the period."""
        start, end, deals = CONVERSIONS[name]
        if span is None:
            where = "TRUE"
        elif deals == "active":
            where = (
                f"created_date < DATE '{span[1]}' AND (close_date IS NULL OR close_date >= DATE '{span[0]}')"
            )
        else:
            where = f"created_date >= DATE '{span[0]}' AND created_date < DATE '{span[1]}'"
        stages = ", ".join(f"('{stage}', {i})" for i, stage in enumerate(PIPELINE_STAGES))
        rows = self.db.execute(
            f"""
            WITH stages(name, idx) AS (VALUES {stages}),
            furthest AS (
                SELECT h.deal_id, max(s.idx) AS f FROM history h JOIN stages s ON s.name = h.stage
                GROUP BY h.deal_id
            )
            SELECT {"d.rep" if by_rep else "NULL"} AS g,
                   count(*) FILTER (WHERE f.f >= {PIPELINE_STAGES.index(start)}),
                   count(*) FILTER (WHERE f.f >= {PIPELINE_STAGES.index(end)})
            FROM deals d LEFT JOIN furthest f USING (deal_id)
            WHERE {where}
            GROUP BY g
            """
        ).fetchall()
        return {g: div(reached_end, reached_start) for g, reached_start, reached_end in rows}

    def values(self, span: Span, reps: list[str] | None = None) -> dict[str | None, Values]:
        """{group: {metric: value}}; group None = overall (reps None), else every rep in `reps`."""
        groups: list[str | None] = [None] if reps is None else list(reps)
        out: dict[str | None, Values] = {g: {} for g in groups}
        for name, metric in SIMPLE.items():
            if reps is not None and name in NO_REP:
                continue
            found = self.simple(name, span, by_rep=reps is not None)
            for g in groups:
                out[g][name] = found.get(g, metric.empty)
        for name in CONVERSIONS:
            found = self.conversion(name, span, by_rep=reps is not None)
            for g in groups:
                out[g][name] = found.get(g)  # no deals: no conversion
        for g in groups:
            m = out[g]
            for name, (numerator, denominator) in RATIOS.items():
                if reps is None or name not in NO_REP:
                    m[name] = div(m[numerator], m[denominator])
            for name, formula in DERIVED.items():
                m[name] = formula(m)
        return out

    def reps_present(self, span: tuple[str, str]) -> set[str]:
        """Reps with a row in the period in any rep-bearing source a `--by rep` report uses."""
        start, end = span

        def within(column: str) -> str:
            return f"{column} >= DATE '{start}' AND {column} < DATE '{end}'"

        rows = self.db.execute(
            f"""
            SELECT rep FROM deals WHERE {within("close_date")} OR {within("created_date")}
            -- the funnel's deals active in the period (conversion metrics)
            UNION SELECT rep FROM deals
                WHERE created_date < DATE '{end}' AND (close_date IS NULL OR close_date >= DATE '{start}')
            UNION SELECT rep FROM activities WHERE {within("date")}
            UNION SELECT rep FROM reps WHERE {within("exit_date")}
            UNION SELECT rep FROM quotas WHERE {within("month_start")}
            UNION SELECT rep FROM surveys WHERE {within("date")}
            UNION SELECT rep FROM accounts  -- a snapshot: every account's owner
            """
        ).fetchall()
        return {r for (r,) in rows}

    def quota_target(self, months: tuple[str, ...]) -> dict[str | None, float]:
        """The quotas file's target for won_revenue: quota rows whose `period` label is one of `months`."""
        labels = ", ".join(f"'{m}'" for m in months)
        overall = self.db.execute(
            f"SELECT SUM(quota_amount) FROM quotas WHERE period IN ({labels})"
        ).fetchone()
        rows = self.db.execute(
            f"SELECT rep, SUM(quota_amount) FROM quotas WHERE period IN ({labels}) GROUP BY rep"
        ).fetchall()
        return {None: overall[0], **dict(rows)}


def expected_target(name: str, months: int | None, by_rep: bool, quotas: dict | None, rep=None):
    """The target for `name` over a period of `months` whole months (None: --period all)."""
    if name == "won_revenue" and quotas is not None:
        return quotas[rep] if by_rep else quotas[None]  # every rep present has 2025 quota rows
    if name not in OWN_TARGETS:
        return None
    value, per_month = OWN_TARGETS[name]
    if per_month:
        if months is None:  # a per-grain target is empty for `all`
            return None
        if by_rep and name in ADDITIVE:  # the team's target, not each rep's
            return None
        return value * months
    return value


def expected_attainment(name: str, value: float | None, target: float | None) -> float | None:
    if name in LOWER_IS_BETTER:
        return div(target, value)
    return div(value, target)


# ------------------------------------------------------------------------------------- salescode runs


def _number(text: str) -> float | None:
    return None if text == "" else float(text)


def _report(*args: str) -> tuple[list[dict[str, str]], str]:
    result = run("report", "--catalog", str(CATALOG), "--format", "csv", *args)
    assert result.exit_code == 0, f"exit {result.exit_code}\nstderr: {result.stderr}"
    return list(csv.DictReader(io.StringIO(result.stdout))), result.stderr


def close(got: float | None, expected: float | None) -> bool:
    if expected is None or got is None:
        return got is None and expected is None
    return got == pytest.approx(expected, rel=1e-9)


@pytest.fixture(scope="module")
def oracle():
    db = _open_db()
    yield Oracle(db)
    db.close()


@pytest.fixture(scope="module")
def q3():
    rows, _ = _report("--period", "2025-Q3")
    return {r["metric"]: r for r in rows}


@pytest.fixture(scope="module")
def q3_by_rep():
    rows, stderr = _report("--period", "2025-Q3", "--by", "rep")
    return rows, stderr


@pytest.fixture(scope="module")
def period_all():
    rows, _ = _report("--period", "all")
    return {r["metric"]: r for r in rows}


@pytest.fixture(scope="module")
def expected_q3(oracle):
    return oracle.values(Q3)[None], oracle.values(Q2)[None], oracle.quota_target(Q3_MONTHS)


@pytest.fixture(scope="module")
def expected_all(oracle):
    return oracle.values(None)[None]


@pytest.fixture(scope="module")
def expected_q3_by_rep(oracle):
    reps = sorted(oracle.reps_present(Q3))
    return reps, oracle.values(Q3, reps), oracle.values(Q2, reps), oracle.quota_target(Q3_MONTHS)


# ------------------------------------------------------------------------------------------------ tests


def test_sample_data_is_there():
    for name in FILES:
        assert (SAMPLE / name).is_file(), name
        assert (SAMPLE / name).stat().st_size > 0, name
    assert CATALOG.is_file()


def test_the_oracle_covers_every_metric_of_the_report(q3, period_all):
    assert sorted(q3) == ALL_METRICS
    assert sorted(period_all) == ALL_METRICS


@pytest.mark.parametrize("name", ALL_METRICS)
def test_2025_q3_overall(name, q3, expected_q3):
    current, previous, quotas = expected_q3
    row = q3[name]
    assert row["period"] == "2025-Q3"
    value = _number(row["value"])
    assert close(value, current[name]), f"value: got {row['value']!r}, expected {current[name]!r}"
    assert close(_number(row["previous"]), previous[name]), (
        f"previous (2025-Q2): got {row['previous']!r}, expected {previous[name]!r}"
    )
    target = expected_target(name, 3, by_rep=False, quotas=quotas)
    assert close(_number(row["target"]), target), f"target: got {row['target']!r}, expected {target!r}"
    attainment = expected_attainment(name, current[name], target)
    assert close(_number(row["attainment"]), attainment), (
        f"attainment: got {row['attainment']!r}, expected {attainment!r}"
    )


@pytest.mark.parametrize("name", BY_REP_METRICS)
def test_2025_q3_by_rep(name, q3_by_rep, expected_q3_by_rep):
    rows, _ = q3_by_rep
    reps, current, previous, quotas = expected_q3_by_rep
    mine = {r["rep"]: r for r in rows if r["metric"] == name}
    assert sorted(r["rep"] for r in rows if r["metric"] == name) == reps, "one row per rep present"
    problems = []
    for rep in reps:
        row = mine[rep]
        target = expected_target(name, 3, by_rep=True, quotas=quotas, rep=rep)
        attainment = expected_attainment(name, current[rep][name], target)
        for column, expected in [
            ("value", current[rep][name]),
            ("previous", previous[rep][name]),
            ("target", target),
            ("attainment", attainment),
        ]:
            if not close(_number(row[column]), expected):
                problems.append(f"{rep} {column}: got {row[column]!r}, expected {expected!r}")
    assert not problems, "\n".join(problems)


def test_by_rep_groups_are_the_reps_present_in_the_period(q3_by_rep, expected_q3_by_rep):
    rows, _ = q3_by_rep
    reps = expected_q3_by_rep[0]
    assert reps, "the sample has reps in 2025-Q3"
    assert {r["rep"] for r in rows} == set(reps)
    assert "" not in {r["rep"] for r in rows}


def test_by_rep_leaves_out_territory_metrics_with_a_warning(q3_by_rep):
    rows, stderr = q3_by_rep
    assert {r["metric"] for r in rows} == set(BY_REP_METRICS)
    warnings = [line for line in stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, stderr
    for name in NO_REP:
        assert name in warnings[0]


def test_by_rep_quota_target_is_each_reps_quota(q3_by_rep, oracle):
    """Spelled out for one rep: the target is the sum of that rep's three 2025-07..09 quota rows."""
    rows, _ = q3_by_rep
    rep, total, count = oracle.db.execute(
        "SELECT rep, SUM(quota_amount), COUNT(*) FROM quotas WHERE period BETWEEN '2025-07' AND '2025-09' "
        "GROUP BY rep HAVING COUNT(*) = 3 ORDER BY rep LIMIT 1"
    ).fetchone()
    row = next(r for r in rows if r["metric"] == "won_revenue" and r["rep"] == rep)
    assert float(row["target"]) == pytest.approx(total, rel=1e-9)
    assert float(row["attainment"]) == pytest.approx(float(row["value"]) / total, rel=1e-9)


@pytest.mark.parametrize("name", ALL_METRICS)
def test_period_all_overall(name, period_all, expected_all):
    expected = expected_all
    row = period_all[name]
    assert row["period"] == "all"
    assert close(_number(row["value"]), expected[name]), f"got {row['value']!r}, expected {expected[name]!r}"
    assert row["previous"] == "" and row["change"] == ""
    target = expected_target(name, None, by_rep=False, quotas=None)
    assert close(_number(row["target"]), target), f"target: got {row['target']!r}, expected {target!r}"
    attainment = expected_attainment(name, expected[name], target)
    assert close(_number(row["attainment"]), attainment)


def test_period_all_includes_rows_with_an_empty_date(period_all, oracle):
    """No time filter: open deals (no close date) count too; event metrics filter on their date."""
    reps = (SAMPLE / "reps.csv").read_text().splitlines()[1:]
    assert float(period_all["rep_exits"]["value"]) == sum(1 for line in reps if line.split(",")[6])
    assert (
        float(period_all["new_opportunities"]["value"])
        == oracle.db.execute("SELECT COUNT(*) FROM deals").fetchone()[0]
    )


# --------------------------------------------------------------------------------------- tiny, by hand
#
# tests/data/tiny/deals.csv (close_date is the deals' time column):
#   D1 ann Won      1000  created 2025-08-20 closed 2025-09-05 (16 days) discount 0.1
#   D2 ann Lost      500  created 2025-08-25 closed 2025-09-10 (16 days)
#   D3 bob Won      2000  created 2025-09-01 closed 2025-09-20 (19 days) discount 0.2
#   D4 bob Won      1500  created 2025-07-10 closed 2025-08-15 (36 days) discount 0
#   D5 ann Lost      800  created 2025-07-01 closed 2025-08-20 (50 days)
#   D6 cat Proposal 1200  created 2025-09-15 (open)
#   D7 bob Lost      300  created 2025-09-02 closed 2025-09-25 (23 days)
#   D8 ann Won       700  created 2025-08-01 closed 2025-08-30 (29 days) discount 0.05
# quotas.csv: ann 2025-08 1000, 2025-09 1500; bob 2025-08 1000, 2025-09 2000; cat 2025-09 500.
#
# 2025-09: won D1 + D3 = 3000 (2025-08: D4 + D8 = 2200); quota target 1500 + 2000 + 500 = 4000 -> 0.75.
#   closed D1 D2 D3 D7 -> won 2 / closed 4 = win rate 0.5 (08: D4 D5 D8 -> 2/3), target 0.4 -> 1.25.
#   sales cycle (16 + 16 + 19 + 23) / 4 = 18.5 days (08: (36 + 50 + 29) / 3 = 38.333...).
#   new deals (created in 09): D3 D6 D7 = 3, target 3 per month -> 1.0 (08: D1 D2 D8 = 3).
#   avg deal size 3000 / 2 = 1500; avg discount (0.1 + 0.2) / 2 = 0.15.
# 2025-Q3: won D1 D3 D4 D8 = 5200; quota target = every row = 6000; new deals 8 - 0 = all 8 created
#   in Jul..Sep (D5 D4 07, D8 D1 D2 08, D3 D7 D6 09), target 3 x 3 = 9.


def _tiny(*args: str) -> dict:
    result = run("report", "--catalog", str(TINY / "metrics.yaml"), "--format", "csv", *args)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    return {(r["metric"], r.get("rep")): r for r in rows}


def _cells(row: dict[str, str], expected: tuple) -> None:
    """value, previous, target, attainment of one report row, None for an empty cell."""
    got = tuple(_number(row[c]) for c in ("value", "previous", "target", "attainment"))
    assert all(close(g, e) for g, e in zip(got, expected, strict=True)), f"got {got}, expected {expected}"


def test_tiny_september():
    rows = _tiny("--period", "2025-09")
    _cells(rows["won_revenue", None], (3000, 2200, 4000, 0.75))
    _cells(rows["deals_won", None], (2, 2, None, None))
    _cells(rows["deals_closed", None], (4, 3, None, None))
    _cells(rows["win_rate", None], (0.5, 2 / 3, 0.4, 1.25))
    _cells(rows["sales_cycle", None], (18.5, 115 / 3, None, None))
    _cells(rows["new_deals", None], (3, 3, 3, 1.0))
    _cells(rows["avg_deal_size", None], (1500, 1100, None, None))
    _cells(rows["avg_discount", None], (0.15, 0.025, None, None))


def test_tiny_september_by_rep():
    rows = _tiny("--period", "2025-09", "--by", "rep")
    # Present in 2025-09: ann, bob (closed deals) and cat (D6 created, for new_deals).
    assert {rep for _, rep in rows} == {"ann", "bob", "cat"}
    approx = pytest.approx
    # ann: D1 won 1000 (08: D8 700), quota 1500; bob: D3 2000 (08: D4 1500), quota 2000; cat: none, quota 500.
    _cells(rows["won_revenue", "ann"], (1000, 700, 1500, 1000 / 1500))
    _cells(rows["won_revenue", "bob"], (2000, 1500, 2000, 1.0))
    _cells(rows["won_revenue", "cat"], (0, 0, 500, 0))
    # win rate: ann D1/D2 -> 1/2 (08: D8 won, D5 lost -> 1/2); bob D3/D7 -> 1/2 (08: D4 -> 1/1); cat: no
    # closed deals -> empty; the 0.4 target applies to every rep.
    _cells(rows["win_rate", "ann"], (0.5, 0.5, 0.4, 1.25))
    _cells(rows["win_rate", "bob"], (0.5, 1.0, 0.4, 1.25))
    _cells(rows["win_rate", "cat"], (None, None, 0.4, None))
    # sales cycle: ann (16 + 16) / 2 = 16, bob (19 + 23) / 2 = 21, cat empty.
    assert _number(rows["sales_cycle", "ann"]["value"]) == approx(16.0)
    assert _number(rows["sales_cycle", "bob"]["value"]) == approx(21.0)
    assert rows["sales_cycle", "cat"]["value"] == ""
    # new deals: bob D3 D7, cat D6, ann none; the team's 3/month target is not each rep's.
    _cells(rows["new_deals", "ann"], (0, 3, None, None))  # 08: D1 D2 D8
    _cells(rows["new_deals", "bob"], (2, 0, None, None))
    _cells(rows["new_deals", "cat"], (1, 0, None, None))


def test_tiny_quarter():
    rows = _tiny("--period", "2025-Q3")
    approx = pytest.approx
    _cells(rows["won_revenue", None], (5200, 0, 6000, 5200 / 6000))
    _cells(rows["new_deals", None], (8, 0, 9, 8 / 9))
    # closed in Q3: all but D6 -> 4 won of 7; cycles 16 16 19 36 50 23 29 -> 189 / 7 = 27 days.
    _cells(rows["win_rate", None], (4 / 7, None, 0.4, (4 / 7) / 0.4))
    assert _number(rows["sales_cycle", None]["value"]) == approx(27.0, rel=1e-9)
