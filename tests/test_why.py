"""`salescode why` reports on the sample against the same figures computed by DuckDB over the CSVs."""

from __future__ import annotations

import csv
import functools
import io
import math

import duckdb
import pytest
from conftest import REPO, run

DATA = REPO / "sample_data"
AS_OF = ("--as-of", "2026-01-01")


def table(name: str) -> str:
    return f"read_csv_auto('{DATA / name}.csv', header = true)"


@functools.cache
def why(*args: str) -> list[dict[str, str]]:
    """The report's CSV rows (cached: several tests read the same report; none changes it)."""
    result = run("why", *args, *AS_OF, "--format", "csv")
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def number(text: str) -> float | None:
    return None if text == "" else float(text)


@pytest.fixture(scope="module")
def db() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    for name in ("deals", "accounts", "activities", "reps", "quotas"):
        connection.execute(f"CREATE VIEW {name} AS SELECT * FROM {table(name)}")
    return connection


# ----------------------------------------------------------------------------- lost


def test_why_lost_reasons_shares_and_halves_match_duckdb(db):
    rows = why("lost", "--period", "2025")
    lost = "stage = 'Lost' AND close_date BETWEEN DATE '2025-01-01' AND DATE '2025-12-31'"
    expected = db.execute(
        f"""
        WITH l AS (SELECT *, coalesce(lost_reason, '(not recorded)') AS reason FROM deals WHERE {lost}),
        span AS (SELECT min(close_date) AS first, (max(close_date) - min(close_date)) / 2 AS half FROM l),
        h AS (SELECT l.*, close_date - first > half AS recent FROM l, span)
        SELECT reason, count(*), sum(amount), sum(amount) / sum(sum(amount)) OVER (),
               count(*) FILTER (WHERE NOT recent) / sum(count(*) FILTER (WHERE NOT recent)) OVER (),
               count(*) FILTER (WHERE recent) / sum(count(*) FILTER (WHERE recent)) OVER ()
        FROM h GROUP BY reason
        """
    ).fetchall()
    overall = {r["reason"]: r for r in rows if r["dimension"] == "all"}
    assert set(overall) == {e[0] for e in expected}
    for reason, deals, value, share, earlier, recent in expected:
        row = overall[reason]
        assert int(row["lost_deals"]) == deals
        assert float(row["lost_value"]) == pytest.approx(value)
        assert float(row["value_share"]) == pytest.approx(share)
        assert float(row["earlier_share"]) == pytest.approx(earlier)
        assert float(row["recent_share"]) == pytest.approx(recent)
        assert float(row["change"]) == pytest.approx(recent - earlier)


def test_why_lost_by_stage_and_period_match_duckdb(db):
    rows = why("lost", "--period", "2025", "--by", "product")
    lost = "stage = 'Lost' AND close_date BETWEEN DATE '2025-01-01' AND DATE '2025-12-31'"
    by_stage = db.execute(
        f"SELECT lost_stage, lost_reason, count(*), sum(amount) FROM deals WHERE {lost} GROUP BY ALL"
    ).fetchall()
    found = {(r["group"], r["reason"]): r for r in rows if r["dimension"] == "stage"}
    assert len(found) == len(by_stage)
    for stage, reason, deals, value in by_stage:
        assert int(found[stage, reason]["lost_deals"]) == deals
        assert float(found[stage, reason]["lost_value"]) == pytest.approx(value)
    quarters = db.execute(
        f"""SELECT q, lost_reason, sum(amount) / sum(sum(amount)) OVER (PARTITION BY q)
            FROM (SELECT *, year(close_date) || '-Q' || quarter(close_date) AS q FROM deals WHERE {lost})
            GROUP BY q, lost_reason"""
    ).fetchall()
    found = {(r["group"], r["reason"]): r for r in rows if r["dimension"] == "period"}
    assert len(found) == len(quarters)
    for quarter, reason, share in quarters:
        assert float(found[quarter, reason]["value_share"]) == pytest.approx(share)
        assert found[quarter, reason]["trend"] == ""  # the period rows are the trend themselves
    assert {r["dimension"] for r in rows} == {"all", "stage", "product", "period"}


