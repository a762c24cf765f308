"""The example catalogs of examples/<dataset>/ on the real CRM exports in ../shared/datasets.

Each dataset's files and its catalog are copied into a temporary folder (the catalogs name the export's
files relative to themselves), salescode is run in-process (`report` and `funnel`, `--format csv`,
`--period all` unless a test says otherwise), and the headline figures are compared with an independent
computation in plain Python over the same CSV files, written from the data's documented meaning (see
each dataset's SOURCE.md): won = the CRM's won stage, win rate = won / (won + lost), funnel reach =
deals whose furthest stage (from the stage history where the export has one, else the current stage;
a lost deal without a lost-at column counts up to the stage before the last) is at or after the stage.

Every test skips cleanly when ../shared/datasets is absent (a user's clone).
"""

from __future__ import annotations

import csv
import io
import shutil
import statistics
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import pytest
from conftest import REPO, run, shared_dataset

EXAMPLES = REPO / "examples"


# ---------------------------------------------------------------------------------------------- helpers


def install(tmp_path_factory, name: str) -> Path:
    """Copy the dataset's CSV files and its example catalog into a fresh folder; the catalog's path."""
    source = shared_dataset(name)
    folder = tmp_path_factory.mktemp(name)
    for path in source.glob("*.csv"):
        shutil.copyfile(path, folder / path.name)
    shutil.copyfile(EXAMPLES / name / "metrics.yaml", folder / "metrics.yaml")
    return folder / "metrics.yaml"


def read(path: Path, encoding: str = "utf-8", delimiter: str = ",") -> list[dict[str, str]]:
    """A CSV file as dicts, every value a string (empty cells are '')."""
    with path.open(encoding=encoding, newline="") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def salescode(catalog: Path, command: str, *args: str) -> list[dict[str, str]]:
    result = run(command, "--catalog", str(catalog), "--format", "csv", *args)
    assert result.exit_code == 0, f"exit {result.exit_code}\nstderr: {result.stderr}"
    return list(csv.DictReader(io.StringIO(result.stdout)))


def report(catalog: Path, *args: str, by: str | None = None) -> dict:
    """metric -> value, or (metric, group) -> value with by; floats, None for an empty cell."""
    rows = salescode(catalog, "report", "--period", "all", *args, *(("--by", by) if by else ()))
    return {((r["metric"], r[by]) if by else r["metric"]): number(r["value"]) for r in rows}


def funnel(catalog: Path, *args: str) -> list[dict[str, str]]:
    return salescode(catalog, "funnel", "--period", "all", *args)


def number(text: str) -> float | None:
    return None if text == "" else float(text)


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def same(got: dict, expected: dict) -> dict:
    """The keys whose values differ (or are missing): {key: (salescode, expected)}; empty when equal."""
    wrong = {}
    for key in expected.keys() | got.keys():
        a, b = got.get(key, "missing"), expected.get(key, "missing")
        if a is None or b is None or isinstance(a, str) or isinstance(b, str):
            equal = a == b
        else:
            equal = a == pytest.approx(b, rel=1e-9, abs=1e-9)
        if not equal:
            wrong[key] = (a, b)
    return wrong


def reach(furthest: list[int], stages: int) -> list[int]:
    """Deals at or beyond each stage, from each deal's furthest stage index."""
    return [sum(1 for f in furthest if f >= k) for k in range(stages)]


def funnel_counts(rows: list[dict[str, str]]) -> list[tuple[str, int, int]]:
    return [(r["stage"], int(r["reached"]), int(r["dropped"])) for r in rows]


def validates(catalog: Path) -> None:
    result = run("validate", "--catalog", str(catalog))
    assert result.exit_code == 0, result.stderr
    assert "valid" in result.stderr


# ---------------------------------------------------------------------- Salesforce Developer Edition org


@pytest.fixture(scope="module")
def devorg(tmp_path_factory) -> Path:
    return install(tmp_path_factory, "salesforce-export-devorg-sample")


