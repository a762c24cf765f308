"""Multi-currency sources: sources.X.currency converts amounts into the catalog's currency.

Every expected value is worked out by hand in a comment: a rate is units of the row's currency per one
unit of the catalog's currency (Salesforce's ConversionRate), so converted = amount / rate.
"""

from __future__ import annotations

import csv
import io
import textwrap
from pathlib import Path

import pytest
from conftest import run

# Six deals in four currencies, one written in lower case, one without an amount or a currency.
DEALS = """\
id,stage,amount,currency,closed
1,Won,100,EUR,2025-03-03
2,Won,125,USD,2025-03-10
3,Won,40,GBP,2025-03-12
4,Lost,500,USD,2025-03-20
5,Won,25,usd,2025-03-25
6,Lost,,,2025-03-28
"""
# In EUR with USD 1.25 and GBP 0.8 per EUR:
#   won: 100 / 1 + 125 / 1.25 + 40 / 0.8 + 25 / 1.25 = 100 + 100 + 50 + 20 = 270
#   all amounts: 270 + 500 / 1.25 = 670
WON_EUR = 270.0
ALL_EUR = 670.0

METRICS = """\
dimensions:
  currency: {label: Currency}
metrics:
  won_revenue: {level: result, category: financial, source: deals, agg: sum, expr: amount,
                filter: "stage = 'Won'"}
  pipeline: {level: result, category: financial, source: deals, agg: sum, expr: amount}
"""

FIXED = """\
currency: EUR
sources:
  deals:
    path: deals.csv
    time: closed
    currency: {column: currency, rates: {USD: 1.25, GBP: 0.8}}
"""

FROM_SOURCE = """\
currency: EUR
sources:
  deals:
    path: deals.csv
    time: closed
    currency: {column: currency, source: rates, code: IsoCode, rate: ConversionRate}
  rates:
    path: CurrencyType.csv
"""
# As Salesforce writes CurrencyType.csv: every value quoted, the corporate currency at 1.
RATES = '"IsoCode","ConversionRate","IsCorporate"\n"EUR","1","1"\n"USD","1.25","0"\n"GBP","0.8","0"\n'


