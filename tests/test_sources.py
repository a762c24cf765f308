"""Reading CRM files: separators, encodings, dates, booleans, nulls, renames and joins.

Each test writes a small catalog and data files in tmp_path and runs `salescode report --format csv`;
expected values are worked out by hand from the few rows written here.
"""

from __future__ import annotations

import csv
import io
import textwrap
from pathlib import Path

import pytest
from conftest import run

HEAD = "version: 1\nname: Test\n"


def write(folder: Path, catalog: str, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
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
    result = run("report", "--catalog", str(catalog), "--format", "csv", *args)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert result.stdout == ""
    return lines[0]


SUM_COUNT = """\
metrics:
  total:
    level: result
    category: financial
    source: s
    agg: sum
    expr: amount
  rows:
    level: result
    category: financial
    source: s
    agg: count
  reps:
    level: result
    category: financial
    source: s
    agg: count_distinct
    expr: rep
"""


# --- separators and encodings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("separator", "filename"), [(";", "s.csv"), ("\t", "s.tsv"), ("|", "s.txt"), (",", "s.csv")]
)
def test_separator_is_sniffed(tmp_path, separator, filename):
    data = separator.join(["id", "rep", "amount"]) + "\n"
    for row in (["1", "ann", "1.5"], ["2", "bob", "2.25"], ["3", "ann", "10"]):
        data += separator.join(row) + "\n"
    catalog = write(tmp_path, f"sources:\n  s: {{path: {filename}}}\n" + SUM_COUNT, {filename: data})
    assert values(catalog, "--period", "all") == {"total": 13.75, "rows": 3, "reps": 2}


def test_declared_separator_wins_over_sniffing(tmp_path):
    # The header holds more commas than semicolons; the declared separator is ';'.
    data = "id;rep;amount;note\n1;ann;5;a,b,c\n2;bob;7;d,e,f\n"
    catalog = write(tmp_path, "sources:\n  s: {path: s.csv, separator: ';'}\n" + SUM_COUNT, {"s.csv": data})
    assert values(catalog, "--period", "all") == {"total": 12, "rows": 2, "reps": 2}


def test_utf8_bom_is_not_part_of_the_first_header(tmp_path):
    data = "\ufeffid,rep,amount\n1,ann,4\n2,bob,6\n".encode()
    assert data.startswith(b"\xef\xbb\xbf")
    catalog = write(
        tmp_path,
        "sources:\n  s: {path: s.csv, key: id}\n"
        + SUM_COUNT
        + "  ids: {level: result, category: financial, source: s, agg: count_distinct, expr: id}\n",
        {"s.csv": data},
    )
    assert values(catalog, "--period", "all") == {"total": 10, "rows": 2, "reps": 2, "ids": 2}


CYRILLIC = "id;rep;amount;closed\n1;Иван;100;05.09.2025\n2;Пётр;250;25.09.2025\n3;Иван;40;01.10.2025\n"


def test_declared_cp1251_encoding(tmp_path):
    catalog = write(
        tmp_path,
        "sources:\n  s: {path: s.csv, encoding: cp1251, time: closed}\ndimensions:\n  rep: {label: Rep}\n"
        + SUM_COUNT
        + "  ivan: {level: result, category: financial, source: s, agg: count, filter: \"rep = 'Иван'\"}\n",
        {"s.csv": CYRILLIC.encode("cp1251")},
    )
    assert values(catalog, "--period", "2025-09") == {"total": 350, "rows": 2, "reps": 2, "ivan": 1}
    assert values(catalog, "--period", "all", "--metric", "total", by="rep") == {
        ("total", "Иван"): 140,
        ("total", "Пётр"): 250,
    }


def test_undeclared_cp1251_is_detected(tmp_path):
    catalog = write(
        tmp_path,
        "sources:\n  s: {path: s.csv}\ndimensions:\n  rep: {label: Rep}\n" + SUM_COUNT,
        {"s.csv": CYRILLIC.encode("cp1251")},
    )
    assert values(catalog, "--period", "all", "--metric", "total", by="rep") == {
        ("total", "Иван"): 140,
        ("total", "Пётр"): 250,
    }


