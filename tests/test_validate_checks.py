"""salescode validate: data checks that warn (exit 0) — lookups that miss, dates out of range, empty
columns, negative and zero amounts, closes before creation, skipped stages, deals going backwards —
and how files were read (a detected encoding, numbers with separators). Every count below is
worked out by hand from the rows written in the fixture.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from conftest import DATA, run

CATALOG = """\
version: 1
name: Checks
sources:
  deals:
    path: deals.csv
    key: id
    time: closed
    joins: [{source: reps, on: rep}]
  reps: {path: reps.csv, key: rep}
  history: {path: history.csv}
dimensions:
  rep: {label: Rep}
metrics:
  won: {level: result, category: financial, source: deals, agg: count, filter: "stage = 'Won'"}
funnels:
  pipe:
    source: deals
    stage: stage
    stages: [Lead, Demo, Proposal, Won]
    lost: [Lost]
    history: history
    cohort: created
    value: amount
"""
# D1 fine. D2: rep 'zed' not in reps.csv; won with amount 0. D3: rep 'yan' not in reps; closed
# before created; negative amount. D4: closed in 2099 (after today). D5: created in 1925 (typo year).
DEALS = """\
id,rep,stage,amount,created,closed,region
D1,ann,Won,100,2025-01-01,2025-02-01,
D2,zed,Won,0,2025-01-05,2025-02-05,
D3,yan,Lost,-50,2025-03-10,2025-03-01,
D4,ann,Proposal,70,2025-01-01,2099-01-01,
D5,bob,Lead,10,1925-01-01,,
"""
REPS = "rep,team\nann,East\nbob,West\n"
# D1: Lead, Demo, Proposal, Won (in order). D2: Lead then Proposal (skips Demo), Won.
# D4: Lead, Proposal (skip), Demo (back). D5: Lead.
HISTORY = """\
id,stage,entered
D1,Lead,2025-01-01
D1,Demo,2025-01-10
D1,Proposal,2025-01-20
D1,Won,2025-02-01
D2,Lead,2025-01-05
D2,Proposal,2025-01-15
D2,Won,2025-02-05
D4,Lead,2025-01-01
D4,Proposal,2025-01-05
D4,Demo,2025-01-09
D5,Lead,1925-01-01
"""


def folder(tmp_path: Path, deals: str = DEALS, encoding: str = "utf-8") -> Path:
    (tmp_path / "metrics.yaml").write_text(textwrap.dedent(CATALOG))
    (tmp_path / "deals.csv").write_bytes(deals.encode(encoding))
    (tmp_path / "reps.csv").write_text(REPS)
    (tmp_path / "history.csv").write_text(HISTORY)
    return tmp_path / "metrics.yaml"


def validate(catalog: Path) -> list[str]:
    result = run("validate", "--catalog", str(catalog))
    assert result.exit_code == 0, result.stderr
    return result.stderr.splitlines()


def test_every_check_speaks_once(tmp_path):
    lines = validate(folder(tmp_path))
    text = "\n".join(lines)
    assert "warning: sources.deals: 2 row(s) have a rep that reps does not list ('yan', 'zed')" in text
    assert "column 'closed': 1 after today (latest 2099-01-01)" in text
    assert "column 'created': 1 before 1990-01-01 (earliest 1925-01-01)" in text
    assert "column(s) region hold no value at all" not in text  # region is not a column the catalog uses
    funnel = next(line for line in lines if line.startswith("warning: funnel 'pipe': "))
    assert "1 deals with a negative amount" in funnel
    assert "1 won deals with an empty or zero amount" in funnel
    assert "1 deals closed (closed) before they were created (created)" in funnel
    history = next(line for line in lines if "history:" in line)
    assert "2 deal(s) skipped a stage" in history  # D2, D4
    assert "1 deal(s) went back to an earlier stage" in history  # D4
    assert lines[-1].startswith("ok: ")


def test_a_column_the_catalog_uses_that_is_empty(tmp_path):
    deals = (
        "id,rep,stage,amount,created,closed\nD1,ann,Won,,2025-01-01,2025-02-01\nD2,ann,Lead,,2025-01-02,\n"
    )
    lines = validate(folder(tmp_path, deals))
    assert any("deals.csv: column(s) amount hold no value at all" in line for line in lines), lines


def test_a_clean_file_gives_no_warning(tmp_path):
    deals = (
        "id,rep,stage,amount,created,closed\n"
        "D1,ann,Won,100,2025-01-01,2025-02-01\n"
        "D2,bob,Lost,5,2025-01-01,2025-01-03\n"
    )
    catalog = folder(tmp_path, deals)
    history = "id,stage,entered\n" + "".join(
        f"D1,{stage},2025-01-0{day}\n" for day, stage in enumerate(["Lead", "Demo", "Proposal", "Won"], 1)
    )
    (tmp_path / "history.csv").write_text(history + "D2,Lead,2025-01-01\nD2,Lost,2025-01-03\n")
    assert [line for line in validate(catalog) if not line.startswith("ok: ")] == []


def test_validate_says_how_a_file_was_read(tmp_path):
    deals = (
        "id,rep,stage,amount,created,closed\n"
        'D1,ann,Won,"$1,200.50",2025-01-01,2025-02-01\n'
        'D2,Peña,Lead,"$300.00",2025-01-02,\n'
    )
    text = "\n".join(validate(folder(tmp_path, deals, "cp1252")))
    assert "note: sources.deals: deals.csv read as cp1252 (detected; declare sources.deals.encoding" in text
    assert "numbers written with separators or symbols: amount (decimal '.', thousands ',')" in text
    assert "('Peña')" in text  # the rep missing from reps.csv, decoded right


# validate checks the planning: and compensation: sections as plan, coach and payout read them.


def _copy(fixture: Path, tmp_path: Path, replace: tuple[str, str]) -> Path:
    for file in fixture.parent.glob("*.csv"):
        shutil.copy(file, tmp_path / file.name)
    catalog = tmp_path / "metrics.yaml"
    text = fixture.read_text()
    assert replace[0] in text
    catalog.write_text(text.replace(*replace))
    return catalog


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (
            ("hired: hire_date", "hired: start_date"),
            "planning.headcount.hired: source 'reps' has no column 'start_date'",
        ),
        (
            ("value: market_potential", "value: potential"),
            "metrics.yaml: planning.potential: source 'territories' has no column 'potential' "
            "(did you mean 'market_potential'?)",
        ),
    ],
)
def test_planning_columns_are_validated(tmp_path, replace, message):
    catalog = _copy(DATA / "plan" / "metrics.yaml", tmp_path, replace)
    assert run("validate", "--catalog", str(DATA / "plan" / "metrics.yaml")).exit_code == 0
    result = run("validate", "--catalog", str(catalog))
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and message in result.stderr


def test_compensation_columns_are_validated(tmp_path):
    fixture = DATA / "compensation" / "metrics.yaml"
    assert run("validate", "--catalog", str(fixture)).exit_code == 0
    catalog = _copy(fixture, tmp_path, ("", ""))
    (tmp_path / "reps.csv").write_text(
        "rep,team\nann,East\nbob,West\nsam,East\n"
    )  # no role: the plan's group
    result = run("validate", "--catalog", str(catalog))
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
    assert (
        "compensation.group: source 'deals' (of metric deals_won, won_revenue) has no column 'role'"
        in result.stderr
    )
