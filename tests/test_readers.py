"""The reader across encodings, locales and file formats, on synthetic files generated in each test.

Every test writes a small catalog and data files in tmp_path (bytes in the encoding under test) and
runs `salescode report --format csv` in-process; expected values are worked out by hand from the few
rows written here, never taken from salescode's output. The CRM-style files follow the column names
and value formats of the CRMs' documented exports (HubSpot, Pipedrive, amoCRM).
"""

from __future__ import annotations

import csv
import io
import textwrap
import zipfile
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from conftest import run

HEAD = "version: 1\nname: Test\n"


def write(folder: Path, catalog: str, files: dict[str, str | bytes]) -> Path:
    """The data files (text as UTF-8, bytes as they are) and metrics.yaml in folder; the catalog path."""
    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
    path = folder / "metrics.yaml"
    path.write_text(HEAD + textwrap.dedent(catalog), encoding="utf-8")
    return path


def report(catalog: Path, *args: str) -> list[dict[str, str]]:
    result = run("report", "--catalog", str(catalog), "--format", "csv", *args)
    assert result.exit_code == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


def values(catalog: Path, *args: str, by: str | None = None) -> dict:
    """metric -> value (or (metric, group) -> value with by) as floats; None for empty."""
    rows = report(catalog, *args, *(("--by", by) if by else ()))

    def number(text: str) -> float | None:
        return None if text == "" else float(text)

    if by:
        return {(row["metric"], row[by]): number(row["value"]) for row in rows}
    return {row["metric"]: number(row["value"]) for row in rows}


def error(catalog: Path, *args: str) -> str:
    """The one `error:` line of a run that must fail with exit 2 (no traceback, nothing on stdout)."""
    result = run("report", "--catalog", str(catalog), "--format", "csv", *args)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    assert "internal error" not in lines[0]
    assert result.stdout == ""
    return lines[0]


def field(value: str, separator: str) -> str:
    """value as a CSV field: quoted when it holds the separator, a quote or a line break."""
    if any(c in value for c in (separator, '"', "\n", "\r")):
        return '"' + value.replace('"', '""') + '"'
    return value


def table(rows: list[list[str]], separator: str = ",", newline: str = "\n") -> str:
    return "".join(separator.join(field(v, separator) for v in row) + newline for row in rows)


REP_METRICS = """\
dimensions:
  rep: {label: Rep}
metrics:
  total: {level: result, category: financial, source: s, agg: sum, expr: amount}
  rows: {level: result, category: financial, source: s, agg: count}
  reps: {level: result, category: financial, source: s, agg: count_distinct, expr: rep}
"""


def source(settings: str = "", path: str = "s.csv") -> str:
    return f"sources:\n  s: {{path: {path}{settings}}}\n"


# --- 1. encodings ---------------------------------------------------------------------------------

# Spanish and Portuguese names: one accented letter per word (ñ, ç, ã, é).
LATIN = [["id", "rep", "amount"], ["1", "Muñoz", "100"], ["2", "Gonçalves", "250"]]
LATIN += [["3", "João", "40"], ["4", "Muñoz", "10"], ["5", "José", "0.5"]]
LATIN_BY_REP = {("total", "Muñoz"): 110, ("total", "Gonçalves"): 250, ("total", "João"): 40}
LATIN_BY_REP[("total", "José")] = 0.5
LATIN_TOTALS = {"total": 400.5, "rows": 5, "reps": 4}

CYRILLIC = [["id", "rep", "amount"], ["1", "Иван", "100"], ["2", "Пётр", "250"]]
CYRILLIC += [["3", "Ольга", "40"], ["4", "Иван", "10"], ["5", "Юлия", "0.5"]]
CYRILLIC_BY_REP = {("total", "Иван"): 110, ("total", "Пётр"): 250, ("total", "Ольга"): 40}
CYRILLIC_BY_REP[("total", "Юлия")] = 0.5
CYRILLIC_TOTALS = {"total": 400.5, "rows": 5, "reps": 4}


def utf16_le_with_bom(text: str) -> bytes:
    """As Excel's "Unicode text" saves: a UTF-16 LE byte order mark, then UTF-16 LE."""
    return b"\xff\xfe" + text.encode("utf-16-le")


ENCODED = {
    "utf-8": lambda rows: table(rows).encode("utf-8"),
    "utf-8 BOM": lambda rows: b"\xef\xbb\xbf" + table(rows).encode("utf-8"),
    "utf-16 LE BOM tab": lambda rows: utf16_le_with_bom(table(rows, "\t", "\r\n")),
    "utf-16 BE BOM tab": lambda rows: b"\xfe\xff" + table(rows, "\t", "\r\n").encode("utf-16-be"),
    "cp1251 semicolon": lambda rows: table(rows, ";", "\r\n").encode("cp1251"),
    "cp1252": lambda rows: table(rows, ",", "\r\n").encode("cp1252"),
    "latin-1 semicolon": lambda rows: table(rows, ";").encode("latin-1"),
}

ENCODING_CASES = [
    # (how the file is written, text, the encoding a user would declare)
    pytest.param("utf-8", LATIN, "utf-8", id="utf8-latin"),
    pytest.param("utf-8", CYRILLIC, "utf-8", id="utf8-cyrillic"),
    pytest.param("utf-8 BOM", LATIN, "utf-8", id="utf8-bom-latin"),
    pytest.param("utf-8 BOM", CYRILLIC, "utf-8-sig", id="utf8-bom-cyrillic"),
    pytest.param("utf-16 LE BOM tab", LATIN, "utf-16", id="utf16le-bom-latin"),
    pytest.param("utf-16 LE BOM tab", CYRILLIC, "utf-16", id="utf16le-bom-cyrillic"),
    pytest.param("utf-16 BE BOM tab", CYRILLIC, "utf-16", id="utf16be-bom-cyrillic"),
    pytest.param("cp1251 semicolon", CYRILLIC, "cp1251", id="cp1251-cyrillic"),
    pytest.param("cp1252", LATIN, "cp1252", id="cp1252-latin"),
    pytest.param("latin-1 semicolon", LATIN, "latin-1", id="latin1-latin"),
]