# --- dates ----------------------------------------------------------------------------------------

COUNT_ONLY = """\
metrics:
  rows:
    level: result
    category: financial
    source: s
    agg: count
"""


def dated(tmp_path: Path, dates: list[str], settings: str = "") -> Path:
    data = "id,when\n" + "".join(f"{i},{day}\n" for i, day in enumerate(dates, 1))
    return write(
        tmp_path, f"sources:\n  s: {{path: s.csv, time: when{settings}}}\n" + COUNT_ONLY, {"s.csv": data}
    )


def count(catalog: Path, period: str) -> float:
    return values(catalog, "--period", period)["rows"]


@pytest.mark.parametrize(
    "dates",
    [
        ["2025-09-05", "2025-09-25", "2025-10-01", "2025-08-31"],  # ISO
        ["05.09.2025", "25.09.2025", "01.10.2025", "31.08.2025"],  # d.m.Y
    ],
)
def test_date_formats(tmp_path, dates):
    catalog = dated(tmp_path, dates)
    assert count(catalog, "2025-09") == 2
    assert count(catalog, "2025-09-05") == 1
    assert count(catalog, "2025-10-01") == 1
    assert count(catalog, "2025-08") == 1
    assert count(catalog, "2025-Q3") == 3


def test_d_m_y_is_not_read_as_m_d_y(tmp_path):
    # 03.04.2025 is the 3rd of April in d.m.Y; a month-first reading would put it in March.
    catalog = dated(tmp_path, ["03.04.2025", "04.03.2025"])
    assert count(catalog, "2025-04-03") == 1
    assert count(catalog, "2025-03-04") == 1
    assert count(catalog, "2025-03-03") == 0


@pytest.mark.parametrize("separator", [" ", "T"])
def test_datetime_columns(tmp_path, separator):
    stamps = [
        f"2025-09-30{separator}23:59:59",
        f"2025-10-01{separator}00:00:00",
        f"2025-09-01{separator}08:15:00",
    ]
    catalog = dated(tmp_path, stamps)
    assert count(catalog, "2025-09") == 2
    assert count(catalog, "2025-10") == 1
    assert count(catalog, "2025-09-30") == 1  # a datetime falls on its calendar day


def test_declared_datetime_type(tmp_path):
    data = "id,when,seen\n1,2025-09-01,2025-09-02 10:00:00\n2,2025-09-03,\n"
    catalog = write(
        tmp_path,
        "sources:\n  s: {path: s.csv, time: when, types: {seen: datetime}}\n"
        + COUNT_ONLY
        + "  seen: {level: result, category: financial, source: s, agg: count_distinct, expr: seen}\n",
        {"s.csv": data},
    )
    assert values(catalog, "--period", "2025-09") == {"rows": 2, "seen": 1}


def test_declared_date_format_resolves_day_month_order(tmp_path):
    dates = ["04/09/2025", "05/09/2025", "09/04/2025"]
    (tmp_path / "d").mkdir()
    (tmp_path / "m").mkdir()
    day_first = dated(tmp_path / "d", dates, ", date_format: '%d/%m/%Y'")
    assert count(day_first, "2025-09") == 2  # 4 and 5 September
    assert count(day_first, "2025-04-09") == 1
    month_first = dated(tmp_path / "m", dates, ", date_format: '%m/%d/%Y'")
    assert count(month_first, "2025-04") == 1  # 9 April
    assert count(month_first, "2025-05") == 1  # 9 May
    assert count(month_first, "2025-09-04") == 1


def test_slash_dates_are_decided_by_a_day_above_12(tmp_path):
    catalog = dated(tmp_path, ["04/09/2025", "25/09/2025"])  # 25 can only be a day: d/m/Y
    assert count(catalog, "2025-09") == 2
    assert count(catalog, "2025-09-04") == 1


def test_ambiguous_slash_dates_without_date_format_are_an_error(tmp_path):
    catalog = dated(tmp_path, ["04/09/2025", "05/09/2025"])
    message = error(catalog, "--period", "all")
    assert "s.csv" in message
    assert "'when'" in message
    assert "date_format" in message


