"""The benchmark's equality check on the bundled sample: the hand-written polars, DuckDB and pandas
KPI scripts in bench/ compute the same figures as `salescode report --by rep` and `salescode funnel
--by rep` (so the benchmark compares like with like). No timing."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytest.importorskip("pandas")
pytest.importorskip("duckdb")


def _bench_run():
    spec = importlib.util.spec_from_file_location("bench_run", REPO / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module  # dataclasses look the module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_every_implementation_equals_salescode(tmp_path: Path) -> None:
    bench = _bench_run()
    problems = bench.check_equality(
        REPO / "metrics.yaml", REPO / "sample_data", tmp_path, ["polars", "duckdb", "pandas"]
    )
    assert problems == []