def test_a_reason_grows_only_beyond_five_points_and_chance():
    # z = change / sqrt(p (1 - p) (1/n1 + 1/n2)) with the pooled share p, recomputed from the rows.
    rows = [r for r in why("lost") if r["dimension"] != "period"]
    totals: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        totals.setdefault((r["dimension"], r["group"]), []).append(int(r["lost_deals"]))
    checked = 0
    for r in rows:
        change = number(r["change"])
        if change is None or abs(change) < 0.05:
            assert r["trend"] in ("steady", "")
            continue
        earlier, recent = float(r["earlier_share"]), float(r["recent_share"])
        # Recover the halves' sizes from the group: n1 e + n2 r = deals of the reason; n1 + n2 = all.
        n = sum(totals[r["dimension"], r["group"]])
        n1 = round((int(r["lost_deals"]) - recent * n) / (earlier - recent)) if earlier != recent else None
        if not n1 or n1 in (0, n):
            continue
        n2 = n - n1
        pooled = (earlier * n1 + recent * n2) / n
        z = change / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        want = "steady" if abs(z) < 1.959964 else ("growing" if change > 0 else "shrinking")
        assert r["trend"] == want, r
        checked += 1
    assert checked > 10


# ----------------------------------------------------------------------------- discounts


def test_why_discounts_per_rep_and_band_match_duckdb(db):
    rows = why("discounts", "--period", "2025")
    closed = "stage IN ('Won', 'Lost') AND close_date BETWEEN DATE '2025-01-01' AND DATE '2025-12-31'"
    won = "stage = 'Won'"
    measures = f"""count(*), count(*) FILTER (WHERE {won}), avg(discount_pct) FILTER (WHERE {won}),
                   avg(amount) FILTER (WHERE {won}), avg(close_date - created_date) FILTER (WHERE {won}),
                   sum(amount * discount_pct / (1 - discount_pct)) FILTER (WHERE {won})"""
    band = """CASE WHEN discount_pct < 0.05 THEN '0-5%' WHEN discount_pct < 0.10 THEN '5-10%'
                   WHEN discount_pct < 0.15 THEN '10-15%' WHEN discount_pct < 0.20 THEN '15-20%'
                   ELSE '20%+' END"""
    for dimension, key in (("rep", "rep"), ("band", band), ("all", "'all'")):
        expected = db.execute(f"SELECT {key}, {measures} FROM deals WHERE {closed} GROUP BY 1").fetchall()
        found = {r["group"]: r for r in rows if r["dimension"] == dimension}
        assert len(found) == len(expected)
        for group, n, n_won, discount, size, cycle, given in expected:
            row = found[group]
            assert (int(row["closed_deals"]), int(row["won_deals"])) == (n, n_won)
            assert float(row["win_rate"]) == pytest.approx(n_won / n)
            assert float(row["avg_discount"]) == pytest.approx(discount)
            assert float(row["avg_won_deal"]) == pytest.approx(size)
            assert float(row["avg_cycle_days"]) == pytest.approx(cycle)
            assert float(row["given_away"]) == pytest.approx(given)
    team = next(r for r in rows if r["dimension"] == "all")
    victor = next(r for r in rows if r["group"] == "Victor Hale")
    # The generator's heavy discounter: far above the team's discount, no better win rate.
    assert float(victor["discount_vs_team"]) == pytest.approx(
        float(victor["avg_discount"]) - float(team["avg_discount"])
    )
    assert victor["buys_wins"] == "true"
    buyers = [r["group"] for r in rows if r["buys_wins"] == "true"]
    assert buyers == ["Victor Hale"]


def test_list_amounts_change_only_what_is_given_away(db):
    net = {(r["dimension"], r["group"]): r for r in why("discounts", "--period", "2025")}
    gross = {(r["dimension"], r["group"]): r for r in why("discounts", "--period", "2025", "--list-amounts")}
    (expected,) = db.execute(
        "SELECT sum(amount * discount_pct) FROM deals WHERE stage = 'Won' AND year(close_date) = 2025"
    ).fetchone()
    assert float(gross["all", "all"]["given_away"]) == pytest.approx(expected)
    assert gross["all", "all"]["win_rate"] == net["all", "all"]["win_rate"]


# ----------------------------------------------------------------------------- churn

