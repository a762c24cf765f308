"""Every command and output format on the tiny catalog: what goes to stdout, and nothing else.

Expected numbers are computed here in plain Python from tests/data/tiny/*.csv.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from statistics import mean

import pytest
from conftest import REPO, TINY, run

import salescode

REPORT_HEADER = "metric,label,level,category,period,value,previous,change,target,attainment"
REPORT_BY_REP_HEADER = "metric,label,level,category,period,rep,value,previous,change,target,attainment"
FUNNEL_PREFIX = "funnel,stage,step,reached,conversion,overall,dropped,median_days_in_stage"
FORMATS = ("table", "csv", "json", "markdown")
ANSI = re.compile(r"\x1b\[")
# A SGR sequence that sets a colour: 30-37/90-97 (fg), 40-47/100-107 (bg), 38;/48; (256/true colour).
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-79]|4[0-79]|9[0-7]|10[0-7]|38;|48;)[0-9;]*m")


@pytest.fixture
def catalog(tiny_catalog) -> str:
    return str(tiny_catalog)


def ok(result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result.stdout


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --- expected values, from the CSV files ---------------------------------------------------------


def _deals() -> list[dict[str, str]]:
    with (TINY / "deals.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _in_month(text: str, year: int, month: int) -> bool:
    return bool(text) and (date.fromisoformat(text).year, date.fromisoformat(text).month) == (year, month)


def expected_month(year: int, month: int) -> dict[str, float | None]:
    """The tiny catalog's metrics for one month, computed by hand."""
    deals = _deals()
    closed = [d for d in deals if _in_month(d["close_date"], year, month)]
    won = [d for d in closed if d["stage"] == "Won"]
    decided = [d for d in closed if d["stage"] in ("Won", "Lost")]
    revenue = sum(float(d["amount"]) for d in won)
    days = [
        (date.fromisoformat(d["close_date"]) - date.fromisoformat(d["created_date"])).days for d in decided
    ]
    discounts = [float(d["discount"]) for d in won if d["discount"]]
    return {
        "deals_won": len(won),
        "deals_closed": len(decided),
        "win_rate": len(won) / len(decided) if decided else None,
        "won_revenue": revenue,
        "avg_deal_size": revenue / len(won) if won else None,
        "sales_cycle": mean(days) if days else None,
        "avg_discount": mean(discounts) if discounts else None,
        "new_deals": sum(_in_month(d["created_date"], year, month) for d in deals),
    }


def quota(year: int, month: int) -> float:
    with (TINY / "quotas.csv").open(newline="") as handle:
        return sum(
            float(r["quota_amount"]) for r in csv.DictReader(handle) if r["period"] == f"{year}-{month:02d}"
        )


def number(text: str) -> float | None:
    return None if text == "" else float(text)


# --- report ---------------------------------------------------------------------------------------


def test_report_csv_header_and_values(catalog):
    out = ok(run("report", "--catalog", catalog, "--format", "csv", "--period", "2025-09"))
    assert out.splitlines()[0] == REPORT_HEADER
    rows = {row["metric"]: row for row in csv_rows(out)}
    now, before = expected_month(2025, 9), expected_month(2025, 8)
    assert set(rows) == set(now)
    for name, value in now.items():
        row = rows[name]
        assert row["period"] == "2025-09"
        assert number(row["value"]) == pytest.approx(value), name
        assert number(row["previous"]) == pytest.approx(before[name]), name
        change = None if value is None or before[name] is None else value - before[name]
        assert number(row["change"]) == pytest.approx(change), name
    # targets: a fixed ratio target, a per-month target, a per-rep quota file
    assert number(rows["win_rate"]["target"]) == 0.4
    assert number(rows["win_rate"]["attainment"]) == pytest.approx(now["win_rate"] / 0.4)
    assert number(rows["new_deals"]["target"]) == 3
    assert number(rows["new_deals"]["attainment"]) == pytest.approx(now["new_deals"] / 3)
    assert number(rows["won_revenue"]["target"]) == quota(2025, 9)
    assert number(rows["won_revenue"]["attainment"]) == pytest.approx(now["won_revenue"] / quota(2025, 9))
    assert rows["deals_won"]["target"] == rows["deals_won"]["attainment"] == ""


