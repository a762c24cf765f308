"""The catalog: YAML 1.2 reading, key checks with key paths, metric kinds, references and cycles."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from conftest import REPO, TINY

from salescode.catalog import (
    Agg,
    ColumnType,
    Format,
    Grain,
    Level,
    MetricKind,
    load_catalog,
    parse_catalog,
)
from salescode.catalog.yamlsafe import YamlProblem, load_yaml
from salescode.errors import CatalogError

HERE = Path("/catalogs/metrics.yaml")

HEAD = """\
version: 1
sources:
  deals: {path: deals.csv, time: close_date}
  reps: {path: reps.csv, key: rep}
metrics:
"""


def parse(text: str, **kwargs):
    return parse_catalog(text, source=HERE, **kwargs)


def problems(text: str, **kwargs) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        parse(text, **kwargs)
    return caught.value.problems


def one_problem(text: str, **kwargs) -> str:
    found = problems(text, **kwargs)
    assert len(found) == 1, found
    return found[0]


COUNT = "{level: result, category: financial, source: deals, agg: count}"


# --- loading --------------------------------------------------------------------------------------


def test_tiny_catalog_loads():
    catalog = load_catalog(TINY / "metrics.yaml")
    assert catalog.name == "Tiny Co"
    assert catalog.currency == "USD"
    assert list(catalog.sources) == ["deals", "reps", "quotas"]
    assert catalog.sources["deals"].path == TINY / "deals.csv"  # relative to the catalog's folder
    assert catalog.sources["deals"].key == "deal_id"
    assert catalog.sources["deals"].types == {"amount": ColumnType.NUMBER, "discount": ColumnType.NUMBER}
    win_rate = catalog.metrics["win_rate"]
    assert win_rate.kind is MetricKind.RATIO
    assert (win_rate.numerator, win_rate.denominator) == ("deals_won", "deals_closed")
    assert win_rate.format is Format.PERCENT  # the default for a ratio
    assert catalog.metrics["deals_won"].format is Format.INTEGER  # the default for a count
    assert catalog.metrics["new_deals"].target.value == 3
    assert catalog.metrics["new_deals"].target.per is Grain.MONTH
    assert catalog.metrics["avg_deal_size"].inputs == ("won_revenue", "deals_won")
    assert catalog.metrics["won_revenue"].agg is Agg.SUM
    assert catalog.metrics["new_deals"].level is Level.ACTIVITY
    assert [s.name for s in catalog.funnels["pipeline"].stages] == ["Lead", "Proposal", "Won"]


def test_default_catalog_loads():
    catalog = load_catalog(REPO / "metrics.yaml")
    assert catalog.metrics
    assert catalog.sources


def test_missing_catalog_file(tmp_path):
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path / "nope.yaml")
    message = str(caught.value)
    assert "nope.yaml" in message
    assert "not found" in message


def test_empty_catalog(tmp_path):
    path = tmp_path / "metrics.yaml"
    path.write_text("")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert "empty" in str(caught.value)


def test_label_defaults_to_the_name():
    catalog = parse(HEAD + f"  deals_won: {COUNT}\n")
    assert catalog.metrics["deals_won"].label == "Deals won"


# --- YAML 1.2 -------------------------------------------------------------------------------------


def test_yaml_12_booleans():
    data = load_yaml("on: 1\nno: no\nyes: off\nt: true\nf: False\ny: Y\n")
    assert data == {"on": 1, "no": "no", "yes": "off", "t": True, "f": False, "y": "Y"}


def test_yaml_dates_stay_text():
    assert load_yaml("d: 2025-09-01\n") == {"d": "2025-09-01"}


def test_join_on_key_stays_a_string():
    catalog = parse(
        """\
version: 1
sources:
  deals:
    path: deals.csv
    joins:
      - source: reps
        on: rep
  reps: {path: reps.csv}
metrics:
  n: {level: result, category: financial, source: deals, agg: count}
