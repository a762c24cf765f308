"""salescode plan --allocate: a team target split into quotas that add up to the cent.

tests/data/plan: on the team on 2025-04-01 are Ann and Bob (North); Cat (South) left on 2025-03-15.
Potential: North 200000 + 400000 = 600000, shared by its two reps: 300000 each; South 400000.
History (won revenue closed in 2025-Q1): Ann 4000, Bob 2000, Cat 4000; North 6000, South 4000.
"""

from __future__ import annotations

import csv
import random
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import DATA, run

from salescode.allocation import split_cents

PLAN = DATA / "plan" / "metrics.yaml"


def allocate(*args: str) -> list[dict]:
    result = run(
        "plan",
        "-c",
        str(PLAN),
        "-t",
        "won_revenue=20000.01",
        "--basis",
        "2025-Q1",
        "--allocate",
        "-f",
        "csv",
        *args,
    )
    assert result.exit_code == 0, result.stderr
    return list(csv.DictReader(result.stdout.splitlines()))


def totals(rows: list[dict], by: str = "rep") -> dict[str, Decimal]:
    found: dict[str, Decimal] = {}
    for row in rows:
        found[row[by]] = found.get(row[by], Decimal(0)) + Decimal(row["quota_amount"])
    return found


def test_split_cents_adds_up_exactly_and_stays_within_a_cent():
    assert split_cents(Decimal("100.00"), [1, 1, 1]) == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    rng = random.Random(7)
    for _ in range(200):
        total = Decimal(rng.randint(0, 10**9)) / 100
        weights = [rng.random() for _ in range(rng.randint(1, 12))]
        parts = split_cents(total, weights)
        assert sum(parts) == total
        for part, weight in zip(parts, weights, strict=True):
            assert abs(part - total * Decimal(weight / sum(weights))) <= Decimal("0.01")


def test_blend_of_potential_and_history_per_rep():
    rows = allocate()  # default weights: potential 0.5, history 0.5
    # Ann: 0.5 x 300000/600000 + 0.5 x 4000/6000 = 7/12; Bob: 0.5 x 0.5 + 0.5 x 1/3 = 5/12
    # 2000001 cents x 7/12 = 1166667.25 -> 11666.67; Bob 833333.75 -> 8333.33 + the leftover cent (.75 > .25)
    assert totals(rows) == {"Ann": Decimal("11666.67"), "Bob": Decimal("8333.34")}
    assert sum(totals(rows).values()) == Decimal("20000.01")
    ann = [r for r in rows if r["rep"] == "Ann"]
    assert [r["period"] for r in ann] == ["2025-04", "2025-05", "2025-06"]
    assert [r["quota_amount"] for r in ann] == ["3888.89", "3888.89", "3888.89"]
    assert float(ann[0]["share"]) == pytest.approx(7 / 12)
    assert (ann[0]["potential"], ann[0]["history"]) == ("300000", "4000")
    assert "Cat" not in totals(rows)  # left before the period


@pytest.mark.parametrize(
    "weights, expected",
    [
        ("potential=1", {"Ann": Decimal("10000.01"), "Bob": Decimal("10000.00")}),  # halves; tie -> first
        ("history=2", {"Ann": Decimal("13333.34"), "Bob": Decimal("6666.67")}),  # 2/3 and 1/3 of 2000001 c
        ("potential=3,history=1", None),
    ],
)
def test_the_weights_are_followed(weights: str, expected: dict | None):
    rows = allocate("--weights", weights)
    found = totals(rows)
    assert sum(found.values()) == Decimal("20000.01")
    if expected:
        assert found == expected
    else:  # Ann: 0.75 x 0.5 + 0.25 x 2/3 = 13/24 of the target
        assert float(rows[0]["share"]) == pytest.approx(13 / 24)
        assert abs(found["Ann"] - Decimal("20000.01") * 13 / 24) <= Decimal("0.01")


def test_per_region():
    rows = allocate("--by", "region")
    # North 0.5 x 0.6 + 0.5 x 0.6 = 0.6 of 2000001 cents = 1200000.6 -> gets the leftover cent
    assert totals(rows, "region") == {"North": Decimal("12000.01"), "South": Decimal("8000.00")}
    assert [r["quota_amount"] for r in rows if r["region"] == "South"] == ["2666.67", "2666.67", "2666.66"]


def test_the_quotas_csv_is_what_targets_reads(tmp_path: Path):
    # 2025-Q1 by potential: on the team on 2025-01-01 are Ann, Bob (300000 each) and Cat (400000):
    # 2000001 cents x 0.3 = 600000.3 (Ann, Bob), x 0.4 = 800000.4 (Cat: the leftover cent)
    quotas = tmp_path / "quotas.csv"
    args = ["-t", "won_revenue=20000.01", "-p", "2025-Q1", "--basis", "2025-Q1", "--weights", "potential=1"]
    made = run("plan", "-c", str(PLAN), *args, "--allocate", "-o", str(quotas))
    assert made.exit_code == 0, made.stderr
    source = f"sources:\n  quotas:\n    path: {quotas}\n    types: {{quota_amount: number}}\n"
    catalog = PLAN.read_text().replace("path: ", f"path: {PLAN.parent}/").replace("sources:\n", source)
    catalog += (
        "targets:\n  - {metric: won_revenue, source: quotas, value: quota_amount, period: period, by: rep}\n"
    )
    (tmp_path / "metrics.yaml").write_text(catalog)
    report = ["-m", "won_revenue", "--by", "rep", "-p", "2025-Q1", "-f", "csv"]
    result = run("report", "-c", str(tmp_path / "metrics.yaml"), *report)
    assert result.exit_code == 0, result.stderr
    targets = {r["rep"]: r["target"] for r in csv.DictReader(result.stdout.splitlines())}
    assert targets == {"Ann": "6000", "Bob": "6000", "Cat": "8000.01"}


@pytest.mark.parametrize(
    "args, phrase",
    [
        (["--weights", "potential=half"], "--weights 'potential=half': write potential=W,history=W"),
        (["--weights", "potential=0,history=0"], "at least one weight must be above 0"),
        (["--period", "2025-W20"], "--period must be whole months"),
        (["-a", "win_rate=0.3"], "--allocate only splits the target"),
        (["--by", "team"], "--by 'team': not a dimension"),
    ],
)
def test_errors(args: list[str], phrase: str):
    result = run("plan", "-c", str(PLAN), "-t", "won_revenue=100", "--basis", "2025-Q1", "--allocate", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert phrase in result.stderr


def test_weights_without_allocate():
    result = run("plan", "-c", str(PLAN), "-t", "won_revenue=100", "--weights", "history=1")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --weights applies to --allocate")