@pytest.mark.parametrize("declared", [False, True], ids=["detected", "declared"])
@pytest.mark.parametrize(("how", "rows", "encoding"), ENCODING_CASES)
def test_encodings_keep_non_ascii_names(tmp_path, how, rows, encoding, declared):
    settings = f", encoding: {encoding}" if declared else ""
    catalog = write(tmp_path, source(settings) + REP_METRICS, {"s.csv": ENCODED[how](rows)})
    latin = rows is LATIN
    assert values(catalog, "--period", "all") == (LATIN_TOTALS if latin else CYRILLIC_TOTALS)
    by_rep = values(catalog, "--period", "all", "--metric", "total", by="rep")
    assert by_rep == (LATIN_BY_REP if latin else CYRILLIC_BY_REP)


def test_utf16_declared_with_explicit_byte_order_and_no_bom(tmp_path):
    text = table(CYRILLIC, "\t", "\r\n").encode("utf-16-le")  # no byte order mark
    catalog = write(tmp_path, source(", encoding: utf-16-le") + REP_METRICS, {"s.csv": text})
    assert values(catalog, "--period", "all") == CYRILLIC_TOTALS
    assert values(catalog, "--period", "all", "--metric", "total", by="rep") == CYRILLIC_BY_REP


def test_cp1252_only_characters_euro_and_curly_quotes_are_detected(tmp_path):
    # € is 0x80, “ ” are 0x93 0x94 and – is 0x96 in cp1252: bytes latin-1 reads as control characters.
    rows = [["id", "rep", "note", "amount"], ["1", "Peña", "“VIP” – renewal", "€ 1.234,50"]]
    rows += [["2", "Peña", "plain", "€ 99,90"], ["3", "Brandão", "–", "€ 10,00"]]
    catalog = write(
        tmp_path,
        source()
        + REP_METRICS
        + "  vip: {level: result, category: financial, source: s, agg: count, "
        + "filter: \"note = '“VIP” – renewal'\"}\n",
        {"s.csv": table(rows, ";", "\r\n").encode("cp1252")},
    )
    # 1234.50 + 99.90 + 10.00 = 1344.40
    assert values(catalog, "--period", "all") == pytest.approx(
        {"total": 1344.4, "rows": 3, "reps": 2, "vip": 1}
    )
    assert values(catalog, "--period", "all", "--metric", "total", by="rep") == pytest.approx(
        {("total", "Peña"): 1334.4, ("total", "Brandão"): 10.0}
    )


def test_undefined_cp1252_byte_0x81_is_read_as_latin1(tmp_path):
    # 0x81 has no character in cp1252: the file is read as latin-1, where ñ and é are the same bytes.
    data = b"id,rep,note,amount\n1,Mu\xf1oz,ref \x81 17,10\n2,Jos\xe9,x,5\n3,Mu\xf1oz,y,2.5\n"
    catalog = write(tmp_path, source() + REP_METRICS, {"s.csv": data})
    assert values(catalog, "--period", "all") == {"total": 17.5, "rows": 3, "reps": 2}
    assert values(catalog, "--period", "all", "--metric", "total", by="rep") == {
        ("total", "Muñoz"): 12.5,
        ("total", "José"): 5,
    }


def test_undefined_cp1252_byte_0x81_with_latin1_declared(tmp_path):
    data = b"id,rep,note,amount\n1,Mu\xf1oz,ref \x81 17,10\n2,Jos\xe9,x,5\n3,Mu\xf1oz,y,2.5\n"
    catalog = write(tmp_path, source(", encoding: latin-1") + REP_METRICS, {"s.csv": data})
    assert values(catalog, "--period", "all", "--metric", "total", by="rep") == {
        ("total", "Muñoz"): 12.5,
        ("total", "José"): 5,
    }


def test_undeclared_cp1252_portuguese_with_cao_endings_is_not_read_as_cyrillic(tmp_path):
    rows = [["id", "rep", "stage", "amount"], ["1", "Conceição", "Negociação", "100"]]
    rows += [["2", "Assunção", "Negociação", "50"], ["3", "Conceição", "Ganho", "25"]]
    catalog = write(
        tmp_path,
        source()
        + REP_METRICS
        + "  open: {level: result, category: financial, source: s, agg: count, "
        + "filter: \"stage = 'Negociação'\"}\n",
        {"s.csv": table(rows, ";", "\r\n").encode("cp1252")},
    )
    assert values(catalog, "--period", "all", "--metric", "total", by="rep") == {
        ("total", "Conceição"): 125,
        ("total", "Assunção"): 50,
    }
    assert values(catalog, "--period", "all")["open"] == 2


def test_declared_cp1252_portuguese_with_cao_endings(tmp_path):
    rows = [["id", "rep", "stage", "amount"], ["1", "Conceição", "Negociação", "100"]]
    rows += [["2", "Assunção", "Negociação", "50"], ["3", "Conceição", "Ganho", "25"]]
    catalog = write(
        tmp_path,
        source(", encoding: cp1252") + REP_METRICS,
        {"s.csv": table(rows, ";", "\r\n").encode("cp1252")},
    )
    assert values(catalog, "--period", "all", "--metric", "total", by="rep") == {
        ("total", "Conceição"): 125,
        ("total", "Assunção"): 50,
    }


