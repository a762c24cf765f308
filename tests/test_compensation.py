"""salescode payout: compensation plans on tests/data/compensation, every amount worked out by hand.

The fixture (deals won unless noted):
  ann (AE): D1 600.00 Core 09-05, D2 400.00 Focus 09-20 (account A2), D7 800.00 08-10, D8 500.00 06-01 (A2)
  bob (AE): D3 1300.00 Core 09-10, D4 200.00 Focus 09-03, D5 300.00 Lost 09-12, D9 700.00 08-20 (all A3)
  sam (SDR): D6 250.25 09-12
  no rep: D10 99.00 09-25
  quotas: ann 1000 in Aug, Sep, Oct; bob 0 in Aug, 1000 in Sep; sam 500 in Sep
  churn: A2 on 2025-10-15 (D2 25 days after its close; D8 136 days), A3 on 2025-11-30 (D3 81 days,
  D4 88 days, D9 102 days)
The default plan (metrics.yaml there): AE tiers 5% from 0, 10% from 50%, 15% from 100% of quota;
cap 1000 a month; 100 for two deals won; a 2% SPIF on Focus from 09-15 to 09-30; clawback within
90 days. SDR: a flat 10%.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import DATA, run

from salescode.catalog import parse_catalog
from salescode.errors import CatalogError

FIXTURE = DATA / "compensation"
CATALOG = FIXTURE / "metrics.yaml"
AS_OF = ("--as-of", "2026-01-15")


def payout(catalog: Path, *args: str) -> tuple[list[dict], str]:
    result = run("payout", "--catalog", str(catalog), *AS_OF, *args, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout))), result.stderr


def lines(rows: list[dict], rep: str) -> list[tuple[str, str, Decimal]]:
    """(component, detail, amount) of a rep's statement lines."""
    return [
        (r["component"], r["detail"], Decimal(r["amount"]))
        for r in rows
        if r["rep"] == rep and r["kind"] == "line"
    ]


def totals(rows: list[dict]) -> dict[str, Decimal]:
    return {r["rep"]: Decimal(r["amount"]) for r in rows if r["kind"] == "total"}


def team_total(rows: list[dict]) -> Decimal:
    (row,) = [r for r in rows if r["kind"] == "team_total"]
    return Decimal(row["amount"])


def with_plans(tmp_path: Path, plans: str) -> Path:
    """The fixture with another compensation: section."""
    for name in ("deals.csv", "reps.csv", "accounts.csv", "quotas.csv"):
        shutil.copy(FIXTURE / name, tmp_path / name)
    text = CATALOG.read_text()
    head = text[: text.index("\ncompensation:") + 1]
    path = tmp_path / "metrics.yaml"
    path.write_text(head + plans)
    return path


TIERS = """
      tiers:
        - {from: 0, rate: 0.05}
        - {from: 0.5, rate: 0.10}
        - {from: 1.0, rate: 0.15}
"""