def test_empty_dates_are_null_and_counted_only_without_a_time_filter(tmp_path):
    catalog = dated(tmp_path, ["2025-09-05", "", "2025-09-07"])
    assert count(catalog, "2025-09") == 2
    assert count(catalog, "all") == 3


# --- booleans and nulls ---------------------------------------------------------------------------


def test_bool_column(tmp_path):
    data = "id,won\n1,yes\n2,no\n3,TRUE\n4,false\n5,1\n6,0\n7,\n8,Y\n"
    catalog = write(
        tmp_path,
        """\
        sources:
          s: {path: s.csv, types: {won: bool}}
        metrics:
          wins: {level: result, category: financial, source: s, agg: count, filter: "won"}
          losses: {level: result, category: financial, source: s, agg: count, filter: "NOT won"}
          rows: {level: result, category: financial, source: s, agg: count}
          win_share: {level: result, category: financial, source: s, agg: mean, expr: won}
        """,
        {"s.csv": data},
    )
    # true: yes, TRUE, 1, Y (4); false: no, false, 0 (3); empty: 1 (ignored by mean)
    assert values(catalog, "--period", "all") == {"wins": 4, "losses": 3, "rows": 8, "win_share": 4 / 7}


def test_inferred_bool_column(tmp_path):
    data = "id,won\n1,true\n2,false\n3,True\n"
    catalog = write(
        tmp_path,
        "sources:\n  s: {path: s.csv}\n"
        "metrics:\n  wins: {level: result, category: financial, source: s, agg: count, filter: won}\n",
        {"s.csv": data},
    )
    assert values(catalog, "--period", "all") == {"wins": 2}


def test_bad_bool_value_names_file_line_and_column(tmp_path):
    data = "id,won\n1,yes\n2,maybe\n"
    catalog = write(
        tmp_path,
        "sources:\n  s: {path: s.csv, types: {won: bool}}\n"
        "metrics:\n  wins: {level: result, category: financial, source: s, agg: count, filter: won}\n",
        {"s.csv": data},
    )
    message = error(catalog, "--period", "all")
    assert "s.csv" in message
    assert "line 3" in message
    assert "'won'" in message
    assert "'maybe'" in message


NULLS = "id,rep,amount\n1,ann,10\n2,N/A,N/A\n3,bob,-\n4,bob,20\n5,,\n"

MEAN = """\
metrics:
  avg: {level: result, category: financial, source: s, agg: mean, expr: amount}
  rows: {level: result, category: financial, source: s, agg: count}
  reps: {level: result, category: financial, source: s, agg: count_distinct, expr: rep}
  filled: {level: result, category: financial, source: s, agg: count, filter: "amount IS NOT NULL"}
"""


def test_null_values(tmp_path):
    catalog = write(
        tmp_path,
        "sources:\n  s: {path: s.csv, types: {amount: number}, null_values: ['', 'N/A', '-']}\n" + MEAN,
        {"s.csv": NULLS},
    )
    # amount: 10, null, null, 20, null -> mean 15; rep: ann, null, bob, bob, null -> 2 distinct
    assert values(catalog, "--period", "all") == {"avg": 15, "rows": 5, "reps": 2, "filled": 2}


def test_placeholder_not_declared_as_null_is_an_error(tmp_path):
    catalog = write(
        tmp_path, "sources:\n  s: {path: s.csv, types: {amount: number}}\n" + MEAN, {"s.csv": NULLS}
    )
    message = error(catalog, "--period", "all")
    assert "s.csv" in message
    assert "line 3" in message  # N/A is on the second data row; the header is line 1
    assert "'amount'" in message
    assert "'N/A'" in message
    assert "null_values" in message


def test_decimal_comma_and_thousands(tmp_path):
    data = "id;amount\n1;1 234,5\n2;0,25\n3;10\n"
    catalog = write(
        tmp_path,
        "sources:\n  s: {path: s.csv, decimal_comma: true, thousands: ' ', types: {amount: number}}\n"
        "metrics:\n  total: {level: result, category: financial, source: s, agg: sum, expr: amount}\n",
        {"s.csv": data},
    )
    assert values(catalog, "--period", "all") == {"total": 1244.75}


