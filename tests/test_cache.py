"""The Parquet cache: used on repeated runs, never stale, bypassed with --no-cache, cleared on demand.

Figures from the tiny fixture (test_oracle.py): won revenue over all deals 5200 (D1 1000, D3 2000,
D4 1500, D8 700).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import TINY, run


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """A copy of the tiny fixture and an empty cache folder of its own."""
    data = tmp_path / "data"
    shutil.copytree(TINY, data)
    cache = tmp_path / "cache"
    monkeypatch.setenv("SALESCODE_CACHE_DIR", str(cache))
    monkeypatch.delenv("SALESCODE_NO_CACHE", raising=False)
    return data / "metrics.yaml", cache


def won_revenue(catalog: Path, *args: str) -> str:
    result = run("report", "--catalog", str(catalog), "--period", "all", "-m", "won_revenue", *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()[1].split(",")[5]


def entries(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.glob("*.parquet")) if cache.exists() else []


def test_a_run_fills_the_cache_and_the_next_reads_it(workspace):
    catalog, cache = workspace
    assert won_revenue(catalog) == "5200"
    filled = entries(cache)
    assert len(filled) == 3  # deals, reps (joined) and quotas (targets file)
    stamps = {name: (cache / name).stat().st_mtime_ns for name in filled}
    assert won_revenue(catalog) == "5200"
    assert {name: (cache / name).stat().st_mtime_ns for name in entries(cache)} == stamps  # not rewritten


def test_a_changed_file_is_read_afresh(workspace):
    catalog, cache = workspace
    deals = catalog.parent / "deals.csv"
    assert won_revenue(catalog) == "5200"
    # D1 won 1000 -> 1900: same size, and the modification time put back as it was.
    stat = deals.stat()
    text = deals.read_text()
    changed = text.replace("D1,ann,Won,1000,", "D1,ann,Won,1900,")
    assert len(changed) == len(text) and changed != text
    deals.write_text(changed)
    os.utime(deals, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert won_revenue(catalog) == "6100"
    # A row added: bigger, newer.
    with deals.open("a") as handle:
        handle.write("D9,bob,Won,50,2025-09-01,2025-09-02,0\n")
    assert won_revenue(catalog) == "6150"
    # The entries of the older versions of deals.csv are gone: still one per file.
    assert len(entries(cache)) == 3


def test_no_cache_reads_the_csv_and_writes_nothing(workspace):
    catalog, cache = workspace
    assert won_revenue(catalog, "--no-cache") == "5200"
    assert entries(cache) == []
    assert "SALESCODE_NO_CACHE" not in os.environ  # for the one command only
    assert won_revenue(catalog) == "5200" and len(entries(cache)) == 3


def test_a_bad_value_in_a_column_no_metric_reads_is_no_error_with_or_without_cache(workspace):
    # discount is typed number; 'n/a' in it breaks the whole-file parse the cache needs, but
    # won_revenue never reads it: the run succeeds either way, and the file is not cached.
    catalog, cache = workspace
    deals = catalog.parent / "deals.csv"
    deals.write_text(deals.read_text().replace(",2025-09-10,\n", ",2025-09-10,n/a\n"))
    assert won_revenue(catalog) == "5200"
    assert won_revenue(catalog) == "5200"
    assert not any("deals" in name for name in entries(cache)) and list(cache.glob("*.skip"))
    # A metric that reads it still names the value, as without a cache.
    result = run("report", "--catalog", str(catalog), "--period", "all", "-m", "avg_discount")
    assert result.exit_code == 2 and "'n/a' is not a number" in result.stderr


def test_checks_passed_are_not_repeated_until_the_file_changes(workspace):
    catalog, cache = workspace
    assert won_revenue(catalog) == "5200"
    markers = list(cache.glob("*.passed-*"))
    # deals.csv: its fields and deal_id; reps.csv (joined): its fields and rep; each checked once
    assert len(markers) == 4
    assert won_revenue(catalog) == "5200"
    # A repeated key in a new version of the file is found: the marker belongs to the old one.
    deals = catalog.parent / "deals.csv"
    with deals.open("a") as handle:
        handle.write("D1,bob,Won,50,2025-09-01,2025-09-02,0\n")
    result = run("report", "--catalog", str(catalog), "--period", "all", "-m", "won_revenue")
    assert result.exit_code == 2 and "key column 'deal_id' repeats 'D1' (lines 2, 10)" in result.stderr
    assert sum(marker.exists() for marker in markers) == 2  # only the markers of reps.csv are left


def test_cache_info_and_clear(workspace):
    catalog, cache = workspace
    won_revenue(catalog)
    info = run("cache", "info")
    assert info.exit_code == 0 and f"{cache}: 3 file(s)" in info.stdout
    cleared = run("cache", "clear")
    assert cleared.exit_code == 0 and "removed 3 file(s)" in cleared.stderr
    assert entries(cache) == []
    assert won_revenue(catalog) == "5200"


def test_an_unwritable_cache_is_skipped(workspace, monkeypatch, tmp_path):
    catalog, _ = workspace
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("SALESCODE_CACHE_DIR", str(blocked / "cache"))
    assert won_revenue(catalog) == "5200"


def test_what_inspecting_a_file_learned_is_remembered_for_that_version_only(workspace, monkeypatch):
    catalog, cache = workspace
    assert won_revenue(catalog) == "5200"
    assert len(list(cache.glob("*.layout.json"))) == 3

    def no_inspection(*args, **kwargs):
        raise AssertionError("inspected again")

    with monkeypatch.context() as patched:
        patched.setattr("salescode.cache.inspect_source", no_inspection)
        assert won_revenue(catalog) == "5200"  # the sample is not read again
    # Amounts now written as '$1,000': a layout learned from the old version would not read them.
    deals = catalog.parent / "deals.csv"
    deals.write_text(deals.read_text().replace("D1,ann,Won,1000,", 'D1,ann,Won,"$1,900",'))
    assert won_revenue(catalog) == "6100"
    assert len(list(cache.glob("*.layout.json"))) == 3  # the older version's is gone
    assert run("cache", "clear").exit_code == 0 and not list(cache.glob("*.layout.json"))