def test_september_statements_to_the_cent():
    rows, stderr = payout(CATALOG, "--period", "2025-09")
    # ann: credit 1000.00 = exactly 100% of 1000: 500 x 5% = 25.00, 500 x 10% = 50.00, and the 100% tier
    # is reached with nothing above it (0 x 15%); SPIF 400.00 (D2, 09-20) x 2% = 8.00; two deals won: 100.
    assert lines(rows, "ann") == [
        ("commission", "tier 1: 0%–50% of quota", Decimal("25.00")),
        ("commission", "tier 2: 50%–100% of quota", Decimal("50.00")),
        ("commission", "tier 3: 100%+ of quota", Decimal("0.00")),
        ("spif", "Focus SPIF", Decimal("8.00")),
        ("bonus", "Two deals: 2 (reached, needs 2)", Decimal("100.00")),
    ]
    # bob: 1500.00 (D3 + D4; D5 lost) = 150%: the accelerator applies across the boundary within the
    # month: 25.00 + 50.00 + 500 x 15% = 75.00; D4 is Focus but closed 09-03, before the SPIF window.
    assert lines(rows, "bob") == [
        ("commission", "tier 1: 0%–50% of quota", Decimal("25.00")),
        ("commission", "tier 2: 50%–100% of quota", Decimal("50.00")),
        ("commission", "tier 3: 100%+ of quota", Decimal("75.00")),
        ("bonus", "Two deals: 2 (reached, needs 2)", Decimal("100.00")),
    ]
    # sam: 250.25 x 10% = 25.025, rounded half up to 25.03 (banker's rounding would give 25.02).
    assert lines(rows, "sam") == [("commission", "on all credit", Decimal("25.03"))]
    assert totals(rows) == {"ann": Decimal("183.00"), "bob": Decimal("250.00"), "sam": Decimal("25.03")}
    assert team_total(rows) == Decimal("458.03")  # 183.00 + 250.00 + 25.03
    # D10 (99.00, won 09-25) has no rep: nobody is paid for it, and stderr says so
    assert stderr == "warning: credit without a rep is not paid: 99.00 in 2025-09\n"


def test_statement_lines_carry_basis_rate_and_attainment():
    rows, _ = payout(CATALOG, "--period", "2025-09", "--rep", "bob")
    commission = [r for r in rows if r["component"] == "commission"]
    assert [(r["basis"], r["rate"], r["attainment"]) for r in commission] == [
        ("500", "0.05", "1.5"),
        ("500", "0.1", "1.5"),
        ("500", "0.15", "1.5"),
    ]
    assert {(r["plan"], r["start"], r["end"], r["group"]) for r in commission} == {
        ("ae", "2025-09-01", "2025-09-30", "AE")
    }
    # --rep: one statement and no team total (one rep is not the team)
    assert [r["kind"] for r in rows] == ["line"] * 4 + ["total"]


def test_retroactive_tiers_pay_the_tier_reached_on_all_credit(tmp_path):
    catalog = with_plans(
        tmp_path,
        f"""compensation:
  plans:
    ae:
      applies_to: [AE]
      credit: won_revenue
      quota: quota
      retroactive: true{TIERS}""",
    )
    rows, _ = payout(catalog, "--period", "2025-09")
    # ann at exactly 100%: the 100% tier's 15% on all 1000.00 = 150.00 (a tier's `from` is inclusive)
    assert lines(rows, "ann") == [
        ("commission", "tier 3 (from 100%), retroactive on all credit", Decimal("150.00"))
    ]
    # bob at 150%: 15% x 1500.00 = 225.00
    assert totals(rows)["bob"] == Decimal("225.00")


def test_just_below_the_boundary_stays_in_the_lower_tier(tmp_path):
    catalog = with_plans(
        tmp_path,
        f"""compensation:
  plans:
    ae:
      applies_to: [AE]
      credit: won_revenue
      quota: quota
      retroactive: true{TIERS}""",
    )
    quotas = tmp_path / "quotas.csv"
    quotas.write_text(quotas.read_text().replace("ann,2025-09-01,1000", "ann,2025-09-01,1000.01"))
    rows, _ = payout(catalog, "--period", "2025-09", "--rep", "ann")
    # 1000.00 / 1000.01 is just under 100%: the 50% tier's 10% on all of it = 100.00
    assert lines(rows, "ann") == [
        ("commission", "tier 2 (from 50%), retroactive on all credit", Decimal("100.00"))
    ]