def test_non_ascii_text_first_seen_after_the_detection_sample(tmp_path):
    # 80 000 ASCII rows (over 1 MiB), then a cp1252 name: detection sees only ASCII. The run must
    # either read the name right or stop with one clear error asking for the encoding; never a crash
    # nor a mangled name.
    filler = "".join(f"{i},Smith,1\n" for i in range(1, 80_001))
    data = ("id,rep,amount\n" + filler).encode("ascii") + "80001,Muñoz,5\n".encode("cp1252")
    assert len(data) > 1 << 20
    catalog = write(tmp_path, source() + REP_METRICS, {"s.csv": data})
    result = run("report", "--catalog", str(catalog), "--format", "csv", "--period", "all")
    if result.exit_code == 0:
        assert values(catalog, "--period", "all") == {"total": 80_005, "rows": 80_001, "reps": 2}
        assert values(catalog, "--period", "all", "--metric", "total", by="rep") == {
            ("total", "Smith"): 80_000,
            ("total", "Muñoz"): 5,
        }
    else:
        message = error(catalog, "--period", "all")
        assert "s.csv" in message
        assert "encoding" in message


# --- 2. separators --------------------------------------------------------------------------------

QUOTED_HEADER = [["id", "Owner, full name", "Amount, USD"], ["1", "Smith, John", "10.5"]]
QUOTED_HEADER += [["2", "Doe, Jane", "20"], ["3", "Smith, John", "0.25"]]


@pytest.mark.parametrize(
    ("separator", "filename"), [(",", "s.csv"), (";", "s.csv"), ("\t", "s.tsv"), ("|", "s.txt")]
)
def test_separator_is_sniffed_with_a_comma_inside_a_quoted_header(tmp_path, separator, filename):
    rows = [[field(v, ",") for v in row] for row in QUOTED_HEADER]  # commas quoted whatever the separator
    data = "".join(separator.join(row) + "\n" for row in rows)
    assert data.startswith(f'id{separator}"Owner, full name"{separator}"Amount, USD"\n')
    catalog = write(
        tmp_path,
        source(", columns: {rep: 'Owner, full name', amount: 'Amount, USD'}", filename) + REP_METRICS,
        {filename: data},
    )
    assert values(catalog, "--period", "all") == {"total": 30.75, "rows": 3, "reps": 2}
    assert values(catalog, "--period", "all", "--metric", "total", by="rep") == {
        ("total", "Smith, John"): 10.75,
        ("total", "Doe, Jane"): 20,
    }


@pytest.mark.parametrize("separator", [",", ";", "\t", "|"])
def test_separator_is_sniffed_when_only_the_header_has_a_quoted_comma(tmp_path, separator):
    data = f'id{separator}rep{separator}"Amount, USD"\n'
    data += "".join(f"{i}{separator}{rep}{separator}{n}\n" for i, rep, n in [(1, "ann", 4), (2, "bob", 6)])
    catalog = write(tmp_path, source(", columns: {amount: 'Amount, USD'}") + REP_METRICS, {"s.csv": data})
    assert values(catalog, "--period", "all") == {"total": 10, "rows": 2, "reps": 2}


# --- 3. numbers -----------------------------------------------------------------------------------

NUMBER_CASES = [
    # (separator, amounts as written, their sum worked out by hand)
    pytest.param(",", ["$22,700.00", "$1,300.50", "$99.50"], 24100.0, id="dollars"),
    pytest.param(",", ["-$1,234.50", "$2,000.00", "$-50.00"], 715.5, id="negative-dollars"),
    pytest.param(";", ["1\u00a0234,50 ₽", "500,00 ₽", "12\u00a0000 ₽"], 13734.5, id="rubles-nbsp"),
    pytest.param(";", ["1 234,50 ₽", "500,00 ₽", "12 000 ₽"], 13734.5, id="rubles-space"),
    pytest.param(",", ["1\u00a0234,50 ₽", "500,00 ₽", "12\u00a0000 ₽"], 13734.5, id="rubles-nbsp-comma-file"),
    pytest.param(",", ["1 234,50 ₽", "500,00 ₽", "12 000 ₽"], 13734.5, id="rubles-space-comma-file"),
    pytest.param(";", ["1 234,50 руб.", "765,50 руб."], 2000.0, id="rubles-abbreviated"),
    pytest.param(";", ["1\u202f234,50 €", "99,50 €"], 1334.0, id="euros-narrow-nbsp"),
    pytest.param(";", ["€ 1.234,50", "€ 99,90", "€ 10.000,00"], 11334.4, id="euros-prefix"),
    pytest.param(",", ["€ 1.234,50", "€ 99,90", "€ 10.000,00"], 11334.4, id="euros-prefix-comma-file"),
    pytest.param(";", ["R$ 1.234,56", "R$ 100,00"], 1334.56, id="reais"),
    pytest.param(";", ["1.234.567,89", "2.000,11", "0,50"], 1236568.5, id="dot-thousands-comma-decimal"),
    pytest.param(";", ["1.234.567", "2.000.000"], 3234567.0, id="dot-thousands-only"),
    pytest.param(",", ["1'234.50", "12'000.00", "99.95"], 13334.45, id="swiss"),
    pytest.param(",", ["USD 1,234.50", "USD 765.50", "USD 2,000.00"], 4000.0, id="iso-code-prefix"),
    pytest.param(",", ["1,234.50 USD", "765.50 USD"], 2000.0, id="iso-code-suffix"),
    pytest.param(
        ",",
        ["₹1,23,456.00", "₹10,000.50"],
        133456.5,
        id="indian-lakh",
    ),
    pytest.param(";", ["1,5", "2,25", "10"], 13.75, id="decimal-comma-semicolon-file"),
    pytest.param(",", ["1,234", "2,500", "10"], 3744.0, id="comma-thousands-comma-file"),
    pytest.param(";", ["1,234", "2,500", "10"], 13.734, id="comma-is-decimal-in-semicolon-file"),
    pytest.param(",", ["12.5%", "50%", "7.5%"], 0.7, id="percent"),
    pytest.param(";", ["12,5 %", "50 %", "7,5 %"], 0.7, id="percent-decimal-comma"),
]