# --- renames --------------------------------------------------------------------------------------


def test_column_renames(tmp_path):
    data = (
        "Deal ID,Deal Owner,Amount (USD),Close Date\n"
        "A,ann,100,2025-09-02\nB,bob,50,2025-09-03\nC,ann,25,2025-08-30\n"
    )
    catalog = write(
        tmp_path,
        """\
        sources:
          s:
            path: s.csv
            key: deal_id
            time: closed
            columns: {deal_id: Deal ID, rep: Deal Owner, amount: Amount (USD), closed: Close Date}
            types: {amount: number}
        dimensions:
          rep: {label: Rep}
        metrics:
          total: {level: result, category: financial, source: s, agg: sum, expr: amount,
                  filter: "amount > 30"}
        """,
        {"s.csv": data},
    )
    assert values(catalog, "--period", "2025-09") == {"total": 150}
    assert values(catalog, "--period", "2025-09", by="rep") == {("total", "ann"): 100, ("total", "bob"): 50}
    rows = report(catalog, "--period", "2025-09", "--by", "rep")
    assert list(rows[0]) == [
        "metric",
        "label",
        "level",
        "category",
        "period",
        "rep",
        "value",
        "previous",
        "change",
        "target",
        "attainment",
    ]


def test_rename_of_a_missing_header_is_an_error(tmp_path):
    data = "Deal ID,Deal Owner\nA,ann\n"
    catalog = write(
        tmp_path,
        "sources:\n  s: {path: s.csv, columns: {rep: Deal Ownr}}\n"
        "metrics:\n  n: {level: result, category: financial, source: s, agg: count}\n",
        {"s.csv": data},
    )
    message = error(catalog, "--period", "all")
    assert "s.csv" in message
    assert "sources.s.columns.rep" in message
    assert "(did you mean 'Deal Owner'?)" in message


# --- joins ----------------------------------------------------------------------------------------

DEALS = "id,owner,region,amount\n1,ann,North,100\n2,bob,North,200\n3,cat,South,400\n4,dan,South,800\n"
REPS = "rep,team,region\nann,East,Z1\nbob,West,Z2\ncat,East,Z3\ndan,West,Z4\n"
TEAMS = "team,manager\nEast,Eve\nWest,Wes\n"

JOIN_CATALOG = """\
sources:
  deals:
    path: deals.csv
    joins:
      - {source: reps, on: {owner: rep}}
      - {source: teams, on: team}
  reps: {path: reps.csv, key: rep}
  teams: {path: teams.csv}
dimensions:
  team: {label: Team}
  region: {label: Region}
  manager: {label: Manager}
  owner: {label: Owner}
metrics:
  total: {level: result, category: financial, source: deals, agg: sum, expr: amount}
  rows: {level: result, category: financial, source: deals, agg: count}
"""


def joined(tmp_path: Path, reps: str = REPS, catalog: str = JOIN_CATALOG) -> Path:
    return write(tmp_path, catalog, {"deals.csv": DEALS, "reps.csv": reps, "teams.csv": TEAMS})


def test_join_with_left_right_names(tmp_path):
    catalog = joined(tmp_path)
    assert values(catalog, "--period", "all", "--metric", "total", by="team") == {
        ("total", "East"): 500,
        ("total", "West"): 1000,
    }


def test_a_later_join_uses_a_column_an_earlier_join_brought(tmp_path):
    catalog = joined(tmp_path)
    assert values(catalog, "--period", "all", "--metric", "total", by="manager") == {
        ("total", "Eve"): 500,
        ("total", "Wes"): 1000,
    }


def test_left_column_wins_on_a_name_collision(tmp_path):
    catalog = joined(tmp_path)
    # deals.region (North/South) wins over reps.region (Z1..Z4)
    assert values(catalog, "--period", "all", "--metric", "total", by="region") == {
        ("total", "North"): 300,
        ("total", "South"): 1200,
    }