def test_cap_reached(tmp_path):
    catalog = with_plans(
        tmp_path,
        f"""compensation:
  plans:
    ae:
      applies_to: [AE]
      credit: won_revenue
      quota: quota
      monthly_cap: 140{TIERS}""",
    )
    rows, _ = payout(catalog, "--period", "2025-09")
    # bob earns 150.00 of commission; the cap of 140 a month takes 10.00 back; ann (75.00) is under it
    assert lines(rows, "bob")[-1] == (
        "cap",
        "commission and SPIFs capped at 140 (1 × 140 a month)",
        Decimal("-10.00"),
    )
    assert totals(rows) == {"ann": Decimal("75.00"), "bob": Decimal("140.00")}
    # over a quarter the cap is 3 x 140 = 420, and the tiers are on the quarter's credit and quota:
    # bob 700.00 + 1500.00 = 2200.00 of 0 + 1000 (220%): 25.00 + 50.00 + 1200 x 15% = 180.00 -> 255.00
    rows, _ = payout(catalog, "--period", "2025-Q3")
    assert totals(rows)["bob"] == Decimal("255.00")
    assert not [line for line in lines(rows, "bob") if line[0] == "cap"]


def test_spifs_by_product_only_and_by_dates_only(tmp_path):
    catalog = with_plans(
        tmp_path,
        """compensation:
  plans:
    ae:
      applies_to: [AE]
      credit: won_revenue
      rate: 0.10
      spifs:
        - {label: Focus, filter: "product = 'Focus'", rate: 0.02}
        - {label: Late September, from: 2025-09-10, rate: 0.01}
""",
    )
    rows, _ = payout(catalog, "--period", "2025-09")
    # Focus at any date: ann D2 400.00 -> 8.00, bob D4 200.00 -> 4.00.
    # From 09-10 on, any product: ann D2 400.00 (09-20) -> 4.00 (D1 closed 09-05);
    # bob D3 1300.00 (09-10, the first day counts) -> 13.00 (D4 closed 09-03).
    assert [line for line in lines(rows, "ann") if line[0] == "spif"] == [
        ("spif", "Focus", Decimal("8.00")),
        ("spif", "Late September", Decimal("4.00")),
    ]
    assert [line for line in lines(rows, "bob") if line[0] == "spif"] == [
        ("spif", "Focus", Decimal("4.00")),
        ("spif", "Late September", Decimal("13.00")),
    ]
    # one rate on all credit: ann 1000.00 x 10% + 12.00, bob 1500.00 x 10% + 17.00
    assert totals(rows) == {"ann": Decimal("112.00"), "bob": Decimal("167.00")}


def test_zero_quota_pays_the_on_target_rate_with_a_warning():
    rows, stderr = payout(CATALOG, "--period", "2025-08")
    # bob's August quota is 0: attainment cannot place tiers; 700.00 x 10% (the tier below 100%) = 70.00
    assert lines(rows, "bob") == [
        ("commission", "no quota: on-target rate", Decimal("70.00")),
        ("bonus", "Two deals: 1 (not reached, needs 2)", Decimal("0.00")),
    ]
    assert [r["attainment"] for r in rows if r["rep"] == "bob" and r["component"] == "commission"] == [""]
    assert "warning: no quota (or 0) for bob (2025-08)" in stderr
    # ann: 800.00 of 1000: 25.00 + 300 x 10% = 30.00 -> 55.00; one deal won, no bonus
    assert totals(rows) == {"ann": Decimal("55.00"), "bob": Decimal("70.00")}


def test_clawback_after_the_payout_period():
    # October: A2 churned 10-15, 25 days after D2 (won 09-20, paid in September): 400.00 reversed at the
    # on-target 10% = -40.00; D8 (06-01, 136 days before) is outside the 90 days. ann sold nothing.
    rows, _ = payout(CATALOG, "--period", "2025-10")
    assert lines(rows, "ann") == [
        ("commission", "tier 1: 0%–50% of quota", Decimal("0.00")),
        ("bonus", "Two deals: 0 (not reached, needs 2)", Decimal("0.00")),
        ("clawback", "account churned within 90 days of the win", Decimal("-40.00")),
    ]
    assert totals(rows) == {"ann": Decimal("-40.00")}
    # November: A3 churned 11-30: D3 (81 days) and D4 (88 days) are reversed, D9 (102 days) is not:
    # (1300.00 + 200.00) x 10% = -150.00. bob has no quota and no credit in November.
    rows, _ = payout(CATALOG, "--period", "2025-11")
    assert [r for r in lines(rows, "bob") if r[0] == "clawback"] == [
        ("clawback", "account churned within 90 days of the win", Decimal("-150.00"))
    ]
    assert totals(rows) == {"bob": Decimal("-150.00")}
    clawback = [r for r in payout(CATALOG, "--period", "2025-11")[0] if r["component"] == "clawback"]
    assert (clawback[0]["basis"], clawback[0]["rate"]) == ("1500", "0.1")