NUMBER_METRICS = """\
metrics:
  total: {level: result, category: financial, source: s, agg: sum, expr: amount}
  average: {level: result, category: financial, source: s, agg: mean, expr: amount}
  rows: {level: result, category: financial, source: s, agg: count}
"""


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "inferred"])
@pytest.mark.parametrize(("separator", "amounts", "total"), NUMBER_CASES)
def test_locale_numbers(tmp_path, separator, amounts, total, declared):
    rows = [["id", "amount"], *([str(i), amount] for i, amount in enumerate(amounts, 1))]
    settings = ", types: {amount: number}" if declared else ""
    catalog = write(tmp_path, source(settings) + NUMBER_METRICS, {"s.csv": table(rows, separator)})
    expected = {"total": total, "average": total / len(amounts), "rows": len(amounts)}
    assert values(catalog, "--period", "all") == pytest.approx(expected)


def test_percent_strings_are_fractions_in_a_filter(tmp_path):
    data = "id,discount\n1,12.5%\n2,50%\n3,7.5%\n"
    catalog = write(
        tmp_path,
        source(", types: {discount: number}")
        + "metrics:\n  big: {level: result, category: financial, source: s, agg: count, "
        + 'filter: "discount > 0.1"}\n',
        {"s.csv": data},
    )
    assert values(catalog, "--period", "all") == {"big": 2}  # 0.125 and 0.5


def test_a_number_that_does_not_parse_names_file_line_and_column(tmp_path):
    data = 'id,amount\n1,"$1,200.00"\n2,"$3,000.00"\n3,call me\n'
    catalog = write(tmp_path, source(", types: {amount: number}") + NUMBER_METRICS, {"s.csv": data})
    message = error(catalog, "--period", "all")
    assert "s.csv" in message
    assert "line 4" in message
    assert "'amount'" in message
    assert "'call me'" in message


# --- 4. dates -------------------------------------------------------------------------------------

COUNT = "metrics:\n  rows: {level: result, category: financial, source: s, agg: count}\n"


def dated(tmp_path: Path, dates: list[str], settings: str = "") -> Path:
    rows = [["id", "when"], *([str(i), day] for i, day in enumerate(dates, 1))]
    return write(tmp_path, source(f", time: when{settings}") + COUNT, {"s.csv": table(rows)})


def counts(catalog: Path, *periods: str) -> dict[str, float]:
    return {period: values(catalog, "--period", period)["rows"] for period in periods}


DATE_CASES = [
    # (dates as written, {period: rows in it} worked out by hand)
    pytest.param(
        ["2025-09-05", "2025-09-25", "2025-10-01", "2025-08-31"],
        {"2025-09": 2, "2025-10": 1, "2025-08": 1, "2025-09-25": 1},
        id="iso",
    ),
    pytest.param(
        ["05.09.2025", "25.09.2025", "01.10.2025", "31.08.2025"],
        {"2025-09": 2, "2025-10": 1, "2025-08": 1, "2025-09-05": 1},
        id="d.m.Y",
    ),
    pytest.param(
        ["09/25/2025", "09/04/2025", "10/01/2025", "08/31/2025"],
        {"2025-09": 2, "2025-10": 1, "2025-08": 1, "2025-09-04": 1, "2025-04": 0},
        id="m/d/Y",
    ),
    pytest.param(
        ["25/09/2025", "04/09/2025", "01/10/2025", "31/08/2025"],
        {"2025-09": 2, "2025-10": 1, "2025-08": 1, "2025-09-04": 1, "2025-04": 0},
        id="d/m/Y",
    ),
    pytest.param(
        ["15 Apr, 2021 00:02:00", "30 Apr, 2021 23:59:59", "01 May, 2021 00:00:00", "31 Mar, 2021 12:00:00"],
        {"2021-04": 2, "2021-05": 1, "2021-03": 1, "2021-04-15": 1},
        id="zoho",
    ),
    pytest.param(
        ["2018.02.26 19:58", "2018.02.26 2:00", "2018.03.01 0:05", "2018.02.01 9:30"],
        {"2018-02": 3, "2018-03": 1, "2018-02-26": 2, "2018-02-01": 1},
        id="excel-hungarian-unpadded-hour",
    ),
    pytest.param(
        ["2025-09-30T23:30:00+03:00", "2025-10-01T01:00:00+03:00", "2025-09-15T12:00:00+0300"],
        # in UTC the second one would be 2025-09-30 22:00 and September would hold all three
        {"2025-09": 2, "2025-10": 1, "2025-09-30": 1, "2025-10-01": 1},
        id="iso-offsets",
    ),
    pytest.param(
        ["2025-09-30T23:30:00Z", "2025-10-01T00:00:00Z", "2025-09-01T00:00:00Z"],
        {"2025-09": 2, "2025-10": 1, "2025-09-30": 1},
        id="iso-zulu",
    ),
    pytest.param(
        ["2025-09-30T23:30:00-05:00", "2025-09-30T23:30:00Z", "2025-10-01T12:00:00+02:00"],
        # as written: two on 30 September, one on 1 October (in UTC: 1 October, 30 September, 1 October)
        {"2025-09": 2, "2025-10": 1, "2025-09-30": 2, "2025-10-01": 1},
        id="iso-mixed-offsets",
    ),
    pytest.param(
        ["10/20/2016 14:05", "10/03/2016 09:00", "11/01/2016 00:00", "09/30/2016 23:59"],
        {"2016-10": 2, "2016-11": 1, "2016-09": 1, "2016-10-03": 1, "2016-03": 0},
        id="us-with-time",
    ),
]


@pytest.mark.parametrize(("dates", "expected"), DATE_CASES)
def test_date_formats(tmp_path, dates, expected):
    catalog = dated(tmp_path, dates)
    assert counts(catalog, *expected) == expected
    assert counts(catalog, "all") == {"all": len(dates)}


def test_ambiguous_slash_dates_are_an_error_naming_the_column_and_date_format(tmp_path):
    catalog = dated(tmp_path, ["04/09/2025", "05/09/2025", "12/01/2025"])  # every day and month <= 12
    message = error(catalog, "--period", "all")
    assert "s.csv" in message
    assert "'when'" in message
    assert "date_format" in message