def test_report_csv_numbers_are_unformatted(catalog):
    out = ok(run("report", "--catalog", catalog, "--format", "csv", "--period", "2025-09"))
    rows = {row["metric"]: row for row in csv_rows(out)}
    assert rows["win_rate"]["value"] == "0.5"  # 2 won of 4 closed; a fraction, not 50%
    assert rows["won_revenue"]["value"] in ("3000", "3000.0")  # not $3,000
    assert rows["sales_cycle"]["value"] == "18.5"  # days, as a plain number
    for row in rows.values():
        for column in ("value", "previous", "change", "target", "attainment"):
            cell = row[column]
            assert cell == "" or re.fullmatch(r"-?\d+(\.\d+)?(e-?\d+)?", cell), (row["metric"], column, cell)


def test_report_csv_by_rep(catalog):
    out = ok(run("report", "--catalog", catalog, "--format", "csv", "--period", "2025-09", "--by", "rep"))
    assert out.splitlines()[0] == REPORT_BY_REP_HEADER
    rows = csv_rows(out)
    won = {r["rep"]: number(r["value"]) for r in rows if r["metric"] == "deals_won"}
    # 2025-09 closes: D1 ann Won, D2 ann Lost, D3 bob Won, D7 bob Lost; cat created D6 in September.
    assert won == {"ann": 1, "bob": 1, "cat": 0}
    win_rate = {r["rep"]: number(r["value"]) for r in rows if r["metric"] == "win_rate"}
    assert win_rate == {"ann": 0.5, "bob": 0.5, "cat": None}  # 0 / 0 is empty
    revenue_target = {r["rep"]: number(r["target"]) for r in rows if r["metric"] == "won_revenue"}
    assert revenue_target == {"ann": 1500, "bob": 2000, "cat": 500}
    assert len(rows) == 8 * 3


def test_report_json(catalog):
    out = ok(run("report", "--catalog", catalog, "--format", "json", "--period", "2025-09"))
    data = json.loads(out)
    assert isinstance(data, list)
    assert [list(item) for item in data] == [REPORT_HEADER.split(",")] * len(data)
    by_name = {item["metric"]: item for item in data}
    assert by_name["win_rate"]["value"] == 0.5
    assert by_name["deals_won"]["value"] == 2
    assert by_name["deals_won"]["target"] is None  # empty is null, not "" or "—"
    assert by_name["deals_won"]["attainment"] is None
    assert by_name["won_revenue"]["target"] == quota(2025, 9)


def test_report_json_by_rep_has_nulls_for_empty(catalog):
    # cat has no deal closed in 2025-09 but created one (new_deals): win_rate for cat is 0 / 0, empty.
    args = ["-f", "json", "-p", "2025-09", "--by", "rep", "-m", "win_rate", "-m", "new_deals"]
    data = json.loads(ok(run("report", "--catalog", catalog, *args)))
    assert list(data[0]) == REPORT_BY_REP_HEADER.split(",")
    win_rate = {item["rep"]: item["value"] for item in data if item["metric"] == "win_rate"}
    assert win_rate == {"ann": 0.5, "bob": 0.5, "cat": None}


def test_report_by_rep_groups_are_those_present_in_the_period(catalog):
    # Only deals_won requested: its rows in 2025-09 (by close date) are ann's and bob's.
    out = ok(run("report", "-c", catalog, "-f", "csv", "-p", "2025-09", "--by", "rep", "-m", "deals_won"))
    assert [r["rep"] for r in csv_rows(out)] == ["ann", "bob"]


def test_report_json_all_has_no_previous(catalog):
    data = json.loads(ok(run("report", "--catalog", catalog, "-f", "json", "-p", "all", "-m", "deals_won")))
    assert data == [
        {
            "metric": "deals_won",
            "label": "Deals won",
            "level": "result",
            "category": "financial",
            "period": "all",
            "value": sum(d["stage"] == "Won" for d in _deals()),
            "previous": None,
            "change": None,
            "target": None,
            "attainment": None,
        }
    ]


def test_report_markdown_is_a_table(catalog):
    out = ok(run("report", "--catalog", catalog, "--format", "markdown", "--period", "2025-09"))
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert len(table) >= 2 + 8  # header, separator, a row per metric
    assert re.fullmatch(r"\|(\s*:?-{3,}:?\s*\|)+", table[1]), table[1]
    columns = table[0].count("|")
    assert all(line.count("|") == columns for line in table)
    assert any("Win rate" in line and "50.0%" in line for line in table)
    assert ANSI.search(out) is None


def test_report_table(catalog):
    out = ok(run("report", "--catalog", catalog, "--format", "table", "--period", "2025-09"))
    assert "Tiny Co" in out
    assert "2025-09" in out
    for label in ("Deals won", "Win rate", "Won revenue", "New deals"):
        assert label in out
    assert "50.0%" in out
    assert ANSI.search(out) is None


