"""Bad input: exit code 2 and exactly one `error:` line on stderr that names the file, the place and the fix.

Each bad input is built in tmp_path from a copy of tests/data/tiny with one thing changed.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import pytest
from conftest import REPO, TINY, run

BOX_CHARS = "╭╮╰╯│─┌┐└┘"


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A writable copy of tests/data/tiny; returns the folder."""
    folder = tmp_path / "tiny"
    shutil.copytree(TINY, folder)
    return folder


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first occurrence of old (which must be there) by new."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def one_error(result) -> str:
    """The single `error:` line of a failed run (exit 2, nothing on stdout, no traceback, no box)."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    assert "Traceback" not in result.stderr
    assert not any(char in line for char in BOX_CHARS), line
    assert result.stdout == ""
    return line


def report(catalog: Path, *args: str, **kwargs):
    return run("report", "--catalog", str(catalog), "--format", "csv", *args, **kwargs)


# --- the catalog ----------------------------------------------------------------------------------


def test_yaml_syntax_error_names_file_line_and_column(tiny):
    catalog = tiny / "metrics.yaml"
    edit(catalog, "    key: deal_id\n", "    key: deal_id: x\n")
    lines = catalog.read_text().splitlines()
    line_no = lines.index("    key: deal_id: x") + 1
    column = lines[line_no - 1].index(": x") + 1  # the second ':' is what YAML cannot accept
    message = one_error(report(catalog))
    assert str(catalog) in message
    assert f"line {line_no}, column {column}" in message
    assert "invalid YAML" in message


def test_unknown_key_with_did_you_mean(tiny):
    catalog = tiny / "metrics.yaml"
    edit(catalog, "    expr: amount\n", '    expr: amount\n    filtr: "amount > 0"\n')
    message = one_error(report(catalog))
    assert str(catalog) in message
    assert "metrics.won_revenue.filtr: unknown key" in message
    assert "(did you mean 'filter'?)" in message


def test_wrong_type_for_a_key(tiny):
    catalog = tiny / "metrics.yaml"
    edit(catalog, "target: {value: 0.4}", "target: {value: lots}")
    message = one_error(report(catalog))
    assert str(catalog) in message
    assert "metrics.win_rate.target.value" in message
    assert "expected a number" in message
    assert "'lots'" in message


def test_wrong_type_for_a_section(tiny):
    catalog = tiny / "metrics.yaml"
    edit(
        catalog,
        "dimensions:\n  rep: {label: Sales rep}\n  team: {label: Team}\n",
        "dimensions: [rep, team]\n",
    )
    message = one_error(report(catalog))
    assert "dimensions" in message
    assert "expected a mapping" in message


def test_missing_catalog_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    message = one_error(report(missing))
    assert "nope.yaml" in message
    assert "not found" in message


def test_no_catalog_anywhere_gives_a_hint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = one_error(run("report", "--format", "csv", env={"SALESCODE_CATALOG": None}))
    assert "metrics.yaml" in message
    assert "--catalog" in message
    assert "SALESCODE_CATALOG" in message


def test_catalog_that_is_a_folder(tiny):
    message = one_error(report(tiny))
    assert str(tiny) in message
    assert "folder" in message or "directory" in message


def test_validate_lists_every_catalog_problem(tiny):
    catalog = tiny / "metrics.yaml"
    edit(catalog, "    expr: amount\n", "    expr: amount\n    filtr: x\n")  # unknown key
    edit(catalog, "category: opportunity_management", "category: financial")  # wrong level
    edit(catalog, "numerator: deals_won", "numerator: deal_won")  # unknown metric
    edit(catalog, "target: {value: 0.4}", "target: {value: lots}")  # wrong type
    result = run("validate", "--catalog", str(catalog))
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    assert "4 problems" in result.stderr
    assert str(catalog) in result.stderr
    for expected in (
        "metrics.won_revenue.filtr: unknown key",
        "metrics.new_deals.category: 'financial' is not a",
        "metrics.win_rate.ratio.numerator: unknown metric 'deal_won' (did you mean 'deals_won'?)",
        "metrics.win_rate.target.value: expected a number",
    ):
        assert expected in result.stderr, expected
    assert result.stdout == ""


def test_validate_tiny_catalog_is_ok(tiny_catalog):
    result = run("validate", "--catalog", str(tiny_catalog))
    assert result.exit_code == 0, result.stderr
    assert "ok" in result.stdout + result.stderr
    assert "error" not in result.stderr


def test_validate_default_catalog_is_ok():
    result = run("validate", "--catalog", str(REPO / "metrics.yaml"))
    assert result.exit_code == 0, result.stderr
    assert "ok" in result.stdout + result.stderr
    assert "error" not in result.stderr


def test_validate_reports_a_data_problem(tiny):
    edit(tiny / "deals.csv", "D3,bob,Won,2000,", "D3,bob,Won,TBD,")
    message = one_error(run("validate", "--catalog", str(tiny / "metrics.yaml")))
    assert "deals.csv" in message
    assert "line 4" in message
    assert "'TBD'" in message


def test_cyclic_derived_metrics(tiny):
    catalog = tiny / "metrics.yaml"
    edit(catalog, 'derived: "won_revenue / deals_won"', 'derived: "won_revenue / per_deal"')
    edit(
        catalog,
        "  sales_cycle:\n",
        '  per_deal:\n    level: result\n    category: financial\n    derived: "avg_deal_size * 2"\n'
        "  sales_cycle:\n",
    )
    message = one_error(report(catalog))
    assert str(catalog) in message
    assert re.search(
        r"avg_deal_size -> per_deal -> avg_deal_size|per_deal -> avg_deal_size -> per_deal", message
    )


def test_python_in_a_filter_is_rejected_as_invalid_sql(tiny, monkeypatch):
    monkeypatch.chdir(tiny)
    catalog = tiny / "metrics.yaml"
    edit(catalog, "filter: \"stage = 'Won'\"", "filter: \"__import__('os').system('touch PWNED')\"")
    message = one_error(report(catalog))
    assert "metrics.deals_won.filter" in message
    assert "not a valid SQL expression" in message
    assert not (tiny / "PWNED").exists()


# --- the data -------------------------------------------------------------------------------------


def test_missing_data_file(tiny):
    catalog = tiny / "metrics.yaml"
    edit(catalog, "path: deals.csv", "path: deal.csv")
    message = one_error(report(catalog))
    assert str(tiny / "deal.csv") in message
    assert "not found" in message
    assert "sources.deals.path" in message


def test_missing_column_in_an_expression(tiny):
    catalog = tiny / "metrics.yaml"
    edit(catalog, "expr: amount", "expr: amont")
    message = one_error(report(catalog))
    assert str(catalog) in message
    assert "metrics.won_revenue.expr" in message
    assert "'amont'" in message
    assert "(did you mean 'amount'?)" in message


def test_missing_column_in_a_filter(tiny):
    catalog = tiny / "metrics.yaml"
    edit(catalog, "filter: \"stage = 'Won'\"", "filter: \"stag = 'Won'\"")
    message = one_error(report(catalog))
    assert "metrics.deals_won.filter" in message
    assert "'stag'" in message
    assert "(did you mean 'stage'?)" in message


@pytest.mark.parametrize("bad", ["TBD", "12,5x", "2x00", "NaN", "nan", "inf", "-inf", "Infinity"])
def test_unparseable_number(tiny, bad):
    edit(tiny / "deals.csv", "D3,bob,Won,2000,", f'D3,bob,Won,"{bad}",')  # D3 is on line 4
    message = one_error(report(tiny / "metrics.yaml", "--period", "all"))
    assert str(tiny / "deals.csv") in message
    assert "line 4" in message
    assert "'amount'" in message
    assert f"'{bad}'" in message


def test_non_finite_number_in_a_column_a_metric_reads_in_the_period(tiny):
    edit(tiny / "deals.csv", ",0.2\n", ",inf\n")  # D3's discount, line 4; D3 closed in 2025-09
    message = one_error(report(tiny / "metrics.yaml", "--period", "2025-09"))
    assert "deals.csv" in message
    assert "line 4" in message
    assert "'discount'" in message
    assert "'inf'" in message


def test_unparseable_integer(tiny):
    edit(tiny / "metrics.yaml", "amount: number", "amount: integer")
    edit(tiny / "deals.csv", "D5,ann,Lost,800,", "D5,ann,Lost,800.5,")  # D5 is on line 6
    message = one_error(report(tiny / "metrics.yaml", "--period", "all"))
    assert "deals.csv" in message
    assert "line 6" in message
    assert "'amount'" in message
    assert "'800.5'" in message


def test_unparseable_date_in_a_time_column(tiny):
    edit(tiny / "deals.csv", "2025-09-20", "TBD")  # D3's close_date, line 4
    message = one_error(report(tiny / "metrics.yaml", "--period", "all"))
    assert str(tiny / "deals.csv") in message
    assert "'close_date'" in message
    assert "'TBD'" in message
    assert "line 4" in message


def test_unparseable_value_in_a_targets_file(tiny):
    edit(tiny / "quotas.csv", "ann,2025-09,1500", "ann,2025-09,lots")  # line 3
    message = one_error(report(tiny / "metrics.yaml", "--period", "2025-09"))
    assert str(tiny / "quotas.csv") in message
    assert "'quota_amount'" in message
    assert "'lots'" in message
    assert "line 3" in message


def test_ragged_row_names_its_line(tiny):
    edit(tiny / "deals.csv", "D3,bob,Won,2000,", "D3,bob,Won,2000,extra,")  # line 4 has one field too many
    message = one_error(report(tiny / "metrics.yaml", "--period", "all"))
    assert "deals.csv" in message
    assert "line 4" in message


def test_ambiguous_dates_without_date_format(tiny):
    deals = tiny / "deals.csv"
    deals.write_text(
        "deal_id,rep,stage,amount,created_date,close_date,discount\n"
        "D1,ann,Won,1000,01/08/2025,04/09/2025,0.1\n"
        "D2,bob,Lost,500,02/08/2025,05/09/2025,\n"
    )
    message = one_error(report(tiny / "metrics.yaml", "--period", "all"))
    assert str(deals) in message
    assert "created_date" in message or "close_date" in message
    assert "date_format" in message
    assert "%d/%m/%Y" in message


def test_declared_date_format_makes_them_valid(tiny):
    (tiny / "deals.csv").write_text(
        "deal_id,rep,stage,amount,created_date,close_date,discount\n"
        "D1,ann,Won,1000,01/08/2025,04/09/2025,0.1\n"
        "D2,bob,Lost,500,02/08/2025,05/09/2025,\n"
    )
    edit(tiny / "metrics.yaml", "    key: deal_id\n", "    key: deal_id\n    date_format: '%d/%m/%Y'\n")
    result = report(tiny / "metrics.yaml", "--period", "2025-09", "--metric", "deals_closed")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["value"] == "2"


def test_duplicate_key_values(tiny):
    with (tiny / "deals.csv").open("a") as handle:
        handle.write("D3,bob,Won,5,2025-09-01,2025-09-03,\n")  # line 10: D3 again (first on line 4)
    message = one_error(report(tiny / "metrics.yaml", "--period", "all"))
    assert str(tiny / "deals.csv") in message
    assert "'deal_id'" in message
    assert "'D3'" in message
    assert re.search(r"lines 4, 10\b", message), message


def test_duplicate_key_values_stop_the_funnel_too(tiny):
    with (tiny / "deals.csv").open("a") as handle:
        handle.write("D3,bob,Won,5,2025-09-01,2025-09-03,\n")  # line 10: D3 again (first on line 4)
    result = run("funnel", "--catalog", str(tiny / "metrics.yaml"), "--period", "all")
    message = one_error(result)
    assert str(tiny / "deals.csv") in message
    assert "'D3'" in message
    assert re.search(r"lines 4, 10\b", message), message


def test_zero_byte_csv(tiny):
    (tiny / "reps.csv").write_bytes(b"")
    message = one_error(report(tiny / "metrics.yaml", "--period", "all"))
    assert str(tiny / "reps.csv") in message
    assert "empty" in message


def test_header_only_csv_is_valid(tiny):
    deals = tiny / "deals.csv"
    deals.write_text(deals.read_text().splitlines()[0] + "\n")
    result = report(tiny / "metrics.yaml", "--period", "2025-09")
    assert result.exit_code == 0, result.stderr
    rows = {row["metric"]: row for row in csv.DictReader(io.StringIO(result.stdout))}
    for name in ("deals_won", "deals_closed", "new_deals", "won_revenue"):
        assert rows[name]["value"] == "0", name
    for name in ("win_rate", "avg_deal_size", "sales_cycle", "avg_discount"):
        assert rows[name]["value"] == "", name
    assert run("validate", "--catalog", str(tiny / "metrics.yaml")).exit_code == 0


def test_duplicate_yaml_key(tiny):
    catalog = tiny / "metrics.yaml"
    edit(catalog, "currency: USD\n", "currency: USD\nname: Other Co\n")  # name is on line 2, again on 4
    message = one_error(report(catalog))
    assert str(catalog) in message
    assert "duplicate key 'name'" in message
    assert "line 4" in message
    assert "line 2" in message


def test_python_object_tag(tiny):
    catalog = tiny / "metrics.yaml"
    edit(catalog, "name: Tiny Co", "name: !!python/object/apply:os.system ['touch PWNED']")
    message = one_error(report(catalog))
    assert str(catalog) in message
    assert "line 2" in message
    assert "tag" in message
    assert not (tiny / "PWNED").exists()
    assert not Path("PWNED").exists()


# --- options --------------------------------------------------------------------------------------


@pytest.mark.parametrize("period", ["2025-13", "foo", "2025-Q5", "2025-02-30", "2025-09..2025-08"])
def test_bad_period(tiny_catalog, period):
    message = one_error(report(tiny_catalog, "--period", period))
    assert f"--period '{period}'" in message


def test_bad_period_lists_the_grammar(tiny_catalog):
    message = one_error(report(tiny_catalog, "--period", "fortnight"))
    assert "2025-Q3" in message
    assert "last-week" in message


def test_bad_period_on_funnel(tiny_catalog):
    message = one_error(run("funnel", "--catalog", str(tiny_catalog), "--period", "foo"))
    assert "--period 'foo'" in message


def test_unknown_metric(tiny_catalog):
    message = one_error(report(tiny_catalog, "--metric", "deal_won"))
    assert "--metric 'deal_won'" in message
    assert "(did you mean 'deals_won'?)" in message
    assert "salescode metrics" in message


@pytest.mark.parametrize("command", ["report", "funnel"])
def test_unknown_by_dimension(tiny_catalog, command):
    message = one_error(run(command, "--catalog", str(tiny_catalog), "--by", "reps", "--format", "csv"))
    assert "--by 'reps'" in message
    assert "(did you mean 'rep'?)" in message


def test_unknown_funnel(tiny_catalog):
    message = one_error(run("funnel", "pipline", "--catalog", str(tiny_catalog), "--format", "csv"))
    assert "pipline" in message
    assert "pipeline" in message


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["report", "--bogus"], ["--bogus", "--help"]),
        (["report", "--format", "xml"], ["--format", "xml", "csv", "--help"]),
        (["report", "--grain", "decade"], ["--grain", "decade", "month"]),
        (["report", "--level", "boss"], ["--level", "boss", "activity"]),
        (["report", "--period"], ["--period", "argument"]),
        (["funnel", "--cohort=maybe"], ["--cohort"]),
        (["metrics", "--by", "rep"], ["--by"]),
        (["nosuchcommand"], ["nosuchcommand", "--help"]),
    ],
)
def test_usage_errors_are_one_plain_line(tiny_catalog, args, names):
    result = (
        run(*args[:1], "--catalog", str(tiny_catalog), *args[1:])
        if args[0] != "nosuchcommand"
        else run(*args)
    )
    message = one_error(result)
    for name in names:
        assert name in message


def test_unwritable_output_folder_creates_nothing(tiny_catalog, tmp_path):
    target = tmp_path / "missing" / "out.csv"
    message = one_error(report(tiny_catalog, "--output", str(target)))
    assert "--output" in message
    assert "missing" in message
    assert "create it" in message
    assert not target.parent.exists()


def test_output_that_is_a_folder(tiny_catalog, tmp_path):
    message = one_error(report(tiny_catalog, "--output", str(tmp_path)))
    assert "--output" in message
    assert str(tmp_path) in message


def test_failed_run_leaves_no_output_file(tiny, tmp_path):
    edit(tiny / "deals.csv", "D3,bob,Won,2000,", "D3,bob,Won,TBD,")
    target = tmp_path / "out.csv"
    one_error(report(tiny / "metrics.yaml", "--period", "all", "--output", str(target)))
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]  # no temporary file left behind


def test_failed_run_leaves_an_existing_output_file_untouched(tiny_catalog, tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("previous contents\n")
    one_error(report(tiny_catalog, "--period", "foo", "--output", str(target)))
    assert target.read_text() == "previous contents\n"
    one_error(report(tiny_catalog, "--metric", "nope", "--output", str(target)))
    assert target.read_text() == "previous contents\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


# --- internal errors and --debug ------------------------------------------------------------------


@pytest.fixture
def broken_engine(monkeypatch):
    """Make the engine raise an unexpected exception: a stand-in for a bug in salescode."""

    def boom(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr("salescode.engine.evaluate", boom)


def test_internal_error_is_one_line_and_exit_3(tiny_catalog, broken_engine):
    result = report(tiny_catalog)
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "simulated bug" in lines[0]
    assert "--debug" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("where", ["first", "last"])
def test_debug_shows_the_traceback_of_an_internal_error(tiny_catalog, broken_engine, where):
    args = ["report", "--catalog", str(tiny_catalog), "--format", "csv"]
    result = run(*(["--debug", *args] if where == "first" else [*args, "--debug"]))
    assert result.exit_code == 3
    assert "Traceback" in result.stderr
    assert "RuntimeError: simulated bug" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("error: ")


def test_debug_does_not_add_a_traceback_to_a_user_error(tiny_catalog):
    message = one_error(run("report", "--catalog", str(tiny_catalog), "--period", "foo", "--debug"))
    assert "--period 'foo'" in message


@pytest.mark.parametrize(
    "formula",
    [
        "won_revenue ** deals_won",
        "(won_revenue / deals_won",
        "won_revenue / / deals_won",
        "won_revenue deals_won",
    ],
)
def test_malformed_derived_formula_is_a_catalog_error(tiny, formula):
    # Made only of names, numbers and operators, but not arithmetic: an error naming the key,
    # not an internal error when the report runs, and never a silently wrong number.
    catalog = tiny / "metrics.yaml"
    edit(catalog, 'derived: "won_revenue / deals_won"', f'derived: "{formula}"')
    message = one_error(report(catalog, "--period", "2025-09"))
    assert str(catalog) in message
    assert "metrics.avg_deal_size.derived" in message


def test_an_expression_over_a_text_column_is_a_catalog_error_not_a_bug(tmp_path):
    # 'closed' holds 'soon', so it is read as text: text minus a date cannot be computed
    (tmp_path / "d.csv").write_text("id,created,closed\n1,2024-01-01,soon\n", encoding="utf-8")
    (tmp_path / "m.yaml").write_text(
        "version: 1\nsources:\n  d: {path: d.csv, time: created}\nmetrics:\n"
        '  cycle: {level: result, category: financial, source: d, agg: mean, expr: "closed - created"}\n',
        encoding="utf-8",
    )
    line = one_error(run("report", "--catalog", str(tmp_path / "m.yaml"), "--period", "all"))
    assert "metrics.cycle.expr: 'closed - created' cannot be computed over source 'd'" in line
    assert "declare sources.d.types" in line