def test_plan_change_mid_period_splits_it(tmp_path):
    catalog = with_plans(
        tmp_path,
        f"""compensation:
  plans:
    ae:
      applies_to: [AE]
      credit: won_revenue
      quota: quota{TIERS}
    ae_september:
      applies_to: [AE]
      effective_from: 2025-09-01
      credit: won_revenue
      quota: quota
      tiers:
        - {{from: 0, rate: 0.06}}
        - {{from: 0.5, rate: 0.12}}
        - {{from: 1.0, rate: 0.20}}
    sdr:
      applies_to: [SDR]
      credit: won_revenue
      rate: 0.10
""",
    )
    rows, stderr = payout(catalog, "--period", "2025-Q3")
    assert "warning: no quota (or 0) for bob (2025-07-01..2025-08-31)" in stderr
    ann = [
        (r["plan"], r["start"], r["end"], Decimal(r["amount"]))
        for r in rows
        if r["rep"] == "ann" and r["kind"] == "line"
    ]
    # July-August under the old plan: 800.00 of a 1000 quota (July has none): 25.00 + 30.00;
    # September under the new one: 500 x 6% = 30.00, 500 x 12% = 60.00, 0 above 100%.
    assert ann == [
        ("ae", "2025-07-01", "2025-08-31", Decimal("25.00")),
        ("ae", "2025-07-01", "2025-08-31", Decimal("30.00")),
        ("ae_september", "2025-09-01", "2025-09-30", Decimal("30.00")),
        ("ae_september", "2025-09-01", "2025-09-30", Decimal("60.00")),
        ("ae_september", "2025-09-01", "2025-09-30", Decimal("0.00")),
    ]
    # bob: Jul-Aug 700.00 with quota 0 at the old on-target 10% = 70.00 (warned about); September
    # 30 + 60 + 500 x 20% = 190.
    # sam: September only, 25.03. Team: 145.00 + 260.00 + 25.03.
    assert totals(rows) == {"ann": Decimal("145.00"), "bob": Decimal("260.00"), "sam": Decimal("25.03")}
    assert team_total(rows) == Decimal("430.03")


def test_a_month_under_way_is_paid_to_date():
    result = run(
        "payout", "--catalog", str(CATALOG), "--as-of", "2025-09-15", "--period", "2025-09", "-f", "csv"
    )
    assert result.exit_code == 0, result.stderr
    assert "note: 2025-09 is not over: its figures run to 2025-09-15" in result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    # to 09-15: ann has D1 600.00 only (D2 closes 09-20): 500 x 5% + 100 x 10% = 35.00, one deal, no
    # SPIF; bob D3 + D4 = 1500.00: 150.00 and two deals, 100.00; sam 25.03 (D6, 09-12).
    assert totals(rows) == {"ann": Decimal("35.00"), "bob": Decimal("250.00"), "sam": Decimal("25.03")}


def test_totals_reconcile_and_a_second_run_is_identical():
    first = run("payout", "--catalog", str(CATALOG), *AS_OF, "--period", "2025-Q3", "--format", "csv")
    second = run("payout", "--catalog", str(CATALOG), *AS_OF, "--period", "2025-Q3", "--format", "csv")
    assert first.exit_code == 0, first.stderr
    assert first.stdout == second.stdout
    rows = list(csv.DictReader(io.StringIO(first.stdout)))
    for rep, total in totals(rows).items():
        assert sum(amount for _, _, amount in lines(rows, rep)) == total
    assert sum(totals(rows).values()) == team_total(rows)