def test_report_level_and_metric_filters(catalog):
    out = ok(run("report", "-c", catalog, "-f", "csv", "-p", "2025-09", "--level", "activity"))
    assert [r["metric"] for r in csv_rows(out)] == ["new_deals"]
    out = ok(run("report", "-c", catalog, "-f", "csv", "-p", "2025-09", "-m", "win_rate", "-m", "deals_won"))
    assert sorted(r["metric"] for r in csv_rows(out)) == ["deals_won", "win_rate"]


def test_report_orders_results_then_objectives_then_activities(catalog):
    out = ok(run("report", "--catalog", catalog, "--format", "csv", "--period", "2025-09"))
    levels = [row["level"] for row in csv_rows(out)]
    order = {"result": 0, "objective": 1, "activity": 2}
    assert levels == sorted(levels, key=order.__getitem__)


# --- funnel ---------------------------------------------------------------------------------------


def expected_funnel(cohort: bool) -> dict[str, int]:
    """Reached per stage for 2025-09: active deals (or the cohort created in the month)."""
    stages = ["Lead", "Proposal", "Won"]
    start, end = date(2025, 9, 1), date(2025, 10, 1)
    reach = []
    for d in _deals():
        created = date.fromisoformat(d["created_date"])
        closed = date.fromisoformat(d["close_date"]) if d["close_date"] else None
        if cohort:
            if not start <= created < end:
                continue
        elif not (created < end and (closed is None or closed >= start)):
            continue
        # A lost deal reached every stage before the final one.
        reach.append(len(stages) - 1 if d["stage"] == "Lost" else stages.index(d["stage"]) + 1)
    return {stage: sum(r >= i + 1 for r in reach) for i, stage in enumerate(stages)}


@pytest.mark.parametrize("cohort", [False, True])
def test_funnel_csv(catalog, cohort):
    args = ["funnel", "--catalog", catalog, "--format", "csv", "--period", "2025-09"]
    out = ok(run(*args, *(["--cohort"] if cohort else [])))
    assert out.splitlines()[0].startswith(FUNNEL_PREFIX)
    rows = csv_rows(out)
    expected = expected_funnel(cohort)
    assert [r["stage"] for r in rows] == list(expected)
    assert [r["step"] for r in rows] == ["1", "2", "3"]
    assert {r["stage"]: number(r["reached"]) for r in rows} == expected
    first = expected["Lead"]
    assert rows[0]["conversion"] == ""  # nothing before the first stage
    assert number(rows[2]["conversion"]) == pytest.approx(expected["Won"] / expected["Proposal"])
    assert number(rows[2]["overall"]) == pytest.approx(expected["Won"] / first)
    assert {r["funnel"] for r in rows} == {"pipeline"}


def test_funnel_csv_by_rep(catalog):
    out = ok(run("funnel", "pipeline", "-c", catalog, "-f", "csv", "-p", "2025-09", "--by", "rep"))
    header = out.splitlines()[0].split(",")
    assert header[:4] == ["funnel", "stage", "step", "rep"]
    assert header[4:9] == ["reached", "conversion", "overall", "dropped", "median_days_in_stage"]
    rows = csv_rows(out)
    # active in 2025-09: ann D1 (Won) D2 (Lost); bob D3 (Won) D7 (Lost); cat D6 (Proposal)
    won = {r["rep"]: number(r["reached"]) for r in rows if r["stage"] == "Won"}
    assert won == {"ann": 1, "bob": 1, "cat": 0}
    lead = {r["rep"]: number(r["reached"]) for r in rows if r["stage"] == "Lead"}
    assert lead == {"ann": 2, "bob": 2, "cat": 1}


def test_funnel_json(catalog):
    data = json.loads(ok(run("funnel", "-c", catalog, "-f", "json", "-p", "2025-09")))
    assert list(data[0])[:8] == FUNNEL_PREFIX.split(",")
    assert data[0]["conversion"] is None
    assert [item["reached"] for item in data] == list(expected_funnel(False).values())


def test_funnel_markdown_and_table(catalog):
    markdown = ok(run("funnel", "-c", catalog, "-f", "markdown", "-p", "2025-09"))
    table = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 3
    assert re.fullmatch(r"\|(\s*:?-{3,}:?\s*\|)+", table[1])
    text = ok(run("funnel", "-c", catalog, "-f", "table", "-p", "2025-09"))
    for stage in ("Lead", "Proposal", "Won"):
        assert stage in text
    assert ANSI.search(markdown + text) is None