def test_validate_warns_about_a_hidden_joined_column(tmp_path):
    catalog = joined(tmp_path)
    result = run("validate", "--catalog", str(catalog))
    assert result.exit_code == 0, result.stderr
    assert "region" in result.stderr
    assert "warning" in result.stderr


def test_join_does_not_multiply_rows(tmp_path):
    catalog = joined(tmp_path)
    assert values(catalog, "--period", "all") == {"total": 1500, "rows": 4}


def test_unmatched_join_key_gives_an_empty_group(tmp_path):
    reps = "rep,team,region\nann,East,Z1\nbob,West,Z2\ncat,East,Z3\n"  # no dan
    catalog = joined(tmp_path, reps=reps)
    assert values(catalog, "--period", "all") == {"total": 1500, "rows": 4}  # a left join keeps dan's deal
    assert values(catalog, "--period", "all", "--metric", "total", by="team") == {
        ("total", "East"): 500,
        ("total", "West"): 200,
        ("total", ""): 800,
    }


def test_join_columns_list_limits_what_is_brought(tmp_path):
    catalog = joined(
        tmp_path,
        catalog=JOIN_CATALOG.replace(
            "{source: reps, on: {owner: rep}}", "{source: reps, on: {owner: rep}, columns: [region]}"
        ).replace("      - {source: teams, on: team}\n", ""),
    )
    result = run("report", "--catalog", str(catalog), "--format", "csv", "--period", "all", "--by", "team")
    assert result.exit_code == 2
    assert "team" in result.stderr


def test_join_key_missing_on_the_left_is_an_error_with_did_you_mean(tmp_path):
    catalog = joined(tmp_path, catalog=JOIN_CATALOG.replace("{owner: rep}", "{ownr: rep}"))
    message = error(catalog, "--period", "all")
    assert "sources.deals.joins[0].on" in message
    assert "'ownr'" in message
    assert "(did you mean 'owner'?)" in message


def test_duplicate_keys_on_the_right_of_a_join_are_an_error(tmp_path):
    reps = REPS + "ann,West,Z9\n"  # ann twice: lines 2 and 6 of reps.csv
    catalog = joined(tmp_path, reps=reps)
    message = error(catalog, "--period", "all")
    assert "reps.csv" in message
    assert "'ann'" in message


def test_duplicate_right_keys_are_an_error_even_without_a_declared_key(tmp_path):
    reps = REPS + "ann,West,Z9\n"
    catalog = joined(
        tmp_path, reps=reps, catalog=JOIN_CATALOG.replace("{path: reps.csv, key: rep}", "{path: reps.csv}")
    )
    message = error(catalog, "--period", "all")
    assert "duplicate" in message
    assert "reps" in message


@pytest.mark.parametrize(
    "width",
    [
        pytest.param(40, id="sample-within-the-first-4MiB"),
        pytest.param(2200, id="sample-longer-than-4MiB"),  # 2001 rows of 2.2 kB: the whole file is read
    ],
)
def test_the_sample_of_a_big_file_is_its_first_rows(tmp_path, width):
    import polars as pl

    from salescode.catalog import Source
    from salescode.sources import SAMPLE_ROWS, _head_lines, _read_sample

    path = tmp_path / "big.csv"
    note = "x" * width
    rows = [
        f'{i},"{note}\nline two, with a comma",{i * 0.5}\n' for i in range(120_000 if width < 100 else 2_500)
    ]
    path.write_text("id,note,amount\n" + "".join(rows))
    assert path.stat().st_size > 4 << 20
    head = _head_lines(path)
    assert head is not None and (pl.read_csv(io.BytesIO(head), infer_schema=False).height > SAMPLE_ROWS) == (
        width < 100
    )  # which way the sample is read
    sample = _read_sample(Source(name="big", path=path), None, ",")
    expected = pl.read_csv(path, n_rows=SAMPLE_ROWS, infer_schema=False)
    assert sample.equals(expected) and sample.height == SAMPLE_ROWS