CHURN_SQL = """
WITH ref AS (SELECT max(date) AS day FROM activities),
first_won AS (SELECT account_id, min(close_date) AS won FROM deals WHERE stage = 'Won' GROUP BY 1),
a AS (
  SELECT a.account_id, a.segment, coalesce(a.churn_reason, '(not recorded)') AS reason,
         CASE WHEN a.churn_date IS NOT NULL AND a.churn_date <= ref.day THEN 'churned'
              WHEN w.won <= ref.day THEN 'retained' END AS grp,
         CASE WHEN a.churn_date IS NOT NULL AND a.churn_date <= ref.day THEN a.churn_date
              ELSE ref.day END AS e
  FROM accounts a CROSS JOIN ref LEFT JOIN first_won w USING (account_id)
),
m AS (
  SELECT a.*,
         (SELECT max(x.date) FROM activities x WHERE x.account_id = a.account_id AND x.date < a.e) AS last,
         (SELECT count(*) FROM activities x WHERE x.account_id = a.account_id AND x.date < a.e
            AND x.date >= a.e - INTERVAL {months} MONTH) AS touches,
         (SELECT count(*) FROM activities x WHERE x.account_id = a.account_id AND x.date < a.e
            AND x.date >= a.e - INTERVAL {months} MONTH
            AND x.type = 'meeting' AND x.outcome = 'held') AS meetings
  FROM a WHERE grp IS NOT NULL
)
SELECT segment, grp, count(*), avg((touches > 0)::INT), avg(meetings), avg((meetings = 0)::INT),
       median(e - last)
FROM m GROUP BY 1, 2
"""


def test_why_churn_compares_churned_and_retained_like_duckdb(db):
    rows = why("churn", "--months", "6")
    expected = db.execute(CHURN_SQL.format(months=6)).fetchall()
    found = {(r["segment"], r["group"]): r for r in rows if r["reason"] == ""}
    for segment, group, accounts, touched, meetings, no_meeting, recency in expected:
        row = found[segment, group]
        assert int(row["accounts"]) == accounts
        assert float(row["touched_share"]) == pytest.approx(touched)
        assert float(row["meetings_per_account"]) == pytest.approx(meetings)
        assert float(row["no_meeting_share"]) == pytest.approx(no_meeting)
        assert number(row["median_days_since_touch"]) == (None if recency is None else pytest.approx(recency))
    churned = sum(e[2] for e in expected if e[1] == "churned")
    everyone = sum(e[2] for e in expected)
    assert float(found["all", "churned"]["share"]) == pytest.approx(churned / everyone)
    # The generator plants neglect: churned accounts had far fewer meetings than retained ones.
    assert float(found["all", "churned"]["no_meeting_share"]) > float(
        found["all", "retained"]["no_meeting_share"]
    )


def test_why_churn_reasons_and_at_risk_list(db):
    rows = why("churn")
    expected = dict(
        db.execute(
            "SELECT churn_reason, count(*) FROM accounts WHERE churn_date <= DATE '2025-12-31' GROUP BY 1"
        ).fetchall()
    )
    found = {r["reason"]: int(r["accounts"]) for r in rows if r["segment"] == "all" and r["reason"]}
    assert found == expected
    at_risk = why("churn", "--at-risk")
    retained = {r["segment"]: r for r in rows if r["group"] == "retained" and r["reason"] == ""}
    churned = {
        r["segment"]: number(r["median_days_since_touch"])
        for r in rows
        if r["group"] == "churned" and r["reason"] == ""
    }
    assert 0 < len(at_risk) < int(retained["all"]["accounts"])
    for account in at_risk:
        assert account["meetings"] == "0"
        days, bar = number(account["days_since_touch"]), churned[account["segment"]]
        assert days is None or (bar is not None and days >= bar)


# ----------------------------------------------------------------------------- attrition