def test_ambiguous_slash_dates_with_date_format(tmp_path):
    catalog = dated(tmp_path, ["04/09/2025", "05/09/2025", "12/01/2025"], ", date_format: '%m/%d/%Y'")
    assert counts(catalog, "2025-04", "2025-05", "2025-12", "2025-09") == {
        "2025-04": 1,
        "2025-05": 1,
        "2025-12": 1,
        "2025-09": 0,
    }


def test_date_that_does_not_parse_names_file_line_and_column(tmp_path):
    catalog = dated(tmp_path, ["05.09.2025", "25.09.2025", "31.09.2025", "01.10.2025"])  # no 31 September
    message = error(catalog, "--period", "2025-09")
    assert "s.csv" in message
    assert "line 4" in message
    assert "'when'" in message
    assert "'31.09.2025'" in message


# --- 5. booleans ----------------------------------------------------------------------------------

BOOL_METRICS = """\
metrics:
  closed: {level: result, category: financial, source: s, agg: count, filter: "closed"}
  open: {level: result, category: financial, source: s, agg: count, filter: "NOT closed"}
  closed_amount: {level: result, category: financial, source: s, agg: sum, expr: amount, filter: "closed"}
"""

BOOL_CASES = [
    # (values of `closed` for amounts 1, 2, 4, 8, 16; rows closed; their amount; declared as bool)
    pytest.param(["Y", "N", "Y", "N", "N"], 2, 5, True, id="Y/N-declared"),
    pytest.param(["Y", "N", "Y", "N", "N"], 2, 5, False, id="Y/N-inferred"),
    pytest.param(["Yes", "No", "yes", "NO", "No"], 2, 5, True, id="Yes/No-declared"),
    pytest.param(["Yes", "No", "yes", "NO", "No"], 2, 5, False, id="Yes/No-inferred"),
    pytest.param(["1", "0", "1", "1", "0"], 3, 13, True, id="1/0-declared"),  # undeclared: whole numbers
    pytest.param(["true", "false", "TRUE", "False", "true"], 3, 21, True, id="true/false-declared"),
    pytest.param(["true", "false", "TRUE", "False", "true"], 3, 21, False, id="true/false-inferred"),
    pytest.param(["Да", "Нет", "да", "Да", "нет"], 3, 13, True, id="Да/Нет-declared"),
    pytest.param(["Да", "Нет", "да", "Да", "нет"], 3, 13, False, id="Да/Нет-inferred"),
]


@pytest.mark.parametrize(("flags", "closed", "amount", "declared"), BOOL_CASES)
def test_booleans_in_a_filter(tmp_path, flags, closed, amount, declared):
    rows = [["id", "closed", "amount"], *([str(i), f, str(2 ** (i - 1))] for i, f in enumerate(flags, 1))]
    settings = ", types: {closed: bool}" if declared else ""
    catalog = write(tmp_path, source(settings) + BOOL_METRICS, {"s.csv": table(rows)})
    assert values(catalog, "--period", "all") == {
        "closed": closed,
        "open": len(flags) - closed,
        "closed_amount": amount,
    }


def test_cp1251_da_net_booleans(tmp_path):
    rows = [["id", "closed", "amount"], ["1", "Да", "1"], ["2", "Нет", "2"], ["3", "Да", "4"]]
    catalog = write(tmp_path, source() + BOOL_METRICS, {"s.csv": table(rows, ";", "\r\n").encode("cp1251")})
    assert values(catalog, "--period", "all") == {"closed": 2, "open": 1, "closed_amount": 5}


@pytest.mark.parametrize("encoding", ["utf-8", "cp1251"])
def test_bad_boolean_names_file_line_and_column(tmp_path, encoding):
    rows = [["id", "closed", "amount"], ["1", "Да", "1"], ["2", "Нет", "2"], ["3", "Возможно", "4"]]
    catalog = write(
        tmp_path,
        source(", types: {closed: bool}") + BOOL_METRICS,
        {"s.csv": table(rows, ";").encode(encoding)},
    )
    message = error(catalog, "--period", "all")
    assert "s.csv" in message
    assert "line 4" in message
    assert "'closed'" in message
    assert "'Возможно'" in message


# --- 6. quoted multi-line fields ------------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_quoted_multi_line_fields_do_not_break_rows(tmp_path, newline):
    rows = [["id", "rep", "description", "amount"], ["1", "ann", f"first line{newline}second line", "10"]]
    rows += [
        ["2", "bob", f'He said "hi"{newline}{newline}and left, quickly', "20"],
        ["3", "ann", "plain", "5"],
    ]
    data = table(rows, ",", newline)
    assert data.count(newline) == 7  # 4 records on 7 lines
    catalog = write(
        tmp_path,
        source()
        + REP_METRICS
        + "  long: {level: result, category: financial, source: s, agg: count, "
        + "filter: \"description LIKE '%line%'\"}\n",
        {"s.csv": data},
    )
    assert values(catalog, "--period", "all") == {"total": 35, "rows": 3, "reps": 2, "long": 1}


def test_bad_value_after_a_multi_line_field_names_the_physical_line(tmp_path):
    data = 'id,note,amount\n1,"one\ntwo\nthree",10\n2,ok,twelve\n'  # 'twelve' is on line 5
    catalog = write(tmp_path, source(", types: {amount: number}") + NUMBER_METRICS, {"s.csv": data})
    message = error(catalog, "--period", "all")
    assert "'twelve'" in message
    assert "line 5" in message


def test_bad_values_summary_after_a_multi_line_field_names_physical_lines(tmp_path):
    data = 'id,note,amount\n1,"one\ntwo",10\n2,ok,x\n3,ok,y\n'  # 'x' on line 4, 'y' on line 5
    catalog = write(tmp_path, source(", types: {amount: number}") + NUMBER_METRICS, {"s.csv": data})
    message = error(catalog, "--period", "all")
    assert "line 4, column 'amount': 'x'" in message
    assert "line 5: 'y'" in message


# --- 7. CRM exports -------------------------------------------------------------------------------