def test_devorg_report(devorg):
    validates(devorg)
    opps = read(devorg.parent / "Opportunity.csv")
    leads = read(devorg.parent / "Lead.csv")
    won = [o for o in opps if o["IsWon"] == "1"]
    closed = [o for o in opps if o["IsClosed"] == "1"]
    revenue = sum(float(o["Amount"]) for o in won)
    expected = {
        "deals_won": len(won),
        "deals_closed": len(closed),
        "deals_lost": len(closed) - len(won),
        "win_rate": ratio(len(won), len(closed)),
        "won_revenue": revenue,
        "avg_deal_size": ratio(revenue, len(won)),
        "new_opportunities": len(opps),
        "pipeline_created": sum(float(o["Amount"]) for o in opps),
        "open_opportunities": len(opps) - len(closed),
        "open_pipeline_value": sum(float(o["Amount"]) for o in opps if o["IsClosed"] == "0"),
        "accounts_won": len({o["AccountId"] for o in won}),
        "leads_created": len(leads),
        "leads_converted": sum(lead["Status"] == "Closed - Converted" for lead in leads),
    }
    got = report(devorg)
    assert not same({k: got.get(k, "missing") for k in expected}, expected)
    # The stock sample data: 18 of 31 won for 3,645,000; no Closed Lost, so a 100 % win rate.
    assert (got["deals_won"], got["won_revenue"], got["win_rate"]) == (18, 3645000, 1)


def test_devorg_won_revenue_by_industry(devorg):
    """Opportunity.AccountId -> Account.Id brings the industry."""
    industry = {a["Id"]: a["Industry"] for a in read(devorg.parent / "Account.csv")}
    expected: dict = defaultdict(float)
    for o in read(devorg.parent / "Opportunity.csv"):
        expected[("won_revenue", industry[o["AccountId"]])] += float(o["Amount"]) if o["IsWon"] == "1" else 0
    assert not same(report(devorg, "-m", "won_revenue", by="industry"), expected)


def test_devorg_funnel_from_history(devorg):
    opps = read(devorg.parent / "Opportunity.csv")
    # The CRM's own stage order: StageSortOrder.
    order = sorted({(int(o["StageSortOrder"]), o["StageName"]) for o in opps})
    stages = [name for _, name in order]
    index = {name: i for i, name in enumerate(stages)}
    entered: dict[str, list[int]] = defaultdict(list)
    for row in read(devorg.parent / "OpportunityHistory.csv"):
        if row["StageName"] in index:
            entered[row["OpportunityId"]].append(index[row["StageName"]])
    furthest = [max(entered[o["Id"]], default=index[o["StageName"]]) for o in opps]
    rows = funnel(devorg)
    assert funnel_counts(rows) == [
        (s, n, 0) for s, n in zip(stages, reach(furthest, len(stages)), strict=True)
    ]
    amount = {o["Id"]: float(o["Amount"]) for o in opps}
    values = [
        sum(amount[o["Id"]] for o, f in zip(opps, furthest, strict=True) if f >= k)
        for k in range(len(stages))
    ]
    assert [float(r["value_reached"]) for r in rows] == pytest.approx(values)
    # Every history row of this org was written at one instant: no time passes in any stage.
    assert {r["median_days_in_stage"] for r in rows[:-1]} == {"0"}


# ------------------------------------------------------------------------- Salesforce "Winkel" (Latin-1)


@pytest.fixture(scope="module")
def winkel(tmp_path_factory) -> Path:
    return install(tmp_path_factory, "salesforce-export-winkel")


@pytest.fixture(scope="module")
def winkel_data(winkel) -> dict:
    folder = winkel.parent
    users = {u["Id"]: u for u in read(folder / "User.csv", "cp1252")}
    # Account.csv mixes Latin-1 with a few UTF-8 sequences; the country column is plain ASCII either way.
    country = {a["Id"]: a["BillingCountry"] for a in read(folder / "Account.csv", "latin-1")}
    rate = {c["IsoCode"]: float(c["ConversionRate"]) for c in read(folder / "CurrencyType.csv")}
    opps = read(folder / "Opportunity.csv", "cp1252")
    for o in opps:
        o["rep"] = users[o["OwnerId"]]["LastName"]
        o["country"] = country[o["AccountId"]]
        o["usd"] = float(o["Amount"]) / rate[o["CurrencyIsoCode"]] if o["Amount"] else 0.0
    return {"opps": opps, "history": read(folder / "OpportunityHistory.csv", "cp1252")}


def winkel_expected(opps: list[dict]) -> tuple[float, float | None, int, int]:
    won = [o for o in opps if o["IsWon"] == "1"]
    lost = [o for o in opps if o["IsClosed"] == "1" and o["IsWon"] == "0"]
    return sum(o["usd"] for o in won), ratio(len(won), len(won) + len(lost)), len(won), len(lost)