def test_rep_without_a_plan_is_warned_about_and_not_paid(tmp_path):
    catalog = with_plans(
        tmp_path,
        """compensation:
  plans:
    sdr: {applies_to: [SDR], credit: won_revenue, rate: 0.10}
""",
    )
    rows, stderr = payout(catalog, "--period", "2025-09")
    assert totals(rows) == {"sam": Decimal("25.03")}
    assert "warning: no compensation plan applies to ann (AE), bob (AE): not paid" in stderr


def test_json_and_markdown():
    result = run("payout", "--catalog", str(CATALOG), *AS_OF, "--period", "2025-09", "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows[-1] == {
        **dict.fromkeys(rows[-1]),
        "period": "2025-09",
        "kind": "team_total",
        "amount": 458.03,
    }
    result = run("payout", "--catalog", str(CATALOG), *AS_OF, "--period", "2025-09", "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    assert "## sam (SDR) — Comp Co, 2025-09" in result.stdout
    assert "| sam | SDR | $25.03 | — | — | — | — | $25.03 |" in result.stdout
    assert "| Team total |  | $250.03 | $8.00 | — | $200.00 | — | $458.03 |" in result.stdout
    assert "3 statements add up to the team total $458.03" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--period", "2025-09-01..2025-09-15"),
            "error: --period 2025-09-01..2025-09-15: payouts are for whole months",
        ),
        (("--period", "all"), "error: --period all: payouts are for whole months"),
        (
            ("--period", "2025-09", "--rep", "an"),
            "error: --rep 'an': no statement in 2025-09 (did you mean 'ann'?)",
        ),
    ],
)
def test_payout_errors(args, message):
    result = run("payout", "--catalog", str(CATALOG), *AS_OF, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message), result.stderr


def test_payout_without_a_compensation_section(tiny_catalog):
    result = run("payout", "--catalog", str(tiny_catalog))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "no compensation: section" in result.stderr


def test_a_plan_source_without_the_group_column(tmp_path):
    catalog = with_plans(
        tmp_path, "compensation:\n  plans:\n    all: {applies_to: [AE], credit: won_revenue, rate: 0.1}\n"
    )
    (tmp_path / "reps.csv").write_text("rep,team\nann,East\nbob,West\nsam,East\n")
    result = run("payout", "--catalog", str(catalog), "--period", "2025-09")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "compensation.group: source 'deals' (of metric won_revenue) has no column 'role'" in result.stderr


# ------------------------------------------------------------------------------------- catalog validation

BASE = CATALOG.read_text()[: CATALOG.read_text().index("\ncompensation:") + 1]