def quoted_csv(rows: list[list[str]]) -> str:
    """rows as an export writes them with every field quoted (HubSpot, Pipedrive)."""
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


HUBSPOT_HEADER = ["Deal ID", "Deal Name", "Deal Stage", "Amount", "Close Date", "Create Date", "Deal owner"]
HUBSPOT_HEADER += ["Pipeline", 'Date entered "Appointment Scheduled (Sales Pipeline)"', "Last Activity Date"]
HUBSPOT = quoted_csv(
    [
        HUBSPOT_HEADER,
        ["9001", "Acme renewal", "Closed Won", "12000", "2024-03-05 14:02", "2024-01-10 09:15", "Ann Smith"]
        + ["Sales Pipeline", "2024-01-11 10:00", ""],
        ["9002", "Globex, new seats", "Closed Won", "3500.50", "2024-03-28 17:45", "2024-02-01 11:00"]
        + ["Bob Jones", "Sales Pipeline", "2024-02-02 08:30", "2024-03-28 17:00"],
        ["9003", "Initech pilot", "Closed Lost", "8000", "2024-03-12 10:00", "2024-02-15 13:20", "Ann Smith"]
        + ["Sales Pipeline", "", ""],
        ["9004", "Umbrella upsell", "Closed Won", "2200", "2024-04-02 09:00", "2024-03-01 16:00"]
        + ["Carla Díaz", "Sales Pipeline", "2024-03-02 12:00", ""],
        ["9005", "Hooli expansion", "Appointment Scheduled", "15000", "", "2024-03-20 10:10", "Bob Jones"]
        + ["Sales Pipeline", "2024-03-21 09:00", ""],
        ["9006", 'Stark "Q1" deal', "Closed Won", "", "2024-03-30 23:59", "2024-03-01 08:00", "Carla Díaz"]
        + ["Sales Pipeline", "", ""],
    ]
)
assert '"Date entered ""Appointment Scheduled (Sales Pipeline)"""' in HUBSPOT

HUBSPOT_CATALOG = """\
sources:
  deals:
    path: hubspot-deals.csv
    key: deal_id
    time: closed
    columns:
      deal_id: Deal ID
      name: Deal Name
      stage: Deal Stage
      amount: Amount
      closed: Close Date
      created: Create Date
      rep: Deal owner
dimensions:
  rep: {label: Owner}
metrics:
  won_revenue: {level: result, category: financial, source: deals, agg: sum, expr: amount,
                filter: "stage = 'Closed Won'"}
  won_deals: {level: result, category: financial, source: deals, agg: count, filter: "stage = 'Closed Won'"}
  created_deals: {level: activity, category: opportunity_management, source: deals, agg: count,
                  time: created}
"""


def test_hubspot_deals_export(tmp_path):
    catalog = write(tmp_path, HUBSPOT_CATALOG, {"hubspot-deals.csv": HUBSPOT})
    # Closed in March 2024: 9001 won 12000, 9002 won 3500.50, 9003 lost, 9006 won without an amount.
    # Created in March: 9004, 9005, 9006.
    assert values(catalog, "--period", "2024-03") == {
        "won_revenue": 15500.5,
        "won_deals": 3,
        "created_deals": 3,
    }
    assert values(catalog, "--period", "2024-04") == {"won_revenue": 2200, "won_deals": 1, "created_deals": 0}
    assert values(catalog, "--period", "2024-03", "--metric", "won_deals", by="rep") == {
        ("won_deals", "Ann Smith"): 1,
        ("won_deals", "Bob Jones"): 1,
        ("won_deals", "Carla Díaz"): 1,
    }


HUBSPOT_STAGE_DATES = HUBSPOT_CATALOG.replace(
    "      rep: Deal owner\n",
    "      rep: Deal owner\n      appointment: 'Date entered \"Appointment Scheduled (Sales Pipeline)\"'\n",
) + (
    "  appointments: {level: activity, category: opportunity_management, source: deals, agg: count,\n"
    "                 time: appointment}\n"
)


def test_hubspot_stage_entered_header_with_quotes_maps_by_its_unescaped_name(tmp_path):
    catalog = write(tmp_path, HUBSPOT_STAGE_DATES, {"hubspot-deals.csv": HUBSPOT})
    # Entered "Appointment Scheduled" in March 2024: 9004 (03-02) and 9005 (03-21); 9002 in February.
    assert values(catalog, "--period", "2024-03", "--metric", "appointments") == {"appointments": 2}
    assert values(catalog, "--period", "2024-02", "--metric", "appointments") == {"appointments": 1}


PIPEDRIVE = """\
"Deal - ID","Deal - Title","Deal - Value","Deal - Currency","Deal - Stage","Deal - Status","Deal - Owner",\
"Deal - Deal created","Deal - Won time","Deal - Lost time","Deal - Expected close date"
"101","Acme deal","1500","EUR","Negotiations Started","won","Ann Lee","2024-02-20 10:00:00",\
"2024-03-05 14:02:11","","2024-03-01"
"102","Beta deal","2500.75","EUR","Proposal Made","won","Bob Ray","2024-03-01 09:30:00",\
"2024-03-31 23:59:59","","2024-03-31"
"103","Gamma deal","900","EUR","Qualified","lost","Ann Lee","2024-03-02 11:11:11","",\
"2024-03-20 16:00:00","2024-04-15"
"104","Delta deal","4000","EUR","Contact Made","open","Bob Ray","2024-03-10 08:00:00","","",""
"105","Epsilon, phase 2","700","EUR","Negotiations Started","won","Ann Lee","2024-03-15 12:00:00",\
"2024-04-01 00:00:01","","2024-04-01"
"""

