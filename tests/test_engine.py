"""Engine details that no other test pins down, on the tiny fixture (tests/data/tiny/deals.csv)."""

from __future__ import annotations

import shutil

from conftest import TINY, run

EXTRA_METRICS = """
  lost_or_open:
    level: result
    category: financial
    source: deals
    agg: count
    filter: "stage IN ('Lost', 'Proposal')"
  won_or_open_amount:
    level: result
    category: financial
    source: deals
    agg: sum
    expr: amount
    filter: "stage IN ('Won', 'Proposal')"
  lost_or_open_amount:
    level: result
    category: financial
    source: deals
    agg: sum
    expr: amount
    filter: "stage IN ('Lost', 'Proposal')"
"""


def test_metrics_whose_filters_differ_only_in_an_in_list_are_computed_apart(tmp_path):
    # The engine computes each distinct condition once; two IN lists print alike ("[Series]")
    # and must still be told apart. By hand over deals.csv (all periods):
    #   stage IN (Won, Lost):      D1 D2 D3 D4 D5 D7 D8 -> 7 (deals_closed)
    #   stage IN (Lost, Proposal): D2 D5 D6 D7          -> 4
    #   amount, Won or Proposal:   1000+2000+1500+700+1200 = 6400
    #   amount, Lost or Proposal:  500+800+1200+300        = 2800
    data = tmp_path / "tiny"
    shutil.copytree(TINY, data)
    catalog = data / "metrics.yaml"
    text = catalog.read_text()
    catalog.write_text(text.replace("metrics:\n", "metrics:" + EXTRA_METRICS, 1))
    names = ["deals_closed", "lost_or_open", "won_or_open_amount", "lost_or_open_amount"]
    args = [a for name in names for a in ("-m", name)]
    result = run("report", "--catalog", str(catalog), "--period", "all", "--format", "csv", *args)
    assert result.exit_code == 0, result.stderr
    values = {line.split(",")[0]: float(line.split(",")[5]) for line in result.stdout.splitlines()[1:]}
    assert values == {
        "deals_closed": 7,
        "lost_or_open": 4,
        "won_or_open_amount": 6400,
        "lost_or_open_amount": 2800,
    }