"""
    )
    (join,) = catalog.sources["deals"].joins
    assert (join.source, join.left_on, join.right_on) == ("reps", "rep", "rep")
    assert join.columns is None


def test_no_and_off_stay_strings():
    catalog = parse(HEAD.replace("version: 1\n", "version: 1\nname: no\ncurrency: off\n") + f"  n: {COUNT}\n")
    assert catalog.name == "no"
    assert catalog.currency == "off"


def test_yes_is_not_a_boolean_setting():
    text = HEAD.replace("{path: deals.csv, time: close_date}", "{path: deals.csv, decimal_comma: yes}")
    message = one_problem(text + f"  n: {COUNT}\n")
    assert message.startswith("sources.deals.decimal_comma: ")
    assert "true or false" in message


def test_duplicate_yaml_key_is_an_error():
    message = one_problem("version: 1\nname: a\nname: b\nsources: {}\nmetrics: {}\n")
    assert "line 3" in message
    assert "duplicate key 'name'" in message
    assert "line 2" in message


def test_duplicate_nested_key_is_an_error():
    message = one_problem(HEAD + "  n: {level: result, level: result, category: financial}\n")
    assert "duplicate key 'level'" in message
    assert "line 6" in message


def test_python_tags_are_rejected():
    for tag in ("!!python/object:os.system", "!!python/name:os.system", "!!python/object/apply:os.system"):
        message = one_problem(f"version: 1\nname: {tag} x\nsources: {{}}\nmetrics: {{}}\n")
        assert "line 2" in message
        assert "tag" in message


def test_yaml_syntax_error_names_line_and_column():
    message = one_problem("version: 1\nsources:\n  deals: {path: deals.csv\nmetrics: {}\n")
    assert re.search(r"line 4, column \d+", message), message
    assert "invalid YAML" in message


def test_alias_bomb_fails_fast():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 12):
        prev, name = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]")
    bomb = "\n".join(lines) + "\n"
    started = time.perf_counter()
    with pytest.raises(YamlProblem) as caught:
        load_yaml(bomb)
    assert time.perf_counter() - started < 2
    assert "aliases" in str(caught.value)
    started = time.perf_counter()
    with pytest.raises(CatalogError):
        parse(bomb)
    assert time.perf_counter() - started < 2


def test_a_few_aliases_are_fine():
    data = load_yaml("base: &b {level: result}\nx: *b\ny: *b\n")
    assert data["x"] == data["y"] == {"level": "result"}


# --- unknown keys and types -----------------------------------------------------------------------


def test_unknown_top_level_key():
    message = one_problem(HEAD + f"  n: {COUNT}\nfunels: {{}}\n")
    assert message.startswith("funels: unknown key")
    assert "(did you mean 'funnels'?)" in message


def test_unknown_source_key_has_its_key_path():
    text = HEAD.replace("{path: deals.csv, time: close_date}", "{path: deals.csv, seperator: ';'}")
    message = one_problem(text + f"  n: {COUNT}\n")
    assert message.startswith("sources.deals.seperator: unknown key")
    assert "(did you mean 'separator'?)" in message


def test_unknown_metric_key_has_its_key_path():
    message = one_problem(
        HEAD + "  n: {level: result, category: financial, source: deals, agg: count, fitler: x}\n"
    )
    assert message.startswith("metrics.n.fitler: unknown key")
    assert "(did you mean 'filter'?)" in message


def test_unknown_key_in_a_join_and_a_funnel():
    text = """\
version: 1
sources:
  deals:
    path: deals.csv
    joins: [{source: reps, on: rep, colums: [team]}]
  reps: {path: reps.csv}
metrics:
  n: {level: result, category: financial, source: deals, agg: count}
funnels:
  f: {source: deals, stage: stage, stages: [A, B], lsot: [Lost]}