PIPEDRIVE_CATALOG = """\
sources:
  deals:
    path: pipedrive-deals.csv
    key: id
    time: won_at
    columns:
      id: Deal - ID
      title: Deal - Title
      value: Deal - Value
      currency: Deal - Currency
      stage: Deal - Stage
      status: Deal - Status
      rep: Deal - Owner
      created: Deal - Deal created
      won_at: Deal - Won time
      lost_at: Deal - Lost time
dimensions:
  rep: {label: Owner}
metrics:
  won_revenue: {level: result, category: financial, source: deals, agg: sum, expr: value,
                filter: "status = 'won'"}
  won_deals: {level: result, category: financial, source: deals, agg: count, filter: "status = 'won'"}
  lost_deals: {level: result, category: financial, source: deals, agg: count, filter: "status = 'lost'",
               time: lost_at}
  created_deals: {level: activity, category: opportunity_management, source: deals, agg: count,
                  time: created}
  open_deals: {level: activity, category: opportunity_management, source: deals, agg: count,
               filter: "status = 'open'", time: created}
"""


def test_pipedrive_deals_export(tmp_path):
    catalog = write(tmp_path, PIPEDRIVE_CATALOG, {"pipedrive-deals.csv": PIPEDRIVE})
    # Won in March 2024: 101 (1500) and 102 (2500.75); 105 was won on 1 April. Lost in March: 103.
    # Created in March: 102, 103, 104, 105; of them open: 104.
    assert values(catalog, "--period", "2024-03") == {
        "won_revenue": 4000.75,
        "won_deals": 2,
        "lost_deals": 1,
        "created_deals": 4,
        "open_deals": 1,
    }
    assert values(catalog, "--period", "2024-03", "--metric", "won_revenue", by="rep") == {
        ("won_revenue", "Ann Lee"): 1500,
        ("won_revenue", "Bob Ray"): 2500.75,
    }
    assert values(catalog, "--period", "2024-04", "--metric", "won_revenue") == {"won_revenue": 700}


AMOCRM = """\
ID;Название сделки;Бюджет;Этап сделки;Ответственный;Дата создания;Дата закрытия
1001;Поставка оборудования;150\u00a0000,00;Успешно реализовано;Иванов Иван;01.02.2024;05.03.2024
1002;Монтаж;75\u00a0500,50;Успешно реализовано;Петрова Ольга;10.02.2024;28.03.2024
1003;Сервис;12000;Закрыто и не реализовано;Иванов Иван;15.02.2024;12.03.2024
1004;"Аудит; этап 1";30000,25;Переговоры;Петрова Ольга;01.03.2024;
1005;Обучение;9999,99;Успешно реализовано;Сидоров Пётр;20.03.2024;02.04.2024
"""

AMOCRM_CATALOG = """\
sources:
  deals:
    path: amocrm.csv
    key: id
    time: closed
    columns:
      id: ID
      name: Название сделки
      amount: Бюджет
      stage: Этап сделки
      rep: Ответственный
      created: Дата создания
      closed: Дата закрытия
dimensions:
  rep: {label: Ответственный}
metrics:
  won_revenue: {level: result, category: financial, source: deals, agg: sum, expr: amount,
                filter: "stage = 'Успешно реализовано'"}
  won_deals: {level: result, category: financial, source: deals, agg: count,
              filter: "stage = 'Успешно реализовано'"}
  created_deals: {level: activity, category: opportunity_management, source: deals, agg: count,
                  time: created}
  average_budget: {level: result, category: financial, source: deals, agg: mean, expr: amount,
                   time: created}
"""


@pytest.mark.parametrize("declared", [False, True], ids=["detected", "declared"])
def test_amocrm_export_saved_by_excel_in_cp1251(tmp_path, declared):
    data = AMOCRM.replace("\n", "\r\n").encode("cp1251")  # Excel: CRLF, NBSP (0xA0) between thousands
    text = AMOCRM_CATALOG
    if declared:
        text = text.replace("    key: id\n", "    key: id\n    encoding: cp1251\n    separator: ';'\n")
    catalog = write(tmp_path, text, {"amocrm.csv": data})
    # Closed in March 2024 and won: 1001 (150 000,00) and 1002 (75 500,50); 1005 closed on 2 April.
    # Created in March: 1004 (30 000,25) and 1005 (9 999,99): mean 20 000,12.
    assert values(catalog, "--period", "2024-03") == pytest.approx(
        {"won_revenue": 225500.5, "won_deals": 2, "created_deals": 2, "average_budget": 20000.12}
    )
    assert values(catalog, "--period", "2024-03", "--metric", "won_revenue", by="rep") == {
        ("won_revenue", "Иванов Иван"): 150000,
        ("won_revenue", "Петрова Ольга"): 75500.5,
    }
    assert values(catalog, "--period", "2024-04", "--metric", "won_revenue") == pytest.approx(
        {"won_revenue": 9999.99}
    )


# --- 8. spreadsheets ------------------------------------------------------------------------------

XLSX_CATALOG = """\
sources:
  s: {path: deals.xlsx, sheet: Deals, time: closed}
dimensions:
  rep: {label: Rep}
metrics:
  total: {level: result, category: financial, source: s, agg: sum, expr: amount}
  rows: {level: result, category: financial, source: s, agg: count}
  created: {level: result, category: financial, source: s, agg: count, time: created}
"""


def workbook(path: Path) -> None:
    """Two sheets: 'Notes' first (not the data), then 'Deals'."""
    xlsxwriter = pytest.importorskip("xlsxwriter")
    notes = pl.DataFrame({"note": ["exported from the CRM", "do not edit"]})
    deals = pl.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "rep": ["Muñoz", "Иван", "Muñoz", "Ann"],
            "amount": [1234.5, 100.25, 50.0, 7.0],
            "closed": [date(2024, 3, 5), date(2024, 3, 31), date(2024, 4, 1), date(2024, 2, 29)],
            "created": [
                datetime(2024, 2, 1, 9, 30),
                datetime(2024, 3, 1, 0, 0),
                datetime(2024, 3, 31, 23, 59),
                datetime(2024, 1, 15, 12, 0),
            ],
        }
    )
    with xlsxwriter.Workbook(path) as book:
        notes.write_excel(workbook=book, worksheet="Notes")
        deals.write_excel(workbook=book, worksheet="Deals")