def test_funnel_warnings_go_to_stderr_only(catalog):
    result = run("funnel", "-c", catalog, "-f", "csv", "-p", "2025-09", "--by", "rep")
    out = ok(result)
    assert "warning" not in out
    width = len(out.splitlines()[0].split(","))
    assert all(len(row) == width for row in csv.reader(io.StringIO(out)))


# --- metrics, tree, validate ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_metrics_every_format(catalog, fmt):
    out = ok(run("metrics", "--catalog", catalog, "--format", fmt))
    names = ["deals_won", "deals_closed", "win_rate", "won_revenue", "avg_deal_size", "sales_cycle"]
    names += ["new_deals", "avg_discount"]
    for name in names:
        assert name in out
    assert ANSI.search(out) is None
    if fmt == "csv":
        rows = csv_rows(out)
        assert list(rows[0])[:4] == ["metric", "label", "level", "category"]
        assert sorted(r["metric"] for r in rows) == sorted(names)
    elif fmt == "json":
        data = json.loads(out)
        assert sorted(item["metric"] for item in data) == sorted(names)
        assert {item["metric"]: item["level"] for item in data}["new_deals"] == "activity"
    elif fmt == "markdown":
        table = [line for line in out.splitlines() if line.startswith("|")]
        assert len(table) == 2 + len(names)
        assert re.fullmatch(r"\|(\s*:?-{3,}:?\s*\|)+", table[1])


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_metrics_machine_formats_do_not_format_numbers(catalog, fmt):
    # The win_rate target is 0.4 in the catalog: a script must not get "40.0%".
    out = ok(run("metrics", "--catalog", catalog, "--format", fmt))
    assert "%" not in out


def test_tree(catalog):
    out = ok(run("tree", "--catalog", catalog))
    assert "Tiny Co" in out
    lines = out.splitlines()
    # new_deals drives deals_won: it is shown below it, further indented
    won = next(i for i, line in enumerate(lines) if "deals_won" in line)
    new = next(i for i, line in enumerate(lines) if "new_deals" in line)
    assert new > won
    assert lines[new].index("New deals") > lines[won].index("Deals won")
    assert ANSI.search(out) is None


def test_validate_prints_ok_and_no_data(catalog):
    result = run("validate", "--catalog", catalog)
    assert result.exit_code == 0, result.stderr
    assert "ok" in result.stderr
    assert result.stdout == ""


# --- help and version -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["report", "funnel", "metrics", "tree", "validate"])
def test_command_help_has_an_example(command):
    out = ok(run(command, "--help"))
    assert "Usage" in out
    assert "Example" in out
    assert f"salescode {command}" in out.split("Example", 1)[1]


def test_main_help():
    out = ok(run("--help"))
    for command in ("report", "funnel", "metrics", "tree", "validate"):
        assert command in out
    assert "Example" in out


def test_version():
    result = run("--version")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"salescode {salescode.__version__}"