ATTRITION_SQL = """
WITH months AS (SELECT range AS m FROM range(DATE '2024-01-01', DATE '2026-01-01', INTERVAL 1 MONTH)),
won AS (SELECT rep, date_trunc('month', close_date) AS m, sum(amount) AS v FROM deals
        WHERE stage = 'Won' GROUP BY ALL),
quota AS (SELECT rep, date_trunc('month', month_start) AS m, sum(quota_amount) AS v FROM quotas GROUP BY ALL),
act AS (SELECT rep, date_trunc('month', date) AS m, count(*) AS v FROM activities GROUP BY ALL),
pipe AS (SELECT rep, date_trunc('month', created_date) AS m, sum(amount) AS v FROM deals GROUP BY ALL),
leavers AS (SELECT rep, exit_date, date_trunc('month', exit_date) AS e FROM reps WHERE exit_date IS NOT NULL)
SELECT l.rep,
  (SELECT sum(v) FROM won w WHERE w.rep = l.rep AND w.m >= l.e - INTERVAL 3 MONTH AND w.m < l.e)
  / (SELECT sum(v) FROM quota q WHERE q.rep = l.rep AND q.m >= l.e - INTERVAL 3 MONTH AND q.m < l.e),
  (SELECT sum(v) FROM act a WHERE a.rep = l.rep AND a.m >= l.e - INTERVAL 3 MONTH AND a.m < l.e)
  / nullif((SELECT sum(v) FROM act a WHERE a.rep = l.rep AND a.m >= l.e - INTERVAL 6 MONTH
            AND a.m < l.e - INTERVAL 3 MONTH AND a.m >= DATE '2024-01-01'), 0) - 1,
  (SELECT coalesce(sum(v), 0) FROM pipe p
   WHERE p.rep = l.rep AND p.m >= l.e - INTERVAL 3 MONTH AND p.m < l.e) / 3
FROM leavers l
"""


def test_why_attrition_leavers_match_duckdb(db):
    rows = {r["rep"]: r for r in why("attrition")}
    expected = db.execute(ATTRITION_SQL).fetchall()
    assert {r for r, row in rows.items() if row["status"] == "left"} == {e[0] for e in expected}
    for rep, attainment, activity_change, pipeline in expected:
        row = rows[rep]
        assert number(row["attainment"]) == pytest.approx(attainment)
        assert number(row["activity_change"]) == (
            None if activity_change is None else pytest.approx(activity_change)
        )
        assert float(row["pipeline_per_month"]) == pytest.approx(pipeline)
    reasons = dict(db.execute("SELECT rep, exit_reason FROM reps WHERE exit_date IS NOT NULL").fetchall())
    assert {rep: rows[rep]["exit_reason"] for rep in reasons} == reasons
    # The generator's underperformer who left for performance shows every signal before leaving.
    assert rows["Daniel Morgan"]["signals"] == "low attainment, falling activity, thin pipeline"


def test_early_warning_needs_two_signals_against_the_leavers_medians():
    rows = why("attrition")
    left = [r for r in rows if r["status"] == "left"]

    def median(key: str) -> float:
        values = sorted(float(r[key]) for r in left if r[key] != "")
        middle = len(values) // 2
        return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2

    bars = {key: median(key) for key in ("attainment", "activity_change", "pipeline_per_month")}
    for row in (r for r in rows if r["status"] == "current"):
        signals = [
            row["attainment"] != "" and float(row["attainment"]) <= bars["attainment"],
            bars["activity_change"] < 0
            and row["activity_change"] != ""
            and float(row["activity_change"]) <= bars["activity_change"],
            row["pipeline_per_month"] != ""
            and float(row["pipeline_per_month"]) <= bars["pipeline_per_month"],
        ]
        assert row["warning"] == ("true" if sum(signals) >= 2 else "false"), row


# ----------------------------------------------------------------------------- errors and formats


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("lost", "--reason", "why_lost"), "has no column 'why_lost'"),
        (("discounts", "--discount", "rebate"), "has no column 'rebate'"),
        (("churn", "--meetings", "meetings"), "--meetings 'meetings': no such metric"),
        (("churn", "--meetings", "win_rate"), "must be a metric counting rows"),
        (("attrition", "--activity", "calls"), "--activity 'calls': no such metric"),
        (("lost", "--period", "2025-13"), "2025-13"),
    ],
)
def test_why_errors_are_one_line_and_exit_2(args, message):
    result = run("why", *args, *AS_OF)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ")
    assert message in result.stderr


@pytest.mark.parametrize("report", ["lost", "discounts", "churn", "attrition"])
def test_why_tables_and_markdown(report):
    table = run("why", report, *AS_OF, "--format", "table")
    assert table.exit_code == 0, table.output
    assert "Acme Hardware sales — why" in table.stdout or "discounts" in table.stdout
    markdown = run("why", report, *AS_OF, "--format", "markdown")
    assert markdown.exit_code == 0 and markdown.stdout.startswith("## Acme Hardware sales")
    assert "\n### " in markdown.stdout
