"""salescode leaderboard (and payout) on the sample data, against DuckDB SQL written from the CSVs.

Ranks are competition ranks (DuckDB's RANK()): ties share the best rank, listed by name. A
period's ranks are among the groups with rows in that period (a deal closed in it), and a ratio
ranks only groups whose denominator reaches the minimum volume, in each period alike.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import duckdb
import pytest
from conftest import DATA, REPO, run

CATALOG = REPO / "metrics.yaml"
SAMPLE = REPO / "sample_data"
AS_OF = ("--as-of", "2026-01-15")
Q3, Q2 = ("2025-07-01", "2025-10-01"), ("2025-04-01", "2025-07-01")
SEPTEMBER, AUGUST = ("2025-09-01", "2025-10-01"), ("2025-08-01", "2025-09-01")


@pytest.fixture(scope="module")
def db():
    connection = duckdb.connect()
    connection.execute(
        f"""CREATE TABLE deals AS SELECT d.*, r.team, r.role FROM read_csv('{SAMPLE / "deals.csv"}',
            header = true, columns = {{'deal_id': 'VARCHAR', 'account_id': 'VARCHAR', 'rep': 'VARCHAR',
            'product': 'VARCHAR', 'lead_source': 'VARCHAR', 'stage': 'VARCHAR', 'amount': 'DECIMAL(18,2)',
            'discount_pct': 'DOUBLE', 'created_date': 'DATE', 'close_date': 'DATE', 'lost_reason': 'VARCHAR',
            'lost_stage': 'VARCHAR'}}) d
            LEFT JOIN read_csv('{SAMPLE / "reps.csv"}', header = true) r ON r.rep = d.rep"""
    )
    connection.execute(
        f"CREATE TABLE accounts AS SELECT account_id, churn_date FROM read_csv('{SAMPLE / 'accounts.csv'}', "
        "header = true, columns = {'account_id': 'VARCHAR', 'account_name': 'VARCHAR', 'segment': 'VARCHAR', "
        "'industry': 'VARCHAR', 'region': 'VARCHAR', 'owner': 'VARCHAR', 'is_key_account': 'VARCHAR', "
        "'created_date': 'DATE', 'churn_date': 'DATE', 'churn_reason': 'VARCHAR'})"
    )
    return connection


def board(*args: str) -> list[dict]:
    result = run("leaderboard", "--catalog", str(CATALOG), *AS_OF, *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def expected_board(db, group: str, value_sql: str, volume_sql: str | None, minimum: float, now, before):
    """{group: (rank, value, previous_rank)} with DuckDB's RANK() over each period's groups."""

    keep = "v IS NOT NULL" + (f" AND vol >= {minimum}" if volume_sql else "")

    def ranks(span) -> dict:
        rows = db.execute(
            f"""
            WITH g AS (
                SELECT {group} AS g, {value_sql} AS v, {volume_sql or "NULL"} AS vol FROM deals
                WHERE close_date >= DATE '{span[0]}' AND close_date < DATE '{span[1]}' GROUP BY {group}
            )
            SELECT g, v, CASE WHEN {keep} THEN RANK() OVER (PARTITION BY {keep} ORDER BY v DESC) END FROM g
            """
        ).fetchall()
        return {g: (rank, value) for g, value, rank in rows}

    current, previous = ranks(now), ranks(before)
    return {g: (rank, value, previous.get(g, (None,))[0]) for g, (rank, value) in current.items()}


def test_won_revenue_by_rep_against_duckdb(db):
    rows = board("won_revenue", "--period", "2025-Q3")
    # a sum over no rows is 0 (DESIGN.md §2), so a rep with a deal closed but none won ranks last
    expected = expected_board(
        db, "rep", "COALESCE(SUM(amount) FILTER (WHERE stage = 'Won'), 0)", None, 0, Q3, Q2
    )
    assert {r["rep"]: r["rank"] for r in rows} == {g: e[0] for g, e in expected.items()}
    assert {r["rep"]: r["previous_rank"] for r in rows} == {g: e[2] for g, e in expected.items()}
    for row in rows:
        # the engine sums in floating point (the payout works in decimals): equal to 12 digits
        assert row["value"] == pytest.approx(float(expected[row["rep"]][1]), rel=1e-12)
        assert row["rank_change"] == (
            None if row["previous_rank"] is None else row["previous_rank"] - row["rank"]
        )
    assert [r["rank"] for r in rows] == sorted(r["rank"] for r in rows)


def test_win_rate_ties_and_minimum_volume_against_duckdb(db):
    rows = board("win_rate", "--period", "2025-09")
    won = "COUNT(*) FILTER (WHERE stage = 'Won')"
    closed = "COUNT(*) FILTER (WHERE stage IN ('Won', 'Lost'))"
    expected = expected_board(db, "rep", f"{won} / NULLIF({closed}, 0)", closed, 5, SEPTEMBER, AUGUST)
    assert {r["rep"]: (r["rank"], r["previous_rank"]) for r in rows} == {
        g: (e[0], e[2]) for g, e in expected.items()
    }
    ranks = [r["rank"] for r in rows if r["rank"] is not None]
    assert len(ranks) != len(set(ranks)), "the sample has ties in 2025-09 win rates"
    # tied groups are listed by name; unranked ones come last with the reason
    for a, b in zip(rows, rows[1:], strict=False):
        if a["rank"] is not None and a["rank"] == b["rank"]:
            assert a["rep"] < b["rep"]
    unranked = [r for r in rows if r["rank"] is None]
    assert unranked and all(r["status"] == "below minimum volume" and r["volume"] < 5 for r in unranked)
    assert all(r["status"] == "ranked" and r["volume"] >= 5 for r in rows if r["rank"] is not None)
    # most improved: the largest gain among the groups ranked in both months
    both = [r for r in rows if r["rank"] is not None and r["previous_rank"] is not None]
    best = max(both, key=lambda r: r["change"])
    assert [r["rep"] for r in rows if r["improvement_rank"] == 1] == [best["rep"]]


def test_a_higher_minimum_leaves_more_reps_unranked(db):
    rows = board("win_rate", "--period", "2025-09", "--min-volume", "10")
    closed = db.execute(
        f"""SELECT rep, COUNT(*) FROM deals WHERE stage IN ('Won', 'Lost')
            AND close_date >= DATE '{SEPTEMBER[0]}' AND close_date < DATE '{SEPTEMBER[1]}' GROUP BY rep"""
    ).fetchall()
    assert {r["rep"] for r in rows if r["rank"] is not None} == {rep for rep, n in closed if n >= 10}


def test_by_team_against_duckdb(db):
    rows = board("won_revenue", "--period", "2025-Q3", "--by", "team")
    expected = expected_board(
        db, "team", "COALESCE(SUM(amount) FILTER (WHERE stage = 'Won'), 0)", None, 0, Q3, Q2
    )
    assert [(r["team"], r["rank"], r["previous_rank"]) for r in rows] == sorted(
        ((g, e[0], e[2]) for g, e in expected.items()), key=lambda t: t[1]
    )


def test_lower_is_better_ranks_the_shortest_cycle_first(db):
    rows = board("sales_cycle", "--period", "2025-Q3")
    cycles = db.execute(
        f"""SELECT rep, AVG(close_date - created_date) FROM deals WHERE stage IN ('Won', 'Lost')
            AND close_date >= DATE '{Q3[0]}' AND close_date < DATE '{Q3[1]}' GROUP BY rep ORDER BY 2, 1"""
    ).fetchall()
    assert rows[0]["rep"] == cycles[0][0] and rows[0]["rank"] == 1
    assert rows[0]["value"] == pytest.approx(cycles[0][1], rel=1e-12)


def test_leaderboard_table_and_errors():
    result = run(
        "leaderboard", "win_rate", "--catalog", str(CATALOG), *AS_OF, "--period", "2025-09", "-f", "markdown"
    )
    assert result.exit_code == 0, result.stderr
    assert "## Acme Hardware sales — Win rate by sales rep, 2025-09 vs 2025-08" in result.stdout
    assert "### Most improved" in result.stdout
    assert "ranked only with deals closed ≥ 5" in result.stdout
    result = run("leaderboard", "win_rat", "--catalog", str(CATALOG))
    assert result.exit_code == 2
    assert (
        result.stderr.startswith("error: leaderboard win_rat: no such metric") and "win_rate" in result.stderr
    )
    result = run("leaderboard", "--catalog", str(CATALOG), "--by", "tem")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --by 'tem': not a dimension")


def test_tiny_leaderboard_by_hand(tiny_catalog):
    # tests/data/tiny, 2025-09: won ann 1000 (D1), bob 2000 (D3); cat has only an open deal (not present).
    # 2025-08: ann 700 (D8), bob 1500 (D4). Ranks: bob 1, ann 2, both as before.
    result = run(
        "leaderboard", "won_revenue", "--catalog", str(tiny_catalog), "--period", "2025-09", "-f", "csv"
    )
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["rep"], r["rank"], r["value"], r["previous_rank"], r["change"]) for r in rows] == [
        ("bob", "1", "2000", "1", "500"),
        ("ann", "2", "1000", "2", "300"),
    ]


# ------------------------------------------------------------------------------- payout on the sample


def test_sample_payout_bases_against_duckdb(db):
    result = run("payout", "--catalog", str(CATALOG), *AS_OF, "--period", "2025-Q3", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    lines = [r for r in rows if r["kind"] == "line"]
    span = f"close_date >= DATE '{Q3[0]}' AND close_date < DATE '{Q3[1]}'"
    won = dict(
        db.execute(
            f"SELECT rep, SUM(amount) FROM deals WHERE stage = 'Won' AND {span} GROUP BY rep"
        ).fetchall()
    )
    focus = dict(
        db.execute(
            f"""SELECT rep, SUM(amount) FROM deals WHERE stage = 'Won' AND product = 'Analytics Add-on'
                AND {span} AND role = 'AE' GROUP BY rep"""
        ).fetchall()
    )
    clawed = dict(
        db.execute(
            f"""SELECT d.rep, SUM(d.amount) FROM deals d JOIN accounts a USING (account_id)
                WHERE d.stage = 'Won' AND a.churn_date >= d.close_date
                AND a.churn_date <= d.close_date + INTERVAL 90 DAY
                AND a.churn_date >= DATE '{Q3[0]}' AND a.churn_date < DATE '{Q3[1]}' GROUP BY d.rep"""
        ).fetchall()
    )
    assert clawed, "the sample has clawbacks in 2025-Q3"

    def summed(component: str) -> dict[str, Decimal]:
        found: dict[str, Decimal] = {}
        for r in lines:
            if r["component"] == component:
                found[r["rep"]] = found.get(r["rep"], Decimal(0)) + Decimal(r["basis"])
        return found

    # the tiers' slices add up to the rep's won revenue, whatever the tiers
    assert summed("commission") == {rep: won.get(rep, Decimal(0)) for rep in summed("commission")}
    assert set(won) - {r["rep"] for r in lines} == set()
    assert summed("spif") == {rep: v for rep, v in focus.items() if v}
    assert summed("clawback") == clawed
    # every statement adds up, and the statements add up to the team total, to the cent
    totals = {r["rep"]: Decimal(r["amount"]) for r in rows if r["kind"] == "total"}
    for rep, total in totals.items():
        assert sum(Decimal(r["amount"]) for r in lines if r["rep"] == rep) == total
    (team,) = [Decimal(r["amount"]) for r in rows if r["kind"] == "team_total"]
    assert sum(totals.values()) == team
    assert all(Decimal(r["amount"]) == Decimal(r["amount"]).quantize(Decimal("0.01")) for r in rows)


def test_sample_payout_table_runs_out_of_the_box():
    result = run(
        "payout", "--catalog", str(CATALOG), *AS_OF, "--period", "2025-09", "--summary", "-f", "table"
    )
    assert result.exit_code == 0, result.stderr
    assert "Payouts — Acme Hardware sales, 2025-09" in result.stdout
    assert "statements add up to the team total" in result.stdout


def test_compensation_fixture_is_there():
    assert (DATA / "compensation" / "metrics.yaml").is_file()