def write(folder: Path, catalog: str, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    path = folder / "metrics.yaml"
    path.write_text("version: 1\n" + textwrap.dedent(catalog) + METRICS, encoding="utf-8")
    return path


def values(catalog: Path, *args: str, by: str | None = None) -> dict:
    extra = ("--by", by) if by else ()
    result = run("report", "--catalog", str(catalog), "--period", "all", "--format", "csv", *args, *extra)
    assert result.exit_code == 0, result.stderr
    rows = csv.DictReader(io.StringIO(result.stdout))
    return {((r["metric"], r[by]) if by else r["metric"]): float(r["value"]) for r in rows}


def error(catalog: Path, *command: str) -> str:
    result = run(*(command or ("report", "--period", "all")), "--catalog", str(catalog))
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    return result.stderr


@pytest.mark.parametrize(
    ("catalog", "files"),
    [(FIXED, {"deals.csv": DEALS}), (FROM_SOURCE, {"deals.csv": DEALS, "CurrencyType.csv": RATES})],
    ids=["fixed-rates", "rates-source"],
)
def test_amounts_are_converted_into_the_catalogs_currency(tmp_path, catalog, files):
    path = write(tmp_path, catalog, files)
    assert values(path) == pytest.approx({"won_revenue": WON_EUR, "pipeline": ALL_EUR})
    # per currency as written (usd and USD are two values of the column): USD 125 / 1.25 won, 500 / 1.25
    # lost; usd 25 / 1.25; GBP 40 / 0.8; EUR 100; the empty currency has no amount
    assert values(path, "--metric", "pipeline", by="currency") == pytest.approx(
        {
            ("pipeline", "EUR"): 100,
            ("pipeline", "GBP"): 50,
            ("pipeline", "USD"): 500,
            ("pipeline", "usd"): 20,
            ("pipeline", ""): 0,
        }
    )
    checked = run("validate", "--catalog", str(path))
    assert checked.exit_code == 0, checked.stderr
    assert "sources.deals: amount converted from each row's currency into EUR with " in checked.stderr
    assert "(EUR 1, GBP 0.8, USD 1.25)" in checked.stderr


def test_funnel_values_are_converted_too(tmp_path):
    funnels = "funnels:\n  f: {source: deals, stage: stage, stages: [Open, Won], lost: [Lost], value: amount}"
    path = write(tmp_path, FIXED + funnels + "\n", {"deals.csv": DEALS})
    result = run("funnel", "--catalog", str(path), "--period", "all", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = {r["stage"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert float(rows["Won"]["value_reached"]) == pytest.approx(WON_EUR)


def test_an_unknown_currency_names_the_value_and_its_lines(tmp_path):
    data = DEALS + "7,Won,1000,JPY,2025-03-29\n8,Won,2000,JPY,2025-03-30\n"  # lines 8 and 9
    message = error(write(tmp_path, FIXED, {"deals.csv": data}))
    assert "deals.csv" in message
    assert "column 'currency' has currency 'JPY' (lines 8, 9) with no rate to EUR" in message
    assert "rates known: EUR, GBP, USD" in message


def test_an_amount_without_a_currency_is_an_error(tmp_path):
    data = DEALS + "7,Won,10,,2025-03-29\n"  # line 8
    message = error(write(tmp_path, FIXED, {"deals.csv": data}))
    assert "has an empty currency (line 8) with no rate to EUR" in message


def test_validate_reports_an_unknown_currency(tmp_path):
    data = DEALS + "7,Won,1000,JPY,2025-03-29\n"
    assert "currency 'JPY' (line 8)" in error(write(tmp_path, FIXED, {"deals.csv": data}), "validate")


@pytest.mark.parametrize(
    ("rates", "message"),
    [
        ('"IsoCode","ConversionRate"\n"EUR","1"\n"USD","zero"\n', "rate 'zero' for USD is not a number"),
        ('"IsoCode","ConversionRate"\n"EUR","1"\n"USD","0"\n', "line 3, column 'ConversionRate'"),
        (
            '"IsoCode","ConversionRate"\n"EUR","1"\n"USD","1.25"\n"USD","1.3"\n',
            "USD has more than one rate (lines 3, 4)",
        ),
        ('"IsoCode","ConversionRate"\n"USD","1"\n"EUR","0.9"\n', "the catalog's currency EUR has rate 0.9"),
        ('"Code","ConversionRate"\n"EUR","1"\n', "currency.code: no column 'IsoCode'"),
    ],
    ids=["text-rate", "zero-rate", "two-rates", "catalog-currency-not-1", "no-code-column"],
)
def test_bad_rates_source(tmp_path, rates, message):
    path = write(tmp_path, FROM_SOURCE, {"deals.csv": DEALS, "CurrencyType.csv": rates})
    assert message in error(path)


@pytest.mark.parametrize(
    ("currency", "message"),
    [
        ("{column: currency}", "sources.deals.currency: give either rates"),
        ("{column: currency, rates: {USD: 1.25}, source: deals}", "give either rates"),
        ("{column: currency, rates: {USD: -1}}", "sources.deals.currency.rates.USD: a rate must be above 0"),
        ("{column: currency, rates: {USD: lots}}", "sources.deals.currency.rates.USD: expected a number"),
        ("{column: currency, rates: {USD: 1.25}, code: IsoCode}", "currency.code: only with source:"),
        ("{column: currency, source: fx}", "sources.deals.currency.source: unknown source 'fx'"),
        ("{column: currency, rates: {USD: 1.25}, rate_of: x}", "currency.rate_of: unknown key"),
        ("{rates: {USD: 1.25}}", "sources.deals.currency.column: required key is missing"),
    ],
    ids=[
        "no-rates",
        "both",
        "negative",
        "not-a-number",
        "code-without-source",
        "unknown-source",
        "unknown-key",
        "no-column",
    ],
)
def test_catalog_errors(tmp_path, currency, message):
    catalog = FIXED.replace("{column: currency, rates: {USD: 1.25, GBP: 0.8}}", currency)
    assert message in error(write(tmp_path, catalog, {"deals.csv": DEALS}))


@pytest.mark.parametrize(
    ("currency", "message"),
    [
        ("{column: curr, rates: {USD: 1.25}}", "currency.column: no column 'curr'"),
        ("{column: currency, convert: [value], rates: {USD: 1.25}}", "currency.convert: no column 'value'"),
        ("{column: currency, convert: [stage], rates: {USD: 1.25}}", "'stage' is String, not a number"),
    ],
    ids=["no-currency-column", "no-amount-column", "text-amount-column"],
)
def test_columns_the_conversion_needs(tmp_path, currency, message):
    catalog = FIXED.replace("{column: currency, rates: {USD: 1.25, GBP: 0.8}}", currency)
    assert message in error(write(tmp_path, catalog, {"deals.csv": DEALS}))


# A Salesforce Data Export of a multi-currency org, cut to what init needs: 4 opportunities.
OPPORTUNITY = (
    '"Id","Name","StageName","Amount","CurrencyIsoCode","CloseDate","CreatedDate","IsClosed","IsWon"\n'
    '"0061","A","Closed Won","1820","MXN","2024-03-01 00:00:00","2024-01-01 10:00:00","1","1"\n'
    '"0062","B","Closed Won","100","USD","2024-03-02 00:00:00","2024-01-02 10:00:00","1","1"\n'
    '"0063","C","Closed Lost","9000","COP","2024-03-03 00:00:00","2024-01-03 10:00:00","1","0"\n'
    '"0064","D","Prospecting","45000","COP","2024-04-01 00:00:00","2024-01-04 10:00:00","0","0"\n'
)
CURRENCY_TYPE = (
    '"Id","IsoCode","ConversionRate","DecimalPlaces","IsActive","IsCorporate"\n'
    '"01L1","MXN","18.2","2","1","0"\n"01L2","COP","4500","2","1","0"\n"01L3","USD","1","2","1","1"\n'
)


def test_init_converts_a_salesforce_export_with_currency_type(tmp_path):
    (tmp_path / "Opportunity.csv").write_text(OPPORTUNITY, encoding="utf-8")
    (tmp_path / "CurrencyType.csv").write_text(CURRENCY_TYPE, encoding="utf-8")
    result = run("init", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert "amounts are converted into USD with the rates of CurrencyType.csv" in result.stderr
    got = values(tmp_path / "metrics.yaml")
    # won: 1820 MXN / 18.2 + 100 USD = 100 + 100 = 200 USD; created: 200 + 9000 / 4500 + 45000 / 4500 = 212
    assert got["won_revenue"] == pytest.approx(200)
    assert got["pipeline_created"] == pytest.approx(212)


def test_init_without_a_rates_file_says_amounts_are_not_converted(tmp_path):
    (tmp_path / "Opportunity.csv").write_text(OPPORTUNITY, encoding="utf-8")
    result = run("init", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert "there is no rates file: amounts in several currencies are summed as they are" in result.stderr
    assert "currency:" not in (tmp_path / "metrics.yaml").read_text(encoding="utf-8").split("sources:")[0]


def test_init_does_not_guess_the_base_currency(tmp_path):
    (tmp_path / "Opportunity.csv").write_text(OPPORTUNITY, encoding="utf-8")
    two_corporate = CURRENCY_TYPE.replace('"MXN","18.2","2","1","0"', '"MXN","18.2","2","1","1"')
    (tmp_path / "CurrencyType.csv").write_text(two_corporate, encoding="utf-8")
    result = run("init", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert "CurrencyType.csv has 2 base currencies (corporate, or at rate 1), not one" in result.stderr
    assert "currency_rates" not in (tmp_path / "metrics.yaml").read_text(encoding="utf-8")
