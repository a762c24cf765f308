"""Output that scripts can trust: tsv/jsonl, --no-header, --append (under a lock), --separator,
--decimal-comma, formula-injection safety, format from the file name, --quiet.

Figures come from the tiny fixture (test_oracle.py works them out by hand): in 2025-09, win_rate 0.5
(previous 2/3, target 0.4, attainment 1.25) and deals_won 2.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY, run

CATALOG = str(TINY / "metrics.yaml")
HEADER = "metric,label,level,category,period,value,previous,change,target,attainment"


def report(*args: str):
    result = run("report", "--catalog", CATALOG, "--period", "2025-09", "-m", "win_rate", *args)
    assert result.exit_code == 0, result.stderr
    return result


def test_tsv_and_jsonl():
    (row,) = list(csv.DictReader(io.StringIO(report("-f", "tsv").stdout), delimiter="\t"))
    assert (row["metric"], float(row["value"]), float(row["attainment"])) == ("win_rate", 0.5, 1.25)
    lines = report("-f", "jsonl").stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["previous"] == pytest.approx(2 / 3, rel=1e-15)


def test_decimal_comma_uses_semicolons_and_keeps_full_precision():
    header, line = report("--decimal-comma").stdout.splitlines()
    assert header == HEADER.replace(",", ";")
    cells = line.split(";")
    assert cells[5:] == ["0,5", "0,6666666666666666", "-0,16666666666666663", "0,4", "1,25"]
    assert float(cells[6].replace(",", ".")) == 2 / 3  # nothing lost to formatting
    header, _ = report("--decimal-comma", "-f", "tsv").stdout.splitlines()
    assert "\t" in header


def test_separator_and_no_header():
    (line,) = report("--separator", "|", "--no-header").stdout.splitlines()
    assert line.startswith("win_rate|Win rate|result|financial|2025-09|0.5|")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-f", "json", "--no-header"], "--no-header applies to csv and tsv output, not json"),
        (["-f", "tsv", "--separator", ";"], "--separator applies to csv output"),
        (["--separator", "ab"], "--separator 'ab': give one character"),
        (["--decimal-comma", "--separator", ","], "--decimal-comma with --separator ','"),
        (["--append"], "--append needs --output FILE"),
        (["-f", "json", "--append", "-o", "x.json"], "--append works with csv, tsv and jsonl, not json"),
    ],
)
def test_inconsistent_output_options_are_one_error(args, message):
    result = run("report", "--catalog", CATALOG, *args)
    assert result.exit_code == 2 and result.stderr.startswith(f"error: {message}"), result.stderr


def test_format_follows_the_file_name(tmp_path):
    for name, check in (
        ("out.json", lambda text: json.loads(text)[0]["metric"] == "win_rate"),
        ("out.jsonl", lambda text: json.loads(text.splitlines()[0])["metric"] == "win_rate"),
        ("out.tsv", lambda text: text.startswith(HEADER.replace(",", "\t"))),
        ("out.md", lambda text: text.startswith("## ")),
        ("out.txt", lambda text: text.startswith(HEADER)),
    ):
        report("-o", str(tmp_path / name))
        assert check((tmp_path / name).read_text()), name


def test_append_twice_writes_one_header(tmp_path):
    target = tmp_path / "history.csv"
    report("-o", str(target), "--append")
    result = run(
        "report", "--catalog", CATALOG, "--period", "2025-08", "-m", "win_rate", "-o", str(target), "--append"
    )
    assert result.exit_code == 0, result.stderr
    lines = target.read_text().splitlines()
    assert lines[0] == HEADER and len(lines) == 3
    assert [line.split(",")[4] for line in lines[1:]] == ["2025-09", "2025-08"]


def test_append_refuses_a_file_with_other_columns(tmp_path):
    target = tmp_path / "history.csv"
    target.write_text("a,b\n1,2\n")
    result = run("report", "--catalog", CATALOG, "-o", str(target), "--append")
    assert result.exit_code == 2 and "differ from this output's" in result.stderr
    assert target.read_text() == "a,b\n1,2\n"  # untouched


def test_append_finishes_an_unterminated_last_line(tmp_path):
    target = tmp_path / "history.csv"
    report("-o", str(target))
    target.write_text(target.read_text().rstrip("\n"))
    report("-o", str(target), "--append")
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [row["metric"] for row in rows] == ["win_rate", "win_rate"]


def test_concurrent_appends_do_not_interleave(tmp_path):
    # Four processes append to the same file at once: one header, every row whole.
    target = tmp_path / "history.csv"
    base = [sys.executable, "-m", "salescode", "report", "--catalog", CATALOG, "-o", str(target), "--append"]
    processes = [
        subprocess.Popen([*base, "--period", period], stderr=subprocess.PIPE)
        for period in ("2025-07", "2025-08", "2025-09", "2025-Q3")
    ]
    assert all(p.wait(timeout=120) == 0 for p in processes)
    lines = target.read_text().splitlines()
    assert lines.count(lines[0]) == 1 and lines[0].startswith("metric,label,")
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    metrics = len(run("report", "--catalog", CATALOG, "--period", "2025-09").stdout.splitlines()) - 1
    assert len(rows) == 4 * metrics
    assert all(None not in row and row["metric"] for row in rows)  # no row cut or merged
    assert sorted({row["period"] for row in rows}) == ["2025-07", "2025-08", "2025-09", "2025-Q3"]


def _formula_catalog(tmp_path: Path) -> str:
    for name in ("deals.csv", "quotas.csv"):
        (tmp_path / name).write_text((TINY / name).read_text())
    # Rep names a spreadsheet would run as formulas.
    (tmp_path / "reps.csv").write_text("rep,team\nann,=1+1\nbob,@SUM(A1)\ncat,-2+3\n")
    (tmp_path / "metrics.yaml").write_text((TINY / "metrics.yaml").read_text())
    return str(tmp_path / "metrics.yaml")


def test_formula_cells_are_neutralised_in_csv(tmp_path):
    catalog = _formula_catalog(tmp_path)
    args = ["report", "--catalog", catalog, "--period", "all", "-m", "deals_won", "--by", "team"]
    rows = list(csv.DictReader(io.StringIO(run(*args).stdout)))
    assert sorted(row["team"] for row in rows) == ["'-2+3", "'=1+1", "'@SUM(A1)"]
    assert sorted(row["value"] for row in rows) == ["0", "2", "2"]  # numbers are left alone
    raw = list(csv.DictReader(io.StringIO(run(*args, "--no-escape-formulas").stdout)))
    assert sorted(row["team"] for row in raw) == ["-2+3", "=1+1", "@SUM(A1)"]
    as_json = json.loads(run(*args, "-f", "json").stdout)
    assert sorted(row["team"] for row in as_json) == ["-2+3", "=1+1", "@SUM(A1)"]  # not for spreadsheets


def test_quiet_leaves_only_errors(tmp_path):
    # validate prints a warning and an ok line, check a summary: --quiet drops them, not errors.
    assert "warning: " in run("validate", "--catalog", CATALOG).stderr
    assert run("validate", "--catalog", CATALOG, "--quiet").stderr == ""
    checked = run("check", "--catalog", CATALOG, "--period", "2025-09", "-q", "-f", "csv")
    assert checked.exit_code == 1 and checked.stderr == "" and "won_revenue" in checked.stdout
    failed = run("report", "--catalog", CATALOG, "--period", "2025-13", "-q")
    assert failed.exit_code == 2 and failed.stderr.startswith("error: ")
