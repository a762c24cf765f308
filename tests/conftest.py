"""Shared fixtures: run the CLI in-process, locate test data and the shared real-CRM datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from salescode.cli import app

TESTS = Path(__file__).parent
REPO = TESTS.parent
DATA = TESTS / "data"
TINY = DATA / "tiny"
# Real CRM exports live beside the repository in CI (../shared/datasets); a user's clone lacks them.
SHARED_DATASETS = REPO.parent / "shared" / "datasets"
ENV = {"COLUMNS": "120", "NO_COLOR": "1"}


def run(*args: str, env: dict[str, str] | None = None):
    """Invoke salescode in-process; result.stdout / result.stderr / result.exit_code."""
    return CliRunner().invoke(app, list(args), env={**ENV, **(env or {})})


@pytest.fixture(autouse=True, scope="session")
def _cache_in_a_temporary_folder(tmp_path_factory):
    """Runs in tests (in-process and subprocesses) use a cache of their own, never the user's."""
    os.environ["SALESCODE_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield


@pytest.fixture
def tiny_catalog() -> Path:
    """A hand-checkable catalog: 8 deals, 3 reps, 5 quota rows (see tests/data/tiny)."""
    return TINY / "metrics.yaml"


def shared_dataset(name: str) -> Path:
    """A folder of ../shared/datasets, or skip the test when it is not there."""
    path = SHARED_DATASETS / name
    if not path.is_dir():
        pytest.skip(f"shared dataset {name} not available (../shared/datasets is absent)")
    return path