def test_python_dash_m_help():
    result = subprocess.run(
        [sys.executable, "-m", "salescode", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
    assert "report" in result.stdout


# --- where output goes ----------------------------------------------------------------------------

OUTPUT_CASES = [
    (command, fmt)
    for command in ("report", "funnel", "metrics")
    for fmt in ("csv", "json", "markdown", "table")
]


@pytest.mark.parametrize(("command", "fmt"), OUTPUT_CASES)
def test_output_file_gets_what_stdout_would(catalog, tmp_path, command, fmt):
    args = [command, "--catalog", catalog, "--format", fmt]
    if command != "metrics":
        args += ["--period", "2025-09"]
    expected = ok(run(*args))
    target = tmp_path / f"out.{fmt}"
    result = run(*args, "--output", str(target))
    assert ok(result) == ""
    assert target.read_text(encoding="utf-8") == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temporary file left


def test_output_file_replaces_an_existing_one(catalog, tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    assert ok(run("report", "-c", catalog, "-f", "csv", "-p", "2025-09", "-o", str(target))) == ""
    assert target.read_text().splitlines()[0] == REPORT_HEADER


def test_output_without_format_is_csv(catalog, tmp_path):
    target = tmp_path / "out.csv"
    assert ok(run("report", "-c", catalog, "-p", "2025-09", "-o", str(target))) == ""
    assert target.read_text().splitlines()[0] == REPORT_HEADER


@pytest.mark.parametrize(
    ("command", "first_line"),
    [("report", REPORT_HEADER), ("funnel", FUNNEL_PREFIX), ("metrics", "metric,label,level,category")],
)
def test_default_format_when_not_a_terminal_is_csv(catalog, command, first_line):
    args = [command, "--catalog", catalog] + (["--period", "2025-09"] if command != "metrics" else [])
    out = ok(run(*args))
    assert out.splitlines()[0].startswith(first_line)


@pytest.mark.parametrize("command", ["report", "funnel", "metrics", "tree"])
def test_piped_table_has_no_ansi_even_without_no_color(catalog, command):
    args = [command, "--catalog", catalog] + (["--format", "table"] if command != "tree" else [])
    out = ok(run(*args, env={"NO_COLOR": None, "TERM": "xterm-256color"}))
    assert out.strip()
    assert ANSI.search(out) is None


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "SALESCODE_CATALOG")}
    env.update({"COLUMNS": "120", "TERM": "xterm-256color", **extra})
    return env


def test_subprocess_piped_output_has_no_ansi(catalog):
    result = subprocess.run(
        [sys.executable, "-m", "salescode", "report", "-c", catalog, "-p", "2025-09", "-f", "table"],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Win rate" in result.stdout
    assert ANSI.search(result.stdout) is None
    assert ANSI.search(result.stderr) is None


def _run_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run salescode with stdout on a pseudo-terminal; return (exit code, what it printed)."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "salescode", *args],
        stdout=slave,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed: the process has finished writing
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return process.wait(timeout=60), b"".join(chunks).decode("utf-8", errors="replace")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_default_format_on_a_terminal_is_a_table(catalog):
    code, out = _run_on_a_terminal(["report", "-c", catalog, "-p", "2025-09"], _clean_env(NO_COLOR="1"))
    assert code == 0
    assert "Win rate" in out
    assert "50.0%" in out
    assert not out.startswith("metric,")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_no_color_on_a_terminal_has_no_colour(catalog):
    code, out = _run_on_a_terminal(["report", "-c", catalog, "-p", "2025-09"], _clean_env(NO_COLOR="1"))
    assert code == 0
    assert COLOUR.search(out) is None


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_no_color_on_a_terminal_has_no_escape_codes_at_all(catalog):
    code, out = _run_on_a_terminal(["report", "-c", catalog, "-p", "2025-09"], _clean_env(NO_COLOR="1"))
    assert code == 0
    assert ANSI.search(out) is None, sorted(set(re.findall(r"\x1b\[[0-9;]*m", out)))


# --- catalog discovery ----------------------------------------------------------------------------


def test_salescode_catalog_env_var(tmp_path, monkeypatch, tiny_catalog):
    monkeypatch.chdir(tmp_path)  # no metrics.yaml here
    out = ok(run("report", "-f", "csv", "-p", "2025-09", env={"SALESCODE_CATALOG": str(tiny_catalog)}))
    assert out.splitlines()[0] == REPORT_HEADER
    assert len(csv_rows(out)) == 8
    out = ok(run("metrics", "-f", "csv", env={"SALESCODE_CATALOG": str(tiny_catalog)}))
    assert "win_rate" in out


def test_catalog_option_beats_the_env_var(tmp_path, tiny_catalog):
    out = ok(
        run(
            "report",
            "-c",
            str(tiny_catalog),
            "-f",
            "csv",
            "-p",
            "2025-09",
            env={"SALESCODE_CATALOG": str(tmp_path / "x.yaml")},
        )
    )
    assert out.splitlines()[0] == REPORT_HEADER


def test_metrics_yaml_in_the_current_folder(tmp_path, monkeypatch):
    folder = tmp_path / "tiny"
    shutil.copytree(TINY, folder)
    monkeypatch.chdir(folder)
    out = ok(run("report", "-f", "csv", "-p", "2025-09", env={"SALESCODE_CATALOG": None}))
    assert out.splitlines()[0] == REPORT_HEADER


def test_default_period_is_the_latest_month_with_data(catalog):
    rows = csv_rows(ok(run("report", "-c", catalog, "-f", "csv")))
    latest = max(date.fromisoformat(d["close_date"]) for d in _deals() if d["close_date"])
    assert {r["period"] for r in rows} == {f"{latest:%Y-%m}"}


def test_every_command_accepts_catalog(catalog, tmp_path):
    missing = str(tmp_path / "nope.yaml")
    for command in ("report", "funnel", "metrics", "tree", "validate"):
        assert run(command, "--catalog", catalog).exit_code == 0, command
        assert run(command, "--catalog", missing).exit_code == 2, command