"""
    found = problems(text)
    assert any(
        p.startswith("sources.deals.joins[0].colums: unknown key (did you mean 'columns'?)") for p in found
    )
    assert any(p.startswith("funnels.f.lsot: unknown key (did you mean 'lost'?)") for p in found)
    assert len(found) == 2


def test_wrong_type_for_a_key():
    message = one_problem(
        HEAD + "  n: {level: result, category: financial, source: deals, agg: count, target: {value: lots}}\n"
    )
    assert message == "metrics.n.target.value: expected a number, got 'lots'"


def test_bad_enum_value_lists_the_choices():
    message = one_problem(
        HEAD + "  n: {level: result, category: financial, source: deals, agg: summ, expr: x}\n"
    )
    assert message.startswith("metrics.n.agg: 'summ' is not one of count")
    assert "(did you mean 'sum'?)" in message


def test_bad_level():
    message = one_problem(HEAD + "  n: {level: results, category: financial, source: deals, agg: count}\n")
    assert message.startswith("metrics.n.level: 'results' is not one of activity, objective, result")


def test_required_keys():
    found = problems(HEAD + "  n: {category: financial, source: deals, agg: count}\n")
    assert "metrics.n.level: required key is missing" in found
    found = problems("version: 1\nmetrics: {}\n")
    assert "sources: required key is missing" in found


def test_metric_names_are_snake_case():
    message = one_problem(HEAD + f"  Deals-Won: {COUNT}\n")
    assert message.startswith("metrics.Deals-Won: ")
    assert "lower_snake_case" in message


# --- levels and categories ------------------------------------------------------------------------


def test_category_not_in_level_names_the_right_level():
    message = one_problem(HEAD + "  n: {level: activity, category: financial, source: deals, agg: count}\n")
    assert message.startswith("metrics.n.category: 'financial' is not a")
    assert "activity category" in message
    assert "call_management" in message  # lists the activity categories
    assert "'financial' is a result category" in message


def test_misspelt_category_gets_did_you_mean():
    message = one_problem(
        HEAD + "  n: {level: activity, category: call_managment, source: deals, agg: count}\n"
    )
    assert message.startswith("metrics.n.category: ")
    assert "(did you mean 'call_management'?)" in message


# --- metric kinds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "definition",
    [
        "{level: result, category: financial}",
        "{level: result, category: financial, source: deals, agg: count, derived: 'b'}",
        "{level: result, category: financial, ratio: {numerator: b, denominator: b}, derived: 'b'}",
    ],
)
def test_exactly_one_of_agg_ratio_derived(definition):
    found = problems(HEAD + f"  a: {definition}\n  b: {COUNT}\n")
    assert "metrics.a: define exactly one of agg (with source), ratio, derived or conversion" in found


def test_count_with_expr_is_rejected():
    message = one_problem(
        HEAD + "  n: {level: result, category: financial, source: deals, agg: count, expr: amount}\n"
    )
    assert message.startswith("metrics.n.expr: ")
    assert "count_distinct" in message


def test_sum_without_expr_is_rejected():
    message = one_problem(HEAD + "  n: {level: result, category: financial, source: deals, agg: sum}\n")
    assert message.startswith("metrics.n.expr: required for agg sum")


def test_simple_metric_needs_a_source():
    message = one_problem(HEAD + "  n: {level: result, category: financial, agg: count}\n")
    assert message.startswith("metrics.n.source: required key is missing")


@pytest.mark.parametrize(
    "formula",
    [
        "b; import os",
        "__import__('os').system('x')",
        "b.value",
        "[b]",
        "b % 2",
        "b if b else 0",
        # made of allowed tokens, but not arithmetic: must fail here, not when a report runs
        "b ** 2",
        "b / / 2",
        "(b + 1",
        "b + 1)",
        "b b",
        "b +",
    ],
)
def test_derived_formula_must_be_arithmetic(formula):
    found = problems(
        HEAD + f'  a: {{level: result, category: financial, derived: "{formula}"}}\n  b: {COUNT}\n'
    )
    assert found
    assert all(p.startswith("metrics.a.derived: ") for p in found), found


def test_derived_formula_arithmetic_is_accepted():
    catalog = parse(
        HEAD + f'  a: {{level: result, category: financial, derived: "(b + c) / 2 - 1.5 * c"}}\n'
        f"  b: {COUNT}\n  c: {COUNT}\n"
    )
    assert catalog.metrics["a"].inputs == ("b", "c")
    assert catalog.metrics["a"].kind is MetricKind.DERIVED


def test_derived_with_unknown_input():
    message = one_problem(
        HEAD + f'  a: {{level: result, category: financial, derived: "dels / 2"}}\n  deals: {COUNT}\n'
    )
    assert message == "metrics.a.derived: unknown metric 'dels' (did you mean 'deals'?)"


def test_ratio_or_derived_rejects_source_and_filter():
    found = problems(
        HEAD + "  a: {level: result, category: financial, ratio: {numerator: b, denominator: b}, "
        'source: deals, filter: "x = 1"}\n'
        f"  b: {COUNT}\n"
    )
    assert any(p.startswith("metrics.a.source: not used by a ratio") for p in found)
    assert any(p.startswith("metrics.a.filter: not used by a ratio") for p in found)


def test_ratio_referencing_unknown_metric():
    text = HEAD + (
        f"  deals_won: {COUNT}\n"
        f"  deals_closed: {COUNT}\n"
        "  win_rate: {level: result, category: financial,\n"
        "             ratio: {numerator: deal_won, denominator: deals_closed}}\n"
    )
    assert (
        one_problem(text)
        == "metrics.win_rate.ratio.numerator: unknown metric 'deal_won' (did you mean 'deals_won'?)"
    )


def test_unknown_source_with_did_you_mean():
    message = one_problem(HEAD + "  n: {level: result, category: financial, source: deal, agg: count}\n")
    assert message == "metrics.n.source: unknown source 'deal' (did you mean 'deals'?)"


def test_invalid_sql_filter_is_a_catalog_problem():
    text = (
        HEAD
        + "  n: {level: result, category: financial, source: deals, agg: count,\n"
        + "      filter: \"stage = = 'Won'\"}\n"
    )
    message = one_problem(text)
    assert message.startswith("metrics.n.filter: ")
    assert "SQL" in message
    parse(text, check_expressions=False)  # the syntax is checked only when asked


def test_python_in_a_filter_is_invalid_sql():
    text = (
        HEAD + "  n: {level: result, category: financial, source: deals, agg: count, "
        "filter: \"__import__('os').system('x')\"}\n"
    )
    message = one_problem(text)
    assert message.startswith("metrics.n.filter: ")
    assert "not a valid SQL expression" in message


# --- drives and cycles ----------------------------------------------------------------------------


def test_drives_to_a_lower_level_is_rejected():
    text = HEAD + (
        "  won: {level: result, category: financial, source: deals, agg: count, drives: [calls]}\n"
        "  calls: {level: activity, category: call_management, source: deals, agg: count}\n"
    )
    message = one_problem(text)
    assert message.startswith("metrics.won.drives: a result cannot drive the activity 'calls'")


def test_drives_upwards_and_sideways_are_fine():
    catalog = parse(
        HEAD + "  calls: {level: activity, category: call_management, source: deals, agg: count, "
        "drives: [meetings, coverage]}\n"
        "  meetings: {level: activity, category: call_management, source: deals, agg: count}\n"
        "  coverage: {level: objective, category: market_coverage, source: deals, agg: count,\n"
        "             drives: [won]}\n"
        "  won: {level: result, category: financial, source: deals, agg: count}\n"
    )
    assert catalog.metrics["calls"].drives == ("meetings", "coverage")


def test_drives_unknown_metric():
    message = one_problem(
        HEAD
        + "  calls: {level: activity, category: call_management, source: deals, agg: count, drives: [wons]}\n"
        f"  won: {COUNT}\n"
    )
    assert message == "metrics.calls.drives: unknown metric 'wons' (did you mean 'won'?)"


def test_cycle_in_drives():
    text = HEAD + (
        "  a: {level: activity, category: call_management, source: deals, agg: count, drives: [b]}\n"
        "  b: {level: activity, category: call_management, source: deals, agg: count, drives: [a]}\n"
    )
    message = one_problem(text)
    assert message.startswith("metrics.")
    assert "a -> b -> a" in message


def test_cycle_in_derived_inputs():
    text = HEAD + (
        "  a: {level: result, category: financial, derived: 'b + 1'}\n"
        "  b: {level: result, category: financial, derived: 'a * 2'}\n"
    )
    message = one_problem(text)
    assert "a -> b -> a" in message
    assert "computed from itself" in message


def test_longer_cycle_through_a_ratio():
    text = HEAD + (
        "  a: {level: result, category: financial, derived: 'b + 1'}\n"
        "  b: {level: result, category: financial, ratio: {numerator: c, denominator: d}}\n"
        "  c: {level: result, category: financial, derived: 'a * 2'}\n"
        f"  d: {COUNT}\n"
    )
    message = one_problem(text)
    assert "a -> b -> c -> a" in message


def test_self_reference_is_a_cycle():
    message = one_problem(HEAD + "  a: {level: result, category: financial, derived: 'a + 1'}\n")
    assert "a -> a" in message


# --- joins ----------------------------------------------------------------------------------------


def test_join_with_left_right_names_and_a_column_list():
    catalog = parse(
        """\