def problems(section: str) -> str:
    with pytest.raises(CatalogError) as error:
        parse_catalog(BASE + section, source=CATALOG)
    return str(error.value)


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (
            "credit: won_revenue, rate: 0.1, bonus: 5",
            "compensation.plans.p.bonus: unknown key (did you mean 'bonuses'?)",
        ),
        (
            "credit: won_revenue",
            "compensation.plans.p: give either rate (one commission rate) or tiers",
        ),
        (
            "credit: won_revenue, rate: 0.1, tiers: [{from: 0, rate: 0.1}]",
            "give either rate",
        ),
        (
            "credit: won_rev, rate: 0.1",
            "compensation.plans.p.credit: unknown metric 'won_rev' (did you mean 'won_revenue'?)",
        ),
        (
            "credit: deals_won, rate: 0.1",
            "compensation.plans.p.credit: 'deals_won' is not a sum over a source",
        ),
        (
            "credit: won_revenue, rate: -0.1",
            "compensation.plans.p.rate: expected a number of at least 0, got -0.1",
        ),
        (
            "credit: won_revenue, rate: 0.1, effective_from: 2025-09-15",
            "compensation.plans.p.effective_from: 2025-09-15 is not the first day of a month",
        ),
        (
            "credit: won_revenue, rate: 0.1, effective_from: soon",
            "compensation.plans.p.effective_from: expected a date written YYYY-MM-DD, got 'soon'",
        ),
        (
            "credit: won_revenue, quota: quota, tiers: [{from: 0.2, rate: 0.1}, {from: 1, rate: 0.2}]",
            "compensation.plans.p.tiers[0].from: the first tier starts at 0",
        ),
        (
            "credit: won_revenue, quota: quota, "
            "tiers: [{from: 0, rate: 0.1}, {from: 1, rate: 0.2}, {from: 1, rate: 0.3}]",
            "compensation.plans.p.tiers[2].from: 1 must be above the tier before (1)",
        ),
        (
            "credit: won_revenue, tiers: [{from: 0, rate: 0.1}, {from: 1, rate: 0.2}]",
            "compensation.plans.p.quota: required with tiers",
        ),
        (
            "credit: won_revenue, rate: 0.1, spifs: [{rate: 0.02}]",
            "compensation.plans.p.spifs[0]: a SPIF needs a filter (e.g. focus products) or a date window",
        ),
        (
            "credit: won_revenue, rate: 0.1, spifs: [{rate: 0.02, filter: 'product = '}]",
            "compensation.plans.p.spifs[0].filter:",
        ),
        (
            "credit: won_revenue, rate: 0.1, spifs: [{rate: 0.02, from: 2025-09-30, to: 2025-09-01}]",
            "compensation.plans.p.spifs[0].to: 2025-09-01 is before from: 2025-09-30",
        ),
        (
            "credit: won_revenue, rate: 0.1, clawback: {churn_date: churn_date, within_days: 0}",
            "compensation.plans.p.clawback.within_days: expected a whole number of days (1 or more)",
        ),
        (
            "credit: won_revenue, rate: 0.1, bonuses: [{metric: deal_won, at_least: 2, amount: 100}]",
            "compensation.plans.p.bonuses[0].metric: unknown metric 'deal_won' (did you mean 'deals_won'?)",
        ),
        (
            "credit: won_revenue, rate: 0.1, monthly_cap: lots",
            "compensation.plans.p.monthly_cap: expected a number, got 'lots'",
        ),
    ],
)
def test_plan_validation(plan, message):
    assert message in problems(f"compensation:\n  plans:\n    p: {{applies_to: [AE], {plan}}}\n")


def test_two_plans_for_one_group_from_the_same_date():
    text = problems(
        "compensation:\n  plans:\n"
        "    a: {applies_to: [AE], credit: won_revenue, rate: 0.1}\n"
        "    b: {applies_to: [AE, SDR], credit: won_revenue, rate: 0.2}\n"
    )
    assert (
        "compensation.plans.b.applies_to: plans 'a' and 'b' both apply to 'AE' without effective_from" in text
    )


def test_group_must_be_a_dimension_and_every_problem_is_listed():
    text = problems(
        "compensation:\n  group: title\n  plans:\n    a: {applies_to: [AE], credit: nope, rate: 0.1}\n"
    )
    assert text.startswith("2 problems in ")
    assert "compensation.group: 'title' is not a dimension; declare it under dimensions:" in text
    assert "compensation.plans.a.credit: unknown metric 'nope'" in text


def test_rates_are_exact_decimals():
    catalog = parse_catalog(
        BASE + "compensation:\n  plans:\n    p: {applies_to: [AE], credit: won_revenue, rate: 0.1}\n",
        source=CATALOG,
    )
    assert catalog.compensation is not None
    assert catalog.compensation.plans["p"].tiers[0].rate == Decimal("0.1")  # not 0.1000000000000000055...