def test_winkel_report(winkel, winkel_data):
    validates(winkel)
    opps = winkel_data["opps"]
    revenue, win_rate, won, lost = winkel_expected(opps)
    expected = {
        "deals_won": won,
        "deals_lost": lost,
        "deals_closed": won + lost,
        "win_rate": win_rate,
        "won_revenue": revenue,
        "avg_deal_size": ratio(revenue, won),
        "new_opportunities": len(opps),
        "accounts_won": len({o["AccountId"] for o in opps if o["IsWon"] == "1"}),
        "active_reps": len({o["OwnerId"] for o in opps if o["IsClosed"] == "1"}),
    }
    got = report(winkel)
    assert not same({k: got.get(k, "missing") for k in expected}, expected)
    assert (won, lost) == (163, 203)  # SOURCE.md: 163 Closed Won, 203 Closed Lost


@pytest.mark.parametrize("by", ["rep", "country"])
def test_winkel_by_rep_and_country(winkel, winkel_data, by):
    """OwnerId -> User.Id -> LastName; AccountId -> Account.Id -> BillingCountry."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for o in winkel_data["opps"]:
        groups[o[by]].append(o)
    expected = {}
    for group, opps in groups.items():
        revenue, win_rate, _, _ = winkel_expected(opps)
        expected[("won_revenue", group)] = revenue
        expected[("win_rate", group)] = win_rate
    assert not same(report(winkel, "-m", "won_revenue", "-m", "win_rate", by=by), expected)


def test_winkel_funnel_from_opportunity_history(winkel, winkel_data):
    opps = winkel_data["opps"]
    # The org's stage order (StageSortOrder), Closed Lost (7) being the failure stage.
    order = sorted({(int(o["StageSortOrder"]), o["StageName"]) for o in opps})
    stages = [name for _, name in order if name != "Closed Lost"]
    assert stages[-1] == "Closed Won" and len(stages) == 6
    index = {name: i for i, name in enumerate(stages)}
    entered: dict[str, list[int]] = defaultdict(list)
    for row in winkel_data["history"]:
        if row["StageName"] in index:
            entered[row["OpportunityId"]].append(index[row["StageName"]])
    furthest = {o["Id"]: max(entered[o["Id"]], default=index.get(o["StageName"], 4)) for o in opps}
    lost_at = Counter(furthest[o["Id"]] for o in opps if o["StageName"] == "Closed Lost")
    expected = [
        (stage, n, lost_at[k])
        for k, (stage, n) in enumerate(zip(stages, reach(list(furthest.values()), 6), strict=True))
    ]
    assert funnel_counts(funnel(winkel)) == expected


# --------------------------------------------------------------------------------- Zoho CRM (Potentials)


@pytest.fixture(scope="module")
def zoho(tmp_path_factory) -> Path:
    return install(tmp_path_factory, "zoho-crm-analytics-sample")


def money(text: str) -> float:
    """'$22,700.00' -> 22700.0"""
    return float(text.replace("$", "").replace(",", ""))


ZOHO_STAGES = [
    "Prospect",
    "Qualification",
    "Needs Analysis",
    "Initial Offer",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
]


def test_zoho_report(zoho):
    validates(zoho)
    potentials = read(zoho.parent / "Potentials.csv")
    leads = read(zoho.parent / "Leads.csv")
    won = [p for p in potentials if p["Stage"] == "Closed Won"]
    lost = [p for p in potentials if p["Stage"] == "Closed Lost"]
    revenue = sum(money(p["Amount"]) for p in won)
    converted = sum(lead["CONVERTED"] == "Yes" for lead in leads)
    expected = {
        "deals_won": len(won),
        "deals_lost": len(lost),
        "win_rate": ratio(len(won), len(won) + len(lost)),
        "won_revenue": revenue,
        "avg_deal_size": ratio(revenue, len(won)),
        "pipeline_created": sum(money(p["Amount"]) for p in potentials),
        "new_potentials": len(potentials),
        "leads_created": len(leads),
        "lead_conversion": ratio(converted, len(leads)),
        "calls_logged": len(read(zoho.parent / "Calls.csv")),
    }
    got = report(zoho)
    assert not same({k: got.get(k, "missing") for k in expected}, expected)
    assert (len(won), revenue) == (1425, 89066200)  # SOURCE.md quick facts


def test_zoho_won_revenue_by_rep(zoho):
    expected: dict = defaultdict(float)
    for p in read(zoho.parent / "Potentials.csv"):
        expected[("won_revenue", p["Potential Owner"])] += (
            money(p["Amount"]) if p["Stage"] == "Closed Won" else 0
        )
    assert not same(report(zoho, "-m", "won_revenue", by="rep"), expected)


def test_zoho_funnels(zoho):
    potentials = read(zoho.parent / "Potentials.csv")
    index = {name: i for i, name in enumerate(ZOHO_STAGES)}
    # Current stage only: a Closed Lost potential reached every stage before Closed Won.
    furthest = [index.get(p["Stage"], len(ZOHO_STAGES) - 2) for p in potentials]
    lost = sum(p["Stage"] == "Closed Lost" for p in potentials)
    expected = [
        (stage, n, lost if stage == "Negotiation/Review" else 0)
        for stage, n in zip(ZOHO_STAGES, reach(furthest, len(ZOHO_STAGES)), strict=True)
    ]
    assert funnel_counts(funnel(zoho)) == expected
    # Lead -> converted -> won: every lead, CONVERTED = Yes, the potential with its LEADID won.
    leads = read(zoho.parent / "Leads.csv")
    won_leads = {p["LEADID"] for p in potentials if p["Stage"] == "Closed Won"}
    assert funnel_counts(funnel(zoho, "lead_to_win")) == [
        ("Lead", len(leads), 0),
        ("Converted", sum(lead["CONVERTED"] == "Yes" for lead in leads), 0),
        ("Won", sum(lead["LEADID"] in won_leads for lead in leads), 0),
    ]


# ------------------------------------------------------------------------------------- Bitrix24 leasing


@pytest.fixture(scope="module")
def bitrix(tmp_path_factory) -> Path:
    return install(tmp_path_factory, "bitrix24-ctrl-leasing")


BITRIX_STAGES = [
    "Квалификация и сбор потребностей",
    "Собрать 2 док-та",
    "Рассмотрение по 2-м док-там",
    "Предодобрение клиента",
    "Подбор техники",
    "Получить предварительное согласие",
    "Досбор полного пакета",
    "Диагностика и оценка",
    "Одобрение сделки",
    "Передача",
    "Выдано",
]
BITRIX_WON = "Выдано"
BITRIX_LOST = ("Сделка провалена", "C2:LOSE")


def test_bitrix_report(bitrix):
    validates(bitrix)
    deals = read(bitrix.parent / "deals.csv")
    won = [d for d in deals if d["STAGE_ID"] == BITRIX_WON]
    lost = [d for d in deals if d["STAGE_ID"] in BITRIX_LOST]
    revenue = sum(float(d["OPPORTUNITY"] or 0) for d in won)
    activities = read(bitrix.parent / "activities.csv")
    pivot = read(bitrix.parent / "deal_pivot.csv")
    terminal = {"Сделка провалена", "Отложенные", "Выдано", "LOSE", "WON", "9", "C2:LOSE", "C2:2"}
    in_work = sum(int(p["ID"]) for p in pivot if p["STAGE_ID"] not in terminal)
    expected = {
        "deals_won": len(won),
        "deals_lost": len(lost),
        "win_rate": ratio(len(won), len(won) + len(lost)),
        "won_revenue": revenue,
        "avg_deal_size": ratio(revenue, len(won)),
        "deals_postponed": sum(d["STAGE_ID"] == "Отложенные" for d in deals),
        "new_deals": len(deals),
        "activities_completed": sum(a["COMPLETED"] == "Y" for a in activities),
        "activities_planned": len(activities),
        "avg_deals_in_work": ratio(in_work, len({p["date"] for p in pivot})),
    }
    got = report(bitrix)
    assert not same({k: got.get(k, "missing") for k in expected}, expected)
    assert (len(won), revenue) == (22, 155670000)  # SOURCE.md quick facts


def test_bitrix_win_rate_by_rep(bitrix):
    groups: dict[str, list[dict]] = defaultdict(list)
    for d in read(bitrix.parent / "deals.csv"):
        groups[d["ASSIGNED_BY_ID"]].append(d)
    expected = {}
    for rep, deals in groups.items():
        won = sum(d["STAGE_ID"] == BITRIX_WON for d in deals)
        lost = sum(d["STAGE_ID"] in BITRIX_LOST for d in deals)
        expected[("deals_won", rep)] = won
        expected[("win_rate", rep)] = ratio(won, won + lost)
    assert not same(report(bitrix, "-m", "deals_won", "-m", "win_rate", by="rep"), expected)


@pytest.mark.parametrize("day", ["2020-02-29", "2020-09-24", "2020-12"])
def test_bitrix_dates_stay_in_moscow_time(bitrix, day):
    """DATE_CREATE `2020-09-24T02:45:09+03:00` is a deal of 2020-09-24 in Moscow, where the business
    is; converted to UTC (what `%z` does) it would fall on 2020-09-23."""
    deals = read(bitrix.parent / "deals.csv")
    early = [d for d in deals if d["DATE_CREATE"].startswith(day) and d["DATE_CREATE"][11:13] < "03"]
    assert early  # the period holds deals created between 00:00 and 03:00 Moscow time
    rows = salescode(bitrix, "report", "--period", day, "-m", "new_deals")
    assert number(rows[0]["value"]) == sum(d["DATE_CREATE"].startswith(day) for d in deals)


def test_bitrix_funnel(bitrix):
    deals = read(bitrix.parent / "deals.csv")
    index = {name: i for i, name in enumerate(BITRIX_STAGES)}
    # Postponed deals and the second pipeline's raw codes are excluded; a failed deal (no lost-at
    # column) counts as having reached every stage before Выдано.
    counted = [d for d in deals if d["STAGE_ID"] in index or d["STAGE_ID"] == "Сделка провалена"]
    furthest = [index.get(d["STAGE_ID"], len(BITRIX_STAGES) - 2) for d in counted]
    lost = sum(d["STAGE_ID"] == "Сделка провалена" for d in counted)
    expected = [
        (stage, n, lost if stage == "Передача" else 0)
        for stage, n in zip(BITRIX_STAGES, reach(furthest, len(BITRIX_STAGES)), strict=True)
    ]
    rows = funnel(bitrix)
    assert funnel_counts(rows) == expected
    won_value = sum(float(d["OPPORTUNITY"] or 0) for d in deals if d["STAGE_ID"] == BITRIX_WON)
    assert float(rows[-1]["value_reached"]) == pytest.approx(won_value)


# ------------------------------------------------------------------ Olist marketing funnel (semicolons)


@pytest.fixture(scope="module")
def olist(tmp_path_factory) -> Path:
    return install(tmp_path_factory, "olist-marketing-funnel-semicolon")


def test_olist_report_and_funnel(olist):
    validates(olist)
    mqls = read(olist.parent / "olist_marketing_qualified_leads_dataset.csv", "utf-8-sig", ";")
    closed = read(olist.parent / "olist_marketing_closed_deals_dataset.csv", "utf-8-sig", ";")
    first_contact = {m["mql_id"]: datetime.strptime(m["first_contact_date"], "%Y.%m.%d") for m in mqls}
    days = [
        (datetime.strptime(c["won_date"], "%Y.%m.%d %H:%M") - first_contact[c["mql_id"]]).total_seconds()
        / 86400
        for c in closed
    ]
    won_mqls = {c["mql_id"] for c in closed} & set(first_contact)
    expected = {
        "mqls_received": len(mqls),
        "sellers_won": len(closed),
        "mqls_converted": len(won_mqls),
        "mql_conversion": ratio(len(won_mqls), len(mqls)),
        "sales_cycle": statistics.median(days),
        "active_srs": len({c["sr_id"] for c in closed}),
    }
    got = report(olist)
    assert not same({k: got.get(k, "missing") for k in expected}, expected)
    assert (len(mqls), len(closed)) == (8000, 842)  # SOURCE.md
    assert funnel_counts(funnel(olist)) == [("MQL", len(mqls), 0), ("Seller won", len(won_mqls), 0)]


def test_olist_conversion_by_origin(olist):
    mqls = read(olist.parent / "olist_marketing_qualified_leads_dataset.csv", "utf-8-sig", ";")
    won = {
        c["mql_id"] for c in read(olist.parent / "olist_marketing_closed_deals_dataset.csv", "utf-8-sig", ";")
    }
    total, converted = (
        Counter(m["origin"] for m in mqls),
        Counter(m["origin"] for m in mqls if m["mql_id"] in won),
    )
    expected = {("mql_conversion", origin): ratio(converted[origin], n) for origin, n in total.items()}
    assert not same(report(olist, "-m", "mql_conversion", by="origin"), expected)


# ------------------------------------------------------------------------- pipeline on every real export

REAL_EXPORTS = [
    "salesforce-export-devorg-sample",
    "salesforce-export-winkel",
    "zoho-crm-analytics-sample",
    "bitrix24-ctrl-leasing",
    "olist-marketing-funnel-semicolon",
]


@pytest.mark.parametrize("name", REAL_EXPORTS)
def test_pipeline_runs_on_every_real_export(tmp_path_factory, name):
    # Open deals can never outnumber the deals the funnel counts at its first stage (--period all).
    catalog = install(tmp_path_factory, name)
    rows = salescode(catalog, "pipeline", "--period", "all")
    first = funnel(catalog)[0]
    assert rows and sum(int(row["open_deals"]) for row in rows) <= int(first["reached"])
    stage = rows[0]["stage"]
    result = run("pipeline", "--period", "all", "--list", stage, "--catalog", str(catalog), "-f", "csv")
    assert result.exit_code == 0, result.stderr
    listed = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sum(1 for row in listed if row["status"] != "dropped") == int(rows[0]["open_deals"])