version: 1
sources:
  deals:
    path: deals.csv
    joins:
      - {source: reps, on: {owner: rep}, columns: [team, region]}
      - {source: regions, on: region}
  reps: {path: reps.csv}
  regions: {path: regions.csv}
metrics:
  n: {level: result, category: financial, source: deals, agg: count}
"""
    )
    first, second = catalog.sources["deals"].joins
    assert (first.left_on, first.right_on, first.columns) == ("owner", "rep", ("team", "region"))
    assert first.brings(["rep", "team", "manager", "region"]) == ["team", "region"]
    assert (second.left_on, second.right_on, second.columns) == ("region", "region", None)
    assert second.brings(["region", "zone", "country"]) == ["zone", "country"]


def test_join_to_unknown_source():
    text = HEAD.replace(
        "{path: deals.csv, time: close_date}", "{path: deals.csv, joins: [{source: rep, on: rep}]}"
    )
    message = one_problem(text + f"  n: {COUNT}\n")
    assert message == "sources.deals.joins[0].source: unknown source 'rep' (did you mean 'reps'?)"


# --- all problems at once -------------------------------------------------------------------------


def test_all_problems_are_collected_at_once():
    text = (
        HEAD.replace("version: 1\n", "version: 1\nfunels: {}\n")
        + "  a: {level: activity, category: financial, source: deals, agg: count}\n"
        + "  b: {level: result, category: financial, source: deals, agg: count, expr: amount}\n"
        + "  c: {level: result, category: financial, ratio: {numerator: aa, denominator: b}}\n"
        + "  d: {level: result, category: financial, derived: 'b; import os'}\n"
        + "  e: {level: result, category: financial, source: deals, agg: count, fitler: x}\n"
    )
    found = problems(text)
    expected_starts = [
        "funels: unknown key",
        "metrics.a.category: ",
        "metrics.b.expr: ",
        "metrics.c.ratio.numerator: unknown metric 'aa'",
        "metrics.d.derived: ",
        "metrics.e.fitler: unknown key",
    ]
    for start in expected_starts:
        assert any(p.startswith(start) for p in found), (start, found)
    assert len(found) == len(expected_starts), found
    with pytest.raises(CatalogError) as caught:
        parse(text)
    message = str(caught.value)
    assert message.startswith(f"{len(expected_starts)} problems in {HERE}")
    assert len(message.splitlines()) == 1 + len(expected_starts)


# --- conversion metrics (a funnel step in the report) ----------------------------------------------

FUNNEL = """\
funnels:
  pipe: {source: deals, stage: stage, stages: [Lead, Demo, Won], lost: [Lost]}