def test_xlsx_sheet_by_name_with_numbers_and_dates(tmp_path):
    workbook(tmp_path / "deals.xlsx")
    catalog = write(tmp_path, XLSX_CATALOG, {})
    # Closed in March 2024: 1 (1234.50) and 2 (100.25). Created in March: 2 and 3.
    assert values(catalog, "--period", "2024-03") == {"total": 1334.75, "rows": 2, "created": 2}
    assert values(catalog, "--period", "all", "--metric", "total", by="rep") == {
        ("total", "Muñoz"): 1284.5,
        ("total", "Иван"): 100.25,
        ("total", "Ann"): 7,
    }


def test_xlsx_unknown_sheet_is_an_error_naming_the_file_and_the_sheet(tmp_path):
    workbook(tmp_path / "deals.xlsx")
    catalog = write(tmp_path, XLSX_CATALOG.replace("sheet: Deals", "sheet: Dealz"), {})
    message = error(catalog, "--period", "all")
    assert "deals.xlsx" in message
    assert "'Dealz'" in message


# --- 9. bad files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            'id,rep,note,amount\n1,ann,"fine",10\n2,bob,"this note was cut off in the midd', id="middle"
        ),
        pytest.param(
            'id,rep,amount,note\n1,ann,10,"fine"\n2,bob,20,"this note was cut off in the midd',
            id="last-column",
        ),
    ],
)
def test_file_truncated_inside_a_quoted_field_is_an_error_naming_the_line(tmp_path, data):
    catalog = write(tmp_path, source() + REP_METRICS, {"s.csv": data})
    message = error(catalog, "--period", "all")
    assert "s.csv" in message
    assert "line 3" in message


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(zip_bytes(), id="zip-renamed-csv"),
        pytest.param(bytes(range(256)) * 4, id="random-bytes-with-nul"),
        pytest.param(b"id,rep,amount\n1,ann,\x00\x00\x00\x10\n", id="nul-bytes-in-text"),
    ],
)
def test_binary_file_is_an_error(tmp_path, content):
    catalog = write(tmp_path, source() + REP_METRICS, {"s.csv": content})
    message = error(catalog, "--period", "all")
    assert "s.csv" in message
    assert "binary" in message


def test_utf8_declared_for_a_cp1251_file_is_an_error(tmp_path):
    catalog = write(
        tmp_path, source(", encoding: utf-8") + REP_METRICS, {"s.csv": table(CYRILLIC, ";").encode("cp1251")}
    )
    message = error(catalog, "--period", "all")
    assert "s.csv" in message
    assert "UTF-8" in message or "utf-8" in message
    assert "encoding" in message


def test_cp1251_declared_for_a_utf16_file_is_an_error(tmp_path):
    catalog = write(
        tmp_path,
        source(", encoding: cp1251") + REP_METRICS,
        {"s.csv": utf16_le_with_bom(table(CYRILLIC, "\t", "\r\n"))},
    )
    message = error(catalog, "--period", "all")
    assert "s.csv" in message
    assert "utf-16" in message.lower() or "UTF-16" in message


def test_ragged_row_with_an_extra_field_names_the_line(tmp_path):
    data = "id,rep,amount\n1,ann,10\n2,bob,20\n3,cat,5,extra\n4,dan,1\n"
    catalog = write(tmp_path, source() + REP_METRICS, {"s.csv": data})
    message = error(catalog, "--period", "all")
    assert "s.csv" in message
    assert "line 4" in message


def test_ragged_row_with_a_missing_field_names_the_line(tmp_path):
    data = "id,rep,amount\n1,ann,10\n2,bob,20\n3,cat\n4,dan,1\n"
    catalog = write(tmp_path, source() + REP_METRICS, {"s.csv": data})
    message = error(catalog, "--period", "all")
    assert "s.csv" in message
    assert "line 4" in message


@pytest.mark.parametrize(
    "data, line",
    [
        # a quoted separator does not count as one; the short row is still found
        ('id,rep,amount\n1,"ann, jr",10\n2,"bob",20\n3,"cat"\n', 4),
        # a quoted field spanning lines before the short row
        ('id,rep,amount\n1,"ann\nsmith",10\n2,bob\n', 4),
    ],
)
def test_row_with_a_missing_field_after_quoted_fields_names_its_line(tmp_path, data, line):
    catalog = write(tmp_path, source() + REP_METRICS, {"s.csv": data})
    for cache in ([], ["--no-cache"]):  # found whether or not the file is read from the cache
        message = error(catalog, "--period", "all", *cache)
        assert f"line {line} has 2 fields but the header has 3" in message


def test_quoted_separators_and_line_breaks_are_not_missing_fields(tmp_path):
    # rows 1..3 have 3 fields each once quotes are read: 10 + 20 + 5 = 35
    data = 'id,rep,amount\n1,"ann, jr",10\n2,"bob\n""the builder""",20\n3,",,,",5\n'
    catalog = write(tmp_path, source() + REP_METRICS, {"s.csv": data})
    result = run("report", "--catalog", str(catalog), "--period", "all", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert "35" in result.stdout


def test_empty_file_is_an_error(tmp_path):
    catalog = write(tmp_path, source() + REP_METRICS, {"s.csv": b""})
    message = error(catalog, "--period", "all")
    assert "s.csv" in message
    assert "empty" in message


@pytest.mark.parametrize(
    "data", ["id,rep,amount,closed\n", "id,rep,amount,closed", "id;rep;amount;closed\r\n"]
)
def test_header_only_file_gives_zero_counts(tmp_path, data):
    catalog = write(
        tmp_path,
        source(", time: closed, types: {amount: number}")
        + REP_METRICS
        + "  average: {level: result, category: financial, source: s, agg: mean, expr: amount}\n",
        {"s.csv": data},
    )
    expected = {"total": 0, "rows": 0, "reps": 0, "average": None}
    assert values(catalog, "--period", "2025-09") == expected
    assert values(catalog, "--period", "all") == expected