"""
STEP = "{level: objective, category: sales_force_capability, conversion: %s}"


def test_conversion_metric_loads_with_percent_format():
    catalog = parse(
        HEAD + "  c: " + STEP % "{funnel: pipe, from: Lead, to: Won, cohort: true}" + "\n" + FUNNEL
    )
    metric = catalog.metrics["c"]
    assert metric.kind.value == "conversion" and metric.format.value == "percent"
    assert metric.conversion.start == "Lead" and metric.conversion.cohort and not metric.conversion.strict
    assert metric.definition == "Lead → Won conversion in funnel pipe, cohort"


@pytest.mark.parametrize(
    ("conversion", "expected"),
    [
        (
            "{funnel: pip, from: Lead, to: Won}",
            "metrics.c.conversion.funnel: unknown funnel 'pip' (did you mean 'pipe'?)",
        ),
        (
            "{funnel: pipe, from: Lead, to: Wonn}",
            "metrics.c.conversion.to: funnel 'pipe' has no stage 'Wonn' (did you mean 'Won'?)",
        ),
        (
            "{funnel: pipe, from: Won, to: Demo}",
            "metrics.c.conversion.to: 'Demo' must be a later stage than 'Won'",
        ),
        (
            "{funnel: pipe, from: Lead, to: Won, cohort: yes}",
            "metrics.c.conversion.cohort: expected true or false",
        ),
        ("{funnel: pipe, from: Lead}", "metrics.c.conversion.to: required key is missing"),
    ],
)
def test_conversion_metric_errors(conversion, expected):
    found = problems(HEAD + "  c: " + STEP % conversion + "\n" + FUNNEL)
    assert any(p.startswith(expected) for p in found), found


def test_conversion_metric_rejects_source_keys():
    found = problems(
        HEAD + "  c: {level: objective, category: sales_force_capability, source: deals, "
        "conversion: {funnel: pipe, from: Lead, to: Won}}\n" + FUNNEL
    )
    assert any(p.startswith("metrics.c.source: not used by a conversion") for p in found), found
